"""The OSC address table as data: every input address, its arguments, range and effect.

Each ``Route`` names an address under the prefix (``/groovebridge``), documents it (the table
in docs/osc.md is generated from these rows: ``markdown_table()``), and holds an ``action``
that validates and converts the arguments and calls one ``Engine`` method. Actions raise
``OscArgError`` (one line) for arguments they cannot use; ``bridge.osc`` logs and drops those.

Conventions for controllers such as TouchOSC (which send floats 0-1):
* buttons send 1.0 on press and 0.0 on release: "press" actions act on a value >= 0.5 (or no
  argument) and ignore the release;
* "norm" addresses take 0-1 and map it onto the setting's range;
* where an index is natural, an int is the index and a float in 0-1 is normalised.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from bridge import commands as cmd
from bridge.engine.api import Command, EngineCommands, command_name
from bridge.osc.args import (
    PREFIX,
    Action,
    Context,
    OscArgError,
    Route,
    _in_range,
    _norm,
    _number,
    _switch,
    _text,
    pressed,
)
from bridge.osc.attributes import ATTRIBUTE_ROUTES, attribute_route
from bridge.osc.files import OscPathError, export_dir, export_file, export_folder, osc_model
from bridge.osc.follow import FOLLOW_ROUTES
from models.drum_maps import CLASS_NAMES

SYNC_NAMES = cmd.SYNC_SOURCES  # the /sync index order: 0 internal, 1 midi, 2 link
TEMPO_NORM_BPM = (40.0, 240.0)
TEMPERATURE_RANGE = (0.0, cmd.TEMPERATURE_FADER_MAX)  # what a 0-1 fader spans (/temperature/norm)
MAX_VARIATIONS = cmd.VARIATIONS_MAX
LATENCY_RANGE_MS = (cmd.LATENCY_MS_MIN, cmd.LATENCY_MS_MAX)
QUERIES = ("state", "all", "pattern", "transport", "tempo", "sync", "position", "variations",
           "settings", "attributes", "mutes", "slots", "model", "error")


def _index_or_norm(v: Any, count: int, what: str) -> int:
    """int -> index; float in 0-1 -> normalised over ``count``; float > 1 -> index."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise OscArgError(f"{what} must be a number, got {v!r}")
    if isinstance(v, float) and 0.0 <= v <= 1.0:
        return round(v * (count - 1)) if count > 1 else 0
    i = int(round(v))
    if not 0 <= i < count:
        raise OscArgError(f"{what} {i} is outside 0..{count - 1}")
    return i


def _sync_name(v: Any) -> str:
    if isinstance(v, str):
        name = v.strip().lower()
        if name not in SYNC_NAMES:
            raise OscArgError(f"sync source {v!r}: use internal, midi or link (or 0/1/2)")
        return name
    return SYNC_NAMES[_index_or_norm(v, 3, "sync source")]


def _drum_class(v: Any) -> int:
    if isinstance(v, str):
        name = v.strip().lower()
        if name.isdigit():
            v = int(name)
        elif name in CLASS_NAMES:
            return CLASS_NAMES.index(name)
        else:
            raise OscArgError(f"unknown instrument {v!r}: use {', '.join(CLASS_NAMES)} or 0-8")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 8 or v != int(v):
        raise OscArgError(f"instrument {v!r} must be a name or 0-8")
    return int(v)


def _slot(v: Any) -> str:
    try:
        return cmd.check_slot(v)
    except ValueError:
        raise OscArgError(f"slot {v!r} must be a or b") from None


def _temperature(value: float) -> float:
    """0 (a fader's bottom) is taken as cmd.MIN_TEMPERATURE; above it, the engine's (0, 5]."""
    return max(cmd.MIN_TEMPERATURE, _in_range(value, 0.0, cmd.TEMPERATURE_MAX, "temperature"))


# ---- actions ---------------------------------------------------------------------------------
def _press(method: Command) -> Action:
    name = command_name(method)

    def act(ctx: Context, args: tuple) -> None:
        if pressed(args):
            getattr(ctx.engine, name)()
    return act


def _toggle(ctx: Context, args: tuple) -> None:
    if pressed(args):
        (ctx.engine.stop if ctx.snapshot().playing else ctx.engine.play)()


