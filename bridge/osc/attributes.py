"""OSC addresses of the musical attribute controls (``Engine.set_attribute``, models.net.attributes).

* ``/groovebridge/attribute/<name> f`` sets one attribute in standard deviations, -2..2;
  ``/groovebridge/attribute/<name>/norm f`` takes a fader's 0-1 (0 = -2, 0.5 = 0, 1 = +2;
  clamped like every ``/norm``); ``/groovebridge/attributes/reset`` sets all back to 0.
* The engine checks the name and the range: an unknown name or a value outside -2..2 (or a
  model without attribute directions) is one line on ``/groovebridge/error``. So that a
  controller hears about a misspelt name, ``/attribute/<any name>[/norm]`` is routed too
  (``attribute_route``), not dropped as an unknown address.
* Echo (``attribute_messages``, group "attributes", part of ``/query/state``): every
  attribute on ``/attribute/<name>`` and ``/attribute/<name>/norm``, and
  ``/attributes/available i 0/1`` (whether the active model has attribute directions).
"""

from __future__ import annotations

import re
from typing import Any

from bridge.osc.args import PREFIX, Action, Context, Route, _norm, _number, pressed
from models.net.attributes import ATTRIBUTE_HELP, ATTRIBUTE_LIMIT, ATTRIBUTE_NAMES

ATTRIBUTE_RANGE = (-ATTRIBUTE_LIMIT, ATTRIBUTE_LIMIT)
_BASE = PREFIX + "/attribute/"
_NAME = re.compile(r"[a-z0-9_]{1,40}")


def norm_to_value(norm: float) -> float:
    """A fader's 0-1 onto -2..2 (clamped)."""
    lo, hi = ATTRIBUTE_RANGE
    return lo + min(1.0, max(0.0, norm)) * (hi - lo)


def value_to_norm(value: float) -> float:
    lo, hi = ATTRIBUTE_RANGE
    return float(min(1.0, max(0.0, (value - lo) / (hi - lo))))


def _set(name: str, norm: bool) -> Action:
    def act(ctx: Context, args: tuple) -> None:
        if norm:
            value = norm_to_value(_norm(args, name))
        else:
            value = _number(args, 0, f"a value for {name} (-2..2)")  # the range: the engine's one line
        ctx.engine.set_attribute(name, value)
    return act


def _reset(ctx: Context, args: tuple) -> None:
    if pressed(args):
        ctx.engine.reset_attributes()


_RANGE = f"{ATTRIBUTE_RANGE[0]:g}..{ATTRIBUTE_RANGE[1]:g}"
ATTRIBUTE_ROUTES: tuple[Route, ...] = (
    *(route for name in ATTRIBUTE_NAMES for route in (
        Route(f"/attribute/{name}", "f value", f"{_RANGE} (standard deviations)",
              f"{name}: {ATTRIBUTE_HELP[name]}; re-decodes the playing pattern (from the next bar) and shifts new samples",
              f"/attribute/{name}, /attribute/{name}/norm, /pattern; /error when refused", _set(name, False)),
        Route(f"/attribute/{name}/norm", "f", f"0-1 = {_RANGE}", f"{name} from a fader",
              f"/attribute/{name}, /attribute/{name}/norm, /pattern; /error when refused", _set(name, True)),
    )),
    Route("/attributes/reset", "[f press]", "", "every attribute back to 0 (the playing pattern's source, reconstructed)",
          "/attribute/<name>, /pattern", _reset),
)


def attribute_route(address: str) -> Route | None:
    """A route for ``/groovebridge/attribute/<name>[/norm]`` whose name is not in the table: it
    hands the name to the engine, which answers with its one-line error (lowercase address)."""
    if not address.startswith(_BASE):
        return None
    name, _, tail = address[len(_BASE):].partition("/")
    if tail not in ("", "norm") or not _NAME.fullmatch(name):
        return None
    norm = tail == "norm"
    return Route(f"/attribute/{name}" + ("/norm" if norm else ""), "f", "", f"unknown attribute {name}", "/error",
                 _set(name, norm))


def attribute_messages(snap: Any) -> list[tuple[str, list[Any]]]:
    """The echo of the attribute values (group "attributes")."""
    values = getattr(snap, "attributes", None) or {}
    out: list[tuple[str, list[Any]]] = []
    for name in ATTRIBUTE_NAMES:
        v = float(values.get(name, 0.0))
        out += [(_BASE + name, [v]), (_BASE + name + "/norm", [value_to_norm(v)])]
    out.append((PREFIX + "/attributes/available", [int(bool(getattr(snap, "attributes_available", False)))]))
    return out
