"""Tempo changes, phase jumps and delivery stalls of a MIDI clock, told apart (pure; the
``TickLine`` half that decides what a run of ticks beyond the noise band is; see
``bridge.clock.fit`` for the whole picture).

A *run* is the newest ticks beyond the band, all on one side of the line:

* **tempo change** (``_split``): the run grows on a straight line, significantly: its slope
  beyond twice its noise-level standard error, and, when some of its ticks lie beyond the
  tolerance, two ticks more if late (6), a scatter about its own line within the band's noise (1.5
  band) and a slope significant against that scatter (Student's t, one-sided 95 %). A burst of late ticks on
  a busy machine (asynchronous JACK) rises and falls, and jitter that has just begun scatters
  beyond a band taught by cleaner ticks: neither is a tempo change (the old follower took
  both for one: 11-20 ms errors). A ramp's runs start just beyond the band and are followed
  at once.
* **slip** (whole ticks off, flat): renumbered (``bridge.clock.slip``);
* **phase jump** (``_resync``): a run that neither grows nor catches up for ``resync_ticks``
  restarts the fit; but a run *late* by less than whole ticks, at a steady tempo (no change
  being placed, no ramp), is held through for up to ``HOLD_LATE_TICKS`` (4 beats): a master's phase never jumps while it plays, a stall of the
  delivery does (seen over JACK: 40 ticks 4-12 ms late, then on time again).
"""

from __future__ import annotations

import math

import numpy as np

from bridge.clock.slip import SlipMixin, integer_offset, step_not_change

PPQN = 24
HOLD_LATE_TICKS = 4 * PPQN  # a late stretch this long (not whole ticks) is a new latency, not a stall
WILD_EXTRA_TICKS = 2  # a late run with ticks beyond the tolerance needs this many more ticks (bursts are short)
RAMP_BEFORE = PPQN  # ticks of a ramp's curve before a change that its hinge fit looks at
UNDO_TICKS = 3  # ticks back on the old line that undo a tempo change still being placed
SCATTER_FLOOR_SEC = 0.0001  # the least scatter a run's own line is credited with
T_CRIT = (math.inf, 6.31, 2.92, 2.35, 2.13, 2.02, 1.94, 1.89, 1.86)  # Student's t, one-sided 95 %, by dof


class _Arrival:
    __slots__ = ("n", "t", "r", "ok")

    def __init__(self, n: int, t: float, r: float, ok: bool) -> None:
        self.n, self.t, self.r, self.ok = n, t, r, ok


