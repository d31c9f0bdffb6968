"""Preprocessing under fault: a folder of corrupt, hostile and good files, and a full disk.

* The run over a hostile folder finishes (no hang on a FIFO, a symlink loop, a 65 MB sparse
  file...), skips every bad file with its reason and reads every good one.
* Disk full while the dataset is written (ENOSPC injected into the array writer; a real
  RLIMIT_FSIZE limit, SIGXFSZ ignored, on the CLI): a clear error, the previous dataset file
  byte-identical, no temporary file left.
"""

from __future__ import annotations

import errno
import hashlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest

from models.data.dataset import preprocess
from models.data.io import load_windows
from tests.hardening.helpers import END_OF_TRACK, GMD_FILES, REPO_ROOT, link_gmd_files, smf

ONE_LINE_MAX = 300


def _drum_file(path: Path, bars: int, numerator: int = 4, channel: int = 9) -> None:
    mid = mido.MidiFile(type=0, ticks_per_beat=96)
    track = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=numerator, denominator=4)])
    for _ in range(bars * numerator):
        track.append(mido.Message("note_on", channel=channel, note=36, velocity=90, time=0))
        track.append(mido.Message("note_on", channel=channel, note=36, velocity=0, time=96))
    mid.tracks.append(track)
    mid.save(path)


def _hostile_folder(gmd_dir: Path, root: Path) -> tuple[dict[str, str], list[str]]:
    """Builds the folder; returns ({bad file: expected reason}, [good files])."""
    good = [p.name for p in link_gmd_files(gmd_dir, root)]
    real = (gmd_dir / GMD_FILES[0]).read_bytes()
    sub = root / "sub" / "deeper"
    sub.mkdir(parents=True)
    os.symlink(gmd_dir / GMD_FILES[1], sub / "ünïcødé groove.mid")
    good.append("sub/deeper/ünïcødé groove.mid")
    bad = {
        "truncated.mid": real[: len(real) // 2],
        "garbage.midi": b"\x00\x01hello" * 50,
        "empty.mid": b"",
        "zero_ppq.mid": real[:12] + b"\x00\x00" + real[14:],
        "smpte.mid": real[:12] + b"\xe7\x28" + real[14:],
        "chunk_length.mid": real[:18] + b"\x7f\xff\xff\xff" + real[22:],
        "riff.mid": b"RIFF" + b"\x00" * 40,
        "huge_delta.mid": smf([b"\x00\x99\x24\x64\xff\xff\xff\x7f\x99\x26\x64" * 200 + END_OF_TRACK], ppq=1),
        "no_notes.mid": smf([END_OF_TRACK] * 3),
        "sub/deeper/running_status.mid": smf([b"\x00\x24\x64" + END_OF_TRACK]),
    }
    for name, data in bad.items():
        (root / name).write_bytes(data)
    reasons = {name: "too_long" if name == "huge_delta.mid" else "no_drum_notes"
               if name == "no_notes.mid" else "corrupt" for name in bad}
    _drum_file(root / "waltz.mid", 8, numerator=3)
    reasons["waltz.mid"] = "time_signature"
    _drum_file(root / "piano.mid", 8, channel=0)
    reasons["piano.mid"] = "no_drum_notes"
    _drum_file(root / "one_bar.mid", 1)
    reasons["one_bar.mid"] = "too_short"
    with open(root / "sparse_65mb.mid", "wb") as fh:  # no disk used; over MAX_FILE_BYTES
        fh.truncate(65 * 2**20)
    reasons["sparse_65mb.mid"] = "corrupt"
    # Not regular files: never opened (a FIFO would block a reader forever).
    os.mkfifo(root / "fifo.mid")
    (root / "folder.mid").mkdir()
    os.symlink(root / "loop.mid", root / "loop.mid")
    os.symlink(root / "missing.mid", root / "dangling.mid")
    return reasons, good


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [1, 2])
def test_hostile_folder_finishes_and_skips_each_bad_file_with_reason(
    gmd_dir: Path, tmp_path: Path, workers: int
) -> None:
    root = tmp_path / "midi"
    root.mkdir()
    reasons, good = _hostile_folder(gmd_dir, root)
    out = tmp_path / "ds.npz"
    report = preprocess(root, out, workers=workers, split_fractions=(1.0, 0.0, 0.0))
    assert report.files_found == len(reasons) + len(good)  # FIFO, folder, links: not counted
    skipped = {path: (reason, msg) for path, reason, msg in report.skipped_files}
    assert {p: r for p, (r, _) in skipped.items()} == reasons
    for _reason, msg in skipped.values():
        assert msg and "\n" not in msg and len(msg) < ONE_LINE_MAX, msg
    assert "internal_error" not in report.skipped
    assert report.files_read == len(good) + 1  # + one_bar.mid: read, but no window
    windows = load_windows(out, "train")
    got = {windows.files[i] for i in np.unique(windows.file_index)}
    assert got == set(good) and len(windows) == report.total_windows > 0


