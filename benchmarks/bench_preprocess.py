"""Benchmark: preprocessing the Groove MIDI Dataset (files/s, total time) and loading it back.

Baseline, measured in the same process: plain ``mido.MidiFile`` parsing (just reading the
messages, no quantisation) of every 4th file, scaled to all files. Each figure is the best
of ``--repeats`` runs (the machine is shared); ratios > 1 mean faster than the baseline.

    .venv/bin/python benchmarks/bench_preprocess.py [--input_dir DIR] [--repeats 3]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mido  # noqa: E402

from models.data.dataset import find_midi_files, load_windows, preprocess  # noqa: E402
from models.midi.smf import read_smf  # noqa: E402

DEFAULT_GMD = Path(__file__).resolve().parents[2] / "shared" / "data" / "groove-midi" / "groove"


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input_dir", default=os.environ.get("GROOVEBRIDGE_GMD_DIR", str(DEFAULT_GMD)))
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    root = Path(args.input_dir)
    if not root.is_dir():
        print(f"bench_preprocess: input folder not found: {root}", file=sys.stderr)
        return 2
    files = [str(root / rel) for rel in find_midi_files(root, recursive=True)]
    n = len(files)
    rows: list[tuple[str, str, float]] = []  # (json key, label, seconds)
    # Baseline: mido on every 4th file, best of --repeats, scaled to all files (a full mido
    # pass takes 6-16 s here; sampling lets it be repeated like the other figures).
    sample = files[::4]
    mido_sec = best_of(args.repeats, lambda: [mido.MidiFile(f) for f in sample]) * n / len(sample)
    rows.append(("mido_parse", "mido.MidiFile parse (baseline)", mido_sec))
    rows.append(
        (
            "smf_parse",
            "models.midi.smf parse only",
            best_of(args.repeats, lambda: [read_smf(f) for f in files]),
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ds.npz"
        reports = {}
        for workers in sorted({1, os.cpu_count() or 1}):
            sec = best_of(
                args.repeats,
                lambda w=workers: reports.setdefault(w, preprocess(root, out, workers=w)),
            )
            rows.append((f"preprocess_{workers}_workers", f"preprocess, {workers} worker(s)", sec))
        rows.append(
            (
                "load_windows_train",
                "load_windows('train')",
                best_of(args.repeats, lambda: load_windows(out, "train")),
            )
        )
        report = next(iter(reports.values()))
        size = out.stat().st_size
    print(
        f"{n} files from {root}; best of {args.repeats}; baseline on {len(sample)} files scaled; {os.cpu_count()} CPU(s)"
    )
    print(f"{'step':<34}{'seconds':>9}{'files/s':>10}{'x baseline':>12}")
    result: dict[str, object] = {"benchmark": "preprocess", "files": n, "cpus": os.cpu_count()}
    for key, label, sec in rows:
        rate = f"{n / sec:>10.0f}" if key != "load_windows_train" else f"{'':>10}"
        print(f"{label:<34}{sec:>9.3f}{rate}{mido_sec / sec:>12.1f}")
        result[key] = {
            "seconds": round(sec, 4),
            "files_per_s": round(n / sec, 1),
            "speedup_vs_mido_parse": round(mido_sec / sec, 2),
        }
    print(f"dataset file {size / 1e6:.2f} MB; windows {report.windows_per_split}")
    result["dataset_bytes"] = size
    result["windows_per_split"] = report.windows_per_split
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
