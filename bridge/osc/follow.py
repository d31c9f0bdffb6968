"""OSC addresses of Follow mode (``Engine.set_follow*``, bridge.engine.follow).

* ``/groovebridge/follow i`` on/off; ``/follow/source s`` drums|rhythm (or 0/1);
  ``/follow/every i`` and ``/follow/bars i`` 1|2|4; ``/follow/amount f`` 0-1 and
  ``/follow/amount/norm f`` (a fader, clamped); ``/follow/temperature f`` (0, 5].
* Values go to the engine as sent: the engine checks them, so a bad one (every 3, amount 1.5,
  source piano) is one line on ``/groovebridge/error``.
* Echo (``follow_messages``, part of the "settings" group): every follow setting on the
  address that sets it, ``/follow/amount/norm`` and ``/follow/late i`` (generations skipped
  because they were not ready before their bar).
"""

from __future__ import annotations

from typing import Any

from bridge.commands import FOLLOW_SOURCES
from bridge.engine.api import Command, EngineCommands, command_name
from bridge.osc.args import PREFIX, Action, Context, OscArgError, Route


def _first(args: tuple, what: str) -> Any:
    if not args:
        raise OscArgError(f"needs {what}")
    return args[0]


def _set(method: Command, what: str) -> Action:
    name = command_name(method)

    def act(ctx: Context, args: tuple) -> None:
        getattr(ctx.engine, name)(_first(args, what))
    return act


def _source(ctx: Context, args: tuple) -> None:
    v = _first(args, "a follow source: drums or rhythm")
    if not isinstance(v, (str, bool)) and isinstance(v, (int, float)) and v in (0, 1):
        v = FOLLOW_SOURCES[int(v)]  # a TouchOSC radio button: 0.0 / 1.0
    ctx.engine.set_follow_source(str(v).strip().lower() if isinstance(v, str) else v)


def _amount_norm(ctx: Context, args: tuple) -> None:
    v = _first(args, "a follow amount (0-1)")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = min(1.0, max(0.0, float(v)))  # a fader: clamped like every /norm
    ctx.engine.set_follow_amount(v)


_ECHO = "/follow, /follow/source, /follow/every, /follow/bars, /follow/amount, /follow/amount/norm, /follow/temperature, /follow/late"
FOLLOW_ROUTES: tuple[Route, ...] = (
    Route("/follow", "i on", "0/1", "Follow mode: every bar line (or every 2 / 4 bars) generate the next pattern from the last bars played; it plays from the next bar line",
          _ECHO + "; /error when refused", _set(EngineCommands.set_follow, "follow 0/1")),
    Route("/follow/source", "s source | i index", "drums rhythm / 0 1",
          "follow from the played drums (encode, slerp from the playing pattern by the amount) or the played rhythm (drumified first)",
          "/follow/source; /error when refused", _source),
    Route("/follow/every", "i bars", "1 2 4", "generate every 1, 2 or 4 bars", "/follow/every; /error when refused",
          _set(EngineCommands.set_follow_every, "follow every: 1, 2 or 4 bars")),
    Route("/follow/bars", "i bars", "1 2 4", "bars of input taken (shorter input is repeated to 4 bars)",
          "/follow/bars; /error when refused", _set(EngineCommands.set_follow_bars, "follow bars: 1, 2 or 4")),
    Route("/follow/amount", "f amount", "0-1", "how far the next pattern moves from the playing one towards the played groove (0 keeps it)",
          "/follow/amount, /follow/amount/norm; /error when refused", _set(EngineCommands.set_follow_amount, "a follow amount (0-1)")),
    Route("/follow/amount/norm", "f", "0-1 (clamped)", "follow amount from a fader",
          "/follow/amount, /follow/amount/norm", _amount_norm),
    Route("/follow/temperature", "f", "(0, 5]", "temperature of the follow decodes", "/follow/temperature; /error when refused",
          _set(EngineCommands.set_follow_temperature, "a follow temperature")),
)


def follow_messages(snap: Any) -> list[tuple[str, list[Any]]]:
    """The echo of the follow settings (in the "settings" group)."""
    p = PREFIX + "/follow"
    amount = float(getattr(snap, "follow_amount", 0.5))
    return [(p, [int(bool(getattr(snap, "follow", False)))]),
            (p + "/source", [str(getattr(snap, "follow_source", "drums"))]),
            (p + "/every", [int(getattr(snap, "follow_every", 1))]),
            (p + "/bars", [int(getattr(snap, "follow_bars", 4))]),
            (p + "/amount", [amount]),
            (p + "/amount/norm", [min(1.0, max(0.0, amount))]),
            (p + "/temperature", [float(getattr(snap, "follow_temperature", 1.0))]),
            (p + "/late", [int(getattr(snap, "follow_late", 0))])]
