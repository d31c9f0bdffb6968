"""OSC output encoding (pure, no sockets): what goes out for an engine event and a played note.

* ``EVENT_GROUPS``: the state groups an engine event changes; ``group_messages(group, snapshot)``
  echoes one group on the same addresses a controller writes (so its faders follow);
* ``pattern_messages`` / ``decode_pattern``: the ``/groovebridge/pattern`` blobs (encoding in
  ``bridge.osc``'s docstring and docs/osc.md); ``note_message``: one played note.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bridge.commands import SLOTS
from bridge.osc.attributes import attribute_messages
from bridge.osc.follow import follow_messages
from bridge.osc.table import PREFIX, SYNC_NAMES, TEMPERATURE_RANGE, TEMPO_NORM_BPM
from models.drum_maps import CLASS_NAMES
from models.groove import midi_velocities

Message = tuple[str, list[Any]]
UNKNOWN_PHASE_MS = -1.0  # /sync/health's phase error where none is known ("lost")

EVENT_GROUPS: dict[str, tuple[str, ...]] = {
    "pattern": ("pattern",),
    "variations": ("variations",),
    "transport": ("transport",),
    "tempo": ("tempo",),
    "sync": ("sync", "tempo"),
    "model": ("model", "attributes"),
    "slot": ("slot",),
    "mute": ("mute",),
    "settings": ("settings", "variations", "attributes"),
    "error": ("error",),
    "capture": ("capture",),
    "ports": ("ports",),
    "sync_health": ("sync_health",),
}


# ---- output encoding (pure) ----------------------------------------------------------------------
def _norm_of(value: float, lo: float, hi: float) -> float:
    return float(min(1.0, max(0.0, (value - lo) / (hi - lo))))


def pattern_messages(groove: Any, source: str = "") -> list[Message]:
    """``/pattern`` (steps + two blobs) and ``/pattern/<instrument>`` velocity lists."""
    vel = midi_velocities(groove.hits, groove.velocities, min_velocity=1)
    off = np.where(groove.hits > 0.5, np.rint(np.clip(groove.offsets, -1.0, 1.0) * 127.0), 0)
    steps = int(vel.shape[0])
    out: list[Message] = [(PREFIX + "/pattern", [steps, vel.astype(np.uint8).tobytes(),
                                                 off.astype(np.int8).tobytes()])]
    out += [(f"{PREFIX}/pattern/{name}", [int(v) for v in vel[:, k]])
            for k, name in enumerate(CLASS_NAMES)]
    out.append((PREFIX + "/pattern/source", [source]))
    return out


def decode_pattern(args: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of the ``/pattern`` blobs: (steps, 9) int velocities and float offsets."""
    steps = int(args[0])
    vel = np.frombuffer(bytes(args[1]), np.uint8).reshape(steps, len(CLASS_NAMES)).astype(int)
    off = np.frombuffer(bytes(args[2]), np.int8).reshape(steps, len(CLASS_NAMES)) / 127.0
    return vel, off


def group_messages(group: str, snap: Any) -> list[Message]:
    """The messages that echo one part of an ``EngineSnapshot``."""
    p = PREFIX
    if group == "transport":
        return [(p + "/transport", [int(snap.playing)]), (p + "/play", [1.0 if snap.playing else 0.0])]
    if group == "tempo":
        return [(p + "/tempo", [float(snap.bpm)]),
                (p + "/tempo/norm", [_norm_of(snap.bpm, *TEMPO_NORM_BPM)])]
    if group == "sync":
        idx = SYNC_NAMES.index(snap.sync_source) if snap.sync_source in SYNC_NAMES else -1
        return [(p + "/sync", [snap.sync_source]), (p + "/sync/index", [idx]),
                (p + "/locked", [int(snap.locked)]), (p + "/peers", [int(snap.peers)])]
    if group == "position":
        return [(p + "/position", [int(snap.bar), float(snap.beat), float(snap.step)])]
    if group == "variations":
        n = len(snap.variations)
        sel = int(snap.selected_variation)
        return [(p + "/variations/count", [int(snap.num_variations)]),
                (p + "/variations/available", [n]),
                (p + "/variation", [sel]),
                (p + "/variation/norm", [sel / (n - 1) if n > 1 and sel >= 0 else 0.0])]
    if group == "settings":
        return [(p + "/temperature", [float(snap.temperature)]),
                (p + "/temperature/norm", [_norm_of(snap.temperature, *TEMPERATURE_RANGE)]),
                (p + "/interpolate", [float(snap.interpolation)]),
                (p + "/latency", [float(snap.latency_ms)]),
                (p + "/clock/out", [int(getattr(snap, "clock_out", False))]),
                (p + "/drummap/input", [str(getattr(snap, "input_drum_map", ""))]),
                (p + "/drummap/output", [str(getattr(snap, "output_drum_map", ""))]),
                (p + "/capture/input_mode", [str(getattr(snap, "input_mode", "drums"))]),
                *follow_messages(snap)]
    if group == "mute":
        mutes = [int(bool(m)) for m in snap.mutes]
        return [(f"{p}/mute/{name}", [mutes[k]]) for k, name in enumerate(CLASS_NAMES)] + [
            (p + "/mutes", mutes)]
    if group == "slot":
        return [(f"{p}/slot/{s.lower()}", [int(snap.slots.get(s) is not None)]) for s in SLOTS]
    if group == "model":
        return [(p + "/model", [str(snap.model_name)]), (p + "/model/state", [str(snap.model_state)])]
    if group == "error":
        return [(p + "/error", [str(snap.last_error)])]
    if group == "capture":
        return [(p + "/capture", [str(getattr(snap, "capture", ""))])]
    if group == "ports":
        ports = dict(getattr(snap, "ports", {}) or {})
        return [(p + "/ports", [f"{k}={v}" for k, v in sorted(ports.items())])]
    if group == "pattern":
        return pattern_messages(snap.pattern, str(snap.pattern_source))
    if group == "sync_health":
        health = getattr(snap, "sync_health", None) or {"state": "free", "phase_error_ms": 0.0}
        state = str(health["state"])
        # no clock to measure against: the phase error is unknown, sent as -1 (never a made-up number)
        err = UNKNOWN_PHASE_MS if state == "lost" else float(health["phase_error_ms"])
        return [(p + "/sync/health", [state, err])]
    if group in ("slot_pattern_a", "slot_pattern_b"):
        slot = group[-1]
        groove = snap.slots.get(slot.upper())
        if groove is None:
            return [(f"{p}/slot/{slot}/pattern", [0, b"", b""])]
        return [(f"{p}/slot/{slot}/pattern", pattern_messages(groove)[0][1])]
    if group == "attributes":
        return attribute_messages(snap)
    return [(p + "/pong", [])] if group == "pong" else []


def slip_message(slip: Any) -> Message:
    """``/groovebridge/sync/slip i ticks`` from a "sync_slip" event."""
    return PREFIX + "/sync/slip", [int(slip["ticks"])]


def note_message(note: Any) -> Message:
    """``/groovebridge/note i class, i pitch, i velocity, f beat`` from a played note."""
    if isinstance(note, dict):
        values = (note["drum_class"], note["pitch"], note["velocity"], note["beat"])
    elif isinstance(note, (tuple, list)) and not hasattr(note, "drum_class"):
        values = tuple(note[:4])
    else:
        values = (note.drum_class, note.pitch, note.velocity, note.beat)
    k, pitch, velocity, beat = values
    return PREFIX + "/note", [int(k), int(pitch), int(velocity), float(beat)]
