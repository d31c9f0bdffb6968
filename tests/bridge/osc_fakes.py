"""A recording fake Engine and helpers shared by the OSC tests (test_osc*.py)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from bridge.engine.snapshot import EngineSnapshot
from bridge.osc import OscControl
from bridge.osc.table import PREFIX
from models.groove import Groove

P = PREFIX
ENGINE_METHODS = {
    "start", "close", "play", "stop", "set_tempo", "set_sync_source", "set_latency_ms",
    "set_clock_out", "sample", "select_variation", "set_temperature", "set_num_variations",
    "capture", "load_slot", "load_slot_file", "swap_slots", "play_slot", "set_interpolation",
    "humanize", "reconstruct", "set_mute", "set_pattern", "save_pattern", "save_variations",
    "set_model", "set_input_port", "set_output_port", "set_drum_maps", "set_attribute",
    "set_attributes", "reset_attributes", "drumify", "set_input_mode", "set_follow", "set_follow_source",
    "set_follow_every", "set_follow_bars", "set_follow_amount", "set_follow_temperature",
}


class FakeEngine:
    """Records every command; serves a settable snapshot; subscribers get `emit`."""

    def __init__(self, snap: EngineSnapshot | None = None) -> None:
        self.snap = snap or EngineSnapshot()
        self.calls: list[tuple[str, tuple, dict]] = []
        self.subscribers: list[Any] = []
        self.called = threading.Event()

    def __getattr__(self, name: str):
        if name not in ENGINE_METHODS:
            raise AttributeError(name)

        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))
            self.called.set()

        return record

    def snapshot(self) -> EngineSnapshot:
        return self.snap

    def subscribe(self, callback):
        self.subscribers.append(callback)
        return lambda: self.subscribers.remove(callback)

    def emit(self, event: str, payload: Any = None) -> None:
        for cb in list(self.subscribers):
            cb(event, payload)


def groove_with(hits: list[tuple[int, int, float, float]], steps: int = 64) -> Groove:
    g = np.zeros((3, steps, 9), np.float32)
    for step, k, vel, off in hits:
        g[:, step, k] = (1.0, vel, off)
    return Groove(g[0], g[1], g[2], 120.0)


def osc_test_engine() -> FakeEngine:
    """A recording engine with four variations (variation 1 selected) at 97 BPM."""
    four = tuple(Groove.empty() for _ in range(4))
    return FakeEngine(EngineSnapshot(variations=four, selected_variation=1, bpm=97.0))


def run(engine: FakeEngine, address: str, *args: Any) -> list[tuple[str, tuple, dict]]:
    engine.calls.clear()
    OscControl(engine).handle(P + address, args, ("127.0.0.1", 5555))
    return engine.calls
