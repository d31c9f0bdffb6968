"""The MIDI clock follower against time-stamped tick streams with faults (issue 22): a
duplicated tick, lost ticks (one, a burst, a whole beat), jitter, JACK period-bunched
delivery, tempo ramps and jumps; beat positions checked to 0.5 ms against the master's own
tick times, and a property test over random fault sequences: the phase never stays a tick off."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.clock.midi_in import CONTINUE, PPQN, START, STOP, MidiClockFollower, song_position
from tests.rigs.clock_streams import ClockStream, clock_stream, ramp

BEATS = 48


def follow(stream: ClockStream) -> tuple[MidiClockFollower, np.ndarray]:
    """Feed ``stream``; at each tick of the master once locked, the error (ms) of the
    follower's time for the next beat against the master's. Rows: (tick, error ms, locked,
    error ms for the next tick: the phase now, what a tempo ramp can be judged by)."""
    now = [0.0]
    f = MidiClockFollower(now=lambda: now[0])
    rows = []
    for (t, msg), k in zip(stream.events, stream.tick_of_event, strict=True):
        now[0] = t
        f.feed(t, msg)
        if k >= 0 and f.is_playing and f._ever_locked and k + PPQN < stream.sent.size:
            b = k // PPQN + 1
            rows.append((k, (f.time_at_beat(b) - stream.beat_time(b)) * 1000.0, float(f.locked),
                         (f.time_at_beat((k + 1) / PPQN) - stream.sent[k + 1]) * 1000.0))
    return f, np.array(rows)


def after(rows: np.ndarray, tick: int) -> np.ndarray:
    return rows[rows[:, 0] >= tick]


FAULTS = {
    "duplicate": dict(duplicates=[500]),
    "duplicate, copy 5 ms late": dict(duplicates=[500], dup_gap_ms=5.0),
    "one lost": dict(drops=[500]),
    "three lost": dict(drops=[500, 501, 502]),
    "a beat lost": dict(drops=range(500, 524)),
    "duplicate then lost": dict(duplicates=[500], drops=[600]),
}


@pytest.mark.parametrize("bpm", [60.0, 120.0, 138.0, 180.0])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_leaves_no_phase_error(fault, bpm):
    f, rows = follow(clock_stream(PPQN * BEATS, bpm, **FAULTS[fault]))
    assert rows[0, 0] < 100  # locked within about 4 beats
    assert np.max(np.abs(rows[:, 1])) < 0.5, np.max(np.abs(rows[:, 1]))  # never off, not even during it
    assert rows[:, 2].all()  # and locked all along
    assert f.pop_slips() == []  # recognised at once: nothing slipped
    assert f.tempo_changes == 0 and f.resyncs == 0
    assert f.bpm == pytest.approx(bpm, rel=1e-6)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_jitter_two_ms_with_each_fault(fault):
    """Gaussian arrival jitter of 2 ms (standard deviation): phase p99 under 1 ms anyway."""
    for seed in range(3):
        f, rows = follow(clock_stream(PPQN * BEATS, 125.0, jitter_ms=2.0, seed=seed, **FAULTS[fault]))
        steady = after(rows, 24 * 8)
        assert np.percentile(np.abs(steady[:, 1]), 99) <= 1.0
        assert np.max(np.abs(after(rows, 600 + 24)[:, 1])) < 1.5  # a beat after the last fault
        assert f.tempo_changes == 0 and f.pop_slips() == []


@pytest.mark.parametrize("period_frames", [32, 128, 256])
@pytest.mark.parametrize("stamped", [True, False])
@pytest.mark.parametrize("fault", ["duplicate", "one lost", "three lost", "duplicate then lost"])
def test_period_bunched_delivery_with_faults(fault, period_frames, stamped):
    """JACK delivers once per period; time stamps exact (stamped) or the period's end."""
    f, rows = follow(clock_stream(PPQN * BEATS, 138.0, period_frames=period_frames, stamped=stamped,
                                  **FAULTS[fault]))
    latency = np.median(rows[rows[:, 0] < 480, 1])  # half a period: the latency setting's job
    dev = np.abs(after(rows, 480)[:, 1] - latency)
    assert dev.max() < max(0.5, 0.1 * period_frames / 48.0), dev.max()
    assert f.tempo_changes == 0 and f.resyncs == 0


