"""MIDI clock follower and sender: exact and quantised synthetic tick streams, and a real
JACK loopback at 32- and 256-frame periods."""

from __future__ import annotations

import os
import random
import subprocess
import time

import numpy as np
import pytest

from bridge.clock.base import FakeClock, InternalClock
from bridge.clock.midi_in import (
    CLOCK,
    CONTINUE,
    SONG_POSITION,
    START,
    STOP,
    MidiClockFollower,
    MidiClockSender,
    SenderState,
    clock_messages,
    song_position,
)
from tests.rigs.clock_input import open_clock_input
from tests.rigs.clock_streams import quantised_arrivals

T0 = 100.0


class Now:
    """An injectable clock for the follower's `locked` timeout."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def feed_ticks(f: MidiClockFollower, now: Now, t_start: float, bpm: float, count: int,
               jitter_sec: float = 0.0, seed: int = 0) -> list[float]:
    """Feed `count` ticks at `bpm` from `t_start`; returns the ideal (jitter-free) times."""
    rng = random.Random(seed)
    period = 60.0 / (bpm * 24)
    ideal = [t_start + k * period for k in range(count)]
    for t in ideal:
        now.t = t + rng.uniform(-jitter_sec, jitter_sec)
        f.feed(now.t, [CLOCK])
    return ideal


def make() -> tuple[MidiClockFollower, Now]:
    now = Now()
    return MidiClockFollower(now=now), now


def test_steady_tempo_locks_and_maps_beats_exactly():
    f, now = make()
    assert not f.locked
    f.feed(T0 - 0.01, [START])
    ideal = feed_ticks(f, now, T0, 120.0, 96)
    assert f.bpm == pytest.approx(120.0, abs=1e-6)
    assert f.locked and f.is_playing
    # the first tick after Start is beat 0; tick k is beat k/24
    assert f.beat_at(ideal[0]) == pytest.approx(0.0, abs=1e-6)
    assert f.beat_at(ideal[48]) == pytest.approx(2.0, abs=1e-6)
    assert f.time_at_beat(5.0) == pytest.approx(T0 + 2.5, abs=1e-6)  # extrapolated ahead


def test_not_locked_before_enough_ticks_and_after_timeout():
    f, now = make()
    feed_ticks(f, now, T0, 120.0, 10)
    assert not f.locked
    feed_ticks(f, now, T0 + 10 / 48, 120.0, 30)
    assert f.locked
    now.t += 1.0  # the master stopped sending clock
    assert not f.locked


def test_jitter_one_ms_keeps_tempo_and_phase():
    f, now = make()
    f.feed(T0 - 0.01, [START])
    ideal = feed_ticks(f, now, T0, 125.0, 24 * 16, jitter_sec=0.001, seed=3)
    assert f.locked
    assert f.bpm == pytest.approx(125.0, abs=0.5)
    period = 60.0 / (125.0 * 24)
    true_next_beat = ideal[-1] + period * 24  # the beat 24 ticks after the last
    predicted = f.time_at_beat((len(ideal) - 1) / 24 + 1.0)
    assert abs(predicted - true_next_beat) < 0.001
    assert f.tempo_changes == 0  # jitter is not mistaken for tempo changes


def test_tempo_change_is_followed_and_position_continues():
    f, now = make()
    f.feed(T0 - 0.01, [START])
    first = feed_ticks(f, now, T0, 120.0, 96)
    assert f.bpm == pytest.approx(120.0, abs=1e-6)
    t1 = first[-1] + 60.0 / (140.0 * 24)
    second = feed_ticks(f, now, t1, 140.0, 48)
    assert f.tempo_changes >= 1
    assert f.bpm == pytest.approx(140.0, abs=0.5)
    assert f.locked
    # tick index carries on across the change: the last tick is beat (96 + 47) / 24
    assert f.beat_at(second[-1]) == pytest.approx((96 + 47) / 24, abs=0.01)


def test_stop_freezes_position_and_continue_resumes():
    f, now = make()
    f.feed(T0 - 0.01, [START])
    ticks = feed_ticks(f, now, T0, 120.0, 48)  # beats 0 .. 47/24
    f.feed(ticks[-1] + 0.001, [STOP])
    assert not f.is_playing
    assert f.beat_at(ticks[-1] + 5.0) == pytest.approx(2.0)  # the tick that would have come next
    t = ticks[-1] + 60.0 / (120.0 * 24)
    more = feed_ticks(f, now, t, 120.0, 24)  # clock keeps running while stopped
    assert f.beat_at(more[-1]) == pytest.approx(2.0)
    f.feed(more[-1] + 0.001, [CONTINUE])
    resume = feed_ticks(f, now, more[-1] + 60.0 / (120.0 * 24), 120.0, 24)
    assert f.is_playing
    assert f.beat_at(resume[0]) == pytest.approx(2.0, abs=1e-6)
    assert f.beat_at(resume[12]) == pytest.approx(2.5, abs=1e-6)


def test_song_position_pointer_then_continue():
    f, now = make()
    feed_ticks(f, now, T0, 100.0, 48)  # stopped, clock running
    f.feed(now.t, song_position(8.0))  # 32 sixteenths
    assert f.beat_at(now.t) == pytest.approx(8.0)
    f.feed(now.t + 0.001, [CONTINUE])
    ticks = feed_ticks(f, now, now.t + 60.0 / (100 * 24), 100.0, 30)
    assert f.beat_at(ticks[0]) == pytest.approx(8.0, abs=1e-6)
    assert f.beat_at(ticks[24]) == pytest.approx(9.0, abs=1e-6)
    # Start always goes back to 0
    f.feed(now.t, [STOP])
    f.feed(now.t + 0.001, [START])
    ticks = feed_ticks(f, now, now.t + 60.0 / (100 * 24), 100.0, 3)
    assert f.beat_at(ticks[0]) == pytest.approx(0.0, abs=1e-6)


def test_spp_encoding_and_malformed_messages_ignored():
    assert song_position(8.0) == [SONG_POSITION, 32, 0]
    assert song_position(100.0) == [SONG_POSITION, 400 & 0x7F, 400 >> 7]
    f, now = make()
    f.feed(T0, [])
    f.feed(T0, [SONG_POSITION])  # truncated: ignored
    f.feed(T0, [0x99, 36, 100])  # a note: not ours
    assert not f.is_playing and f.ticks_received == 0


def test_single_outlier_is_ignored():
    f, now = make()
    f.feed(T0 - 0.01, [START])
    ideal = feed_ticks(f, now, T0, 120.0, 48)
    period = 60.0 / (120.0 * 24)
    f.feed(ideal[-1] + period + 0.015, [CLOCK])  # one tick 15 ms late
    feed_ticks(f, now, ideal[-1] + 2 * period, 120.0, 24)
    assert f.bpm == pytest.approx(120.0, abs=1e-6)
    assert f.tempo_changes == 0


# ---- sender ------------------------------------------------------------------------------------
def test_sender_start_ticks_and_stop_with_fake_clock():
    clock = FakeClock(bpm=120.0)
    state = SenderState()
    msgs = clock_messages(clock, state, clock.now_sec() + 0.1)
    assert all(m == [CLOCK] for _, m in msgs) and len(msgs) == 5  # stopped: free-running ticks
    clock.start()
    t0 = clock.now_sec()
    msgs = clock_messages(clock, state, t0 + 1.0 - 1e-9)  # two beats minus a hair
    assert msgs[0][1] == [START]
    ticks = [t for t, m in msgs if m == [CLOCK]]
    assert len(ticks) == 48
    assert ticks[24] == pytest.approx(t0 + 0.5)
    clock.advance(1.0)
    clock.stop()
    msgs = clock_messages(clock, state, clock.now_sec())
    assert msgs[0][1] == [STOP]


def test_sender_continue_sends_spp_on_a_sixteenth():
    clock = FakeClock(bpm=120.0)
    clock.start(beat=4.1)
    state = SenderState()
    msgs = clock_messages(clock, state, clock.now_sec() + 0.5)
    assert msgs[0][1] == song_position(4.25)
    assert msgs[1][1] == [CONTINUE]
    assert msgs[2][0] == pytest.approx(clock.time_at_beat(4.25))


def test_sender_output_drives_follower_exactly():
    clock = FakeClock(bpm=133.0)
    state = SenderState()
    now = Now(clock.now_sec())
    f = MidiClockFollower(now=now)
    clock.start(at_sec=clock.now_sec() + 0.01)
    msgs = clock_messages(clock, state, clock.now_sec())  # Start, no tick due yet
    assert [m for _, m in msgs] == [[START]]
    for t, m in msgs + clock_messages(clock, state, clock.now_sec() + 2.0):
        now.t = t
        f.feed(t, m)
    assert f.locked and f.is_playing
    assert f.bpm == pytest.approx(133.0, abs=1e-6)
    assert f.beat_at(now.t) == pytest.approx(clock.beat_at(now.t), abs=1e-6)


def test_sender_thread_sends_real_time_ticks():
    clock = InternalClock(bpm=240.0)
    got: list[tuple[float, list[int]]] = []
    sender = MidiClockSender(clock, lambda m: got.append((time.monotonic(), m)))
    clock.start()
    sender.start()
    time.sleep(0.3)
    sender.close()
    kinds = [m[0] for _, m in got]
    assert kinds[0] == START
    assert kinds[-1] == STOP  # closing a playing sender sends Stop
    assert 15 <= kinds.count(CLOCK) <= 35  # 240 BPM = 96 ticks/s, 0.3 s


# ---- real JACK ---------------------------------------------------------------------------------
@pytest.mark.jack
@pytest.mark.parametrize("period_frames", [32, 256])
def test_follower_locks_to_clock_sent_over_jack(period_frames):
    """A test client sends 125 BPM clock through JACK; the follower's virtual input locks.

    On a private server with a 32-frame period (0.67 ms), as the other timing tests use, and
    with 256-frame periods (5.3 ms: each tick is delivered on a period boundary, so tick
    intervals read 16 or 21.3 ms for 20 ms), a common user setting."""
    rtmidi = pytest.importorskip("rtmidi")
    from jack_helpers import private_jack_server

    with private_jack_server(period_frames):
        _lock_to_clock_over_jack(rtmidi)


def _lock_to_clock_over_jack(rtmidi) -> None:

    tag = f"{os.getpid()}x{time.monotonic_ns() % 100000}"  # unique: the server is shared
    follower = MidiClockFollower()
    open_clock_input(follower, api="jack", virtual_name="in", client_name=f"gbclock{tag}")
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=f"gbsend{tag}")
    try:
        out.open_virtual_port("out")
        # connect by exact names: port indices shift while other clients come and go
        subprocess.run(["jack_connect", f"gbsend{tag}:out", f"gbclock{tag}:in"], check=True,
                       capture_output=True, timeout=10)
        clock = InternalClock(bpm=125.0)
        sender = MidiClockSender(clock, out.send_message)
        clock.start()
        sender.start()
        deadline = time.monotonic() + 10.0  # ~1 s normally; a loaded machine delays ticks
        while time.monotonic() < deadline and not (follower.locked and follower.ticks_received > 60):
            time.sleep(0.05)
        time.sleep(1.0)  # a second more: the estimate must stay put, not wander off
        locked, playing, bpm = follower.locked, follower.is_playing, follower.bpm
        sender.close()
        assert locked and playing, (
            f"ticks {follower.ticks_received}, jitter {follower.jitter_ms:.2f} ms, "
            f"tempo changes {follower.tempo_changes}, bpm {bpm:.2f}")
        assert bpm == pytest.approx(125.0, abs=0.5), f"band {follower.band_ms:.2f} ms"
        assert follower.tempo_changes <= 1, follower.tempo_changes  # period jitter is not a tempo change
        deadline = time.monotonic() + 2.0
        while follower.is_playing and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not follower.is_playing  # the sender's Stop on close arrived
    finally:
        out.close_port()
        out.delete()
        follower.close()


def test_tempo_ramp_is_tracked_without_losing_lock():
    f, now = make()
    f.feed(T0 - 0.01, [START])
    t = T0
    bpm = 120.0
    for k in range(24 * 12):  # 4 beats at 120, a ramp to 140 over 8 beats, then 140
        bpm = 120.0 + 20.0 * min(1.0, max(0.0, (k - 96) / 192))
        now.t = t
        f.feed(t, [CLOCK])
        if 96 < k < 24 * 12:
            assert f.locked
        t += 60.0 / (bpm * 24)
    last = feed_ticks(f, now, t, 140.0, 48)
    assert f.bpm == pytest.approx(140.0, abs=0.1)
    assert f.beat_at(last[-1]) == pytest.approx((24 * 12 + 47) / 24, abs=1e-3)


def test_lost_ticks_keep_the_beat_count():
    f, now = make()
    f.feed(T0 - 0.01, [START])
    period = 60.0 / (120.0 * 24)
    ideal = [T0 + k * period for k in range(24 * 8)]
    dropped = set(range(100, 105)) | {150}  # a driver lost five ticks, then one more
    for k, t in enumerate(ideal):
        if k not in dropped:
            now.t = t
            f.feed(t, [CLOCK])
    assert f.lost_ticks == 6 and f.tempo_changes == 0
    assert f.locked
    assert f.bpm == pytest.approx(120.0, abs=1e-6)
    assert f.beat_at(ideal[-1]) == pytest.approx((len(ideal) - 1) / 24, abs=1e-6)


def test_dropout_while_playing_keeps_position_and_relocks():
    f, now = make()
    f.feed(T0 - 0.01, [START])
    period = 60.0 / (120.0 * 24)
    feed_ticks(f, now, T0, 120.0, 96)
    t_back = T0 + (96 + 24) * period  # half a second (24 ticks) of silence
    now.t = t_back - 0.01
    assert not f.locked  # silent for longer than the timeout
    back = feed_ticks(f, now, t_back, 120.0, 48)
    assert f.lost_ticks == 24
    assert f.locked
    assert f.beat_at(back[0]) == pytest.approx(5.0, abs=1e-6)


@pytest.mark.parametrize("held", [10, 30])  # 30 ticks = 0.6 s: longer than the lock timeout
def test_stall_then_burst_is_not_lost_ticks_nor_a_tempo_change(held):
    f, now = make()
    f.feed(T0 - 0.01, [START])
    period = 60.0 / (120.0 * 24)
    ideal = [T0 + k * period for k in range(24 * 8)]
    for k, t in enumerate(ideal):
        stalled = 100 <= k <= 100 + held
        arrival = ideal[100 + held] + 0.0001 * (k - 100) if stalled else t  # held up, then a burst
        now.t = arrival
        f.feed(arrival, [CLOCK])
    assert f.lost_ticks == 0 and f.tempo_changes == 0 and f.resyncs == 0
    # the burst's last tick (1 ms late) may count as noise: 0.01 BPM, 0.1 ms at most
    assert f.bpm == pytest.approx(120.0, abs=0.01)
    assert f.beat_at(ideal[-1]) == pytest.approx((len(ideal) - 1) / 24, abs=1e-4)


# ---- ticks delivered on JACK period boundaries -----------------------------------------------
def quantised_run(period_frames: int, bpm: float, bpm2: float, seconds: float = 16.0, seed: int = 0,
                  hint: bool = False, cycle_lead_sec: float | None = None) -> dict[str, object]:
    """Ticks at ``bpm``, then ``bpm2`` from half-way (phase-continuous), delivered at the end of
    the period they were sent in (48 kHz) plus a random 0-0.3 ms wake-up. Returns the
    follower and its errors in predicting the next beat, and its tempo, at each tick."""
    rng = np.random.default_rng(seed)
    spt1, spt2 = 60.0 / (bpm * 24), 60.0 / (bpm2 * 24)
    k_change = int(seconds / 2 / spt1)
    k = np.arange(k_change + int(seconds / 2 / spt2))
    sent = np.where(k < k_change, T0 + k * spt1, T0 + k_change * spt1 + (k - k_change) * spt2)
    q = period_frames / 48000.0
    lead = rng.uniform(0, q) if cycle_lead_sec is None else cycle_lead_sec  # first cycle starts this early
    arrivals = quantised_arrivals(sent, q, T0 - lead, rng.uniform(0, 0.0003, k.size))
    now = Now(T0)
    f = MidiClockFollower(now=now, delivery_period_ms=q * 1000 if hint else 0.0)
    f.feed(T0 - 0.01, [START])
    rows = []  # (tick index, next-beat error sec, bpm error)
    for i, t in enumerate(arrivals):
        if f.locked and i % 24 and i + 24 < k.size:
            beat = i // 24 + 1  # the next beat: tick 24 * beat
            rows.append((i, f.time_at_beat(beat) - sent[24 * beat], f.bpm - (bpm if i < k_change else bpm2)))
        now.t = float(t)
        f.feed(now.t, [CLOCK])
    return {"f": f, "rows": np.array(rows), "k_change": k_change, "q": q, "first_locked": rows[0][0]}


@pytest.mark.parametrize("period_frames", [128, 256, 512, 1024])
@pytest.mark.parametrize(("bpm", "bpm2"), [(125.0, 137.0), (128.0, 121.0)])
def test_quantised_delivery_locks_keeps_tempo_and_follows_a_change(period_frames, bpm, bpm2):
    run = quantised_run(period_frames, bpm, bpm2, seed=period_frames)
    f, rows, k_change, q = run["f"], run["rows"], run["k_change"], run["q"]
    assert run["first_locked"] < 24 * 4  # locked within 4 beats even at 1024 frames (21 ms)
    before = rows[(rows[:, 0] > 24 * 4) & (rows[:, 0] < k_change - 24)]
    after = rows[rows[:, 0] > k_change + 24 * 3]  # from 3 beats after the change
    # constant latency (half a period on average) is the latency setting's job; jitter is ours
    latency = np.median(before[:, 1])
    assert 0.25 * q < latency < 0.75 * q + 0.0005
    jitter_ms = np.abs(before[:, 1] - latency) * 1000
    assert np.percentile(jitter_ms, 99) < max(1.0, 0.15 * q * 1000), np.percentile(jitter_ms, 99)
    assert np.max(np.abs(before[:, 2])) < 0.3, np.max(np.abs(before[:, 2]))  # BPM: the old follower read 117 for 125 at 256
    assert (f.tempo_changes, f.resyncs, f.lost_ticks) == (1, 0, 0)
    # the change is followed within three beats: phase and tempo back in their steady bounds
    after_ms = np.percentile(np.abs(after[:, 1] - latency) * 1000, 99)
    assert after_ms < max(1.5, 0.25 * q * 1000), after_ms
    assert np.max(np.abs(after[:, 2])) < 0.5, np.max(np.abs(after[:, 2]))
    assert f.bpm == pytest.approx(bpm2, abs=0.2)


def test_delivery_period_hint_sets_the_noise_band():
    run = quantised_run(256, 120.0, 120.0, seconds=6.0, hint=True)
    f = run["f"]
    assert f.band_ms >= 256 / 48 / 2  # at least half the period, from the first tick
    assert f.tempo_changes == 0 and f.bpm == pytest.approx(120.0, abs=0.05)


def test_aliasing_of_tick_rate_and_period_is_not_a_tempo():
    """120 BPM ticks (20.8 ms) through 1024-frame periods (21.3 ms): ticks arrive one period
    apart, like a steady 117.2 BPM clock, for 40 ticks, then two in one period (measured on a
    real JACK server). The grid of arrivals gives the period away; the follower reads 120."""
    run = quantised_run(1024, 120.0, 120.0, seconds=12.0, cycle_lead_sec=0.020)
    f, rows = run["f"], run["rows"]
    assert f._line.detected_period_sec == pytest.approx(1024 / 48000)
    assert (f.tempo_changes, f.resyncs) == (0, 0)
    assert run["first_locked"] > 40  # not on the first 40 ticks alone: they give 117.2
    assert np.max(np.abs(rows[:, 2])) < 1.0  # BPM, from the first locked tick on
    assert np.max(np.abs(rows[rows[:, 0] > 24 * 8, 2])) < 0.3  # and from beat 8 on
    assert f.bpm == pytest.approx(120.0, abs=0.1)


# ---- one clock-out: the Player and the sender agree --------------------------------------------
@pytest.mark.parametrize("start_beat", [0.0, 4.1])
def test_player_clock_out_equals_the_sender(start_beat):
    """Both go through bridge.clock.midi_out.ClockOut: same bytes, same times. Started inside
    the song, the first tick is the 16th the Song Position Pointer names (4.25 for 4.1)."""
    from bridge.play.player import Player
    from tests.rigs.midi_fakes import RecordingOutput

    clock = FakeClock(bpm=120.0, t0_sec=T0)
    out = RecordingOutput(clock.now_sec)
    player = Player(clock, out, clock_out=True)
    clock.start(at_sec=T0 + (0.01 if start_beat == 0 else 0.0), beat=start_beat)
    player.run_until(T0 + 1.0, clock.sleep_until)
    played = [(t, list(m)) for t, m in out.events]
    state = SenderState()
    sent = clock_messages(FakeClockAt(clock), state, T0 + 1.0)
    assert [m for _, m in played] == [m for _, m in sent]
    ticks_p = [t for t, m in played if m == [CLOCK]]
    ticks_s = [t for t, m in sent if m == [CLOCK]]
    assert ticks_p == pytest.approx(ticks_s, abs=1e-9)
    if start_beat:
        assert played[0][1] == song_position(4.25) and played[1][1] == [CONTINUE]
        assert ticks_p[0] == pytest.approx(clock.time_at_beat(4.25))
    else:
        assert played[0][1] == [START] and ticks_p[0] == pytest.approx(T0 + 0.01)
    clock.stop()
    player.fire(clock.now_sec())
    assert out.events[-1][1] == (STOP,)


class FakeClockAt:
    """``clock`` seen from the time the Player started (the sender decides on ``now_sec``)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.bpm, self.is_playing = clock, clock.bpm, True

    def now_sec(self) -> float:
        return T0

    def beat_at(self, t: float) -> float:
        return self.clock.beat_at(t)

    def time_at_beat(self, beat: float) -> float:
        return self.clock.time_at_beat(beat)


def test_player_clock_out_switched_on_mid_song_sends_spp_and_continue():
    from bridge.play.player import Player
    from tests.rigs.midi_fakes import RecordingOutput

    clock = FakeClock(bpm=120.0, t0_sec=T0)
    out = RecordingOutput(clock.now_sec)
    player = Player(clock, out)
    clock.start(at_sec=T0)
    player.run_until(T0 + 2.05, clock.sleep_until)  # beat 4.1
    player.set_clock_out(True)
    player.run_until(T0 + 2.5, clock.sleep_until)
    msgs = [list(m) for _, m in out.events if m[0] >= 0xF0]
    assert msgs[:2] == [song_position(4.25), [CONTINUE]]  # not Start: that would mean beat 0
    first_tick = next(t for t, m in out.events if m == (CLOCK,))
    assert first_tick == pytest.approx(clock.time_at_beat(4.25))
    player.set_clock_out(False)
    assert out.events[-1][1] == (STOP,)
