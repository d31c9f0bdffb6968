"""Magenta's data files without TensorFlow: TFRecord framing, the NoteSequence message, and the
paths that accept them (preprocess --input_file / --output_file, train --examples_path).

Checked against files Magenta's own code wrote (tests/fixtures/magenta_notesequences, see its
README), against NoteSequence bytes encoded by hand in this test from the field numbers of
Magenta's music.proto (independent of our descriptor), and, on all of GMD, by a round trip
through our writer and reader (slow).
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import mido
import numpy as np
import pytest

from models.cli.preprocess import main as preprocess_main
from models.data.dataset import DatasetError, build_dataset, load_windows, preprocess
from models.data.io import load_dataset
from models.data.note_sequence import (
    parse_sequence,
    sequence_id,
    sequence_to_events,
)
from models.data.note_sequence_export import export_note_sequences
from models.data.tfrecord import TFRecordError, frame, iter_records, read_records, write_records
from models.magenta.tf_checkpoint import parse_message
from models.midi.files import parse_midi

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "magenta_notesequences"
TPB = 480


# ---- hand encoding of protobuf wire format (music.proto field numbers) ----------------------
def _varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _int(field: int, v: int) -> bytes:
    return _varint(field << 3) + _varint(v)


def _dbl(field: int, v: float) -> bytes:
    return _varint(field << 3 | 1) + struct.pack("<d", v)


def _bytes(field: int, b: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(b)) + b


def _hand_sequence(notes: list[tuple[float, int, int, bool]], qpm: float) -> bytes:
    """NoteSequence: id 1, filename 2, collection 3, tpq 4, time_signatures 5, tempos 7,
    notes 8 (pitch 1, velocity 2, start 3, end 4, program 8, is_drum 9), total_time 9."""
    body = _bytes(1, b"/id/midi/mine/abc") + _bytes(2, b"grooves/one.mid") + _bytes(3, b"mine")
    body += _int(4, 220) + _bytes(5, _dbl(1, 0.0) + _int(2, 4) + _int(3, 4))
    body += _bytes(7, _dbl(1, 0.0) + _dbl(2, qpm))
    for start, pitch, vel, drum in notes:
        note = _int(1, pitch) + _int(2, vel) + _dbl(3, start) + _dbl(4, start + 0.05)
        note += _int(8, 0 if drum else 33) + (_int(9, 1) if drum else b"")
        body += _bytes(8, note)
    return body + _dbl(9, max(s for s, *_ in notes) + 0.05)


# ---- framing --------------------------------------------------------------------------------
def test_framing_reads_and_rewrites_magentas_own_file_byte_for_byte() -> None:
    data = (FIXTURES / "tfrecord_iterator_test.tfrecord").read_bytes()
    records = list(iter_records(data))
    assert records == [b"hello world", b"12345", b"success"]
    assert b"".join(frame(r) for r in records) == data


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d[:-3], "record 3 at byte 48: truncated"),
        (lambda d: d[:30], "record 2 at byte 27: truncated"),
        (lambda d: d[:5], "record 1 at byte 0: truncated"),
        (lambda d: d[:12] + b"H" + d[13:], "record 1 at byte 0: data checksum mismatch"),
        (lambda d: d[:27] + b"\x0c" + d[28:], "record 2 at byte 27: length checksum mismatch"),
        (lambda d: b"not a tfrecord at all, just text\n" * 3, "not a TFRecord file"),
        (lambda d: b"\x1f\x8b\x08\x00" + d, "GZIP-compressed"),
        (lambda d: b"MThd\x00\x00\x00\x06" + d, "is a MIDI file, not a TFRecord"),
    ],
)
def test_bad_files_give_one_clear_line(tmp_path: Path, damage, message, capsys) -> None:
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(damage((FIXTURES / "tfrecord_iterator_test.tfrecord").read_bytes()))
    with pytest.raises(TFRecordError, match=message):
        read_records(bad)
    assert preprocess_main(["--input_file", str(bad), "--output_file", str(tmp_path / "o.gbds")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.split(":")[0] in err and "Traceback" not in err
    assert not (tmp_path / "o.gbds").exists()


# ---- files Magenta wrote --------------------------------------------------------------------
def test_magenta_converted_midi_sequences_read_with_the_official_fields() -> None:
    """convert_dir_to_note_sequences output: our message agrees with a raw wire decode."""
    records = read_records(FIXTURES / "notesequences-first3.tfrecord")
    assert len(records) == 3
    for record in records:
        seq = parse_sequence(record)
        raw = parse_message(record)  # the checkpoint reader's field-number decoder
        assert seq.id == raw[1][0].decode() == sequence_id(seq.filename, seq.collection_name)
        assert seq.filename == raw[2][0].decode() and seq.collection_name == "train"
        assert seq.ticks_per_quarter == raw[4][0] == 480
        assert len(seq.notes) == len(raw[8]) > 200
        assert seq.total_time == struct.unpack("<d", struct.pack("<Q", raw[9][0]))[0]
        assert [(t.qpm) for t in seq.tempos] == [120.0]
        ev, other = sequence_to_events(seq)
        assert len(ev.notes) == 0 and other == len(seq.notes)  # melodies: all skipped, counted
        assert ev.time_signatures[0][1:] in ((4, 4), (6, 8))


def test_magenta_sequence_with_drum_flags_and_odd_meters(tmp_path: Path) -> None:
    """Magenta's Bach test sequence flags 37 of its 47 notes is_drum (field 9) and is in 1/4
    then 3/4: the drum notes are read with their pitches, the others counted, no 4/4 bar."""
    [record] = read_records(FIXTURES / "bach-one_phrase-note_sequence.tfrecord")
    seq = parse_sequence(record)
    raw_notes = [parse_message(n) for n in parse_message(record)[8]]
    raw_drums = sorted(n[1][0] for n in raw_notes if n.get(9, [0])[0])
    ev, other = sequence_to_events(seq)
    assert (len(ev.notes), other) == (37, 10)
    assert sorted(ev.notes[:, 2].tolist()) == raw_drums
    assert ev.time_signatures == ((0, 1, 4), (480, 3, 4))  # 0.5 s at 120 qpm, 480 tpq
    _, report = build_dataset(FIXTURES / "bach-one_phrase-note_sequence.tfrecord")
    assert report.skipped == {"time_signature": 1}
    assert report.other_instrument_notes == 10


def test_drum_sequences_serialised_by_magentas_note_seq_class(tmp_path: Path) -> None:
    """Message bytes from note-seq's own music_pb2 (fixture README): a 4/4 -> 3/4 -> 4/4 groove
    at 97 qpm, 220 ticks per quarter, with a bass note, key signature, control change and
    source info we do not declare; and a melody. Expected ticks from a raw wire decode."""
    path = FIXTURES / "drums-note_seq_0.0.5.tfrecord"
    groove, melody = read_records(path)
    raw = parse_message(groove)
    as_float = lambda v: struct.unpack("<d", struct.pack("<Q", v))[0]  # noqa: E731
    want = sorted(
        (round(as_float(n.get(3, [0])[0]) * 97 / 60 * 220), n[1][0], n[2][0])
        for n in map(parse_message, raw[8])
        if n.get(9, [0])[0]
    )
    ev, other = sequence_to_events(parse_sequence(groove))
    assert other == 1 and ev.ticks_per_beat == 220
    assert sorted(map(tuple, ev.notes[:, [0, 2, 3]].tolist())) == want and len(want) == 95
    assert ev.time_signatures == ((0, 4, 4), (16 * 220, 3, 4), (22 * 220, 4, 4))
    _, report = build_dataset(path, num_bars=2)
    assert report.partial_files == [
        ("takes/groove.mid", "bars 1-4 (3 windows), bars 7-10 (3 windows)",
         "bars 5-6 (3/4: bars are not 16 steps)")
    ]
    assert report.skipped == {"no_drum_notes": 1} and report.other_instrument_notes == 2
    assert report.total_windows == 6
    assert parse_sequence(melody).filename == "tune.mid"


# ---- hand-written NoteSequence == the same groove as a MIDI file ----------------------------
def test_hand_encoded_sequence_gives_the_grid_of_the_same_midi_file(tmp_path: Path) -> None:
    qpm = 96.0
    rng = np.random.default_rng(7)
    beats = np.sort(rng.uniform(0, 16, 60))
    pitches = rng.choice([36, 38, 42, 46, 49, 51], 60)
    vels = rng.integers(1, 128, 60)
    notes = [(b * 60 / qpm, int(p), int(v), True) for b, p, v in zip(beats, pitches, vels, strict=True)]
    notes += [(1.0, 60, 100, False), (2.0, 64, 90, False)]  # a piano: skipped
    tfr = tmp_path / "hand.tfrecord"
    write_records(tfr, [_hand_sequence(notes, qpm)])
    # The same notes as a MIDI file at 220 ticks per quarter.
    mid = mido.MidiFile(type=0, ticks_per_beat=220)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(qpm))])
    events = sorted((round(b * 220), int(p), int(v)) for b, p, v in zip(beats, pitches, vels, strict=True))
    now = 0
    for tick, p, v in events:
        track.append(mido.Message("note_on", channel=9, note=p, velocity=v, time=tick - now))
        now = tick
    mid.tracks.append(track)
    folder = tmp_path / "midi" / "grooves"
    folder.mkdir(parents=True)
    mid.save(folder / "one.mid")

    from_tfr, rep_t = build_dataset(tfr)
    from_mid, _ = build_dataset(tmp_path / "midi")
    assert from_tfr.file_paths == ["grooves/one.mid"] == from_mid.file_paths
    assert rep_t.other_instrument_notes == 2
    np.testing.assert_array_equal(from_tfr.hits, from_mid.hits)
    np.testing.assert_array_equal(from_tfr.velocities, from_mid.velocities)
    np.testing.assert_allclose(from_tfr.offsets, from_mid.offsets, atol=1e-6)
    np.testing.assert_allclose(from_tfr.file_bpm, [qpm])


# ---- writer -> reader ------------------------------------------------------------------------
def _changing_file(path: Path) -> Path:
    """Tempo and signature changes, drums on channel 10 plus a bass on channel 1."""
    msgs: list[tuple[int, object]] = [
        (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90))),
        (0, mido.MetaMessage("time_signature", numerator=4, denominator=4)),
        (8 * TPB, mido.MetaMessage("time_signature", numerator=3, denominator=4)),
        (9 * TPB, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(133.3))),
        (14 * TPB, mido.MetaMessage("time_signature", numerator=4, denominator=4)),
    ]
    rng = np.random.default_rng(3)
    for tick in sorted(rng.integers(0, 30 * TPB, 150).tolist()):
        msgs.append((tick, mido.Message("note_on", channel=9, note=int(rng.choice([36, 38, 42])), velocity=int(rng.integers(1, 128)))))
    for tick in range(0, 30 * TPB, TPB):
        msgs.append((tick, mido.Message("note_on", channel=0, note=40, velocity=80)))
    msgs.sort(key=lambda m: m[0])
    track = mido.MidiTrack()
    now = 0
    for tick, m in msgs:
        track.append(m.copy(time=tick - now))
        now = tick
    mid = mido.MidiFile(type=0, ticks_per_beat=TPB)
    mid.tracks.append(track)
    mid.save(path)
    return path


def test_writer_reader_round_trip_keeps_every_drum_note(tmp_path: Path, capsys) -> None:
    src = tmp_path / "mine"
    (src / "sub").mkdir(parents=True)
    _changing_file(src / "sub" / "take.mid")
    out = tmp_path / "mine.tfrecord"
    assert preprocess_main(["--input_dir", str(src), "--recursive", "--output_file", str(out)]) == 0
    assert "30 note(s) of other instruments" in capsys.readouterr().out
    [record] = read_records(out)
    seq = parse_sequence(record)
    assert (seq.filename, seq.collection_name) == ("sub/take.mid", "mine")
    assert seq.id == sequence_id("sub/take.mid", "mine")
    assert all(n.is_drum and n.program == 0 for n in seq.notes)
    raw = parse_message(record)  # written with music.proto's numbers (raw wire decode)
    assert (raw[1][0].decode(), raw[2][0], raw[3][0], raw[4][0]) == (seq.id, b"sub/take.mid", b"mine", TPB)
    assert all(parse_message(n)[9] == [1] for n in raw[8]) and len(raw[7]) == 2 and len(raw[5]) == 3
    assert [(round(t.qpm, 3)) for t in seq.tempos] == [90.0, round(60e6 / mido.bpm2tempo(133.3), 3)]
    assert [(s.numerator, s.denominator) for s in seq.time_signatures] == [(4, 4), (3, 4), (4, 4)]
    back, other = sequence_to_events(seq)
    orig = parse_midi(src / "sub" / "take.mid")
    drums = orig.notes[orig.notes[:, 1] == 9]
    np.testing.assert_array_equal(back.notes, drums)
    assert back.tempos == orig.tempos and back.time_signatures == orig.time_signatures
    assert back.end_tick == orig.end_tick and other == 0
    # The dataset from the TFRecord equals the dataset from the folder (4/4 parts included).
    a = load_dataset(preprocess(src, tmp_path / "a.gbds", workers=1) and tmp_path / "a.gbds")
    assert preprocess_main(["--input_file", str(out), "--output_file", str(tmp_path / "b.gbds")]) == 0
    b = load_dataset(tmp_path / "b.gbds")
    assert len(a.file_paths) == 2  # two 4/4 parts around the 3/4 bars
    for name in ("hits", "velocities", "offsets", "file_start_step", "file_origin_beat"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_training_and_loading_accept_a_tfrecord(tmp_path: Path, gmd_dir: Path) -> None:
    """load_windows (train, evaluate, fit-prior, the train panel's job) reads a .tfrecord."""
    src = tmp_path / "few"
    src.mkdir()
    for p in sorted(gmd_dir.glob("drummer1/eval_session/*.mid"))[:6]:
        shutil.copy(p, src / p.name)
    tfr = tmp_path / "few.tfrecord"
    report = export_note_sequences(src, tfr)
    assert report.sequences == 6 and report.drum_notes > 1000
    want = load_windows(preprocess(src, tmp_path / "few.gbds", workers=1) and tmp_path / "few.gbds", "all")
    got = load_windows(tfr, "all")
    np.testing.assert_array_equal(got.tensors, want.tensors)
    assert len(load_windows(tfr, "all", num_bars=2)) > len(got)

    from models.cli.train import main as train_main

    rc = train_main([
        "--config", "groovae_2bar_tap_fixed_velocity", "--run_dir", str(tmp_path / "run"),
        "--examples_path", str(tfr), "--num_steps", "1", "--hparams", "batch_size=4",
        "--eval_every_steps", "0", "--no_progress_bar", "--num_threads", "1", "--device", "cpu",
    ])
    assert rc == 0 and any((tmp_path / "run" / "checkpoints").iterdir())


def test_tfrecord_user_mistakes(tmp_path: Path, capsys) -> None:
    tfr = tmp_path / "x.tfrecord"
    write_records(tfr, [_hand_sequence([(0.0, 36, 100, True)], 120.0)])
    with pytest.raises(DatasetError, match="--channel does not apply"):
        build_dataset(tfr, channels=[0])
    assert preprocess_main(["--input_file", str(tmp_path / "x.mid"), "--output_file", "o.gbds"]) == 2
    assert "--input_file takes a NoteSequence .tfrecord" in capsys.readouterr().err
    assert preprocess_main(["--input_file", str(tmp_path / "none.tfrecord"), "--output_file", str(tmp_path / "o.gbds")]) == 2
    assert "file not found" in capsys.readouterr().err
    write_records(tmp_path / "junk.tfrecord", [b"\xff\xff\xff"])
    _, report = build_dataset(tmp_path / "junk.tfrecord")
    assert report.skipped == {"corrupt": 1}
    assert report.skipped_files[0][2].startswith("record 1: not a NoteSequence")


@pytest.mark.slow
def test_all_of_gmd_round_trips_through_writer_and_reader(gmd_dir: Path, tmp_path: Path) -> None:
    """Every drum note of every GMD file survives MIDI -> NoteSequence TFRecord -> events, and
    the dataset from the TFRecord has the grids of the dataset from the folder."""
    tfr = tmp_path / "gmd.tfrecord"
    report = export_note_sequences(gmd_dir, tfr)
    assert report.sequences == report.files_found == 1150 and not report.skipped_files
    records = read_records(tfr)
    total = 0
    for record in records:
        seq = parse_sequence(record)
        orig = parse_midi(gmd_dir / seq.filename)
        drums = orig.notes[orig.notes[:, 1] == 9]
        back, _ = sequence_to_events(seq)
        np.testing.assert_array_equal(back.notes, drums, err_msg=seq.filename)
        assert back.time_signatures == orig.time_signatures and back.tempos == orig.tempos
        total += len(drums)
    assert total == report.drum_notes
    from_tfr, _ = build_dataset(tfr)
    from_mid, _ = build_dataset(gmd_dir, workers=1)
    assert from_tfr.file_paths == from_mid.file_paths
    for name in ("hits", "velocities", "offsets", "file_start_step", "file_bpm"):
        np.testing.assert_array_equal(getattr(from_tfr, name), getattr(from_mid, name))