@pytest.mark.parametrize("fault", ["duplicate", "three lost"])
def test_512_frame_bunches_a_slip_is_corrected_within_a_beat(fault):
    """With 10.7 ms periods and no time stamps at 120 BPM, the noise is a quarter tick: a
    fault is not told at once; the slip is found and corrected within a beat, and reported."""
    f, rows = follow(clock_stream(PPQN * BEATS, 120.0, period_frames=512, **FAULTS[fault]))
    latency = np.median(rows[rows[:, 0] < 480, 1])
    dev = np.abs(rows[:, 1] - latency)
    late = rows[dev > 1.0, 0]
    assert late.size == 0 or late.max() < 500 + PPQN, late  # back under 1 ms within one beat
    slips = f.pop_slips()
    assert len(slips) == 1 and slips[0][1] and slips[0][0] == (-1 if fault == "duplicate" else 3)


def test_ramp_60_to_180_over_8_bars_with_faults():
    bpm = ramp(60.0, 180.0, 4 * PPQN * 2, PPQN * 32)  # two bars at 60, 8 bars up, then 180
    stream = clock_stream(PPQN * 56, bpm, duplicates=[400, 900], drops=[650, 1200, 1201])
    f, rows = follow(stream)
    # the phase (next tick) through the ramp; a beat ahead, a ramp is not yet known
    assert np.percentile(np.abs(rows[:, 3]), 99) <= 2.0, np.percentile(np.abs(rows[:, 3]), 99)
    assert np.max(np.abs(after(rows, 24 * 48)[:, 1])) < 0.5  # 180 reached: the next beat exact
    assert f.bpm == pytest.approx(180.0, abs=0.05)
    assert f.pop_slips() == []


@pytest.mark.parametrize("period_frames", [32, 256])
@pytest.mark.parametrize(("bpm1", "bpm2"), [(60.0, 180.0), (180.0, 60.0)])
def test_ramp_over_jack_periods_is_followed_as_a_curve(bpm1, bpm2, period_frames):
    """A ramp over 8 bars delivered once per JACK period, no time stamps (issue 22): the
    phase of the next tick within 2 ms p99 at 32-frame periods (4 ms at 256, where one delivery
    period is 5.3 ms), no false slip, the new tempo exact at the end. The follower of session 15
    took the ramp for a chain of tempo changes whose young segments lagged (3.5-3.7 ms at 32
    frames, 39-51 ms and false slips at 256); session 16's plain quadratic lagged where the ramp
    began or ended inside its window and dropped out at 150+ BPM (5.2-6.9 ms at 256)."""
    bpm = ramp(bpm1, bpm2, 4 * PPQN * 2, PPQN * 32)
    limit = 2.0 if period_frames == 32 else 4.0
    for seed in range(2):
        f, rows = follow(clock_stream(PPQN * 56, bpm, period_frames=period_frames, seed=seed))
        latency = np.median(rows[rows[:, 0] < 8 * PPQN, 3])  # half a period: the latency setting's job
        dev = np.abs(rows[:, 3] - latency)
        assert np.percentile(dev, 99) <= limit, (seed, np.percentile(dev, 99))
        assert f.pop_slips() == [] and f.resyncs == 0
        assert f.bpm == pytest.approx(bpm2, rel=2e-3)


