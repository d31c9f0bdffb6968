"""The engine's transport and clock (``Transport``, a collaborator of the engine): play, stop,
tempo, sync source, latency and clock out, and the clock watch that turns clock changes into
events (transport, tempo, sync, sync_health, sync_slip).

Transport semantics (README "Sync"):
* internal: play starts the clock (beat 0 a little ahead, so the first downbeat's early hits
  play on time), stop stops it; a tempo set changes it;
* MIDI clock / Ableton Link: the transport belongs to the DAW or the session. Stop *holds*
  GrooveBridge (all notes off, silent) while the clock runs on, until the user presses play
  or the DAW sends Start/Continue (the session starts). Play with the clock running joins it
  at the next bar line; with MIDI clock not running it answers with what to do
  (``bridge.clock.health.transport_hint``); under Link it starts the shared transport (Link
  waits briefly for peers first: ``bridge.clock.link``). A tempo set under MIDI clock is
  refused with one line (the DAW sets it); under Link it is proposed to the session (every
  peer follows, as from any peer).
"""

from __future__ import annotations

import math
from typing import Any

from bridge.clock.base import Clock, InternalClock, _AnchoredClock
from bridge.clock.health import clock_health, next_bar_beat, transport_hint
from bridge.commands import SYNC_SOURCES, check_bpm, check_latency_ms
from bridge.engine.context import EngineContext
from bridge.settings import Settings
from models.groove import EARLY_BEATS

HEALTH_EVERY_SEC = 0.25  # phase error updates at most this often (state changes at once)
MIDI_TEMPO = "tempo follows the MIDI clock: change it in the DAW"


def make_clock(source: str, settings: Settings, bpm: float) -> Clock:
    """A clock for the sync source ``source`` (internal | midi | link) at ``bpm``."""
    if source == "internal":
        return InternalClock(bpm)
    if source == "midi":
        from bridge.clock.midi_in import MidiClockFollower

        return MidiClockFollower(default_bpm=bpm)
    if source == "link":
        from bridge.clock.link import LinkClock

        return LinkClock(bpm, quantum=settings.link_quantum)
    raise ValueError(f"unknown sync source {source!r}; use one of {', '.join(SYNC_SOURCES)}")


