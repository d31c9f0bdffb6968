"""Preprocessing and loading on the real Groove MIDI Dataset and on folders of bad files."""

from __future__ import annotations

import csv
import math
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import mido
import numpy as np
import pytest

from models.cli.preprocess import main as cli_main
from models.data.dataset import DatasetError, hash_split, load_windows, preprocess
from models.data.io import load_dataset
from models.drum_maps import ROLAND
from models.midi.files import read_midi

FUNK1 = "drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid"
WALTZ = "drummer1/session2/4_jazz_120_beat_3-4.mid"
SHORT_FILL = "drummer1/session1/103_funk_95_fill_4-4.mid"


@pytest.fixture(scope="module")
def gmd_dataset(gmd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("gmd") / "gmd.npz"
    calls: list[tuple[int, int]] = []
    report = preprocess(gmd_dir, out, workers=2, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 1150) and calls[-1] == (1150, 1150)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    return out, report


def _independent_window_counts(gmd_dir: Path) -> Counter[str]:
    """4-bar windows, hop 1 bar, last bar not empty, 4/4 only; from info.csv + mido."""
    counts: Counter[str] = Counter()
    with (gmd_dir / "info.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            mid = mido.MidiFile(gmd_dir / row["midi_filename"])
            tick, steps, four_four = 0, [], True
            for msg in mid.tracks[0]:
                tick += msg.time
                if msg.type == "time_signature" and msg.numerator != msg.denominator:
                    four_four = False
                if (
                    msg.type == "note_on"
                    and msg.velocity > 0
                    and msg.channel == 9
                    and ROLAND.class_of(msg.note) is not None
                ):
                    steps.append(math.floor(tick / mid.ticks_per_beat * 4 + 0.5))
            if not four_four or not steps:
                continue
            bars_with_hits = {s // 16 for s in steps}
            num_bars = max(steps) // 16 + 1
            counts[row["split"]] += sum(1 for b in range(num_bars - 3) if b + 3 in bars_with_hits)
    return counts


@pytest.mark.slow
def test_gmd_window_counts_match_an_independent_count(gmd_dir: Path, gmd_dataset) -> None:
    _, report = gmd_dataset
    expected = _independent_window_counts(gmd_dir)
    assert report.windows_per_split == {s: expected[s] for s in ("train", "validation", "test")}
    assert report.files_found == 1150
    assert report.skipped["time_signature"] == 12  # the 3/4, 5/4, 5/8 and 6/8 files
    assert report.files_read == 1138
    assert report.files_per_split == {"train": 887, "validation": 122, "test": 129}
    assert report.split_source == "info.csv"
    assert report.unknown_pitches == {}


def test_gmd_dataset_contents(gmd_dir: Path, gmd_dataset) -> None:
    path, report = gmd_dataset
    ds = load_dataset(path)
    assert ds.meta["report"]["windows_per_split"] == report.windows_per_split
    assert ds.meta["params"]["num_bars"] == 4 and ds.meta["params"]["hop_bars"] == 1
    with (gmd_dir / "info.csv").open(newline="") as fh:
        csv_split = {r["midi_filename"]: r["split"] for r in csv.DictReader(fh)}
    splits = ("train", "validation", "test")
    assert all(
        csv_split[p] == splits[s]
        for p, s in zip(ds.file_paths, ds.file_split.tolist(), strict=True)
    )
    # Windows as training sees them equal windows of the file read directly.
    train = load_windows(path, "train")
    assert train.tensors.shape == (report.windows_per_split["train"], 64, 27)
    assert train.tensors.dtype == np.float32
    assert train.files.index(FUNK1) not in set(train.file_index.tolist())  # a test-split file
    test = load_windows(path, "test")
    rows = np.nonzero(test.file_index == test.files.index(FUNK1))[0]
    groove = read_midi(gmd_dir / FUNK1).groove
    assert len(rows) == groove.num_bars - 3 - sum(
        1 for b in range(groove.num_bars - 3) if not groove.hits[(b + 3) * 16 : (b + 4) * 16].any()
    )
    for r in rows:
        bar = int(test.start_steps[r]) // 16
        np.testing.assert_array_equal(test.tensors[r], groove.window(bar, 4).to_tensor())
        assert test.bpm[r] == pytest.approx(138.0, abs=1e-3)
    # Another window size is recomputed from the stored grids with the same rule.
    two = load_windows(path, "test", num_bars=2, hop_bars=2)
    rows2 = np.nonzero(two.file_index == two.files.index(FUNK1))[0]
    expected_bars = [
        b
        for b in range(0, groove.num_bars - 1, 2)
        if groove.hits[(b + 1) * 16 : (b + 2) * 16].any()
    ]
    assert (two.start_steps[rows2] // 16).tolist() == expected_bars
    np.testing.assert_array_equal(
        two.tensors[rows2[1]], groove.window(expected_bars[1], 2).to_tensor()
    )
    everything = load_windows(path, "all")
    assert len(everything) == report.total_windows


def _copy(gmd_dir: Path, rel: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(gmd_dir / rel, dest)


def _write(path: Path, notes: list[tuple[int, int, int]], channel: int = 9) -> None:
    track = mido.MidiTrack()
    for tick, pitch, vel in notes:  # deltas
        track.append(mido.Message("note_on", note=pitch, velocity=vel, channel=channel, time=tick))
    mid = mido.MidiFile(type=0, ticks_per_beat=480)
    mid.tracks.append(track)
    mid.save(path)


def test_bad_files_are_skipped_with_their_reasons(gmd_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "mixed"
    _copy(gmd_dir, FUNK1, d / "good.mid")
    _copy(gmd_dir, WALTZ, d / "sub" / "waltz.mid")
    _copy(gmd_dir, SHORT_FILL, d / "fill.mid")
    raw = (gmd_dir / FUNK1).read_bytes()
    (d / "truncated.mid").write_bytes(raw[: len(raw) // 3])
    (d / "zero_ppq.mid").write_bytes(raw[:12] + b"\x00\x00" + raw[14:])
    (d / "noise.midi").write_bytes(b"this is not midi at all")
    _write(d / "channel1.mid", [(0, 36, 100), (1920 * 4, 38, 90)], channel=0)
    _write(d / "unknown.mid", [(0, 60, 80)] + [(480, 36, 100)] * 20 + [(0, 61, 20)])
    (d / "readme.txt").write_text("not a MIDI file, ignored")
    out = tmp_path / "mixed.npz"
    report = preprocess(d, out, workers=2)
    assert report.files_found == 8
    assert report.skipped == {"corrupt": 3, "no_drum_notes": 1, "time_signature": 1, "too_short": 1}
    reasons = {p: r for p, r, _ in report.skipped_files}
    assert reasons == {
        "channel1.mid": "no_drum_notes",
        "fill.mid": "too_short",
        "noise.midi": "corrupt",
        "sub/waltz.mid": "time_signature",
        "truncated.mid": "corrupt",
        "zero_ppq.mid": "corrupt",
    }
    messages = {p: m for p, _, m in report.skipped_files}
    assert "zero ticks per beat" in messages["zero_ppq.mid"]
    assert "pass --channel N" in messages["channel1.mid"]
    assert report.unknown_pitches == {60: 1, 61: 1}
    assert report.split_source == "hash"
    assert report.files_read == 3  # good, fill, unknown
    text = report.format_table()
    assert "time_signature" in text and "zero ticks per beat" in text
    # With its channel named, the channel-1 file is read.
    again = preprocess(d, tmp_path / "ch1.npz", channels=[0], workers=1)
    assert "channel1.mid" not in {p for p, r, _ in again.skipped_files if r == "no_drum_notes"}
    # Not recursive: the sub-folder's waltz is not even found.
    flat = preprocess(d, tmp_path / "flat.npz", recursive=False, workers=1)
    assert flat.files_found == 7


def test_hash_split_is_deterministic_and_per_file(gmd_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "nocsv"
    names = [
        f"drummer1/eval_session/{i}_funk-groove{i}_{b}_beat_4-4.mid"
        for i, b in ((1, 138), (2, 105))
    ]
    for rel in names:
        _copy(gmd_dir, rel, d / rel)
    report = preprocess(d, tmp_path / "h.npz", workers=1, split_fractions=(0.5, 0.25, 0.25))
    ds = load_dataset(tmp_path / "h.npz")
    for f, rel in enumerate(ds.file_paths):
        assert ("train", "validation", "test")[ds.file_split[f]] == hash_split(
            rel, (0.5, 0.25, 0.25)
        )
        assert set(ds.window_split[ds.window_file == f].tolist()) <= {ds.file_split[f]}
    assert report.total_windows == len(ds.window_file) > 0
    # The split of a path never changes; fractions shape the proportions.
    paths = [f"x/{i}.mid" for i in range(2000)]
    share = Counter(hash_split(p, (0.8, 0.1, 0.1)) for p in paths)
    assert 1500 < share["train"] < 1700 and share["test"] > 120
    assert hash_split("a/b.mid", (0.8, 0.1, 0.1)) == hash_split("a/b.mid", (0.8, 0.1, 0.1))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"garbage", "is not a GrooveBridge dataset \\(.gbds\\): make one with `groovebridge preprocess`$"),
        (None, "missing"),
        ("truncate", "is not a GrooveBridge dataset \\(.gbds\\)"),
        ("pickle", "is not a GrooveBridge dataset \\(.gbds\\): make one with `groovebridge preprocess`$"),
        ("npy", "is not a GrooveBridge dataset \\(.gbds\\): make one with `groovebridge preprocess`$"),
    ],
)
def test_bad_dataset_files(gmd_dir: Path, tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "bad.npz"
    if content is None:
        np.savez(path, hits=np.zeros((16, 9), np.uint8))
    elif content == "truncate":
        d = tmp_path / "one"
        _copy(gmd_dir, FUNK1, d / "a.mid")
        preprocess(d, tmp_path / "ok.npz", workers=1)
        raw = (tmp_path / "ok.npz").read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
    elif content == "pickle":  # numpy's own message here invites allow_pickle=True: never shown
        import pickle

        path.write_bytes(pickle.dumps({"hits": [1, 2]}))
    elif content == "npy":
        with path.open("wb") as f:
            np.save(f, np.zeros(3))
    else:
        path.write_bytes(content)
    with pytest.raises(DatasetError, match=message) as caught:
        load_windows(path, "train")
    assert "allow_pickle" not in str(caught.value) and "pickled" not in str(caught.value)


def test_damaged_or_foreign_dataset(gmd_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "one"
    _copy(gmd_dir, FUNK1, d / "a.mid")
    good = tmp_path / "ok.npz"
    preprocess(d, good, workers=1)
    with zipfile.ZipFile(good) as z:
        members = {n: z.read(n) for n in z.namelist()}
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["window_start_step"] = arrays["window_start_step"] + 10_000
    np.savez(tmp_path / "damaged.npz", **arrays)
    with pytest.raises(DatasetError, match="runs past the end of its file"):
        load_windows(tmp_path / "damaged.npz", "test")
    assert "meta_json.npy" in members
    with pytest.raises(DatasetError, match="unknown split 'dev'"):
        load_windows(good, "dev")
    with pytest.raises(DatasetError, match="dataset file not found"):
        load_windows(tmp_path / "missing.npz", "train")


def test_user_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="input folder not found"):
        preprocess(tmp_path / "nope", tmp_path / "x.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no MIDI files"):
        preprocess(tmp_path / "empty", tmp_path / "x.npz")
    with pytest.raises(DatasetError, match="output folder does not exist"):
        preprocess(tmp_path / "empty", tmp_path / "no" / "x.npz")
    with pytest.raises(DatasetError, match="unknown drum map"):
        preprocess(tmp_path / "empty", tmp_path / "x.npz", drum_map="tr808")


def test_cli_missing_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli_main(
        ["--input_dir", str(tmp_path / "missing"), "--output_file", str(tmp_path / "o.npz")]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "input folder not found" in err


def test_cli_flags_and_table(
    gmd_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "in"
    _copy(gmd_dir, FUNK1, d / "drums" / "a.mid")
    (d / "other.mid").write_bytes(b"junk")
    out = tmp_path / "o.npz"
    rc = cli_main(["--input_dir", str(d), "--output_file", str(out)])  # finds only the junk
    assert rc == 1 and "the dataset has no windows" in capsys.readouterr().err
    rc = cli_main(
        [
            "--input_dir",
            str(d),
            "--output_file",
            str(out),
            "--recursive",
            "--num_bars",
            "2",
            "--hop_bars",
            "2",
            "--channel",
            "10",
            "--workers",
            "1",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0
    assert "2 bars, hop 2 bar(s)" in text and "corrupt" in text
    assert load_dataset(out).meta["params"]["channels"] == [9]
    assert cli_main(["--input_dir", str(d), "--output_file", str(out), "--channel", "17"]) == 2
    assert "not a MIDI channel 1-16" in capsys.readouterr().err


def test_worker_processes_next_to_threads(gmd_dir: Path, tmp_path: Path) -> None:
    """With another thread running (the GUI case) workers are spawned, and give the same data."""
    import threading

    d = tmp_path / "many"
    rels = sorted(
        p.relative_to(gmd_dir).as_posix()
        for p in (gmd_dir / "drummer1" / "eval_session").glob("*.mid")
    )
    rels += sorted(
        p.relative_to(gmd_dir).as_posix() for p in (gmd_dir / "drummer1" / "session1").glob("*.mid")
    )[:30]
    for rel in rels:
        _copy(gmd_dir, rel, d / rel)
    assert len(rels) > 32  # more than one chunk, so a pool is used
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        threaded = preprocess(d, tmp_path / "a.npz", workers=2)
    finally:
        stop.set()
        t.join()
    single = preprocess(d, tmp_path / "b.npz", workers=1)
    assert threaded.windows_per_split == single.windows_per_split
    a, b = load_windows(tmp_path / "a.npz", "all"), load_windows(tmp_path / "b.npz", "all")
    np.testing.assert_array_equal(a.tensors, b.tensors)
