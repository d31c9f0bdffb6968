"""The echo of a "settings" event: only the addresses of the settings that changed (pure).

An engine "settings" event carries the fields it changed (``{"temperature": 0.8}``,
``{"follow_amount": 0.4}``, ...). Echoing the whole settings, variations and attributes groups
for each (about 37 messages) made a fader moved at 50 messages a second come back as ~1,850 a
second (trial finding 16). ``settings_echo`` sends the changed setting's own addresses (a
value and its fader position), and for attributes only the ones whose value moved since the
last echo. A field it does not know gets the old full echo (``None``: the caller sends the
groups), so a new setting is never left unechoed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from bridge.osc.args import PREFIX
from bridge.osc.attributes import attribute_messages
from models.net.attributes import ATTRIBUTE_NAMES

Message = tuple[str, list[Any]]

# settings field -> the addresses (under the prefix) that echo it; () = nothing to echo
SETTING_ADDRESSES: dict[str, tuple[str, ...]] = {
    "temperature": ("/temperature", "/temperature/norm"),
    "interpolation": ("/interpolate",),
    "latency_ms": ("/latency",),
    "clock_out": ("/clock/out",),
    "input_drum_map": ("/drummap/input",),
    "output_drum_map": ("/drummap/output",),
    "input_mode": ("/capture/input_mode",),
    "num_variations": ("/variations/count",),
    "follow": ("/follow",),
    "follow_source": ("/follow/source",),
    "follow_every": ("/follow/every",),
    "follow_bars": ("/follow/bars",),
    "follow_amount": ("/follow/amount", "/follow/amount/norm"),
    "follow_temperature": ("/follow/temperature",),
    "follow_late": ("/follow/late",),
    "attributes_available": ("/attributes/available",),
    "attributes": (),  # the attributes that moved (below)
    "device": (),  # no OSC address: a device change reloads the model, echoed as /model
    "saved": (),  # /save answered nothing on success, /error on failure
    "count": (),
}


def settings_echo(fields: Iterable[str], snap: Any, echoed_attributes: MutableMapping[str, float],
                  group_messages: Any) -> list[Message] | None:
    """The messages for the settings ``fields`` changed (None: a field this table does not know).
    ``echoed_attributes`` (the values last sent) is updated with what is sent."""
    names = set(fields)
    if not names <= SETTING_ADDRESSES.keys():
        return None
    wanted = {PREFIX + a for f in names for a in SETTING_ADDRESSES[f]}
    out: list[Message] = []
    if wanted:
        for group in ("settings", "variations"):
            out += [m for m in group_messages(group, snap) if m[0] in wanted]
        out += [m for m in attribute_messages(snap) if m[0] in wanted]
    if "attributes" in names:
        out += moved_attributes(snap, echoed_attributes)
    return out


def moved_attributes(snap: Any, echoed: MutableMapping[str, float]) -> list[Message]:
    """The value and fader messages of each attribute whose value differs from ``echoed``."""
    values: Mapping[str, float] = getattr(snap, "attributes", None) or {}
    moved = [n for n in ATTRIBUTE_NAMES if echoed.get(n) != float(values.get(n, 0.0))]
    for n in moved:
        echoed[n] = float(values.get(n, 0.0))
    keep = {f"{PREFIX}/attribute/{n}" for n in moved} | {f"{PREFIX}/attribute/{n}/norm" for n in moved}
    return [m for m in attribute_messages(snap) if m[0] in keep]
