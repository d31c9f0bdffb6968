"""MIDI files <-> ``Groove``: tempo-map aware reading, DAW-friendly writing.

Reading (``read_midi``) uses the fast byte reader in ``models.midi.smf`` (checked against mido on
all of GMD). Note-on ticks become beats (tick / ticks_per_beat), so tempo changes never move a
note on the grid; the first tempo is kept as the groove's bpm (120 when there is none) and the
whole tempo map is kept for millisecond figures. Rules:

* Drum notes are read from channel 10 (9 zero-based) unless ``channels`` names others. A file
  with notes but none on channel 10 is an error that names the channels that do have notes.
* A velocity-0 note-on is a note-off (mido's convention), so it is not a hit.
* Pitches the drum map does not know are counted in ``unknown_pitches``, never fatal.
* Every bar must be 16 sixteenths: a time signature num/den with 16*num/den != 16 (3/4, 6/8,
  5/4, ...) anywhere in the file is an error (reason ``time_signature``). (Preprocessing keeps
  the 4/4 parts of such files instead: ``models.midi.meter``.)
* Loop-exact files: a groove of N bars is written as exactly N bars (end of track on the bar
  line), as a DAW loops it. A hit played early on the downbeat (before step 0) goes at the end
  of the clip, where the looping DAW plays it just before the next pass's downbeat
  (``early_hits="wrap"``, the default), or on the downbeat itself (``"clamp"``). Reading, a hit
  within half a 16th before the end of a file that ends on a bar line is that downbeat, played
  early: MIDI -> groove -> MIDI -> groove is exact. Files written by earlier versions put such
  grooves one bar later behind a ``groovebridge:origin`` marker; the reader still honours it.

Writing (``write_midi``) makes a type-0 file at 480 ticks per beat with a tempo, a 4/4 time
signature, one-16th notes (shortened so a note never overlaps the next note of its pitch),
velocities clamped to 1..127 (a velocity-0 note-on would be a note-off), written atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import mido
import numpy as np

from models.atomic_io import atomic_write
from models.drum_maps import NUM_CLASSES, DrumMap, DrumMapError, get_drum_map
from models.groove import STEPS_PER_BAR, STEPS_PER_QUARTER, Groove, quantize_arrays
from models.midi.smf import SmfError, SmfEvents, read_smf

ORIGIN_MARKER = "groovebridge:origin"
DRUM_CHANNEL = 9  # zero-based: MIDI channel 10
WRITE_TICKS_PER_BEAT = 480
EARLY_HITS = ("wrap", "clamp")
MAX_BARS = 10_000  # ~5.5 h at 120 bpm; longer "files" are hostile or broken


class MidiFileError(ValueError):
    """A MIDI file cannot give a groove. ``reason`` is a short code for reports:
    corrupt, no_drum_notes, time_signature, too_long, too_short, window."""

    def __init__(self, message: str, reason: str = "corrupt") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class MidiRead:
    """A whole file as one groove (T a multiple of 16) plus what was learnt reading it."""

    groove: Groove
    bpm: float  # first tempo of the file (120 if none)
    unknown_pitches: dict[int, int]  # pitch -> count of notes the drum map does not know
    channel_used: int  # zero-based drum channel (the lowest one when several were read)
    channels_used: tuple[int, ...] = ()
    tempo_map: tuple[tuple[float, float], ...] = ((0.0, 120.0),)  # (beat, bpm), origin-relative
    ticks_per_beat: int = 480
    num_notes: int = 0  # drum-map notes on the channels read
    origin_beats: float = 0.0  # beats subtracted because of a groovebridge:origin marker
    dropped_before_start: int = 0  # notes more than half a 16th before the origin
    time_signatures: tuple[tuple[float, int, int], ...] = field(default=())  # (beat, num, den)

    def beats_to_sec(self, beats: float) -> float:
        """Seconds from the groove's step 0 to ``beats`` (negative before it), per the tempo map."""
        return self._sec_at(beats) - self._sec_at(0.0)

    def _sec_at(self, beats: float) -> float:
        first_beat, first_bpm = self.tempo_map[0]
        if beats <= first_beat:
            return (beats - first_beat) * 60.0 / first_bpm
        sec = 0.0
        for i, (b0, bpm) in enumerate(self.tempo_map):
            b1 = self.tempo_map[i + 1][0] if i + 1 < len(self.tempo_map) else float("inf")
            if beats <= b0:
                break
            sec += (min(beats, b1) - b0) * 60.0 / bpm
        return sec


