"""The clock protocol every sync source implements, the internal clock, and a fake for tests.

Times are ``time.monotonic()`` seconds; beats are quarter notes since the transport origin
(beat 0 = bar 1, beat 1). A clock maps between the two with ``beat_at`` / ``time_at_beat``;
the scheduler re-reads that mapping before every event, so a follower that re-estimates
tempo or phase moves the events that have not been sent yet.

Stopped clocks: ``beat_at`` returns the position where the transport stopped (it does not
move) and ``time_at_beat`` extrapolates from now at the current tempo (used for count-ins).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bridge.commands import check_bpm


@runtime_checkable
class Clock(Protocol):
    """What the engine needs from a sync source (internal, MIDI clock follower, Link)."""

    name: str  # "internal" | "midi" | "link" | "fake"

    @property
    def bpm(self) -> float: ...

    @property
    def is_playing(self) -> bool: ...

    @property
    def locked(self) -> bool: ...

    @property
    def peers(self) -> int: ...

    def now_sec(self) -> float: ...

    def beat_at(self, t_sec: float) -> float: ...

    def time_at_beat(self, beat: float) -> float: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def set_tempo(self, bpm: float) -> None: ...


@dataclass(frozen=True)
class _Anchor:
    """beat(t) = beat + (t - t_sec) * bpm / 60 while playing; frozen at ``beat`` when stopped."""

    t_sec: float
    beat: float
    bpm: float
    playing: bool


class _AnchoredClock:
    """A clock defined by one immutable anchor, swapped atomically: readers never lock."""

    name = "anchored"

    def __init__(self, bpm: float = 120.0) -> None:
        self._anchor = _Anchor(self.now_sec(), 0.0, check_bpm(bpm), False)
        self._lock = threading.Lock()  # writers only

    def now_sec(self) -> float:
        return time.monotonic()

    @property
    def bpm(self) -> float:
        return self._anchor.bpm

    @property
    def is_playing(self) -> bool:
        return self._anchor.playing

    @property
    def locked(self) -> bool:
        return True

    @property
    def peers(self) -> int:
        return 0

    def beat_at(self, t_sec: float) -> float:
        a = self._anchor
        if not a.playing:
            return a.beat
        return a.beat + (t_sec - a.t_sec) * a.bpm / 60.0

    def time_at_beat(self, beat: float) -> float:
        a = self._anchor
        if not a.playing:
            return self.now_sec() + (beat - a.beat) * 60.0 / a.bpm
        return a.t_sec + (beat - a.beat) * 60.0 / a.bpm

    def set_tempo(self, bpm: float) -> None:
        """Change tempo keeping the beat phase continuous at this instant."""
        value = check_bpm(bpm)
        with self._lock:
            now = self.now_sec()
            a = self._anchor
            self._anchor = _Anchor(now, self.beat_at(now), value, a.playing)

    def start(self, at_sec: float | None = None, beat: float = 0.0) -> None:
        """Start the transport: ``beat`` happens at ``at_sec`` (default now)."""
        with self._lock:
            t = self.now_sec() if at_sec is None else at_sec
            self._anchor = _Anchor(t, beat, self._anchor.bpm, True)

    def stop(self) -> None:
        with self._lock:
            now = self.now_sec()
            self._anchor = _Anchor(now, self.beat_at(now), self._anchor.bpm, False)

    def locate(self, beat: float) -> None:
        """Move a stopped transport to ``beat`` (next start resumes there if asked)."""
        with self._lock:
            a = self._anchor
            self._anchor = _Anchor(self.now_sec(), beat, a.bpm, a.playing)

    def close(self) -> None:
        self.stop()


class InternalClock(_AnchoredClock):
    """GrooveBridge is the master: tempo set by the user, transport by play/stop."""

    name = "internal"


class FakeClock(_AnchoredClock):
    """A clock whose time only moves when told: ``advance(dt)`` / ``sleep_until(t)``.

    With the scheduler's ``run_until`` it makes playback tests exact and instant.
    """

    name = "fake"

    def __init__(self, bpm: float = 120.0, t0_sec: float = 1000.0) -> None:
        self._now = t0_sec
        super().__init__(bpm)

    def now_sec(self) -> float:
        return self._now

    def advance(self, dt_sec: float) -> None:
        self._now += dt_sec

    def sleep_until(self, t_sec: float) -> None:
        self._now = max(self._now, t_sec)
