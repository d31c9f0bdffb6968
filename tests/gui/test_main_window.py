"""The main window over a real Engine: opens, samples, morphs A<->B, mutes, edits, exports."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import QMimeData, QPointF, Qt, QUrl
from PyQt6.QtGui import QDropEvent

from bridge.engine.api import EngineCommands
from models.midi.files import read_midi


def snap(window):
    return window.adapter.engine.snapshot()


def test_window_opens_with_model_ready(window):
    s = snap(window)
    assert s.model_state == "ready"
    assert window.isVisible()
    assert s.model_name in window.transport.model_label.text()
    # The engine auto-samples once the model is ready: the view shows the engine's pattern.
    assert s.pattern.num_hits > 0
    assert window.grid.groove() is s.pattern


def test_sample_button_puts_a_new_pattern_in_view_and_engine(window, qtbot):
    before = snap(window).variations
    window.generate.num_variations.setValue(3)
    qtbot.mouseClick(window.generate.sample_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: snap(window).variations is not before and len(snap(window).variations) == 3, timeout=20000)
    qtbot.waitUntil(lambda: window.grid.groove() is snap(window).pattern, timeout=5000)
    s = snap(window)
    assert s.pattern is s.variations[0]
    assert s.pattern.num_hits > 0
    qtbot.waitUntil(lambda: [t.groove() for t in window.generate.thumbs[:3]] == list(s.variations), timeout=5000)
    # Clicking a variation thumbnail auditions it.
    qtbot.mouseClick(window.generate.thumbs[2], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: snap(window).pattern is s.variations[2], timeout=5000)


def test_gmd_files_into_a_and_b_then_morph_changes_engine_pattern(window, qtbot, gmd_files):
    window.slots.cards["A"].load_file(gmd_files[0])
    # B by drag and drop of the file onto the slot card.
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(gmd_files[1]))])
    card_b = window.slots.cards["B"]
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    card_b.dropEvent(drop)
    qtbot.waitUntil(lambda: all(snap(window).slots[k] is not None for k in "AB"), timeout=10000)
    a, b = snap(window).slots["A"], snap(window).slots["B"]
    assert not a.allclose(b)
    qtbot.waitUntil(lambda: window.slots.cards["B"].thumb.groove() is b, timeout=5000)
    assert window.slots.morph.isEnabled()
    before = snap(window).pattern
    window.slots.morph.set_position(0.5)
    qtbot.waitUntil(lambda: snap(window).pattern_source.startswith("morph"), timeout=20000)
    s = snap(window)
    assert s.interpolation == pytest.approx(0.5, abs=1e-3)
    assert not s.pattern.allclose(before) and s.pattern.num_hits > 0
    qtbot.waitUntil(lambda: window.grid.groove() is snap(window).pattern, timeout=5000)  # in view
    first = s.pattern
    window.slots.morph.set_position(1.0)
    qtbot.waitUntil(lambda: snap(window).pattern_source == "morph 1.00", timeout=20000)
    assert not snap(window).pattern.allclose(first)


def test_mute_box_click_reaches_engine(window, qtbot):
    grid = window.grid
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.mute_rect(1).center().toPoint())
    qtbot.waitUntil(lambda: snap(window).mutes[1], timeout=5000)
    assert grid.mutes()[1]
    assert not any(m for i, m in enumerate(snap(window).mutes) if i != 1)
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.mute_rect(1).center().toPoint())
    qtbot.waitUntil(lambda: not snap(window).mutes[1], timeout=5000)


def test_clicking_a_cell_toggles_a_hit_in_the_engine(window, qtbot):
    grid = window.grid
    # Let start-up settle (model ready, its first pattern shown), then edit what the view shows.
    qtbot.waitUntil(lambda: snap(window).model_state == "ready", timeout=20000)
    qtbot.waitUntil(lambda: grid.groove() is snap(window).pattern, timeout=5000)
    pattern = grid.groove()
    was_hit = bool(pattern.hits[5, 0] > 0.5)
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_rect(5, 0).center().toPoint())
    qtbot.waitUntil(lambda: snap(window).pattern_source == "edit", timeout=5000)
    edited = snap(window).pattern
    assert bool(edited.hits[5, 0] > 0.5) is not was_hit
    changed = np.argwhere(edited.hits != pattern.hits)
    assert changed.tolist() == [[5, 0]]


def test_export_writes_valid_midi(window, tmp_path, qtbot):
    s = snap(window)
    out = window.export_pattern_to(tmp_path / "pattern")
    assert out is not None and out.suffix == ".mid"
    back = read_midi(out, drum_map="gm")
    assert back.groove.num_hits == s.pattern.num_hits
    assert back.bpm == pytest.approx(s.bpm, abs=0.01)
    files = window.export_variations_to(tmp_path / "vars")
    assert len(files) == len(s.variations) > 0
    for f, g in zip(files, s.variations, strict=True):
        assert read_midi(f, drum_map="gm").groove.num_hits == g.num_hits


def test_engine_errors_are_shown_not_raised(window, qtbot):
    window.adapter.command(EngineCommands.set_tempo, 5.0)  # outside 20-400: the engine reports an error
    qtbot.waitUntil(lambda: len(window.errors) > 0, timeout=5000)
    assert "5" in window.errors[-1]
    assert window.error_label.text().startswith("⚠")
    window.adapter.command(EngineCommands.play_slot, "A")  # empty slot
    qtbot.waitUntil(lambda: any("empty" in e for e in window.errors), timeout=5000)


def test_play_shortcut_and_playhead(window, qtbot):
    window.play_action.trigger()
    qtbot.waitUntil(lambda: snap(window).playing, timeout=5000)
    qtbot.waitUntil(lambda: window.grid._playhead_steps is not None, timeout=5000)
    assert window.transport.play_button.isChecked()
    window.play_action.trigger()
    qtbot.waitUntil(lambda: not snap(window).playing, timeout=5000)
    assert not window.transport.play_button.isChecked()


def test_layout_and_settings_persist(qtbot, engine, tmp_path):
    from gui.main_window import MainWindow
    from gui.settings_store import SettingsStore

    store_path = tmp_path / "app.toml"
    w = MainWindow(SettingsStore(store_path), engine)
    qtbot.addWidget(w)
    w.show()
    w.resize(w.minimumSizeHint().width(), 700)
    w.tabs.setCurrentIndex(2)
    w.train_panel.steps_spin.setValue(1234)
    size = (w.width(), w.height())
    w.close()
    assert store_path.is_file()
    w2 = MainWindow(SettingsStore(store_path))
    qtbot.addWidget(w2)
    assert w2.tabs.currentIndex() == 2
    assert w2.train_panel.steps_spin.value() == 1234
    assert w2.store.get_bytes("window_geometry")
    assert w2.height() == size[1]  # (restoreGeometry also keeps the window on the small offscreen screen)
    assert w2.engine_overrides()["bpm"] == pytest.approx(engine.snapshot().bpm)


def test_sample_into_slot_fills_it(window, qtbot):
    card = window.slots.cards["B"]
    qtbot.mouseClick(card.buttons["Sample"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: snap(window).slots["B"] is not None, timeout=20000)
    assert snap(window).slots["B"].num_hits > 0
    qtbot.waitUntil(lambda: card.thumb.groove() is snap(window).slots["B"], timeout=5000)
    assert card.source.text() == "sampled"


def test_keyboard_space_plays_and_s_samples(window, qtbot):
    window.activateWindow()
    window.tabs.setCurrentIndex(0)
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: snap(window).playing, timeout=5000)
    before = snap(window).variations
    qtbot.keyClick(window.grid, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: snap(window).variations is not before, timeout=20000)
    qtbot.keyClick(window.grid, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not snap(window).playing, timeout=5000)


def test_every_control_has_a_tooltip(window):
    from PyQt6.QtWidgets import (
        QAbstractButton,
        QAbstractSlider,
        QAbstractSpinBox,
        QComboBox,
        QLineEdit,
    )

    missing = []
    for cls in (QAbstractButton, QAbstractSlider, QAbstractSpinBox, QComboBox, QLineEdit):
        for w in window.findChildren(cls):
            if type(w).__name__ in ("QTabBar", "QToolButton") or w.parent().__class__.__name__ in ("QTabBar",):
                continue
            if w.objectName().startswith("qt_") or w.parent().objectName().startswith("qt_"):
                continue
            if not w.toolTip():
                missing.append(f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r} in {type(w.parent()).__name__}")
    assert not missing, missing


def test_models_panel_lists_shipped_models_and_switches(window, qtbot):
    panel = window.models_panel
    window.tabs.setCurrentWidget(panel)  # filled when first shown
    shipped = panel.tree.topLevelItem(0)
    # Every model the package ships (trial B3: Drumify was missing from a hand-written list).
    from models.generate import PRETRAINED_DIR, SHIPPED

    keys = [shipped.child(i).data(0, Qt.ItemDataRole.UserRole) for i in range(shipped.childCount())]
    assert keys[0] == "default" and sorted(keys) == sorted(SHIPPED) and "drumify" in keys
    assert all((PRETRAINED_DIR / k / "config.json").is_file() for k in keys)
    titles = [shipped.child(i).text(0) for i in range(shipped.childCount())]
    assert titles == ["Default", "Drumify", "Humanize"]
    panel.tree.setCurrentItem(shipped.child(titles.index("Humanize")))
    assert "Humanize" in panel.details.toPlainText()
    panel.tree.setCurrentItem(shipped.child(titles.index("Drumify")))
    assert "Drumify" in panel.details.toPlainText() and "not installed" not in shipped.child(1).text(1)
    panel.tree.setCurrentItem(shipped.child(0))
    panel.use_selected()
    qtbot.waitUntil(lambda: snap(window).model_state == "ready" and snap(window).model_name == "default", timeout=30000)


@pytest.mark.slow
def test_capture_takes_what_was_played_on_the_input(window, qtbot):
    from PyQt6.QtCore import QTimer

    engine = window.adapter.engine
    midi = engine._midi  # the recording stand-in: inject() plays into the engine's input
    engine.set_tempo(300.0)
    window.play_action.trigger()
    qtbot.waitUntil(lambda: snap(window).playing and snap(window).bpm == 300.0, timeout=5000)
    timer = QTimer()
    timer.timeout.connect(lambda: midi.inject([0x99, 38, 100]))  # GM snare, channel 10
    timer.start(100)
    start_bar = snap(window).bar
    qtbot.waitUntil(lambda: snap(window).bar >= start_bar + 2, timeout=15000)
    timer.stop()
    qtbot.mouseClick(window.slots.cards["A"].buttons["Capture"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: snap(window).slots["A"] is not None, timeout=5000)
    captured = snap(window).slots["A"]
    assert captured.num_hits > 3
    assert set(np.nonzero(captured.hits)[1].tolist()) == {1}  # snare only
    qtbot.waitUntil(lambda: window.slots.cards["A"].source.text().startswith("captured"), timeout=5000)
    window.play_action.trigger()


def test_osc_settings_apply_live_and_control_the_engine(window, qtbot):
    import socket

    from pythonosc.udp_client import SimpleUDPClient

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    io = window.io_panel
    io.osc_port.setValue(port)
    io.osc_out_port.setValue(0)
    qtbot.mouseClick(io.osc_apply, Qt.MouseButton.LeftButton)
    assert window.osc_server is not None and window.osc_server.address == ("127.0.0.1", port)
    assert f":{port}" in io.osc_status.text()
    SimpleUDPClient("127.0.0.1", port).send_message("/groovebridge/tempo", 133.0)
    qtbot.waitUntil(lambda: abs(snap(window).bpm - 133.0) < 1e-6, timeout=5000)
    qtbot.waitUntil(lambda: abs(window.transport.tempo.value() - 133.0) < 1e-6, timeout=5000)
    # A port that is taken is a readable error, and the app keeps going.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        io.osc_port.setValue(blocker.getsockname()[1])
        assert window.apply_osc(io.osc_settings()) is False
    assert "OSC" in window.errors[-1] and window.osc_server is None


def test_row_labels_follow_the_output_drum_map(window, qtbot):
    io = window.io_panel
    i = io.output_map.findData("reduced")
    io.output_map.setCurrentIndex(i)
    io.output_map.activated.emit(i)
    qtbot.waitUntil(lambda: snap(window).output_drum_map == "reduced", timeout=5000)
    qtbot.waitUntil(lambda: window.grid._drum_map.name == "reduced", timeout=5000)
    assert "output note 45" in window.grid._tooltip_at(window.grid.mute_rect(4).center())  # low tom


def test_loading_a_broken_midi_file_shows_why(window, qtbot, tmp_path):
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd garbage")
    window.slots.cards["A"].load_file(bad)
    qtbot.waitUntil(lambda: len(window.errors) > 0, timeout=5000)
    assert window.errors[-1] == "broken.mid: not a MIDI file (no MThd header)"
    assert snap(window).slots["A"] is None


def test_models_panel_shows_the_device_and_the_choice_reaches_the_engine(window, qtbot):
    import torch

    panel = window.models_panel
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: snap(window).model_state == "ready", timeout=30000)
    qtbot.waitUntil(lambda: panel.device_label.text() == f"in use: {snap(window).device}", timeout=5000)
    assert snap(window).device == "cpu" and panel.device_combo.currentText() == "auto"
    cuda = panel.device_combo.model().item(panel.device_combo.findText("cuda"))
    assert cuda.isEnabled() == torch.cuda.is_available()
    if not torch.cuda.is_available():
        assert "not available" in cuda.toolTip()
    index = panel.device_combo.findText("cpu")
    panel.device_combo.setCurrentIndex(index)
    panel.device_combo.activated.emit(index)  # as a user's pick
    qtbot.waitUntil(lambda: snap(window).device_preference == "cpu" and snap(window).model_state == "ready",
                    timeout=30000)
    assert snap(window).device == "cpu"
    qtbot.waitUntil(lambda: panel.device_label.text() == "in use: cpu", timeout=5000)
