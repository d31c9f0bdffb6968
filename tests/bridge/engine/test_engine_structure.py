"""The engine's structure (issue 24): a facade over collaborators (no mixins, modules import one
way), capture state held once (by ``Capture``; the snapshot reads it), the latent cache owned by
the generation worker's thread."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import numpy as np
import pytest
from engine_fakes import KICK, SNARE, Events, FakeModel, groove_of, wait_for

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.engine.generation import GenerationWorker, LatentCache
from bridge.settings import Settings
from tests.rigs.midi_fakes import FakeMidiIO

ENGINE = Path(__file__).resolve().parents[3] / "bridge" / "engine"
# bottom to top: a module may import only modules before it in this list
ORDER = ["command", "snapshot", "api", "generation", "device", "context", "patterns", "transport",
         "capture", "connections", "attributes", "model_commands", "follow", "core", "__init__"]


def engine_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bridge.engine."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("bridge.engine.")}
    return found


def test_engine_modules_import_one_way_and_only_the_package_imports_core():
    modules = {p.stem for p in ENGINE.glob("*.py")}
    assert modules == set(ORDER), modules ^ set(ORDER)  # a new module: place it in ORDER
    for name in ORDER:
        below = set(ORDER[: ORDER.index(name)])
        imports = engine_imports(ENGINE / f"{name}.py")
        assert imports <= below, f"{name} imports {imports - below} (not below it)"
        if name != "__init__":
            assert "core" not in imports, name
        assert len((ENGINE / f"{name}.py").read_text().splitlines()) <= 400, name
    assert Engine.__bases__ == (object,)  # a facade, no mixins
    root = ENGINE.parents[1]
    for package in ("groovebridge", "gui", "bridge", "models"):  # product code outside the engine
        for other in (root / package).rglob("*.py"):
            if other.parent != ENGINE:
                assert "bridge.engine.core" not in other.read_text(), other


def capture_engine(bpm: float = 300.0) -> tuple[Engine, FakeMidiIO, InternalClock, Events]:
    clock = InternalClock(bpm)
    midi = FakeMidiIO()
    engine = Engine(Settings(bpm=bpm), model_loader=lambda _n: FakeModel(), midi=midi, clock=clock, auto_sample=False)
    events = Events()
    engine.subscribe(events)
    engine.start()
    return engine, midi, clock, events


def test_capture_next_bars_state_is_held_once_and_read_by_the_snapshot():
    engine, midi, clock, events = capture_engine()
    try:
        engine.play()
        wait_for(lambda: engine.snapshot().playing, what="playing")
        engine.capture("b", "next", count_in_bars=1)
        wait_for(lambda: events.of("capture"), what="armed")
        armed = events.of("capture")[0]
        assert isinstance(armed, dict) and armed["state"] == "armed" and armed["slot"] == "B"
        rec = engine.capturer.recording
        assert rec is not None and rec.start_beat == (armed["start_bar"] - 1) * 4.0
        assert engine.snapshot().capture == engine.capturer.state == "count-in"
        assert not hasattr(engine, "_recording")  # one owner: the Capture collaborator
        for beat, pitch in ((0.0, 36), (1.0, 38), (8.0, 36)):  # kick, snare in its first bar; bar 3 kick
            midi.inject([0x99, pitch, 100], clock.time_at_beat(rec.start_beat + beat))
        wait_for(lambda: engine.snapshot().capture == "recording", what="recording")
        wait_for(lambda: engine.snapshot().slots["B"] is not None, timeout_sec=8.0, what="slot B")
        states = [p["state"] for p in events.of("capture") if isinstance(p, dict)]
        assert states == ["armed", "recording", "done"], states
        assert engine.snapshot().capture == "idle" and engine.capturer.recording is None
        g = engine.snapshot().slots["B"]
        assert g is not None
        assert {(int(s), int(k)) for s, k in zip(*np.nonzero(g.hits), strict=True)} == {(0, KICK), (4, SNARE), (32, KICK)}
    finally:
        engine.close()


def test_stop_cancels_an_armed_capture():
    engine, _midi, _clock, events = capture_engine(bpm=60.0)  # a bar is 4 s: still counting in at the stop
    try:
        engine.play()
        wait_for(lambda: engine.snapshot().playing, what="playing")
        engine.capture("A", "next", count_in_bars=1)
        wait_for(lambda: engine.snapshot().capture == "count-in", what="count-in")
        engine.stop()
        wait_for(lambda: engine.snapshot().capture == "idle", what="cancelled")
        assert [p["state"] for p in events.of("capture") if isinstance(p, dict)] == ["armed", "cancelled"]
        assert engine.snapshot().slots["A"] is None
    finally:
        engine.close()


def test_the_latent_cache_is_the_workers_and_refuses_other_threads():
    model = FakeModel()
    groove = groove_of([(0, KICK, 100, 0.0), (4, SNARE, 90, 0.0)])
    states: list[str] = []
    worker = GenerationWorker(lambda _n: model, lambda state, _n, _e: states.append(state))
    try:
        assert isinstance(worker.latents, LatentCache)
        with pytest.raises(RuntimeError, match="generation worker"):
            worker.latents.get(groove)  # this (test) thread is not the worker's
        worker.load("fake")
        assert worker.wait_idle()
        results: list[object] = []
        worker.submit(lambda m: worker.latents.encode(m, groove, 64) is worker.latents.encode(m, groove, 64),
                      lambda r, e: results.append(r if e is None else e))
        worker.submit(lambda m: len(worker.latents), lambda r, e: results.append(r if e is None else e))
        worker.load("fake")  # another model active: its latents are not the old one's
        worker.submit(lambda m: len(worker.latents), lambda r, e: results.append(r if e is None else e))
        assert worker.wait_idle()
        assert results == [True, 1, 0], results
        assert states == ["loading", "ready", "loading", "ready"]
    finally:
        worker.close()
    assert not hasattr(Engine(Settings(), model_loader=lambda _n: model, midi=FakeMidiIO()), "_z_cache")


def test_worker_latents_are_touched_on_the_worker_thread_only_in_a_running_engine(monkeypatch):
    """Morph and follow reach the cache from jobs: every touch is on the worker's thread."""
    seen: set[str] = set()
    original = LatentCache._check_thread

    def spy(self: LatentCache) -> None:
        seen.add(threading.current_thread().name)
        original(self)

    monkeypatch.setattr(LatentCache, "_check_thread", spy)
    engine, _midi, _clock, events = capture_engine()
    try:
        wait_for(lambda: engine.snapshot().model_state == "ready", what="ready")
        engine.load_slot("A", groove_of([(0, KICK, 100, 0.0)]))
        engine.load_slot("B", groove_of([(4, SNARE, 100, 0.0)]))
        engine.set_interpolation(0.5)
        wait_for(lambda: engine.snapshot().pattern_source.startswith("morph"), what="morph")
        assert seen == {"groovebridge-generation"}, seen
        assert not events.of("error")
    finally:
        engine.close()
