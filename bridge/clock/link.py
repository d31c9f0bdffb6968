"""Ableton Link as a GrooveBridge clock (``aalink``), in ``time.monotonic()`` seconds.

aalink is asyncio-based: a private event loop runs in a daemon thread; the ``aalink.Link``
object lives on that loop, which receives Link's tempo / peers / start-stop callbacks and
refreshes a snapshot every ``poll_sec``. A snapshot pairs one reading of Link's beat with the
``time.monotonic()`` instants around it, so ``beat_at`` / ``time_at_beat`` need no call into
Link and no lock (Link's own clock on Linux is CLOCK_MONOTONIC_RAW: measuring both together
sidesteps converting between the two).

Beats: Link's session timeline on a 4-beat quantum (bar phase shared with every peer). When
the transport starts (our ``start`` or a peer's, with start/stop sync), beat 0 is put at the
start time, which Link aligns to the session's next bar, so bar 1 of the loop lands on a bar
line of every other Link app. Stopped, ``beat_at`` stays at the stop position.

Etiquette (issue 22): joining a session never starts or stops its transport; ``start`` is the
user's play. Right after joining, before a peer is found, ``start`` waits up to
``peer_wait_sec`` for one (the session may be playing already: then we simply join it)
instead of starting a transport of its own. ``close`` leaves the session's transport as it
was. Tempo, start/stop and peer changes call ``on_change`` (the engine wakes its scheduler,
so a note due after a tempo change is timed with the new tempo).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from bridge.commands import check_bpm

log = logging.getLogger(__name__)
LOCK_PHASE_MS = 2.0  # the bound of "locked" (as for MIDI clock)


@dataclass(frozen=True)
class _Snap:
    t_sec: float  # time.monotonic() of the reading
    beat: float  # Link beat at t_sec
    bpm: float
    playing: bool
    peers: int
    stopped_beat: float


class LinkClock:
    """Follows (and leads) an Ableton Link session; implements the ``bridge.clock.base`` protocol."""

    name = "link"

    def __init__(self, bpm: float = 120.0, quantum: float = 4.0, start_stop_sync: bool = True,
                 poll_sec: float = 0.02, timeout_sec: float = 5.0, peer_wait_sec: float = 1.5) -> None:
        try:
            import aalink
        except ImportError as e:  # pragma: no cover - aalink is a dependency
            raise RuntimeError(f"Ableton Link needs the aalink package ({e})") from None
        self._aalink = aalink
        self.quantum = float(quantum)
        self.start_stop_sync = start_stop_sync
        self.poll_sec = poll_sec
        self.peer_wait_sec = peer_wait_sec
        self.on_change = None  # called (loop thread) when tempo, transport or peers change
        self._enabled_at = time.monotonic()
        self._start_pending = False
        self._was_playing = False
        self._snap = _Snap(time.monotonic(), 0.0, check_bpm(bpm), False, 0, 0.0)
        self._skip_checks = 1  # (the first snapshot is a placeholder)
        self._phase_errors: deque[float] = deque(maxlen=max(1, round(1.0 / poll_sec)))  # a second of checks
        self._loop = asyncio.new_event_loop()
        self._link = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(bpm,), name="link-clock",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_sec):
            raise RuntimeError("Ableton Link did not start")
        if self._error is not None:
            raise RuntimeError(f"Ableton Link failed to start: {self._error}")

    # ---- the loop thread ------------------------------------------------------------------
    def _run(self, bpm: float) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main(bpm))
        finally:
            self._loop.close()

    async def _main(self, bpm: float) -> None:
        try:
            link = self._aalink.Link(float(bpm))  # binds to this running loop
            link.quantum = self.quantum
            link.start_stop_sync_enabled = self.start_stop_sync
            link.set_num_peers_callback(lambda _n: self._refresh())
            link.set_tempo_callback(lambda _bpm: self._refresh())
            link.set_start_stop_callback(lambda _playing: self._refresh())
            link.enabled = True
            self._enabled_at = time.monotonic()
            self._link = link
            self._refresh()
        except BaseException as e:  # noqa: BLE001 - reported to the constructor
            self._error = e
            self._ready.set()
            return
        self._stopping = asyncio.Event()
        self._ready.set()
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), self.poll_sec)
            except asyncio.TimeoutError:
                pass
            self._refresh()
        link.enabled = False
        self._link = None

    def _refresh(self) -> None:
        """Read Link's state (loop thread only) into a new snapshot."""
        link = self._link
        if link is None:
            return
        playing = bool(link.playing)
        if playing and not self._was_playing:
            # a start (ours or a peer's): beat 0 at the start time, on the session's bar
            link.request_beat_at_start_playing_time(0.0)
        self._was_playing = playing
        t0 = time.monotonic()
        beat = link.beat
        t1 = time.monotonic()
        old = self._snap
        self._check_phase(old, beat, float(link.tempo), t0, t1)
        stopped_beat = old.stopped_beat
        if old.playing and not playing:
            stopped_beat = old.beat + (t0 - old.t_sec) * old.bpm / 60.0
        self._snap = new = _Snap(0.5 * (t0 + t1), beat, float(link.tempo), playing,
                                 int(link.num_peers), stopped_beat)
        changed = (new.bpm, new.playing, new.peers) != (old.bpm, old.playing, old.peers)
        if changed:
            self._skip_checks = 2
        if changed and self.on_change is not None:
            try:
                self.on_change()
            except Exception:  # noqa: BLE001 - a listener must not stop the Link loop
                log.exception("Link on_change failed")

    def _check_phase(self, old: _Snap, beat: float, bpm: float, t0: float, t1: float) -> None:
        """How far our timeline (the last snapshot, extrapolated) was from Link's own reading
        now, plus half the time the reading took (its uncertainty), in ms; for two readings
        after the timeline moved on purpose (a start, a tempo change, a peer joining: Link
        realigns) only the latter."""
        t_mid = 0.5 * (t0 + t1)
        err_ms = 500.0 * (t1 - t0)
        if self._skip_checks > 0:  # the timeline moved on purpose: a start, a tempo, a peer joined
            self._skip_checks -= 1
        elif bpm == old.bpm:
            err_ms += abs(beat - (old.beat + (t_mid - old.t_sec) * old.bpm / 60.0)) * 60000.0 / bpm
        self._phase_errors.append(err_ms)

    @property
    def phase_error_ms(self) -> float:
        """The largest phase error of our timeline against Link's over the last second of
        readings (``_check_phase``): what a note timed from it could be off by."""
        errors = list(self._phase_errors)
        return max(errors) if errors else 0.0

    def _call(self, fn) -> None:
        """Run ``fn(link)`` on the loop thread, then refresh the snapshot."""

        def _do() -> None:
            if self._link is not None:
                fn(self._link)
                self._skip_checks = 2
                self._refresh()

        if self._loop.is_running():
            self._loop.call_soon_threadsafe(_do)

    # ---- the clock protocol -----------------------------------------------------------------
    def now_sec(self) -> float:
        return time.monotonic()

    @property
    def bpm(self) -> float:
        return self._snap.bpm

    @property
    def is_playing(self) -> bool:
        return self._snap.playing

    @property
    def locked(self) -> bool:
        """Link always has a timeline: locked while the Link session is enabled."""
        return self._link is not None

    @property
    def peers(self) -> int:
        return self._snap.peers

    def beat_at(self, t_sec: float) -> float:
        s = self._snap
        if not s.playing:
            return s.stopped_beat
        return s.beat + (t_sec - s.t_sec) * s.bpm / 60.0

    def time_at_beat(self, beat: float) -> float:
        s = self._snap
        if not s.playing:
            return time.monotonic() + (beat - s.stopped_beat) * 60.0 / s.bpm
        return s.t_sec + (beat - s.beat) * 60.0 / s.bpm

    def session_beat(self, t_sec: float) -> float:
        """Link's timeline beat at ``t_sec`` whether or not the transport plays."""
        s = self._snap
        return s.beat + (t_sec - s.t_sec) * s.bpm / 60.0

    def health(self) -> tuple[str, float, str]:
        """(state, phase error ms, detail) for ``bridge.clock.health``: the phase error is how far
        our timeline was from Link's own over the last second (``phase_error_ms``); "locked"
        within ``LOCK_PHASE_MS``, "settling" beyond it (a busy machine) or while looking for peers."""
        if self._link is None:
            return "lost", 0.0, "Ableton Link is not running"
        err = self.phase_error_ms
        peers = self._snap.peers
        if peers == 0 and time.monotonic() - self._enabled_at < self.peer_wait_sec:
            return "settling", err, "looking for Link peers"
        if err > LOCK_PHASE_MS:
            return "settling", err, f"our timeline was {err:.1f} ms off Link's (a busy machine)"
        if peers == 0:
            return "locked", err, "no other Link peers"
        return "locked", err, f"{peers} Link peer{'s' if peers > 1 else ''}"

    def start(self) -> None:
        """Start the transport (shared with peers under start/stop sync) at the next bar; just
        after joining, first wait (up to ``peer_wait_sec``) for the session's peers."""

        def _go(link) -> None:
            self._start_pending = False
            if link.playing:  # the session plays already (a peer started it): join, no new start
                return
            link.set_is_playing_and_request_beat_at_time(True, link.time, 0.0)
            self._was_playing = True

        def _maybe(link) -> None:
            wait = self.peer_wait_sec - (time.monotonic() - self._enabled_at)
            if link.num_peers == 0 and wait > 0:
                if not self._start_pending:
                    self._start_pending = True
                    self._loop.call_later(wait, lambda: self._call(_go) if self._start_pending else None)
                return
            _go(link)

        self._call(_maybe)

    def stop(self) -> None:
        """Stop the shared transport (the engine's stop under Link sync only silences us)."""

        def _halt(link) -> None:
            self._start_pending = False
            link.playing = False

        self._call(_halt)

    def set_tempo(self, bpm: float) -> None:
        """Propose a tempo to the Link session (every peer follows)."""
        value = check_bpm(bpm)

        def _set(link) -> None:
            link.tempo = value

        self._call(_set)

    def close(self) -> None:
        if self._thread.is_alive() and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=5.0)