def channel_list(channels: int | list[int] | tuple[int, ...] | None) -> tuple[int, ...] | None:
    if channels is None:
        return None
    chans = (channels,) if isinstance(channels, int) else tuple(channels)
    for c in chans:
        if not isinstance(c, int) or not 0 <= c <= 15:
            raise MidiFileError(f"channel {c!r} is not a zero-based MIDI channel 0-15", "usage")
    return chans


def parse_midi(path: str | Path) -> SmfEvents:
    try:
        return read_smf(path)
    except SmfError as e:
        raise MidiFileError(str(e), "corrupt") from None


_LOOKUPS: dict[tuple[tuple[int, ...], ...], np.ndarray] = {}


def _class_lookup(drum_map: DrumMap) -> np.ndarray:
    """pitch (0-255) -> class index or -1, cached per map."""
    table = _LOOKUPS.get(drum_map.classes)
    if table is None:
        table = np.full(256, -1, np.int64)
        for pitch in range(128):
            k = drum_map.class_of(pitch)
            if k is not None:
                table[pitch] = k
        _LOOKUPS[drum_map.classes] = table
    return table


def events_to_groove(
    ev: SmfEvents,
    drum_map: DrumMap,
    channels: tuple[int, ...] | None = None,
) -> MidiRead:
    """Parsed events -> ``MidiRead`` (the shared core of ``read_midi`` and preprocessing)."""
    for _, num, den in ev.time_signatures:
        if num != den:  # steps per bar = 4 * (4/den) * num must be 16
            raise MidiFileError(
                f"time signature {num}/{den}: bars are not 16 steps", "time_signature"
            )
    notes = ev.notes
    if not len(notes):
        raise MidiFileError("no notes in the file", "no_drum_notes")
    if channels is None:
        chan_mask = notes[:, 1] == DRUM_CHANNEL
        if not chan_mask.any():
            have = ", ".join(str(c + 1) for c in np.unique(notes[:, 1]).tolist())
            raise MidiFileError(
                f"no drum notes on MIDI channel 10; notes are on channel(s) {have}: pass --channel N",
                "no_drum_notes",
            )
        used: tuple[int, ...] = (DRUM_CHANNEL,)
    else:
        chan_mask = np.isin(notes[:, 1], channels)
        if not chan_mask.any():
            want = ", ".join(str(c + 1) for c in channels)
            raise MidiFileError(f"no notes on MIDI channel(s) {want}", "no_drum_notes")
        used = tuple(sorted(set(np.unique(notes[chan_mask, 1]).tolist())))
    notes = notes[chan_mask]
    classes = _class_lookup(drum_map)[notes[:, 2]]
    known = classes >= 0
    unknown: dict[int, int] = {}
    if not known.all():
        pitches, counts = np.unique(notes[~known, 2], return_counts=True)
        unknown = dict(zip(pitches.tolist(), counts.tolist(), strict=True))
    if not known.any():
        listed = ", ".join(str(p) for p in unknown)
        raise MidiFileError(
            f"none of the notes ({listed}) is in the drum map {drum_map.name!r}", "no_drum_notes"
        )
    tpb = ev.ticks_per_beat
    origin_tick = next((t for t, text in ev.markers if text == ORIGIN_MARKER), 0)
    ticks = notes[known, 0] - origin_tick
    beats = ticks / tpb
    clip_ticks = ev.end_tick - origin_tick
    if clip_ticks > 0 and clip_ticks % (tpb * 4) == 0:  # a loop: wrap its last half-16th to 0
        clip_beats = clip_ticks / tpb
        wrap = (np.floor(beats * STEPS_PER_QUARTER + 0.5) == clip_beats * STEPS_PER_QUARTER) & (ticks < clip_ticks)
        beats = np.where(wrap, beats - clip_beats, beats)
    steps = np.floor(beats * STEPS_PER_QUARTER + 0.5)
    last_step = int(steps.max())
    dropped = int((steps < 0).sum())
    if last_step < 0:
        raise MidiFileError("all notes lie before the groovebridge:origin marker", "no_drum_notes")
    num_bars = last_step // STEPS_PER_BAR + 1
    if num_bars > MAX_BARS:
        raise MidiFileError(f"file is {num_bars} bars long, more than {MAX_BARS}", "too_long")
    # The grid also covers the file's full bars up to its end of track (a clip with a silent
    # last bar keeps its length), capped so a hostile end-of-track delta cannot blow it up.
    end_bars = (ev.end_tick - origin_tick) // (tpb * 4)
    num_bars = max(num_bars, min(end_bars, MAX_BARS))
    num_steps = num_bars * STEPS_PER_BAR
    hits, vels, offs = quantize_arrays(beats, classes[known], notes[known, 3], num_steps)
    # Tempo map from the file's tick 0; before the first tempo event SMF says 120 bpm.
    tempo_map = tuple(((t - origin_tick) / tpb, 60_000_000.0 / us) for t, us in ev.tempos)
    if not tempo_map or ev.tempos[0][0] > 0:
        tempo_map = ((-origin_tick / tpb, 120.0),) + tempo_map
    bpm = 60_000_000.0 / ev.tempos[0][1] if ev.tempos else 120.0
    return MidiRead(
        groove=Groove(hits, vels, offs, bpm),
        bpm=bpm,
        unknown_pitches=unknown,
        channel_used=used[0],
        channels_used=used,
        tempo_map=tempo_map,
        ticks_per_beat=tpb,
        num_notes=int(known.sum()),
        origin_beats=origin_tick / tpb,
        dropped_before_start=dropped,
        time_signatures=tuple(((t - origin_tick) / tpb, n, d) for t, n, d in ev.time_signatures),
    )


