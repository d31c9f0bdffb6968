"""A first-ever launch plays something at once (issue 27): a starter groove sampled ahead of time
from the shipped default model is shown and playing at engine attach, while the model still
loads; the model's own sample replaces it only when nobody touched it and it is not playing."""

from __future__ import annotations

import hashlib
import json
import random
import threading

import numpy as np
import pytest

from bridge.engine.api import EngineCommands
from gui import app
from gui import first_pattern as fp
from models.drum_maps import CLASS_NAMES
from models.groove import STEPS_PER_BAR, Groove


def same_groove(a: Groove, b: Groove) -> bool:
    return (a.num_steps == b.num_steps and np.array_equal(a.hits, b.hits)
            and np.allclose(a.velocities, b.velocities) and np.allclose(a.offsets, b.offsets))


# ---- the shipped file --------------------------------------------------------------------------
def test_shipped_starters_are_grooves_of_the_shipped_default_model():
    grooves, problem = fp.read_starters()
    assert problem == "" and len(grooves) >= 3
    data = json.loads(fp.STARTERS_FILE.read_text(encoding="utf-8"))
    model = fp.STARTERS_FILE.parent / "model.safetensors"
    # Made from this very model (regenerate with the script when the model changes).
    assert data["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert data["made_by"].startswith("scripts/make_starter_grooves.py")
    assert (fp.ROOT / "scripts" / "make_starter_grooves.py").is_file()
    assert len(data["seeds"]) == len(grooves)
    assert fp.STARTERS_FILE.stat().st_size < 32_000
    kick, snare = CLASS_NAMES.index("kick"), CLASS_NAMES.index("snare")
    keepers = [CLASS_NAMES.index(n) for n in ("closed_hihat", "open_hihat", "ride")]
    for g in grooves:
        assert g.num_steps == 4 * STEPS_PER_BAR
        for b in range(4):
            bar = g.hits[b * STEPS_PER_BAR:(b + 1) * STEPS_PER_BAR] > 0.5
            assert bar[:, kick].any() and bar[:, snare].any() and bar[:, keepers].any()
    assert len({g.hits.tobytes() for g in grooves}) == len(grooves)  # all different


# ---- the JSON form and bad files ----------------------------------------------------------------
def test_json_round_trip_keeps_hits_velocities_and_timing():
    rng = np.random.default_rng(3)
    hits = (rng.random((32, 9)) < 0.2).astype(np.float32)
    vel = np.where(hits > 0, rng.integers(1, 128, (32, 9)) / 127, 0).astype(np.float32)
    off = np.where(hits > 0, rng.uniform(-1, 1, (32, 9)), 0).astype(np.float32)
    g = Groove(hits, vel, off)
    back = fp.groove_from_json(json.loads(json.dumps(fp.groove_to_json(g))))
    assert np.array_equal(back.hits, g.hits)
    assert np.abs(back.velocities - g.velocities).max() < 1e-6  # velocities are whole MIDI steps
    assert np.abs(back.offsets - g.offsets).max() <= 0.0005


@pytest.mark.parametrize("text, expect", [
    ("{not json", "starter grooves not read"),
    (json.dumps({"format": "something else", "version": 1, "grooves": []}), "not a groovebridge-starter-grooves file"),
    (json.dumps({"format": fp.FORMAT, "version": 1, "grooves": []}), "no grooves in it"),
])
def test_a_damaged_starters_file_gives_no_grooves_and_says_why(tmp_path, text, expect):
    f = tmp_path / "starters.json"
    f.write_text(text, encoding="utf-8")
    grooves, problem = fp.read_starters(f)
    assert grooves == [] and expect in problem
    assert fp.read_starters(tmp_path / "missing.json") == ([], f"no starter grooves ({tmp_path / 'missing.json'} is missing)")


def test_a_damaged_groove_is_left_out_and_the_others_kept(tmp_path):
    good = fp.groove_to_json(fp.read_starters()[0][0])
    bad = [{"steps": 64, "hits": [[64, 0, 100, 0.0]]}, {"steps": 64, "hits": [[0, 9, 100, 0.0]]},
           {"steps": 64, "hits": [[0, 0, 0, 0.0]]}, {"steps": 64, "hits": [[0, 0, 100, 1.5]]},
           {"steps": 20, "hits": [[0, 0, 100, 0.0]]}, {"steps": 64, "hits": []}, "a string"]
    f = tmp_path / "starters.json"
    f.write_text(json.dumps({"format": fp.FORMAT, "version": 1, "grooves": [good, *bad]}), encoding="utf-8")
    grooves, problem = fp.read_starters(f)
    assert len(grooves) == 1 and same_groove(grooves[0], fp.read_starters()[0][0])
    assert problem.startswith("starter 2 left out: hit [64, 0, 100, 0.0] is out of range; starter 3 left out")
    assert problem.endswith(f"; and {len(bad) - 3} more")


def test_the_last_sessions_pattern_comes_before_a_starter(tmp_path, gmd_files):
    from gui.export import export_pattern
    from models.midi.files import load_groove_window

    groove = load_groove_window(gmd_files[0])[0]
    assert fp.first_pattern(tmp_path).source.startswith("starter ")
    export_pattern(groove, tmp_path / "pattern.mid", 120.0, "gm")
    first = fp.first_pattern(tmp_path)
    assert first.source == "last session" and first.groove is not None
    assert first.groove.num_hits == groove.num_hits
    (tmp_path / "pattern.mid").write_bytes(b"MThd garbage")
    first = fp.first_pattern(tmp_path, rng=random.Random(1))
    assert "not restored" in first.problem and first.source.startswith("starter ")  # said, and a starter plays


# ---- the app, as a musician meets it -----------------------------------------------------------
@pytest.fixture
def gated_launch(qtbot, monkeypatch, model_loader):
    """``app.launch`` whose model load waits for ``gate`` (a real model takes seconds)."""
    monkeypatch.setenv("GROOVEBRIDGE_OSC_ENABLED", "0")
    gate = threading.Event()

    def slow_loader(name: str):
        gate.wait(60)
        return model_loader(name)

    app.make_application()
    window = app.launch(app.build_parser().parse_args([]), model_loader=slow_loader)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.adapter.engine is not None, timeout=30000)
    yield window, gate
    gate.set()
    window.close()


