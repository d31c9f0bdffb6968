"""A sampling prior fitted to a model's latent space, and its attribute directions.

Why: with a large KL allowance the encoder's posteriors leave N(0, I) (the shipped default's
training means have norm ~3.5 and a per-dimension spread ~0.21, while N(0, I) draws have norm
~16), so Magenta's z ~ N(0, I) decodes to grooves unlike the data. Ex-post density estimation
of the aggregate posterior fixes it (Ghosh et al. 2020; Dai & Wipf 2019): here a mixture of
diagonal Gaussians fitted by EM to the encoder means of the (un-augmented) training windows.

Temperature on the prior: a component is drawn by its weight, then z = mean + T * std * eps.
T = 0 gives the component means (the most typical grooves of the data, one per component),
T = 1 is as varied as the data, T > 1 wilder. The decoder's hit sampling uses the same T
(``GrooveModel.sample``).

Files beside the weights: ``prior.safetensors`` (weights, means, variances, attribute
directions; float32) and ``prior.json`` (the fingerprint of the ``model.safetensors`` it was
fitted for, attribute names/means/stds, how it was fitted). A prior whose fingerprint does not
match the weights is refused. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file, save

from models.atomic_io import atomic_write, write_text_atomic
from models.net.attributes import ATTRIBUTE_NAMES
from models.net.sidecar import read_sidecar

PRIOR_FILE = "prior.safetensors"
PRIOR_JSON = "prior.json"
MODEL_FILE = "model.safetensors"
FORMAT = 1


class PriorError(RuntimeError):
    """A prior file is missing, damaged or fitted for other weights (one-line reason)."""


def weights_fingerprint(ckpt_dir: str | Path) -> str:
    """sha256 (hex, first 24) of the checkpoint's model.safetensors bytes."""
    h = hashlib.sha256()
    with open(Path(ckpt_dir) / MODEL_FILE, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:24]


