"""MIDI clock out: the one place that decides clock bytes and the beats they belong to.

``ClockOut`` is the pure core used by both the engine's ``Player`` (clock out next to the
notes, on the scheduler thread, with the latency offset) and ``MidiClockSender`` (a clock
source of its own for tests and benchmarks). It knows the protocol, not the time: callers
turn ``next_tick_beat`` into a send time with their clock.

* Transport start at beat <= 0, or less than ``START_CATCH_UP_SEC`` after beat 0: Start
  (0xFA), then tick 0 (at beat 0, at once if that has passed).
* Start (or clock out switched on, or a jump) later in the song: Song Position Pointer
  (0xF2, in 16ths) for the next 16th, then Continue (0xFB); the first tick is that 16th,
  so a follower's position is exact.
* Ticks (0xF8) on the 24 PPQN grid, tick k at beat k / 24; Stop (0xFC) when the transport
  stops.

``clock_messages`` (pure) and ``MidiClockSender`` (a thread) send a clock's clock;
while it is stopped they keep sending ticks at its tempo, as DAWs do, so followers keep
their tempo estimate.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.clock.base import Clock

log = logging.getLogger(__name__)

PPQN = 24
TICKS_PER_SIXTEENTH = 6
CLOCK = 0xF8
START = 0xFA
CONTINUE = 0xFB
STOP = 0xFC
SONG_POSITION = 0xF2
CLOCK_STATUSES = frozenset({CLOCK, START, CONTINUE, STOP, SONG_POSITION})
START_CATCH_UP_SEC = 0.03  # a transport start seen this late still sends Start (not Continue)


def song_position(beat: float) -> list[int]:
    """Song Position Pointer message for ``beat`` (rounded down to a 16th)."""
    sixteenths = max(0, min(0x3FFF, int(math.floor(beat * 4 + 1e-9))))
    return [SONG_POSITION, sixteenths & 0x7F, sixteenths >> 7]


@dataclass
class ClockOut:
    """Clock-out protocol state: whether the transport runs and the next tick's index."""

    playing: bool = False
    next_tick: int = 0  # tick k is at beat k / 24

    @property
    def next_tick_beat(self) -> float:
        return self.next_tick / PPQN if self.playing else math.inf

    def start(self, beat: float, late_sec: float = math.inf) -> list[list[int]]:
        """The transport (re)starts at ``beat``, ``late_sec`` after beat 0's time: the messages."""
        k = math.ceil(beat * PPQN - 1e-6)
        if k <= 0 or late_sec <= START_CATCH_UP_SEC:
            msgs = [[START]]
            k = 0
        else:
            k = math.ceil(k / TICKS_PER_SIXTEENTH) * TICKS_PER_SIXTEENTH  # resume on a 16th
            msgs = [song_position(k / PPQN), [CONTINUE]]
        self.next_tick = k
        self.playing = True
        return msgs

    def relocate(self, beat: float) -> list[list[int]]:
        """The position jumped while playing: Stop, then SPP + Continue at the new place."""
        stop = self.stop()
        return stop + self.start(beat)

    def tick(self) -> list[int]:
        """The due tick's message; moves to the next one."""
        self.next_tick += 1
        return [CLOCK]

    def stop(self) -> list[list[int]]:
        if not self.playing:
            return []
        self.playing = False
        return [[STOP]]


@dataclass
class SenderState:
    """Where ``clock_messages`` is: the protocol state and the free-running tick time."""

    out: ClockOut = field(default_factory=ClockOut)
    free_tick_sec: float | None = None  # time of the next tick while stopped

    @property
    def playing(self) -> bool:
        return self.out.playing


def clock_messages(clock: Clock, state: SenderState, until_sec: float) -> list[tuple[float, list[int]]]:
    """The clock messages due up to ``until_sec`` (time, bytes), advancing ``state``. Pure."""
    out: list[tuple[float, list[int]]] = []
    now = clock.now_sec()
    playing = clock.is_playing
    co = state.out
    if playing and not co.playing:
        beat = clock.beat_at(now)
        out += [(now, m) for m in co.start(beat, now - clock.time_at_beat(0.0))]
    elif co.playing and not playing:
        out += [(now, m) for m in co.stop()]
        state.free_tick_sec = None
    if playing:
        while (t := clock.time_at_beat(co.next_tick_beat)) <= until_sec:
            out.append((t, co.tick()))
    else:
        spt = 60.0 / (clock.bpm * PPQN)
        if state.free_tick_sec is None or state.free_tick_sec < now - spt:
            state.free_tick_sec = now
        while state.free_tick_sec <= until_sec:
            out.append((state.free_tick_sec, [CLOCK]))
            state.free_tick_sec += spt
    return out


class MidiClockSender:
    """Sends 24 PPQN clock and transport for ``clock`` through ``send(bytes)`` on a thread."""

    def __init__(self, clock: Clock, send: Callable[[list[int]], None],
                 lookahead_sec: float = 0.0005) -> None:
        self.clock = clock
        self._send = send
        self.lookahead_sec = lookahead_sec
        self._state = SenderState()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop_event.clear()
            self._thread = threading.Thread(target=self._run, name="midi-clock-out", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop_event.is_set():
            now = self.clock.now_sec()
            for t, msg in clock_messages(self.clock, self._state, now + self.lookahead_sec):
                delay = t - self.clock.now_sec()
                if delay > 0:
                    time.sleep(delay)
                try:
                    self._send(msg)
                except Exception as e:  # a vanished port must not kill the thread
                    log.warning("MIDI clock out: %s", e)
            # sleep until shortly before the next tick (at most 5 ms, to see transport changes)
            nxt = self._next_due()
            time.sleep(max(0.0002, min(0.005, nxt - self.clock.now_sec() - 0.001)))
        for msg in self._state.out.stop():
            self._send(msg)

    def _next_due(self) -> float:
        s = self._state
        if s.out.playing:
            return self.clock.time_at_beat(s.out.next_tick_beat)
        return s.free_tick_sec if s.free_tick_sec is not None else self.clock.now_sec()

    def close(self) -> None:
        if self._thread is not None:
            self._stop_event.set()
            self._thread.join(timeout=2.0)
            self._thread = None