def read_midi(
    path: str | Path,
    drum_map: str | DrumMap = "roland",
    channels: int | list[int] | tuple[int, ...] | None = None,
) -> MidiRead:
    """Read a drum MIDI file as one groove. ``channels`` are zero-based (9 = MIDI channel 10)."""
    try:
        dmap = get_drum_map(drum_map)
    except DrumMapError as e:
        raise MidiFileError(str(e), "usage") from None
    return events_to_groove(parse_midi(path), dmap, channel_list(channels))


# Every pitch on class 0 (kick): a rhythm file's notes are all taps. (The other classes must name
# a pitch; pitch 0 is already class 0's, so they never match.)
RHYTHM_MAP = DrumMap("rhythm", (tuple(range(128)),) + ((0,),) * (NUM_CLASSES - 1))


def read_rhythm(path: str | Path, channels: int | list[int] | tuple[int, ...] | None = None) -> MidiRead:
    """Read any MIDI file as a rhythm: every note on ``channels`` (zero-based; all 16 when None),
    whatever its pitch, is a tap (a hit of class 0 with its velocity and timing)."""
    chans = channel_list(channels) if channels is not None else tuple(range(16))
    return events_to_groove(parse_midi(path), RHYTHM_MAP, chans)


def load_groove_window(
    path: str | Path,
    window: int = 0,
    num_bars: int = 4,
    drum_map: str | DrumMap = "roland",
    channels: int | list[int] | tuple[int, ...] | None = None,
) -> tuple[Groove, int]:
    """The ``window``-th full ``num_bars`` window (hop = num_bars, from bar 1) and the count."""
    read = read_midi(path, drum_map, channels)
    count = read.groove.num_bars // num_bars
    name = Path(path).name
    if count == 0:
        raise MidiFileError(
            f"{name} has {read.groove.num_bars} bar(s); a {num_bars}-bar groove is needed",
            "too_short",
        )
    if not 0 <= window < count:
        raise MidiFileError(
            f"window {window} out of range: {name} has {count} window(s) of {num_bars} bars (0-{count - 1})",
            "window",
        )
    return read.groove.window(window * num_bars, num_bars), count