@dataclass
class LatentPrior:
    weights: np.ndarray  # (C,)
    means: np.ndarray  # (C, Z)
    variances: np.ndarray  # (C, Z)
    fingerprint: str = ""
    directions: np.ndarray | None = None  # (A, Z) attribute directions, ATTRIBUTE_NAMES order
    attribute_means: np.ndarray | None = None  # (A,)
    attribute_stds: np.ndarray | None = None  # (A,)
    hit_bias: np.ndarray | None = None  # (9,) per-class hit-logit calibration (see prior_fit)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_components(self) -> int:
        return int(self.weights.shape[0])

    @property
    def z_size(self) -> int:
        return int(self.means.shape[1])

    def sample(self, n: int, temperature: float, rng: np.random.Generator) -> np.ndarray:
        """(n, Z) float32 latents (see the module docstring for the temperature)."""
        comp = rng.choice(self.num_components, size=n, p=self.weights / self.weights.sum())
        eps = rng.standard_normal((n, self.z_size))
        z = self.means[comp] + max(0.0, float(temperature)) * np.sqrt(self.variances[comp]) * eps
        return z.astype(np.float32)

    def log_density(self, z: np.ndarray) -> np.ndarray:
        """Log density of each row of ``z`` under the mixture (nats)."""
        t = _log_component_density(
            torch.from_numpy(np.asarray(z, np.float32)),
            torch.from_numpy(self.weights.astype(np.float32)),
            torch.from_numpy(self.means.astype(np.float32)),
            torch.from_numpy(self.variances.astype(np.float32)),
        )
        return torch.logsumexp(t, dim=1).numpy()

    # ---- files ---------------------------------------------------------------------------------
    def save(self, ckpt_dir: str | Path) -> Path:
        d = Path(ckpt_dir)
        tensors = {
            "weights": self.weights.astype(np.float32),
            "means": self.means.astype(np.float32),
            "variances": self.variances.astype(np.float32),
        }
        meta: dict[str, Any] = {"format": FORMAT, "fingerprint": self.fingerprint, **self.info}
        if self.hit_bias is not None:
            tensors["hit_logit_bias"] = self.hit_bias.astype(np.float32)
        if self.directions is not None:
            tensors["attribute_directions"] = self.directions.astype(np.float32)
            meta["attributes"] = {
                name: {"mean": float(m), "std": float(s)}
                for name, m, s in zip(ATTRIBUTE_NAMES, self.attribute_means, self.attribute_stds, strict=True)  # type: ignore[arg-type]
            }
        with atomic_write(d / PRIOR_FILE) as fh:
            fh.write(save(tensors))
        write_text_atomic(d / PRIOR_JSON, json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return d / PRIOR_FILE


def load_prior(ckpt_dir: str | Path, fingerprint: str | None = None, z_size: int | None = None) -> LatentPrior:
    """The prior stored in ``ckpt_dir``; PriorError when absent, damaged or for other weights."""
    d = Path(ckpt_dir)
    meta, t = read_sidecar(d, PRIOR_FILE, PRIOR_JSON, load_file, PriorError, "prior",
                           f"no fitted prior in {d} (run `groovebridge fit-prior`)")
    if meta.get("format") != FORMAT:
        raise PriorError(f"{d / PRIOR_JSON}: not a GrooveBridge prior (format {FORMAT})")
    if fingerprint is not None and meta.get("fingerprint") != fingerprint:
        raise PriorError(f"the prior in {d} was fitted for other weights; fit it again with `groovebridge fit-prior`")
    try:
        w, mu, var = t["weights"], t["means"], t["variances"]
    except KeyError as e:
        raise PriorError(f"{d / PRIOR_FILE}: missing tensor {e}") from None
    ok = w.ndim == 1 and mu.ndim == 2 and mu.shape == var.shape and len(w) == len(mu) > 0
    ok = ok and (z_size is None or mu.shape[1] == z_size)
    ok = ok and bool(np.all(np.isfinite(mu)) and np.all(var > 0) and np.all(w >= 0) and w.sum() > 0)
    if not ok:
        raise PriorError(f"{d / PRIOR_FILE}: damaged (shapes or values do not make a mixture)")
    prior = LatentPrior(w.astype(np.float64), mu.astype(np.float64), var.astype(np.float64), meta["fingerprint"])
    bias = t.get("hit_logit_bias")
    if bias is not None:
        if bias.shape != (9,) or not np.all(np.isfinite(bias)):
            raise PriorError(f"{d / PRIOR_FILE}: damaged hit-logit calibration")
        prior.hit_bias = bias.astype(np.float32)
    attrs = meta.get("attributes")
    dirs = t.get("attribute_directions")
    if isinstance(attrs, dict) and dirs is not None:
        if set(attrs) != set(ATTRIBUTE_NAMES) or dirs.shape != (len(ATTRIBUTE_NAMES), mu.shape[1]):
            raise PriorError(f"{d / PRIOR_FILE}: attribute directions do not match this version's attributes")
        prior.directions = dirs.astype(np.float32)
        prior.attribute_means = np.array([attrs[n]["mean"] for n in ATTRIBUTE_NAMES], np.float32)
        prior.attribute_stds = np.array([attrs[n]["std"] for n in ATTRIBUTE_NAMES], np.float32)
    prior.info = {k: v for k, v in meta.items() if k not in ("format", "fingerprint", "attributes")}
    return prior


# ---- fitting -------------------------------------------------------------------------------------
def _log_component_density(x: torch.Tensor, w: torch.Tensor, mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """(N, C) log(w_c N(x | mu_c, diag var_c)), by matrix products (no (N, C, Z) temporary)."""
    iv = 1.0 / var
    maha = (x * x) @ iv.T - 2.0 * (x @ (mu * iv).T) + (mu * mu * iv).sum(1)[None]
    return -0.5 * (maha + torch.log(var).sum(1)[None] + x.shape[1] * math.log(2 * math.pi)) + torch.log(w)[None]


def fit_mixture(
    z: np.ndarray, components: int, seed: int = 0, max_iters: int = 60, var_floor: float = 1e-4, tol: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """EM for a mixture of diagonal Gaussians (k-means++ start). (weights, means, variances, mean
    log-likelihood of ``z``). ``var_floor`` keeps every variance away from zero."""
    x = torch.from_numpy(np.asarray(z, np.float32))  # float32: twice as fast, same fit to 1e-4
    n, dim = x.shape
    k = max(1, min(int(components), n))
    g = torch.Generator().manual_seed(seed)
    first = int(torch.randint(n, (1,), generator=g))
    centres = [first]
    d2 = ((x - x[first]) ** 2).sum(1)
    for _ in range(k - 1):
        i = int(torch.multinomial(d2 / d2.sum(), 1, generator=g)) if d2.sum() > 0 else int(torch.randint(n, (1,), generator=g))
        centres.append(i)
        d2 = torch.minimum(d2, ((x - x[i]) ** 2).sum(1))
    mu = x[centres].clone()
    var = x.var(0, unbiased=False).clamp_min(var_floor).expand(k, dim).clone()
    w = torch.full((k,), 1.0 / k, dtype=x.dtype)
    prev = -math.inf
    ll = -math.inf
    for _ in range(max_iters):
        lp = _log_component_density(x, w, mu, var)
        tot = torch.logsumexp(lp, 1)
        ll = float(tot.mean())
        r = torch.exp(lp - tot[:, None])
        nk = r.sum(0) + 1e-10
        w = nk / n
        mu = (r.T @ x) / nk[:, None]
        var = ((r.T @ (x * x)) / nk[:, None] - mu * mu).clamp_min(0.0) + var_floor
        if ll - prev < tol * abs(ll):
            break
        prev = ll
    return w.double().numpy(), mu.double().numpy(), var.double().numpy(), ll


def encode_windows(model: Any, tensors: np.ndarray, batch: int = 512) -> np.ndarray:
    """Encoder means (N, Z) of (N, T, 27) windows with the model's encoder transform."""
    out = [model.encode(tensors[i : i + batch]) for i in range(0, len(tensors), batch)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, model.z_size), np.float32)