@pytest.mark.parametrize(("bpm1", "bpm2"), [(60.0, 180.0), (180.0, 60.0)])
def test_a_ramp_stamped_on_its_frames_through_256_frame_periods_is_within_2_ms(bpm1, bpm2):
    """Issue 22's ramp target at 256 frames, where each tick keeps its frame (a DAW on JACK
    places ticks on their frames; bridge.midi.jack_frames keeps them, python-rtmidi's input
    stamps the period): next-tick p99 within 2 ms (0.43-0.47 ms here; over real JACK with a
    frame-placing master 0.24-0.38 ms, benchmarks/bench_clock_follow.py --faults --masters
    frames), no slip. Unstamped, the same ramp is 2.3-3.2 ms (the 4 ms bound above)."""
    bpm = ramp(bpm1, bpm2, 4 * PPQN * 2, PPQN * 32)
    for seed in range(2):
        f, rows = follow(clock_stream(PPQN * 56, bpm, period_frames=256, stamped=True, seed=seed))
        latency = np.median(rows[rows[:, 0] < 8 * PPQN, 3])
        assert np.percentile(np.abs(rows[:, 3] - latency), 99) <= 2.0
        assert f.pop_slips() == []  # (the fit restarts a few times in it: resyncs, no tick renumbered)
        assert f.bpm == pytest.approx(bpm2, rel=2e-3)


@pytest.mark.parametrize(("bpm1", "bpm2"), [(120.0, 150.0), (140.0, 100.0)])
def test_tempo_jump_then_a_duplicate(bpm1, bpm2):
    stream = clock_stream(PPQN * BEATS, lambda k: bpm1 if k < 480 else bpm2, duplicates=[700])
    f, rows = follow(stream)
    assert np.max(np.abs(after(rows, 480 + 3 * PPQN)[:, 1])) < 0.5  # 3 beats after the jump
    assert f.bpm == pytest.approx(bpm2, rel=1e-4)
    assert f.duplicates == 1 and f.pop_slips() == []


# ---- transport ------------------------------------------------------------------------------
def feed(f: MidiClockFollower, events) -> None:
    for t, msg in events:
        f.feed(t, msg)


def test_clock_without_start_knows_tempo_not_phase():
    """DAWs that always send clock: tempo and lock, but not playing until Start."""
    s = clock_stream(PPQN * 8, 126.0, start=False)
    f = MidiClockFollower(now=lambda: s.events[-1][0])
    feed(f, s.events)
    assert not f.is_playing and f.bpm == pytest.approx(126.0)
    state, _err, detail = f.health()
    assert state == "locked" and "no Start" in detail


def test_start_without_stop_restarts_at_beat_zero_and_stop_continue_resume():
    s = clock_stream(PPQN * 16, 120.0)
    f = MidiClockFollower(now=lambda: 0.0)
    spt = 60.0 / (120.0 * PPQN)
    feed(f, s.events[: 1 + 100])  # Start, ticks 0..99
    f.feed(s.sent[99] + 0.001, [START])  # Start again, no Stop: beat 0 on the next tick (100)
    feed(f, s.events[101:151])  # ticks 100..149
    assert f.beat_at(s.sent[149]) == pytest.approx(49 / PPQN, abs=1e-6)
    f.feed(s.sent[149] + 0.001, [STOP])
    stopped = f.beat_at(s.sent[160])
    assert stopped == pytest.approx(50 / PPQN, abs=1e-9) and not f.is_playing
    feed(f, s.events[151:201])  # the master keeps sending clock while stopped
    f.feed(s.sent[199] + 0.001, [CONTINUE])
    feed(f, s.events[201:260])  # ticks 200..258: the first of them is the stopped position
    assert f.beat_at(s.sent[250]) == pytest.approx(50 / PPQN + 50 * spt * 2, abs=1e-6)


def test_song_position_jump_while_playing():
    s = clock_stream(PPQN * 16, 120.0)
    f = MidiClockFollower(now=lambda: 0.0)
    feed(f, s.events[:201])  # ticks 0..199
    f.feed(s.sent[199] + 0.001, song_position(64.0))  # jump to bar 17 (16ths: 256)
    feed(f, s.events[201:260])
    assert f.beat_at(s.sent[210]) == pytest.approx(64.0 + 10 / PPQN, abs=1e-6)


