"""Helpers for the model/training/generation tests: a small real GMD dataset and tiny models."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np

from models.groove import DrumHit, Groove, quantize

NUM_TRAIN_FILES = 16
NUM_VAL_FILES = 4


def make_small_gmd_dataset(gmd_dir: Path, work: Path) -> Path:
    """Copy ~20 GMD 4/4 files + a matching info.csv into ``work`` and preprocess them."""
    from models.data.dataset import preprocess

    rows = list(csv.DictReader(open(gmd_dir / "info.csv", newline="", encoding="utf-8")))
    rows = [r for r in rows if r["time_signature"] == "4-4" and float(r["duration"]) > 20]
    sel = [r for r in rows if r["split"] == "train"][:NUM_TRAIN_FILES]
    sel += [r for r in rows if r["split"] == "validation"][:NUM_VAL_FILES]
    midi = work / "midi"
    midi.mkdir(parents=True)
    with open(midi / "info.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        for r in sel:
            dst = midi / r["midi_filename"]
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(gmd_dir / r["midi_filename"], dst)
            w.writerow(r)
    out = work / "small.gbd"
    preprocess(midi, out, workers=1)
    return out


def random_groove(seed: int, num_steps: int = 64, bpm: float = 100.0) -> Groove:
    """A plausible played groove built with ``models.groove.quantize``."""
    rng = np.random.default_rng(seed)
    hits = []
    for s in range(num_steps):
        for k, p in ((0, 0.25), (1, 0.2), (2, 0.6), (8, 0.1)):
            if rng.random() < p:
                beat = (s + rng.uniform(-0.4, 0.4)) / 4.0
                hits.append(DrumHit(max(beat, 0.0), k, int(rng.integers(20, 127))))
    return quantize(hits, num_steps, bpm)
