"""MIDI file reading/writing on real Groove MIDI Dataset files and on files made here."""

from __future__ import annotations

import glob
from pathlib import Path

import mido
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.drum_maps import CLASS_NAMES
from models.groove import Groove
from models.midi.files import (
    MidiFileError,
    groove_to_midifile,
    load_groove_window,
    read_midi,
    write_midi,
)
from models.midi.smf import SmfError, parse_smf, read_smf
from tests.models.mido_reference import mido_events

KICK, SNARE, CLOSED_HH, CRASH, RIDE = (
    CLASS_NAMES.index(n) for n in ("kick", "snare", "closed_hihat", "crash", "ride")
)
HIT, VEL, OFF = 0, 9, 18  # column blocks of the (T, 27) tensor

FUNK1 = "drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid"
SOUL10 = "drummer1/eval_session/10_soul-groove10_102_beat_4-4.mid"
FUNK2 = "drummer1/eval_session/2_funk-groove2_105_beat_4-4.mid"
WALTZ = "drummer1/session2/4_jazz_120_beat_3-4.mid"  # a 3/4 file of GMD
SHORT_FILL = "drummer1/session1/103_funk_95_fill_4-4.mid"  # one bar


def _mido_notes(path: Path) -> list[tuple[int, int, int]]:
    """(tick, pitch, velocity) of the note-ons with velocity > 0, read by mido."""
    _, notes, _, _ = mido_events(Path(path).read_bytes())
    return [(tick, pitch, vel) for tick, _channel, pitch, vel in notes]


def _make_midi(
    path: Path, events: list[tuple[int, mido.Message | mido.MetaMessage]], tpb: int = 480
) -> Path:
    """Type-0 file from (absolute tick, message) pairs."""
    track = mido.MidiTrack()
    now = 0
    for tick, msg in sorted(events, key=lambda e: e[0]):
        track.append(msg.copy(time=tick - now))
        now = tick
    mid = mido.MidiFile(type=0, ticks_per_beat=tpb)
    mid.tracks.append(track)
    mid.save(path)
    return path


def _on(pitch: int, vel: int, ch: int = 9) -> mido.Message:
    return mido.Message("note_on", note=pitch, velocity=vel, channel=ch)


# ---- hand-checked values on real files ---------------------------------------------------------
def test_hand_checked_notes_funk_groove1(gmd_dir: Path) -> None:
    path = gmd_dir / FUNK1
    notes = _mido_notes(path)
    # 480 ticks per beat -> 120 ticks per 16th. The first notes as mido reads them:
    assert notes[0] == (3, 55, 60)  # crash (55 -> class 7) at 3/120 = 0.025 steps: step 0, late
    assert notes[2] == (10, 36, 64)  # kick at 10/120 = 0.0833 steps: step 0, late
    assert notes[3] == (211, 36, 57)  # kick at 1.7583 steps: step 2, early by 0.2417 steps
    assert notes[5] == (446, 44, 77)  # pedal hi-hat 44 -> closed hi-hat at 3.7167: step 4
    assert (1447, 40, 114) in notes  # snare rim 40 -> snare at 12.0583 steps: step 12, late
    read = read_midi(path)
    t = read.groove.to_tensor()
    assert read.bpm == pytest.approx(138.0, abs=1e-3)  # tempo 434783 us per beat
    assert read.channel_used == 9 and read.unknown_pitches == {}
    # offset = 2 * (step - ticks/120): positive = early
    assert t[0, HIT + CRASH] == 1.0
    assert t[0, VEL + CRASH] == pytest.approx(60 / 127, abs=1e-7)
    assert t[0, OFF + CRASH] == pytest.approx(2 * (0 - 3 / 120), abs=1e-6)  # -0.05
    assert t[0, OFF + KICK] == pytest.approx(2 * (0 - 10 / 120), abs=1e-6)  # -0.1667
    assert t[2, HIT + KICK] == 1.0 and t[1, HIT + KICK] == 0.0
    assert t[2, VEL + KICK] == pytest.approx(57 / 127, abs=1e-7)
    assert t[2, OFF + KICK] == pytest.approx(2 * (2 - 211 / 120), abs=1e-6)  # +0.4833: early
    assert t[4, HIT + CLOSED_HH] == 1.0
    assert t[4, VEL + CLOSED_HH] == pytest.approx(77 / 127, abs=1e-7)
    assert t[4, OFF + CLOSED_HH] == pytest.approx(2 * (4 - 446 / 120), abs=1e-6)  # +0.5667
    assert t[12, VEL + SNARE] == pytest.approx(114 / 127, abs=1e-7)
    assert t[12, OFF + SNARE] == pytest.approx(2 * (12 - 1447 / 120), abs=1e-6)  # -0.1167
    assert t.shape[1] == 27 and t.shape[0] % 16 == 0


