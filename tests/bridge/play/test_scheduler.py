"""Exact playback event lists: Player + FakeClock + RecordingOutput (no threads, no sleeping)."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.clock.base import FakeClock
from bridge.play.player import Player, compile_pattern
from models.drum_maps import REDUCED
from models.groove import Groove
from tests.rigs.midi_fakes import RecordingOutput

T0 = 1000.0
ORIGIN = T0 + 0.5  # beat 0 of the transport
SPB = 0.5  # seconds per beat at 120 BPM
KICK, SNARE, HAT = 0, 1, 2
PITCH = {KICK: 36, SNARE: 38, HAT: 42}  # GM output map


def make_groove(cells: list[tuple[int, int, int, float]], num_steps: int = 64) -> Groove:
    """cells: (step, class, velocity 1-127, offset in GrooVAE units, positive = early)."""
    g = Groove.empty(num_steps)
    h, v, o = g.hits.copy(), g.velocities.copy(), g.offsets.copy()
    for step, k, vel, off in cells:
        h[step, k], v[step, k], o[step, k] = 1.0, vel / 127.0, off
    return Groove(h, v, o)


# kick on every downbeat of the 4 bars; snare on beat 2 of bar 1 played 1/4 of a 16th early;
# closed hat on step 2 played 1/5 of a 16th late; bar 2's kick half a 16th early (the limit);
# a hat on step 0 played 0.4 of a 16th early: it sounds before the loop's downbeat.
PATTERN = make_groove(
    [
        (0, KICK, 100, 0.0),
        (4, SNARE, 90, 0.5),
        (2, HAT, 60, -0.4),
        (16, KICK, 110, 1.0),
        (32, KICK, 101, 0.0),
        (48, KICK, 102, 0.0),
        (0, HAT, 70, 0.8),
    ]
)


def loop_notes(pattern_pass: int) -> list[tuple[float, int, int]]:
    """Expected (time, pitch, velocity) of PATTERN's note-ons in loop pass ``pattern_pass``."""
    base = 16 * pattern_pass
    notes = [
        (base - 0.1, HAT, 70),  # step 0 hat, 0.4 of a 16th = 0.1 beat early
        (base + 0.0, KICK, 100),
        (base + 0.5 + 0.05, HAT, 60),  # step 2, 0.2 of a 16th late
        (base + 1.0 - 0.0625, SNARE, 90),
        (base + 4.0 - 0.125, KICK, 110),
        (base + 8.0, KICK, 101),
        (base + 12.0, KICK, 102),
    ]
    return [(ORIGIN + b * SPB, PITCH[k], v) for b, k, v in notes]


def new_player(**kw: object) -> tuple[FakeClock, RecordingOutput, Player]:
    clock = FakeClock(120.0, t0_sec=T0)
    out = RecordingOutput(clock.now_sec)
    player = Player(clock, out, **kw)  # type: ignore[arg-type]
    return clock, out, player


def start(clock: FakeClock, player: Player, pattern: Groove = PATTERN) -> None:
    player.set_pattern(pattern, "test")
    clock.start(at_sec=ORIGIN)


def assert_notes(actual: list[tuple[float, int, int]], expected: list[tuple[float, int, int]]) -> None:
    assert [(p, v) for _, p, v in actual] == [(p, v) for _, p, v in expected]
    np.testing.assert_allclose([t for t, _, _ in actual], [t for t, _, _ in expected], rtol=0, atol=1e-9)


def test_exact_event_list_of_one_loop_with_note_offs() -> None:
    clock, out, player = new_player()
    start(clock, player)
    player.run_until(ORIGIN + 15.5 * SPB, clock.sleep_until)
    expected_ons = loop_notes(0)
    expected: list[tuple[float, tuple[int, ...]]] = []
    for t, p, v in expected_ons:
        expected.append((t, (0x99, p, v)))
        expected.append((t + 0.25 * SPB, (0x89, p, 0)))  # a 16th later
    expected.sort(key=lambda e: (round(e[0], 9), e[1][0] & 0xF0 == 0x90))
    assert [m for _, m in out.events] == [m for _, m in expected]
    np.testing.assert_allclose([t for t, _ in out.events], [t for t, _ in expected], rtol=0, atol=1e-9)


