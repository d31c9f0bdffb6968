"""What a controller can send and what it hears back, read from the OSC table at run time.

A fader, button or radio sends nothing, or one number, per message (TouchOSC and Open Stage
Control can add constant arguments). So an input address is *controller-sendable* when one
alternative of its ``Route.args`` (alternatives are separated by `` | ``) needs at most one
argument and that argument may be an int or a float: ``[f press]``, ``f bpm``,
``s name | i index``, ``s source | [f press]`` and ``[i reply port]`` are; ``s name``
(files, ports, models, drum maps) and ``s|i instrument, i|f on`` (two values) are not.

The table has no widget hints, so ranges are derived here from ``Route.range`` ("20-400",
"-500..500", "0-1 = 40-240 BPM", "(0, 5]"), option names from ranges like
"internal midi link / 0 1 2", value sets from "1 2 4", and the echo types (a fader follows only
a numeric echo; a string echo such as ``/sync internal`` goes to a text display) from
``bridge.osc.echo.group_messages`` on a default snapshot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from bridge.engine.snapshot import EngineSnapshot
from bridge.osc.echo import EVENT_GROUPS, group_messages
from bridge.osc.table import PREFIX, ROUTES, Route

_OPTIONAL = re.compile(r"\[[^\]]*\]")
_NUMBER = r"-?\d+(?:\.\d+)?"
_SPAN = re.compile(rf"({_NUMBER})\s*(?:-|\.\.|,)\s*({_NUMBER})")
_NAMES = re.compile(r"^([a-z_]+(?: [a-z_]+)+) / (\d+(?: \d+)+)$")
_VALUES = re.compile(r"^(\d+(?: \d+)+)$")


@dataclass(frozen=True)
class Input:
    """One controller-sendable input address and what the table says about its values."""

    address: str  # full address, with the prefix
    kind: str  # "press" | "query" | "switch" | "names" | "values" | "number"
    lo: float = 0.0
    hi: float = 1.0
    integer: bool = False  # the number alternative is an int ("i n", "i index", "i on")
    options: tuple[str, ...] = ()  # "names": the names (index = position); "values": the numbers
    route: Route | None = None


def _alternatives(args: str) -> list[str]:
    return [a.strip() for a in args.split(" | ")] if args.strip() else [""]


def _required(alternative: str) -> list[str]:
    rest = _OPTIONAL.sub("", alternative).strip()
    return [a.strip() for a in rest.split(",") if a.strip()]


def _numeric_alternative(args: str) -> str | None:
    """The first alternative a fader or button can send (at most one int/float), or None."""
    for alt in _alternatives(args):
        req = _required(alt)
        if not req:
            return alt
        if len(req) == 1 and {"i", "f"} & set(req[0].split()[0].split("|")):
            return alt
    return None


def sendable(route: Route) -> bool:
    """Whether a fader, button or radio can send this route (see the module docstring)."""
    return _numeric_alternative(route.args) is not None


def _span(text: str) -> tuple[float, float] | None:
    """The value range a fader should cover: the part after "=" (the mapped range) is the
    engine's, the part before it what the fader sends ("0-1 = 40-240 BPM" -> 0..1)."""
    m = _SPAN.search(text.split("=")[0])
    if not m:
        return None
    lo, hi = float(m.group(1)), float(m.group(2))
    if text.lstrip().startswith("(") and lo == 0.0:
        lo = hi / 100.0  # "(0, 5]": 0 itself is refused
    return (lo, hi) if hi > lo else None


def classify(route: Route) -> Input | None:
    """The controller view of one table row, or None when a controller cannot send it."""
    alt = _numeric_alternative(route.args)
    if alt is None:
        return None
    address = PREFIX + route.address
    if route.echo.startswith("replies"):
        return Input(address, "query", route=route)
    req = _required(alt)
    rng = route.range.strip()
    if rng.startswith("0/1"):  # "i|f on", "[i|f on]" (no argument toggles)
        return Input(address, "switch", integer=True, route=route)
    if not req:
        return Input(address, "press", route=route)
    integer = req[0].split()[0].split("|")[0] == "i"
    names = _NAMES.match(rng)
    if names:
        return Input(address, "names", integer=True, options=tuple(names.group(1).split()), route=route)
    values = _VALUES.match(rng)
    if values and integer:
        return Input(address, "values", integer=True, options=tuple(values.group(1).split()), route=route)
    span = _span(rng.split("/")[0] if "/" in rng and "=" not in rng else rng)
    lo, hi = span or (0.0, 1.0)
    return Input(address, "number", lo, hi, integer, route=route)


def controller_inputs() -> dict[str, Input]:
    """Every controller-sendable input address of the table now, in table order."""
    out: dict[str, Input] = {}
    for route in ROUTES:
        item = classify(route)
        if item is not None:
            out[item.address] = item
    return out


@lru_cache(maxsize=1)
def echo_types() -> dict[str, str]:
    """Address -> OSC type tag of its first argument, for every state message the engine
    sends (``bridge.osc.echo`` on a default snapshot); "" for a message without arguments."""
    groups = {g for gs in EVENT_GROUPS.values() for g in gs} | {"position", "pong"}
    snap = EngineSnapshot()
    types: dict[str, str] = {}
    for group in sorted(groups):
        for address, args in group_messages(group, snap):
            first = args[0] if args else None
            if isinstance(first, bool) or isinstance(first, int):
                tag = "i"
            elif isinstance(first, float):
                tag = "f"
            elif isinstance(first, str):
                tag = "s"
            else:
                tag = "" if first is None else "b"
            types.setdefault(address, tag)
    return types


def numeric_echo(address: str) -> bool:
    """The engine echoes this address with a number (a fader or toggle can follow it)."""
    return echo_types().get(address, "") in ("i", "f")


def text_echo(address: str) -> bool:
    return echo_types().get(address, "") in ("s", "i", "f")
