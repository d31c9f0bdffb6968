"""Files whose time signature changes: their 4/4 parts are kept (whole 4-bar windows inside 4/4
stretches, bar lines counted from each 4/4 event) and the report says what was kept and not.

Real MIDI files written with mido in the test; the reference for the kept grids is the same
notes written as separate plain 4/4 files and read by the ordinary (whole-file) reader.
"""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

from models.data.dataset import load_windows, preprocess
from models.data.io import load_dataset
from models.data.sources import groove_parts
from models.drum_maps import ROLAND
from models.midi.files import MidiFileError, parse_midi, read_midi
from models.midi.meter import split_four_four

TPB = 480
BAR = 4 * TPB


def _write(path: Path, events: list[tuple[int, object]]) -> Path:
    """A type-0 file from (absolute tick, message) pairs; note-offs a 32nd after each note-on."""
    timed: list[tuple[int, int, object]] = []
    for tick, msg in events:
        if isinstance(msg, mido.Message) and msg.type == "note_on":
            timed.append((tick, 1, msg))
            timed.append((tick + TPB // 8, 0, mido.Message("note_off", channel=msg.channel, note=msg.note)))
        else:
            timed.append((tick, 0, msg))
    timed.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack()
    now = 0
    for tick, _, msg in timed:
        track.append(msg.copy(time=tick - now))
        now = tick
    mid = mido.MidiFile(type=0, ticks_per_beat=TPB)
    mid.tracks.append(track)
    mid.save(path)
    return path


def _sig(tick: int, num: int, den: int) -> tuple[int, mido.MetaMessage]:
    return tick, mido.MetaMessage("time_signature", numerator=num, denominator=den)


def _tempo(tick: int, bpm: float) -> tuple[int, mido.MetaMessage]:
    return tick, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))


def _groove_notes(start: int, bars: int, seed: int) -> list[tuple[int, int, int]]:
    """(tick, pitch, velocity): a 4/4 groove with off-grid timing, every bar with hits."""
    rng = np.random.default_rng(seed)
    notes = []
    for b in range(bars):
        for s in range(16):
            base = start + b * BAR + s * TPB // 4
            for pitch, every in ((36, 8), (38, 8), (42, 2)):
                if (s + (4 if pitch == 38 else 0)) % every == 0:
                    jitter = int(rng.integers(-25, 26))
                    if b == s == 0:
                        jitter = abs(jitter)  # never before the stretch's first bar line
                    notes.append((base + jitter, pitch, int(rng.integers(40, 127))))
    return notes


def _on(n: tuple[int, int, int]) -> tuple[int, mido.Message]:
    tick, pitch, vel = n
    return tick, mido.Message("note_on", channel=9, note=pitch, velocity=vel)


def _waltz_notes(start: int, bars: int) -> list[tuple[int, int, int]]:
    return [(start + b * 3 * TPB + q * TPB, 42, 90) for b in range(bars) for q in range(3)]


