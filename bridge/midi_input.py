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
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

POLL_SEC = 0.001
IDLE_POLL_SEC = 0.004  # after IDLE_AFTER_SEC without input: a quarter of the wake-ups
IDLE_AFTER_SEC = 1.0
DRIFT_PPM = 20.0
MAX_CREEP_SEC = 20e-6  # per event: a first event read late after a long silence barely moves it
QUEUE_SIZE = 16384  # rtmidi's queue: 4.5 s of a dense 3,600 events/s stream between two polls

InputHandler = Callable[[list[int], float], None]


class ArrivalClock:
    """Event times on ``now``'s scale from summed MIDI-system delta times (see module doc)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.reset()

    def reset(self) -> None:
        self._elapsed_sec = 0.0
        self._offset_sec: float | None = None

    def stamp(self, delta_sec: float, read_sec: float) -> float:
        """Time of an event whose delta is ``delta_sec``, read from the queue at ``read_sec``."""
        delta_sec = max(0.0, delta_sec)
        self._elapsed_sec += delta_sec
        offset = read_sec - self._elapsed_sec
        if self._offset_sec is None or offset < self._offset_sec:
            self._offset_sec = offset
        else:
            self._offset_sec = min(offset, self._offset_sec + min(MAX_CREEP_SEC, delta_sec * DRIFT_PPM * 1e-6))
        return min(read_sec, self._elapsed_sec + self._offset_sec)


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