def test_roland_pitch_22_and_loudest_note_rule(gmd_dir: Path) -> None:
    path = gmd_dir / FUNK2
    notes = _mido_notes(path)
    # Step 12 (ticks 1380-1499) holds two closed hi-hat notes, 44 (vel 60) then 22 (vel 78),
    # and two snare notes, 40 (vel 117) then 38 (vel 31). The loudest one of each cell wins.
    assert (1415, 44, 60) in notes and (1441, 22, 78) in notes
    assert (1431, 40, 117) in notes and (1496, 38, 31) in notes
    t = read_midi(path).groove.to_tensor()
    assert t[12, VEL + CLOSED_HH] == pytest.approx(78 / 127, abs=1e-7)  # 22 -> closed hi-hat
    assert t[12, OFF + CLOSED_HH] == pytest.approx(2 * (12 - 1441 / 120), abs=1e-6)  # -0.0167
    assert t[12, VEL + SNARE] == pytest.approx(117 / 127, abs=1e-7)  # the first, louder one
    assert t[12, OFF + SNARE] == pytest.approx(2 * (12 - 1431 / 120), abs=1e-6)  # +0.15

    soul = gmd_dir / SOUL10
    assert _mido_notes(soul)[0] == (0, 22, 99)  # Roland closed hi-hat edge at tick 0
    t2 = read_midi(soul).groove.to_tensor()
    assert t2[0, HIT + CLOSED_HH] == 1.0 and t2[0, OFF + CLOSED_HH] == 0.0
    assert t2[0, VEL + CLOSED_HH] == pytest.approx(99 / 127, abs=1e-7)
    # Step 60 snare: 40 vel 127 at tick 7167 (59.725 steps) beats 38 vel 33 at 7231.
    assert t2[60, VEL + SNARE] == 1.0
    assert t2[60, OFF + SNARE] == pytest.approx(2 * (60 - 7167 / 120), abs=1e-6)  # +0.55


# ---- the fast reader against mido ------------------------------------------------------------
@pytest.mark.slow
def test_fast_reader_matches_mido_on_all_gmd(gmd_dir: Path) -> None:
    files = sorted(glob.glob(str(gmd_dir / "**" / "*.mid"), recursive=True))
    assert len(files) == 1150
    for f in files:
        ev = read_smf(f)
        mid, notes, tempos, sigs = mido_events(Path(f).read_bytes())
        assert len(mid.tracks) == 1  # GMD files are type 0
        assert ev.ticks_per_beat == mid.ticks_per_beat, f
        assert [tuple(n) for n in ev.notes.tolist()] == notes, f
        assert list(ev.tempos) == tempos, f
        assert list(ev.time_signatures) == sigs, f


# ---- round trip -------------------------------------------------------------------------------
@pytest.mark.parametrize("bpm", [120.0, 87.5])
def test_round_trip_real_windows(gmd_dir: Path, tmp_path: Path, bpm: float) -> None:
    """MIDI -> groove -> MIDI -> groove is exact (1e-6) on every 4-bar window of real files."""
    early_step0 = 0
    windows = 0
    for rel in (FUNK1, SOUL10, FUNK2, "drummer7/session2/54_soul-motown_148_beat_4-4.mid"):
        groove = read_midi(gmd_dir / rel).groove
        for bar in range(0, groove.num_bars - 3):
            w = groove.window(bar, 4)
            if not w.hits[48:].any():
                continue
            early_step0 += int((w.offsets[0][w.hits[0] > 0] > 0).any())
            out = write_midi(w, tmp_path / "w.mid", bpm=bpm, drum_map="roland")
            back = read_midi(out)
            assert back.groove.num_steps == 64
            assert back.bpm == pytest.approx(bpm, rel=1e-5)
            np.testing.assert_allclose(back.groove.to_tensor(), w.to_tensor(), atol=1e-6, rtol=0)
            windows += 1
    assert windows > 20
    assert early_step0 > 5  # early hits before beat 1 were kept, not dropped


