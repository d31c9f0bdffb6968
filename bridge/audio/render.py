"""Offline audio: a groove's loops through the GM drum kit into a WAV file, faster than real time.

The note list comes from the player's own compiled pattern (``bridge.play.player.compile_pattern``:
the same beats, micro-timing and velocities the live MIDI output and preview play), each class
on its General MIDI pitch (the preview's kit is GM whatever the output drum map says); muted
classes are left out. Time is exact arithmetic at one tempo: the file is deterministic (the
same groove, kit and options give the same bytes).

Loop-exact by default (``tail="wrap"``): the file is exactly N loops long; hits played early
on the first downbeat sound at the end of the file (where the next loop's downbeat would pull
them), and what still rings past the end is mixed into the start, so the file loops seamlessly
in a DAW or sampler. ``tail="keep"`` lets the last hits ring out after the last bar instead.

``groovebridge render --input_midi_1 X.mid [--loops N] [--soundfont F] --output X.wav``.
"""

from __future__ import annotations

import argparse
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridge.play.player import compile_pattern
from models.atomic_io import atomic_write
from models.drum_maps import GM, NUM_CLASSES
from models.groove import BEATS_PER_BAR, Groove
from models.synth import (
    SAMPLE_RATE,
    WHERE_TO_GET,
    DrumSynth,
    Kit,
    SoundFontError,
    find_soundfont,
    load_kit,
)

TAILS = ("wrap", "keep")
MAX_TAIL_SEC = 4.0  # the longest ring-out kept (a crash cymbal fades in ~3 s)
MAX_RENDER_SEC = 3600.0


@dataclass(frozen=True)
class RenderedNote:
    time_sec: float  # from the start of the file
    drum_class: int
    pitch: int
    velocity: int


@dataclass(frozen=True)
class Render:
    audio: np.ndarray  # (frames, 2) float32 in -1..1
    notes: tuple[RenderedNote, ...]
    sample_rate: int
    loop_sec: float  # length of the loops (the file's length with tail="wrap")
    render_sec: float  # wall time the synth took

    @property
    def speed_x(self) -> float:
        return self.loop_sec / max(self.render_sec, 1e-9)


def groove_notes(groove: Groove, loops: int = 1, bpm: float | None = None,
                 mutes: tuple[bool, ...] | None = None) -> tuple[list[RenderedNote], float]:
    """The notes of ``loops`` loops (time from the first downbeat; early downbeat hits < 0) and
    the loops' length in seconds."""
    if loops < 1:
        raise ValueError(f"loops must be at least 1, got {loops}")
    tempo = float(bpm if bpm is not None else groove.bpm)
    if not 20.0 <= tempo <= 400.0:
        raise ValueError(f"tempo {tempo:g} BPM is outside 20-400")
    compiled = compile_pattern(groove)
    muted = tuple(mutes) if mutes is not None else (False,) * NUM_CLASSES
    sec_per_beat = 60.0 / tempo
    notes = []
    for loop in range(loops):
        for bar, hits in enumerate(compiled.bars):
            base = (loop * compiled.num_bars + bar) * BEATS_PER_BAR
            for beat_in_bar, cls, vel in hits:
                if not muted[cls]:
                    notes.append(RenderedNote((base + beat_in_bar) * sec_per_beat, cls, GM.output_pitches[cls], vel))
    loop_sec = loops * compiled.num_bars * BEATS_PER_BAR * sec_per_beat
    if loop_sec > MAX_RENDER_SEC:
        raise ValueError(f"{loop_sec / 60:.0f} minutes of audio is more than the {MAX_RENDER_SEC / 60:.0f} allowed")
    return sorted(notes, key=lambda n: (n.time_sec, n.pitch)), loop_sec