def test_lost_start_plays_nothing_and_says_so():
    s = clock_stream(PPQN * 8, 120.0, start=False)  # the DAW plays, its Start was lost
    f = MidiClockFollower(now=lambda: s.events[-1][0])
    feed(f, s.events)
    assert not f.is_playing
    assert f.health()[2] == "MIDI clock running, no Start yet"


def test_health_lost_when_no_clock_and_settling_while_locking():
    now = [0.0]
    f = MidiClockFollower(now=lambda: now[0])
    assert f.health()[0] == "lost" and f.health()[2] == "no MIDI clock arriving"
    s = clock_stream(PPQN * 8, 120.0)
    feed(f, s.events[:6])
    now[0] = s.events[5][0]
    assert f.health()[0] == "settling" and not f.locked
    feed(f, s.events[6:])
    now[0] = s.events[-1][0]
    assert f.health()[0] == "locked" and f.locked
    now[0] += 1.0
    assert f.health()[0] == "lost" and f.health()[2] == "MIDI clock stopped arriving"


# ---- property: random fault sequences -------------------------------------------------------
@st.composite
def fault_plans(draw):
    bpm = draw(st.floats(70.0, 180.0))
    n_faults = draw(st.integers(1, 5))
    starts = sorted(draw(st.lists(st.integers(0, 9), min_size=n_faults, max_size=n_faults, unique=True)))
    dups, drops, late = [], [], {}
    for slot in starts:  # one fault per 2-beat slot from tick 200 on: a beat apart at least
        k = 200 + slot * 2 * PPQN + draw(st.integers(0, PPQN - 1))
        kind = draw(st.sampled_from(["dup", "drop", "burst", "late"]))
        if kind == "dup":
            dups.append(k)
        elif kind == "late":  # a busy moment: 2-5 ticks in a row 0.5-4 ms late (longer: below)
            late.update({k + i: draw(st.floats(0.5, 4.0)) for i in range(draw(st.integers(2, 5)))})
        else:
            drops += list(range(k, k + (1 if kind == "drop" else draw(st.integers(2, PPQN)))))
    jitter = draw(st.sampled_from([0.0, 0.5, 1.0]))
    period = draw(st.sampled_from([0, 32, 128, 256]))
    return bpm, dups, drops, late, jitter, period, draw(st.integers(0, 1000))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fault_plans())
def test_phase_never_stays_off_by_a_tick(plan):
    bpm, dups, drops, late, jitter, period, seed = plan
    stream = clock_stream(PPQN * 28, bpm, duplicates=dups, drops=drops, jitter_ms=jitter,
                          period_frames=period, seed=seed, late_ms=late)
    clean = clock_stream(PPQN * 28, bpm, jitter_ms=jitter, period_frames=period, seed=seed)  # the same arrivals
    f, rows = follow(stream)
    _, base = follow(clean)
    # against the same follower on the same stream without the faults (period-bunched
    # delivery makes the phase estimate wander by itself: that is not the faults' doing)
    by_tick = dict(zip(base[:, 0].astype(int), base[:, 1], strict=True))
    both = np.array([(k, e - by_tick[int(k)]) for k, e in rows[:, :2] if int(k) in by_tick])
    spt_ms = 60000.0 / (bpm * PPQN)
    dev = np.abs(both[:, 1])
    assert dev.max() < spt_ms / 2, (dev.max(), both[np.argmax(dev)])  # never a tick off
    last_fault = max(dups + drops + list(late))
    settled = dev[both[:, 0] >= last_fault + PPQN]  # a beat after the last fault
    noise_ms = 2.0 * jitter + 0.5 * period / 48.0  # one point fewer moves a line through noisy ticks a little
    assert settled.size == 0 or settled.max() < 1.0 + noise_ms, settled.max()