def test_same_pitch_notes_never_overlap(tmp_path: Path) -> None:
    g = Groove.empty(16)
    h, v, o = (a.copy() for a in (g.hits, g.velocities, g.offsets))
    h[4:6, SNARE], v[4:6, SNARE] = 1, 0.5
    o[5, SNARE] = 1.0  # step 5 played half a 16th early: starts before step 4 would end
    mid = groove_to_midifile(Groove(h, v, o), drum_map="gm")
    tick, events = 0, []
    for msg in mid.tracks[0]:
        tick += msg.time
        if msg.type in ("note_on", "note_off"):
            events.append((tick, msg.type))
    assert events == [(480, "note_on"), (540, "note_off"), (540, "note_on"), (660, "note_off")]


# ---- tempo changes, channels, pitches ---------------------------------------------------------
def test_tempo_change_file_reads_in_beats(tmp_path: Path) -> None:
    tempo = lambda bpm: mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))  # noqa: E731
    path = _make_midi(
        tmp_path / "tempo.mid",
        [
            (0, tempo(120)),
            (0, _on(36, 100)),
            (1920, tempo(60)),  # bar 2 is twice as slow
            (2160, _on(38, 90)),  # beat 4.5 -> step 18
            (2880 - 12, _on(42, 70)),  # beat 6 minus 12 ticks -> step 24, early by 0.1 step
        ],
    )
    read = read_midi(path)
    g = read.groove
    assert read.bpm == 120.0
    assert read.tempo_map == ((0.0, 120.0), (4.0, 60.0))
    assert g.num_steps == 32
    assert np.argwhere(g.hits > 0).tolist() == [[0, KICK], [18, SNARE], [24, CLOSED_HH]]
    assert g.offsets[24, CLOSED_HH] == pytest.approx(0.2, abs=1e-6)
    assert read.beats_to_sec(6.0) == pytest.approx(2.0 + 2.0)  # 4 beats at 120, 2 at 60


def test_no_channel_10_names_the_channels(tmp_path: Path) -> None:
    path = _make_midi(tmp_path / "ch.mid", [(0, _on(36, 100, ch=0)), (240, _on(38, 90, ch=3))])
    with pytest.raises(MidiFileError, match=r"channel\(s\) 1, 4: pass --channel N") as e:
        read_midi(path)
    assert e.value.reason == "no_drum_notes"
    read = read_midi(path, channels=[0, 3])
    assert read.channels_used == (0, 3) and read.groove.num_hits == 2
    assert read_midi(path, channels=3).groove.num_hits == 1
    with pytest.raises(MidiFileError, match="no notes on MIDI channel"):
        read_midi(path, channels=[5])


def test_unknown_pitches_counted_and_velocity_zero_is_note_off(tmp_path: Path) -> None:
    path = _make_midi(
        tmp_path / "u.mid",
        [
            (0, _on(36, 100)),
            (0, _on(60, 50)),
            (120, _on(60, 50)),
            (240, _on(61, 1)),
            (360, _on(38, 0)),
        ],  # velocity 0: a note-off, not a hit
    )
    read = read_midi(path)
    assert read.unknown_pitches == {60: 2, 61: 1}
    assert np.argwhere(read.groove.hits > 0).tolist() == [[0, KICK]]
    only_unknown = _make_midi(tmp_path / "u2.mid", [(0, _on(60, 50))])
    with pytest.raises(
        MidiFileError, match=r"none of the notes \(60\) is in the drum map 'roland'"
    ):
        read_midi(only_unknown)


# ---- bad input ------------------------------------------------------------------------------
def test_three_four_file_from_gmd(gmd_dir: Path) -> None:
    with pytest.raises(MidiFileError, match=r"^time signature 3/4: bars are not 16 steps$") as e:
        read_midi(gmd_dir / WALTZ)
    assert e.value.reason == "time_signature"


