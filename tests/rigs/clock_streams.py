"""Time-stamped MIDI clock streams with faults, for the follower's tests and benchmark (pure).

``clock_stream`` builds what a follower receives from a master: Start, then 24 PPQN ticks
at a tempo (constant, a ramp, or a jump), with faults applied on the way:

* ``duplicates``: tick indices delivered twice (the copy ``dup_gap_ms`` after the original);
* ``drops``: tick indices lost;
* ``jitter_ms``: Gaussian arrival jitter (standard deviation, clipped at 3 sigma), from tick
  ``jitter_from`` on (jitter that begins mid-run: its noise level is not yet known);
* ``late_ms``: {tick: ms} extra delays (a busy moment: asynchronous JACK on a loaded machine
  delivers a few ticks in a row late, then catches up);
* ``period_frames`` (48 kHz): period-bunched delivery as JACK does it; ``stamped`` keeps the
  send times (ticks come in bursts with good time stamps), otherwise every tick is stamped
  at the end of its period plus a 0-0.3 ms wake-up (bursts with no usable time stamps).

``ClockStream.beat_time(beat)`` is the true time of a beat (the master's tick 24 * beat).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from bridge.clock.midi_out import CLOCK, PPQN, START

T0 = 100.0


@dataclass
class ClockStream:
    sent: np.ndarray  # true send time of tick k (seconds)
    events: list[tuple[float, list[int]]] = field(default_factory=list)  # (arrival time, message)
    tick_of_event: list[int] = field(default_factory=list)  # master's tick index (-1: not a tick)

    def beat_time(self, beat: float) -> float:
        """True time of ``beat`` (interpolated between ticks; beat 0 = tick 0)."""
        k = beat * PPQN
        i = min(max(0, math.floor(k)), self.sent.size - 2)
        return float(self.sent[i] + (k - i) * (self.sent[i + 1] - self.sent[i]))

    def bpm_at_tick(self, k: int) -> float:
        k = min(max(0, k), self.sent.size - 2)
        return 60.0 / (PPQN * float(self.sent[k + 1] - self.sent[k]))


def quantised_arrivals(send_times_sec: np.ndarray, period_sec: float, cycle_offset_sec: float = 0.0,
                       extra_delay_sec: np.ndarray | float = 0.0) -> np.ndarray:
    """What a period-based driver (JACK) does to MIDI sent at ``send_times_sec``: each event
    is delivered at the end of the period it was sent in (cycles start at ``cycle_offset_sec``
    + k * period), plus ``extra_delay_sec`` (the receiver's wake-up). For tests and benchmarks."""
    sent = np.asarray(send_times_sec, float)
    if period_sec <= 0:
        return sent + extra_delay_sec
    cycles = np.floor((sent - cycle_offset_sec) / period_sec) + 1.0
    return cycle_offset_sec + cycles * period_sec + extra_delay_sec


def send_times(n: int, bpm_at: Callable[[int], float], t0: float = T0) -> np.ndarray:
    """Times of ticks 0..n-1 where the interval after tick k is at ``bpm_at(k)``."""
    out = np.empty(n)
    t = t0
    for k in range(n):
        out[k] = t
        t += 60.0 / (bpm_at(k) * PPQN)
    return out


def ramp(bpm1: float, bpm2: float, start_tick: int, ticks: int) -> Callable[[int], float]:
    """``bpm1`` until ``start_tick``, then linear to ``bpm2`` over ``ticks``, then ``bpm2``."""
    return lambda k: bpm1 + (bpm2 - bpm1) * min(1.0, max(0.0, (k - start_tick) / max(1, ticks)))


def clock_stream(n: int, bpm_at: Callable[[int], float] | float, *, duplicates: Iterable[int] = (),
                 drops: Iterable[int] = (), jitter_ms: float = 0.0, period_frames: int = 0,
                 stamped: bool = False, dup_gap_ms: float = 0.1, seed: int = 0,
                 start: bool = True, jitter_from: int = 0, late_ms: Mapping[int, float] | None = None) -> ClockStream:
    fn = (lambda _k: float(bpm_at)) if isinstance(bpm_at, (int, float)) else bpm_at
    rng = np.random.default_rng(seed)
    sent = send_times(n, fn)
    arrive = sent.copy()
    if jitter_ms > 0:
        jit = np.clip(rng.normal(0.0, jitter_ms / 1000.0, n), -3 * jitter_ms / 1000, 3 * jitter_ms / 1000)
        arrive += np.where(np.arange(n) >= jitter_from, jit, 0.0)
    for k, ms in (late_ms or {}).items():
        arrive[k] += ms / 1000.0
    if period_frames > 0 and not stamped:
        q = period_frames / 48000.0
        arrive = quantised_arrivals(arrive, q, T0 - rng.uniform(0, q), rng.uniform(0, 0.0003, n))
    dup, drop = set(duplicates), set(drops)
    stream = ClockStream(sent)
    if start:
        stream.events.append((T0 - 0.01, [START]))
        stream.tick_of_event.append(-1)
    for k in range(n):
        if k in drop:
            continue
        stream.events.append((float(arrive[k]), [CLOCK]))
        stream.tick_of_event.append(k)
        if k in dup:
            stream.events.append((float(arrive[k]) + dup_gap_ms / 1000.0, [CLOCK]))
            stream.tick_of_event.append(k)
    return stream  # in send order: MIDI never reorders, whatever the time stamps say