def test_four_four_parts_around_a_three_four_stretch_are_kept(tmp_path: Path) -> None:
    """4/4 (8 bars, 100 bpm) -> 3/4 (4 bars) -> 4/4 (8 bars, 140 bpm from a tempo change in
    the 3/4 part): 5 + 5 windows, grids equal to the same notes as two plain 4/4 files."""
    part2 = 8 * BAR + 4 * 3 * TPB
    a = _groove_notes(0, 8, seed=1)
    b = _groove_notes(part2, 8, seed=2)
    events = [_sig(0, 4, 4), _tempo(0, 100), _sig(8 * BAR, 3, 4), _tempo(8 * BAR + 3 * TPB, 140)]
    events += [_sig(part2, 4, 4)]
    events += [_on(n) for n in a + _waltz_notes(8 * BAR, 4) + b]
    src = tmp_path / "in"
    src.mkdir()
    _write(src / "change.mid", events)
    ref = tmp_path / "ref"
    ref.mkdir()
    _write(ref / "a.mid", [_tempo(0, 100), *[_on(n) for n in a]])
    _write(ref / "b.mid", [_tempo(0, 140), *[_on((t - part2, p, v)) for t, p, v in b]])

    report = preprocess(src, tmp_path / "out.gbds", workers=1)
    assert report.skipped == {}
    assert report.files_read == 1 and report.total_windows == 10
    [(path, kept, not_kept)] = report.partial_files
    assert path == "change.mid"
    assert kept == "bars 1-8 (5 windows), bars 13-20 (5 windows)"
    assert not_kept == "bars 9-12 (3/4: bars are not 16 steps)"
    assert "change.mid: kept bars 1-8 (5 windows)" in report.format_table()

    ds = load_dataset(tmp_path / "out.gbds")
    assert ds.file_paths == ["change.mid", "change.mid"]
    np.testing.assert_array_equal(ds.file_origin_beat, [0.0, part2 / TPB])
    np.testing.assert_allclose(ds.file_bpm, [100.0, 140.0], rtol=1e-6)
    for entry, ref_file in enumerate(("a.mid", "b.mid")):
        want = read_midi(ref / ref_file).groove
        rows = slice(int(ds.file_start_step[entry]), int(ds.file_start_step[entry + 1]))
        np.testing.assert_array_equal(ds.hits[rows], want.hits.astype(np.uint8))
        np.testing.assert_array_equal(ds.velocities[rows], np.rint(want.velocities * 127))
        np.testing.assert_array_equal(ds.offsets[rows], want.offsets)
    # Other window sizes never straddle the 3/4 gap: 8-bar windows are one per part.
    eight = load_windows(tmp_path / "out.gbds", "all", num_bars=8)
    assert len(eight) == 2 and eight.start_steps.tolist() == [0, 0]


