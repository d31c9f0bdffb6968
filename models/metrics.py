"""Evaluation metrics on groove tensors (numpy only): reconstruction accuracy and sample realism.

Reconstruction: hit precision / recall / F1 over all cells, velocity MAE (MIDI units) and
timing MAE (ms at each window's own tempo) on true-positive hits.

Realism follows Yang & Lerch 2018 ("On the evaluation of generative models in music"):
per-pattern features for a generated set and a real set, a Gaussian kernel density estimate of
each feature in each set, and the overlap area of the two densities (1.0 = identical).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from models.drum_maps import CLASS_NAMES, NUM_CLASSES
from models.groove import STEPS_PER_BAR

K = NUM_CLASSES


@dataclass(frozen=True)
class ReconstructionScores:
    hit_precision: float
    hit_recall: float
    hit_f1: float
    velocity_mae_midi: float
    timing_mae_ms: float
    num_windows: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def reconstruction_scores(
    target: np.ndarray, predicted: np.ndarray, bpm: np.ndarray | float
) -> ReconstructionScores:
    """target, predicted: (N, T, 27). Predicted hits count where > 0.5. bpm: (N,) or scalar."""
    return _scores(*_checked(target, predicted, bpm), slice(0, K))


def reconstruction_by_class(
    target: np.ndarray, predicted: np.ndarray, bpm: np.ndarray | float
) -> dict[str, dict[str, float]]:
    """The same scores for each drum class on its own (CLASS_NAMES order), plus ``num_hits``,
    the class's true hits: where the error of ``reconstruction_scores`` comes from."""
    t, p, step_ms = _checked(target, predicted, bpm)
    out: dict[str, dict[str, float]] = {}
    for k, name in enumerate(CLASS_NAMES):
        scores = _scores(t, p, step_ms, slice(k, k + 1)).as_dict()
        del scores["num_windows"]
        out[name] = {"num_hits": int((t[..., k] > 0.5).sum()), **scores}
    return out


def _checked(target: np.ndarray, predicted: np.ndarray, bpm: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.asarray(target, np.float64)
    p = np.asarray(predicted, np.float64)
    if t.shape != p.shape or t.ndim != 3 or t.shape[2] != 3 * K:
        raise ValueError(f"target and prediction must both be (N, T, 27), got {t.shape} {p.shape}")
    bpm_arr = np.broadcast_to(np.asarray(bpm, np.float64), (t.shape[0],))
    step_ms = (60_000.0 / bpm_arr / 4.0)[:, None, None] * np.ones(t.shape[:2] + (K,), np.float64)
    return t, p, step_ms


def _scores(t: np.ndarray, p: np.ndarray, step_ms: np.ndarray, classes: slice) -> ReconstructionScores:
    """Scores over the drum classes ``classes`` (a slice of the 9)."""
    def part(x: np.ndarray, block: int) -> np.ndarray:
        return x[..., block * K : (block + 1) * K][..., classes]

    th, ph = part(t, 0) > 0.5, part(p, 0) > 0.5
    tp = th & ph
    n_tp, n_pred, n_true = int(tp.sum()), int(ph.sum()), int(th.sum())
    precision = n_tp / n_pred if n_pred else 0.0
    recall = n_tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    vel_err = np.abs(part(t, 1) - part(p, 1))[tp] * 127.0
    # offsets are 2 * (grid - played) / step length: /2 gives steps, * step_ms gives ms.
    off_err = np.abs(part(t, 2) - part(p, 2))[tp] / 2.0 * step_ms[..., classes][tp]
    return ReconstructionScores(
        hit_precision=float(precision),
        hit_recall=float(recall),
        hit_f1=float(f1),
        velocity_mae_midi=float(vel_err.mean()) if n_tp else float("nan"),
        timing_mae_ms=float(off_err.mean()) if n_tp else float("nan"),
        num_windows=int(t.shape[0]),
    )


FEATURE_NAMES: tuple[str, ...] = (
    "hits_per_bar",
    *(f"share_{n}" for n in CLASS_NAMES),
    "velocity_mean",
    "velocity_spread",
    "timing_spread",
    "syncopation",
    "bar_repetition",
)


def pattern_features(tensors: np.ndarray) -> np.ndarray:
    """(N, T, 27) -> (N, F) features in FEATURE_NAMES order. Hits count where > 0.5."""
    x = np.asarray(tensors, np.float64)
    n, steps = x.shape[0], x.shape[1]
    bars = steps // STEPS_PER_BAR
    hits = x[..., :K] > 0.5
    vel = x[..., K : 2 * K]
    off = x[..., 2 * K :]
    count = hits.sum(axis=(1, 2)).astype(np.float64)
    safe = np.maximum(count, 1.0)
    share = hits.sum(axis=1) / safe[:, None]
    vel_mean = np.where(hits, vel, 0).sum(axis=(1, 2)) / safe
    vel_sq = np.where(hits, vel**2, 0).sum(axis=(1, 2)) / safe
    vel_spread = np.sqrt(np.maximum(vel_sq - vel_mean**2, 0))
    off_mean = np.where(hits, off, 0).sum(axis=(1, 2)) / safe
    off_sq = np.where(hits, off**2, 0).sum(axis=(1, 2)) / safe
    off_spread = np.sqrt(np.maximum(off_sq - off_mean**2, 0))
    odd = (np.arange(steps) % 2 == 1)[None, :, None]
    syncopation = (hits & odd).sum(axis=(1, 2)) / safe
    b = hits[:, : bars * STEPS_PER_BAR].reshape(n, bars, STEPS_PER_BAR * K)
    inter = (b[:, 1:] & b[:, :-1]).sum(axis=2)
    union = (b[:, 1:] | b[:, :-1]).sum(axis=2)
    jacc = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    repetition = jacc.mean(axis=1) if bars > 1 else np.ones(n)
    return np.column_stack(
        [count / bars, share, vel_mean, vel_spread, off_spread, syncopation, repetition]
    )


def _kde(values: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    z = (grid[:, None] - values[None, :]) / bandwidth
    dens = np.exp(-0.5 * z**2).sum(axis=1) / (len(values) * bandwidth * np.sqrt(2 * np.pi))
    return dens


def overlap_area(a: np.ndarray, b: np.ndarray, grid_points: int = 512) -> float:
    """Overlap of the Gaussian KDEs of two 1-D samples (Scott's rule on the pooled data)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    pooled = np.concatenate([a, b])
    spread = pooled.std()
    if spread < 1e-12:  # both sets constant and equal
        return 1.0 if np.allclose(a, b[0]) else 0.0
    bw = max(1.06 * spread * len(pooled) ** (-1 / 5), 1e-3 * spread)
    lo, hi = pooled.min() - 4 * bw, pooled.max() + 4 * bw
    grid = np.linspace(lo, hi, grid_points)
    pa, pb = _kde(a, grid, bw), _kde(b, grid, bw)
    return float(np.clip(np.trapezoid(np.minimum(pa, pb), grid), 0.0, 1.0))


def realism_overlaps(generated: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """Per-feature KDE overlap between generated and real (N, T, 27) sets, plus their mean."""
    fg, fr = pattern_features(generated), pattern_features(real)
    scores = {name: overlap_area(fg[:, i], fr[:, i]) for i, name in enumerate(FEATURE_NAMES)}
    scores["mean"] = float(np.mean(list(scores.values())))
    return scores