def test_early_hits_play_before_the_downbeat_of_every_loop_pass() -> None:
    clock, out, player = new_player()
    start(clock, player)
    player.run_until(ORIGIN + 32.5 * SPB, clock.sleep_until)
    notes = out.notes()
    assert_notes(notes[:7], loop_notes(0))
    assert_notes(notes[7:14], loop_notes(1))  # step 0's early hat closes loop pass 0
    assert notes[7][0] == pytest.approx(ORIGIN + 15.9 * SPB)
    assert notes[7][0] < ORIGIN + 16 * SPB


def test_new_pattern_swaps_in_at_the_next_bar_line_with_its_early_downbeat() -> None:
    clock, out, player = new_player()
    start(clock, player)
    other = make_groove([(s, SNARE, 50, 0.0) for s in range(0, 64, 4)] + [(32, HAT, 40, 1.0)])
    player.run_until(ORIGIN + 5.0 * SPB, clock.sleep_until)  # inside bar 2
    player.set_pattern(other, "other")
    player.run_until(ORIGIN + 12.5 * SPB, clock.sleep_until)
    notes = out.notes()
    before = [n for n in notes if n[0] < ORIGIN + 7.875 * SPB - 1e-9]
    # bar 2 (beats 4-8) is still the old pattern: one kick at beat 4 - early, nothing else
    assert [(p, v) for _, p, v in before] == [(p, v) for _, p, v in loop_notes(0)[:5]]
    after = [n for n in notes if n[0] >= ORIGIN + 7.875 * SPB - 1e-9]
    expected = [(ORIGIN + 7.875 * SPB, 42, 40)] + [(ORIGIN + b * SPB, 38, 50) for b in (8, 9, 10, 11, 12)]
    assert_notes(after, expected)


def test_a_pattern_handed_over_too_late_for_the_next_bar_waits_one_more_bar() -> None:
    clock, out, player = new_player()
    start(clock, player)
    other = make_groove([(s, SNARE, 50, 0.0) for s in range(0, 64, 4)])
    player.run_until(ORIGIN + 7.95 * SPB, clock.sleep_until)  # bar 3 already queued
    player.set_pattern(other, "other")
    player.run_until(ORIGIN + 12.5 * SPB, clock.sleep_until)
    late = [n for n in out.notes() if n[0] > ORIGIN + 7.95 * SPB]
    assert_notes(late, [(ORIGIN + 8 * SPB, 36, 101), (ORIGIN + 12 * SPB, 38, 50)])


def test_mute_silences_a_class_and_unmute_brings_it_back() -> None:
    clock, out, player = new_player()
    start(clock, player)
    player.set_mutes((True,) + (False,) * 8)  # kick
    player.run_until(ORIGIN + 15.5 * SPB, clock.sleep_until)
    assert 36 not in {p for _, p, _ in out.notes()}
    assert not any(m[0] == 0x89 and m[1] == 36 for _, m in out.events)  # no orphan note-off
    player.set_mutes((False,) * 9)
    player.run_until(ORIGIN + 31.5 * SPB, clock.sleep_until)
    assert_notes(out.notes()[3:], loop_notes(1))


def test_every_note_on_gets_its_note_off_and_stop_sends_all_notes_off() -> None:
    clock, out, player = new_player()
    start(clock, player)
    player.run_until(ORIGIN + 0.05 * SPB, clock.sleep_until)  # kick and early hat sounding
    assert player.sounding == 2
    clock.stop()
    player.run_until(clock.now_sec() + 0.01, clock.sleep_until)
    msgs = [m for _, m in out.events]
    assert msgs[-3:-1] == [(0x89, 42, 0), (0x89, 36, 0)] or msgs[-3:-1] == [(0x89, 36, 0), (0x89, 42, 0)]
    assert msgs[-1] == (0xB9, 123, 0)
    ons = sum(1 for m in msgs if m[0] == 0x99)
    offs = sum(1 for m in msgs if m[0] == 0x89)
    assert ons == offs == 2
    assert player.next_due_sec() is None


