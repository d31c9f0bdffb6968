"""Fit a model's sampling prior and attribute directions, choosing the mixture size by measurement.

``fit_prior`` encodes the un-augmented training windows (encoder means), fits a mixture of
diagonal Gaussians for each candidate size, and, when validation windows are given, keeps the
candidate whose decoded samples score best on them (``sample_report``: the mean realism overlap
against validation windows, among candidates whose samples copy a training window's hit grid in
at most 2 % of cases). Attribute directions come from the same means (``models.net.attributes``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from models.drum_maps import CLASS_NAMES, NUM_CLASSES
from models.metrics import realism_overlaps
from models.net.attributes import ATTRIBUTE_NAMES, attribute_values, fit_directions, shift_latents
from models.net.prior import LatentPrior, encode_windows, fit_mixture

K = NUM_CLASSES
MAX_COPY_SHARE = 0.02
# The least-squares directions under-shoot once decoded (a unit moves its attribute by 0.2-0.6
# standard deviations); each is lengthened by 1 / measured slope, at most this much, so that a
# unit means about one standard deviation without leaving the region the decoder knows.
MAX_DIRECTION_SCALE = 3.0


def hit_grid_keys(tensors: np.ndarray) -> set[bytes]:
    """The set of packed hit grids of (N, T, 27) windows."""
    h = np.asarray(tensors)[..., :K] > 0.5
    return {bytes(r) for r in np.packbits(h.reshape(len(h), -1), axis=1)}


def copy_share(generated: np.ndarray, train_keys: set[bytes]) -> float:
    """Share of generated windows whose whole hit grid equals a training window's."""
    if len(generated) == 0:
        return 0.0
    h = np.asarray(generated)[..., :K] > 0.5
    rows = np.packbits(h.reshape(len(h), -1), axis=1)
    return float(np.mean([bytes(r) in train_keys for r in rows]))


def class_shares(tensors: np.ndarray) -> dict[str, float]:
    h = np.asarray(tensors)[..., :K] > 0.5
    per = h.sum(axis=(0, 1)).astype(np.float64)
    per = per / max(per.sum(), 1.0)
    return {name: float(v) for name, v in zip(CLASS_NAMES, per, strict=True)}