def test_too_short_and_window_range(gmd_dir: Path) -> None:
    with pytest.raises(MidiFileError, match="has 1 bar") as e:
        load_groove_window(gmd_dir / SHORT_FILL)
    assert e.value.reason == "too_short"
    groove, count = load_groove_window(gmd_dir / FUNK1, window=1)
    full = read_midi(gmd_dir / FUNK1).groove
    assert count == full.num_bars // 4 and count >= 2
    assert groove.allclose(full.window(4, 4))
    with pytest.raises(MidiFileError, match=f"window {count} out of range"):
        load_groove_window(gmd_dir / FUNK1, window=count)


def _real_bytes(gmd_dir: Path) -> bytes:
    return (gmd_dir / FUNK1).read_bytes()


@pytest.mark.parametrize(
    ("name", "mutate", "message"),
    [
        ("truncated", lambda b: b[: len(b) // 2], "truncated"),
        ("garbage", lambda b: b"\x00\x01hello" * 10, "not a MIDI file"),
        ("empty", lambda b: b"", "not a MIDI file"),
        ("zero_ppq", lambda b: b[:12] + b"\x00\x00" + b[14:], "zero ticks per beat"),
        ("smpte", lambda b: b[:12] + b"\xe7\x28" + b[14:], "SMPTE"),
        ("chunk_length", lambda b: b[:18] + b"\x7f\xff\xff\xff" + b[22:], "runs past the end"),
        ("header_length", lambda b: b[:4] + b"\x00\x00\xff\xff" + b[8:], "bad MIDI header length"),
        ("missing_track", lambda b: b[:10] + b"\x00\x02" + b[12:], "announces 2 tracks, found 1"),
        ("long_delta", lambda b: b[:22] + b"\xff\xff\xff\xff\x7f" + b[22:], "longer than 4 bytes"),
    ],
)
def test_corrupt_files_give_one_line_reasons(
    gmd_dir: Path, tmp_path: Path, name: str, mutate, message: str
) -> None:
    path = tmp_path / f"{name}.mid"
    path.write_bytes(mutate(_real_bytes(gmd_dir)))
    with pytest.raises(MidiFileError, match=message) as e:
        read_midi(path)
    assert e.value.reason == "corrupt"
    assert "\n" not in str(e.value)


def test_huge_delta_is_too_long_not_a_hang(tmp_path: Path) -> None:
    path = _make_midi(tmp_path / "far.mid", [(0, _on(36, 100)), (0x0FFFFFFF, _on(38, 100))], tpb=1)
    with pytest.raises(MidiFileError, match="bars long") as e:
        read_midi(path)
    assert e.value.reason == "too_long"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(MidiFileError, match="file not found"):
        read_midi(tmp_path / "nope.mid")
    with pytest.raises(MidiFileError, match="directory"):
        read_midi(tmp_path)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_real_bytes_never_crash(gmd_dir: Path, data: st.DataObject) -> None:
    """Random byte edits of a real file: either a groove or SmfError, nothing else."""
    real = _real_bytes(gmd_dir)
    body = real[22:600]  # the first ~100 events of the track
    raw = bytearray(real[:14] + b"MTrk" + len(body).to_bytes(4, "big") + body)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(14, len(raw)))
    try:
        ev = parse_smf(bytes(raw[:cut]))
    except SmfError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert ev.ticks_per_beat > 0 and ev.notes.shape[1] == 4


def test_type1_tracks_are_merged(tmp_path: Path) -> None:
    """Tempo in track 0, drums spread over two tracks: merged by tick."""
    mid = mido.MidiFile(type=1, ticks_per_beat=96)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=0)])
    kicks = mido.MidiTrack([_on(36, 100).copy(time=0), _on(36, 80).copy(time=96 * 4)])
    hats = mido.MidiTrack(
        [_on(42, 50).copy(time=24), _on(42, 0).copy(time=12), _on(42, 60).copy(time=12)]
    )
    mid.tracks += [conductor, kicks, hats]
    mid.save(tmp_path / "t1.mid")
    read = read_midi(tmp_path / "t1.mid")
    assert read.bpm == pytest.approx(90.0)
    assert np.argwhere(read.groove.hits > 0).tolist() == [
        [0, KICK],
        [1, CLOSED_HH],
        [2, CLOSED_HH],
        [16, KICK],
    ]
    assert read.groove.velocities[16, KICK] == pytest.approx(80 / 127)