def render_groove(groove: Groove, kit: Kit, loops: int = 1, bpm: float | None = None,
                  mutes: tuple[bool, ...] | None = None, volume: float = 0.8, tail: str = "wrap") -> Render:
    if tail not in TAILS:
        raise ValueError(f"tail {tail!r}: use one of {', '.join(TAILS)}")
    notes, loop_sec = groove_notes(groove, loops, bpm, mutes)
    sr = SAMPLE_RATE
    loop_frames = int(round(loop_sec * sr))
    if tail == "wrap":  # early downbeat hits of the first loop sound at the very end
        notes = sorted((RenderedNote(n.time_sec + loop_sec, n.drum_class, n.pitch, n.velocity)
                        if n.time_sec < 0 else n for n in notes), key=lambda n: (n.time_sec, n.pitch))
        start_sec = 0.0
    else:
        start_sec = min(0.0, notes[0].time_sec) if notes else 0.0
    events = [(int(round((n.time_sec - start_sec) * sr)), n.pitch, n.velocity) for n in notes]
    frames = loop_frames + int(MAX_TAIL_SEC * sr) - int(round(start_sec * sr))
    synth = DrumSynth(kit, volume=volume)
    t0 = time.perf_counter()
    audio = synth.render(frames, events)
    render_sec = time.perf_counter() - t0
    if tail == "wrap":
        looped = audio[:loop_frames].copy()
        for at in range(loop_frames, frames, max(1, loop_frames)):
            chunk = audio[at:at + loop_frames]
            looped[:len(chunk)] += chunk
        audio = looped
    else:
        audio = _trim_silence(audio, min_frames=int(round((loop_sec - start_sec) * sr)))
        notes = [RenderedNote(n.time_sec - start_sec, n.drum_class, n.pitch, n.velocity) for n in notes]
    np.clip(audio, -1.0, 1.0, out=audio)
    return Render(audio, tuple(notes), sr, loop_sec, render_sec)


def _trim_silence(audio: np.ndarray, min_frames: int, floor: float = 1e-4) -> np.ndarray:
    loud = np.nonzero(np.abs(audio).max(axis=1) > floor)[0]
    end = max(min_frames, int(loud[-1]) + 1 if len(loud) else 0)
    return audio[:end]


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """16-bit PCM stereo, written atomically (no dither: the same audio gives the same bytes)."""
    p = Path(path)
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with atomic_write(p) as f, wave.open(f, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return p


def resolve_kit(soundfont: str | None) -> Kit:
    """The kit of ``soundfont`` (a path), or of the SoundFont found on this system."""
    if soundfont:
        return load_kit(soundfont)
    found = find_soundfont()
    if found is None:
        raise SoundFontError(f"no GM SoundFont found: {WHERE_TO_GET} (--soundfont FILE)")
    return load_kit(found)


def build_parser() -> argparse.ArgumentParser:
    from models.help_format import make_parser

    p = make_parser("groovebridge render", "Render a drum MIDI file's groove through a GM SoundFont drum kit to a WAV file.")
    p.add_argument("--input_midi_1", required=True, metavar="X.mid", help="the groove (a drum MIDI file)")
    p.add_argument("--output", required=True, metavar="X.wav", help="the WAV file to write (48 kHz, 16-bit stereo)")
    p.add_argument("--loops", type=int, default=1, help="how many times the groove plays")
    p.add_argument("--soundfont", default=None, metavar="F.sf2",
                   help="a .sf2/.sf3 GM SoundFont (default: the one installed on this system)")
    p.add_argument("--bpm", type=float, default=None, help="tempo (default: the file's)")
    p.add_argument("--drum_map", default="roland", help="drum map of the input file's pitches")
    p.add_argument("--tail", choices=TAILS, default="wrap",
                   help="wrap: exactly N loops, the ring-out mixed into the start (seamless loop); keep: ring out after")
    p.add_argument("--volume", type=float, default=0.8, help="0-1")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from models.midi.files import MidiFileError, read_midi

    try:
        out = Path(args.output)
        if out.suffix.lower() != ".wav":
            raise ValueError(f"--output {out}: the file name must end in .wav")
        if not out.parent.is_dir():
            raise ValueError(f"--output {out}: folder {out.parent} does not exist")
        if not 0.0 <= args.volume <= 1.0:
            raise ValueError(f"--volume {args.volume:g} must be 0-1")
        read = read_midi(args.input_midi_1, drum_map=args.drum_map)
        kit = resolve_kit(args.soundfont)
        result = render_groove(read.groove, kit, loops=args.loops, bpm=args.bpm or read.bpm,
                               volume=args.volume, tail=args.tail)
        write_wav(out, result.audio, result.sample_rate)
    except MidiFileError as e:  # name the file, as generate does
        named = str(args.input_midi_1) in str(e)  # ("file not found: PATH" names it already)
        print(f"groovebridge render: {e if named else f'{args.input_midi_1}: {e}'}", file=sys.stderr)
        return 2
    except (SoundFontError, ValueError) as e:
        print(f"groovebridge render: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"groovebridge render: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"{out}: {len(result.notes)} hits, {result.audio.shape[0] / result.sample_rate:.2f} s "
          f"({args.loops} loop{'s' * (args.loops != 1)} at {args.bpm or read.bpm:.1f} BPM, kit {kit.describe()}), "
          f"rendered {result.speed_x:.0f}x real time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
