"""Refusals change nothing (session 20 trial findings 2, 4, 18, 19): a model that fails to
load leaves the previous one playing and "ready"; a "next" capture with nothing played keeps
the slot (as "last" does); a "last" capture reports on "capture" (OSC /capture)."""

from __future__ import annotations

from engine_fakes import Events, FakeModel, groove_of, wait_for

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.settings import Settings
from tests.rigs.midi_fakes import FakeMidiIO

BPM = 300.0  # a bar lasts 0.8 s


def _engine(loader=None) -> tuple[Engine, FakeMidiIO, Events]:
    midi = FakeMidiIO()
    engine = Engine(Settings(bpm=BPM), model_loader=loader or (lambda name: FakeModel()), midi=midi,
                    clock=InternalClock(BPM), auto_sample=False)
    events = Events()
    engine.subscribe(events)
    engine.start()
    wait_for(lambda: engine.snapshot().model_state == "ready", what="model ready")
    return engine, midi, events


def test_a_model_that_fails_to_load_leaves_the_previous_one_ready() -> None:
    def loader(name: str) -> FakeModel:
        if name == "broken":
            raise ValueError("not a GrooVAE checkpoint\nsecond line")
        return FakeModel()

    engine, _, events = _engine(loader)
    try:
        first = engine.snapshot().model_name
        engine.set_model("broken")
        wait_for(lambda: events.of("error"), what="an error")
        wait_for(lambda: engine.snapshot().model_state == "ready")
        snap = engine.snapshot()
        assert snap.model_name == first  # old code: "broken", state "error" for good
        (message,) = events.of("error")
        assert "broken" in message and "not a GrooVAE checkpoint" in message and "\n" not in message
        assert [p["state"] for p in events.of("model")][-2:] == ["loading", "ready"]
        engine.sample()  # the previous model still samples
        wait_for(lambda: engine.snapshot().pattern_source == "sample", what="a sample")
    finally:
        engine.close()


def test_record_next_with_nothing_played_keeps_the_slot() -> None:
    engine, _, events = _engine()
    try:
        kept = groove_of([(0, 0, 100, 0.0)], bpm=BPM)
        engine.load_slot("A", kept)
        wait_for(lambda: engine.snapshot().slots["A"] is not None)
        engine.play()
        wait_for(lambda: engine.snapshot().playing)
        engine.capture("A", "next")
        wait_for(lambda: any(p["state"] == "cancelled" for p in events.of("capture")), timeout_sec=10.0,
                 what="the empty take refused")
        assert engine.snapshot().slots["A"] is kept  # old code: an empty 64-step groove
        assert [e for e in events.of("error") if "nothing was played" in str(e) and "slot A kept" in str(e)]
        assert not [p for p in events.of("capture") if p["state"] == "done"]
    finally:
        engine.close()


def test_capture_last_reports_on_capture() -> None:
    engine, _, events = _engine()
    try:
        engine.play()
        wait_for(lambda: engine.snapshot().playing)
        clock = engine.ctx.clock
        now = clock.now_sec()
        beat = clock.beat_at(now)
        engine.capture_buffer.add([0x99, 36, 100], now, beat)  # a kick played now...
        wait_for(lambda: clock.beat_at(clock.now_sec()) >= (beat // 4 + 1) * 4 + 0.1, what="the bar to end")
        engine.capture("B", "last")  # ...is in the last complete bars
        wait_for(lambda: engine.snapshot().slots["B"] is not None, what="slot B")
        wait_for(lambda: events.of("capture"), what="a capture event")
        assert events.of("capture")[-1] == {"state": "done", "slot": "B", "hits": 1}
    finally:
        engine.close()