def nearest_train_f1(generated: np.ndarray, train: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """For each generated window, the hit F1 against its nearest training window (by F1)."""
    g = (np.asarray(generated)[..., :K] > 0.5).reshape(len(generated), -1).astype(np.float32)
    best = np.zeros(len(g), np.float32)
    gs = g.sum(1)
    for i in range(0, len(train), chunk):
        t = (np.asarray(train[i : i + chunk])[..., :K] > 0.5).reshape(-1, g.shape[1]).astype(np.float32)
        inter = g @ t.T
        f1 = 2 * inter / np.maximum(gs[:, None] + t.sum(1)[None], 1.0)
        best = np.maximum(best, f1.max(axis=1))
    return best


def sample_report(
    gen: np.ndarray, real: np.ndarray, train: np.ndarray, train_keys: set[bytes] | None = None
) -> dict[str, Any]:
    """Realism against ``real``, class shares (and their ratio to the training split's) and
    copies of training windows, of generated (N, T, 27) grooves."""
    keys = hit_grid_keys(train) if train_keys is None else train_keys
    shares, train_shares = class_shares(gen), class_shares(train)
    return {
        "realism": realism_overlaps(gen, real),
        "class_shares": shares,
        "class_share_ratio": {k: shares[k] / train_shares[k] if train_shares[k] else 0.0 for k in shares},
        "copy_share": copy_share(gen, keys),
    }


def fit_prior(
    model: Any,
    train: np.ndarray,
    validation: np.ndarray | None = None,
    components: Sequence[int] = (1024,),
    seed: int = 0,
    num_samples: int = 1000,
    log: Callable[[str], None] = lambda _: None,
) -> tuple[LatentPrior, list[dict[str, Any]]]:
    """(the chosen prior, one row per candidate with its measurements)."""
    t0 = time.perf_counter()
    z = encode_windows(model, train)
    log(f"encoded {len(z)} training windows in {time.perf_counter() - t0:.1f} s")
    rows: list[dict[str, Any]] = []
    fitted = []
    keys = hit_grid_keys(train)
    for c in components:
        t1 = time.perf_counter()
        w, mu, var, ll = fit_mixture(z, c, seed=seed)
        row: dict[str, Any] = {"components": int(len(w)), "train_loglik": ll, "fit_seconds": time.perf_counter() - t1}
        prior = LatentPrior(w, mu, var)
        if validation is not None and len(validation) and len(components) > 1:
            zv = encode_windows(model, validation)
            row["validation_loglik"] = float(prior.log_density(zv).mean())
            rng = np.random.default_rng(seed)
            zs = prior.sample(min(num_samples, 4 * len(validation)), 1.0, rng)
            rep = sample_report(_decode(model, zs, seed), validation, train, keys)
            row.update(realism=rep["realism"]["mean"], copy_share=rep["copy_share"],
                       class_share_ratio=rep["class_share_ratio"])
        log(_row_text(row))
        rows.append(row)
        fitted.append(prior)
    best = 0
    if len(fitted) > 1 and all("realism" in r for r in rows):
        ok = [i for i, r in enumerate(rows) if r["copy_share"] <= MAX_COPY_SHARE] or list(range(len(rows)))
        best = max(ok, key=lambda i: rows[i]["realism"])
    rows[best]["chosen"] = True
    prior = fitted[best]
    t2 = time.perf_counter()
    prior.hit_bias = calibrate_hit_bias(model, prior, class_shares(train), seed, num_samples)
    log(f"class calibration (hit-logit bias {_rounded(prior.hit_bias)}) in {time.perf_counter() - t2:.1f} s")
    prior.directions, prior.attribute_means, prior.attribute_stds = fit_directions(z, attribute_values(train))
    t3 = time.perf_counter()
    table = measure_attributes(model, prior, seed, values=(-1.0, 1.0), num_samples=300)
    slopes = np.array([table[a]["slope"] for a in ATTRIBUTE_NAMES])
    scales = np.clip(1.0 / np.maximum(slopes, 1e-3), 1.0, MAX_DIRECTION_SCALE)
    prior.directions = (prior.directions * scales[:, None]).astype(np.float32)
    log(f"attribute directions scaled by {_rounded(scales)} in {time.perf_counter() - t3:.1f} s")
    prior.info = {
        "kind": "diagonal Gaussian mixture",
        "components": prior.num_components,
        "fitted_on_windows": int(len(z)),
        "candidates": rows,
        "seed": seed,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return prior, rows


def measure_attributes(
    model: Any, prior: LatentPrior, seed: int = 0, values: Sequence[float] = (-2.0, -1.0, 0.0, 1.0, 2.0),
    num_samples: int = 300,
) -> dict[str, dict[str, Any]]:
    """For each control: the mean of every attribute (in data standard deviations) of prior
    samples decoded at T = 0 after moving them by each value; the slope of its own attribute per
    unit, the largest slope of any other, and whether its own attribute rises monotonically."""
    assert prior.directions is not None and prior.attribute_stds is not None
    z = prior.sample(num_samples, 1.0, np.random.default_rng(seed + 3))
    vals = np.asarray(values, np.float64)
    out: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(ATTRIBUTE_NAMES):
        means = []
        for v in vals:
            dec = model.decode(shift_latents(z, prior.directions, {name: v}), temperature=0.0)
            means.append(attribute_values(np.stack([g.to_tensor() for g in dec])).mean(0) / prior.attribute_stds)
        m = np.array(means)  # (V, A)
        slopes = np.polyfit(vals, m, 1)[0]
        out[name] = {
            "values": vals.tolist(),
            "own_change": (m[:, i] - m[0, i]).tolist(),
            "slope": float(slopes[i]),
            "max_other_slope": float(np.abs(np.delete(slopes, i)).max()),
            "max_other": ATTRIBUTE_NAMES[int(np.argmax(np.abs(np.where(np.arange(len(slopes)) == i, 0, slopes))))],
            "monotonic": bool(np.all(np.diff(m[:, i]) > 0)),
        }
    return out


def calibrate_hit_bias(
    model: Any, prior: LatentPrior, target: dict[str, float], seed: int, num_samples: int = 1000, iters: int = 3
) -> np.ndarray:
    """Per-class hit-logit offsets so that samples at T = 1 strike each class as often as the
    training data does. A mixture smooths rare, localised modes (fills: toms, crashes) into
    their neighbours, so its samples under-use those classes; a logit offset is the smallest
    correction of the marginal rates (a few tenths; it leaves the kick, snare and hi-hat
    almost untouched). Fixed-point iteration on log(target share / sample share)."""
    bias = np.zeros(K, np.float32)
    want = np.array([target[c] for c in CLASS_NAMES])
    z = prior.sample(num_samples, 1.0, np.random.default_rng(seed + 1))
    for _ in range(iters):
        got = class_shares(_decode(model, z, seed + 2, bias))
        have = np.array([got[c] for c in CLASS_NAMES])
        step = np.log(np.maximum(want, 1e-6) / np.maximum(have, 1e-6))
        bias = np.clip(bias + step.astype(np.float32), -2.0, 2.0)
    return bias


def _decode(model: Any, z: np.ndarray, seed: int, hit_bias: np.ndarray | None = None) -> np.ndarray:
    out = model.decode(z, temperature=1.0, seed=seed, hit_bias=hit_bias)
    return np.stack([g.to_tensor() for g in out])


def _row_text(row: dict[str, Any]) -> str:
    text = f"{row['components']:>5} components: train log-lik {row['train_loglik']:.1f}"
    if "realism" in row:
        text += (f", validation log-lik {row['validation_loglik']:.1f}, realism {row['realism']:.3f}, "
                 f"copies {100 * row['copy_share']:.1f} %")
    return text + f" ({row['fit_seconds']:.1f} s)"


def _rounded(values: np.ndarray) -> str:
    """A log line's numbers to 2 decimals ("0.91", not float32's "0.9100000262260437")."""
    return "[" + ", ".join(f"{float(v):.2f}" for v in np.ravel(values)) + "]"
