"""MIDI clock: a follower (24 PPQN in -> tempo and beat position) and a sender (clock out).

``MidiClockFollower`` implements the clock protocol of ``bridge.clock``. Its core is pure: feed
it ``(timestamp_sec, message_bytes)`` with ``feed``; an rtmidi input (``open_clock_input``) or
the engine's own MIDI input calls ``feed`` from its callback thread.

Estimation: every 0xF8 tick gets a running index ``n``; a least-squares line ``t = a + p * n``
is fitted over the last ``window_ticks`` ticks (p = seconds per tick, bpm = 60 / (24 p)).
The tick jitter is a robust sigma (1.4826 x the median absolute residual), so a few ticks
delayed by a busy machine do not inflate it. A tick far off the line (``outlier_ms``, or 4
sigma) is left out; three in a row on the same side mean the tempo changed, and the fit
restarts from those ticks, unless they are catching up (a burst after a stall: they are
left out); two in a row late by the same whole number of ticks mean ticks were lost on the
way (a busy MIDI driver drops some): the count moves on by that many so the beat position
stays right. A silence shorter than ``MAX_DROPOUT_SEC`` keeps the fitted line. ``locked``
is true once ``lock_ticks`` ticks fit with a jitter under ``lock_jitter_ms``, until the
ticks stop for ``timeout_sec`` (or six tick periods, whichever is longer).

Transport: Start (0xFA) puts beat 0 on the next tick, Continue (0xFB) resumes the next tick at
the stopped position or at the last Song Position Pointer (0xF2, in 16ths = 6 ticks), Stop
(0xFC) freezes the position at the tick that would have come next. Ticks keep driving the
tempo estimate while stopped (DAWs keep sending clock).

``MidiClockSender`` turns any clock (normally ``InternalClock``) into 24 PPQN ticks plus
Start / Continue + SPP / Stop; ``clock_messages`` is its pure core.
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bridge.clock import Clock, check_bpm

log = logging.getLogger(__name__)

PPQN = 24
TICKS_PER_SIXTEENTH = 6
CLOCK = 0xF8
START = 0xFA
CONTINUE = 0xFB
STOP = 0xFC
SONG_POSITION = 0xF2
CLOCK_STATUSES = frozenset({CLOCK, START, CONTINUE, STOP, SONG_POSITION})
MAX_DROPOUT_SEC = 2.0  # a longer silence restarts the fit (the master stopped its clock)
START_CATCH_UP_SEC = 0.03  # a transport start seen this late still sends Start (not Continue)


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
        window_ticks: int = 48,
        lock_ticks: int = 24,
        lock_jitter_ms: float = 3.0,
        outlier_ms: float = 4.0,
        timeout_sec: float = 0.3,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._now = now
        self.window_ticks = max(3, int(window_ticks))
        self.lock_ticks = max(2, int(lock_ticks))
        self.lock_jitter_sec = lock_jitter_ms / 1000.0
        self.outlier_sec = outlier_ms / 1000.0
        self.timeout_sec = timeout_sec
        self._lock = threading.Lock()
        self._points: deque[tuple[int, float]] = deque(maxlen=self.window_ticks)
        self._pending: list[tuple[int, float, float]] = []  # consecutive outliers (n, t, error)
        self._n = -1  # index of the last tick received
        self._jitter_sec = 0.0
        self._ever_locked = False
        self._spp_beat: float | None = None
        self.ticks_received = 0
        self.tempo_changes = 0
        self.lost_ticks = 0
        self.input_port = None  # set by open_clock_input; closed by close()
        spt = 60.0 / (check_bpm(default_bpm) * PPQN)
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
            if status == CLOCK:
                self._tick(t_sec)
            elif status == START:
                self._transport(playing=True, beat=0.0)
            elif status == CONTINUE:
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
        return f.beat_origin + (self._n + 1 - f.n_origin) / PPQN

    def _transport(self, playing: bool, beat: float) -> None:
        self._spp_beat = None
        self._replace(playing=playing, n_origin=float(self._n + 1), beat_origin=beat,
                      stopped_beat=beat)

    def _replace(self, **changes: float | bool) -> None:
        f = self._fit
        values = {k: getattr(f, k) for k in f.__dataclass_fields__}
        values.update(changes)
        self._fit = _Fit(**values)  # type: ignore[arg-type]

    def _tick(self, t_sec: float) -> None:
        f = self._fit
        spt = f.sec_per_tick
        self._n += 1
        self.ticks_received += 1
        gap = t_sec - f.last_tick_sec
        if gap > max(self.timeout_sec, 6 * spt) and not (self._ever_locked and gap < MAX_DROPOUT_SEC):
            self._points.clear()  # the clock (re)started after a long silence: fit afresh
            self._pending.clear()
            self._ever_locked = False
        elif len(self._points) >= 3:
            err = t_sec - (f.t_ref + spt * (self._n - f.n_ref))
            tolerance = max(self.outlier_sec, 4.0 * self._jitter_sec)
            if abs(err) > tolerance:
                if self._pending and (err > 0) != (self._pending[-1][2] > 0):
                    self._pending.clear()
                self._pending.append((self._n, t_sec, err))
                if not self._resolve_outliers(spt, min(tolerance, spt / 4)):
                    self._replace(last_tick_sec=t_sec)
                    return
            self._pending.clear()
        self._points.append((self._n, t_sec))
        self._refit(t_sec)

    def _resolve_outliers(self, spt: float, grid_tol: float) -> bool:
        """Decide what consecutive off-line ticks mean; True = the last tick joins the fit.

        * the last two are late by the same whole number j >= 1 of ticks: j ticks were lost
          on the way (a busy driver drops some, progressively too): renumber, keep the line;
        * after three: drifting steadily away from the line = the tempo changed, fit afresh
          from them; anything else (late ticks catching up after a stall arrive a tick
          closer each, noise) is left out.
        """
        pending = self._pending
        if len(pending) >= 2:
            (_, _, e1), (_, _, e2) = pending[-2:]
            j = round(e2 / spt)
            if j >= 1 and round(e1 / spt) == j and abs(e1 - j * spt) < grid_tol > abs(e2 - j * spt):
                self.lost_ticks += j
                self._n += j
                for k, t, e in pending[:-1]:
                    i = round(e / spt)
                    if i <= j and abs(e - i * spt) < grid_tol:
                        self._points.append((k + i, t))
                return True
        if len(pending) < 3:
            return False
        mags = [abs(e) for _, _, e in pending[-3:]]
        if mags[1] < mags[0] - grid_tol or mags[2] < mags[1] - grid_tol:
            pending.clear()  # not drifting steadily away: a stall's burst or noise
            return False
        self.tempo_changes += 1
        self._points.clear()
        self._points.extend((k, t) for k, t, _ in pending[:-1])
        return True

    def _refit(self, t_last: float) -> None:
        pts = self._points
        f = self._fit
        if len(pts) == 1:
            n0, t0 = pts[0]
            spt = f.sec_per_tick
            self._fit = _Fit(t0, float(n0), spt, f.n_origin, f.beat_origin, f.playing,
                             f.stopped_beat, t_last)
            return
        n0, t0 = pts[0]
        m = len(pts)
        mean_n = sum(k - n0 for k, _ in pts) / m
        mean_t = sum(t - t0 for _, t in pts) / m
        sxx = sum((k - n0 - mean_n) ** 2 for k, _ in pts)
        sxy = sum((k - n0 - mean_n) * (t - t0 - mean_t) for k, t in pts)
        spt = sxy / sxx
        if not 60.0 / (500.0 * PPQN) < spt < 60.0 / (10.0 * PPQN):
            spt = f.sec_per_tick  # absurd (duplicate timestamps): keep the previous slope
        t_ref = t0 + mean_t
        n_ref = n0 + mean_n
        if m > 2:
            residuals = [abs(t - t_ref - spt * (k - n_ref)) for k, t in pts]
            self._jitter_sec = 1.4826 * statistics.median(residuals)
        if m >= self.lock_ticks and self._jitter_sec < self.lock_jitter_sec:
            self._ever_locked = True
        self._fit = _Fit(t_ref, n_ref, spt, f.n_origin, f.beat_origin, f.playing,
                         f.stopped_beat, t_last)

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
        f = self._fit
        fresh = self._now() - f.last_tick_sec <= max(self.timeout_sec, 6 * f.sec_per_tick)
        return self._ever_locked and fresh

    @property
    def peers(self) -> int:
        return 0

    @property
    def jitter_ms(self) -> float:
        """Robust sigma of the tick times around the fitted line."""
        return self._jitter_sec * 1000.0

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
        port, self.input_port = self.input_port, None
        if port is not None:
            port.cancel_callback()
            port.close_port()
            port.delete()


# ---- clock out -------------------------------------------------------------------------------
def song_position(beat: float) -> list[int]:
    """Song Position Pointer message for ``beat`` (rounded down to a 16th)."""
    sixteenths = max(0, min(0x3FFF, int(math.floor(beat * 4 + 1e-9))))
    return [SONG_POSITION, sixteenths & 0x7F, sixteenths >> 7]


@dataclass
class SenderState:
    """Where the sender is: the next tick's index on the beat grid, and the transport."""

    next_tick: int | None = None  # index k of the next tick to send (beat k / 24)
    playing: bool = False
    free_tick_sec: float | None = None  # time of the next tick while stopped


