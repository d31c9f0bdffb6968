"""The live engine: commands in, MIDI notes out, state snapshots and events for the views.

``Engine`` is the facade: it owns the lifecycle and the threads and composes the collaborators
that do the work, each with explicit dependencies (``context.EngineContext``, shared, at the
bottom): ``transport.Transport`` (play/stop/tempo/sync), ``patterns.Patterns`` (the playing
pattern, slots, mutes), ``capture.Capture``, ``connections.Connections`` (ports, drum maps),
``attributes.Attributes``, ``model_commands.ModelCommands`` (with ``device.DevicePlacer``),
``follow.Follow``. Its public methods are exactly ``api.EngineCommands`` (what OSC and the GUI
call) plus ``start``/``close``; an ``@command`` method only queues its body for the control
thread (``command.py``).

Threads (docs/architecture.md): the control thread runs the commands in order, owns the state
and publishes ``EngineSnapshot`` + events (subscriber callbacks run on it: keep them short);
the scheduler thread (``bridge.play.thread``) owns the ``Player``; the generation worker
(``generation.py``) owns the model and its latent cache; the MIDI input reader feeds clock
bytes to a MIDI-clock follower and notes to the capture buffer with the clock's beat.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bridge.clock.base import Clock
from bridge.engine.attributes import Attributes
from bridge.engine.capture import Capture, CaptureBuffer
from bridge.engine.command import command
from bridge.engine.connections import Connections, _NullMidi
from bridge.engine.context import Callback, EngineContext
from bridge.engine.device import DevicePlacer, default_model_loader
from bridge.engine.follow import Follow
from bridge.engine.generation import GenerationWorker
from bridge.engine.model_commands import ModelCommands
from bridge.engine.patterns import Patterns
from bridge.engine.snapshot import EngineSnapshot, playhead
from bridge.engine.transport import Transport, make_clock
from bridge.midi.port import MidiPort
from bridge.play.player import PlayedNote, Player
from bridge.play.thread import SchedulerThread
from bridge.settings import Settings
from models.drum_maps import DrumMapError, get_drum_map
from models.groove import Groove
from models.protocols import GrooveModelLike

log = logging.getLogger(__name__)
CLOCK_STATUSES = frozenset((0xF8, 0xFA, 0xFB, 0xFC, 0xF2))


class Engine:
    def __init__(
        self,
        settings: Settings | None = None,
        model_loader: Callable[..., GrooveModelLike] | None = None,
        midi: MidiPort | None = None,
        clock: Clock | None = None,
        *,
        auto_sample: bool = True,
        spin_sec: float = 0.0015,
    ) -> None:
        self.settings = s = settings or Settings()
        clock = clock or make_clock(s.sync, s, s.bpm)
        self.ctx = ctx = EngineContext(s, clock, EngineSnapshot(
            bpm=clock.bpm, sync_source=s.sync, temperature=s.temperature, num_variations=s.num_variations,
            latency_ms=s.latency_ms, clock_out=s.clock_out, model_name=s.model,
            input_drum_map=s.input_drum_map, output_drum_map=s.output_drum_map, input_mode=s.input_mode,
            device_preference=s.device,
        ))
        ctx.midi = midi
        self._loader = model_loader or default_model_loader
        self._spin_sec = spin_sec
        # Note taps (bridge.audio.preview): called on the scheduler thread with each note sent and the
        # monotonic time it was due on the wire (its beat's time less the latency offset). Keep short.
        self.note_sinks: list[Callable[[PlayedNote, float], None]] = []
        self.capture_buffer = CaptureBuffer(get_drum_map(s.input_drum_map), s.midi_input_channels, mode=s.input_mode)
        # where models load (runs on the generation worker)
        self.devices = DevicePlacer(self._loader, report_error=lambda text: ctx.post(ctx.error, text),
                                    drop_helpers=lambda: ctx.worker.drop_helpers() if ctx.worker else None)
        self.transport = Transport(ctx)
        self.patterns = Patterns(ctx)
        self.capturer = Capture(ctx, self.capture_buffer, self.patterns, self.transport)
        self.connections = Connections(ctx, self.capture_buffer)
        self.attributes = Attributes(ctx, self.patterns)
        self.models = ModelCommands(ctx, self.patterns, self.attributes, self.devices, auto_sample=auto_sample)
        self.follow = Follow(ctx, self.patterns, self.capture_buffer)
        self._closing = threading.Event()
        self._started = False
        self._control = threading.Thread(target=self._control_loop, name="groovebridge-control", daemon=True)

    # ---- handles (the context's) -----------------------------------------------------------------
    @property
    def _clock(self) -> Clock:
        return self.ctx.clock

    @property
    def _midi(self) -> MidiPort | None:
        return self.ctx.midi

    @property
    def player(self) -> Player | None:
        return self.ctx.player

    @property
    def scheduler(self) -> SchedulerThread | None:
        return self.ctx.scheduler

    @property
    def worker(self) -> GenerationWorker | None:
        return self.ctx.worker

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Open MIDI, start the threads, load the model."""
        if self._started:
            return
        self._started = True
        ctx, s = self.ctx, self.settings
        if ctx.midi is None:
            from bridge.midi.ports import MidiPortError, open_midi

            try:
                ctx.midi = open_midi(s)
            except MidiPortError as e:
                ctx.midi = _NullMidi()
                ctx.update(last_error=str(e))
        ctx.player = Player(
            ctx.clock, ctx.midi, channel=s.midi_output_channel - 1,
            out_pitches=get_drum_map(s.output_drum_map).output_pitches, latency_ms=s.latency_ms,
            clock_out=s.clock_out and s.sync == "internal", on_note=self._on_note,
        )
        # A short GIL switch interval bounds how long torch's thread can keep the scheduler waiting.
        sys.setswitchinterval(s.switch_interval_ms / 1000.0)
        ctx.scheduler = SchedulerThread(ctx.player, spin_sec=self._spin_sec, realtime_priority=s.realtime_priority)
        ctx.scheduler.start()
        self.transport.attach(ctx.clock)
        ctx.worker = GenerationWorker(self.devices.load_helper, self.models.on_model_state)
        ctx.midi.set_callback(self._on_midi_in)
        self.capture_buffer.refine = getattr(ctx.midi, "refine_time", None)
        ctx.update(ports=dict(ctx.midi.ports))
        self._control.start()
        self.models.load_model(s.model)

    def close(self) -> None:
        """All notes off, threads joined, ports and clock closed. Safe to call twice."""
        if self._closing.is_set():
            return
        self._closing.set()
        ctx = self.ctx
        if self._control.is_alive():
            self._control.join(2.0)
        if ctx.scheduler is not None and ctx.player is not None:
            ctx.scheduler.close()  # the thread has ended: nothing can start a note any more
            ctx.player.stop()  # note-offs for what sounds, All Notes Off, MIDI clock Stop
        if ctx.worker is not None:
            ctx.worker.close()
        if ctx.midi is not None:
            ctx.midi.set_callback(None)
            ctx.midi.close()
        ctx.clock.close()

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the control thread ------------------------------------------------------------------------
    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        self.ctx.post(fn, *args)

    def _control_loop(self) -> None:
        ctx = self.ctx
        while not self._closing.is_set():
            try:
                fn, args = ctx.commands.get(timeout=0.02)
            except queue.Empty:
                fn = None
            if fn is not None:
                try:
                    fn(*args)
                except (ValueError, KeyError, IndexError, OSError, RuntimeError, DrumMapError) as e:
                    ctx.error(str(e) or type(e).__name__)
                except Exception as e:
                    log.exception("engine command failed")
                    ctx.error(f"{type(e).__name__}: {e}")
            try:
                self.transport.watch()
                self.capturer.watch()
                self.follow.watch()
                self.connections.poll()
            except Exception:
                log.exception("engine housekeeping failed")

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        return self.ctx.subscribe(callback)

    def snapshot(self) -> EngineSnapshot:
        s, clock = self.ctx.snap, self.ctx.clock
        pos = clock.beat_at(clock.now_sec())
        bar, beat, step = playhead(pos, s.pattern.num_steps)
        return dataclasses.replace(
            s, bpm=clock.bpm, locked=clock.locked, peers=clock.peers, bar=bar, beat=beat, step=step,
            position_beats=pos, capture=self.capturer.state, **self.transport.snapshot_fields(),
        )

    # ---- threads other than control -------------------------------------------------------------
    def _on_note(self, note: PlayedNote) -> None:  # scheduler thread: one queue put, no more
        ctx = self.ctx
        if self.note_sinks:
            player = ctx.player
            due_sec = player.clock.time_at_beat(note.beat) - player.latency_sec  # type: ignore[union-attr]
            for sink in list(self.note_sinks):
                sink(note, due_sec)
        if ctx.subscribers:
            ctx.post(ctx.emit, "note", note)

    def _on_midi_in(self, message: list[int], t_sec: float) -> None:  # MIDI input thread
        if not message:
            return
        clock = self.ctx.clock
        if message[0] in CLOCK_STATUSES:
            feed = getattr(clock, "feed", None)
            if feed is not None:
                feed(t_sec, message)
            return
        if clock.is_playing:
            self.capture_buffer.add(message, t_sec, clock.beat_at(t_sec))

    # ---- the commands (bridge.engine.api.EngineCommands): each runs on the control thread ---------
    # transport and clock (bridge.engine.transport)
    @command
    def play(self) -> None:
        self.transport.play()

    @command
    def stop(self) -> None:
        self.transport.stop()

    @command
    def set_tempo(self, bpm: float) -> None:
        self.transport.set_tempo(bpm)

    @command
    def set_sync_source(self, source: str) -> None:
        self.transport.set_sync_source(source)

    @command
    def set_latency_ms(self, ms: float) -> None:
        self.transport.set_latency_ms(ms)

    @command
    def set_clock_out(self, on: bool) -> None:
        self.transport.set_clock_out(on)

    # patterns, slots, mutes (bridge.engine.patterns)
    def set_pattern(self, groove: Groove, source: str = "edit") -> None:
        if not isinstance(groove, Groove):  # the caller's mistake: raised in the caller's thread
            raise TypeError("set_pattern needs a Groove")
        self._post(self.patterns.set_pattern, groove, source)

    def load_slot(self, slot: str, groove: Groove) -> None:
        self._post(self.patterns.set_slot, slot, groove)

    @command
    def load_slot_file(self, slot: str, path: str | Path) -> None:
        self.patterns.load_slot_file(slot, path)

    @command
    def swap_slots(self) -> None:
        self.patterns.swap_slots()

    @command
    def play_slot(self, slot: str) -> None:
        self.patterns.play_slot(slot)

    @command
    def set_mute(self, drum_class: int, muted: bool) -> None:
        self.patterns.set_mute(drum_class, muted)

    # capture (bridge.engine.capture)
    @command
    def capture(self, slot: str = "A", mode: str = "last", count_in_bars: int = 0) -> None:
        self.capturer.capture(slot, mode, count_in_bars)

    @command
    def set_input_mode(self, mode: str) -> None:
        self.capturer.set_input_mode(mode)

    # ports and drum maps (bridge.engine.connections)
    @command
    def set_input_port(self, name: str) -> None:
        self.connections.set_input_port(name)

    @command
    def set_output_port(self, name: str) -> None:
        self.connections.set_output_port(name)

    @command
    def set_drum_maps(self, input: str | None = None, output: str | None = None) -> None:  # noqa: A002
        self.connections.set_drum_maps(input, output)

    # the model (bridge.engine.model_commands)
    @command
    def set_model(self, name_or_path: str) -> None:
        self.models.set_model(name_or_path)

    @command
    def set_device(self, preference: str) -> None:
        self.models.set_device(preference)

    @command
    def set_temperature(self, temperature: float) -> None:
        self.models.set_temperature(temperature)

    @command
    def set_num_variations(self, n: int) -> None:
        self.models.set_num_variations(n)

    @command
    def sample(self, n: int | None = None, temperature: float | None = None) -> None:
        self.models.sample(n, temperature)

    @command
    def sample_slot(self, slot: str, temperature: float | None = None) -> None:
        self.models.sample_slot(slot, temperature)

    @command
    def select_variation(self, index: int) -> None:
        self.models.select_variation(index)

    @command
    def set_interpolation(self, position: float) -> None:
        self.models.set_interpolation(position)

    @command
    def humanize(self, amount: float = 1.0) -> None:
        self.models.humanize(amount)

    @command
    def reconstruct(self) -> None:
        self.models.reconstruct()

    @command
    def drumify(self, source: str = "pattern") -> None:
        self.models.drumify(source)

    @command
    def save_pattern(self, path: str | Path) -> None:
        self.models.save_pattern(path)

    @command
    def save_variations(self, directory: str | Path) -> None:
        self.models.save_variations(directory)

    # attributes (bridge.engine.attributes)
    @command
    def set_attribute(self, name: str, value: float) -> None:
        self.attributes.set_attribute(name, value)

    @command
    def set_attributes(self, values: Mapping[str, float]) -> None:
        self.attributes.set_attributes(values)

    @command
    def reset_attributes(self) -> None:
        self.attributes.reset_attributes()

    # follow mode (bridge.engine.follow)
    @command
    def set_follow(self, on: bool) -> None:
        self.follow.set_follow(on)

    @command
    def set_follow_source(self, source: str) -> None:
        self.follow.set_follow_source(source)

    @command
    def set_follow_every(self, bars: int) -> None:
        self.follow.set_follow_every(bars)

    @command
    def set_follow_bars(self, bars: int) -> None:
        self.follow.set_follow_bars(bars)

    @command
    def set_follow_amount(self, amount: float) -> None:
        self.follow.set_follow_amount(amount)

    @command
    def set_follow_temperature(self, temperature: float) -> None:
        self.follow.set_follow_temperature(temperature)