def _sync(ctx: Context, args: tuple) -> None:
    if not args:
        raise OscArgError("needs a sync source: internal, midi, link or 0/1/2")
    v = args[0]
    if isinstance(v, float) and v.is_integer() and 0 <= v <= 2:
        v = int(v)  # TouchOSC radio / exclusive buttons send 0.0, 1.0, 2.0
    ctx.engine.set_sync_source(_sync_name(v))


def _sync_button(name: str) -> Action:
    def act(ctx: Context, args: tuple) -> None:
        if pressed(args):
            ctx.engine.set_sync_source(name)
    return act


def _sample(ctx: Context, args: tuple) -> None:
    n = None
    if args:
        v = args[0]
        if isinstance(v, float) and v <= 1.0:
            if v < 0.5:
                return  # button release
        else:
            n = int(_in_range(_number(args, 0, "number of variations"), 1, MAX_VARIATIONS,
                              "number of variations"))
    temperature = _temperature(_number(args, 1, "temperature")) if len(args) > 1 else None
    ctx.engine.sample(n=n, temperature=temperature)


def _humanize(ctx: Context, args: tuple) -> None:
    amount = _norm(args, "amount") if args else 1.0
    if amount > 0.0:  # 0.0 is a button release
        ctx.engine.humanize(amount=amount)


def _variation(ctx: Context, args: tuple) -> None:
    if not args:
        raise OscArgError("needs a variation index")
    count = max(1, len(ctx.snapshot().variations))
    ctx.engine.select_variation(_index_or_norm(args[0], count, "variation"))


def _variation_step(delta: int) -> Action:
    def act(ctx: Context, args: tuple) -> None:
        if pressed(args):
            snap = ctx.snapshot()
            count = len(snap.variations)
            if count:
                ctx.engine.select_variation((max(snap.selected_variation, 0) + delta) % count)
    return act


def _variations_count(ctx: Context, args: tuple) -> None:
    v = _number(args, 0, "number of variations")
    n = 1 + round(v * (MAX_VARIATIONS - 1)) if isinstance(args[0], float) and v <= 1.0 else int(v)
    ctx.engine.set_num_variations(int(_in_range(n, 1, MAX_VARIATIONS, "number of variations")))


def _capture(slot: str | None, mode: str | None = None) -> Action:
    def act(ctx: Context, args: tuple) -> None:
        rest = list(args)
        s = slot
        if s is None:
            s = _slot(rest.pop(0)) if rest else "A"
        if rest and not isinstance(rest[0], str):
            if not pressed(tuple(rest)):
                return
            rest.pop(0)
        m = mode or "last"
        if rest and isinstance(rest[0], str):
            m = rest.pop(0).strip().lower()
            if m not in cmd.CAPTURE_MODES:
                raise OscArgError(f"capture mode {m!r} must be last or next")
        count_in = (int(_in_range(_number(tuple(rest), 0, "count-in bars"), 0, cmd.COUNT_IN_BARS_MAX, "count-in bars"))
                    if rest else 0)
        ctx.engine.capture(slot=s, mode=m, count_in_bars=count_in)
    return act


def _drumify(ctx: Context, args: tuple) -> None:
    """``s a|b|pattern``; no argument or a button press: the playing pattern (the engine checks
    the name: a bad one is its one line on /error)."""
    if args and isinstance(args[0], str):
        ctx.engine.drumify(args[0].strip().lower())
    elif pressed(args):
        ctx.engine.drumify("pattern")


def _input_mode(ctx: Context, args: tuple) -> None:
    """``s drums|rhythm`` (or 0/1); the engine checks the name (a bad one: one line on /error)."""
    if not args:
        raise OscArgError("needs a capture input mode: drums or rhythm")
    v = args[0]
    if not isinstance(v, str) and isinstance(v, (int, float)) and v in (0, 1):
        v = cmd.INPUT_MODES[int(v)]  # a TouchOSC radio button: 0.0 / 1.0
    ctx.engine.set_input_mode(str(v).strip().lower())


def _mute_of(k: int) -> Action:
    def act(ctx: Context, args: tuple) -> None:
        muted = (not ctx.snapshot().mutes[k]) if not args else _switch(args, "mute")
        ctx.engine.set_mute(k, muted)
    return act


def _mute(ctx: Context, args: tuple) -> None:
    if not args:
        raise OscArgError("needs an instrument and 0/1")
    k = _drum_class(args[0])
    _mute_of(k)(ctx, tuple(args[1:]))


