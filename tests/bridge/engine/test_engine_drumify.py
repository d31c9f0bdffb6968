"""Drumify in the live engine with the real shipped Drumify model: a kick-only rhythm in a slot
becomes a groove of several drums that keeps most taps and swaps in at a bar line; a capture in
"rhythm" input mode (any pitch is a tap, no JACK: FakeMidiIO) drumified gives drums; the
input-mode setting, snapshot and the one-line errors."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from engine_fakes import KICK, Events, FakeModel, groove_of, wait_for

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.engine.capture import RHYTHM_CLASS, CaptureBuffer
from bridge.play.player import PlayedNote
from bridge.settings import Settings, SettingsError, load_settings
from models.drum_maps import GM
from models.groove import Groove
from tests.rigs.midi_fakes import FakeMidiIO

BPM = 300.0  # a bar lasts 0.8 s
# a rhythm tapped on the kick only: 8th notes with two syncopated pushes a bar
TAPS = sorted(set(range(0, 64, 2)) | {s + o for s in range(0, 64, 16) for o in (3, 7)})


@pytest.fixture(scope="module")
def drumify_model():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from models.generate import load_model

    return load_model("drumify")  # shipped in the package: no network


def make_engine(drumify_model, settings: Settings | None = None) -> tuple[Engine, FakeMidiIO, Events, list[str]]:
    """The real Engine: a fake active model (fast), the real shipped Drumify model for drumify."""
    asked: list[str] = []
    fake = FakeModel()

    def loader(name: str):
        asked.append(name)
        return drumify_model if name == "drumify" else fake

    midi = FakeMidiIO()
    settings = settings or Settings(bpm=BPM)
    engine = Engine(settings, model_loader=loader, midi=midi, clock=InternalClock(settings.bpm), auto_sample=False)
    events = Events()
    engine.subscribe(events)
    engine.start()
    wait_for(lambda: engine.snapshot().model_state == "ready", what="model ready")
    return engine, midi, events, asked


def notes(events: Events) -> list[PlayedNote]:
    return [n for n in events.of("note") if isinstance(n, PlayedNote)]


def played_beats(groove: Groove) -> set[tuple[float, int]]:
    """(beat in the loop, class) of every hit, with its micro-timing (offset > 0 = early)."""
    steps, classes = np.nonzero(groove.hits > 0.5)
    return {(round((s - groove.offsets[s, k] / 2) / 4, 3), int(k)) for s, k in zip(steps, classes, strict=True)}


def matches(note: PlayedNote, cells: set[tuple[float, int]], loop_beats: float) -> bool:
    beat = note.beat % loop_beats
    return any(k == note.drum_class and min(abs(b - beat), loop_beats - abs(b - beat)) < 0.01 for b, k in cells)


def test_drumify_a_kick_rhythm_in_slot_a_plays_drums_from_a_bar_line(drumify_model) -> None:
    engine, midi, events, asked = make_engine(drumify_model)
    try:
        rhythm = groove_of([(s, KICK, 100, 0.0) for s in TAPS], bpm=BPM)
        engine.load_slot("A", rhythm)
        engine.play_slot("A")
        engine.play()
        wait_for(lambda: len(notes(events)) >= 8, what="the rhythm playing")
        engine.drumify("a")
        wait_for(lambda: engine.snapshot().pattern_source == "drumify slot A", timeout_sec=60, what="drumified")
        out = engine.snapshot().pattern
        classes = {int(k) for k in np.nonzero(out.hits.any(axis=0))[0]}
        assert len(classes) >= 3, classes  # drums, not one tapped voice
        taps = rhythm.hits.any(axis=1)
        kept = (taps & out.hits.any(axis=1)).sum() / taps.sum()
        assert kept >= 0.7, kept  # most taps carry a drum hit
        assert out.num_steps == 64 and out.bpm == BPM
        assert asked.count("drumify") == 1  # loaded once, lazily, by the worker
        assert engine.snapshot().slots["A"] is rhythm  # the slot keeps its rhythm

        # What was heard: the rhythm up to a bar line, the drumified groove from it on.
        new = played_beats(out)
        old = played_beats(rhythm)
        wait_for(lambda: any(n.drum_class != KICK for n in notes(events)), timeout_sec=10, what="drums heard")
        first_new = next(n for n in notes(events) if n.drum_class != KICK)
        swap = math.floor((first_new.beat + 0.25) / 4) * 4  # the bar line it played from
        wait_for(lambda: notes(events)[-1].beat > swap + 8, timeout_sec=10, what="two bars of drums")
        heard = notes(events)
        before = [n for n in heard if n.beat < swap - 0.25]
        after = [n for n in heard if n.beat >= swap - 0.25]
        assert before and after
        assert all(matches(n, old, 16.0) for n in before)
        assert all(matches(n, new, 16.0) for n in after), [n for n in after if not matches(n, new, 16.0)][:3]
        assert len({n.drum_class for n in after}) >= 3
        assert not events.of("error")

        engine.drumify("pattern")  # the playing pattern (a groove already) drumified again
        wait_for(lambda: engine.snapshot().pattern_source == "drumify pattern", timeout_sec=60, what="again")
        assert asked.count("drumify") == 1
    finally:
        engine.close()


def test_rhythm_mode_capture_then_drumify_gives_drums(drumify_model) -> None:
    settings = load_settings(None, env={}, bpm=120.0, input_mode="rhythm", midi_input_channels=(1, 2))
    engine, midi, events, _asked = make_engine(drumify_model, settings)
    clock = engine._clock
    try:
        assert engine.snapshot().input_mode == "rhythm"
        clock.start(at_sec=clock.now_sec() - 20.5)  # beat 41 now: bars 7-10 (beats 24-40) are the last 4
        wait_for(lambda: engine.snapshot().playing)
        time.sleep(0.05)  # the engine sees the start and clears its buffer first
        # a bass line on channel 1, claps on channel 2 at pitches no drum map knows
        played = [(24.0 + t / 4, 30 + (i * 7) % 50, 60 + i, 0x90 if i % 3 else 0x91) for i, t in enumerate(TAPS)]
        for beat, pitch, vel, status in played:
            midi.inject([status, pitch, vel], clock.time_at_beat(beat))
        midi.inject([0x92, 40, 100], clock.time_at_beat(26.25))  # channel 3: not an input channel
        midi.inject([0x90, 45, 100], clock.time_at_beat(27.27))  # step 13, late by 0.08 of a 16th
        engine.capture("A", "last")
        wait_for(lambda: engine.snapshot().slots["A"] is not None, what="slot A")
        g = engine.snapshot().slots["A"]
        assert set(np.nonzero(g.hits.any(axis=0))[0].tolist()) == {RHYTHM_CLASS}  # taps, one class
        assert sorted(np.nonzero(g.hits[:, RHYTHM_CLASS])[0].tolist()) == sorted(TAPS + [13])
        assert g.velocities[TAPS[5], RHYTHM_CLASS] == pytest.approx(65 / 127)  # velocity kept
        assert g.offsets[13, RHYTHM_CLASS] == pytest.approx(-0.16, abs=1e-3)  # timing kept (late)

        engine.drumify("A")
        wait_for(lambda: engine.snapshot().pattern_source == "drumify slot A", timeout_sec=60, what="drumified")
        out = engine.snapshot().pattern
        assert int(out.hits.any(axis=0).sum()) >= 3  # drums
        taps = g.hits.any(axis=1)
        assert (taps & out.hits.any(axis=1)).sum() / taps.sum() >= 0.7
        assert not events.of("error")

        engine.set_input_mode("Drums")  # back: unmapped pitches are dropped again
        wait_for(lambda: engine.snapshot().input_mode == "drums", what="drums mode")
        assert events.of("settings")[-1] == {"input_mode": "drums"}
        assert engine.capture_buffer.add([0x90, 30, 100], 1.0, 1.0) is None
        assert engine.capture_buffer.add([0x90, 36, 100], 1.0, 1.0) is not None
    finally:
        engine.close()


def test_drumify_and_input_mode_mistakes_are_one_line_errors(drumify_model) -> None:
    engine, midi, events, asked = make_engine(drumify_model)
    try:
        engine.drumify("c")
        engine.drumify("b")  # empty slot
        engine.drumify("pattern")  # nothing playing yet
        engine.load_slot("A", Groove.empty(64, BPM))
        engine.drumify("a")  # a slot with no notes
        engine.set_input_mode("piano")
        wait_for(lambda: len(events.of("error")) == 5, what="five errors")
        messages = [str(m) for m in events.of("error")]
        assert all(m and "\n" not in m for m in messages)
        assert "drumify source 'c' is not a, b or pattern" in messages[0]
        assert "slot B is empty" in messages[1] and "empty" in messages[2]
        assert "no notes" in messages[3] and "'piano' is not drums or rhythm" in messages[4]
        assert engine.snapshot().input_mode == "drums" and engine.snapshot().pattern_source == "empty"
        assert "drumify" not in asked  # nothing reached the worker
    finally:
        engine.close()


def test_no_drumify_model_is_one_error_and_the_engine_goes_on() -> None:
    def loader(name: str):
        if name == "drumify":
            raise FileNotFoundError("drumify weights missing")
        return FakeModel()

    engine = Engine(Settings(bpm=BPM), model_loader=loader, midi=FakeMidiIO(), clock=InternalClock(BPM),
                    auto_sample=False)
    events = Events()
    engine.subscribe(events)
    engine.start()
    try:
        wait_for(lambda: engine.snapshot().model_state == "ready", what="model ready")
        engine.load_slot("A", groove_of([(s, KICK, 100, 0.0) for s in TAPS]))
        engine.drumify("a")
        wait_for(lambda: events.of("error"), what="an error")
        message = str(events.of("error")[0])
        assert "no drumify model" in message and "weights missing" in message and "\n" not in message
        engine.play_slot("A")  # the engine still works
        wait_for(lambda: engine.snapshot().pattern_source == "slot A", what="slot A playing")
    finally:
        engine.close()


def test_input_mode_setting_and_rhythm_buffer() -> None:
    assert Settings().input_mode == "drums"
    assert load_settings(None, env={"GROOVEBRIDGE_INPUT_MODE": "rhythm"}).input_mode == "rhythm"
    with pytest.raises(SettingsError, match="input_mode: 'tabla'"):
        Settings(input_mode="tabla")
    buf = CaptureBuffer(GM, channels=(1,), mode="rhythm")
    assert buf.add([0x90, 99, 80], 0.0, 16.0) is not None  # any pitch is a tap
    assert buf.add([0x90, 38, 90], 0.1, 17.0 - 0.03) is not None  # a snare pitch too: still a tap
    assert buf.add([0x91, 38, 90], 0.2, 18.0) is None  # channel 2: filtered
    assert buf.add([0x90, 38, 0], 0.2, 18.0) is None  # note-off
    g = buf.window(16.0)
    assert {(int(s), int(k)) for s, k in zip(*np.nonzero(g.hits), strict=True)} == {(0, RHYTHM_CLASS), (4, RHYTHM_CLASS)}
    assert g.velocities[4, RHYTHM_CLASS] == pytest.approx(90 / 127) and g.offsets[4, RHYTHM_CLASS] == pytest.approx(0.24)
    with pytest.raises(ValueError, match="not drums or rhythm"):
        CaptureBuffer(GM, mode="keys")


def test_drumify_runs_on_the_worker_not_the_control_thread(drumify_model) -> None:
    engine, midi, events, asked = make_engine(drumify_model)
    threads: list[str] = []
    original = drumify_model.drumify

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    drumify_model.drumify = spy
    try:
        engine.load_slot("B", groove_of([(s, KICK, 100, 0.0) for s in TAPS]))
        engine.drumify("b")
        wait_for(lambda: engine.snapshot().pattern_source == "drumify slot B", timeout_sec=60, what="drumified")
        assert threads == ["groovebridge-generation"]
    finally:
        del drumify_model.drumify
        engine.close()
