"""Preprocessing: a folder of drum MIDI files -> one dataset file that training reads directly.

``preprocess`` reads every ``.mid``/``.midi`` file (in parallel worker processes, in chunks;
``models.data.sources``), or every NoteSequence of a Magenta ``.tfrecord`` file, turns each
into a whole-file groove grid (``models.midi.files`` rules: channel 10 by default, tempo-map
aware, 16-step bars only; a file whose time signature changes gives one grid per 4/4 stretch,
``models.midi.meter``, and the report lists what was kept and not), cuts ``num_bars`` windows every
``hop_bars`` bars
(dropping windows whose last bar is empty) and writes the grids plus the window index in the
format documented in ``models.data.io``. A file that cannot be used is skipped with its
reason (corrupt, no_drum_notes, time_signature, too_long, ...); it never stops the run. Files
that read fine but give no window (too_short: fewer bars than a window; no_windows: every
window's last bar is empty) keep their grid, so other window sizes can use them later.

Splits: the ``split`` column of an ``info.csv`` at the folder root (Groove MIDI Dataset:
train/validation/test, matched on ``midi_filename``) when present; files it does not list,
and every file without such a csv, get a deterministic split from a hash of their relative
path, so windows of one file never leak across splits.
"""

from __future__ import annotations

import csv
import hashlib
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.data.io import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SPLITS,
    DatasetError,
    StoredDataset,
    Windows,
    load_dataset,
    load_windows,
    save_dataset,
    window_index,
)
from models.data.report import PreprocessReport
from models.data.sources import (
    MIDI_SUFFIXES,
    ProgressCallback,
    find_midi_files,
    read_midi_folder,
    read_tfrecord,
)
from models.data.tfrecord import is_tfrecord_path
from models.drum_maps import DrumMap, DrumMapError, get_drum_map
from models.midi.files import MidiFileError, channel_list

SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "eval": "validation",
    "test": "test",
}


def read_split_csv(input_dir: Path) -> dict[str, str] | None:
    """``midi_filename -> split`` from ``info.csv`` at the folder root, or None without one."""
    path = input_dir / "info.csv"
    if not path.is_file():
        return None
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if (
                not reader.fieldnames
                or "split" not in reader.fieldnames
                or "midi_filename" not in reader.fieldnames
            ):
                return None
            out: dict[str, str] = {}
            for line, row in enumerate(reader, start=2):
                split = SPLIT_ALIASES.get((row["split"] or "").strip().lower())
                if split is None:
                    raise DatasetError(
                        f"{path}:{line}: split {row['split']!r} is not train, validation or test"
                    )
                out[(row["midi_filename"] or "").strip().replace("\\", "/")] = split
            return out
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"cannot read {path} ({e})") from None


def hash_split(rel_path: str, fractions: Sequence[float]) -> str:
    """Deterministic split of a file from a hash of its relative path."""
    u = int.from_bytes(hashlib.sha1(rel_path.encode("utf-8")).digest()[:8], "big") / 2.0**64
    total = float(sum(fractions))
    acc = 0.0
    for name, frac in zip(SPLITS, fractions, strict=True):
        acc += frac / total
        if u < acc:
            return name
    return SPLITS[-1]


