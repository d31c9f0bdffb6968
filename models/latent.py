"""Latent-space maths (numpy only): spherical interpolation between GrooVAE latent vectors.

``slerp`` is the one interpolation: the generation API's ``interpolate`` walks
``slerp_path``, the live engine's crossfade and follow moves take single points.
"""

from __future__ import annotations

import math

import numpy as np


def slerp(z_a: np.ndarray, z_b: np.ndarray, position: float) -> np.ndarray:
    """The point ``position`` (0-1) of the way from ``z_a`` to ``z_b`` on the great circle
    through them (float32); linear when either is zero or they are (nearly) parallel."""
    a = np.asarray(z_a, np.float64)
    b = np.asarray(z_b, np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return ((1 - position) * a + position * b).astype(np.float32)
    cos = float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    omega = math.acos(cos)
    if abs(math.sin(omega)) < 1e-6:
        return ((1 - position) * a + position * b).astype(np.float32)
    s = math.sin(omega)
    out = math.sin((1 - position) * omega) / s * a + math.sin(position * omega) / s * b
    return out.astype(np.float32)


def slerp_path(za: np.ndarray, zb: np.ndarray, steps: int) -> np.ndarray:
    """(steps, Z) points from ``za`` to ``zb`` (both included, exactly): ``slerp`` at even
    positions."""
    if steps < 2:
        raise ValueError("interpolation needs at least 2 steps (the two endpoints)")
    out = np.stack([slerp(za, zb, float(t)) for t in np.linspace(0.0, 1.0, steps)]).astype(np.float32)
    out[0], out[-1] = za, zb  # exact endpoints
    return out