def shown_pattern(window):
    snap = window.adapter.snapshot()
    grid = window.grid.groove()
    return grid if snap is not None and grid is snap.pattern and grid.num_hits else None


def test_first_launch_shows_a_starter_at_engine_attach_then_the_models_sample(qtbot, gated_launch):
    window, gate = gated_launch
    # In the engine from its first command: shown at attach (no waiting for the model).
    qtbot.waitUntil(lambda: shown_pattern(window) is not None, timeout=2000)
    snap = window.adapter.snapshot()
    assert snap.pattern_source.startswith("starter ") and snap.model_state == "loading"
    assert any(same_groove(snap.pattern, g) for g in fp.read_starters()[0])
    assert window.source_label.text() == f"· {snap.pattern_source}"
    assert window.loading_bar.isVisible()
    gate.set()
    # Untouched and not playing: the model's own sample (with its variations) replaces it.
    qtbot.waitUntil(lambda: window.adapter.snapshot().pattern_source == "sample", timeout=30000)
    assert window.adapter.snapshot().model_state == "ready"
    assert len(window.adapter.snapshot().variations) == window.adapter.snapshot().num_variations
    qtbot.waitUntil(lambda: shown_pattern(window) is not None, timeout=5000)
    assert all("JACK" in e for e in window.errors), window.errors  # (no MIDI server here: said once)


def test_a_playing_starter_plays_before_the_model_and_is_not_swapped_under_the_musician(qtbot, gated_launch):
    window, gate = gated_launch
    engine = window.adapter.engine
    notes: list[int] = []
    engine.note_sinks.append(lambda note, _due: notes.append(note.drum_class))
    qtbot.waitUntil(lambda: shown_pattern(window) is not None, timeout=5000)
    starter = window.adapter.snapshot().pattern
    assert window.adapter.command(EngineCommands.play)
    qtbot.waitUntil(lambda: len(notes) >= 4, timeout=10000)  # heard while the model still loads
    assert window.adapter.snapshot().model_state == "loading"
    assert set(notes) <= set(np.nonzero(starter.hits.any(axis=0))[0].tolist())
    gate.set()
    qtbot.waitUntil(lambda: window.adapter.snapshot().model_state == "ready", timeout=30000)
    qtbot.wait(600)
    snap = window.adapter.snapshot()
    assert snap.pattern is starter and snap.pattern_source.startswith("starter ") and snap.variations == ()
    assert "Sample" in window.statusBar().currentMessage()
    window.generate.sample()  # the musician asks: now it changes
    qtbot.waitUntil(lambda: window.adapter.snapshot().pattern_source == "sample", timeout=30000)