# ---- main side -----------------------------------------------------------------------------
def preprocess(
    input_dir: str | Path,
    output_file: str | Path,
    recursive: bool = True,
    num_bars: int = 4,
    hop_bars: int = 1,
    drum_map: str | DrumMap = "roland",
    channels: int | Sequence[int] | None = None,
    split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> PreprocessReport:
    """Preprocess a MIDI folder (or a NoteSequence ``.tfrecord`` file) into ``output_file``;
    returns the report (also stored in it).

    ``channels`` are zero-based (9 = MIDI channel 10; None = channel 10 only; a TFRecord's drums
    are its ``is_drum`` notes). ``workers`` None = one process per CPU (at most 8); 1 = in this
    process. ``progress(done, total)`` is called in this process after each chunk of files.

    Raises ``DatasetError`` for user mistakes (missing folder, no MIDI files, bad options).
    """
    t0 = time.perf_counter()
    out = Path(output_file)
    if not out.parent.is_dir():
        raise DatasetError(f"output folder does not exist: {out.parent}")
    ds, report = build_dataset(
        input_dir, recursive, num_bars, hop_bars, drum_map, channels, split_fractions, workers,
        progress, output_name=str(out),
    )
    save_dataset(out, ds)
    report.seconds = time.perf_counter() - t0
    return report


def dataset_from_tfrecord(path: str | Path, num_bars: int = 4) -> StoredDataset:
    """A NoteSequence TFRecord as an in-memory dataset (default rules: roland map, hop 1 bar,
    splits from a hash of each sequence's filename); the last one read is cached."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size, num_bars)
    if _TFRECORD_CACHE.get("key") != key:
        _TFRECORD_CACHE.clear()
        ds, _ = build_dataset(p, num_bars=num_bars, output_name="(in memory)")
        _TFRECORD_CACHE.update(key=key, ds=ds)
    return _TFRECORD_CACHE["ds"]


_TFRECORD_CACHE: dict[str, Any] = {}


def build_dataset(
    source: str | Path,
    recursive: bool = True,
    num_bars: int = 4,
    hop_bars: int = 1,
    drum_map: str | DrumMap = "roland",
    channels: int | Sequence[int] | None = None,
    split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    output_name: str = "",
) -> tuple[StoredDataset, PreprocessReport]:
    """The dataset and its report, in memory (``preprocess`` saves them)."""
    t0 = time.perf_counter()
    root = Path(source)
    tfrecord = root.is_file() and is_tfrecord_path(root)
    if not tfrecord and not root.is_dir():
        raise DatasetError(
            (f"file not found: {root}" if is_tfrecord_path(root) else f"input folder not found: {root}")
            if not root.is_file()
            else f"{root} is a file: give a MIDI folder or a NoteSequence .tfrecord file"
        )
    if num_bars < 1 or hop_bars < 1:
        raise DatasetError(f"--num_bars and --hop_bars must be >= 1 (got {num_bars}, {hop_bars})")
    if len(split_fractions) != len(SPLITS) or min(split_fractions) < 0 or sum(split_fractions) <= 0:
        raise DatasetError(
            f"split fractions must be {len(SPLITS)} non-negative numbers, got {tuple(split_fractions)}"
        )
    try:
        dmap = get_drum_map(drum_map)
        chans = channel_list(
            list(channels) if channels is not None and not isinstance(channels, int) else channels
        )
    except (DrumMapError, MidiFileError) as e:
        raise DatasetError(str(e)) from None
    other_notes = 0
    if tfrecord:
        if chans is not None:
            raise DatasetError(
                "--channel does not apply to a .tfrecord input (its drums are the is_drum notes)"
            )
        rel_paths, results, other_notes = read_tfrecord(root, dmap, progress)
        csv_splits = None
    else:
        rel_paths = find_midi_files(root, recursive)
        if not rel_paths:
            where = "in or under" if recursive else "directly in"
            raise DatasetError(f"no MIDI files (.mid, .midi) {where} {root}")
        csv_splits = read_split_csv(root)
        if workers is None:
            workers = min(os.cpu_count() or 1, 8)
        results = read_midi_folder(str(root), rel_paths, dmap, chans, max(1, int(workers)), progress)

    report = PreprocessReport(
        str(root), output_name, num_bars, hop_bars, dmap.name, files_found=len(rel_paths)
    )
    report.other_instrument_notes = other_notes
    report.split_source = "hash" if csv_splits is None else "info.csv"
    skipped: Counter[str] = Counter()
    unknown: Counter[int] = Counter()
    hits, vels, offs, paths, splits, bpms, origins = [], [], [], [], [], [], []
    entry_owner: list[int] = []  # entry -> index into partial (files cut into 4/4 parts)
    partial: list[tuple[str, list[int], list[str]]] = []  # (path, first bars, not kept)
    hashed = 0
    for rel in rel_paths:
        r = results[rel]
        if r[0] == "skip":
            skipped[r[2]] += 1
            report.skipped_files.append((rel, r[2], r[3]))
            continue
        _, _, parts, unk, not_kept = r
        unknown.update(unk)
        split = csv_splits.get(rel) if csv_splits is not None else None
        if split is None:
            split = hash_split(rel, split_fractions)
            hashed += 1
        if not_kept:
            partial.append((rel, [p[5] for p in parts], not_kept))
        for h, v, o, bpm, origin, _ in parts:
            hits.append(h)
            vels.append(v)
            offs.append(o)
            paths.append(rel)
            splits.append(SPLITS.index(split))
            bpms.append(bpm)
            origins.append(origin)
            entry_owner.append(len(partial) - 1 if not_kept else -1)
    if csv_splits is not None and hashed:
        report.split_source = "info.csv+hash"
    lengths = np.array([len(h) for h in hits], np.int64)
    file_start = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    grid = lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros((0, 9), dt)  # noqa: E731
    all_hits = grid(hits, np.uint8)
    file_split = np.array(splits, np.uint8)
    wf, ws = window_index(all_hits, file_start, num_bars, hop_bars)
    windows_per_entry = np.bincount(wf, minlength=len(paths))
    # Files read but giving no window are reported (their grids stay for other window sizes).
    windows_per_file: Counter[str] = Counter()
    bars_per_file: Counter[str] = Counter()
    for f, rel in enumerate(paths):
        windows_per_file[rel] += int(windows_per_entry[f])
        bars_per_file[rel] += int(lengths[f]) // 16
    for rel in dict.fromkeys(paths):
        if windows_per_file[rel] == 0:
            bars = bars_per_file[rel]
            reason = "too_short" if bars < num_bars else "no_windows"
            msg = (
                f"{bars} bar(s), a window needs {num_bars}"
                if reason == "too_short"
                else "every window's last bar is empty"
            )
            skipped[reason] += 1
            report.skipped_files.append((rel, reason, msg))
    owned: dict[int, list[int]] = {}
    for f, owner in enumerate(entry_owner):
        owned.setdefault(owner, []).append(f)
    for k, (rel, first_bars, not_kept) in enumerate(partial):
        kept = [
            f"bars {b}-{b + int(lengths[f]) // 16 - 1} ({int(windows_per_entry[f])} windows)"
            for b, f in zip(first_bars, owned.get(k, []), strict=True)
        ]
        report.partial_files.append((rel, _listing(kept, ", "), _listing(not_kept, "; ")))
    report.skipped_files.sort()
    report.files_read = len(set(paths))
    report.skipped = dict(sorted(skipped.items()))
    report.unknown_pitches = dict(sorted(unknown.items()))
    for k, name in enumerate(SPLITS):
        entry_files = {p for p, s in zip(paths, splits, strict=True) if s == k}
        report.files_per_split[name] = len(entry_files)
        report.windows_per_split[name] = int((file_split[wf] == k).sum()) if len(wf) else 0
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "params": {
            "num_bars": num_bars,
            "hop_bars": hop_bars,
            "drum_map": {"name": dmap.name, "classes": [list(c) for c in dmap.classes]},
            "channels": list(chans) if chans is not None else None,
            "split_fractions": list(split_fractions),
            "split_source": report.split_source,
            "recursive": recursive,
            "source": "tfrecord" if tfrecord else "midi",
        },
        "splits": list(SPLITS),
    }
    report.seconds = time.perf_counter() - t0
    meta["report"] = report.to_json()
    ds = StoredDataset(
        hits=all_hits,
        velocities=grid(vels, np.uint8),
        offsets=grid(offs, np.float32),
        file_start_step=file_start,
        file_paths=paths,
        file_split=file_split,
        file_bpm=np.array(bpms, np.float32),
        window_file=wf,
        window_start_step=ws,
        window_split=file_split[wf] if len(wf) else np.zeros(0, np.uint8),
        meta=meta,
        file_origin_beat=np.array(origins, np.float64),
    )
    return ds, report


def _listing(items: list[str], sep: str, most: int = 6) -> str:
    """At most ``most`` items (a hostile file can change signature every bar)."""
    more = f"{sep}... and {len(items) - most} more" if len(items) > most else ""
    return sep.join(items[:most]) + more


__all__ = [
    "MIDI_SUFFIXES",
    "DatasetError",
    "build_dataset",
    "dataset_from_tfrecord",
    "find_midi_files",
    "PreprocessReport",
    "Windows",
    "hash_split",
    "load_dataset",
    "load_windows",
    "preprocess",
]
