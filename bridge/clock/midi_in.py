"""MIDI clock follower: 24 PPQN in -> tempo and beat position (the clock protocol).

``MidiClockFollower`` implements the clock protocol of ``bridge.clock.base``. Its core is pure: feed
it ``(timestamp_sec, message_bytes)`` with ``feed``; an rtmidi input (``open_clock_input``) or
the engine's own MIDI input calls ``feed`` from its reader thread (``bridge.midi.input``:
polled, times from the MIDI system's delta times).

Estimation (``bridge.clock.fit.TickLine``): every 0xF8 tick gets a running index ``n``; a
least-squares line ``t = a + p * n`` is fitted over the last ``window_ticks`` ticks (p =
seconds per tick, bpm = 60 / (24 p)). Arrival noise is treated as bounded (JACK and USB
drivers deliver MIDI once per period: ticks land on period boundaries), so coarse periods
widen the noise band instead of reading as tempo changes; only a sustained, growing
deviation beyond the band is a tempo change, refitted from its change point with the
phase kept. The delivery period (e.g. the JACK period) is detected from the arrival times;
``delivery_period_ms`` can give it up front. Ticks lost on the way move the count on; a
silence shorter than ``MAX_DROPOUT_SEC`` keeps the fitted line. ``locked`` is true once
``lock_ticks`` ticks fit (and 32 arrived) and the predicted time of the next beat has a
standard error under ``lock_phase_ms``, until the ticks stop for ``timeout_sec`` (or six
tick periods, whichever is longer).

Transport: Start (0xFA) puts beat 0 on the next tick, Continue (0xFB) resumes the next tick at
the stopped position or at the last Song Position Pointer (0xF2, in 16ths = 6 ticks), Stop
(0xFC) freezes the position at the tick that would have come next. Ticks keep driving the
tempo estimate while stopped (DAWs keep sending clock).

Clock out (``MidiClockSender``, ``clock_messages``, ``song_position``) lives in
``bridge.clock.midi_out``; the names are re-exported here.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bridge.clock.fit import DETECT_TICKS, TickLine
from bridge.clock.midi_out import (  # noqa: F401  (re-exported: the clock-out half of MIDI clock)
    CLOCK,
    CLOCK_STATUSES,
    CONTINUE,
    PPQN,
    SONG_POSITION,
    START,
    STOP,
    TICKS_PER_SIXTEENTH,
    ClockOut,
    MidiClockSender,
    SenderState,
    clock_messages,
    song_position,
)
from bridge.commands import check_bpm

MAX_DROPOUT_SEC = 2.0  # a longer silence restarts the fit (the master stopped its clock)


@dataclass(frozen=True)
class _Fit:
    """t(n) = t_ref + sec_per_tick * (n - n_ref); beat(n) = beat_origin + (n - n_origin) / 24."""

    t_ref: float
    n_ref: float
    sec_per_tick: float
    n_origin: float
    beat_origin: float
    playing: bool
    stopped_beat: float
    last_tick_sec: float


class MidiClockFollower:
    """Follows an external MIDI clock; times are ``time.monotonic()`` seconds."""

    name = "midi"

    def __init__(
        self,
        default_bpm: float = 120.0,
        window_ticks: int = 192,
        lock_ticks: int = 24,
        lock_phase_ms: float = 2.0,
        outlier_ms: float = 1.0,
        timeout_sec: float = 0.3,
        delivery_period_ms: float = 0.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._now = now
        self.lock_ticks = max(2, int(lock_ticks))
        self.lock_phase_sec = lock_phase_ms / 1000.0
        self.timeout_sec = timeout_sec
        self._lock = threading.Lock()
        spt = 60.0 / (check_bpm(default_bpm) * PPQN)
        self._line = TickLine(spt, window_ticks=window_ticks, delivery_period_sec=delivery_period_ms / 1000.0,
                              outlier_floor_sec=outlier_ms / 1000.0)
        self._ever_locked = False
        self._spp_beat: float | None = None
        self.ticks_received = 0
        self.transport_starts = 0  # Start and Continue messages (the engine resumes on each)
        self.on_change: Callable[[], None] | None = None  # called after a transport message or a slip
        self.input_port = None  # set by open_clock_input; closed by close()
        self.input_reader = None  # its PolledInput, stopped by close()
        self._fit = _Fit(now(), 0.0, spt, 0.0, 0.0, False, 0.0, -math.inf)

    # ---- feeding ------------------------------------------------------------------------
    def feed(self, t_sec: float, message: Sequence[int]) -> None:
        """Consume one MIDI message received at ``t_sec``; non-clock messages are ignored."""
        if not message:
            return
        status = message[0]
        if status not in CLOCK_STATUSES:
            return
        with self._lock:
            slips = len(self._line.slip_events)
            self._message(status, t_sec, message)
            changed = status != CLOCK or len(self._line.slip_events) != slips
        if changed and self.on_change is not None:
            self.on_change()

    def _message(self, status: int, t_sec: float, message: Sequence[int]) -> None:
        if status == CLOCK:
            self._tick(t_sec)
        elif status == START:
            self.transport_starts += 1
            self._transport(playing=True, beat=0.0)
        elif status == CONTINUE:
            self.transport_starts += 1
            f = self._fit
            beat = self._spp_beat if self._spp_beat is not None else f.stopped_beat
            self._transport(playing=True, beat=beat)
        elif status == STOP:
            f = self._fit
            self._replace(playing=False, stopped_beat=self._next_tick_beat(f))
        elif status == SONG_POSITION and len(message) >= 3:
            sixteenths = (message[1] & 0x7F) | ((message[2] & 0x7F) << 7)
            self._spp_beat = sixteenths / 4.0
            if self._fit.playing:  # a jump while playing (not usual, but honour it)
                self._transport(playing=True, beat=self._spp_beat)
            else:
                self._replace(stopped_beat=self._spp_beat)

    def _next_tick_beat(self, f: _Fit) -> float:
        if not f.playing:
            return f.stopped_beat
        return f.beat_origin + (self._line.n + 1 - f.n_origin) / PPQN

    def _transport(self, playing: bool, beat: float) -> None:
        self._spp_beat = None
        self._replace(playing=playing, n_origin=float(self._line.n + 1), beat_origin=beat,
                      stopped_beat=beat)

    def _replace(self, **changes: float | bool) -> None:
        f = self._fit
        values = {k: getattr(f, k) for k in f.__dataclass_fields__}
        values.update(changes)
        self._fit = _Fit(**values)  # type: ignore[arg-type]

    def _tick(self, t_sec: float) -> None:
        f, line = self._fit, self._line
        self.ticks_received += 1
        gap = t_sec - f.last_tick_sec
        if gap > max(self.timeout_sec, 6 * f.sec_per_tick) and not (self._ever_locked and gap < MAX_DROPOUT_SEC):
            line.restart()  # the clock (re)started after a long silence: fit afresh
            self._ever_locked = False
        if line.add(t_sec) is None:  # a duplicate: not a tick of the master's
            self._fit = dataclasses.replace(f, last_tick_sec=t_sec)
            return
        if (line.fitted >= self.lock_ticks and line.phase_se_sec <= self.lock_phase_sec
                and self.ticks_received >= DETECT_TICKS):  # the delivery period had a look first
            self._ever_locked = True
        fit = line.line
        self._fit = _Fit(fit.t_ref, fit.n_ref, fit.sec_per_tick, f.n_origin, f.beat_origin, f.playing,
                         f.stopped_beat, t_sec)

    # ---- diagnostics ----------------------------------------------------------------------
    @property
    def tempo_changes(self) -> int:
        """Sustained deviations taken as tempo changes (each refits from its change point)."""
        return self._line.tempo_changes

    @property
    def lost_ticks(self) -> int:
        return self._line.lost_ticks

    @property
    def has_locked(self) -> bool:
        """Locked once since the clock (re)started: tempo and phase have an estimate."""
        return self._ever_locked

    @property
    def duplicates(self) -> int:
        """Ticks recognised as duplicates (ignored, or renumbered when seen late)."""
        return self._line.duplicates

    def pop_slips(self) -> list[tuple[int, bool]]:
        """Slips found since the last call: (ticks the count was moved by, corrected)."""
        with self._lock:
            events, self._line.slip_events = self._line.slip_events, []
        return events

    @property
    def phase_error_ms(self) -> float:
        """The phase error estimate: the fit's standard error for the next beat, or, while the
        newest ticks sit off the line beyond the noise band (a slip being noticed), their
        median offset."""
        line = self._line
        off = abs(line.recent_offset_sec())
        suspect = off if off > max(line.band_sec, self.lock_phase_sec) else 0.0
        return 1000.0 * max(min(line.phase_se_sec, 1.0), suspect)

    def _fresh(self) -> bool:
        f = self._fit
        return self._now() - f.last_tick_sec <= max(self.timeout_sec, 6 * f.sec_per_tick)

    def health(self) -> tuple[str, float, str]:
        """(state, phase error ms, detail): "locked" when the phase error estimate is within
        ``lock_phase_ms`` (and the ticks are fresh); "settling" while locking or correcting;
        "lost" when no clock arrives."""
        err = self.phase_error_ms
        if not self._fresh():
            detail = "MIDI clock stopped arriving" if self.ticks_received else "no MIDI clock arriving"
            return "lost", err, detail
        if not self._ever_locked:
            return "settling", err, "locking to the MIDI clock"
        if err > max(self.lock_phase_sec, self._line.band_sec) * 1000.0:
            return "settling", err, f"phase {err:.1f} ms off: correcting"
        return "locked", err, "" if self._fit.playing else "MIDI clock running, no Start yet"

    @property
    def resyncs(self) -> int:
        """Phase jumps (a lasting offset that did not grow): the fit restarted from them."""
        return self._line.resyncs

    @property
    def jitter_ms(self) -> float:
        """RMS of the tick times around the fitted line."""
        return self._line.sigma_sec * 1000.0

    @property
    def band_ms(self) -> float:
        """Half-width of the arrival noise the follower allows for (delivery quantisation)."""
        return self._line.band_sec * 1000.0

    @property
    def phase_se_ms(self) -> float:
        """Standard error of the predicted time of the next beat."""
        return self._line.phase_se_sec * 1000.0

    # ---- the clock protocol ---------------------------------------------------------------
    def now_sec(self) -> float:
        return self._now()

    @property
    def bpm(self) -> float:
        return 60.0 / (self._fit.sec_per_tick * PPQN)

    @property
    def is_playing(self) -> bool:
        return self._fit.playing

    @property
    def locked(self) -> bool:
        """The phase error estimate is within its bound (``health``) and ticks arrive."""
        return self.health()[0] == "locked"

    @property
    def peers(self) -> int:
        return 0

    def beat_at(self, t_sec: float) -> float:
        f = self._fit
        if not f.playing:
            return f.stopped_beat
        n = f.n_ref + (t_sec - f.t_ref) / f.sec_per_tick
        return f.beat_origin + (n - f.n_origin) / PPQN

    def time_at_beat(self, beat: float) -> float:
        f = self._fit
        if not f.playing:
            return self._now() + (beat - f.stopped_beat) * PPQN * f.sec_per_tick
        n = f.n_origin + (beat - f.beat_origin) * PPQN
        return f.t_ref + f.sec_per_tick * (n - f.n_ref)

    def start(self) -> None:
        """The transport belongs to the clock master: play/stop come as Start/Stop messages."""

    def stop(self) -> None:
        """See ``start``: a follower does not stop the master."""

    def set_tempo(self, bpm: float) -> None:
        """Ignored: the master sets the tempo."""

    def close(self) -> None:
        reader, self.input_reader = self.input_reader, None
        if reader is not None:
            reader.close()
        port, self.input_port = self.input_port, None
        if port is not None:
            port.close_port()
            port.delete()
