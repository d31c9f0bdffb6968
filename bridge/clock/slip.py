"""Whole-tick slips of a MIDI clock count, told apart from tempo changes and noise (pure).

The follower numbers ticks by counting (``bridge.clock.fit.TickLine``); its line fit maps
tick numbers to arrival times. If the count goes wrong by ``j`` ticks (a duplicate it could
not tell at once, a burst of lost ticks inside noisy period-bunched delivery), every later
tick arrives ``j`` tick periods off the line, for good: a *step* in the residuals of exactly
``j * sec_per_tick``. A tempo change instead makes the residuals *grow*, and delivery noise
keeps their median near zero. ``find_step`` looks at the residuals of the newest
``STEP_TICKS`` ticks:

* the median must be more than half a tick off (most of the newest ticks are off: not noise);
* the step point ``s`` minimises the squared error of "0 before ``s``, ``j`` ticks from ``s``";
* the ticks from ``s`` on must sit flat (their drift over the run, by the median of pairwise
  slopes, under a quarter tick or two noise bands: not a tempo change) and their mean within ``tolerance`` (the noise band) of
  ``j`` whole ticks.

With 16 ticks, a slip is found 8-9 ticks after it happened (the median turns), a third of a
beat, and the renumbering makes the phase exact again at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

STEP_TICKS = 16
FIT_BEFORE = 1.2  # coarse delivery: the ticks before a step within this many of the delivery's half period
MIN_AFTER = 4  # ticks after the step point needed to call it flat
DRIVER_PERIODS_SEC = np.array(sorted({frames / rate for frames in (64, 128, 256, 512, 1024, 2048, 4096)
                                      for rate in (44100, 48000, 88200, 96000)}))
LOCAL_TICKS = 6  # a line through this many ticks before two off ones: are they whole ticks off?
EDGE_TICKS = 6  # before the fit settles: a line through the first (or last) this many ticks


def integer_offset(residuals: np.ndarray, sec_per_tick: float, tolerance_sec: float, band_sec: float = 0.0) -> int:
    """Whole ticks by which ``residuals`` (seconds, a run off the line) sit off; 0 if not whole."""
    if residuals.size == 0:
        return 0
    med = float(np.median(residuals))
    j = round(med / sec_per_tick)
    if j == 0 or abs(med - j * sec_per_tick) > max(tolerance_sec, sec_per_tick / 4):
        return 0
    return j if abs(_drift(residuals)) <= drift_limit(sec_per_tick, band_sec) else 0  # growing: a tempo change


def drift_limit(sec_per_tick: float, band_sec: float) -> float:
    """How far a flat run may drift: a quarter tick, or the delivery sawtooth (two half
    periods: ``band_sec`` is half the detected delivery period, never a band a tempo ramp
    widened, or a ramp would pass for flat)."""
    return max(sec_per_tick / 4, 2.0 * band_sec)


def _drift(rs: np.ndarray) -> float:
    """Change of ``rs`` over its length by the median of pairwise slopes (Theil-Sen): period
    delivery makes the residuals a sawtooth whose wrap-around would tilt a least-squares slope."""
    m = rs.size
    if m < 2:
        return 0.0
    i, j = np.triu_indices(m, 1)
    return float(np.median((rs[j] - rs[i]) / (j - i))) * m


def find_step(residuals: np.ndarray, sec_per_tick: float, tolerance_sec: float,
              band_sec: float = 0.0, min_after: int = MIN_AFTER, versus_change: bool = False) -> tuple[int, int] | None:
    """(index of the first tick after the step, whole ticks ``j``) if the newest residuals
    (seconds, oldest first) show a whole-tick step; None for noise or a tempo change."""
    rs = np.asarray(residuals, float)
    m = rs.size
    spt = sec_per_tick
    med = float(np.median(rs))
    if m < 2 * min_after or abs(med) <= spt / 2:
        return None
    j = round(med / spt)
    if j == 0:
        return None
    target = j * spt
    costs = _step_costs(rs, target)[: m - min_after + 1]
    s = int(np.argmin(costs))
    post = rs[s:]
    if abs(_drift(post)) > drift_limit(spt, band_sec):  # growing: a tempo change, not a slip
        return None
    if abs(float(post.mean()) - target) > max(tolerance_sec, spt / 4):
        return None
    if versus_change and _change_sse(rs) < float(costs[s]):
        return None  # (through noise of half a tick a change just begun sits as flat as a step)
    return s, j


def _step_costs(rs: np.ndarray, target: float) -> np.ndarray:
    """For each step point s (0..m): the squared error of ``rs[:s]`` at 0 and ``rs[s:]`` at ``target``."""
    before = np.concatenate(([0.0], np.cumsum(rs**2)))
    after = np.concatenate((np.cumsum(((rs - target) ** 2)[::-1])[::-1], [0.0]))
    return before + after


def _change_sse(rs: np.ndarray) -> float:
    """The least squared error of a tempo change through ``rs``: 0, then growing on a line
    from some tick on."""
    k = np.arange(rs.size, dtype=float)
    g = np.maximum(0.0, k[None, :] - k[:, None])  # (c, m): growth from tick c on
    den = np.einsum("ij,ij->i", g, g)
    ok = den > 0
    if not ok.any():
        return float(rs @ rs)
    slope = np.where(ok, (g @ rs) / np.where(ok, den, 1.0), 0.0)
    return float(((rs[None, :] - slope[:, None] * g) ** 2).sum(axis=1)[ok].min())


def step_not_change(rs: np.ndarray, sec_per_tick: float, newest: int) -> bool:
    """Do residuals ``rs`` (oldest first) whose ``newest`` ticks are a run beyond the band sit
    on a whole-tick step (lost or duplicated ticks) better than on a tempo change?"""
    j = round(float(np.median(rs[-newest:])) / sec_per_tick)
    if j == 0:
        return False
    return float(_step_costs(rs, j * sec_per_tick).min()) < _change_sse(rs)


class SlipMixin:
    """``TickLine``'s fault handling: duplicates, lost ticks, slips (see bridge.clock.fit)."""

    band_sec: float
    line: Any
    n: int
    _arrivals: Any
    _seg_start: float
    _change: Any
    _next_se_sec: float
    lost_ticks: int
    duplicates: int
    slip_events: list[tuple[int, bool]]

    if TYPE_CHECKING:  # read-only properties of TickLine
        @property
        def tolerance_sec(self) -> float: ...

        @property
        def delivery_period_sec(self) -> float: ...

    def _is_duplicate(self, t_sec: float) -> bool:
        """A whole tick early and right after the previous tick, with low noise: a repeat."""
        spt = self.line.sec_per_tick
        if self.band_sec >= spt / 4 or not self._arrivals:
            return False
        r = t_sec - self.line.time_at(self.n + 1)
        tol = min(self.tolerance_sec, spt / 4) + 3.0 * self._next_se_sec
        return abs(r + spt) < tol and t_sec - self._arrivals[-1].t < spt / 2

    def _renumber(self, run: list[Any], j: int) -> None:
        """The ticks of ``run`` (the newest arrivals) are really ``j`` ticks later (earlier)."""
        spt = self.line.sec_per_tick
        self.n += j
        for a in run:
            a.n += j
            a.r -= j * spt
            a.ok = abs(a.r) <= self.tolerance_sec + 3.0 * self._next_se_sec

    def _step(self) -> bool:
        """The count slipped by whole ticks (``bridge.clock.slip``): renumber from the step."""
        arrivals = self._arrivals
        spt = self.line.sec_per_tick
        m = STEP_TICKS if self.band_sec < spt / 4 else 2 * STEP_TICKS  # more ticks through more noise
        if len(arrivals) < m or arrivals[-m].n < self._seg_start or self._change is not None:
            return False  # (a change point still being placed: its residuals are not settled)
        coarse = self.band_sec >= spt / 2
        if coarse:  # the line must have fitted the ticks before within the delivery's noise (not a ramp's lag)
            before = np.abs([arrivals[i].r for i in range(max(0, len(arrivals) - 3 * m), len(arrivals) - m)])
            if before.size < m or float(np.percentile(before, 90)) > FIT_BEFORE * self.delivery_period_sec / 2:
                return False
        last = [arrivals[i] for i in range(len(arrivals) - m, len(arrivals))]  # (noise of half a tick: flat for half the window at least)
        found = find_step(np.array([a.r for a in last]), spt, self.tolerance_sec, self.delivery_period_sec / 2,
                          m // 2 if coarse else MIN_AFTER, versus_change=coarse)
        if found is None:
            return False
        s, j = found
        self._renumber(last[s:], j)
        self.slip_events.append((j, True))
        return True

    def _early_slip(self) -> None:
        """Before the fit settles (its first 24 ticks after a start), a lost tick would be fitted
        in for good: fit a line through the first ``EDGE_TICKS`` ticks and look for a whole-tick
        step after them, or through the last ones and look before them. Lost ticks, and
        duplicates where one clean line (residuals under a 16th of a tick, 1 ms at least)
        fits every tick once renumbered (coarse periods that could put two ticks in one period
        leave more noise than that) and the ticks are not one driver period apart (aliasing)."""
        pts = [a for a in self._arrivals if a.ok]
        if len(pts) < 2 * EDGE_TICKS:
            return
        ns = np.array([a.n for a in pts], float)
        ts = np.array([a.t for a in pts])
        for edge in (slice(0, EDGE_TICKS), slice(-EDGE_TICKS, None)):
            slope, icpt = np.polyfit(ns[edge], ts[edge], 1)
            noise = float(np.std(ts[edge] - (icpt + slope * ns[edge])))
            if not 60.0 / (500.0 * 24) < slope < 60.0 / (10.0 * 24) or noise > slope / 8:
                continue
            rs = ts - (icpt + slope * ns)
            if edge.start == 0:
                found = find_step(rs[EDGE_TICKS:], slope, self.tolerance_sec)
                start, j = (EDGE_TICKS + found[0], found[1]) if found else (0, 0)
            else:  # the first ticks sit j whole ticks off the later ones: the later ones move by -j
                k = round(float(rs[0]) / slope)
                s = int(np.argmax(np.abs(rs) < slope / 2)) if k else 0
                tol = max(self.tolerance_sec, slope / 8)
                ok = k and 0 < s < len(pts) - EDGE_TICKS and np.all(np.abs(rs[:s] - k * slope) < tol) and np.all(
                    np.abs(rs[s:]) < tol)
                start, j = (s, -k) if ok else (0, 0)
            fixed = ns + np.where(np.arange(ns.size) >= start, j, 0)
            if j < 0 and np.min(np.abs(DRIVER_PERIODS_SEC / slope - 1.0)) < 0.005:
                continue  # ticks one driver period apart: maybe a faster clock aliased by coarse periods
            if j and np.std(ts - np.polyval(np.polyfit(fixed, ts, 1), fixed)) < max(0.001, slope / 16):
                later = [a for a in self._arrivals if a.n >= pts[start].n]  # (one clean line after: a slip)
                self.lost_ticks += max(j, 0)
                self.duplicates += max(-j, 0)
                self._renumber(later, j)
                return

    def _lost(self) -> None:
        """Two ticks in a row late by the same whole number of tick periods: ticks were lost."""
        spt = self.line.sec_per_tick
        if self.band_sec >= spt / 4 or len(self._arrivals) < 2:
            return
        a1, a2 = self._arrivals[-2], self._arrivals[-1]
        if a1.ok or a2.ok or a1.n < self._seg_start:
            return
        grid_tol = min(self.tolerance_sec, spt / 4)
        # against the line through the ticks just before, where they make a clean one (a tempo
        # ramp or change moves on from the fit: its lag is no lost tick), else against the fit
        local = self._local_offsets(a1, a2)
        j = self._whole_ticks_off(*local, grid_tol) if local else self._whole_ticks_off(a1.r, a2.r, spt, grid_tol)
        if not j:
            return
        if j > 0:
            self.lost_ticks += j
        else:  # the count ran ahead: a duplicate that came too late to be told at once
            self.duplicates -= j
        self._renumber([a1, a2], j)

    @staticmethod
    def _whole_ticks_off(r1: float, r2: float, spt: float, grid_tol: float) -> int:
        """Both offsets the same whole number ``j`` of ticks (within ``grid_tol``): ``j``, else 0."""
        j = round(r2 / spt)
        if j == 0 or round(r1 / spt) != j or abs(r1 - j * spt) >= grid_tol or abs(r2 - j * spt) >= grid_tol:
            return 0
        return j

    def _local_offsets(self, a1: Any, a2: Any) -> tuple[float, float, float] | None:
        """Offsets of ``a1`` and ``a2`` from a line through the ``LOCAL_TICKS`` fitted ticks just
        before them, and that line's tick period; None if too few or too noisy."""
        pts = [a for a in list(self._arrivals)[-2 - 2 * LOCAL_TICKS:-2] if a.ok][-LOCAL_TICKS:]
        if len(pts) < LOCAL_TICKS:
            return None
        ns = np.array([a.n for a in pts], float)
        ts = np.array([a.t for a in pts])
        slope, icpt = np.polyfit(ns - ns[-1], ts - ts[-1], 1)
        if not 60.0 / (500.0 * 24) < slope < 60.0 / (10.0 * 24):
            return None
        if float(np.std(ts - ts[-1] - (icpt + slope * (ns - ns[-1])))) > slope / 16:
            return None
        def off(a: Any) -> float:
            return float(a.t - ts[-1] - (icpt + slope * (a.n - ns[-1])))
        return off(a1), off(a2), float(slope)

