"""Preprocessing: a folder of drum MIDI files -> one dataset file that training reads directly.

``preprocess`` reads every ``.mid``/``.midi`` file (in parallel worker processes, in chunks),
turns each into a whole-file groove grid (``models.midi_files`` rules: channel 10 by default,
tempo-map aware, 16-step bars only), cuts ``num_bars`` windows every ``hop_bars`` bars
(dropping windows whose last bar is empty) and writes the grids plus the window index in the
format documented in ``models.dataset_io``. A file that cannot be used is skipped with its
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
import multiprocessing
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from models.dataset_io import (
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
from models.dataset_report import PreprocessReport
from models.drum_maps import DrumMap, DrumMapError, get_drum_map
from models.midi_files import MidiFileError, channel_list, events_to_groove, parse_midi

MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")
CHUNK_FILES = 32
SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "eval": "validation",
    "test": "test",
}

ProgressCallback = Callable[[int, int], None]  # (files done, files total)


def find_midi_files(input_dir: Path, recursive: bool) -> list[str]:
    """Relative ``/``-paths of the MIDI files, sorted."""
    pattern = input_dir.rglob("*") if recursive else input_dir.glob("*")
    found = [p for p in pattern if p.suffix.lower() in MIDI_SUFFIXES and p.is_file()]
    return sorted(p.relative_to(input_dir).as_posix() for p in found)


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


# ---- worker side ---------------------------------------------------------------------------
def _read_chunk(
    root: str,
    rel_paths: list[str],
    map_name: str,
    map_classes: tuple[tuple[int, ...], ...],
    channels: tuple[int, ...] | None,
) -> list[tuple]:
    """Read files in a worker. Returns per file ("ok", rel, hits, vel, off, bpm, unknown) or
    ("skip", rel, reason, message)."""
    dmap = DrumMap(map_name, map_classes)
    out: list[tuple] = []
    for rel in rel_paths:
        try:
            read = events_to_groove(parse_midi(os.path.join(root, rel)), dmap, channels)
        except MidiFileError as e:
            out.append(("skip", rel, e.reason, str(e)))
            continue
        except Exception as e:  # noqa: BLE001 - a hostile file must never stop the run
            out.append(("skip", rel, "internal_error", f"{type(e).__name__}: {e}"))
            continue
        g = read.groove
        out.append(
            (
                "ok",
                rel,
                g.hits.astype(np.uint8),
                np.rint(g.velocities * 127.0).astype(np.uint8),
                g.offsets,
                read.bpm,
                read.unknown_pitches,
            )
        )
    return out


def _run_chunks(
    root: str,
    rel_paths: list[str],
    dmap: DrumMap,
    channels: tuple[int, ...] | None,
    workers: int,
    progress: ProgressCallback | None,
) -> dict[str, tuple]:
    total = len(rel_paths)
    chunks = [rel_paths[i : i + CHUNK_FILES] for i in range(0, total, CHUNK_FILES)]
    results: dict[str, tuple] = {}
    done = 0
    if progress:
        progress(0, total)

    def read_here(paths: list[str]) -> None:
        nonlocal done
        for i in range(0, len(paths), CHUNK_FILES):
            chunk = paths[i : i + CHUNK_FILES]
            for r in _read_chunk(root, chunk, dmap.name, dmap.classes, channels):
                results[r[1]] = r
            done += len(chunk)
            if progress:
                progress(done, total)

    if workers <= 1 or len(chunks) <= 1:
        read_here(list(rel_paths))
        return results
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context()) as pool:
            futures = [
                pool.submit(_read_chunk, root, c, dmap.name, dmap.classes, channels) for c in chunks
            ]
            for fut in as_completed(futures):
                chunk_results = fut.result()
                for r in chunk_results:
                    results[r[1]] = r
                done += len(chunk_results)
                if progress:
                    progress(done, total)
    except BrokenProcessPool:
        # Workers could not start (e.g. spawn from a script without a __main__ guard): finish
        # the remaining files in this process rather than failing the run.
        read_here([rel for rel in rel_paths if rel not in results])
    return results


def _mp_context() -> multiprocessing.context.BaseContext:
    """fork (fast, no re-import) when this process runs no other Python thread; else spawn,
    which is safe next to threads (the GUI, a trainer)."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


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
    """Preprocess a MIDI folder into ``output_file``; returns the report (also stored in it).

    ``channels`` are zero-based (9 = MIDI channel 10; None = channel 10 only). ``workers``
    None = one process per CPU (at most 8); 1 = in this process. ``progress(done, total)`` is
    called in this process after each chunk of files.

    Raises ``DatasetError`` for user mistakes (missing folder, no MIDI files, bad options).
    """
    t0 = time.perf_counter()
    root = Path(input_dir)
    if not root.is_dir():
        raise DatasetError(f"input folder not found: {root}")
    out = Path(output_file)
    if not out.parent.is_dir():
        raise DatasetError(f"output folder does not exist: {out.parent}")
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
    rel_paths = find_midi_files(root, recursive)
    if not rel_paths:
        where = "in or under" if recursive else "directly in"
        raise DatasetError(f"no MIDI files (.mid, .midi) {where} {root}")
    csv_splits = read_split_csv(root)
    if workers is None:
        workers = min(os.cpu_count() or 1, 8)
    results = _run_chunks(str(root), rel_paths, dmap, chans, max(1, int(workers)), progress)

    report = PreprocessReport(
        str(root), str(out), num_bars, hop_bars, dmap.name, files_found=len(rel_paths)
    )
    report.split_source = "hash" if csv_splits is None else "info.csv"
    skipped: Counter[str] = Counter()
    unknown: Counter[int] = Counter()
    hits, vels, offs, paths, splits, bpms = [], [], [], [], [], []
    hashed = 0
    for rel in rel_paths:
        r = results[rel]
        if r[0] == "skip":
            skipped[r[2]] += 1
            report.skipped_files.append((rel, r[2], r[3]))
            continue
        _, _, h, v, o, bpm, unk = r
        unknown.update(unk)
        split = csv_splits.get(rel) if csv_splits is not None else None
        if split is None:
            split = hash_split(rel, split_fractions)
            hashed += 1
        hits.append(h)
        vels.append(v)
        offs.append(o)
        paths.append(rel)
        splits.append(SPLITS.index(split))
        bpms.append(bpm)
    if csv_splits is not None and hashed:
        report.split_source = "info.csv+hash"
    lengths = np.array([len(h) for h in hits], np.int64)
    file_start = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    grid = lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros((0, 9), dt)  # noqa: E731
    all_hits = grid(hits, np.uint8)
    file_split = np.array(splits, np.uint8)
    wf, ws = window_index(all_hits, file_start, num_bars, hop_bars)
    # Files read but giving no window are reported (their grids stay for other window sizes).
    windows_per_file = np.bincount(wf, minlength=len(paths))
    for f in np.nonzero(windows_per_file == 0)[0].tolist():
        bars = int(lengths[f]) // 16
        reason = "too_short" if bars < num_bars else "no_windows"
        msg = (
            f"{bars} bar(s), a window needs {num_bars}"
            if reason == "too_short"
            else "every window's last bar is empty"
        )
        skipped[reason] += 1
        report.skipped_files.append((paths[f], reason, msg))
    report.skipped_files.sort()
    report.files_read = len(paths)
    report.skipped = dict(sorted(skipped.items()))
    report.unknown_pitches = dict(sorted(unknown.items()))
    for k, name in enumerate(SPLITS):
        report.files_per_split[name] = int((file_split == k).sum())
        report.windows_per_split[name] = int((file_split[wf] == k).sum()) if len(wf) else 0
    report.seconds = time.perf_counter() - t0
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
        },
        "splits": list(SPLITS),
        "report": report.to_json(),
    }
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
    )
    save_dataset(out, ds)
    report.seconds = time.perf_counter() - t0
    return report


__all__ = [
    "DatasetError",
    "PreprocessReport",
    "Windows",
    "hash_split",
    "load_dataset",
    "load_windows",
    "preprocess",
]
