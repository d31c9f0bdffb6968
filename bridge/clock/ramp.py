"""The curve a tempo ramp's ticks lie on, with where it began or ended (pure numpy).

A ramp's tick times are a curve in the tick count; a plain quadratic over the newest ticks
fits a ramp well in its middle but not where it begins or ends inside the window: there the
window holds a straight part (the steady tempo before, or after) and a curved part, and a
quadratic through both lags the tempo by several ms for a beat or more (seen at 256-frame JACK
periods: 3-5 ms for 15 ticks after a ramp began, and as long after it ended). So the curve is
a *hinged* quadratic, ``t = a + b n + q g_h(n)``, with

* ``g_h(n) = max(0, n - h)^2``: straight up to tick ``h``, curving from there (a ramp that
  began at ``h``; ``h`` at or before the window's first tick is the plain quadratic), or
* ``g_h(n) = min(0, n - h)^2``: curving up to ``h``, straight after (a ramp that ended).

Every ``h`` at a tick of the window is tried at once (the projections onto the line's
complement, no solve per candidate). A ramp that ended must fit clearly better than one still
curving (its straight end is no evidence otherwise: the newest ticks cannot tell); a ramp
that begins must fit better than a *kink* (``max(0, n - h)``, a tempo jump: left to the
tempo-change machinery, whose two lines fit it exactly). ``plain_f`` is the cheap first look
that spares a steady clock the search (the follower runs on the MIDI input thread: per tick
~0.2 ms steady, ~0.35 ms in a ramp, measured on the loaded 2-core machine; 0.24 ms before).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

END_MARGIN = 4.0  # a ramp that ended must explain this many noise variances more than one curving on
CURVED_TICKS = 8  # the least ticks on a hinged curve's curved side (fewer: noise, not a ramp)


@dataclass(frozen=True)
class CurveFit:
    """A hinged quadratic through the window, told at its newest tick (``n = 0``)."""

    value: float  # the curve's time at the newest tick (relative to the times given)
    slope: float  # seconds per tick there (the tempo now)
    curvature: float  # seconds per tick^2 from there on (0: the ramp ended)
    residuals: np.ndarray  # absolute, per tick of the window
    sse: float
    sse_line: float  # a straight line's, for the F test
    curved_max: float  # the largest residual on the curved side


def _gains(g: np.ndarray, dn: np.ndarray, sxx: float, lres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row of ``g`` (a candidate regressor beside the line): the drop in squared error
    it brings, its coefficient, and the row with the line's part taken out."""
    gp = g - g.mean(axis=1, keepdims=True) - np.outer((g @ dn) / sxx, dn)
    den = np.einsum("ij,ij->i", gp, gp)
    num = gp @ lres
    ok = den > 1e-18
    safe = np.where(ok, den, 1.0)
    return np.where(ok, num * num / safe, 0.0), np.where(ok, num / safe, 0.0), gp


def plain_f(ns: np.ndarray, ts: np.ndarray) -> float:
    """The F statistic of a plain quadratic against a line through ``ns``, ``ts``: a cheap first
    look (most ticks of a steady clock need no hinge search)."""
    m = ns.size
    dn, y = ns - ns.mean(), ts - ts.mean()
    sxx = float(dn @ dn)
    if m < 5 or sxx <= 0:
        return 0.0
    lres = y - (float(dn @ y) / sxx) * dn
    g = ns * ns
    gp = g - g.mean() - (float(g @ dn) / sxx) * dn
    den = float(gp @ gp)
    if den <= 0:
        return 0.0
    gain = float(gp @ lres) ** 2 / den
    return gain * (m - 3) / max(float(lres @ lres) - gain, 1e-18)


def hinged_curve(ns: np.ndarray, ts: np.ndarray, curved_ticks: int = CURVED_TICKS, start_from: float = -np.inf,
                 ends: bool = True, versus_kink: bool = False) -> CurveFit | None:
    """The best hinged quadratic through ticks ``ns`` (numbers, the newest 0) at times ``ts``
    (seconds, any origin), with ``curved_ticks`` ticks at least on its curved side; a ramp that
    began at ``start_from`` or later (the plain quadratic always), one that ended only with
    ``ends``; with ``versus_kink``, None where a kink (a tempo jump at a tick allowed for the
    hinge) fits better. None when fewer than 5 ticks or all at one number."""
    m = ns.size
    if m < 5:
        return None
    mn, mt = float(ns.mean()), float(ts.mean())
    dn, y = ns - mn, ts - mt
    sxx = float(dn @ dn)
    if sxx <= 0:
        return None
    lres = y - (float(dn @ y) / sxx) * dn
    sse_line = float(lres @ lres)
    d = ns[None, :] - ns[:, None]  # (h, n): a hinge at each tick
    g_start, g_end = np.maximum(0.0, d) ** 2, np.minimum(0.0, d) ** 2
    gain_s, q_s, gp_s = _gains(g_start, dn, sxx, lres)
    order = np.arange(m)  # ticks are in order: the curved side of hinge i holds m - i (start) or i + 1 (end)
    allowed = ((m - order >= curved_ticks) & (ns >= start_from)) | (order == 0)
    gain_s = np.where(allowed, gain_s, -1.0)
    i_s = int(np.argmax(gain_s))
    kinks = (m - order >= 3) & (ns >= start_from)  # (a jump is told from its first few ticks on)
    if versus_kink and float(np.where(kinks, _gains(np.maximum(0.0, d), dn, sxx, lres)[0], -1.0).max()) > gain_s[i_s]:
        return None  # two lines, not a curve: a tempo jump (the tempo-change machinery's)
    gain, q, g, gp, h = float(gain_s[i_s]), float(q_s[i_s]), g_start[i_s], gp_s[i_s], float(ns[i_s])
    g0, dg0, curvature = h * h, -2.0 * h, q  # (h <= 0: curving at the newest tick)
    if ends:
        gain_e, q_e, gp_e = _gains(g_end, dn, sxx, lres)
        gain_e = np.where(order + 1 >= curved_ticks, gain_e, -1.0)
        i_e = int(np.argmax(gain_e))
        noise_var = max(sse_line - gain, 1e-18) / max(1, m - 4)
        if float(gain_e[i_e]) > gain + END_MARGIN * noise_var:
            gain, q, g, gp, h = float(gain_e[i_e]), float(q_e[i_e]), g_end[i_e], gp_e[i_e], float(ns[i_e])
            g0, dg0, curvature = 0.0, 0.0, 0.0  # straight from h on (h <= 0)
    yq = y - q * g
    b = float(dn @ yq) / sxx
    a = float(yq.mean())
    value = mt + a + b * (0.0 - mn) + q * g0
    residuals = np.abs(lres - q * gp)
    curved = residuals[ns >= h] if curvature else residuals[ns <= h]
    return CurveFit(value, b + q * dg0, curvature, residuals, max(sse_line - gain, 0.0), sse_line,
                    float(curved.max()) if curved.size else 0.0)