@pytest.mark.parametrize("fault", [dict(drops=[3]), dict(drops=[12]), dict(drops=[20, 21]), dict(drops=[30])])
def test_a_tick_lost_right_after_start_is_not_fitted_in(fault):
    """Before the fit settles (its first 24 ticks) a lost tick used to be fitted in for good:
    a tick late all run long (seen over asynchronous JACK at 138 BPM). Duplicates there: below.
    Tick 0 itself, with no clock before Start, can not be told lost (a master may send its
    first tick any time after Start); with a running clock it can (below)."""
    f, rows = follow(clock_stream(PPQN * 16, 138.0, **fault))
    assert np.max(np.abs(rows[:, 1])) < 0.5
    assert (f.lost_ticks, f.duplicates) == (len(fault.get("drops", ())), len(fault.get("duplicates", ())))


# ---- a busy machine: asynchronous JACK -------------------------------------------------------
BUSY_MS = {300: 1.8, 301: 0.3, 302: 0.5, 303: 2.9, 304: 3.3, 305: 2.2}  # as seen over async JACK, loaded


@pytest.mark.parametrize("bpm", [100.0, 138.0, 175.0])
@pytest.mark.parametrize("period_frames", [0, 32])
def test_a_burst_of_late_ticks_is_not_a_tempo_change(bpm, period_frames):
    """A few ticks in a row late by 0.3-3.3 ms, then on time again (the master never changed
    tempo): the old follower took the rise for a tempo change, then the fall for another
    (20 ms error at 138 BPM over async JACK)."""
    f, rows = follow(clock_stream(PPQN * 24, bpm, period_frames=period_frames, late_ms=BUSY_MS, seed=1))
    latency = np.median(rows[rows[:, 0] < 280, 1])
    assert np.max(np.abs(rows[:, 1] - latency)) < 0.5, np.max(np.abs(rows[:, 1] - latency))
    assert f.tempo_changes == 0 and f.pop_slips() == []


@pytest.mark.parametrize("seed", range(6))
def test_jitter_that_begins_mid_run_is_not_a_tempo_change(seed):
    """Clean 32-frame delivery for 20 beats, then +-2 ms jitter: its first ticks scatter beyond
    the band the clean ticks taught; the old follower took four of them on one side for a
    tempo change (11 ms error, 3 beats to settle)."""
    f, rows = follow(clock_stream(PPQN * 40, 138.0, period_frames=32, jitter_ms=2.0, jitter_from=480, seed=seed))
    latency = np.median(rows[rows[:, 0] < 480, 1])
    dev = np.abs(after(rows, 480)[:, 1] - latency)
    assert np.percentile(dev, 99) <= 1.0 and dev.max() < 1.5, (np.percentile(dev, 99), dev.max())
    assert f.tempo_changes == 0 and f.pop_slips() == []


@pytest.mark.parametrize("period_frames", [0, 32])
def test_a_stall_of_the_delivery_holds_the_line(period_frames):
    """40 ticks (0.7 s at 138 BPM) delivered 4-12 ms late, then on time again, as seen over
    JACK -S on the loaded machine: the old follower restarted its fit on the late ticks
    (+13 ms) and was 12 ms early once they caught up. A master's phase never jumps while it
    plays: a late stretch that is not whole ticks is held through (up to 4 beats)."""
    rng = np.random.default_rng(7)
    late = {k: float(rng.uniform(4.0, 12.0)) for k in range(320, 360)}
    f, rows = follow(clock_stream(PPQN * 24, 138.0, period_frames=period_frames, late_ms=late, seed=2))
    latency = np.median(rows[rows[:, 0] < 300, 1])
    assert np.max(np.abs(rows[:, 1] - latency)) < 0.5, np.max(np.abs(rows[:, 1] - latency))
    assert f.resyncs == 0 and f.tempo_changes == 0 and f.pop_slips() == []


