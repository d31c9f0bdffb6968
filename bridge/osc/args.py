"""The OSC address table's building blocks: ``Route``, the ``Context`` an action gets, and the
argument conversions every action uses (``bridge.osc.table`` and ``bridge.osc.attributes``).

Actions raise ``OscArgError`` (one line) for arguments they cannot use; ``bridge.osc`` logs and
drops those.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.engine.api import EngineCommands

PREFIX = "/groovebridge"


class OscArgError(ValueError):
    """The arguments of a message are unusable (wrong type, count or range)."""


@dataclass
class Context:
    """What an action may use: the engine, its (lazily taken) snapshot, and a reply sink."""

    engine: EngineCommands  # the real Engine, or intake's Recorder / a test's stand-in
    snapshot: Callable[[], Any]
    reply: Callable[[Sequence[str]], None]  # groups to send back to the sender (queries)
    reply_port: int | None = None


Action = Callable[[Context, tuple], None]


@dataclass(frozen=True)
class Route:
    address: str  # below PREFIX
    args: str  # e.g. "f bpm"
    range: str
    effect: str
    echo: str
    action: Action


# ---- argument conversion ---------------------------------------------------------------------
def _number(args: tuple, i: int, what: str) -> float:
    if len(args) <= i:
        raise OscArgError(f"needs {what}")
    v = args[i]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise OscArgError(f"{what} must be a number, got {v!r}")
    return float(v)


def _in_range(value: float, lo: float, hi: float, what: str) -> float:
    if not lo <= value <= hi:
        raise OscArgError(f"{what} {value:g} is outside {lo:g}..{hi:g}")
    return value


def _norm(args: tuple, what: str = "value") -> float:
    return min(1.0, max(0.0, _number(args, 0, what + " (0-1)")))


def _text(args: tuple, i: int, what: str) -> str:
    if len(args) <= i or not isinstance(args[i], str) or not args[i].strip():
        raise OscArgError(f"needs {what} (a string)")
    return args[i].strip()


def pressed(args: tuple) -> bool:
    """A button press: no argument, or a first number >= 0.5 (TouchOSC release 0.0 = False)."""
    if not args:
        return True
    v = args[0]
    if isinstance(v, str):
        return True
    return isinstance(v, (int, float)) and v >= 0.5


def _switch(args: tuple, what: str) -> bool:
    """On/off from 0/1 (int, float, "on"/"off", True/False)."""
    if not args:
        raise OscArgError(f"needs {what} 0/1")
    v = args[0]
    if isinstance(v, bool):  # OSC T / F
        return v
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("1", "on", "true", "yes"):
            return True
        if low in ("0", "off", "false", "no"):
            return False
        raise OscArgError(f"{what} must be 0/1, got {v!r}")
    return _number(args, 0, what) >= 0.5
