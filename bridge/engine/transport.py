"""The engine's transport and clock: play/stop/tempo/sync source, per sync source, and the
clock watch that turns clock changes into events (transport, tempo, sync, sync_health,
sync_slip) and finishes armed recordings.

Transport semantics (README "Sync"):
* internal: play starts the clock (beat 0 a little ahead, so the first downbeat's early hits
  play on time), stop stops it;
* MIDI clock / Ableton Link: the transport belongs to the DAW or the session. Stop *holds*
  GrooveBridge (all notes off, silent) while the clock runs on, until the user presses play
  or the DAW sends Start/Continue (the session starts). Play with the clock running joins it
  at the next bar line; with MIDI clock not running it answers with what to do
  (``bridge.clock.health.transport_hint``); under Link it starts the shared transport (Link
  waits briefly for peers first: ``bridge.clock.link``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from bridge.clock.base import Clock, InternalClock, _AnchoredClock
from bridge.clock.health import clock_health, next_bar_beat, transport_hint
from bridge.commands import SYNC_SOURCES, check_bpm
from bridge.engine.command import command
from models.groove import EARLY_BEATS

if TYPE_CHECKING:
    from bridge.engine.core import Engine

    _Base = Engine
else:
    _Base = object

HEALTH_EVERY_SEC = 0.25  # phase error updates at most this often (state changes at once)


class EngineTransportMixin(_Base):
    _held = False  # stopped by the user under MIDI/Link sync while the clock runs on

    # ---- clock watch (control thread) ---------------------------------------------------------
    def _attach_clock(self, clock: Clock) -> None:
        """Clock changes (a Start, a Link tempo) wake the scheduler and the control thread at
        once, so the next note and the echo do not wait for a poll."""
        if hasattr(clock, "on_change"):
            clock.on_change = self._clock_changed  # type: ignore[attr-defined]

    def _clock_changed(self) -> None:  # any thread: no blocking
        if self.scheduler is not None:
            self.scheduler.wake()
        self._post(lambda: None)  # the control loop runs _watch_clock after every command

    def _watch_clock(self) -> None:
        """Turn clock changes (ours or a follower's) into events; finish armed recordings."""
        clock, seen = self._clock, self._seen
        raw = clock.is_playing
        starts = getattr(clock, "transport_starts", None)  # MIDI Start/Continue count
        started = (seen.get("starts", starts) != starts) if starts is not None else (raw and seen.get("raw") is False)
        seen["starts"], seen["raw"] = starts, raw
        if started and self._held:  # the DAW sent Start/Continue, the session started: play
            self._set_held(False)
        playing = raw and not self._held
        if seen.get("playing") != playing:
            seen["playing"] = playing
            if playing:
                self.capture_buffer.clear()
            self._emit("transport", {"playing": playing})
        if abs(seen.get("bpm", 0.0) - clock.bpm) > 0.01:
            seen["bpm"] = clock.bpm
            self._emit("tempo", clock.bpm)
        sync = (clock.name, clock.locked, clock.peers)
        if seen.get("sync") != sync:
            seen["sync"] = sync
            self._emit("sync", {"source": self._snap.sync_source, "locked": sync[1], "peers": sync[2]})
        self._watch_health(clock)
        self._watch_recording(clock, raw)

    def _watch_health(self, clock: Clock) -> None:
        seen = self._seen
        health = clock_health(clock)
        key = (health["state"], health["source"], health["detail"])
        now = clock.now_sec()
        err, last_err = health["phase_error_ms"], seen.get("health_err", math.nan)
        moved = not math.isclose(err, last_err, abs_tol=0.05) and now - seen.get("health_t", -math.inf) >= HEALTH_EVERY_SEC
        if seen.get("health") != key or moved:
            seen["health"], seen["health_err"], seen["health_t"] = key, err, now
            self._emit("sync_health", health)
        pop = getattr(clock, "pop_slips", None)
        for ticks, corrected in pop() if pop is not None else ():
            self._emit("sync_slip", {"ticks": int(ticks), "corrected": bool(corrected)})

    def _watch_recording(self, clock: Clock, playing: bool) -> None:
        rec = self._recording
        if rec is None:
            return
        if not playing:
            self._recording = None
            self._update(capture="idle")
            self._emit("capture", {"state": "cancelled", "slot": rec.slot})
            return
        beat = clock.beat_at(clock.now_sec())
        if beat >= rec.done_beat:
            self._recording = None
            self._update(capture="idle")
            groove = self.capture_buffer.window(rec.start_beat, bpm=clock.bpm)
            self._emit("capture", {"state": "done", "slot": rec.slot, "hits": groove.num_hits})
            self._set_slot(rec.slot, groove)
        elif beat >= rec.start_beat - EARLY_BEATS and self._snap.capture != "recording":
            self._update(capture="recording")
            self._emit("capture", {"state": "recording", "slot": rec.slot})

    def _transport_hint(self) -> str:
        return transport_hint(self._clock, self._held)

    # ---- transport and clock ----------------------------------------------------------------------
    def _make_clock(self, source: str) -> Clock:
        s = self.settings
        bpm = self._clock.bpm if hasattr(self, "_clock") else s.bpm
        if source == "internal":
            return InternalClock(bpm)
        if source == "midi":
            from bridge.clock.midi_in import MidiClockFollower

            return MidiClockFollower(default_bpm=bpm)
        if source == "link":
            from bridge.clock.link import LinkClock

            return LinkClock(bpm, quantum=s.link_quantum)
        raise ValueError(f"unknown sync source {source!r}; use one of {', '.join(SYNC_SOURCES)}")

    def _set_held(self, held: bool, join_beat: float | None = None) -> None:
        self._held = held
        player = self.player
        if player is not None:
            self._sched(lambda: player.hold(held, join_beat))
        if self.scheduler is not None:
            self.scheduler.wake()

    @command
    def play(self) -> None:
        clock = self._clock
        if isinstance(clock, _AnchoredClock):
            if clock.is_playing:
                return
            # Beat 0 a little ahead, so the early hits of the first downbeat still play on time.
            lead_sec = EARLY_BEATS * 60.0 / clock.bpm + max(0.0, self._snap.latency_ms) / 1000.0 + 0.05
            clock.start(at_sec=clock.now_sec() + lead_sec)
        elif clock.is_playing:
            if self._held:  # join the running clock at its next bar line
                lead_sec = 0.06 + max(0.0, self._snap.latency_ms) / 1000.0
                beat = clock.beat_at(clock.now_sec())
                self._set_held(False, next_bar_beat(beat, EARLY_BEATS + lead_sec * clock.bpm / 60.0))
        elif clock.name == "link":
            self._set_held(False)
            clock.start()  # the shared transport (after a brief wait for peers)
        else:
            self._set_held(False)  # plays as soon as the DAW starts
            self._wake()
            raise ValueError(f"play: {transport_hint(clock)}")
        self._wake()

    @command
    def stop(self) -> None:
        clock = self._clock
        if isinstance(clock, _AnchoredClock):
            clock.stop()
        elif not self._held:  # MIDI / Link: silence GrooveBridge, leave the DAW's transport be
            self._set_held(True)
        self._wake()

    def _wake(self) -> None:
        if self.scheduler is not None:
            self.scheduler.wake()
        self._watch_clock()

    @command
    def set_tempo(self, bpm: float) -> None:
        self._clock.set_tempo(check_bpm(bpm))  # (a MIDI clock follower ignores it: the DAW sets it)
        self._wake()

    @command
    def set_sync_source(self, source: str) -> None:
        if source == self._snap.sync_source:
            return
        new = self._make_clock(source)
        self._attach_clock(new)
        old, self._clock = self._clock, new
        self._held = False
        player = self.player
        if player is not None and self.scheduler is not None:

            def swap() -> None:
                player.stop()
                player.hold(False, None)
                player.clock = new
                player.clock_out = self._snap.clock_out and source == "internal"

            self.scheduler.call_and_wait(swap)
        old.close()
        self._update(sync_source=source)
        self._watch_clock()

    def _snapshot_transport(self) -> dict[str, Any]:
        """The clock-derived snapshot fields (``Engine.snapshot``)."""
        clock = self._clock
        return {"playing": clock.is_playing and not self._held, "sync_health": clock_health(clock)}