def _query(what: str) -> Action:
    def act(ctx: Context, args: tuple) -> None:
        if args and isinstance(args[0], int) and not isinstance(args[0], bool) and 0 < args[0] < 65536:
            ctx.reply_port = args[0]
        ctx.reply(QUERY_GROUPS[what])
    return act


def _query_slot(ctx: Context, args: tuple) -> None:
    """``/query/slot a|b [i reply port]``: the slot's groove, encoded as ``/pattern``, unplayed."""
    slot = _text(args, 0, "a slot (a or b)").lower()
    if slot.upper() not in cmd.SLOTS:
        raise OscArgError(f"unknown slot {slot!r}: use a or b")
    _query("slot_" + slot)(ctx, tuple(args[1:]))


def _query_any(ctx: Context, args: tuple) -> None:
    what = _text(args, 0, "what to query").lower()
    if what not in QUERY_GROUPS:
        raise OscArgError(f"unknown query {what!r}: use {', '.join(QUERIES)}")
    _query(what)(ctx, tuple(args[1:]))


def _call(method: Command, convert: Callable[[tuple], Any]) -> Action:
    """An action that calls one engine command (``EngineCommands.<name>``) with the converted value."""
    name = command_name(method)

    def act(ctx: Context, args: tuple) -> None:
        getattr(ctx.engine, name)(convert(args))
    return act


def _osc_path(check: Callable[..., Any], *args: Any) -> Any:
    try:
        return check(*args)
    except OscPathError as e:
        raise OscArgError(str(e)) from None


def _save(ctx: Context, args: tuple) -> None:
    folder = export_dir(getattr(ctx.engine, "settings", None))
    ctx.engine.save_pattern(_osc_path(export_file, _text(args, 0, "a file name"), folder))


def _save_variations(ctx: Context, args: tuple) -> None:
    folder = export_dir(getattr(ctx.engine, "settings", None))
    ctx.engine.save_variations(_osc_path(export_folder, _text(args, 0, "a folder name"), folder))


STATE_GROUPS = ("transport", "tempo", "sync", "variations", "settings", "attributes", "mute", "slot",
                "model", "error")
QUERY_GROUPS: dict[str, tuple[str, ...]] = {
    "state": STATE_GROUPS + ("position",),
    "all": STATE_GROUPS + ("position", "pattern"),
    "pattern": ("pattern",),
    "transport": ("transport", "position"),
    "tempo": ("tempo",),
    "sync": ("sync",),
    "position": ("position",),
    "variations": ("variations",),
    "settings": ("settings",),
    "attributes": ("attributes",),
    "mutes": ("mute",),
    "slots": ("slot",),
    "model": ("model",),
    "error": ("error",),
    "sync/health": ("sync_health",),
}

_BPM = f"{TEMPO_NORM_BPM[0]:g}-{TEMPO_NORM_BPM[1]:g}"
_TEMPERATURE = f"0-{cmd.TEMPERATURE_MAX:g}"