def clock_messages(clock: Clock, state: SenderState, until_sec: float) -> list[tuple[float, list[int]]]:
    """The clock messages due up to ``until_sec`` (time, bytes), advancing ``state``. Pure.

    While the clock plays, tick k is sent at ``clock.time_at_beat(k / 24)``; transport
    changes emit Start (at beat 0) or SPP + Continue before the first tick, and Stop.
    While stopped, ticks keep coming at the clock's tempo so followers keep their estimate.
    """
    out: list[tuple[float, list[int]]] = []
    now = clock.now_sec()
    playing = clock.is_playing
    if playing and not state.playing:
        beat = clock.beat_at(now)
        k = math.ceil(beat * PPQN - 1e-6)
        if k <= 0 or now - clock.time_at_beat(0.0) <= START_CATCH_UP_SEC:
            out.append((now, [START]))  # just started: Start, then tick 0 at once
            k = 0
        else:
            k = math.ceil(k / TICKS_PER_SIXTEENTH) * TICKS_PER_SIXTEENTH  # resume on a 16th
            out.append((now, song_position(k / PPQN)))
            out.append((now, [CONTINUE]))
        state.next_tick = k
        state.playing = True
    elif state.playing and not playing:
        out.append((now, [STOP]))
        state.playing = False
        state.next_tick = None
        state.free_tick_sec = None
    if playing:
        assert state.next_tick is not None
        while True:
            t = clock.time_at_beat(state.next_tick / PPQN)
            if t > until_sec:
                break
            out.append((t, [CLOCK]))
            state.next_tick += 1
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
        if self._state.playing:
            self._send([STOP])

    def _next_due(self) -> float:
        s = self._state
        if s.playing and s.next_tick is not None:
            return self.clock.time_at_beat(s.next_tick / PPQN)
        return s.free_tick_sec if s.free_tick_sec is not None else self.clock.now_sec()

    def close(self) -> None:
        if self._thread is not None:
            self._stop_event.set()
            self._thread.join(timeout=2.0)
            self._thread = None


