"""The scheduler thread: drives a ``Player`` at absolute monotonic times.

It sleeps on an event until shortly before the next due time (``Player.next_due_sec``),
then spins the last ``spin_sec`` so the wake-up jitter of the OS and the GIL hand-over
do not land on the note; any command (pattern, tempo, mute, stop) wakes it to re-plan.
Sleeps are capped (``max_sleep_sec``) so a follower clock that re-estimates its tempo, or
starts on its own, is seen promptly. Work for the player from other threads is queued
with ``call`` and runs here, between events, so the player has a single owner. Where the OS
allows it (Linux with CAP_SYS_NICE or an rtprio limit) the thread runs SCHED_FIFO, so a
busy machine (training, torch in the generation thread) does not delay its wake-ups.
``next_due_sec`` publishes the next event's time, so threads that only serve controllers (the
OSC intake) can stay off the GIL just before and while it is sent (``osc_intake.quiet_gate``).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable

from bridge.play.player import Player

log = logging.getLogger(__name__)


class SchedulerThread:
    def __init__(
        self,
        player: Player,
        spin_sec: float = 0.0015,
        max_sleep_sec: float = 0.02,
        idle_poll_sec: float = 0.005,
        realtime_priority: int = 0,
    ) -> None:
        self.player = player
        self.realtime_priority = realtime_priority
        self.realtime = False  # whether SCHED_FIFO was granted
        self.spin_sec = spin_sec
        self.max_sleep_sec = max_sleep_sec
        self.idle_poll_sec = idle_poll_sec
        self._calls: deque[Callable[[], None]] = deque()
        self._wake = threading.Event()
        self._closing = False
        self.late_sec_max = 0.0  # worst lateness of a fire() vs its due time (diagnostics)
        self.next_due_sec = math.inf  # monotonic time of the next event (inf: none planned)
        self._thread = threading.Thread(target=self._run, name="groovebridge-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the scheduler thread before its next event."""
        self._calls.append(fn)
        self._wake.set()

    def call_and_wait(self, fn: Callable[[], None], timeout_sec: float = 2.0) -> bool:
        done = threading.Event()

        def wrapped() -> None:
            try:
                fn()
            finally:
                done.set()

        self.call(wrapped)
        if not self._thread.is_alive():
            return False
        return done.wait(timeout_sec)

    def wake(self) -> None:
        self._wake.set()

    def _run_calls(self) -> None:
        while self._calls:
            fn = self._calls.popleft()
            try:
                fn()
            except Exception:
                log.exception("scheduler call failed")

    def _raise_priority(self) -> None:
        """SCHED_FIFO for this thread when allowed (Linux, CAP_SYS_NICE or rtprio limits):
        the OS then wakes it on time even when every core is busy. Silently normal otherwise."""
        if self.realtime_priority <= 0 or not hasattr(os, "sched_setscheduler"):
            return
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.realtime_priority))
            self.realtime = True
        except (OSError, ValueError) as e:
            log.info("scheduler thread stays at normal priority (%s)", e)

    def _run(self) -> None:
        self._raise_priority()
        player, wake = self.player, self._wake
        clock_now = time.monotonic
        while not self._closing:
            wake.clear()
            self._run_calls()
            now = player.clock.now_sec()
            try:
                player.fire(now)
            except Exception:
                log.exception("playback step failed")
            due = player.next_due_sec()
            self.next_due_sec = math.inf if due is None else due
            if due is None:
                wake.wait(self.idle_poll_sec)
                continue
            now = player.clock.now_sec()
            ahead = due - now
            if ahead > self.spin_sec:
                wake.wait(min(ahead - self.spin_sec, self.max_sleep_sec))
                continue  # re-plan: a command may have arrived, or the clock moved
            # Spin to the due time: clock reads, no sleep (sub-100 µs precision). The real-time
            # bound stops a clock that does not move (a FakeClock) from spinning forever.
            clock_read, give_up = player.clock.now_sec, clock_now() + 2 * self.spin_sec + 0.001
            while clock_read() < due and not wake.is_set() and clock_now() < give_up:
                pass
            late = clock_read() - due
            if late < 0:  # the clock did not reach the due time (a stalled or fake clock)
                wake.wait(0.001)
            elif late > self.late_sec_max:
                self.late_sec_max = late
        self._run_calls()

    def close(self, timeout_sec: float = 2.0) -> None:
        self._closing = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_sec)
