"""MIDI input read by polling: a thread drains an rtmidi ``MidiIn`` queue and hands each event on.

Why not rtmidi's callback: its JACK backend calls the callback from JACK's process thread,
between reading one event of a period and the next. A Python callback first waits for the
GIL; when that wait is long (generation, a busy machine), JACK has started the next cycle
and the sender has overwritten the port buffer under us, so the following events of that
period are read with another event's bytes (measured: ``benchmarks/bench_midi_input.py``,
docs/reliability.md). Without a callback, rtmidi's process thread copies every event of the
period into its queue in C at once; ``PolledInput``'s thread reads those copies.

``PolledInput(handle, on_event)`` drains ``handle.get_message()`` every ``poll_sec`` (1 ms;
``IDLE_POLL_SEC`` once nothing came for ``IDLE_AFTER_SEC``; the thread sleeps, GIL released,
in between), all queued events per wake-up, and calls ``on_event(message, t_sec)`` on its
own thread, in arrival order. Event times do not depend on when we poll (below), only the
hand-over does. ``close()`` stops it.

Times (``ArrivalClock``): rtmidi's delta times are taken by the MIDI system's thread (JACK:
``jack_get_time`` when its process thread copies the event), so their sum is exact; our poll
reads the clock late by up to a poll interval. The event time is the summed deltas plus the
smallest offset (poll time - summed deltas) seen so far: the least-delayed poll. The offset
may creep up (``DRIFT_PPM`` of the time between events, at most ``MAX_CREEP_SEC`` per event)
to follow a drift between the two clocks (none on Linux JACK: both are CLOCK_MONOTONIC).
Early stamps can only use the anchor known then: the first event after a silence is read up to
``IDLE_POLL_SEC`` late. ``ArrivalClock.refine(t)`` re-stamps an earlier time with the best
anchor known now (the capture does this when it builds its groove, so the first hit of a take
is not late).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from typing import Any

POLL_SEC = 0.001
IDLE_POLL_SEC = 0.004  # after IDLE_AFTER_SEC without input: a quarter of the wake-ups
IDLE_AFTER_SEC = 1.0
DRIFT_PPM = 20.0
MAX_CREEP_SEC = 20e-6  # per event: a first event read late after a long silence barely moves it
REFINE_STEP_SEC = 5e-6  # anchor changes smaller than this are not logged for refine()
REFINE_LOG = 4096  # anchor changes remembered for refine() (older stamps are left as they are)
QUEUE_SIZE = 16384  # rtmidi's queue: 4.5 s of a dense 3,600 events/s stream between two polls

InputHandler = Callable[[list[int], float], None]


class ArrivalClock:
    """Event times on ``now``'s scale from summed MIDI-system delta times (see module doc)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self._lock = threading.Lock()  # stamp() on the reader thread, refine() on another
        self.reset()

    def reset(self) -> None:
        self._elapsed_sec = 0.0
        self._offset_sec: float | None = None
        with self._lock:
            self._log_t: list[float] = []  # first stamp made with each logged anchor (ascending)
            self._log_offset: list[float] = []

    def stamp(self, delta_sec: float, read_sec: float) -> float:
        """Time of an event whose delta is ``delta_sec``, read from the queue at ``read_sec``."""
        delta_sec = max(0.0, delta_sec)
        self._elapsed_sec += delta_sec
        offset = read_sec - self._elapsed_sec
        if self._offset_sec is None or offset < self._offset_sec:
            self._offset_sec = offset
        else:
            self._offset_sec = min(offset, self._offset_sec + min(MAX_CREEP_SEC, delta_sec * DRIFT_PPM * 1e-6))
        t_sec = min(read_sec, self._elapsed_sec + self._offset_sec)
        if not self._log_offset or abs(self._offset_sec - self._log_offset[-1]) > REFINE_STEP_SEC:
            with self._lock:
                if len(self._log_t) >= REFINE_LOG:
                    del self._log_t[: REFINE_LOG // 2], self._log_offset[: REFINE_LOG // 2]
                self._log_t.append(t_sec)
                self._log_offset.append(self._offset_sec)
        return t_sec

    def refine(self, t_sec: float) -> float:
        """``t_sec``, an earlier ``stamp()``, moved by how much the anchor has changed since (never
        later than it was: the read capped it); unchanged if older than the log."""
        with self._lock:
            i = bisect.bisect_right(self._log_t, t_sec) - 1
            now_offset = self._offset_sec
            if i < 0 or now_offset is None:
                return t_sec
            return min(t_sec, t_sec - self._log_offset[i] + now_offset)


class PolledInput:
    """A thread draining ``handle`` (an opened ``rtmidi.MidiIn`` without callback)."""

    def __init__(self, handle: Any, on_event: InputHandler, poll_sec: float = POLL_SEC,
                 name: str = "midi-input", now: Callable[[], float] = time.monotonic) -> None:
        self.handle = handle
        self.on_event = on_event
        self.poll_sec = poll_sec
        self.clock = ArrivalClock(now)
        self.events = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        get, now, stamp, stopped = self.handle.get_message, self.clock.now, self.clock.stamp, self._stop.is_set
        sleep, poll_sec, monotonic = time.sleep, self.poll_sec, time.monotonic
        last_event = monotonic()
        while not stopped():
            item = get()
            if item is not None:
                last_event = monotonic()
            while item is not None:  # batch: everything queued since the last wake-up
                t_sec = stamp(item[1], now())
                if len(item) > 2:  # bridge.midi.jack_frames: the event's place in its period
                    t_sec += item[2]
                self.events += 1
                try:
                    self.on_event(item[0], t_sec)
                except Exception:  # a consumer's bug must not stop MIDI input
                    self.errors += 1
                item = get()
            sleep(poll_sec if monotonic() - last_event < IDLE_AFTER_SEC else max(poll_sec, IDLE_POLL_SEC))

    def close(self, timeout_sec: float = 1.0) -> None:
        """Stop the thread (before the handle is closed: ``get_message`` on a closed port is
        undefined); idempotent."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_sec)


def new_midi_in(rtmidi: Any, api: int, client_name: str) -> Any:
    """An ``rtmidi.MidiIn`` with a queue large enough for polling (clock and notes kept,
    sysex and active sensing ignored)."""
    handle = rtmidi.MidiIn(api, name=client_name, queue_size_limit=QUEUE_SIZE)
    handle.ignore_types(sysex=True, timing=False, active_sense=True)
    return handle
