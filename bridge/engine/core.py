"""The live engine: commands in, MIDI notes out, state snapshots and events for the views.

Threads (see docs/interfaces.md and architecture "Threads and time"):
* control thread: every public command is queued here and runs in order; it owns the
  engine state (slots, variations, settings) and publishes ``EngineSnapshot`` + events;
* scheduler thread (``bridge.play.thread``): owns the ``Player``; gets compiled patterns, mutes
  and settings through ``SchedulerThread.call``; swaps patterns at bar lines;
* generation worker (``bridge.engine.generation``): loads the model (on the device of
  ``bridge.engine.device``) and runs every model call;
* MIDI input reader (``bridge.midi.input.PolledInput``'s thread, polling rtmidi): clock
  messages to a MIDI-clock follower, notes to the capture buffer with the clock's beat at
  their arrival.
Subscriber callbacks run on the control thread: keep them short.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any

from bridge.clock.base import Clock
from bridge.commands import check_latency_ms
from bridge.engine.attributes import EngineAttributeMixin
from bridge.engine.capture import CaptureBuffer, Recording
from bridge.engine.command import command
from bridge.engine.device import DevicePlacer
from bridge.engine.follow import EngineFollowMixin
from bridge.engine.generation import GenerationWorker
from bridge.engine.model_commands import EngineModelMixin
from bridge.engine.pattern_commands import EnginePatternMixin
from bridge.engine.snapshot import EngineSnapshot, playhead
from bridge.engine.transport import EngineTransportMixin
from bridge.play.player import PlayedNote, Player
from bridge.play.thread import SchedulerThread
from bridge.settings import Settings
from models.drum_maps import DrumMapError, get_drum_map
from models.groove import Groove
from models.inference_device import check_device_choice

log = logging.getLogger(__name__)
Callback = Callable[[str, Any], None]
CLOCK_STATUSES = frozenset((0xF8, 0xFA, 0xFB, 0xFC, 0xF2))


def default_model_loader(name: str, device: str = "cpu") -> Any:
    from models.generate import load_model

    return load_model(None if name in ("", "default") else name, device=device)


class _NullMidi:
    """No MIDI at all (the ports could not open): playback runs silently, state still works."""

    ports: dict[str, Any] = {"api": "none", "input": "none", "output": "none"}

    def send_message(self, message: list[int] | bytes) -> None:
        pass

    def set_callback(self, callback: Any) -> None:
        pass

    def poll(self) -> list[str]:
        return []

    def set_input_port(self, wanted: str) -> None:
        raise RuntimeError("MIDI is not available")

    set_output_port = set_input_port

    def close(self) -> None:
        pass


class Engine(EngineModelMixin, EnginePatternMixin, EngineAttributeMixin, EngineFollowMixin,
             EngineTransportMixin):
    def __init__(
        self,
        settings: Settings | None = None,
        model_loader: Callable[[str], Any] | None = None,
        midi: Any = None,
        clock: Clock | None = None,
        *,
        auto_sample: bool = True,
        spin_sec: float = 0.0015,
    ) -> None:
        self.settings = settings or Settings()
        s = self.settings
        self._loader = model_loader or default_model_loader
        # where models load (bridge.engine.device; runs on the generation worker)
        self.devices = DevicePlacer(self._loader, report_error=lambda text: self._post(self._error, text),
                                    drop_helpers=lambda: self.worker.drop_helpers() if self.worker else None)
        self._midi = midi
        self._clock: Clock = clock or self._make_clock(s.sync)
        self._auto_sample = auto_sample
        self._spin_sec = spin_sec
        self._subscribers: list[Callback] = []
        # Note taps (bridge.audio.preview): called on the scheduler thread with each note sent and the
        # monotonic time it was due on the wire (its beat's time less the latency offset). Keep short.
        self.note_sinks: list[Callable[[PlayedNote, float], None]] = []
        self._commands: queue.Queue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.Queue()
        self.capture_buffer = CaptureBuffer(get_drum_map(s.input_drum_map), s.midi_input_channels, mode=s.input_mode)
        self._recording: Recording | None = None
        self._snap = EngineSnapshot(
            bpm=self._clock.bpm, sync_source=s.sync, temperature=s.temperature, num_variations=s.num_variations,
            latency_ms=s.latency_ms, clock_out=s.clock_out, model_name=s.model,
            input_drum_map=s.input_drum_map, output_drum_map=s.output_drum_map, input_mode=s.input_mode,
            device_preference=s.device,
        )
        self._seen: dict[str, Any] = {}
        self._init_follow()  # bridge.engine.follow
        self._closing = threading.Event()
        self._started = False
        self._morph_target = 0.0
        self._z_cache: dict[int, tuple[Groove, Any]] = {}
        self.player: Player | None = None
        self.scheduler: SchedulerThread | None = None
        self.worker: GenerationWorker | None = None
        self._control = threading.Thread(target=self._control_loop, name="groovebridge-control", daemon=True)

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Open MIDI, start the threads, load the model."""
        if self._started:
            return
        self._started = True
        s = self.settings
        if self._midi is None:
            from bridge.midi.ports import MidiPortError, open_midi

            try:
                self._midi = open_midi(s)
            except MidiPortError as e:
                self._midi = _NullMidi()
                self._update(last_error=str(e))
        self.player = Player(
            self._clock, self._midi, channel=s.midi_output_channel - 1,
            out_pitches=get_drum_map(s.output_drum_map).output_pitches, latency_ms=s.latency_ms,
            clock_out=s.clock_out and s.sync == "internal", on_note=self._on_note,
        )
        # A short GIL switch interval bounds how long torch's thread can keep the scheduler waiting.
        sys.setswitchinterval(s.switch_interval_ms / 1000.0)
        self.scheduler = SchedulerThread(self.player, spin_sec=self._spin_sec, realtime_priority=s.realtime_priority)
        self.scheduler.start()
        self._attach_clock(self._clock)  # bridge.engine.transport
        self.worker = GenerationWorker(self.devices.load_helper, self._on_model_state)
        self._midi.set_callback(self._on_midi_in)
        self.capture_buffer.refine = getattr(self._midi, "refine_time", None)
        self._update(ports=dict(self._midi.ports))
        self._control.start()
        self._load_model(s.model)

    def close(self) -> None:
        """All notes off, threads joined, ports and clock closed. Safe to call twice."""
        if self._closing.is_set():
            return
        self._closing.set()
        if self._control.is_alive():
            self._control.join(2.0)
        if self.scheduler is not None and self.player is not None:
            self.scheduler.close()  # the thread has ended: nothing can start a note any more
            self.player.stop()  # note-offs for what sounds, All Notes Off, MIDI clock Stop
        if self.worker is not None:
            self.worker.close()
        if self._midi is not None:
            self._midi.set_callback(None)
            self._midi.close()
        self._clock.close()

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plumbing --------------------------------------------------------------------------------
    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        self._commands.put((fn, args))

    def _control_loop(self) -> None:
        last_poll = 0.0
        while not self._closing.is_set():
            try:
                fn, args = self._commands.get(timeout=0.02)
            except queue.Empty:
                fn = None
            if fn is not None:
                try:
                    fn(*args)
                except (ValueError, KeyError, IndexError, OSError, RuntimeError, DrumMapError) as e:
                    self._error(str(e) or type(e).__name__)
                except Exception as e:
                    log.exception("engine command failed")
                    self._error(f"{type(e).__name__}: {e}")
            try:
                self._watch_clock()
                self._watch_follow()
                now = self._clock.now_sec()
                if now - last_poll > 1.0:
                    last_poll = now
                    for report in self._midi.poll():
                        self._error(report)
                        self._update(ports=dict(self._midi.ports))
                        self._emit("ports", dict(self._midi.ports))
            except Exception:
                log.exception("engine housekeeping failed")

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, event: str, payload: Any = None) -> None:
        for cb in list(self._subscribers):
            try:
                cb(event, payload)
            except Exception:
                log.exception("subscriber failed on %s", event)

    def _update(self, **changes: Any) -> None:
        self._snap = dataclasses.replace(self._snap, **changes)

    def _error(self, message: str) -> None:
        log.warning("%s", message)
        self._update(last_error=message)
        self._emit("error", message)

    def _sched(self, fn: Callable[[], None]) -> None:
        if self.scheduler is not None:
            self.scheduler.call(fn)

    def snapshot(self) -> EngineSnapshot:
        s, clock = self._snap, self._clock
        pos = clock.beat_at(clock.now_sec())
        bar, beat, step = playhead(pos, s.pattern.num_steps)
        return dataclasses.replace(
            s, bpm=clock.bpm, locked=clock.locked, peers=clock.peers,
            bar=bar, beat=beat, step=step, position_beats=pos, **self._snapshot_transport(),
        )

    # ---- threads other than control -------------------------------------------------------------
    def _on_note(self, note: PlayedNote) -> None:  # scheduler thread: one queue put, no more
        if self.note_sinks:
            player = self.player
            due_sec = player.clock.time_at_beat(note.beat) - player.latency_sec  # type: ignore[union-attr]
            for sink in list(self.note_sinks):
                sink(note, due_sec)
        if self._subscribers:
            self._post(self._emit, "note", note)

    def _on_midi_in(self, message: list[int], t_sec: float) -> None:  # MIDI input thread
        if not message:
            return
        clock = self._clock
        if message[0] in CLOCK_STATUSES:
            feed = getattr(clock, "feed", None)
            if feed is not None:
                feed(t_sec, message)
            return
        if clock.is_playing:
            self.capture_buffer.add(message, t_sec, clock.beat_at(t_sec))

    @command
    def set_device(self, preference: str) -> None:
        """Reload the active model on ``preference`` (auto | cpu | cuda | mps)."""
        pref = check_device_choice(preference)
        self._update(device_preference=pref)
        self._emit("settings", {"device": pref})
        self._load_model(self._snap.model_name or self.settings.model)

    def _load_model(self, name: str) -> None:
        pref = self._snap.device_preference
        self.worker.load(name, loader=lambda n: self.devices.load_main(n, pref))  # type: ignore[union-attr]

    @command
    def set_latency_ms(self, ms: float) -> None:
        value = check_latency_ms(ms)
        self._sched(lambda: self.player.set_latency_ms(value))  # type: ignore[union-attr]
        self._update(latency_ms=value)
        self._emit("settings", {"latency_ms": value})

    @command
    def set_clock_out(self, on: bool) -> None:
        on = bool(on)
        effective = on and self._snap.sync_source == "internal"
        self._sched(lambda: self.player.set_clock_out(effective))  # type: ignore[union-attr]
        self._update(clock_out=on)
        self._emit("settings", {"clock_out": on})
