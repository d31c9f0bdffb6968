"""Capture, whole: live input -> rolling buffer of drum hits -> a quantised 4-bar Groove in a slot.

``Capture`` (a collaborator of the engine; its commands run on the control thread) takes
"the last 4 bars" at once or arms "record the next 4 bars" (with an optional audible count-in),
finishes or cancels an armed recording from the clock watch, and owns the capture state: the
snapshot's ``capture`` field is read from it, never kept anywhere else.

The MIDI input thread calls ``CaptureBuffer.add`` with each message, its arrival time and
the beat the active clock gave for that time (so a groove played against MIDI clock or Link
keeps its feel). Note-ons on the accepted channels whose pitch the input drum map knows are
kept for ``max_age_sec``. In "rhythm" input ``mode`` every note-on on those channels is kept,
whatever its pitch, as a hit of ``RHYTHM_CLASS`` (a tap for Drumify: velocity and timing
kept); the mode applies to notes arriving after it is set. ``last_bars`` quantises the last complete bars; ``window``
quantises any span (used for "record the next 4 bars" once it has been played). Hits played
up to half a 16th before the window's first downbeat belong to it (early hits); hits that
round onto the step after the window belong to the next window.

``count_in_clicks`` is the audible count-in before a "record the next bars": one click per
beat of the count-in bars (accented on each bar's beat 1), as ``(beat, message)`` cues that
the engine hands to the ``Player`` (``Player.set_cues``), so they are timed like the notes.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge.commands import check_capture_mode, check_input_mode, check_slot
from bridge.engine.context import EngineContext
from bridge.engine.patterns import Patterns
from bridge.engine.transport import Transport
from models.drum_maps import DrumMap
from models.groove import (
    BEATS_PER_BAR,
    EARLY_BEATS,
    STEPS_PER_BAR,
    DrumHit,
    Groove,
    quantize,
)

if TYPE_CHECKING:
    from bridge.settings import Settings

CAPTURE_BARS = 4
RHYTHM_CLASS = 0  # rhythm input: every note-on is a tap, captured on this class (kick)


@dataclass(frozen=True)
class TimedHit:
    t_sec: float
    beat: float
    drum_class: int
    velocity: int
    pitch: int


@dataclass(frozen=True)
class Recording:
    """An armed "record the next bars": play from ``start_beat`` to ``end_beat``."""

    slot: str
    start_beat: float
    end_beat: float

    @property
    def done_beat(self) -> float:
        """When the window is complete: a late hit of its last step may still arrive until then."""
        return self.end_beat + EARLY_BEATS


@dataclass(frozen=True)
class Click:
    """The count-in click's sound (``Settings.click_*``); channel 1-16."""

    note: int = 37  # GM side stick
    channel: int = 10
    velocity: int = 90
    accent_velocity: int = 127
    length_beats: float = 0.125  # note-off a 32nd later

    @classmethod
    def from_settings(cls, settings: Settings) -> Click:
        return cls(settings.click_note, settings.click_channel, settings.click_velocity,
                   settings.click_accent_velocity)


def count_in_clicks(rec: Recording, count_in_bars: int, click: Click = Click()) -> list[tuple[float, list[int]]]:
    """Note-on / note-off cues on every beat of the ``count_in_bars`` bars before ``rec``."""
    status = click.channel - 1
    first = rec.start_beat - max(0, count_in_bars) * BEATS_PER_BAR
    cues: list[tuple[float, list[int]]] = []
    for i in range(max(0, count_in_bars) * BEATS_PER_BAR):
        beat = first + i
        velocity = click.accent_velocity if i % BEATS_PER_BAR == 0 else click.velocity
        cues.append((beat, [0x90 | status, click.note, velocity]))
        cues.append((beat + click.length_beats, [0x80 | status, click.note, 0]))
    return cues


def next_recording(slot: str, now_beat: float, count_in_bars: int = 0, num_bars: int = CAPTURE_BARS) -> Recording:
    """Recording of ``num_bars`` from the next bar line after ``count_in_bars`` bars."""
    start_bar = math.floor(now_beat / BEATS_PER_BAR + 1e-9) + 1 + max(0, count_in_bars)
    start = start_bar * BEATS_PER_BAR
    return Recording(slot, start, start + num_bars * BEATS_PER_BAR)




