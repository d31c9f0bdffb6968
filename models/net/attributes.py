"""Musical attributes of grooves and their directions in latent space (MusicVAE section 5.3).

numpy only. ``attribute_values`` measures, per 4-bar window, what a drummer would call its
density, intensity, feel (laid back / pushed), swing, syncopation, hi-hat <-> ride and fills.
``fit_directions`` finds, from the training set's encoder means and these values, one latent
direction per attribute: the multivariate least-squares fit of z on all standardised attributes
at once, so each direction moves its own attribute by one standard deviation (of the attribute
over the data) per unit while holding the others, as far as a linear model can. The directions
ship in the model's prior file (``models.net.prior``); ``shift_latents`` applies them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from models.drum_maps import CLASS_NAMES, NUM_CLASSES

K = NUM_CLASSES
ATTRIBUTE_NAMES: tuple[str, ...] = (
    "density", "intensity", "laid_back", "swing", "syncopation", "hihat_ride", "fills",
)
ATTRIBUTE_HELP: dict[str, str] = {
    "density": "hits per bar (sparse <-> busy)",
    "intensity": "mean velocity (soft <-> loud)",
    "laid_back": "mean timing (pushed, ahead of the beat <-> laid back, behind it)",
    "swing": "the off 16ths played later than the on 16ths (straight <-> swung)",
    "syncopation": "share of hits off the 8th-note grid",
    "hihat_ride": "time kept on the closed hi-hat <-> on the ride",
    "fills": "share of toms and crashes",
}
ATTRIBUTE_LIMIT = 2.0  # controls take -2..2 standard deviations
_HH, _OHH, _RIDE = CLASS_NAMES.index("closed_hihat"), CLASS_NAMES.index("open_hihat"), CLASS_NAMES.index("ride")
_FILL = [CLASS_NAMES.index(n) for n in ("low_tom", "mid_tom", "high_tom", "crash")]


class AttributeValueError(ValueError):
    """Unknown attribute name or value out of range (one-line message)."""


def attribute_values(tensors: np.ndarray) -> np.ndarray:
    """(N, T, 27) windows -> (N, len(ATTRIBUTE_NAMES)) values in ATTRIBUTE_NAMES order."""
    x = np.asarray(tensors, np.float64)
    steps = x.shape[1]
    hits = x[..., :K] > 0.5
    vel = np.where(hits, x[..., K : 2 * K], 0.0)
    late = np.where(hits, -x[..., 2 * K :], 0.0)  # offsets are positive when early
    count = hits.sum(axis=(1, 2)).astype(np.float64)
    safe = np.maximum(count, 1.0)
    odd = (np.arange(steps) % 2 == 1)[None, :, None]
    n_odd = (hits & odd).sum(axis=(1, 2))
    n_even = (hits & ~odd).sum(axis=(1, 2))
    late_odd = np.where(odd, late, 0.0).sum(axis=(1, 2)) / np.maximum(n_odd, 1)
    late_even = np.where(~odd, late, 0.0).sum(axis=(1, 2)) / np.maximum(n_even, 1)
    swing = np.where((n_odd > 0) & (n_even > 0), late_odd - late_even, 0.0)
    per_class = hits.sum(axis=1).astype(np.float64)  # (N, 9)
    keep_time = per_class[:, _HH] + per_class[:, _OHH] + per_class[:, _RIDE]
    hihat_ride = np.where(
        keep_time > 0, (per_class[:, _RIDE] - per_class[:, _HH] - per_class[:, _OHH]) / np.maximum(keep_time, 1), 0.0
    )
    return np.column_stack([
        count / (steps / 16.0),
        vel.sum(axis=(1, 2)) / safe,
        late.sum(axis=(1, 2)) / safe,
        swing,
        n_odd / safe,
        hihat_ride,
        per_class[:, _FILL].sum(axis=1) / safe,
    ])


def fit_directions(z: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(directions (A, Z), attribute means (A,), attribute standard deviations (A,)).

    Least squares of the centred latents on the standardised attributes: z - mean(z) ~ S @ D,
    so D[a] is the latent change per standard deviation of attribute a, the others held fixed."""
    z64 = np.asarray(z, np.float64)
    v = np.asarray(values, np.float64)
    mean, std = v.mean(axis=0), v.std(axis=0)
    std = np.where(std > 1e-9, std, 1.0)
    s = (v - mean) / std
    d, *_ = np.linalg.lstsq(s, z64 - z64.mean(axis=0), rcond=None)
    return d.astype(np.float32), mean.astype(np.float32), std.astype(np.float32)


def parse_attributes(text: str) -> dict[str, float]:
    """"density=1,intensity=-0.5" -> {"density": 1.0, "intensity": -0.5} (checked)."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise AttributeValueError(f"attribute {part!r}: write name=value, e.g. density=1")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise AttributeValueError(f"attribute {name.strip()}: {value.strip()!r} is not a number") from None
    return check_attributes(out)


def check_attributes(attributes: Mapping[str, float]) -> dict[str, float]:
    """The attributes as floats; unknown names and values outside -2..2 are refused."""
    out: dict[str, float] = {}
    for name, value in attributes.items():
        if name not in ATTRIBUTE_NAMES:
            raise AttributeValueError(f"unknown attribute {name!r}; choose from: {', '.join(ATTRIBUTE_NAMES)}")
        v = float(value)
        if not -ATTRIBUTE_LIMIT <= v <= ATTRIBUTE_LIMIT:
            raise AttributeValueError(f"attribute {name}={v:g} is outside -{ATTRIBUTE_LIMIT:g}..{ATTRIBUTE_LIMIT:g}")
        out[name] = v
    return out


def shift_latents(z: np.ndarray, directions: np.ndarray, attributes: Mapping[str, float]) -> np.ndarray:
    """``z`` (n, Z) moved by sum(value * direction) over the given attributes."""
    out = np.array(z, np.float32, copy=True)
    for name, value in check_attributes(attributes).items():
        out += np.float32(value) * directions[ATTRIBUTE_NAMES.index(name)]
    return out
