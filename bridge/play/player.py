"""Playback planning: a looping Groove + a clock -> timed MIDI messages, with look-ahead.

Pure: no threads and no sleeping. ``Player.next_due_sec()`` says when something must happen
next; ``Player.fire(now_sec)`` sends everything due through ``output.send_message``. The
engine's scheduler thread sleeps to those absolute times; tests drive the very same code
with a ``FakeClock`` (``run_until``), so event lists are exact.

How time works here:
* Patterns are compiled once, when handed over (``compile_pattern``): per bar, a tuple of
  note-ons with their beat relative to the bar start (early hits of a bar's first step are
  negative). Nothing is computed per note at play time beyond one clock conversion.
* Bar ``B`` of the transport plays bar ``B mod num_bars`` of the pattern, so the loop stays
  aligned with the DAW's bars. Bar ``B`` is "expanded" (its notes queued) a guard time
  before its earliest possible note (half a 16th early, plus the latency offset); a new
  pattern handed over before that moment plays from bar ``B``: swaps happen at bar
  boundaries only, and the early hits of the new pattern's downbeat play on time.
* Queued events are kept in beats and converted with ``clock.time_at_beat`` when due, so a
  tempo change (or a follower's new estimate) moves every note not yet sent.
* Every note-on gets its note-off one 16th later; a pitch struck again while sounding is
  first released; stop and close release what sounds and send All Notes Off (CC 123).
* ``hold``: under an external clock, the user's stop silences the player (as a stop) while
  the clock runs on; released, it starts again at a given bar line.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass

from bridge.clock.base import Clock
from bridge.clock.midi_out import ClockOut
from bridge.midi.port import MidiOutput
from models.drum_maps import GM, NUM_CLASSES
from models.groove import BEATS_PER_BAR, EARLY_BEATS, STEPS_PER_BAR, STEPS_PER_QUARTER, Groove

NOTE_BEATS = 1.0 / STEPS_PER_QUARTER  # every note lasts one 16th
_OFF, _ON = 0, 1  # at equal beats note-offs go first so they never cut a new note


@dataclass(frozen=True)
class PlayedNote:
    """A note-on that was sent (for the "note" event and OSC output)."""

    drum_class: int
    pitch: int
    velocity: int
    beat: float  # transport beat it was meant for (latency offset not included)


@dataclass(frozen=True)
class CompiledPattern:
    groove: Groove
    source: str
    # Per pattern bar: (beat relative to bar start, drum class, MIDI velocity 1-127), sorted.
    bars: tuple[tuple[tuple[float, int, int], ...], ...]

    @property
    def num_bars(self) -> int:
        return len(self.bars)


def compile_pattern(groove: Groove, source: str = "") -> CompiledPattern:
    """Pre-compute the note-ons of every bar (done once per pattern, off the hot path)."""
    num_bars = max(1, groove.num_bars)
    per_bar: list[list[tuple[float, int, int]]] = [[] for _ in range(num_bars)]
    # A hit with velocity 0 would be a note-off on the wire: play it as softly as possible.
    for s, k, off, vel in groove.notes(min_velocity=1):
        bar = s // STEPS_PER_BAR
        beat_in_bar = (s - bar * STEPS_PER_BAR - off) / STEPS_PER_QUARTER
        per_bar[bar].append((beat_in_bar, k, vel))
    bars = tuple(tuple(sorted(b)) for b in per_bar)
    return CompiledPattern(groove, source, bars)


class Player:
    """Loops a compiled pattern against a clock; see the module docstring for timing rules."""

    def __init__(
        self,
        clock: Clock,
        output: MidiOutput,
        *,
        channel: int = 9,
        out_pitches: tuple[int, ...] = GM.output_pitches,
        latency_ms: float = 0.0,
        guard_sec: float = 0.03,
        clock_out: bool = False,
        on_note: Callable[[PlayedNote], None] | None = None,
        on_swap: Callable[[CompiledPattern, int], None] | None = None,
    ) -> None:
        self.clock = clock
        self.output = output
        self.channel = channel
        self.out_pitches = tuple(out_pitches)
        self.latency_sec = latency_ms / 1000.0
        self.guard_sec = guard_sec
        self.clock_out = clock_out
        self.on_note = on_note
        self.on_swap = on_swap
        self.mutes: tuple[bool, ...] = (False,) * NUM_CLASSES
        self.current: CompiledPattern | None = None
        self.pending: CompiledPattern | None = None
        self.running = False
        self._next_bar = 0
        self._heap: list[tuple[float, int, int, int, int, int]] = []  # beat, kind, seq, cls, pitch, vel
        self._seq = 0
        self._active: dict[int, int] = {}  # pitch -> seq of the note-on now sounding
        self._clock_msgs = ClockOut()  # MIDI clock out: its bytes and tick beats (bridge.clock.midi_out)
        self._cues: list[tuple[float, int, list[int]]] = []  # (beat, 0 = note-off first, message)
        self._min_beat = -math.inf  # events before the transport start are dropped
        self.held = False  # silenced by the user while an external clock runs (MIDI / Link sync)
        self._join_beat: float | None = None  # where a held player starts again (a bar line)

    # ---- settings (take effect for the next event) ----------------------------------------------
    def set_pattern(self, groove: Groove | CompiledPattern | None, source: str = "") -> None:
        """Play ``groove`` from the next bar boundary (at once when stopped)."""
        compiled = groove if isinstance(groove, CompiledPattern) or groove is None else compile_pattern(groove, source)
        if self.running and self.current is not None:
            self.pending = compiled
        else:
            self.current, self.pending = compiled, None

    def set_latency_ms(self, latency_ms: float) -> None:
        self.latency_sec = latency_ms / 1000.0

    def set_mutes(self, mutes: tuple[bool, ...]) -> None:
        self.mutes = tuple(bool(m) for m in mutes)

    def set_output(self, channel: int | None = None, out_pitches: tuple[int, ...] | None = None) -> None:
        if channel is not None and channel != self.channel:
            self.release_all()
            self.channel = channel
        if out_pitches is not None:
            self.out_pitches = tuple(out_pitches)

    def set_clock_out(self, on: bool) -> None:
        if on and not self.clock_out and self.running:
            self._send_all(self._clock_msgs.start(self._send_beat(self.clock.now_sec())))
        elif not on and self.clock_out and self.running:
            self._send_all(self._clock_msgs.stop())
        self.clock_out = on

    def _send_all(self, messages: list[list[int]]) -> None:
        for message in messages:
            self.output.send_message(message)

    # ---- timing --------------------------------------------------------------------------------
    def _send_time(self, beat: float) -> float:
        return self.clock.time_at_beat(beat) - self.latency_sec

    def _send_beat(self, t_sec: float) -> float:
        """The beat whose events are sent at ``t_sec`` (the latency offset sends them early)."""
        return self.clock.beat_at(t_sec + self.latency_sec)

    def _expand_time(self, bar: int) -> float:
        return self._send_time(bar * BEATS_PER_BAR - EARLY_BEATS) - self.guard_sec

    def next_due_sec(self) -> float | None:
        """When ``fire`` must run next (monotonic seconds); None while the transport is stopped."""
        if not self.running:
            return None
        due = self._expand_time(self._next_bar)
        if self._heap:
            due = min(due, self._send_time(self._heap[0][0]))
        if self.clock_out and self._clock_msgs.playing:
            due = min(due, self._send_time(self._clock_msgs.next_tick_beat))
        if self._cues:
            due = min(due, self._send_time(self._cues[0][0]))
        return due

    # ---- the hot path ---------------------------------------------------------------------------
    def fire(self, now_sec: float) -> None:
        """Follow the clock's transport, queue bars that come into reach, send what is due."""
        playing = self.clock.is_playing and not self.held
        if playing and not self.running:
            self._start(now_sec)
        elif not playing and self.running:
            self.stop()
            return
        if not self.running:
            return
        if self._expand_time(self._next_bar) <= now_sec:
            beat_now = self._send_beat(now_sec)
            bar_now = math.floor((beat_now + EARLY_BEATS) / BEATS_PER_BAR)
            if not bar_now - 1 <= self._next_bar <= bar_now + 1:  # the clock jumped: re-locate
                self._release_notes()
                self._relocate(beat_now)
                if self.clock_out:
                    self._send_all(self._clock_msgs.relocate(beat_now))
                self._flush_cues()
            while self._expand_time(self._next_bar) <= now_sec:
                self._expand(self._next_bar, beat_now)
                self._next_bar += 1
        heap, send = self._heap, self.output.send_message
        while heap and self._send_time(heap[0][0]) <= now_sec + 1e-9:
            beat, kind, seq, cls, pitch, vel = heapq.heappop(heap)
            if kind == _OFF:
                if self._active.get(pitch) == seq:
                    del self._active[pitch]
                    send([0x80 | self.channel, pitch, 0])
                continue
            if self.mutes[cls]:
                continue
            pitch = self.out_pitches[cls]
            if pitch in self._active:  # re-struck while sounding: release first
                send([0x80 | self.channel, pitch, 0])
            send([0x90 | self.channel, pitch, vel])
            self._active[pitch] = seq
            heapq.heappush(heap, (beat + NOTE_BEATS, _OFF, seq, cls, pitch, 0))
            if self.on_note is not None:
                self.on_note(PlayedNote(cls, pitch, vel, beat))
        cues = self._cues
        while cues and self._send_time(cues[0][0]) <= now_sec + 1e-9:
            beat, kind, message = cues.pop(0)
            if kind == _OFF or self._send_time(beat) > now_sec - self.guard_sec:  # never a late click
                send(message)
        clock_msgs = self._clock_msgs
        if self.clock_out and clock_msgs.playing:
            while self._send_time(clock_msgs.next_tick_beat) <= now_sec + 1e-9:
                send(clock_msgs.tick())

    def _expand(self, bar: int, beat_now: float) -> None:
        if self.pending is not None:
            self.current, self.pending = self.pending, None
            if self.on_swap is not None:
                self.on_swap(self.current, bar)
        pattern = self.current
        if pattern is None or not pattern.num_bars:
            return
        base = bar * BEATS_PER_BAR
        for beat_in_bar, cls, vel in pattern.bars[bar % pattern.num_bars]:
            beat = base + beat_in_bar
            if beat < self._min_beat or beat < beat_now - 1e-6:  # never play a note late
                continue
            self._seq += 1
            heapq.heappush(self._heap, (beat, _ON, self._seq, cls, 0, vel))

    # ---- cues: one-off messages at transport beats (the count-in click) ------------------------
    def set_cues(self, cues: list[tuple[float, list[int]]]) -> None:
        """Send each ``(beat, message)`` at its beat, timed like the notes (clock, latency).

        Replaces the cues not sent yet, except note-offs (a cued note that sounds is still
        released); a stop or a jump sends pending note-offs and drops the rest."""
        kept = self._sounding_offs()
        new = [(float(b), _OFF if m[0] & 0xF0 == 0x80 else _ON, list(m)) for b, m in cues]
        self._cues = sorted(kept + new, key=lambda c: (c[0], c[1]))

    def _sounding_offs(self) -> list[tuple[float, int, list[int]]]:
        """The cued note-offs whose note-on was sent (one still queued never sounded)."""
        offs, queued = [], set()
        for cue in self._cues:  # in time order
            key = (cue[2][0] & 0x0F, cue[2][1])
            if cue[1] == _ON:
                queued.add(key)
            elif key in queued:
                queued.discard(key)
            else:
                offs.append(cue)
        return offs

    def _flush_cues(self) -> None:
        offs, self._cues = self._sounding_offs(), []
        self._send_all([m for _, _, m in offs])

    # ---- transport -------------------------------------------------------------------------------
    def _relocate(self, beat: float) -> None:
        self._min_beat = beat - 1e-6
        self._next_bar = max(0, math.floor((beat + EARLY_BEATS) / BEATS_PER_BAR))
        self._heap[:] = [e for e in self._heap if e[1] == _OFF]
        heapq.heapify(self._heap)

    def hold(self, held: bool, join_beat: float | None = None) -> None:
        """Silence (``held``) or release the player while the clock runs on; released, it
        starts at ``join_beat`` (a bar line) if that is still ahead, else where the clock is."""
        self.held = held
        self._join_beat = None if held else join_beat

    def _start(self, now_sec: float) -> None:
        beat = self._send_beat(now_sec)
        join, self._join_beat = self._join_beat, None
        self._heap.clear()
        self._relocate(beat if join is None or join - EARLY_BEATS <= beat else join - EARLY_BEATS)
        self.running = True
        if self.clock_out:  # Start, or SPP + Continue on the next 16th (bridge.clock.midi_out)
            self._send_all(self._clock_msgs.start(beat, now_sec - self._send_time(0.0)))

    def stop(self) -> None:
        """Transport stopped: release sounding notes, All Notes Off, clock Stop."""
        was_running = self.running
        self.running = False
        self._heap.clear()
        if self.pending is not None:
            self.current, self.pending = self.pending, None
        self.release_all()
        self._flush_cues()
        clock_stop = self._clock_msgs.stop()
        if was_running and self.clock_out:
            self._send_all(clock_stop)

    def _release_notes(self) -> None:
        for pitch in list(self._active):
            self.output.send_message([0x80 | self.channel, pitch, 0])
        self._active.clear()
        self._heap[:] = [e for e in self._heap if e[1] != _OFF]
        heapq.heapify(self._heap)

    def release_all(self) -> None:
        """Note-off for every sounding note, then All Notes Off on the channel."""
        self._release_notes()
        self.output.send_message([0xB0 | self.channel, 123, 0])

    @property
    def sounding(self) -> int:
        return len(self._active)

    # ---- for tests and offline rendering -----------------------------------------------------
    def run_until(self, t_end_sec: float, sleep_until: Callable[[float], None]) -> None:
        """Drive ``fire`` up to ``t_end_sec`` with a clock whose time moves on ``sleep_until``."""
        self.fire(self.clock.now_sec())
        while True:
            due = self.next_due_sec()
            if due is None or due > t_end_sec:
                sleep_until(t_end_sec)
                self.fire(self.clock.now_sec())
                return
            sleep_until(due)
            self.fire(self.clock.now_sec())