class ChangeMixin(SlipMixin):
    """``TickLine``'s decisions about runs beyond the band (see the module docstring)."""

    change_ticks: int
    resync_ticks: int
    window_ticks: int
    tempo_changes: int
    changes_undone: int
    resyncs: int
    fitted: int
    _anchor: tuple[float, float, float] | None
    _band_floor: float
    _curve: float
    _curve_from: float

    def _recover(self) -> None:
        """``resync_ticks`` ticks in a row left out, not catching up: the phase jumped; refit."""
        arrivals = self._arrivals
        if len(arrivals) < self.resync_ticks:
            return
        last = [arrivals[-1 - i] for i in range(self.resync_ticks)][::-1]
        if any(a.ok for a in last) or last[0].n < self._seg_start:
            return
        ns = np.array([a.n for a in last], float)
        rs = np.array([a.r for a in last])
        nc = ns - ns.mean()
        slope = float(nc @ rs / (nc @ nc)) * (1.0 if rs[-1] > 0 else -1.0)
        if slope > -self.line.sec_per_tick / 4:
            self._resync(last)

    def _resync(self, run: list[_Arrival]) -> None:
        spt = self.line.sec_per_tick
        j = integer_offset(np.array([a.r for a in run]), spt, self.tolerance_sec,
                           self.delivery_period_sec / 2 if self.band_sec < spt / 2 else 0.0)
        if j:  # a whole number of ticks off: the count slipped; the line stands
            self._renumber(run, j)
            self.slip_events.append((j, True))
            return
        steady = self._change is None and not self._curve  # (not inside a tempo change or a ramp)
        if steady and float(np.median([a.r for a in run])) > 0 and self._late_ticks() < HOLD_LATE_TICKS:
            return  # late, not by whole ticks: the delivery stalls (a busy machine); the line holds
        self.resyncs += 1
        self._seg_start = run[0].n
        self._anchor = None
        self._change = None
        self._band_floor = max(self._band_floor, self.band_sec)
        self.fitted = 0
        for a in run:
            a.ok = True

    def _late_ticks(self) -> int:
        """How many of the newest ticks in a row arrived late beyond the band."""
        count = 0
        for a in reversed(self._arrivals):
            if a.n < self._seg_start or a.r <= self.band_sec:
                break
            count += 1
        return count

    def _run(self) -> list[_Arrival]:
        """The latest arrivals beyond the band, all on the side of the last one."""
        arrivals = self._arrivals
        last = arrivals[-1]
        run: list[_Arrival] = []
        for a in reversed(arrivals):
            if a.n < self._seg_start or abs(a.r) <= self.band_sec or (a.r > 0) != (last.r > 0):
                break
            run.append(a)
        run.reverse()
        return run

    def _tempo_changed(self) -> bool:
        run = self._run()[-self.resync_ticks:]  # (the newest part: a long run may have begun with a stall)
        m = len(run)
        if m < self.change_ticks:
            return False
        spt = self.line.sec_per_tick
        if self.band_sec < spt / 4 and max(abs(run[0].r), *(abs(b.r - a.r) for a, b in zip(run, run[1:], strict=False))) > spt / 2:
            return False  # it started or jumped a whole step off: a slip (``_lost``, ``_step``), not a change
        if self.band_sec >= spt / 4 and step_not_change(
                np.array([a.r for a in list(self._arrivals)[-2 * m:]]), spt, m):
            return False  # through coarse delivery: lost or duplicated ticks (``_step``), not a change
        sign = 1.0 if run[-1].r > 0 else -1.0
        ns = np.array([a.n for a in run], float)
        rs = np.array([a.r for a in run]) * sign
        nc = ns - ns.mean()
        slope = float(nc @ (rs - rs.mean()) / (nc @ nc))
        sigma = self.band_sec / math.sqrt(3.0)  # uniform noise over +-band
        slope_se = sigma / math.sqrt(float(nc @ nc))
        wild = any(not a.ok for a in run)  # (a ramp's runs start just beyond the band: followed at once)
        extra = WILD_EXTRA_TICKS if sign > 0 else 0  # (a busy machine delivers late, never early)
        if slope > 2.0 * slope_se and wild and (m < self.change_ticks + extra or self._scattered(
                rs - rs.mean() - slope * nc, slope, float(nc @ nc))):
            return False  # late ticks of a busy moment, or jitter just begun: a change grows on a line
        if slope > 2.0 * slope_se:
            j = 0
            if self.band_sec < spt / 2:
                j = integer_offset(np.array([a.r for a in run]), spt, self.tolerance_sec)
            if j:  # flat at whole ticks off: the count slipped (noise made the run look steep)
                self._renumber(run, j)
                self.slip_events.append((j, True))
            else:
                self._split(run)
            return True
        if m >= self.resync_ticks and slope > -spt / 4:  # not catching up: the phase jumped
            self._resync(run)
            return True
        return False

    def _scattered(self, about_line: np.ndarray, slope: float, sxx: float) -> bool:
        """Does a run beyond the band scatter about its own straight line too much for a tempo
        change? A master's change makes the residuals grow on a line, plus the delivery noise;
        a burst of late ticks on a busy machine (asynchronous JACK) rises and falls, and jitter
        that has just begun scatters beyond a band taught by cleaner ticks. So the run's own
        scatter must be within the band's noise (1.5 band: uniform noise over +-band has a
        standard deviation of 0.58 band), and its slope significant against that scatter
        (Student's t, one-sided 95 %)."""
        m = about_line.size
        sigma_run = max(math.sqrt(float(about_line @ about_line) / max(1, m - 2)), SCATTER_FLOOR_SEC)
        t_crit = T_CRIT[m - 2] if m - 2 < len(T_CRIT) else 1.8
        return sigma_run > 1.5 * self.band_sec or slope < t_crit * sigma_run / math.sqrt(sxx)

    def _split(self, run: list[_Arrival]) -> None:
        """A tempo change: find where (hinge fit), start a new segment anchored there."""
        for a in run:
            a.ok = True
        self.tempo_changes += 1
        self._band_floor = max(self._band_floor, self.band_sec)
        lo = run[0].n - 2 * len(run) - 8
        self._change = (self._seg_start, self._anchor)
        curve = self._curve
        if curve:  # a ramp's curve before it (its end): two lines through its newest ticks only
            self._change = (max(self._seg_start, lo - RAMP_BEFORE), None)
        self._locate(lo, run[0].n)
        if curve and self.band_sec < self.line.sec_per_tick / 8:
            # the curve broke here (a ramp's end): a new one only from the change point on (with
            # coarser delivery a run against a curve is as likely its noise: the curve goes on)
            self._curve_from = self._seg_start

    def _locate(self, lo: int, hi: int) -> None:
        """Put the change point at the best c in [lo, hi]: a continuous two-segment fit over
        the ticks since the segment before it started; the new segment is anchored there."""
        assert self._change is not None
        start, anchor = self._change
        pts = [a for a in self._arrivals if a.n >= start and a.ok]
        ns = np.array([a.n for a in pts], float)
        ts = np.array([a.t for a in pts])
        t0 = ts[0]
        ts = ts - t0
        w = np.ones_like(ns)
        if anchor is not None:
            ns = np.append(ns, anchor[0])
            ts = np.append(ts, anchor[1] - t0)
            w = np.append(w, anchor[2])
        cs = np.arange(max(lo, int(ns.min()) + 2), hi + 1, dtype=float)
        if cs.size == 0:  # too few ticks before the change: start afresh from it
            self._seg_start, self._anchor, self._change = hi, None, None
            return
        # all candidates at once: weighted normal equations of [1, n - c, max(0, n - c)]
        x = np.stack(np.broadcast_arrays(np.ones((cs.size, ns.size)), ns - cs[:, None],
                                         np.maximum(0.0, ns - cs[:, None])), axis=2)  # (C, m, 3)
        xw = x * w[None, :, None]
        gram = np.einsum("cmi,cmj->cij", xw, x) + 1e-9 * np.eye(3)  # (a tiny ridge: never singular)
        coef = np.linalg.solve(gram, np.einsum("cmi,m->ci", xw, ts)[..., None])[..., 0]
        sse = (((np.einsum("cmi,ci->cm", x, coef) - ts) ** 2) * w).sum(axis=1)
        best = int(np.argmin(sse))
        c = int(cs[best])
        before = float(w[ns < c].sum())
        self._seg_start = c
        self._anchor = (float(c), t0 + float(coef[best, 0]), max(1.0, min(before, self.window_ticks) / 4.0))

    def _undo_change(self) -> bool:
        """A tempo change whose newest ``UNDO_TICKS`` ticks are back on the line of the segment
        before it (and off the new one) undid itself: it was a burst of late ticks that grew on
        a line for a while (a busy machine), not the master. The old segment comes back; the
        burst's ticks are left out of the fit."""
        if self._change is None or self.n - self._seg_start < UNDO_TICKS:
            return False
        old_start, old_anchor = self._change
        before = [a for a in self._arrivals if old_start <= a.n < self._seg_start and a.ok][-self.window_ticks:]
        newest = list(self._arrivals)[-UNDO_TICKS:]
        if len(before) < 2 * UNDO_TICKS or max(abs(a.r) for a in newest) <= self.band_sec:
            return False
        ns = np.array([a.n for a in before], float) - before[-1].n
        ts = np.array([a.t for a in before]) - before[-1].t
        slope, icpt = np.polyfit(ns, ts, 1)

        def off_old(a: _Arrival) -> float:
            return float(a.t - before[-1].t - icpt - slope * (a.n - before[-1].n))

        if max(abs(off_old(a)) for a in newest) > self.band_sec:
            return False
        for a in self._arrivals:
            if a.n >= self._seg_start and abs(off_old(a)) > self.tolerance_sec:
                a.ok = False
        self._seg_start, self._anchor, self._change = old_start, old_anchor, None
        self.tempo_changes -= 1
        self.changes_undone += 1
        return True