@pytest.mark.parametrize("bpm", [60000.0 / (PPQN * 1024 / 48.0), 60000.0 / (PPQN * 1024 / 44.1), 117.0, 107.8])
@pytest.mark.parametrize("fault", ["duplicate", "one lost"])
def test_a_steady_clock_at_a_driver_period_is_not_coarse_delivery(bpm, fault):
    """At 117.19 BPM a tick lasts 1024 frames at 48 kHz (107.67 BPM: at 44.1 kHz): a steady
    clock sits on that driver period's grid, and the old follower took it for 1024-frame
    delivery (a noise band of 10.7 ms): a duplicate there was not told and left the phase
    38 ms off for good (found by the property test at 117 BPM)."""
    f, rows = follow(clock_stream(PPQN * BEATS, bpm, **FAULTS[fault]))
    assert np.max(np.abs(rows[:, 1])) < 0.5, np.max(np.abs(rows[:, 1]))
    assert f.band_ms < 1.0 and f.pop_slips() == []
    assert (f.duplicates, f.lost_ticks) == ((1, 0) if fault == "duplicate" else (0, 1))


@pytest.mark.parametrize("bpm", [90.0, 138.0, 175.0])
@pytest.mark.parametrize("fault", [dict(duplicates=[3]), dict(duplicates=[10]), dict(duplicates=[23]),
                                   dict(duplicates=[12], dup_gap_ms=5.0), dict(duplicates=[5], jitter_ms=0.5),
                                   dict(duplicates=[8], period_frames=128)])
def test_a_duplicate_right_after_start_is_not_counted(fault, bpm):
    """Before the fit settles (the first 24 ticks) a duplicate was counted for good: the whole
    run a tick early (15-33 ms). One clean line through every tick once renumbered tells it."""
    f, rows = follow(clock_stream(PPQN * 16, bpm, **fault))
    latency = np.median(rows[-100:, 1]) if "period_frames" in fault else 0.0
    bound = 1.0 if "jitter_ms" in fault else 0.5
    assert np.max(np.abs(rows[:, 1] - latency)) < bound, np.max(np.abs(rows[:, 1] - latency))
    assert f.duplicates == 1 and f.pop_slips() == []


@pytest.mark.parametrize("bpm", [90.0, 138.0])
def test_tick_zero_lost_while_the_clock_ran_before_start(bpm):
    """A DAW that always sends clock: Start, then its tick 0 is lost. The follower knows the
    grid already, so the first tick to arrive is told for tick 1 (beat 0 stays on tick 0)."""
    s = clock_stream(PPQN * 12, bpm, start=False, drops=[96])
    i = s.tick_of_event.index(95) + 1
    f = MidiClockFollower(now=lambda: 0.0)
    feed(f, s.events[:i])
    f.feed(float(s.sent[95]) + 0.002, [START])  # beat 0 = tick 96 (lost)
    feed(f, s.events[i:])
    for k in (120, 200, 280):
        assert abs(f.time_at_beat((k - 96) / PPQN) - s.sent[k]) < 0.0005
    assert f.lost_ticks == 1


def test_a_long_late_burst_taken_for_a_tempo_change_is_undone():
    """Six ticks in a row late by a growing 1.2-3.3 ms (found by a random sweep): that grows on
    a line like a master slowing down, and is taken for a tempo change; the ticks after it are
    back on the old line, so the change is undone (3 ticks on it), never kept."""
    late = dict(zip(range(361, 367), (1.1643519580403205, 1.6629715978593576, 1.9884362202422188,
                                      1.8519983889330371, 2.887496505502197, 3.2592370077976756), strict=True))
    f, rows = follow(clock_stream(PPQN * 28, 114.48204660556445, period_frames=32, seed=538, late_ms=late))
    latency = np.median(rows[rows[:, 0] < 340, 1])
    assert np.max(np.abs(after(rows, 366 + PPQN)[:, 1] - latency)) < 0.5  # within a beat
    assert f.tempo_changes == 0 and f._line.changes_undone == 1 and f.pop_slips() == []



