"""Onsets from a signal's energy, for the audio tests (offline render, preview over JACK).

``onset_near(env, t)``: where the energy of the hit expected near ``t`` rises through 10 % of
its peak above what rang just before (the tail of earlier hits), or None when that hit is
masked (its peak less than 10x the energy before it). Every drum sample has its own attack
(FluidR3's snare starts ~2 ms into its sample, its kick rises over ~5 ms), so a test compares
with ``attack_sec``: the same measure on a lone hit of the same pitch and velocity rendered on
a known frame. ``isolated(times)``: the notes with no other note 30 ms before or 25 ms after
(only there is a hit's own onset measurable)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SAMPLE_RATE = 48000
WINDOW = 12  # 0.25 ms
PEAK_AFTER_SEC = 0.025


def envelope(audio: np.ndarray) -> np.ndarray:
    mono = audio.astype(np.float64).sum(axis=1) if audio.ndim == 2 else audio.astype(np.float64)
    return np.convolve(mono * mono, np.ones(WINDOW) / WINDOW, mode="same")


def onset_near(env: np.ndarray, t_sec: float, before_sec: float = 0.010, sr: int = SAMPLE_RATE) -> float | None:
    a = int(round((t_sec - before_sec) * sr))
    b = int(round((t_sec + PEAK_AFTER_SEC) * sr))
    if a < 0 or b > len(env):
        return None
    background = float(env[max(0, a - int(0.020 * sr)):a].max(initial=0.0))
    peak = float(env[a:b].max(initial=0.0))
    if peak <= max(10.0 * background, 1e-12):
        return None
    threshold = background + 0.1 * (peak - background)
    return (a + int(np.argmax(env[a:b] > threshold))) / sr


def isolated(times: list[float], before_sec: float = 0.030, after_sec: float = PEAK_AFTER_SEC) -> list[int]:
    """Indices of the (sorted) times with no other time within ``before_sec`` before or ``after_sec`` after."""
    keep = []
    for i, t in enumerate(times):
        if (i == 0 or t - times[i - 1] >= before_sec) and (i == len(times) - 1 or times[i + 1] - t >= after_sec):
            keep.append(i)
    return keep


def attack_table(render_one: Callable[[int, int, int, int], np.ndarray]) -> Callable[[int, int], float]:
    """``attack(pitch, velocity)``: the onset measure of a lone hit minus its start (seconds).
    ``render_one(frames, at_frame, pitch, velocity)`` renders it."""
    cache: dict[tuple[int, int], float] = {}

    def attack(pitch: int, velocity: int) -> float:
        key = (pitch, velocity)
        if key not in cache:
            at = 4800
            onset = onset_near(envelope(render_one(at + 9600, at, pitch, velocity)), at / SAMPLE_RATE)
            cache[key] = 0.0 if onset is None else onset - at / SAMPLE_RATE
        return cache[key]

    return attack