def test_restruck_pitch_is_released_before_the_new_note() -> None:
    clock, out, player = new_player()
    # step 3 late by half a 16th, step 4 early by half: the second hat starts while the first sounds
    start(clock, player, make_groove([(3, HAT, 80, -1.0), (4, HAT, 81, 1.0)]))
    player.run_until(ORIGIN + 2.0 * SPB, clock.sleep_until)
    msgs = [m for _, m in out.events]
    assert msgs == [(0x99, 42, 80), (0x89, 42, 0), (0x99, 42, 81), (0x89, 42, 0)]
    times = [t for t, _ in out.events]
    assert times[1] == times[2] == pytest.approx(ORIGIN + 0.875 * SPB)


def test_latency_offset_sends_every_event_earlier() -> None:
    clock, out, player = new_player(latency_ms=20.0)
    start(clock, player)
    player.run_until(ORIGIN + 15.5 * SPB, clock.sleep_until)
    assert_notes(out.notes(), [(t - 0.020, p, v) for t, p, v in loop_notes(0)])
    player.set_latency_ms(-10.0)
    player.run_until(ORIGIN + 31.5 * SPB, clock.sleep_until)
    assert_notes(out.notes()[7:], [(t + 0.010, p, v) for t, p, v in loop_notes(1)])


def test_tempo_change_keeps_phase_and_moves_queued_notes() -> None:
    clock, out, player = new_player()
    start(clock, player)
    player.run_until(ORIGIN + 6.0 * SPB, clock.sleep_until)  # beat 6
    clock.set_tempo(60.0)  # one beat per second from here
    assert clock.beat_at(clock.now_sec()) == pytest.approx(6.0)
    player.run_until(ORIGIN + 3.0 + 9.5, clock.sleep_until)  # up to beat 15.5
    t6 = ORIGIN + 3.0
    later = [n for n in out.notes() if n[0] > t6]
    assert_notes(later, [(t6 + 2.0, 36, 101), (t6 + 6.0, 36, 102)])


def test_output_map_and_channel() -> None:
    clock, out, player = new_player(channel=0)
    start(clock, player, make_groove([(0, 4, 99, 0.0), (4, 4, 98, 0.0)]))  # low tom
    player.run_until(ORIGIN + 0.5 * SPB, clock.sleep_until)
    player.set_output(out_pitches=REDUCED.output_pitches)
    player.run_until(ORIGIN + 1.5 * SPB, clock.sleep_until)
    assert out.notes() == [(ORIGIN, 43, 99), (ORIGIN + SPB, 45, 98)]  # GM low tom, then reduced
    assert out.events[0][1][0] == 0x90  # channel 1


def test_midi_clock_out_sends_start_and_24_ticks_per_beat() -> None:
    clock, out, player = new_player(clock_out=True)
    start(clock, player, Groove.empty())
    player.run_until(ORIGIN + 2 * SPB - 1e-6, clock.sleep_until)
    msgs = [m for _, m in out.events]
    assert msgs[0] == (0xFA,)
    ticks = [t for t, m in out.events if m == (0xF8,)]
    assert len(ticks) == 48
    np.testing.assert_allclose(np.diff(ticks), SPB / 24, atol=1e-9)
    assert ticks[0] == pytest.approx(ORIGIN)
    clock.stop()
    player.fire(clock.now_sec())
    assert out.events[-1][1] == (0xFC,)


def test_compile_pattern_puts_early_downbeats_in_their_own_bar() -> None:
    compiled = compile_pattern(PATTERN)
    assert compiled.num_bars == 4
    assert compiled.bars[1] == ((-0.125, KICK, 110),)
    beat, k, vel = compiled.bars[0][0]
    assert (k, vel) == (HAT, 70) and beat == pytest.approx(-0.1, abs=1e-6)