# ---- rtmidi binding --------------------------------------------------------------------------
def open_clock_input(follower: MidiClockFollower, port: str | None = None, api: str | None = None,
                     virtual_name: str = "GrooveBridge Clock In",
                     client_name: str = "GrooveBridge Clock"):
    """Open an rtmidi input that feeds ``follower``; returns the ``rtmidi.MidiIn``.

    ``port`` picks an existing port by exact name or substring; None opens a virtual port.
    The API comes from ``api`` or env ``GROOVEBRIDGE_MIDI_API`` (e.g. "jack", "alsa").
    The engine's own input (``bridge.midi_ports.MidiIO``) can feed ``follower.feed`` instead.
    """
    import rtmidi

    from bridge.midi_ports import resolve_api

    midi_in = rtmidi.MidiIn(resolve_api(api or os.environ.get("GROOVEBRIDGE_MIDI_API", "auto")),
                            name=client_name)
    midi_in.ignore_types(sysex=True, timing=False, active_sense=True)
    if port is None:
        midi_in.open_virtual_port(virtual_name)
    else:
        names = midi_in.get_ports()
        matches = [i for i, n in enumerate(names) if n == port] or [
            i for i, n in enumerate(names) if port.lower() in n.lower()]
        if not matches:
            midi_in.delete()
            raise ValueError(f"no MIDI input port matches {port!r} (have: {', '.join(names) or 'none'})")
        midi_in.open_port(matches[0])
    now = follower.now_sec

    def _callback(event: tuple[list[int], float], _data: object = None) -> None:
        follower.feed(now(), event[0])

    midi_in.set_callback(_callback)
    follower.input_port = midi_in
    return midi_in