def groove_to_midifile(
    groove: Groove,
    bpm: float = 120.0,
    drum_map: str | DrumMap = "gm",
    channel: int = DRUM_CHANNEL,
    ticks_per_beat: int = WRITE_TICKS_PER_BEAT,
    early_hits: str = "wrap",
) -> mido.MidiFile:
    """A type-0 ``mido.MidiFile`` of the groove, exactly its length (see the module docstring)."""
    if early_hits not in EARLY_HITS:
        raise ValueError(f"early_hits must be one of {', '.join(EARLY_HITS)}, got {early_hits!r}")
    dmap = get_drum_map(drum_map)
    if not 0 <= channel <= 15:
        raise ValueError(f"channel {channel} is not a zero-based MIDI channel 0-15")
    if not bpm > 0:
        raise ValueError(f"bpm must be positive, got {bpm}")
    events = groove.to_events()
    step_ticks = ticks_per_beat // STEPS_PER_QUARTER
    clip_end = groove.num_steps * step_ticks
    starts = [_start_tick(groove, e.start_beats, e.drum_class, ticks_per_beat) for e in events]
    if early_hits == "wrap":  # the next pass's downbeat, played early: at the end of the clip
        starts = [s + clip_end if s < 0 else s for s in starts]
    else:
        starts = [max(0, s) for s in starts]
    # (tick, order, pitch, message): at one tick note-offs come before note-ons.
    timed: list[tuple[int, int, int, mido.Message | mido.MetaMessage]] = []
    notes = sorted(
        (
            (s, dmap.output_pitch(e.drum_class), max(1, min(127, e.velocity)))
            for s, e in zip(starts, events, strict=True)
        ),
        reverse=True,
    )
    next_on: dict[int, int] = {}
    for tick, pitch, vel in notes:  # latest first, so next_on holds the following note
        end = min(tick + step_ticks, next_on.get(pitch, tick + step_ticks), max(clip_end, tick + 1))
        end = max(tick + 1, end)
        next_on[pitch] = tick
        timed.append(
            (tick, 1, pitch, mido.Message("note_on", channel=channel, note=pitch, velocity=vel))
        )
        timed.append(
            (end, 0, pitch, mido.Message("note_off", channel=channel, note=pitch, velocity=0))
        )
    timed.sort(key=lambda x: x[:3])
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name="GrooveBridge", time=0))
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    now = 0
    for tick, _, _, msg in timed:
        track.append(msg.copy(time=tick - now))
        now = tick
    end_tick = max(now, clip_end)
    track.append(mido.MetaMessage("end_of_track", time=end_tick - now))
    mid = mido.MidiFile(type=0, ticks_per_beat=ticks_per_beat)
    mid.tracks.append(track)
    return mid


def _start_tick(groove: Groove, start_beats: float, drum_class: int, ticks_per_beat: int) -> int:
    """The note's tick; a hit exactly half a 16th late (offset -1) goes one tick earlier, so a
    reader (round half up) puts it back on its own step and not on the next one."""
    tick = round(start_beats * ticks_per_beat)
    step_ticks = ticks_per_beat // STEPS_PER_QUARTER
    if tick % step_ticks == step_ticks // 2:
        s = (tick - step_ticks // 2) // step_ticks
        if 0 <= s < groove.num_steps and groove.hits[s, drum_class] > 0.5 and groove.offsets[s, drum_class] <= -1.0 + 1e-6:
            return tick - 1
    return tick


def write_midi(
    groove: Groove,
    path: str | Path,
    bpm: float = 120.0,
    drum_map: str | DrumMap = "gm",
    channel: int = DRUM_CHANNEL,
    early_hits: str = "wrap",
) -> Path:
    """Write ``groove`` as a loop-exact .mid file atomically (temp file in the folder + os.replace)."""
    mid = groove_to_midifile(groove, bpm, drum_map, channel, early_hits=early_hits)
    out = Path(path)
    with atomic_write(out) as fh:
        mid.save(file=fh)
    return out


__all__ = [
    "EARLY_HITS",
    "MidiFileError",
    "MidiRead",
    "NUM_CLASSES",
    "ORIGIN_MARKER",
    "events_to_groove",
    "groove_to_midifile",
    "load_groove_window",
    "parse_midi",
    "read_midi",
    "read_rhythm",
    "write_midi",
]