def test_an_edit_before_the_model_is_ready_is_kept(qtbot, gated_launch):
    window, gate = gated_launch
    qtbot.waitUntil(lambda: shown_pattern(window) is not None, timeout=5000)
    edited = window.adapter.snapshot().pattern.with_changes()
    window.grid.patternEdited.emit(edited)
    qtbot.waitUntil(lambda: window.adapter.snapshot().pattern_source == "edit", timeout=5000)
    gate.set()
    qtbot.waitUntil(lambda: window.adapter.snapshot().model_state == "ready", timeout=30000)
    qtbot.wait(600)
    assert window.adapter.snapshot().pattern_source == "edit"
    assert window.adapter.snapshot().pattern is edited


def test_a_model_command_sent_during_the_load_is_kept_over_the_starter(qtbot, gated_launch):
    """Humanize (S, a slot's Drumify, an OSC /humanize ...) sent while the model loads waits on the
    worker behind the load; the first sample over the starter is queued after it and must not
    replace its result (review finding: the window decided at ready time and sampled over it)."""
    window, gate = gated_launch
    qtbot.waitUntil(lambda: shown_pattern(window) is not None, timeout=5000)
    assert window.adapter.snapshot().pattern_source.startswith("starter ")
    assert window.adapter.command(EngineCommands.humanize, 1.0)  # as an OSC controller would
    qtbot.wait(300)
    assert window.adapter.snapshot().model_state == "loading"
    gate.set()
    qtbot.waitUntil(lambda: window.adapter.snapshot().pattern_source == "humanize", timeout=30000)
    qtbot.wait(1500)  # the first sample over the starter has landed by now (and was dropped)
    snap = window.adapter.snapshot()
    assert snap.model_state == "ready" and snap.pattern_source == "humanize"


def test_without_starters_the_model_fills_the_window_as_before(qtbot, monkeypatch, tmp_path, model_loader, caplog):
    monkeypatch.setattr(fp, "STARTERS_FILE", tmp_path / "gone.json")
    monkeypatch.setenv("GROOVEBRIDGE_OSC_ENABLED", "0")
    app.make_application()
    with caplog.at_level("WARNING", logger="gui.first_pattern"):
        window = app.launch(app.build_parser().parse_args([]), model_loader=model_loader)
        qtbot.addWidget(window)
        qtbot.waitUntil(lambda: window.adapter.snapshot() is not None
                        and window.adapter.snapshot().pattern_source == "sample", timeout=30000)
    assert any("gone.json is missing" in r.getMessage() for r in caplog.records)  # logged, not shown
    assert all("JACK" in e for e in window.errors), window.errors  # (no MIDI server here: said once)
    window.close()


def test_a_window_attached_to_a_loading_engine_puts_a_starter_in_at_the_engines_tempo(qtbot, model_loader):
    """The window's own path (no gui.app): attach_engine reads the first pattern itself."""
    from bridge.engine import Engine
    from bridge.settings import Settings
    from gui.main_window import MainWindow
    from gui.settings_store import SettingsStore
    from tests.rigs.midi_fakes import FakeMidiIO

    gate = threading.Event()
    engine = Engine(Settings(osc_enabled=False, bpm=96.0), model_loader=lambda n: gate.wait(60) and model_loader(n),
                    midi=FakeMidiIO())
    engine.start()
    try:
        win = MainWindow(SettingsStore())
        qtbot.addWidget(win)
        win.show()
        win.attach_engine(engine)
        qtbot.waitUntil(lambda: shown_pattern(win) is not None, timeout=5000)
        snap = engine.snapshot()
        assert snap.pattern_source.startswith("starter ") and snap.pattern.bpm == 96.0
        gate.set()
        qtbot.waitUntil(lambda: engine.snapshot().pattern_source == "sample", timeout=30000)
        win.close()
    finally:
        gate.set()
        engine.close()