def test_partial_bar_and_early_downbeat(tmp_path: Path) -> None:
    """A 4/4 stretch of 5.5 bars keeps 5 (the half bar is reported); a hit played a 64th
    before the next 4/4 downbeat (inside the 3/4 bar) is that downbeat, played early."""
    p2 = 5 * BAR + 2 * TPB + 2 * 3 * TPB  # 5.5 bars of 4/4, 2 bars of 3/4
    a = _groove_notes(0, 5, seed=3) + [(5 * BAR, 36, 100), (5 * BAR + TPB, 38, 100)]
    b = _groove_notes(p2, 4, seed=4)
    early = (p2 - TPB // 16, 49, 111)  # crash a 64th early
    events = [_sig(0, 4, 4), _sig(5 * BAR + 2 * TPB, 3, 4), _sig(p2, 4, 4)]
    events += [_on(n) for n in a + _waltz_notes(5 * BAR + 2 * TPB, 2) + b + [early]]
    path = _write(tmp_path / "cut.mid", events)
    ev = parse_midi(path)
    parts, _, not_kept = groove_parts(ev, ROLAND, None)
    assert [p[5] for p in parts] == [1, 9]  # first bars: 1, then after bars 6 (partial), 7-8
    assert [len(p[0]) // 16 for p in parts] == [5, 4]
    assert not_kept == [
        "bar 6 (a 4/4 bar cut short after 2 beat(s) by a change)",
        "bars 7-8 (3/4: bars are not 16 steps)",
    ]
    hits, vels, offs = parts[1][0], parts[1][1], parts[1][2]
    crash = ROLAND.class_of(49)
    assert hits[0, crash] == 1 and vels[0, crash] == 111
    assert offs[0, crash] == pytest.approx(0.5)  # a quarter step early: GrooVAE offset +0.5
    # Nothing of the half bar (bar 6) reaches the kept grid of part 1.
    assert not parts[0][0][5 * 16 :].any()


def test_no_four_four_bar_is_skipped_with_its_signatures(tmp_path: Path) -> None:
    events = [_sig(0, 3, 4), _sig(4 * 3 * TPB, 6, 8)] + [_on(n) for n in _waltz_notes(0, 8)]
    src = tmp_path / "in"
    src.mkdir()
    _write(src / "odd.mid", events)
    report = preprocess(src, tmp_path / "o.gbds", workers=1)
    assert report.skipped == {"time_signature": 1}
    [(_, reason, msg)] = report.skipped_files
    assert reason == "time_signature"
    assert msg.startswith("no 4/4 bars (signatures 3/4, 6/8)")


def test_a_four_four_part_without_drums_is_reported_not_kept(tmp_path: Path) -> None:
    """A silent 4/4 count-in, a 3/4 bar, then 4 bars of groove in 4/4."""
    p2 = 2 * BAR + 3 * TPB
    events = [_sig(0, 4, 4), _sig(2 * BAR, 3, 4), _sig(p2, 4, 4)]
    events += [_on(n) for n in _waltz_notes(2 * BAR, 1) + _groove_notes(p2, 4, seed=5)]
    ev = parse_midi(_write(tmp_path / "intro.mid", events))
    parts, _, not_kept = groove_parts(ev, ROLAND, None)
    assert [p[5] for p in parts] == [4]
    assert not_kept[0] == "bars 1-2 (4/4: no notes in the file)"
    assert not_kept[1] == "bar 3 (3/4: bars are not 16 steps)"


def test_redundant_four_four_event_on_a_bar_line_keeps_one_stretch(tmp_path: Path) -> None:
    """4/4 restated on bar 5, then 2/2 (16 steps too) on bar 9: read whole, as before."""
    events = [_sig(0, 4, 4), _sig(4 * BAR, 4, 4), _sig(8 * BAR, 2, 2)]
    events += [_on(n) for n in _groove_notes(0, 12, seed=6)]
    ev = parse_midi(_write(tmp_path / "same.mid", events))
    assert split_four_four(ev) is None
    # ... and a file that changes to 3/4 and back with the 4/4 restated mid-stretch keeps its
    # bar lines from each 4/4 event.
    events = [_sig(0, 3, 4), _sig(3 * TPB, 4, 4), _sig(3 * TPB + 2 * BAR, 4, 4)]
    events += [_on(n) for n in _groove_notes(3 * TPB, 6, seed=7)]
    split = split_four_four(parse_midi(_write(tmp_path / "restated.mid", events)))
    assert split is not None
    assert [(p.first_bar, p.origin_beat) for p in split.parts] == [(2, 3.0)]
    assert split.dropped == ["bar 1 (3/4: bars are not 16 steps)"]


def test_read_midi_still_refuses_a_changing_file_whole(tmp_path: Path) -> None:
    """Loading one groove (the app) keeps the old rule: it names the signature."""
    events = [_sig(0, 4, 4), _sig(4 * BAR, 3, 4)] + [_on(n) for n in _groove_notes(0, 4, seed=8)]
    path = _write(tmp_path / "x.mid", events)
    with pytest.raises(MidiFileError, match="3/4"):
        read_midi(path)


def test_gmd_has_no_signature_changes_and_its_odd_meters_stay_skipped(gmd_dir: Path) -> None:
    """The check on GMD: no file changes signature (so nothing there is cut into parts); the
    12 files in 3/4, 5/4, 5/8 or 6/8 have no 4/4 bar and stay skipped with that reason."""
    changing, odd = [], []
    for path in sorted(gmd_dir.rglob("*.mid")):
        ev = parse_midi(path)
        if len({(n, d) for _, n, d in ev.time_signatures}) > 1:
            changing.append(path.name)
        split = split_four_four(ev)
        if split is not None:
            odd.append(path.name)
            assert split.parts == []
            with pytest.raises(MidiFileError) as e:
                groove_parts(ev, ROLAND, None)
            assert e.value.reason == "time_signature"
    assert changing == []
    assert len(odd) == 12
