"""One neutral description of the controller layout, built from the OSC table at run time.

Three hand-arranged pages (Play, Morph, Feel) place the controls a musician reaches for; each
names its address, and a control whose address is not in the table (any more) is left out.
Every other controller-sendable address of the table (``routes.controller_inputs``) is then
placed automatically on "More" pages (exact values in engine units, the single-purpose
buttons) and a "State" page (queries), so a row another change adds to the table appears on
the layouts without an edit here. Both file writers (``touchosc``, ``open_stage``) and the
preview renderer (``gui.controller_preview``) draw this same description.

Feedback: a control listens on its own address when the engine echoes that address with a
number (``routes.numeric_echo``); a text display shows string echoes (``/sync internal``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bridge.commands import FOLLOW_BARS, FOLLOW_SOURCES, INPUT_MODES, SYNC_SOURCES, TEMPERATURE_MAX
from bridge.controllers.routes import Input, controller_inputs, echo_types, numeric_echo
from bridge.osc.table import MAX_VARIATIONS, PREFIX

PAGE_W, PAGE_H = 1024, 720  # the content area of one page (a tab bar goes above it)
COLS, ROWS = 12, 11
_MARGIN, _GAP = 8, 6
DEFAULT_REPLY_PORT = 9001  # the settings' osc_out_port: where a query's reply should go


@dataclass(frozen=True)
class Control:
    kind: str  # "button" | "toggle" | "fader" | "radio" | "display" | "title"
    label: str
    rect: tuple[int, int, int, int] = (0, 0, 0, 0)  # x, y, w, h in points on the page
    send: str = ""  # full address sent ("" = display only)
    receive: str = ""  # full address whose numeric echo moves it ("" = none)
    lo: float = 0.0  # fader: the range sent; radio: unused
    hi: float = 1.0
    integer: bool = False  # send ints
    options: tuple[str, ...] = ()  # radio: option labels (index = position)
    names_echo: bool = False  # radio: the address also takes and echoes the option names
    constant: tuple[int | float | str, ...] = ()  # sent instead of the value, on press only
    on_release: bool = False  # fader: send when the finger lifts (not while moving)
    vertical: bool = False


@dataclass(frozen=True)
class Page:
    name: str
    controls: tuple[Control, ...] = field(default_factory=tuple)


def cell(col: float, row: float, cols: float, rows: float) -> tuple[int, int, int, int]:
    cw = (PAGE_W - 2 * _MARGIN) / COLS
    rh = (PAGE_H - 2 * _MARGIN) / ROWS
    return (round(_MARGIN + col * cw), round(_MARGIN + row * rh),
            round(cols * cw - _GAP), round(rows * rh - _GAP))


def label_of(address: str) -> str:
    """A human label from an address: "/groovebridge/capture/a/next" -> "Capture a next"."""
    words = address[len(PREFIX):].strip("/").replace("_", " ").replace("/", " ").split()
    return " ".join(words).capitalize() if words else address


def _g(address: str) -> str:
    return PREFIX + address


def _echo(address: str) -> str:
    return address if numeric_echo(address) else ""


# ---- hand-arranged pages ------------------------------------------------------------------------
def _play(reply_port: int) -> list[Control]:
    c: list[Control] = [
        Control("display", "Sync", cell(0, 0, 2, 1), receive=_g("/sync")),
        Control("display", "BPM", cell(2, 0, 2, 1), receive=_g("/tempo")),
        Control("display", "Model", cell(4, 0, 2, 1), receive=_g("/model/state")),
        Control("display", "Sync health", cell(6, 0, 2, 1), receive=_g("/sync/health")),
        Control("display", "Message", cell(8, 0, 4, 1), receive=_g("/error")),
        Control("button", "Play", cell(0, 1, 2, 2), send=_g("/play"), receive=_echo(_g("/play"))),
        Control("button", "Stop", cell(2, 1, 2, 2), send=_g("/stop")),
        Control("fader", "Tempo 40-240 BPM", cell(4, 1, 5, 1), send=_g("/tempo/norm"), receive=_echo(_g("/tempo/norm"))),
        Control("radio", "Sync", cell(9, 1, 3, 1), send=_g("/sync"), receive=_echo(_g("/sync/index")),
                integer=True, options=SYNC_SOURCES, names_echo=True),
        Control("button", "Sample", cell(0, 3, 2, 2), send=_g("/sample")),
        Control("fader", "Temperature", cell(2, 3, 5, 1), send=_g("/temperature/norm"), receive=_echo(_g("/temperature/norm"))),
        Control("fader", "Variations 1-16", cell(7, 3, 5, 1), send=_g("/variations/count"), receive=_echo(_g("/variations/count")),
                lo=1, hi=MAX_VARIATIONS, integer=True),
        Control("radio", "Variation", cell(2, 4, 8, 1), send=_g("/variation"), receive=_echo(_g("/variation")),
                integer=True, options=tuple(str(i + 1) for i in range(MAX_VARIATIONS))),
        Control("button", "< Prev", cell(10, 4, 1, 1), send=_g("/variation/prev")),
        Control("button", "Next >", cell(11, 4, 1, 1), send=_g("/variation/next")),
        Control("fader", "Humanize amount (release applies)", cell(0, 5, 8, 1), send=_g("/humanize"), on_release=True),
        Control("button", "Reconstruct", cell(8, 5, 4, 1), send=_g("/reconstruct")),
        Control("title", "Mutes", cell(0, 6, 12, 1)),
        Control("button", "Refresh (ask for the state)", cell(0, 9.5, 4, 1), send=_g("/query/state"), constant=(reply_port,)),
    ]
    from models.drum_maps import CLASS_NAMES

    for k, name in enumerate(CLASS_NAMES):
        address = _g(f"/mute/{name}")
        c.append(Control("toggle", name.replace("_", " "), cell(k * 12 / 9, 7, 12 / 9, 2), send=address,
                         receive=_echo(address), integer=True))
    return c


def _morph() -> list[Control]:
    return [
        Control("button", "Capture A (last 4 bars)", cell(0, 0, 3, 2), send=_g("/capture/a")),
        Control("button", "Capture B (last 4 bars)", cell(3, 0, 3, 2), send=_g("/capture/b")),
        Control("button", "Record next 4 bars into A", cell(6, 0, 3, 2), send=_g("/capture/a/next")),
        Control("button", "Record next 4 bars into B", cell(9, 0, 3, 2), send=_g("/capture/b/next")),
        Control("toggle", "Slot A filled", cell(0, 2, 2, 1), receive=_echo(_g("/slot/a"))),
        Control("toggle", "Slot B filled", cell(2, 2, 2, 1), receive=_echo(_g("/slot/b"))),
        Control("display", "Capture", cell(4, 2, 4, 1), receive=_g("/capture")),
        Control("fader", "Morph A -> B", cell(0, 3, 12, 2), send=_g("/interpolate"), receive=_echo(_g("/interpolate"))),
        Control("button", "Play A", cell(0, 5, 3, 2), send=_g("/slot/play/a")),
        Control("button", "Swap A/B", cell(3, 5, 3, 2), send=_g("/slot/swap")),
        Control("button", "Play B", cell(6, 5, 3, 2), send=_g("/slot/play/b")),
        Control("button", "Drumify", cell(9, 5, 3, 2), send=_g("/drumify")),
        Control("radio", "Capture input", cell(0, 7, 6, 1), send=_g("/capture/input_mode"), integer=True,
                options=INPUT_MODES, names_echo=True),
        Control("display", "Input", cell(6, 7, 3, 1), receive=_g("/capture/input_mode")),
    ]


def _feel(inputs: dict[str, Input]) -> list[Control]:
    base = _g("/attribute/")
    names = [a[len(base):-len("/norm")] for a in inputs if a.startswith(base) and a.endswith("/norm")]
    c = [Control("title", "Musical attributes (-2..2 standard deviations)", cell(0, 0, 9, 1)),
         Control("toggle", "Available", cell(9, 0, 1.5, 1), receive=_echo(_g("/attributes/available"))),
         Control("button", "Reset", cell(10.5, 0, 1.5, 1), send=_g("/attributes/reset"))]
    width = 12 / max(1, len(names))
    for k, name in enumerate(names):
        address = f"{base}{name}/norm"
        c.append(Control("fader", name.replace("_", " "), cell(k * width, 1, width, 4), send=address,
                         receive=_echo(address), vertical=True))
    c += [
        Control("title", "Follow", cell(0, 5, 12, 1)),
        Control("toggle", "Follow", cell(0, 6, 2, 2), send=_g("/follow"), receive=_echo(_g("/follow")), integer=True),
        Control("radio", "Source", cell(2, 6, 4, 1), send=_g("/follow/source"), integer=True,
                options=FOLLOW_SOURCES, names_echo=True),
        Control("display", "Source", cell(6, 6, 2, 1), receive=_g("/follow/source")),
        Control("display", "Late", cell(8, 6, 2, 1), receive=_g("/follow/late")),
        Control("fader", "Amount", cell(2, 7, 5, 1), send=_g("/follow/amount/norm"), receive=_echo(_g("/follow/amount/norm"))),
        Control("fader", "Temperature", cell(7, 7, 5, 1), send=_g("/follow/temperature"),
                receive=_echo(_g("/follow/temperature")), lo=0.05, hi=TEMPERATURE_MAX),
    ]
    for row, what in ((8, "every"), (9, "bars")):
        address = _g(f"/follow/{what}")
        c.append(Control("display", f"{what.capitalize()} (bars)", cell(0, row, 2, 1), receive=address))
        for k, n in enumerate(FOLLOW_BARS):
            c.append(Control("button", f"{what} {n}", cell(2 + 2 * k, row, 2, 1), send=address, constant=(n,)))
    return c


# ---- automatic placement ------------------------------------------------------------------------
def _auto_controls(item: Input, reply_port: int) -> list[tuple[Control, float]]:
    """Controls for one leftover input and their widths in columns (rect filled later)."""
    label = label_of(item.address)
    if item.kind == "query":
        return [(Control("button", label, send=item.address, constant=(reply_port,)), 2)]
    if item.kind == "press":
        return [(Control("button", label, send=item.address), 2)]
    if item.kind == "switch":
        return [(Control("toggle", label, send=item.address, receive=_echo(item.address), integer=True), 2)]
    if item.kind == "names":
        return [(Control("radio", label, send=item.address, integer=True, options=item.options,
                         names_echo=echo_types().get(item.address) == "s"), max(3, len(item.options)))]
    if item.kind == "values":
        return [(Control("button", f"{label} {v}", send=item.address, constant=(int(v),)), 2) for v in item.options]
    span = f" {item.lo:g}..{item.hi:g}"
    return [(Control("fader", label + span, send=item.address, receive=_echo(item.address),
                     lo=item.lo, hi=item.hi, integer=item.integer), 6)]


def _flow(name: str, controls: list[tuple[Control, float]]) -> list[Page]:
    pages: list[Page] = []
    placed: list[Control] = []
    col = row = 0.0
    for control, width in controls:
        if col + width > COLS:
            col, row = 0.0, row + 1
        if row >= ROWS:
            pages.append(Page(name, tuple(placed)))
            placed, col, row = [], 0.0, 0.0
        placed.append(replace(control, rect=cell(col, row, width, 1)))
        col += width
    if placed:
        pages.append(Page(name, tuple(placed)))
    if len(pages) > 1:
        pages = [replace(p, name=f"{name} {i + 1}") for i, p in enumerate(pages)]
    return pages


def build_layout(reply_port: int = DEFAULT_REPLY_PORT) -> list[Page]:
    """The pages of both layouts, from the OSC table as it is now."""
    inputs = controller_inputs()
    known = set(inputs) | set(echo_types())
    pages = []
    for name, controls in (("Play", _play(reply_port)), ("Morph", _morph()), ("Feel", _feel(inputs))):
        kept = tuple(c for c in controls
                     if (c.send == "" or c.send in inputs) and (c.receive == "" or c.receive in known))
        pages.append(Page(name, kept))
    placed = {c.send for p in pages for c in p.controls if c.send}
    leftovers = [item for address, item in inputs.items() if address not in placed]
    more = [pair for item in leftovers if item.kind != "query" for pair in _auto_controls(item, reply_port)]
    state = [pair for item in leftovers if item.kind == "query" for pair in _auto_controls(item, reply_port)]
    return pages + _flow("More", more) + _flow("State", state)


def sent_addresses(pages: list[Page]) -> set[str]:
    return {c.send for p in pages for c in p.controls if c.send}
