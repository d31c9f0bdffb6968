"""Test helpers for the engine: a tiny deterministic model and a wait helper."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from models.groove import Groove, blend_humanized

KICK, SNARE, HAT = 0, 1, 2


def groove_of(cells: list[tuple[int, int, int, float]], num_steps: int = 64, bpm: float = 120.0) -> Groove:
    """cells: (step, class, velocity 1-127, offset, positive = early)."""
    g = Groove.empty(num_steps, bpm)
    h, v, o = g.hits.copy(), g.velocities.copy(), g.offsets.copy()
    for step, k, vel, off in cells:
        h[step, k], v[step, k], o[step, k] = 1.0, vel / 127.0, off
    return Groove(h, v, o, bpm)


class FakeModel:
    """Deterministic stand-in for models.generate.GrooveModel: implements
    ``models.protocols.GrooveModelLike`` (checked in tests/bridge/engine/test_model_protocols.py).

    sample(i): kicks on the four downbeats with velocity 60 + i; encode (and encode_quick): z = [hit count, 0];
    decode: round(z[0]) closed hats on consecutive steps (velocity 80); humanize: same hits,
    velocity 127, offset +0.5; reconstruct: the groove itself. ``decode_delay_sec`` slows decodes.
    """

    name = "fake"
    num_steps = 64

    def __init__(self, decode_delay_sec: float = 0.0) -> None:
        self.decode_delay_sec = decode_delay_sec
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def sample(self, n: int, temperature: float = 1.0, seed: int | None = None) -> list[Groove]:
        self.calls.append("sample")
        return [groove_of([(s, KICK, 60 + i, 0.0) for s in (0, 16, 32, 48)]) for i in range(n)]

    def encode(self, grooves: list[Groove]) -> np.ndarray:
        self.calls.append("encode")
        return np.array([[g.num_hits, 0.0] for g in grooves], np.float32)

    def encode_quick(self, grooves: list[Groove]) -> np.ndarray:
        self.calls.append("encode_quick")
        return np.array([[g.num_hits, 0.0] for g in grooves], np.float32)  # as encode (no student)

    def decode(self, z: np.ndarray, temperature: float = 1.0, seed: int | None = None) -> list[Groove]:
        self.calls.append("decode")
        time.sleep(self.decode_delay_sec)
        out = []
        for row in np.atleast_2d(z):
            count = int(np.clip(round(float(row[0])), 0, 64))
            out.append(groove_of([(s, HAT, 80, 0.0) for s in range(count)]))
        return out

    def humanize(
        self, groove: Groove, temperature: float = 1.0, seed: int | None = None, amount: float | None = None
    ) -> Groove:
        self.calls.append("humanize")
        hits = groove.hits
        played = Groove(hits, hits.copy(), hits * 0.5, groove.bpm)
        return played if amount is None else blend_humanized(groove, played, amount)  # as GrooveModel does

    def reconstruct(self, groove: Groove, temperature: float = 1.0, seed: int | None = None) -> Groove:
        self.calls.append("reconstruct")
        return groove


def wait_for(pred: Callable[[], object], timeout_sec: float = 5.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout_sec
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


class Events:
    """Collects engine events (subscribe callback)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, object]] = []
        self.lock = threading.Lock()

    def __call__(self, event: str, payload: object) -> None:
        with self.lock:
            self.items.append((event, payload))

    def of(self, event: str) -> list[object]:
        with self.lock:
            return [p for e, p in self.items if e == event]