class CaptureBuffer:
    """Thread-safe rolling buffer of mapped input hits."""

    def __init__(self, input_map: DrumMap, channels: tuple[int, ...] = (), max_age_sec: float = 120.0,
                 mode: str = "drums") -> None:
        self.input_map = input_map
        self.mode = check_input_mode(mode)  # "drums": through input_map | "rhythm": every note-on a tap
        self.channels = frozenset(c - 1 for c in channels)  # 1-16 -> 0-15; empty = all
        self.max_age_sec = max_age_sec
        self._hits: deque[TimedHit] = deque()
        # re-stamps an input time with the input's best clock anchor (MidiIO.refine_time)
        self.refine: Callable[[float], float] | None = None
        self._lock = threading.Lock()

    def accepts(self, message: list[int]) -> bool:
        return (
            len(message) == 3
            and message[0] & 0xF0 == 0x90
            and message[2] > 0
            and (not self.channels or (message[0] & 0x0F) in self.channels)
        )

    def add(self, message: list[int], t_sec: float, beat: float) -> TimedHit | None:
        """Keep a note-on if its channel and pitch are accepted; returns the stored hit."""
        if not self.accepts(message):
            return None
        drum_class = RHYTHM_CLASS if self.mode == "rhythm" else self.input_map.class_of(message[1])
        if drum_class is None:
            return None
        hit = TimedHit(t_sec, beat, drum_class, int(message[2]), int(message[1]))
        with self._lock:
            self._hits.append(hit)
            while self._hits and self._hits[0].t_sec < t_sec - self.max_age_sec:
                self._hits.popleft()
        return hit

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()

    def hits(self) -> list[TimedHit]:
        with self._lock:
            return list(self._hits)

    def window(self, start_beat: float, num_bars: int = CAPTURE_BARS, bpm: float = 120.0) -> Groove:
        """Quantise the hits of ``num_bars`` bars from ``start_beat`` onto a 16th grid."""
        end_beat = start_beat + num_bars * BEATS_PER_BAR
        rel = [
            DrumHit(beat - start_beat, h.drum_class, h.velocity)
            for h in self.hits()
            if start_beat - EARLY_BEATS <= (beat := self._refined_beat(h, bpm)) < end_beat
        ]
        return quantize(rel, num_bars * STEPS_PER_BAR, bpm)

    def _refined_beat(self, hit: TimedHit, bpm: float) -> float:
        """The hit's beat, moved by what refining its arrival time moves it (a first hit after a
        silence was read late: the anchor known now is better)."""
        refine = self.refine
        if refine is None:
            return hit.beat
        return hit.beat + (refine(hit.t_sec) - hit.t_sec) * bpm / 60.0

    def last_bars(self, now_beat: float, num_bars: int = CAPTURE_BARS, bpm: float = 120.0) -> Groove:
        """The last ``num_bars`` complete bars before ``now_beat``."""
        end_bar = math.floor(now_beat / BEATS_PER_BAR + 1e-9)
        return self.window((end_bar - num_bars) * BEATS_PER_BAR, num_bars, bpm)


class Capture:
    """Capture commands and the state of an armed recording (control thread)."""

    def __init__(self, ctx: EngineContext, buffer: CaptureBuffer, patterns: Patterns, transport: Transport) -> None:
        self._ctx = ctx
        self.buffer = buffer
        self._patterns = patterns
        self._transport = transport
        self._armed: tuple[Recording, str] | None = None  # (the recording, "count-in" | "recording")
        self._was_playing = False

    @property
    def state(self) -> str:
        """"idle", "count-in" (armed, before its first bar) or "recording"."""
        armed = self._armed  # one read: consistent from any thread
        return "idle" if armed is None else armed[1]

    @property
    def recording(self) -> Recording | None:
        armed = self._armed
        return None if armed is None else armed[0]

    def capture(self, slot: str = "A", mode: str = "last", count_in_bars: int = 0) -> None:
        ctx = self._ctx
        key = check_slot(slot)
        mode = check_capture_mode(mode)
        clock = ctx.clock
        if not clock.is_playing:
            raise ValueError(f"capture needs the transport running: {self._transport.hint()}")
        beat = ctx.beat_now()
        if mode == "last":
            groove = self.buffer.last_bars(beat, bpm=clock.bpm)
            if groove.num_hits == 0:
                raise ValueError("nothing was played in the last 4 complete bars")
            self._patterns.set_slot(key, groove)
            ctx.emit("capture", {"state": "done", "slot": key, "hits": groove.num_hits})  # /capture echoes
        elif mode == "next":
            bars = int(count_in_bars)
            rec = next_recording(key, beat, bars)
            if ctx.settings.click_enabled and bars > 0:  # audible count-in
                clicks = count_in_clicks(rec, bars, Click.from_settings(ctx.settings))
                ctx.sched(lambda player: player.set_cues(clicks))
            self._armed = (rec, "count-in")
            ctx.emit("capture", {"state": "armed", "slot": key, "start_bar": int(rec.start_beat // 4) + 1})

    def set_input_mode(self, mode: str) -> None:
        """Capture input: "drums" (notes through the input drum map) or "rhythm" (every note-on
        on the input channels is a tap, whatever its pitch: for drumify). Applies to notes
        played from now on."""
        name = check_input_mode(mode)
        self.buffer.mode = name
        self._ctx.update(input_mode=name)
        self._ctx.emit("settings", {"input_mode": name})

    def watch(self) -> None:
        """After the transport's watch: a start clears the buffer (what was played before is
        not part of this take); an armed recording starts, finishes into its slot, or is
        cancelled when the clock stops."""
        ctx = self._ctx
        playing = self._transport.playing
        if playing and not self._was_playing:
            self.buffer.clear()
        self._was_playing = playing
        armed = self._armed
        if armed is None:
            return
        rec, phase = armed
        clock = ctx.clock
        if not clock.is_playing:
            self._armed = None
            ctx.emit("capture", {"state": "cancelled", "slot": rec.slot})
            return
        beat = ctx.beat_now()
        if beat >= rec.done_beat:
            self._armed = None
            groove = self.buffer.window(rec.start_beat, bpm=clock.bpm)
            if groove.num_hits == 0:  # an empty take never replaces the slot (as "last" refuses)
                ctx.emit("capture", {"state": "cancelled", "slot": rec.slot})
                ctx.error(f"nothing was played in the {CAPTURE_BARS} recorded bars: slot {rec.slot} kept")
                return
            ctx.emit("capture", {"state": "done", "slot": rec.slot, "hits": groove.num_hits})
            self._patterns.set_slot(rec.slot, groove)
        elif beat >= rec.start_beat - EARLY_BEATS and phase != "recording":
            self._armed = (rec, "recording")
            ctx.emit("capture", {"state": "recording", "slot": rec.slot})