ROUTES: tuple[Route, ...] = (
    Route("/play", "[f press]", "", "start the transport (internal clock; MIDI/Link running: join at the next bar line; "
          "MIDI not running: /error says what to do)", "/transport", _press(EngineCommands.play)),
    Route("/stop", "[f press]", "", "stop the transport, all notes off (MIDI/Link sync: silence GrooveBridge until "
          "play or the DAW's Start/Continue; the DAW's transport is left alone)", "/transport", _press(EngineCommands.stop)),
    Route("/toggle", "[f press]", "", "play if stopped, else stop", "/transport", _toggle),
    Route("/tempo", "f bpm", "20-400", "set the tempo (internal clock; proposed to the session under Link; under MIDI clock the DAW sets it: /error says so)", "/tempo, /tempo/norm",
          _call(EngineCommands.set_tempo, lambda a: _in_range(_number(a, 0, "tempo"), 20.0, 400.0, "tempo"))),
    Route("/tempo/norm", "f", f"0-1 = {_BPM} BPM", "set the tempo from a fader", "/tempo, /tempo/norm",
          _call(EngineCommands.set_tempo, lambda a: TEMPO_NORM_BPM[0] + _norm(a, "tempo") * (TEMPO_NORM_BPM[1] - TEMPO_NORM_BPM[0]))),
    Route("/sync", "s name | i index", "internal midi link / 0 1 2", "choose the clock source", "/sync, /sync/index", _sync),
    Route("/sync/internal", "[f press]", "", "clock source: internal", "/sync", _sync_button("internal")),
    Route("/sync/midi", "[f press]", "", "clock source: MIDI clock in", "/sync", _sync_button("midi")),
    Route("/sync/link", "[f press]", "", "clock source: Ableton Link", "/sync", _sync_button("link")),
    Route("/latency", "f ms", "-500..500", "output latency offset (positive = notes sent earlier)", "/latency",
          _call(EngineCommands.set_latency_ms, lambda a: _in_range(_number(a, 0, "latency ms"), *LATENCY_RANGE_MS, "latency ms"))),
    Route("/clock/out", "i|f on", "0/1", "send MIDI clock when the internal clock is master", "/clock/out",
          _call(EngineCommands.set_clock_out, lambda a: _switch(a, "clock out"))),
    Route("/sample", "[i n] [f temperature] | f press", f"n {cmd.VARIATIONS_MIN}-{cmd.VARIATIONS_MAX}, temperature {_TEMPERATURE}",
          "sample n new variations (default: the variations count) and play the first", "/variations/count, /variation, /pattern", _sample),
    Route("/variation", "i index | f norm", "0..count-1 / 0-1", "play variation i (from the next bar)", "/variation, /pattern", _variation),
    Route("/variation/next", "[f press]", "", "next variation (wraps)", "/variation, /pattern", _variation_step(1)),
    Route("/variation/prev", "[f press]", "", "previous variation (wraps)", "/variation, /pattern", _variation_step(-1)),
    Route("/variations/count", "i n | f norm", "1-16 / 0-1", "how many variations /sample makes", "/variations/count", _variations_count),
    Route("/temperature", "f", f"{_TEMPERATURE} (0 = {cmd.MIN_TEMPERATURE:g})", "sampling temperature", "/temperature, /temperature/norm",
          _call(EngineCommands.set_temperature, lambda a: _temperature(_number(a, 0, "temperature")))),
    Route("/temperature/norm", "f", f"0-1 = 0-{cmd.TEMPERATURE_FADER_MAX:g}", "sampling temperature from a fader", "/temperature, /temperature/norm",
          _call(EngineCommands.set_temperature, lambda a: _temperature(_norm(a, "temperature") * TEMPERATURE_RANGE[1]))),
    Route("/capture/a", "[f press] [s last|next] [i count-in bars]", "count-in 0-4",
          "capture the last 4 bars played (or record the next 4) into slot A", "/slot/a, /capture", _capture("A")),
    Route("/capture/b", "[f press] [s last|next] [i count-in bars]", "count-in 0-4", "same, into slot B", "/slot/b, /capture", _capture("B")),
    Route("/capture/a/next", "[f press] [i count-in bars]", "count-in 0-4", "record the next 4 bars into slot A", "/slot/a, /capture", _capture("A", "next")),
    Route("/capture/b/next", "[f press] [i count-in bars]", "count-in 0-4", "record the next 4 bars into slot B", "/slot/b, /capture", _capture("B", "next")),
    Route("/capture", "s slot [s last|next] [i count-in bars]", "a|b", "capture into a slot", "/slot/a|b, /capture", _capture(None)),
    Route("/capture/input_mode", "s mode | i index", "drums rhythm / 0 1",
          "capture input: drums (notes through the input drum map) or rhythm (every note-on a tap, any pitch, for /drumify)",
          "/capture/input_mode; /error when refused", _input_mode),
    Route("/interpolate", "f position", "0-1", "live A->B morph position (re-decoded, swapped at the next bar)", "/interpolate, /pattern",
          _call(EngineCommands.set_interpolation, lambda a: _norm(a, "position"))),
    Route("/humanize", "[f amount]", "0-1 (0 = release, ignored)", "humanize the current pattern by amount (default 1)", "/pattern",
          _humanize),
    Route("/reconstruct", "[f press]", "", "re-decode the current pattern through the model", "/pattern", _press(EngineCommands.reconstruct)),
    Route("/drumify", "s source | [f press]", "a b pattern (no argument: pattern)",
          "turn the rhythm in slot A or B or the playing pattern (every hit a tap) into full drums with the Drumify model; plays from the next bar",
          "/pattern; /error when refused", _drumify),
    *FOLLOW_ROUTES,
    *ATTRIBUTE_ROUTES,
    *(Route(f"/mute/{name}", "[i|f on]", "0/1; no argument toggles", f"mute {name}", f"/mute/{name}", _mute_of(k))
      for k, name in enumerate(CLASS_NAMES)),
    Route("/mute", "s|i instrument, i|f on", "name or 0-8, 0/1", "mute or unmute one instrument", "/mute/<instrument>", _mute),
    Route("/slot/swap", "[f press]", "", "swap slots A and B", "/slot/a, /slot/b", _press(EngineCommands.swap_slots)),
    Route("/slot/play", "s slot", "a|b", "play the groove in slot A or B", "/pattern", _call(EngineCommands.play_slot, lambda a: _slot(_text(a, 0, "slot")))),
    Route("/slot/play/a", "[f press]", "", "play slot A", "/pattern", lambda ctx, a: ctx.engine.play_slot("A") if pressed(a) else None),
    Route("/slot/play/b", "[f press]", "", "play slot B", "/pattern", lambda ctx, a: ctx.engine.play_slot("B") if pressed(a) else None),
    Route("/save", "s name", ".mid name inside the export folder", "save the current pattern as a MIDI file in the export folder (osc_save_dir)", "/error on failure", _save),
    Route("/save/variations", "s folder", "folder name inside the export folder", "save every variation as .mid files there", "/error on failure",
          _save_variations),
    Route("/model", "s name or path", "default, humanize, an imported name, a path in the user model/data folder", "load another model (hot swap)", "/model, /model/state",
          _call(EngineCommands.set_model, lambda a: _osc_path(osc_model, _text(a, 0, "a model name or path")))),
    Route("/port/input", "s name", "port name or substring, \"\" = virtual", "choose the MIDI input port", "/ports",
          _call(EngineCommands.set_input_port, lambda a: a[0] if a and isinstance(a[0], str) else _text(a, 0, "a port name"))),
    Route("/port/output", "s name", "port name or substring, \"\" = virtual", "choose the MIDI output port", "/ports",
          _call(EngineCommands.set_output_port, lambda a: a[0] if a and isinstance(a[0], str) else _text(a, 0, "a port name"))),
    Route("/drummap/input", "s name", "gm, roland, reduced or a .toml path", "input drum map", "/drummap/input",
          lambda ctx, a: ctx.engine.set_drum_maps(input=_text(a, 0, "a drum map"))),
    Route("/drummap/output", "s name", "gm, roland, reduced or a .toml path", "output drum map", "/drummap/output",
          lambda ctx, a: ctx.engine.set_drum_maps(output=_text(a, 0, "a drum map"))),
    *(Route(f"/query/{what}", "[i reply port]", "", f"reply with {what}" + (" (state + pattern)" if what == "all" else ""),
            "replies to the sender", _query(what)) for what in QUERIES),
    Route("/query", "s what [i reply port]", ", ".join(QUERIES), "reply with that part of the state", "replies to the sender", _query_any),
    Route("/query/slot", "s a|b [i reply port]", "a, b", "reply with a slot's groove without playing it",
          "replies /slot/<a|b>/pattern (i steps, b velocities, b offsets: the /pattern encoding; 0 steps = empty)", _query_slot),
    Route("/query/sync/health", "[i reply port]", "", "reply with the sync health",
          "replies /sync/health (s state, f phase error ms; -1 = unknown)", _query("sync/health")),
    Route("/ping", "[i reply port]", "", "liveness check", "replies /pong", lambda ctx, a: _query("ping")(ctx, a)),
)
QUERY_GROUPS["ping"] = ("pong",)
QUERY_GROUPS.update({"slot_a": ("slot_pattern_a",), "slot_b": ("slot_pattern_b",)})

ROUTE_BY_ADDRESS: dict[str, Route] = {PREFIX + r.address: r for r in ROUTES}


def find_route(address: str) -> Route | None:
    """The route of an incoming address (case and a trailing / ignored), or None."""
    key = address.rstrip("/").lower()
    return ROUTE_BY_ADDRESS.get(key) or attribute_route(key)


def markdown_table() -> str:
    """The input address table for docs/osc.md."""
    lines = ["| Address | Arguments | Range | Effect | Echo / reply |", "|---|---|---|---|---|"]
    for r in ROUTES:
        cells = [f"`{PREFIX}{r.address}`", r.args, r.range, r.effect, r.echo]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
