"""CaptureBuffer: channel filter, input drum map, windows, early/late hits, record-next timing;
the count-in click (exact cues and send times with a fake clock, and through the engine)."""

from __future__ import annotations

import numpy as np
import pytest
from engine_fakes import FakeModel, wait_for

from bridge.clock.base import FakeClock, InternalClock
from bridge.engine import Engine
from bridge.engine.capture import CaptureBuffer, Click, count_in_clicks, next_recording
from bridge.play.player import Player
from bridge.settings import Settings, SettingsError, load_settings
from models.drum_maps import GM, ROLAND
from models.groove import Groove
from tests.rigs.midi_fakes import FakeMidiIO, RecordingOutput


def cells(g) -> set[tuple[int, int]]:
    return {(int(s), int(k)) for s, k in zip(*np.nonzero(g.hits), strict=True)}


def test_window_quantises_with_offsets_and_velocities() -> None:
    buf = CaptureBuffer(GM)
    buf.add([0x99, 36, 100], 1.0, 16.0)
    buf.add([0x99, 38, 80], 1.1, 17.0 - 0.03)  # early by 0.12 of a 16th
    buf.add([0x99, 42, 50], 1.2, 18.0 + 0.05)  # late by 0.2 of a 16th
    buf.add([0x99, 36, 90], 1.3, 16.0 - 0.1)  # early hit of the window's first downbeat
    g = buf.window(16.0, bpm=97.0)
    assert g.num_steps == 64 and g.bpm == 97.0
    assert cells(g) == {(0, 0), (4, 1), (8, 2)}
    assert g.velocities[0, 0] == pytest.approx(100 / 127)  # the louder of the two step-0 kicks
    assert g.offsets[4, 1] == pytest.approx(0.24, abs=1e-6)
    assert g.offsets[8, 2] == pytest.approx(-0.4, abs=1e-6)


def test_window_uses_refined_arrival_times() -> None:
    """A first hit after a silence was stamped 4 ms late (idle polling); the input's refined
    time moves it back onto the beat before the groove is built, and into the window."""
    buf = CaptureBuffer(GM)
    buf.add([0x99, 36, 100], 10.004, 16.008)  # 120 BPM: 4 ms = 0.008 beats
    buf.add([0x99, 38, 90], 10.5, 17.0)
    buf.refine = lambda t: t - 0.004 if t > 10.0 and t < 10.1 else t
    g = buf.window(16.0, bpm=120.0)
    assert cells(g) == {(0, 0), (4, 1)}
    assert g.offsets[0, 0] == pytest.approx(0.0, abs=1e-6) and g.offsets[4, 1] == pytest.approx(0.0, abs=1e-6)
    buf.refine = None  # as stamped: the kick is late by 0.032 of a 16th
    assert buf.window(16.0, bpm=120.0).offsets[0, 0] == pytest.approx(-0.064, abs=1e-4)


def test_last_bars_takes_the_four_complete_bars_before_now() -> None:
    buf = CaptureBuffer(GM)
    for beat in (3.0, 4.0, 19.0, 19.9):  # bar 1 (outside), bars 2-5, then bar 6's early downbeat
        buf.add([0x90, 36, 100], beat, beat)
    g = buf.last_bars(now_beat=21.5)  # bars 2..5 = beats 4..20
    assert cells(g) == {(0, 0), (60, 0)}


def test_channel_filter_map_and_note_off() -> None:
    buf = CaptureBuffer(ROLAND, channels=(10,))
    assert buf.add([0x99, 36, 100], 0.0, 0.0) is not None
    assert buf.add([0x90, 36, 100], 0.0, 0.25) is None  # channel 1 filtered
    assert buf.add([0x99, 36, 0], 0.0, 0.5) is None  # velocity 0 = note-off
    assert buf.add([0x89, 36, 64], 0.0, 0.5) is None
    assert buf.add([0x99, 99, 64], 0.0, 0.5) is None  # unknown pitch
    hit = buf.add([0x99, 22, 64], 0.0, 0.75)  # Roland hi-hat edge -> closed hi-hat
    assert hit is not None and hit.drum_class == 2
    assert len(buf.hits()) == 2


def test_old_hits_age_out() -> None:
    buf = CaptureBuffer(GM, max_age_sec=10.0)
    buf.add([0x99, 36, 100], 0.0, 0.0)
    buf.add([0x99, 36, 100], 11.0, 22.0)
    assert [h.t_sec for h in buf.hits()] == [11.0]


def test_next_recording_starts_at_the_next_bar_after_the_count_in() -> None:
    rec = next_recording("B", now_beat=5.3, count_in_bars=1)
    assert (rec.slot, rec.start_beat, rec.end_beat) == ("B", 12.0, 28.0)
    assert rec.done_beat == pytest.approx(28.125)
    assert next_recording("A", now_beat=8.0).start_beat == 12.0


# ---- the count-in click ------------------------------------------------------------------------
T0 = 1000.0
ORIGIN = T0 + 0.5  # beat 0 of the transport
SPB = 0.5  # seconds per beat at 120 BPM


def test_count_in_clicks_are_one_bar_of_beats_with_the_accent_on_one() -> None:
    rec = next_recording("A", now_beat=5.3, count_in_bars=1)  # count-in = bar 3 (beats 8-11)
    cues = count_in_clicks(rec, 1, Click(note=75, channel=10, velocity=80, accent_velocity=120))
    assert cues == [
        (8.0, [0x99, 75, 120]), (8.125, [0x89, 75, 0]),
        (9.0, [0x99, 75, 80]), (9.125, [0x89, 75, 0]),
        (10.0, [0x99, 75, 80]), (10.125, [0x89, 75, 0]),
        (11.0, [0x99, 75, 80]), (11.125, [0x89, 75, 0]),
    ]
    two = count_in_clicks(next_recording("A", 5.3, count_in_bars=2), 2)
    assert [b for b, m in two if m[0] == 0x99] == [8.0 + i for i in range(8)]
    assert [m[2] for b, m in two if m[0] == 0x99] == [127, 90, 90, 90, 127, 90, 90, 90]  # GM 37, defaults
    assert count_in_clicks(next_recording("A", 5.3), 0) == []