@pytest.mark.parametrize("bpm", [107.5, 107.8, 117.0, 117.3])
def test_two_duplicates_near_a_driver_period_are_duplicates(bpm):
    """Near (not on) a driver period's rate, two duplicates two beats apart are duplicates, not
    aliasing of a faster clock by coarse delivery (found by the property test at 107.5 BPM:
    both were recounted, 46.5 ms off for good): arrivals of a coarse delivery sit exactly one
    period apart, a clock near that rate does not."""
    f, rows = follow(clock_stream(PPQN * 28, bpm, duplicates=[200, 248]))
    assert np.max(np.abs(rows[:, 1])) < 0.5, np.max(np.abs(rows[:, 1]))
    assert f.duplicates == 2 and f.pop_slips() == []


def test_jitter_near_a_driver_period_is_not_coarse_delivery():
    """117.25 BPM (near 1024 frames at 48 kHz) with 1 ms jitter, a beat lost, then a duplicate
    (found by a random sweep; the old follower failed it too): jitter and the lost beat's gap
    made the tick intervals look like steps of a 1024-frame delivery, and the duplicate was not
    told (37 ms off for good). Only intervals that step off the usual one by half a period,
    more than once, give a delivery period away."""
    kw = dict(jitter_ms=1.0, seed=62)
    f, rows = follow(clock_stream(PPQN * 28, 117.25120351606952, duplicates=[450], drops=range(347, 371), **kw))
    _, base = follow(clock_stream(PPQN * 28, 117.25120351606952, **kw))
    by_tick = dict(zip(base[:, 0].astype(int), base[:, 1], strict=True))
    dev = np.array([abs(e - by_tick[int(k)]) for k, e in rows[:, :2] if int(k) in by_tick])
    assert dev.max() < 1.0, dev.max()
    assert (f.duplicates, f.lost_ticks) == (1, 24) and f.band_ms < 5.0


COARSE_FAULTS = {"duplicate": dict(duplicates=[600]), "one lost": dict(drops=[600]),
                 "three lost": dict(drops=[600, 601, 602])}


@pytest.mark.parametrize(("period_frames", "bpm"), [(1024, 125.0), (1024, 138.0), (1024, 160.0), (512, 125.0)])
@pytest.mark.parametrize("fault", list(COARSE_FAULTS))
def test_a_fault_through_coarse_delivery_is_corrected_within_a_beat(fault, period_frames, bpm):
    """Ticks delivered once per 1024-frame period (21.3 ms) above 117 BPM, where a tick is
    shorter than the period, without time stamps (issue 22): a duplicate or lost ticks is a
    whole-tick step in the residuals, told from a tempo change by fitting better than one; the
    old follower looked for no step under noise of half a tick (a lasting 21-27 ms error) and
    took three lost ticks for a tempo change (61 ms for good; 1.5 s at 512 frames and 125 BPM)."""
    for seed in range(3):
        f, rows = follow(clock_stream(PPQN * 40, bpm, period_frames=period_frames, seed=seed, **COARSE_FAULTS[fault]))
        latency = np.median(rows[(rows[:, 0] > 100) & (rows[:, 0] < 590), 3])
        dev = np.abs(rows[:, 3] - latency)
        assert np.percentile(dev[rows[:, 0] >= 600 + PPQN], 99) < 2.5, (seed, np.percentile(dev[rows[:, 0] >= 600 + PPQN], 99))
        assert f.tempo_changes == 0 and f.resyncs == 0


@pytest.mark.parametrize(("bpm1", "bpm2"), [(60.0, 180.0), (180.0, 60.0)])
def test_a_ramp_through_coarse_delivery_is_no_chain_of_slips(bpm1, bpm2):
    """A ramp through 1024-frame periods without time stamps lags the line by far more than the
    delivery's noise (a known limit: README), and that lag is no whole-tick step: before the
    step detector was guarded by the fit of the ticks before its window, it renumbered such a
    ramp by -1, -5, -6 ... ticks (0.3-4 s off)."""
    for seed in range(2):
        f, _rows = follow(clock_stream(PPQN * 56, ramp(bpm1, bpm2, 4 * PPQN * 2, PPQN * 32), period_frames=1024, seed=seed))
        assert len(f.pop_slips()) <= 1
