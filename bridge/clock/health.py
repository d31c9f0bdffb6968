"""Sync health and transport hints per sync source (pure: reads a clock, returns values).

``clock_health(clock)`` is the ``sync_health`` contract the engine snapshot carries, the
"sync_health" event sends and OSC echoes as ``/groovebridge/sync/health s f``::

    {"state": "free" | "locked" | "settling" | "lost", "phase_error_ms": float,
     "source": "internal" | "midi" | "link", "detail": one short line for the user ("" if none)}

* internal: always "free" (GrooveBridge is the master);
* midi: the follower's own estimate (``MidiClockFollower.health``): "locked" while the phase
  error estimate is within its bound (``lock_phase_ms``, 2 ms, or the delivery's noise band
  where JACK periods are coarser), "settling" while locking or correcting a slip, "lost"
  when no clock arrives;
* link: "locked" while the Link session runs and our timeline (a snapshot of Link's,
  extrapolated) stayed within 2 ms of Link's own readings over the last second (the phase
  error: the largest gap plus the reading's own uncertainty, ``LinkClock.phase_error_ms``),
  "settling" beyond that (a busy machine) or while it is still looking for peers, "lost" if
  Link stopped.

``transport_hint(clock, held)`` is what to do to get the transport running, true for the sync
source: every message that depends on the transport uses it.
"""

from __future__ import annotations

import math
from typing import Any

FREE: dict[str, Any] = {"state": "free", "phase_error_ms": 0.0, "source": "internal", "detail": ""}


def clock_health(clock: Any) -> dict[str, Any]:
    health = getattr(clock, "health", None)
    name = getattr(clock, "name", "internal")
    if health is None:
        return dict(FREE, source=name if name in ("midi", "link") else "internal")
    state, err, detail = health()
    return {"state": state, "phase_error_ms": float(err), "source": name, "detail": detail}


def transport_hint(clock: Any, held: bool = False) -> str:
    """Why the transport is not running and what starts it, for this clock's sync source."""
    name = getattr(clock, "name", "internal")
    if name == "midi":
        if held and clock.is_playing:
            return "GrooveBridge is stopped under MIDI sync: press play (it joins at the next bar line)"
        state = clock_health(clock)
        if state["state"] == "lost":
            return ("no MIDI clock is arriving: send the DAW's MIDI clock to GrooveBridge In "
                    "and start its transport")
        return "MIDI clock is running but no Start arrived: start the DAW's transport"
    if name == "link":
        if held and clock.is_playing:
            return "GrooveBridge is stopped under Link sync: press play (it joins at the next bar line)"
        return "the Link session is stopped: press play or start a Link app's transport"
    return "press play"


def next_bar_beat(beat: float, lead_beats: float, beats_per_bar: int = 4) -> float:
    """The first bar line at least ``lead_beats`` after ``beat`` (where a joining player starts)."""
    return float(math.ceil((beat + lead_beats) / beats_per_bar) * beats_per_bar)