def test_settings_choose_the_click() -> None:
    s = load_settings(env={"GROOVEBRIDGE_CLICK_NOTE": "75", "GROOVEBRIDGE_CLICK_CHANNEL": "16"})
    assert Click.from_settings(s) == Click(75, 16, 90, 127)
    assert Settings().click_enabled and Click.from_settings(Settings()) == Click()
    with pytest.raises(SettingsError, match="click_channel"):
        load_settings(env={"GROOVEBRIDGE_CLICK_CHANNEL": "17"})


def player_with_pattern(latency_ms: float = 0.0) -> tuple[FakeClock, RecordingOutput, Player]:
    clock = FakeClock(120.0, t0_sec=T0)
    out = RecordingOutput(clock.now_sec)
    player = Player(clock, out, latency_ms=latency_ms)
    kick_on_ones = Groove.empty(64)
    hits = kick_on_ones.hits.copy()
    hits[::16, 0] = 1.0
    player.set_pattern(Groove(hits, hits * 0.8, kick_on_ones.offsets), "test")
    clock.start(at_sec=ORIGIN)
    return clock, out, player


@pytest.mark.parametrize("latency_ms", [0.0, 20.0])
def test_player_sends_the_click_on_the_beats_of_the_count_in_bar(latency_ms: float) -> None:
    clock, out, player = player_with_pattern(latency_ms)
    player.run_until(ORIGIN + 5.3 * SPB, clock.sleep_until)  # playing, inside bar 2
    rec = next_recording("A", clock.beat_at(clock.now_sec()), count_in_bars=1)  # records bars 4-7
    player.set_cues(count_in_clicks(rec, 1))
    player.run_until(ORIGIN + 13.0 * SPB, clock.sleep_until)
    early = latency_ms / 1000.0  # the click is sent early by the latency offset, like the notes
    clicks = [(t, m) for t, m in out.events if m[1] == 37]
    expected = []
    for i, vel in enumerate((127, 90, 90, 90)):
        beat = 8.0 + i
        expected += [(ORIGIN + beat * SPB - early, (0x99, 37, vel)), (ORIGIN + (beat + 0.125) * SPB - early, (0x89, 37, 0))]
    assert [m for _, m in clicks] == [m for _, m in expected]
    np.testing.assert_allclose([t for t, _ in clicks], [t for t, _ in expected], rtol=0, atol=1e-9)
    # the groove played on: its kick on bar 3's downbeat sounds with the accented click
    assert (ORIGIN + 8.0 * SPB - early, 36, 102) in out.notes()


def test_stop_during_the_count_in_releases_the_click_and_drops_the_rest() -> None:
    clock, out, player = player_with_pattern()
    player.run_until(ORIGIN + 1.0 * SPB, clock.sleep_until)
    player.set_cues(count_in_clicks(next_recording("A", 1.0, count_in_bars=1), 1))  # beats 4-7
    player.run_until(ORIGIN + 4.05 * SPB, clock.sleep_until)  # first click sounding
    clock.stop()
    player.fire(clock.now_sec())
    clicks = [m for _, m in out.events if m[1] == 37]
    assert clicks == [(0x99, 37, 127), (0x89, 37, 0)]  # its note-off at the stop, no more clicks
    clock.start(at_sec=clock.now_sec())
    player.run_until(clock.now_sec() + 4.0 * SPB, clock.sleep_until)
    assert [m for _, m in out.events if m[1] == 37] == clicks


def _count_in_events(settings: Settings, clock: InternalClock) -> list[tuple[float, tuple[int, ...]]]:
    """Play, arm a capture of slot B with one count-in bar, wait until it records; the output
    messages with their send times in beats (read while the clock still runs)."""
    midi = FakeMidiIO()
    engine = Engine(settings, model_loader=lambda name: FakeModel(), midi=midi, clock=clock, auto_sample=False)
    engine.start()
    try:
        engine.play()
        wait_for(lambda: engine.snapshot().playing)
        engine.capture("B", "next", count_in_bars=1)
        wait_for(lambda: engine.snapshot().capture == "recording", timeout_sec=5.0, what="recording")
        return [(clock.beat_at(t), m) for t, m in midi.events]
    finally:
        engine.close()


def test_engine_count_in_capture_clicks_on_the_output() -> None:
    bpm = 300.0  # a bar is 0.8 s
    clock = InternalClock(bpm)
    clicks = [(b, m) for b, m in _count_in_events(Settings(bpm=bpm), clock) if m[:2] == (0x99, 37)]
    assert [m[2] for _, m in clicks] == [127, 90, 90, 90]
    beats = [b for b, _ in clicks]
    assert all(b == pytest.approx(round(b), abs=0.05) for b in beats)  # on the beats
    assert np.diff(beats).tolist() == pytest.approx([1.0, 1.0, 1.0], abs=0.05)
    assert round(beats[0]) % 4 == 0  # the accent is a downbeat: the bar before the recording
    events = _count_in_events(Settings(bpm=bpm, click_enabled=False), InternalClock(bpm))
    assert not [m for _, m in events if m[:2] == (0x99, 37)]  # click disabled