class Transport:
    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx
        self.held = False  # stopped by the user under MIDI/Link sync while the clock runs on
        self._seen: dict[str, Any] = {}  # what the watch last reported

    @property
    def playing(self) -> bool:
        """What the user hears: the clock runs and GrooveBridge is not held."""
        return self._ctx.clock.is_playing and not self.held

    def hint(self) -> str:
        """What to do to get the transport running, true for the sync source."""
        return transport_hint(self._ctx.clock, self.held)

    def snapshot_fields(self) -> dict[str, Any]:
        """The clock-derived snapshot fields (``Engine.snapshot``)."""
        return {"playing": self.playing, "sync_health": clock_health(self._ctx.clock)}

    # ---- clock watch (control thread) ---------------------------------------------------------
    def attach(self, clock: Clock) -> None:
        """Clock changes (a Start, a Link tempo) wake the scheduler and the control thread at
        once, so the next note and the echo do not wait for a poll."""
        if hasattr(clock, "on_change"):
            clock.on_change = self._clock_changed

    def _clock_changed(self) -> None:  # any thread: no blocking
        self._ctx.wake_scheduler()
        self._ctx.post(lambda: None)  # the control loop runs the watches after every command

    def watch(self) -> None:
        """Turn clock changes (ours or a follower's) into events."""
        ctx, seen = self._ctx, self._seen
        clock = ctx.clock
        raw = clock.is_playing
        starts = getattr(clock, "transport_starts", None)  # MIDI Start/Continue count
        started = (seen.get("starts", starts) != starts) if starts is not None else (raw and seen.get("raw") is False)
        seen["starts"], seen["raw"] = starts, raw
        if started and self.held:  # the DAW sent Start/Continue, the session started: play
            self._set_held(False)
        playing = raw and not self.held
        if seen.get("playing") != playing:
            seen["playing"] = playing
            ctx.emit("transport", {"playing": playing})
        if abs(seen.get("bpm", 0.0) - clock.bpm) > 0.01:
            seen["bpm"] = clock.bpm
            ctx.emit("tempo", clock.bpm)
        sync = (clock.name, clock.locked, clock.peers)
        if seen.get("sync") != sync:
            seen["sync"] = sync
            ctx.emit("sync", {"source": ctx.snap.sync_source, "locked": sync[1], "peers": sync[2]})
        self._watch_health(clock)

    def _watch_health(self, clock: Clock) -> None:
        ctx, seen = self._ctx, self._seen
        health = clock_health(clock)
        key = (health["state"], health["source"])  # a change of state or source is sent at once
        now = clock.now_sec()
        err, last_err = health["phase_error_ms"], seen.get("health_err", math.nan)
        # the phase error and the detail line (which may quote it) at most every HEALTH_EVERY_SEC
        moved = (not math.isclose(err, last_err, abs_tol=0.05) or health["detail"] != seen.get("health_detail")) \
            and now - seen.get("health_t", -math.inf) >= HEALTH_EVERY_SEC
        if seen.get("health") != key or moved:
            seen["health"], seen["health_err"], seen["health_t"] = key, err, now
            seen["health_detail"] = health["detail"]
            ctx.emit("sync_health", health)
        pop = getattr(clock, "pop_slips", None)
        for ticks, corrected in pop() if pop is not None else ():
            ctx.emit("sync_slip", {"ticks": int(ticks), "corrected": bool(corrected)})

    def _set_held(self, held: bool, join_beat: float | None = None) -> None:
        self.held = held
        self._ctx.sched(lambda player: player.hold(held, join_beat))
        self._ctx.wake_scheduler()

    def _wake(self) -> None:
        self._ctx.wake_scheduler()
        self.watch()

    # ---- commands (control thread) --------------------------------------------------------------
    def play(self) -> None:
        clock = self._ctx.clock
        latency_ms = max(0.0, self._ctx.snap.latency_ms)
        if isinstance(clock, _AnchoredClock):
            if clock.is_playing:
                return
            # Beat 0 a little ahead, so the early hits of the first downbeat still play on time.
            lead_sec = EARLY_BEATS * 60.0 / clock.bpm + latency_ms / 1000.0 + 0.05
            clock.start(at_sec=clock.now_sec() + lead_sec)
        elif clock.is_playing:
            if self.held:  # join the running clock at its next bar line
                lead_sec = 0.06 + latency_ms / 1000.0
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

    def stop(self) -> None:
        clock = self._ctx.clock
        if isinstance(clock, _AnchoredClock):
            clock.stop()
        elif not self.held:  # MIDI / Link: silence GrooveBridge, leave the DAW's transport be
            self._set_held(True)
        self._wake()

    def set_tempo(self, bpm: float) -> None:
        """Internal: the new tempo, phase-continuous. Link: proposed to the session (every peer
        follows; the tempo event comes when the session has it). MIDI clock: one error line."""
        value = check_bpm(bpm)
        clock = self._ctx.clock
        if clock.name == "midi":
            raise ValueError(MIDI_TEMPO)
        clock.set_tempo(value)
        self._wake()

    def set_sync_source(self, source: str) -> None:
        ctx = self._ctx
        if source == ctx.snap.sync_source:
            return
        new = make_clock(source, ctx.settings, ctx.clock.bpm)
        self.attach(new)
        old, ctx.clock = ctx.clock, new
        self.held = False
        player, scheduler = ctx.player, ctx.scheduler
        if player is not None and scheduler is not None:
            clock_out = ctx.snap.clock_out and source == "internal"

            def swap() -> None:
                player.stop()
                player.hold(False, None)
                player.clock = new
                player.clock_out = clock_out

            scheduler.call_and_wait(swap)
        old.close()
        ctx.update(sync_source=source)
        self.watch()

    def set_latency_ms(self, ms: float) -> None:
        value = check_latency_ms(ms)
        self._ctx.sched(lambda player: player.set_latency_ms(value))
        self._ctx.update(latency_ms=value)
        self._ctx.emit("settings", {"latency_ms": value})

    def set_clock_out(self, on: bool) -> None:
        on = bool(on)
        effective = on and self._ctx.snap.sync_source == "internal"
        self._ctx.sched(lambda player: player.set_clock_out(effective))
        self._ctx.update(clock_out=on)
        self._ctx.emit("settings", {"clock_out": on})
