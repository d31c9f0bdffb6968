"""Our own notes coming back through a MIDI loop, told apart from notes played with them.

A patch loop (GrooveBridge Out -> a DAW track with MIDI thru, or a thru client -> GrooveBridge
In) brings back every note-on we send, with the same pitch and velocity, within a few ms; those
must not reach the capture or follow mode. A drummer playing along with GrooveBridge also hits
the hats and kicks we play, on the same 16ths, and now and then with the very velocity we sent:
issue 22's stage scenario (benchmarks/bench_sync_scenario.py) lost a played hit this way in 2 of
its first runs (1 of 159 each: the drummer's hat 12.2 ms after ours, same pitch and velocity,
dropped as an echo while nothing looped), and a later run had 2 such notes (1.6 and 6.8 ms after
ours) that only this filter kept.

So a match alone is not an echo. ``EchoFilter`` keeps each note-on we sent for
``window_sec`` and marks the first matching input note-on (same pitch and velocity, arriving
from ``EARLY_SLACK_SEC`` before to ``window_sec`` after the send) as its return. When a sent
note-on's window has passed, whether it came back is one verdict; the last ``EVIDENCE``
verdicts say whether a loop is there: most of our notes came back (``is_loop``). A match is
dropped as an echo when a loop is there, and also while fewer than ``MIN_EVIDENCE`` verdicts
exist (right after start: as before, better to drop a chance coincidence than to feed a real
loop's first notes back). Without a loop, at most a few of our notes meet a played note by
chance, so played notes are kept. A loop that appears later is recognised after about half
of ``EVIDENCE`` of our notes came back (those few are kept); one that goes away stops
counting as one after as many.

Thread-safe: ``sent`` runs on the scheduler thread, ``is_echo`` on the MIDI input thread.
Times are ``time.monotonic()`` seconds (input stamps are on that scale).
"""

from __future__ import annotations

import threading
from collections import deque

ECHO_WINDOW_SEC = 0.03
EARLY_SLACK_SEC = 0.001  # an input stamped this much before our send may still be its return
EVIDENCE = 16  # verdicts kept (sent note-ons whose window has passed)
MIN_EVIDENCE = 4  # fewer verdicts than this: undecided (matches are dropped)


class EchoFilter:
    def __init__(self, window_sec: float = ECHO_WINDOW_SEC) -> None:
        self.window_sec = window_sec
        self._pending: deque[list[float | int | bool]] = deque()  # [t_sent, pitch, velocity, returned]
        self._verdicts: deque[bool] = deque(maxlen=EVIDENCE)
        self._lock = threading.Lock()
        self.dropped = 0  # input note-ons dropped as echoes
        self.kept_matches = 0  # input note-ons that matched a sent note but were kept (no loop)

    def sent(self, pitch: int, velocity: int, t_sec: float) -> None:
        """We sent a note-on at ``t_sec``."""
        with self._lock:
            self._expire(t_sec)
            self._pending.append([t_sec, pitch, velocity, False])

    def is_echo(self, pitch: int, velocity: int, t_sec: float) -> bool:
        """An input note-on arrived at ``t_sec``: is it one of ours coming back?"""
        with self._lock:
            self._expire(t_sec)
            match = next((p for p in self._pending if not p[3] and p[1] == pitch and p[2] == velocity
                          and -EARLY_SLACK_SEC <= t_sec - float(p[0]) < self.window_sec), None)
            if match is None:
                return False
            match[3] = True
            echo = self._loop_or_undecided()
            if echo:
                self.dropped += 1
            else:
                self.kept_matches += 1
            return echo

    @property
    def is_loop(self) -> bool | None:
        """True: most of our recent notes came back; False: they did not; None: too few yet."""
        with self._lock:
            return self._loop()

    def _loop(self) -> bool | None:
        if len(self._verdicts) < MIN_EVIDENCE:
            return None
        return 2 * sum(self._verdicts) >= len(self._verdicts)

    def _loop_or_undecided(self) -> bool:
        return self._loop() is not False

    def _expire(self, now_sec: float) -> None:
        """Sent note-ons whose window has passed by ``now_sec`` become verdicts. Only moves
        forward: a stamp older than the newest send (input stamps lag) expires nothing new."""
        pending = self._pending
        while pending and now_sec - float(pending[0][0]) >= self.window_sec:
            self._verdicts.append(bool(pending.popleft()[3]))