def test_bad_info_csv_is_one_line(gmd_dir: Path, tmp_path: Path) -> None:
    from models.data.dataset import DatasetError

    root = tmp_path / "midi"
    link_gmd_files(gmd_dir, root)
    (root / "info.csv").write_text("midi_filename,split\nx.mid,banana\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="info.csv:2: split 'banana'") as e:
        preprocess(root, tmp_path / "ds.npz", workers=1)
    assert "\n" not in str(e.value) and not (tmp_path / "ds.npz").exists()


# ---- disk full -----------------------------------------------------------------------------------
def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def previous(gmd_dir: Path, tmp_path: Path) -> tuple[Path, Path, str]:
    """(input folder, an existing dataset file, its hash)."""
    root = tmp_path / "midi"
    link_gmd_files(gmd_dir, root)
    out = tmp_path / "data" / "ds.npz"
    out.parent.mkdir()
    preprocess(root, out, workers=1, split_fractions=(1.0, 0.0, 0.0))
    return root, out, _sha(out)


def test_enospc_while_writing_keeps_previous_dataset(
    previous: tuple[Path, Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, out, digest = previous
    real_write = np.lib.format.write_array
    calls = []

    def write_then_fill_disk(fp, array, *args, **kwargs) -> None:
        calls.append(1)
        if len(calls) == 3:  # two members written, the third hits a full disk
            fp.write(b"\x93NUMPY partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_fill_disk)
    with pytest.raises(OSError) as e:
        preprocess(root, out, workers=1, num_bars=2)
    monkeypatch.undo()
    assert e.value.errno == errno.ENOSPC
    assert _sha(out) == digest
    assert sorted(p.name for p in out.parent.iterdir()) == ["ds.npz"]  # no temp file left
    assert len(load_windows(out, "train")) > 0


@pytest.mark.timeout(120)
def test_file_size_limit_on_cli_is_one_line_and_keeps_previous(
    previous: tuple[Path, Path, str],
) -> None:
    """A real write failure: RLIMIT_FSIZE below the dataset's size (SIGXFSZ ignored, so
    write() fails with EFBIG as on a full disk)."""
    root, out, digest = previous
    limit = out.stat().st_size // 3

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-m", "models.cli.preprocess", "--input_dir", str(root), "--output_file",
         str(out), "--workers", "1", "--quiet", "--num_bars", "2"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=100, preexec_fn=limit_file_size,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "cannot write" in err and "File too large" in err, err
    assert _sha(out) == digest
    assert sorted(p.name for p in out.parent.iterdir()) == ["ds.npz"]


# ---- hostile time signatures and NoteSequence TFRecords ------------------------------------------
@pytest.mark.timeout(120)
def test_signature_every_bar_and_malformed_signatures_finish_with_short_report(tmp_path: Path) -> None:
    """10,000 signature changes (4/4 and 3/4 alternating every bar, a 0/4 among them): the run
    finishes, keeps every 4/4 bar as its own part and reports it in one bounded line."""
    track = mido.MidiTrack()
    for bar in range(10_000):
        num = 4 if bar % 2 == 0 else (0 if bar == 5001 else 3)
        track.append(mido.MetaMessage("time_signature", numerator=num, denominator=4))
        for _beat in range(max(num, 1)):
            track.append(mido.Message("note_on", channel=9, note=36, velocity=90, time=0))
            track.append(mido.Message("note_on", channel=9, note=36, velocity=0, time=96))
    mid = mido.MidiFile(type=0, ticks_per_beat=96)
    mid.tracks.append(track)
    root = tmp_path / "midi"
    root.mkdir()
    mid.save(root / "every_bar.mid")
    report = preprocess(root, tmp_path / "ds.gbds", workers=1, num_bars=1)
    [(_, kept, not_kept)] = report.partial_files
    assert report.total_windows == 5_000  # one 1-bar window per 4/4 bar
    assert len(kept) < ONE_LINE_MAX and kept.endswith("... and 4994 more")
    assert len(not_kept) < ONE_LINE_MAX and not_kept.endswith("... and 4994 more")  # + the 0/4
    assert len(load_windows(tmp_path / "ds.gbds", "all", num_bars=2)) == 0  # never across a 3/4


@pytest.mark.timeout(60)
def test_hostile_note_sequences_are_skipped_one_by_one(tmp_path: Path) -> None:
    from models.data.note_sequence import NoteSequence
    from models.data.tfrecord import write_records

    drum = {"pitch": 36, "velocity": 100, "start_time": 1.0, "is_drum": True}
    good = NoteSequence(filename="good.mid", notes=[dict(drum, start_time=t / 2) for t in range(32)])
    hostile = {
        "start 1e300 s": NoteSequence(notes=[dict(drum, start_time=1e300)]),
        "NaN start": NoteSequence(notes=[dict(drum, start_time=float("nan"))]),
        "qpm 1e-300": NoteSequence(tempos=[{"qpm": 1e-300}], notes=[drum]),
        "qpm inf": NoteSequence(tempos=[{"qpm": float("inf")}], notes=[drum]),
        "pitch 1000": NoteSequence(notes=[dict(drum, pitch=1000)]),
        "signature 0/0": NoteSequence(time_signatures=[{"numerator": 0}], notes=[drum]),
        "ticks_per_quarter 2**31-1": NoteSequence(ticks_per_quarter=2**31 - 1, notes=[drum]),
        "a day of bars": NoteSequence(tempos=[{"qpm": 2000}], notes=[drum, dict(drum, start_time=8e4)]),
        "path escape": NoteSequence(filename="../../etc/passwd", notes=[drum]),
    }
    tfr = tmp_path / "hostile.tfrecord"
    write_records(tfr, [good.SerializeToString()] + [s.SerializeToString() for s in hostile.values()])
    report = preprocess(tfr, tmp_path / "ds.gbds", workers=1)
    assert report.files_found == 1 + len(hostile)
    assert "internal_error" not in report.skipped
    skipped = {path: (reason, msg) for path, reason, msg in report.skipped_files}
    assert skipped.pop("record-000009")[0] == "too_long"  # a day at 2000 qpm: over MAX_BARS
    for reason, msg in skipped.values():
        assert reason in ("corrupt", "too_short") and "\n" not in msg and len(msg) < ONE_LINE_MAX
    assert report.windows_per_split["train"] + report.windows_per_split["validation"] + \
        report.windows_per_split["test"] == report.total_windows
    ds_paths = set(load_windows(tmp_path / "ds.gbds", "all").files)
    assert "good.mid" in ds_paths and all(".." not in p for p in ds_paths)


def test_record_announcing_a_terabyte_is_one_line(tmp_path: Path) -> None:
    from models.data.crc32c import crc32c, mask

    length = (2**40).to_bytes(8, "little")
    bad = tmp_path / "huge.tfrecord"
    bad.write_bytes(length + mask(crc32c(length)).to_bytes(4, "little") + b"\x00" * 64)
    proc = subprocess.run(
        [sys.executable, "-m", "models.cli.preprocess", "--input_file", str(bad), "--output_file",
         str(tmp_path / "o.gbds")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "larger than allowed" in proc.stderr, proc.stderr