def test_velocity_zero_hit_still_sounds() -> None:
    compiled = compile_pattern(make_groove([(0, KICK, 0, 0.0)]))
    assert compiled.bars[0][0][2] == 1


# ---- the note-on/note-off invariant under everything a live set does (hypothesis) ---------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

CELL = st.tuples(st.integers(0, 31), st.integers(0, 8), st.integers(1, 127), st.floats(-1.0, 1.0))
PATTERNS = st.lists(CELL, min_size=1, max_size=40).map(lambda cells: make_groove(cells, num_steps=32))
OPS = st.one_of(
    st.tuples(st.just("swap"), PATTERNS),
    st.tuples(st.just("mute"), st.tuples(st.integers(0, 8), st.booleans())),
    st.tuples(st.just("tempo"), st.floats(40.0, 300.0)),
    st.tuples(st.just("latency"), st.floats(-50.0, 50.0)),
    # output maps where several classes share a pitch: a re-strike of a sounding pitch by another class
    st.tuples(st.just("map"), st.lists(st.sampled_from((36, 38, 42, 46)), min_size=9, max_size=9)),
    st.tuples(st.just("channel"), st.integers(0, 15)),
    st.tuples(st.just("stop"), st.none()),
    st.tuples(st.just("start"), st.none()),
    st.tuples(st.just("jump"), st.floats(0.0, 40.0)),  # the clock relocates while playing
)


def assert_notes_paired(events: list[tuple[float, tuple[int, ...]]]) -> None:
    """What a receiver needs: per (channel, pitch) note-ons and note-offs strictly alternate,
    starting with a note-on, and nothing sounds at the end; no note-on has velocity 0."""
    sounding: set[tuple[int, int]] = set()
    for t, m in events:
        if len(m) != 3 or m[0] & 0xE0 != 0x80:
            continue
        key = (m[0] & 0x0F, m[1])
        if m[0] & 0xF0 == 0x90:
            assert m[2] > 0, f"note-on with velocity 0 at {t}"
            assert key not in sounding, f"note-on of a sounding note {key} at {t}"
            sounding.add(key)
        else:
            assert key in sounding, f"note-off of a silent note {key} at {t}"
            sounding.discard(key)
    assert not sounding, f"left sounding: {sorted(sounding)}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=PATTERNS, steps=st.lists(st.tuples(st.floats(0.01, 6.0), OPS), max_size=12))
def test_every_note_on_is_paired_through_swaps_mutes_tempo_maps_jumps_and_stops(first: Groove, steps: list) -> None:
    clock, out, player = new_player()
    start(clock, player, first)
    for dt_beats, (kind, arg) in steps:
        player.run_until(clock.now_sec() + dt_beats * 60.0 / clock.bpm, clock.sleep_until)
        if kind == "swap":
            player.set_pattern(arg, "swap")
        elif kind == "mute":
            mutes = list(player.mutes)
            mutes[arg[0]] = arg[1]
            player.set_mutes(tuple(mutes))
        elif kind == "tempo":
            clock.set_tempo(arg)
        elif kind == "latency":
            player.set_latency_ms(arg)
        elif kind == "map":
            player.set_output(out_pitches=tuple(arg))
        elif kind == "channel":
            player.set_output(channel=arg)
        elif kind == "stop":
            clock.stop()
        elif kind == "start" and not clock.is_playing:
            clock.start(at_sec=clock.now_sec() + 0.01)
        elif kind == "jump" and clock.is_playing:
            clock.start(at_sec=clock.now_sec(), beat=arg)
    player.run_until(clock.now_sec() + 2.0, clock.sleep_until)
    clock.stop()
    player.run_until(clock.now_sec() + 0.01, clock.sleep_until)
    assert_notes_paired(out.events)
    assert player.sounding == 0
