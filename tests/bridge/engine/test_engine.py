"""Engine: commands, model worker, bar-line swaps, mutes, capture, errors (fake model and MIDI),
plus one run with a real (tiny, random-weight) GrooVAE."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from engine_fakes import HAT, KICK, SNARE, Events, FakeModel, groove_of, wait_for

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.play.player import PlayedNote
from bridge.settings import Settings
from models.groove import Groove
from tests.rigs.midi_fakes import FakeMidiIO

BPM = 300.0  # a bar lasts 0.8 s: tests stay short


def make_engine(model: FakeModel | None = None, bpm: float = BPM, **kw: object) -> tuple[Engine, FakeMidiIO, Events]:
    fake = model or FakeModel()
    midi = FakeMidiIO()
    engine = Engine(Settings(bpm=bpm), model_loader=lambda name: fake, midi=midi, clock=InternalClock(bpm), **kw)  # type: ignore[arg-type]
    events = Events()
    engine.subscribe(events)
    engine.start()
    wait_for(lambda: engine.snapshot().model_state == "ready", what="model ready")
    return engine, midi, events


def notes(events: Events) -> list[PlayedNote]:
    return [n for n in events.of("note") if isinstance(n, PlayedNote)]


def test_model_ready_samples_variations_and_plays_them() -> None:
    engine, midi, events = make_engine()
    try:
        wait_for(lambda: len(engine.snapshot().variations) == 4, what="variations")
        snap = engine.snapshot()
        assert snap.pattern_source == "sample" and snap.selected_variation == 0
        engine.select_variation(2)
        wait_for(lambda: engine.snapshot().pattern_source == "variation 3")
        engine.play()
        wait_for(lambda: len(midi.notes()) >= 2, what="notes")
        assert {(p, v) for _, p, v in midi.notes()} == {(36, 62)}  # GM kick, variation 3's velocity
        assert [m for _, m in midi.events][0][0] == 0x99  # channel 10
        engine.stop()
        wait_for(lambda: midi.events[-1][1] == (0xB9, 123, 0), what="all notes off")
        ons = sum(1 for _, m in midi.events if m[0] == 0x99 and m[2] > 0)
        offs = sum(1 for _, m in midi.events if m[0] == 0x89)
        assert ons == offs
        assert any(e == "transport" for e, _ in events.items)
    finally:
        engine.close()


def test_variations_and_their_pattern_change_in_one_snapshot_update() -> None:
    """A reader woken by the "variations" event (the GUI, OSC) sees the pattern that goes with it."""
    engine, _, _ = make_engine()
    seen: list[tuple[int, str, int]] = []

    def on_event(event: str, payload: object) -> None:
        if event == "variations":
            snap = engine.snapshot()
            seen.append((len(snap.variations), snap.pattern_source, snap.selected_variation))

    engine.subscribe(on_event)
    try:
        engine.sample()
        wait_for(lambda: (4, "sample", 0) in seen, what="variations event")
        engine.select_variation(1)
        wait_for(lambda: any(sel == 1 for _, _, sel in seen), what="second variations event")
        expected = {0: "sample", 1: "variation 2"}
        assert seen and all(n == 4 and source == expected[sel] for n, source, sel in seen), seen
    finally:
        engine.close()


def test_pattern_change_is_heard_from_a_bar_line_only() -> None:
    engine, midi, events = make_engine(auto_sample=False)
    try:
        a = groove_of([(s, KICK, 100, 0.0) for s in range(0, 64, 2)])
        b = groove_of([(s, SNARE, 50, 0.0) for s in range(0, 64, 2)])
        engine.set_pattern(a, "a")
        engine.play()
        wait_for(lambda: len(notes(events)) > 5, what="notes of a")
        engine.set_pattern(b, "b")
        wait_for(lambda: any(n.drum_class == SNARE for n in notes(events)), what="notes of b")
        played = notes(events)
        first_b = next(i for i, n in enumerate(played) if n.drum_class == SNARE)
        assert played[first_b].beat % 4 == pytest.approx(0.0)  # b starts on a bar line
        assert all(n.drum_class == KICK for n in played[:first_b])
        wait_for(lambda: len(notes(events)) > first_b + 4)
        assert all(n.drum_class == SNARE for n in notes(events)[first_b:])
    finally:
        engine.close()


def test_mute_and_unmute_a_class_while_playing() -> None:
    engine, midi, events = make_engine(auto_sample=False)
    try:
        engine.set_pattern(groove_of([(s, k, 90, 0.0) for s in range(0, 64, 2) for k in (KICK, HAT)]))
        engine.set_mute(HAT, True)
        engine.play()
        wait_for(lambda: len(notes(events)) >= 6)
        assert {n.drum_class for n in notes(events)} == {KICK}
        engine.set_mute(HAT, False)
        wait_for(lambda: any(n.drum_class == HAT for n in notes(events)))
        assert engine.snapshot().mutes == (False,) * 9
        assert events.of("mute")[-1] == {"drum_class": HAT, "muted": False, "mutes": (False,) * 9}
    finally:
        engine.close()


def test_morph_coalesces_slider_moves_and_swaps_in_the_latest() -> None:
    model = FakeModel(decode_delay_sec=0.1)
    engine, midi, events = make_engine(model, auto_sample=False)
    try:
        model.calls.clear()  # forget the warm-up calls made at load
        engine.load_slot("A", groove_of([(s, KICK, 90, 0.0) for s in range(8)]))
        engine.load_slot("B", groove_of([(s, KICK, 90, 0.0) for s in range(40)]))
        for i in range(1, 11):
            engine.set_interpolation(i / 10)
        wait_for(lambda: engine.snapshot().pattern_source == "morph 1.00", what="last morph")
        assert engine.worker is not None and engine.worker.wait_idle()
        assert model.calls.count("decode") < 10  # coalesced
        assert model.calls.count("encode") == 2  # A and B encoded once (cached)
        assert engine.snapshot().pattern.num_hits == 40
        assert engine.snapshot().interpolation == 1.0
    finally:
        engine.close()


def test_humanize_keeps_hits_and_blends_by_amount_and_reconstruct() -> None:
    engine, midi, events = make_engine(auto_sample=False)
    try:
        engine.set_pattern(groove_of([(0, KICK, 64, 0.0), (8, SNARE, 64, 0.0)]))
        engine.humanize(0.5)
        wait_for(lambda: engine.snapshot().pattern_source == "humanize")
        p = engine.snapshot().pattern
        assert p.num_hits == 2
        np.testing.assert_allclose(p.velocities[0, KICK], (64 / 127 + 1.0) / 2, atol=1e-6)
        np.testing.assert_allclose(p.offsets[8, SNARE], 0.25, atol=1e-6)
        engine.reconstruct()
        wait_for(lambda: engine.snapshot().pattern_source == "reconstruct")
    finally:
        engine.close()


def test_capture_last_four_bars_from_the_input() -> None:
    clock = InternalClock(120.0)
    midi = FakeMidiIO()
    engine = Engine(Settings(), model_loader=lambda name: FakeModel(), midi=midi, clock=clock, auto_sample=False)
    engine.start()
    try:
        clock.start(at_sec=clock.now_sec() - 20.5)  # beat 41 now: bars 7-10 are the last complete ones
        wait_for(lambda: engine.snapshot().playing)
        time.sleep(0.05)  # the engine sees the start and clears its buffer first
        played = [(24.0, 36, 100), (25.0 - 0.05, 38, 80), (31.0, 42, 33), (39.9, 36, 90), (40.0 - 0.1, 36, 70)]
        for beat, pitch, vel in played:
            midi.inject([0x99, pitch, vel], clock.time_at_beat(beat))
        midi.inject([0x99, 50, 10], clock.time_at_beat(23.0))  # bar 6: outside
        engine.capture("A", "last")
        wait_for(lambda: engine.snapshot().slots["A"] is not None, what="slot A")
        g = engine.snapshot().slots["A"]
        assert isinstance(g, Groove)
        # beat 39.9 rounds to step 64 = the next bar's downbeat: not in this capture
        assert {(int(s), int(k)) for s, k in zip(*np.nonzero(g.hits), strict=True)} == {(0, 0), (4, 1), (28, 2)}
        assert g.velocities[4, SNARE] == pytest.approx(80 / 127)
        assert g.offsets[4, SNARE] == pytest.approx(0.4, abs=1e-6)
    finally:
        engine.close()


def test_mistakes_become_one_line_error_events() -> None:
    engine, midi, events = make_engine(auto_sample=False)
    try:
        engine.capture("A", "last")  # stopped
        engine.capture("C")
        engine.select_variation(7)
        engine.set_interpolation(0.5)  # empty slots
        engine.set_tempo(1000)
        engine.set_mute(12, True)
        wait_for(lambda: len(events.of("error")) == 6, what="six errors")
        for message in events.of("error"):
            assert isinstance(message, str) and "\n" not in message and message
        assert "press play" in str(events.of("error")[0])
        assert engine.snapshot().last_error == events.of("error")[-1]
    finally:
        engine.close()


def test_model_load_error_is_reported() -> None:
    def broken(name: str) -> FakeModel:
        raise FileNotFoundError(f"no model named {name}")

    engine = Engine(Settings(), model_loader=broken, midi=FakeMidiIO(), clock=InternalClock(120))
    engine.start()
    try:
        wait_for(lambda: engine.snapshot().model_state == "error")
        assert "no model named default" in engine.snapshot().last_error
        engine.sample()
        wait_for(lambda: "not loaded" in engine.snapshot().last_error)
    finally:
        engine.close()


def test_tempo_latency_and_save(tmp_path: Path) -> None:
    engine, midi, events = make_engine()
    try:
        wait_for(lambda: engine.snapshot().pattern_source == "sample")
        engine.set_tempo(97.5)
        engine.set_latency_ms(12.0)
        wait_for(lambda: engine.snapshot().latency_ms == 12.0)
        assert engine.snapshot().bpm == 97.5 and 97.5 in events.of("tempo")
        engine.save_pattern(tmp_path / "p.mid")
        engine.save_variations(tmp_path / "vars")
        wait_for(lambda: len(list((tmp_path / "vars").glob("*.mid"))) == 4)
        from models.midi.files import read_midi

        back = read_midi(tmp_path / "p.mid", drum_map="gm").groove
        assert back.num_hits == 4 and back.hits[:, KICK].sum() == 4
    finally:
        engine.close()


@pytest.mark.slow
def test_engine_with_a_real_tiny_grooVAE() -> None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from models.generate import GrooveModel
    from models.net.config import get_config
    from models.net.vae import GrooVAE

    asked: list[str] = []

    def loader(name: str) -> GrooveModel:
        asked.append(name)
        torch.manual_seed(0)
        config = "groovae_tiny_humanize" if name == "humanize" else "groovae_tiny"
        return GrooveModel(GrooVAE(get_config(config)), name=name)

    midi = FakeMidiIO()
    engine = Engine(Settings(bpm=BPM), model_loader=loader, midi=midi, clock=InternalClock(BPM))
    events = Events()
    engine.subscribe(events)
    engine.start()
    try:
        wait_for(lambda: len(engine.snapshot().variations) == 4, timeout_sec=30, what="real samples")
        steps = engine.snapshot().pattern.num_steps
        engine.load_slot("A", groove_of([(s, KICK, 100, 0.0) for s in range(0, steps, 4)], steps))
        engine.load_slot("B", groove_of([(s, HAT, 70, 0.2) for s in range(0, steps, 2)], steps))
        engine.play()
        engine.set_interpolation(0.5)
        wait_for(lambda: engine.snapshot().pattern_source == "morph 0.50", timeout_sec=30)
        engine.humanize(1.0)
        wait_for(lambda: engine.snapshot().pattern_source == "humanize", timeout_sec=30)
        assert asked.count("humanize") == 1  # a plain VAE humanizes through the humanize model
        assert not [e for e in events.of("error")]
        engine.stop()
        wait_for(lambda: midi.events and midi.events[-1][1] == (0xB9, 123, 0))
    finally:
        engine.close()


def test_midi_clock_from_the_input_drives_the_engine() -> None:
    engine, midi, events = make_engine(auto_sample=False)
    try:
        engine.set_sync_source("midi")
        wait_for(lambda: engine.snapshot().sync_source == "midi")
        spt = 60.0 / (100.0 * 24)  # 100 BPM
        now = time.monotonic()
        midi.inject([0xFA], now - 49 * spt - 0.001)
        for i in range(48):
            midi.inject([0xF8], now - (48 - i) * spt)
        t_read = time.monotonic()  # (injecting took 15-140 ms on the loaded 2-core machine)
        snap = engine.snapshot()
        assert snap.playing and snap.bpm == pytest.approx(100.0, abs=0.5)
        assert snap.position_beats == pytest.approx(2.0 + (t_read - now) * 100.0 / 60.0, abs=0.1)
        engine.set_tempo(150)  # the DAW sets the tempo: one error line, the tempo stays
        wait_for(lambda: events.of("error"), what="an error")
        assert events.of("error") == ["tempo follows the MIDI clock: change it in the DAW"]
        assert engine.snapshot().bpm == pytest.approx(100.0, abs=0.5)
        engine.set_sync_source("internal")
        wait_for(lambda: engine.snapshot().sync_source == "internal")
        assert any(e == "sync" for e, _ in events.items)
    finally:
        engine.close()


def test_internal_clock_tempo_change_keeps_the_beat_phase() -> None:
    clock = InternalClock(120.0)
    clock.start(at_sec=clock.now_sec() - 1.0)  # beat 2 now
    before = clock.beat_at(clock.now_sec())
    clock.set_tempo(60.0)
    t = clock.now_sec()
    assert clock.beat_at(t) == pytest.approx(before, abs=0.01)
    assert clock.time_at_beat(clock.beat_at(t) + 1.0) == pytest.approx(t + 1.0, abs=1e-6)
    clock.stop()
    frozen = clock.beat_at(clock.now_sec())
    time.sleep(0.01)
    assert clock.beat_at(clock.now_sec()) == frozen and not clock.is_playing


def test_model_hot_swap_and_slot_from_a_real_gmd_file(gmd_dir: Path) -> None:
    loaded: list[str] = []

    def loader(name: str) -> FakeModel:
        loaded.append(name)
        return FakeModel()

    engine = Engine(Settings(input_drum_map="roland"), model_loader=loader, midi=FakeMidiIO(),
                    clock=InternalClock(120), auto_sample=False)
    events = Events()
    engine.subscribe(events)
    engine.start()
    try:
        wait_for(lambda: engine.snapshot().model_state == "ready")
        engine.set_model("my-run")
        wait_for(lambda: engine.snapshot().model_name == "my-run" and engine.snapshot().model_state == "ready")
        assert loaded == ["default", "my-run"]
        assert [p["state"] for p in events.of("model")] == ["loading", "ready", "loading", "ready"]  # type: ignore[index]
        path = gmd_dir / "drummer1/session1/102_funk_95_beat_4-4.mid"
        engine.load_slot_file("B", path)
        engine.load_slot_file("A", gmd_dir / "no-such-file.mid")
        wait_for(lambda: engine.snapshot().slots["B"] is not None and events.of("error"))
        b = engine.snapshot().slots["B"]
        assert isinstance(b, Groove) and b.num_steps == 64 and b.num_hits > 20
        assert "no-such-file.mid" in str(events.of("error")[0])
    finally:
        engine.close()
