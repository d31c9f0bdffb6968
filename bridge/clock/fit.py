"""Tempo and phase of a MIDI clock from tick arrival times, robust to quantised delivery.

Pure (no threads, no clock reads): ``TickLine.add(t_sec)`` numbers each 0xF8 tick ``n`` and
keeps a line ``t = t_ref + sec_per_tick * (n - n_ref)`` fitted to the recent arrivals.

Why a bounded-noise model: JACK (and many USB drivers) deliver MIDI once per period, so a
tick arrives up to one period (128-1024 frames = 2.7-21 ms at 48 kHz) after it was sent and
tick intervals jump by a whole period (20.8 ms at 120 BPM reads 16 or 21.3 ms with 256-frame
periods; with 1024 frames it reads 21.3 ms for 40 ticks in a row, then 0). Such errors are
bounded and average out over a window; treating a few intervals as a tempo (the old
follower) reads 117 BPM for 125. So:

* **Fit**: least squares over the last ``window_ticks`` accepted ticks of the current
  segment (the follower uses 192 = 8 beats).
* **Band**: the half-width of the arrival noise, ``max(delivery_period / 2, p90(|residual|) /
  0.9)`` (exact for uniform quantisation noise), the newest ticks left out. The delivery
  period is a hint or is detected: every ``DETECT_TICKS`` ticks, the largest usual driver
  period whose grid the arrival times sit on (circular concentration >= 0.9). A tick further
  than ``2 * band + 0.5 ms`` (at least the outlier floor), plus three standard errors of the
  prediction, from the line is left out of the fit.
* **Tempo change** (``bridge.clock.change``, with phase jumps and delivery stalls): only a
  *sustained, growing* deviation: at least ``change_ticks`` ticks in a row beyond the band on
  one side, whose residuals grow on a line with a slope beyond twice its noise-level standard
  error (and, for a run with ticks beyond the tolerance, significant against its own scatter:
  a busy machine's late burst or jitter just begun is no change). The change point is found by a continuous two-segment
  (hinge) fit, and placed again ``RELOCATE_AFTER`` ticks later; the new segment starts
  there, anchored at the old line's time for that tick (a master's tempo change keeps its
  phase), so a few ticks give a usable tempo at once and the estimate sharpens with every
  tick. A deviation that does not grow (a phase jump) for ``resync_ticks`` restarts the fit
  from those ticks; late ticks catching up after a stall (their lateness shrinks by a tick
  period each) change nothing.
* **Ramps** (``bridge.clock.ramp``): when a curve fits the newest ``RAMP_TICKS`` fitted ticks,
  across segments, much better than a line and within the noise band, the line is the curve's
  tangent at the newest tick (tempo and phase now), and residuals are taken against the curve:
  a ramp is followed as a curve, not as a chain of tempo changes (whose young segments lag),
  and the guards (late bursts, stalls, slips) judge ticks against it. The curve is a *hinged*
  quadratic: a ramp that began or ended inside the window is straight on one side of its
  hinge (a plain quadratic through both parts lagged 3-5 ms for a beat at 256-frame periods).
  A ramp begins where a plain quadratic, or one hinged after the newest tick left out, fits
  far better than a line (F > ``RAMP_F``), the newest ticks beyond the tolerance included
  (they are its evidence) and all within ``ENTRY_FIT`` bands of it, and better than a kink (a
  tempo jump, left to the tempo-change machinery); it goes on while the best hinged curve fits
  better than a line (F > ``RAMP_F_KEEP``) within ``RAMP_FIT_KEEP`` noise sigmas.
* **Lost ticks**: two ticks in a row late by the same whole number j of tick periods (only
  when the band is under a quarter tick): j ticks were dropped on the way; renumber. Two
  ticks in a row a whole tick early likewise: the count ran ahead (a duplicate); renumber.
* **Duplicates**: a tick a whole period early and right after the previous one (under a
  quarter-tick band) cannot be where it is: it is ignored (``add`` returns None).
* **Slips** (``bridge.clock.slip``): whatever the noise, once the median residual of the last
  ``STEP_TICKS`` ticks is more than half a tick off and the ticks since a step sit flat at a
  whole number of ticks (a tempo change grows instead), the count slipped: the ticks from
  the step on are renumbered (``slip_events`` records it), so the phase never keeps a
  whole-tick error; a phase jump of the delivery (not a whole tick) restarts the fit. With a
  noise band of a quarter tick or more it looks at twice as many ticks; not while a tempo
  change's point is still being placed. A run beyond the band that starts more than half a
  tick off, or jumps by half a tick inside, is a step (with a band under a quarter tick), never taken for a tempo change (a master's change starts from zero).
  With a band of a quarter tick or more (512-1024-frame periods *without* time stamps) a run
  that sits on a whole-tick step better than on a tempo change (0, then growing on a line) is
  no tempo change; with half a tick or more (1024 frames above ~117 BPM, where one tick's
  place is no whole number) a step must also fit better than a change, flat over half the
  window (``bridge.clock.slip.find_step``): found 16-20 ticks after the fault.

``phase_se_sec`` is the fit's standard error for the time of the beat after the last tick:
the follower locks once it is small enough, so coarse delivery takes a few more ticks to
lock instead of never locking.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from bridge.clock.change import ChangeMixin, _Arrival
from bridge.clock.ramp import hinged_curve, plain_f
from bridge.clock.slip import DRIVER_PERIODS_SEC, EDGE_TICKS

PPQN = 24
MIN_BAND_SEC = 0.0001
BAND_TICKS = 16  # residuals needed before the band estimate is trusted
RECENT_TICKS = 8  # the newest ticks are left out of the band estimate
RELOCATE_AFTER = (12, 24, 48)  # ticks after a change when its point is placed again
DETECT_TICKS = 32  # the delivery period is looked for every this many ticks
RAMP_TICKS = 48  # the newest fitted ticks a curve (a tempo ramp) is fitted to
RAMP_TICKS_COARSE = 72  # with a noise band of COARSE_BAND_SEC or more (256-frame periods): noise, not the
COARSE_BAND_SEC = 0.0015  # curve's misfit, is then the larger error
RAMP_F = 30.0  # a curve fits this much better than a line (F statistic): a ramp begins
RAMP_F_KEEP = 4.0  # and goes on while it fits this much better (hysteresis: a ramp's tempo at 150+ BPM curves little over 48 ticks)
ENTRY_TICKS = 12  # a ramp begun inside the window: this many ticks of it at least
ENTRY_FIT = 1.5  # and all of them within this many noise bands of its curve
RAMP_FIT = 1.5  # a curve's scatter within this many noise-level sigmas: a ramp, not a kink
RAMP_FIT_KEEP = 2.0  # and goes on within this many (a slow ramp's end is no quadratic over 2 s)
GRID_MATCH = 2e-4  # a tick period this close to a driver period is on its grid (aliasing, or exactly that rate)
ALIAS_TICKS = 4 * PPQN  # two 'duplicates' this close on a driver period's grid: aliasing


@dataclass(frozen=True)
class Line:
    """t(n) = t_ref + sec_per_tick * (n - n_ref)."""

    t_ref: float
    n_ref: float
    sec_per_tick: float

    def time_at(self, n: float) -> float:
        return self.t_ref + self.sec_per_tick * (n - self.n_ref)


class TickLine(ChangeMixin):
    """Running line fit of tick index -> arrival time; see the module docstring."""

    def __init__(
        self,
        sec_per_tick: float,
        window_ticks: int = 96,
        delivery_period_sec: float = 0.0,
        outlier_floor_sec: float = 0.001,
        change_ticks: int = 4,
        resync_ticks: int = 24,
    ) -> None:
        self.window_ticks = max(8, int(window_ticks))
        self.hint_period_sec = max(0.0, float(delivery_period_sec))
        self.detected_period_sec = 0.0  # delivery period seen in the arrival times (0 = none)
        self._grid_sec = 0.0  # a driver period a perfectly steady clock sits on (undecided: see _aliased)
        self._grid_dups: list[float] = []  # times of the duplicates ignored meanwhile
        self._grid_since = 0  # the tick it was first seen at (no lock for ALIAS_TICKS: undecided)
        self.outlier_floor_sec = outlier_floor_sec
        self.change_ticks = max(3, int(change_ticks))
        self.resync_ticks = max(self.change_ticks + 1, int(resync_ticks))
        self.line = Line(0.0, 0.0, sec_per_tick)
        self.n = -1  # index of the last tick
        self.tempo_changes = 0
        self.changes_undone = 0  # tempo changes a burst of late ticks made, undone (bridge.clock.change)
        self.lost_ticks = 0
        self.resyncs = 0
        self.duplicates = 0  # ticks ignored as duplicates (or counted ahead and renumbered)
        self.slip_events: list[tuple[int, bool]] = []  # (ticks renumbered by, corrected) per slip
        self._arrivals: deque[_Arrival] = deque(maxlen=2 * self.window_ticks)
        self.restart()

    # ---- state ------------------------------------------------------------------------------
    def restart(self) -> None:
        """Forget the arrivals (the clock restarted after a long silence); keep tempo and count."""
        self._arrivals.clear()
        self._seg_start = -math.inf  # first tick index of the current segment
        self._anchor: tuple[float, float, float] | None = None  # (n, t, weight) of a tempo change
        self._change: tuple[float, tuple[float, float, float] | None] | None = None  # segment before it
        self.fitted = 0  # real ticks in the last fit
        self.sigma_sec = 0.0  # RMS residual of the last fit
        self.band_sec = max(self.delivery_period_sec / 2.0, MIN_BAND_SEC)
        self._band_floor = 0.0  # the band before a change holds while the new segment is young
        self.phase_se_sec = math.inf
        self._next_se_sec = 0.0  # standard error of the next tick's predicted time
        self._curve = 0.0  # a ramp's curvature (sec per tick^2) beyond the line's tangent, or 0
        self._curve_from = -math.inf  # a curve is fitted to ticks from here on (where one broke)
        self._curving = False  # the last fit was a curve

    @property
    def delivery_period_sec(self) -> float:
        """The period MIDI is delivered in (hint or detected): the noise band is at least half."""
        return max(self.hint_period_sec, self.detected_period_sec)

    def recent_offset_sec(self) -> float:
        """Median residual of the newest ``RECENT_TICKS`` ticks of the segment: near zero while
        the count and the line agree, a tick period or more while a slip is being noticed."""
        recent = [a.r for a in list(self._arrivals)[-RECENT_TICKS:] if a.n >= self._seg_start]
        return float(np.median(recent)) if len(recent) >= 3 else 0.0

    @property
    def tolerance_sec(self) -> float:
        return max(self.outlier_floor_sec, 2.0 * self.band_sec + 0.0005)

    # ---- feeding -----------------------------------------------------------------------------
    def add(self, t_sec: float) -> int | None:
        """Take the next tick's arrival time; returns its index (after any renumbering), or
        None for a tick that cannot be where it is (a duplicate: ignored)."""
        settled = self.fitted >= BAND_TICKS + RECENT_TICKS or self._anchor is not None
        if settled and self._is_duplicate(t_sec) and not self._aliased(t_sec):
            self.duplicates += 1
            return None
        self.n += 1
        segment = self._seg_start
        if self.fitted < 2:
            a = _Arrival(self.n, t_sec, 0.0, True)
        else:
            k = self.n - self.line.n_ref
            r = t_sec - self.line.time_at(self.n) - self._curve * k * k  # (a ramp goes on curving)
            # until the band is known (a line from a few coarse ticks can be far off), only a
            # gross outlier (two ticks off) is left out
            tol = self.tolerance_sec if settled else max(self.tolerance_sec, 2.0 * self.line.sec_per_tick)
            tol += 3.0 * self._next_se_sec  # a young segment's line is less certain
            a = _Arrival(self.n, t_sec, r, abs(r) <= tol)
        self._arrivals.append(a)
        if (self.n + 1) % DETECT_TICKS == 0 and len(self._arrivals) >= DETECT_TICKS:
            self._detect_period()
        if settled and abs(a.r) > self.band_sec and not self._tempo_changed():
            self._lost()
        if self._seg_start == -math.inf and 2 * EDGE_TICKS <= self.fitted < 8 * EDGE_TICKS:
            self._early_slip()  # a fault before the band is known: told against either end
        if not (settled and self._step()) and not a.ok:
            self._recover()
        self._refit()
        if self._change is not None and self.n - self._seg_start in RELOCATE_AFTER:
            # more ticks of the new tempo: place the change point again, closer
            c = int(self._seg_start)
            self._locate(c - 8, min(c + 8, self.n - 2))
            if self.n - self._seg_start >= RELOCATE_AFTER[-1]:
                self._change = None
            self._refit()
        if self._undo_change():
            self._refit()
        if self._seg_start != segment or self.n != a.n:  # a new segment: residuals against its line
            for b in self._arrivals:
                if b.n >= self._seg_start:
                    b.r = b.t - self.line.time_at(b.n) - self._curve * (b.n - self.line.n_ref) ** 2
        return self.n

    def _detect_period(self) -> None:
        """Do the arrivals sit on a grid of one of the usual driver periods? (JACK delivers once
        per period.) Then that period bounds the noise, even where a tick rate close to it
        makes a run of ticks look like a steady clock at the wrong tempo (aliasing). Only a
        period some tick interval steps off the usual one by (half of it at least): a steady clock whose tick
        period is a whole multiple of a driver period (117.19 BPM = 1024 frames at 48 kHz) sits
        on that grid too, and is not coarse delivery."""
        recent = list(self._arrivals)[-4 * DETECT_TICKS:]
        times = np.array([a.t for a in recent])
        phases = np.exp(2j * np.pi * np.outer(times - times[0], 1.0 / DRIVER_PERIODS_SEC))
        per_tick = np.diff(times) / np.maximum(1, np.diff([a.n for a in recent]))
        per_tick = per_tick[per_tick < 1.5 * self.line.sec_per_tick]  # (a gap is lost ticks, not delivery)
        # the second largest step off the usual interval (aliasing steps once in 40 ticks, jitter
        # little; one odd interval, an arrival misnumbered in a lost beat, does not count)
        steps = np.sort(np.abs(per_tick - np.median(per_tick))) if per_tick.size > 2 else np.zeros(2)
        spread = float(steps[-2])
        on_grid = np.abs(phases.mean(axis=0)) >= 0.9
        # (a period found stays while the grid holds: near a whole multiple of it the intervals
        # jump once in a long while, maybe not within this window)
        concentrated = on_grid & ((DRIVER_PERIODS_SEC <= 2.0 * spread) | (DRIVER_PERIODS_SEC == self.detected_period_sec))
        found = float(DRIVER_PERIODS_SEC[concentrated].max()) if concentrated.any() else 0.0
        grid = float(DRIVER_PERIODS_SEC[on_grid].max()) if on_grid.any() and not found else 0.0
        if grid and abs(self.line.sec_per_tick / grid - 1.0) > GRID_MATCH:
            grid = 0.0  # near the grid but not on it (107.5 BPM against 1024 frames at 44.1 kHz): a clock
        if grid and not self._grid_sec:
            self._grid_since = self.n
        self._grid_sec = grid
        if not grid:
            self._grid_dups.clear()
        if found != self.detected_period_sec:
            self.detected_period_sec = found
            self.band_sec = max(self.band_sec, found / 2.0)

    def _aliased(self, t_sec: float) -> bool:
        """A tick that looks like a duplicate while the clock sits on a driver period's grid:
        a steady clock at that rate with a duplicate, or a clock a little faster delivered once
        per period (aliasing: two ticks share a period every ~40). The first is taken for a
        duplicate; a second within ``ALIAS_TICKS`` gives aliasing away: the period is the
        delivery's, and the ticks since the first are counted again (True: count this one)."""
        if not self._grid_sec:
            return False
        self._grid_dups = [t for t in self._grid_dups if t_sec - t < ALIAS_TICKS * self.line.sec_per_tick]
        if not self._grid_dups:
            self._grid_dups.append(t_sec)
            return False
        for t_dup in self._grid_dups:  # each was a tick: the later ones move on by one
            for a in self._arrivals:
                if a.t > t_dup:
                    a.n += 1
            self.n += 1
        self.duplicates -= len(self._grid_dups)
        self.detected_period_sec, self._grid_sec, self._grid_dups = self._grid_sec, 0.0, []
        self.band_sec = max(self.band_sec, self.detected_period_sec / 2.0)
        self._refit()
        for a in self._arrivals:
            a.r = a.t - self.line.time_at(a.n)
        return True

    # ---- fitting -----------------------------------------------------------------------------
    def _ramp(self) -> np.ndarray | None:
        """A tempo ramp (module docstring): the line becomes the hinged curve's tangent at the
        newest tick and its curvature goes on into the residuals. Returns the curve's absolute
        residuals, or None (no ramp). A short window: a steep ramp's tempo is no quadratic over
        many beats (60 -> 180 in 8 bars is off one by ms over 8 beats)."""
        if self._grid_sec or self.delivery_period_sec / 2 >= self.line.sec_per_tick / 4:
            return None  # coarse delivery (a sawtooth of a quarter tick or more): no curve told
        window = RAMP_TICKS_COARSE if self.band_sec >= COARSE_BAND_SEC else RAMP_TICKS
        pts = [a for a in self._arrivals if a.ok and a.n >= self._curve_from][-window:]
        m = len(pts)
        if m < window:
            return None
        start_from = -math.inf
        if not self._curving:  # a ramp begun inside the window: its newest ticks may be beyond the
            # tolerance (left out of the line); they are the evidence, and must lie on its curve
            lo = max(pts[0].n, self._curve_from)
            newest = itertools.islice(reversed(self._arrivals), 2 * ENTRY_TICKS)
            if all(a.ok for a in newest if a.n >= lo) and plain_f(
                    np.fromiter((a.n for a in pts), float, m), np.fromiter((a.t for a in pts), float, m) - pts[-1].t) < RAMP_F / 4:
                return None  # no tick off the line, no curvature to speak of: no hinge search (a steady clock)
            recent = [a for a in self._arrivals if a.n >= lo]
            cut = recent[-2 * ENTRY_TICKS].n if len(recent) >= 2 * ENTRY_TICKS else -math.inf
            pts = [a for a in recent if a.ok or a.n >= cut]
            m = len(pts)
            bad = [a.n for a in recent if not a.ok and a.n < cut]
            start_from = bad[-1] + 1 if bad else -math.inf
        n1, t1 = pts[-1].n, pts[-1].t
        ns, ts = np.fromiter((a.n for a in pts), float, m) - n1, np.fromiter((a.t for a in pts), float, m) - t1
        if self._curving:  # carries on while the best hinged curve fits clearly better than a line
            fit, f_needed = hinged_curve(ns, ts), RAMP_F_KEEP
        else:
            fit, f_needed = hinged_curve(ns, ts, ENTRY_TICKS, start_from - n1, ends=False, versus_kink=True), RAMP_F
        if fit is None or fit.sse_line - fit.sse <= f_needed * max(fit.sse, 1e-14) / (m - 4):
            return None
        if not self._curving and fit.curved_max > ENTRY_FIT * self.band_sec:
            return None  # (a burst of late ticks bends no curve that far)
        noise = max(self.band_sec, self.delivery_period_sec / 2.0, MIN_BAND_SEC) / math.sqrt(3.0)
        if math.sqrt(fit.sse / (m - 4)) > (RAMP_FIT_KEEP if self._curving else RAMP_FIT) * noise:
            return None  # a burst, or what no curve fits: no ramp
        if not 60.0 / (500.0 * PPQN) < fit.slope < 60.0 / (10.0 * PPQN):
            return None
        self.line = Line(t1 + fit.value, float(n1), fit.slope)
        self._curve = fit.curvature
        for a in pts:
            a.ok = True  # (the newest ticks of a ramp begun)
        if pts[0].n > self._seg_start:  # the segment is the curve's window (a line through a
            self._seg_start, self._anchor, self._change = pts[0].n, None, None  # ramp's end fits)
        return fit.residuals

    def _refit(self) -> None:
        pts = [a for a in self._arrivals if a.ok and a.n >= self._seg_start][-self.window_ticks:]
        m = len(pts)
        spt = self.line.sec_per_tick
        if m == 0:
            return
        anchor = self._anchor if m < self.window_ticks else None
        if anchor is None:
            self._anchor = None
        if m == 1 and anchor is None:
            self.line = Line(pts[0].t, float(pts[0].n), spt)
            self.fitted = 1
            return
        n0, t0 = pts[0].n, pts[0].t
        ns = np.fromiter((a.n for a in pts), float, m) - n0
        ts = np.fromiter((a.t for a in pts), float, m) - t0
        if anchor is None:
            sw, mn, mt = float(m), float(ns.mean()), float(ts.mean())
            dn = ns - mn
            sxx, sxy = float(dn @ dn), float(dn @ (ts - mt))
        else:  # the anchor: the old line's time at the change point, as a weighted point
            wa, na, ta = anchor[2], anchor[0] - n0, anchor[1] - t0
            sw = m + wa
            mn = (float(ns.sum()) + wa * na) / sw
            mt = (float(ts.sum()) + wa * ta) / sw
            dn = ns - mn
            sxx = float(dn @ dn) + wa * (na - mn) ** 2
            sxy = float(dn @ (ts - mt)) + wa * (na - mn) * (ta - mt)
        if sxx > 0:
            slope = sxy / sxx
            if 60.0 / (500.0 * PPQN) < slope < 60.0 / (10.0 * PPQN):  # else duplicate timestamps
                spt = slope
        self.line = Line(t0 + mt, n0 + mn, spt)
        self.fitted = m
        res = np.abs(ts - mt - spt * dn)
        self._curve = 0.0
        curve = self._ramp()
        self._curving = curve is not None
        if curve is not None:
            res = curve
        if res.size > 2:
            self.sigma_sec = math.sqrt(float(res @ res) / (res.size - 2))
        if res.size - RECENT_TICKS >= BAND_TICKS:  # not the latest ticks: they may be a change starting
            older = res[:-RECENT_TICKS]
            p90 = float(np.partition(older, int(0.9 * (older.size - 1)))[int(0.9 * (older.size - 1))])
            floor = self._band_floor if m < self.window_ticks // 2 else 0.0
            self.band_sec = max(self.delivery_period_sec / 2.0, p90 / 0.9, MIN_BAND_SEC, floor)
            if not floor:
                self._band_floor = 0.0
        if m > 2 and sxx > 0:
            x = pts[-1].n - n0 + PPQN - mn  # the beat after the last tick
            sigma = max(self.sigma_sec, self.band_sec / math.sqrt(3.0))
            self.phase_se_sec = sigma * math.sqrt(1.0 / sw + x * x / sxx)
            x = pts[-1].n - n0 + 1 - mn  # the next tick
            self._next_se_sec = sigma * math.sqrt(1.0 / sw + x * x / sxx)
            if self._grid_sec and self.n - self._grid_since < ALIAS_TICKS:
                self.phase_se_sec = math.inf  # a steady clock, or an aliased one: not decided yet
