"""The engine's immutable state snapshot and the pure helpers its commands use.

``EngineSnapshot`` is rebuilt (``dataclasses.replace``) by the engine's control thread on
every change; readers (GUI at ~30 Hz, OSC queries, the serve status line) get the latest
one without locks. The playhead fields are filled in from the clock when read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bridge.clock.health import FREE as FREE_HEALTH
from models.drum_maps import NUM_CLASSES
from models.groove import BEATS_PER_BAR, STEPS_PER_QUARTER, Groove
from models.net.attributes import ATTRIBUTE_NAMES

MODEL_STATES = ("loading", "ready", "error")
ZERO_ATTRIBUTES: dict[str, float] = dict.fromkeys(ATTRIBUTE_NAMES, 0.0)  # no shift (copy before changing)


@dataclass(frozen=True)
class EngineSnapshot:
    playing: bool = False
    bpm: float = 120.0
    sync_source: str = "internal"
    locked: bool = True
    peers: int = 0
    bar: int = 1  # 1-based bar number of the transport
    beat: float = 1.0  # 1-based beat within the bar (1.0 .. 4.999)
    step: float = 0.0  # position in the 64-step loop (0 .. 63.999)
    position_beats: float = 0.0  # raw clock position, quarter notes since the origin
    pattern: Groove = field(default_factory=Groove.empty)  # what plays from the next bar line
    pattern_source: str = "empty"
    slots: dict[str, Groove | None] = field(default_factory=lambda: {"A": None, "B": None})
    variations: tuple[Groove, ...] = ()
    selected_variation: int = -1
    mutes: tuple[bool, ...] = (False,) * NUM_CLASSES
    temperature: float = 1.0
    num_variations: int = 4
    interpolation: float = 0.0
    latency_ms: float = 0.0
    clock_out: bool = False
    model_state: str = "loading"
    model_name: str = ""
    device: str = ""  # where the loaded model runs: "cpu" | "cuda" | "mps" ("" before the first load)
    device_preference: str = "auto"  # the device setting: auto | cpu | cuda | mps
    device_timings: dict[str, float] = field(default_factory=dict)  # auto's ms per device (sample + encode)
    last_error: str = ""
    ports: dict[str, Any] = field(default_factory=dict)
    capture: str = "idle"  # "idle" | "count-in" | "recording": read from bridge.engine.capture.Capture
    input_drum_map: str = "gm"
    output_drum_map: str = "gm"
    input_mode: str = "drums"  # capture input: "drums" (input drum map) | "rhythm" (every note a tap)
    # Musical attributes (models.net.attributes), in standard deviations -2..2: the shift of the
    # playing pattern from its source and of new samples; available = the model has directions.
    attributes: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ATTRIBUTE_NAMES, 0.0))
    attributes_available: bool = False
    # Follow mode (bridge.engine.follow): the next pattern generated from the last bars played.
    follow: bool = False
    follow_source: str = "drums"  # "drums" (encode the played drums) | "rhythm" (drumify the played taps)
    follow_every: int = 1  # bars between generations
    follow_bars: int = 4  # bars of input (repeated to the model's 4 bars)
    follow_amount: float = 0.5  # slerp from the playing pattern's encoding towards the played one
    follow_temperature: float = 1.0
    follow_updates: int = 0  # follow patterns handed to the player
    follow_late: int = 0  # follow generations not done before their bar: skipped, never played late
    # Sync health (bridge.clock.health): state free|locked|settling|lost, phase error estimate
    # (ms), source internal|midi|link, detail (one line for the user); filled in when read.
    sync_health: dict[str, Any] = field(default_factory=lambda: dict(FREE_HEALTH))


def playhead(position_beats: float, loop_steps: int) -> tuple[int, float, float]:
    """(1-based bar, 1-based beat in bar, step in the loop) of a clock position."""
    bar0 = math.floor(position_beats / BEATS_PER_BAR)
    beat_in_bar = position_beats - bar0 * BEATS_PER_BAR
    step = (position_beats * STEPS_PER_QUARTER) % max(1, loop_steps)
    return bar0 + 1, beat_in_bar + 1.0, step
