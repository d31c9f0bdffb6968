"""The hinged curve of a tempo ramp (bridge.clock.ramp): where a ramp began or ended inside
the window, its tempo now, and a tempo jump told from a ramp."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.clock.ramp import hinged_curve

PPQN = 24


def times(sec_per_tick) -> np.ndarray:
    """Tick times of a clock whose tick period is ``sec_per_tick(k)``, ticks -47..0."""
    spt = np.array([sec_per_tick(k) for k in range(48)])
    return np.concatenate(([0.0], np.cumsum(spt[:-1])))


def tick_sec(bpm: float) -> float:
    return 60.0 / (bpm * PPQN)


NS = np.arange(-47, 1, dtype=float)


def test_a_ramp_begun_inside_the_window_gives_its_tempo_now():
    # steady 120 BPM for 28 ticks, then the tick period shrinks 0.05 ms a tick
    t = times(lambda k: tick_sec(120.0) - 5e-5 * max(0, k - 28))
    fit = hinged_curve(NS, t)
    now = tick_sec(120.0) - 5e-5 * (47 - 28 + 0.5)  # the period between the last two ticks and the next
    assert fit is not None and fit.curvature < 0
    assert fit.slope == pytest.approx(now, abs=5e-5)
    assert fit.value == pytest.approx(t[-1], abs=1e-4)  # (a hinge at a whole tick: 0.06 ms off a discrete sum)
    # a plain quadratic through both parts lags: its tangent is further off
    plain = np.polyfit(NS, t, 2)
    assert abs(np.polyval(np.polyder(plain), 0.0) - now) > 3 * abs(fit.slope - now)


def test_a_ramp_that_ended_inside_the_window_is_straight_now():
    t = times(lambda k: tick_sec(100.0) + 8e-5 * min(k, 30))
    fit = hinged_curve(NS, t)
    assert fit is not None and fit.curvature == 0.0
    assert fit.slope == pytest.approx(tick_sec(100.0) + 8e-5 * 30, abs=2e-5)
    assert np.sqrt(fit.sse / NS.size) < 1e-4


def test_a_ramp_that_ended_is_not_told_without_ends():
    t = times(lambda k: tick_sec(100.0) + 8e-5 * min(k, 30))
    assert hinged_curve(NS, t, ends=False).curvature != 0.0


def test_a_tempo_jump_is_a_kink_not_a_ramp():
    t = times(lambda k: tick_sec(125.0) if k < 40 else tick_sec(137.0))
    assert hinged_curve(NS, t, versus_kink=True) is None
    # a ramp of the same size is a curve
    ramp = times(lambda k: tick_sec(125.0) - 2.5e-5 * max(0, k - 28))
    assert hinged_curve(NS, ramp, versus_kink=True) is not None


def test_too_few_ticks_or_one_number():
    assert hinged_curve(NS[:4], times(lambda k: 0.02)[:4]) is None
    assert hinged_curve(np.zeros(8), np.zeros(8)) is None
