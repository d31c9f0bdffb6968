"""Issue 27: the app driven the way a musician meets it (real window, real engine, tiny model).

Each test reproduces one thing a user tripped on: swap A/B, a capture with nothing played, a
slot's Sample vs the variation strip, "Use this model" with a long path, a file's tempo, what
comes back at the next launch, the Help menu, the visible Record / count-in controls, the
Models tab's words and the checkpoint table's validation column.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QKeySequence


def click(qtbot, widget) -> None:
    assert widget.isVisible() and widget.isEnabled(), widget
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def load_both(window, qtbot, engine, files: list[Path]) -> None:
    window.slots.cards["A"].load_file(files[0])
    window.slots.cards["B"].load_file(files[1])
    qtbot.waitUntil(lambda: all(engine.snapshot().slots[k] is not None for k in "AB"), timeout=5000)


def test_swap_moves_the_names_and_redoes_the_playing_morph(window, qtbot, engine, gmd_files):
    load_both(window, qtbot, engine, gmd_files)
    a, b = engine.snapshot().slots["A"], engine.snapshot().slots["B"]
    window.slots.morph.setValue(window.slots.morph.maximum())  # the user drags the slider to B
    qtbot.waitUntil(lambda: engine.snapshot().pattern_source == "morph 1.00", timeout=15000)
    click(qtbot, window.slots.swap_button)
    qtbot.waitUntil(lambda: engine.snapshot().slots["A"] is b and engine.snapshot().slots["B"] is a, timeout=5000)
    cards = window.slots.cards
    qtbot.waitUntil(lambda: cards["A"].thumb.groove() is b and cards["B"].thumb.groove() is a, timeout=5000)
    assert cards["A"].source.text() == gmd_files[1].name
    assert cards["B"].source.text() == gmd_files[0].name
    assert cards["A"].source.toolTip() == str(gmd_files[1])
    # The playing morph was at B (= the groove now in A): it is redone at the mirrored position,
    # so the slider, the engine and what plays agree.
    qtbot.waitUntil(lambda: engine.snapshot().pattern_source == "morph 0.00", timeout=15000)
    assert engine.snapshot().interpolation == 0.0
    assert window.slots.morph.value() == 0
    qtbot.waitUntil(lambda: window.source_label.text() == "· morph 0.00", timeout=5000)


def test_swap_while_a_slot_plays_keeps_it_playing_under_its_new_letter(window, qtbot, engine, gmd_files):
    load_both(window, qtbot, engine, gmd_files)
    a = engine.snapshot().slots["A"]
    click(qtbot, window.slots.cards["A"].buttons["Play"])
    qtbot.waitUntil(lambda: engine.snapshot().pattern_source == "slot A", timeout=5000)
    next(act for act in window.actions() if act.text() == "Swap A/B").trigger()  # key X
    qtbot.waitUntil(lambda: engine.snapshot().pattern_source == "slot B", timeout=5000)
    assert engine.snapshot().slots["B"] is a and engine.snapshot().pattern is a
    qtbot.waitUntil(lambda: window.slots.cards["B"].source.text() == gmd_files[0].name, timeout=5000)


def test_a_failed_capture_restores_the_slot_and_its_message_goes(window, qtbot, engine, gmd_files):
    window.error_show_ms = 400  # how long a red message stays (12 s in the app)
    card = window.slots.cards["B"]
    card.load_file(gmd_files[0])
    qtbot.waitUntil(lambda: engine.snapshot().slots["B"] is not None, timeout=5000)
    click(qtbot, window.transport.play_button)
    qtbot.waitUntil(lambda: engine.snapshot().playing, timeout=5000)
    click(qtbot, card.buttons["Capture"])  # nothing was played on the input
    qtbot.waitUntil(lambda: "nothing was played" in window.error_label.text(), timeout=5000)
    assert card.source.text() == gmd_files[0].name  # not "capturing…"
    assert card.source.toolTip() == str(gmd_files[0])
    qtbot.waitUntil(lambda: window.error_label.text() == "", timeout=3000)  # the message goes
    assert any("nothing was played" in e for e in window.errors)  # and stays in the history
    window.tabs.setCurrentIndex(3)
    assert window.error_label.text() == "" and card.source.text() == gmd_files[0].name


def test_capture_into_an_empty_slot_that_fails_shows_empty_again(window, qtbot, engine):
    card = window.slots.cards["A"]
    assert card.source.text() == "empty"
    click(qtbot, window.transport.play_button)
    qtbot.waitUntil(lambda: engine.snapshot().playing, timeout=5000)
    click(qtbot, card.buttons["Capture"])
    qtbot.waitUntil(lambda: "nothing was played" in window.error_label.text(), timeout=5000)
    assert card.source.text() == "empty"


def test_a_slots_sample_keeps_the_variation_strip_and_the_pattern(window, qtbot, engine):
    window.generate.num_variations.setValue(8)
    click(qtbot, window.generate.sample_button)
    qtbot.waitUntil(lambda: len(engine.snapshot().variations) == 8, timeout=15000)
    qtbot.waitUntil(lambda: window.generate.thumbs[7].groove() is not None, timeout=5000)
    variations, pattern = engine.snapshot().variations, engine.snapshot().pattern
    card = window.slots.cards["A"]
    click(qtbot, card.buttons["Sample"])
    qtbot.waitUntil(lambda: engine.snapshot().slots["A"] is not None, timeout=15000)
    qtbot.waitUntil(lambda: card.thumb.groove() is engine.snapshot().slots["A"], timeout=5000)
    snap = engine.snapshot()
    assert snap.variations is variations and snap.pattern is pattern
    assert snap.slots["A"].num_hits > 0 and snap.slots["A"] not in variations
    assert [t.groove() for t in window.generate.thumbs[:8]] == list(variations)
    assert all(t.isVisible() for t in window.generate.thumbs[:8])
    assert card.source.text() == "sampled"


def _long_run_checkpoint(root: Path) -> Path:
    from models.net.config import get_config
    from models.net.vae import GrooVAE
    from models.train.checkpoint import save_checkpoint, set_pointer

    config = get_config("groovae_tiny")
    run = root / "runs" / ("groovae_tiny-20261205-101500-my-late-night-funk-session-with-the-new-kit" * 2)
    ckpt = save_checkpoint(run / "checkpoints" / "ckpt-00000060", GrooVAE(config), config, step=60,
                           extra={"val_loss": 12.5})
    set_pointer(run, "best", ckpt)
    set_pointer(run, "latest", ckpt)
    return run


def test_use_this_model_with_a_long_path_never_widens_the_window(window, qtbot, engine, tmp_path):
    window.resize(1280, 720)
    qtbot.waitUntil(lambda: window.width() == 1280)
    run = _long_run_checkpoint(tmp_path)
    panel = window.train_panel
    window.tabs.setCurrentWidget(panel)
    panel.show_run(run)
    qtbot.waitUntil(lambda: panel.ckpt_table.rowCount() == 1)
    click(qtbot, panel.use_button)
    ckpt = str(run / "checkpoints" / "ckpt-00000060")
    qtbot.waitUntil(lambda: engine.snapshot().model_name == ckpt and engine.snapshot().model_state == "ready",
                    timeout=30000)
    qtbot.wait(200)  # the state event reaches the transport bar
    assert window.width() == 1280, f"the window widened to {window.width()} px"
    assert window.minimumSizeHint().width() <= 1280 and window.minimumWidth() <= 1280
    label = window.transport.model_label
    assert ckpt in label.toolTip()
    assert label.geometry().right() <= window.transport.width()
    shown = label.shown_text()  # the run's name and checkpoint (elided when tight); the path in the tooltip
    assert shown != ckpt and ("ckpt-00000060" in shown or "…" in shown), shown


def test_checkpoint_table_takes_a_missing_validation_from_the_metrics_and_marks_the_lowest(tmp_path, qtbot):
    from models.train.run_folder import read_checkpoints

    run = tmp_path / "run"
    for step, val in ((100, 180.25), (200, None)):
        d = run / "checkpoints" / f"ckpt-{step:08d}"
        d.mkdir(parents=True)
        (d / "model.safetensors").write_bytes(b"x")
        (d / "state.json").write_text(json.dumps({"step": step, **({"val_loss": val} if val else {})}))
    (run / "checkpoints" / "best").write_text("ckpt-00000200")  # the trainer's pointer, no loss behind it
    (run / "metrics.csv").write_text(
        "time_unix,split,step,loss\n1,train,100,200.0\n2,validation,100,180.25\n3,train,200,175.0\n"
        "4,validation,200,169.70\n")
    ckpts = {c["step"]: c for c in read_checkpoints(run)}
    assert ckpts[200]["val_loss"] == pytest.approx(169.70)
    assert ckpts[200]["best"] and not ckpts[100]["best"]
    (run / "metrics.csv").write_text("time_unix,split,step,loss\n4,validation,200,190.0\n")
    ckpts = {c["step"]: c for c in read_checkpoints(run)}
    assert ckpts[100]["best"] and not ckpts[200]["best"]  # the lowest validation, not the pointer


def test_a_loaded_file_offers_its_tempo_and_the_pattern_saves_at_it(window, qtbot, engine, tmp_path):
    from models.midi.files import load_groove_window

    gmd = Path("/work/shared/data/groove-midi/groove/drummer1/session1")
    f = next((p for p in sorted(gmd.glob("*_beat_4-4.mid")) if "_120_" not in p.name), None)
    if f is None:
        pytest.skip("Groove MIDI Dataset not found")
    file_bpm = round(load_groove_window(f)[0].bpm, 1)
    card = window.slots.cards["A"]
    card.load_file(f)
    offer = window.tempo_offer
    qtbot.waitUntil(offer.isVisible, timeout=5000)
    assert offer.text() == f"Use {file_bpm:g} BPM"
    click(qtbot, offer)
    qtbot.waitUntil(lambda: abs(engine.snapshot().bpm - file_bpm) < 0.05, timeout=5000)
    assert not offer.isVisible()
    click(qtbot, card.buttons["Play"])
    qtbot.waitUntil(lambda: engine.snapshot().pattern_source == "slot A", timeout=5000)
    out = window.export_pattern_to(tmp_path / "kept.mid")
    assert out is not None and abs(load_groove_window(out)[0].bpm - file_bpm) < 0.05


def test_slots_pattern_humanize_amount_and_folder_come_back_at_the_next_launch(qtbot, engine, gmd_files, model_loader):
    from bridge.engine import Engine
    from bridge.settings import Settings
    from gui.main_window import MainWindow
    from gui.settings_store import SettingsStore
    from tests.rigs.midi_fakes import FakeMidiIO

    first = MainWindow(SettingsStore())
    qtbot.addWidget(first)
    first.show()
    first.attach_engine(engine)
    qtbot.waitUntil(lambda: engine.snapshot().model_state == "ready", timeout=30000)
    first.slots.cards["A"].load_file(gmd_files[0])
    first.slots.cards["B"].load_file(gmd_files[1])
    qtbot.waitUntil(lambda: all(engine.snapshot().slots[k] is not None for k in "AB"), timeout=5000)
    engine.play_slot("B")
    qtbot.waitUntil(lambda: engine.snapshot().pattern_source == "slot B", timeout=5000)
    hits = {k: engine.snapshot().slots[k].num_hits for k in "AB"}
    first.generate.humanize_amount.setValue(40)
    first.close()

    def slow_loader(name: str):  # a real model takes seconds to load: the window is up before it
        import time

        time.sleep(1.5)
        return model_loader(name)

    second_engine = Engine(Settings(osc_enabled=False), model_loader=slow_loader, midi=FakeMidiIO())
    second_engine.start()
    try:
        second = MainWindow(SettingsStore())
        qtbot.addWidget(second)
        assert second.generate.humanize_amount.value() == 40
        assert second.slots.cards["A"].last_dir == str(gmd_files[0].parent)
        second.show()
        second.attach_engine(second_engine)
        qtbot.waitUntil(lambda: all(second_engine.snapshot().slots[k] is not None for k in "AB"), timeout=5000)
        assert {k: second_engine.snapshot().slots[k].num_hits for k in "AB"} == hits
        qtbot.waitUntil(lambda: second.slots.cards["A"].source.text() == gmd_files[0].name, timeout=5000)
        assert second.slots.cards["B"].source.text() == gmd_files[1].name
        # The last pattern is back at once (before the model): the app does not sample over it.
        assert second_engine.snapshot().model_state == "loading"
        assert second.loading_bar.isVisible()  # progress while the model loads
        qtbot.waitUntil(lambda: second_engine.snapshot().pattern_source == "last session", timeout=5000)
        assert second_engine.snapshot().pattern.num_hits == hits["B"]
        qtbot.waitUntil(lambda: second.grid.groove() is second_engine.snapshot().pattern, timeout=5000)
        qtbot.waitUntil(lambda: second_engine.snapshot().model_state == "ready", timeout=30000)
        qtbot.waitUntil(lambda: not second.loading_bar.isVisible(), timeout=5000)
        qtbot.wait(300)
        assert second_engine.snapshot().pattern_source == "last session"
        second.close()
    finally:
        second_engine.close()


def test_help_has_about_and_the_docs_and_save_is_ctrl_s(window):
    from gui.window_extras import DOCS

    menus = {m.title().replace("&", ""): m for m in window.menuBar().findChildren(type(window.menuBar().addMenu("x")))}
    help_texts = [a.text() for a in menus["Help"].actions()]
    assert "About GrooveBridge" in help_texts
    assert any("OSC" in t for t in help_texts) and any("README" in t for t in help_texts)
    for _text, path in DOCS:
        assert path.is_file(), path
    about = window.about_text()
    assert "Apache-2.0" in about and "Groove MIDI Dataset" in about and "CC BY 4.0" in about
    save = next(a for a in window.actions() if a.text().startswith("Save pattern"))
    assert QKeySequence("Ctrl+S") in save.shortcuts()


def test_record_and_count_in_are_visible_with_tooltips_and_arm_a_recording(window, qtbot, engine):
    card = window.slots.cards["A"]
    record, count_in = card.buttons["Record"], card.count_in
    assert record.isVisible() and count_in.isVisible()
    assert record.toolTip() and count_in.toolTip() and card.buttons["Capture"].toolTip()
    click(qtbot, window.transport.play_button)
    qtbot.waitUntil(lambda: engine.snapshot().playing, timeout=5000)
    count_in.setValue(1)
    click(qtbot, record)
    qtbot.waitUntil(lambda: engine.snapshot().capture == "count-in", timeout=5000)
    qtbot.waitUntil(lambda: card.source.text().startswith("count-in"), timeout=5000)


def test_models_tab_says_what_a_model_is_for_and_hides_the_developer_terms(window, qtbot):
    panel = window.models_panel
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() > 0, timeout=5000)
    default = panel.tree.topLevelItem(0).child(0)
    if default.text(1) != "shipped":
        pytest.skip("the shipped default model is not installed")
    panel.tree.setCurrentItem(default)
    text = panel.summary.text()
    assert "Groove generator" in text and "Groove MIDI Dataset" in text and "of the hits right" in text
    assert "free_bits" not in text and "enc_rnn_size" not in text
    assert not panel.details.isVisible()
    click(qtbot, panel.details_button)
    assert panel.details.isVisible() and "enc_rnn_size" in panel.details.toPlainText()
