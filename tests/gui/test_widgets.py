"""Widgets on their own: the pattern grid's drawing and editing, drag-out mime, settings store."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtGui import QColor, QWheelEvent

from gui.export import midi_mime
from gui.settings_store import SettingsStore
from gui.widgets.pattern_grid import PatternGrid, hit_color
from models.groove import Groove
from models.midi.files import read_midi


def one_hit(step: int, row: int, velocity: float, offset: float) -> Groove:
    g = Groove.empty(64)
    h, v, o = g.hits.copy(), g.velocities.copy(), g.offsets.copy()
    h[step, row], v[step, row], o[step, row] = 1.0, velocity, offset
    return Groove(h, v, o, 120.0)


def close(a: QColor, b: QColor, tol: int = 40) -> bool:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue()) < tol


def test_hits_are_drawn_off_grid_by_their_offset(qtbot):
    grid = PatternGrid()
    qtbot.addWidget(grid)
    grid.resize(1400, 320)
    grid.set_groove(one_hit(8, 0, 1.0, 0.8))  # early by 0.4 of a step: drawn to the left
    img = grid.grab().toImage()
    ratio = img.devicePixelRatio()
    cell = grid.cell_rect(8, 0)
    y = cell.center().y()

    def px(x: float) -> QColor:
        return img.pixelColor(QPoint(int(x * ratio), int(y * ratio)))

    color = hit_color(0, 1.0)
    assert close(px(cell.left() - 0.1 * cell.width()), color)  # into the previous step
    assert not close(px(cell.right() - 0.1 * cell.width()), color)  # its own right end is empty
    grid.set_groove(one_hit(8, 0, 1.0, -0.8))  # late: drawn to the right
    img = grid.grab().toImage()
    assert close(img.pixelColor(QPoint(int((cell.right() + 0.1 * cell.width()) * ratio), int(y * ratio))), color)


def test_velocity_sets_the_shade():
    loud, soft = hit_color(1, 1.0), hit_color(1, 0.2)
    assert loud.valueF() > soft.valueF() + 0.4
    assert hit_color(1, 1.0, muted=True).saturationF() == 0.0


def test_click_toggles_and_emits_an_edited_groove(qtbot):
    grid = PatternGrid()
    qtbot.addWidget(grid)
    grid.resize(1200, 300)
    grid.show()
    with qtbot.waitSignal(grid.patternEdited) as sig:
        qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_rect(12, 4).center().toPoint())
    g = sig.args[0]
    assert g.hits[12, 4] == 1.0 and g.num_hits == 1
    with qtbot.waitSignal(grid.patternEdited) as sig:
        qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_rect(12, 4).center().toPoint())
    assert sig.args[0].num_hits == 0


def test_wheel_over_a_hit_changes_its_velocity(qtbot):
    grid = PatternGrid()
    qtbot.addWidget(grid)
    grid.resize(1200, 300)
    grid.set_groove(one_hit(3, 2, 0.5, 0.0))
    pos = grid.cell_rect(3, 2).center()
    ev = QWheelEvent(pos, QPointF(grid.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    with qtbot.waitSignal(grid.patternEdited) as sig:
        grid.wheelEvent(ev)
    assert sig.args[0].velocities[3, 2] == np.float32(0.55)


def test_mute_box_emits(qtbot):
    grid = PatternGrid()
    qtbot.addWidget(grid)
    grid.resize(1200, 300)
    with qtbot.waitSignal(grid.muteToggled) as sig:
        qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.mute_rect(8).center().toPoint())
    assert sig.args == [8, True]
    assert "Ride" in grid._tooltip_at(grid.mute_rect(8).center())


def test_drag_out_mime_is_a_readable_midi_file(qtbot):
    g = one_hit(0, 0, 0.9, 0.5)  # early on step 0: written at the end of the loop
    mime = midi_mime(g, 100.0, "gm", "my groove/1")
    urls = mime.urls()
    assert len(urls) == 1 and urls[0].isLocalFile()
    back = read_midi(urls[0].toLocalFile(), drum_map="gm")
    assert back.groove.num_hits == 1 and back.bpm == 100.0
    assert abs(float(back.groove.offsets[0, 0]) - 0.5) < 0.02


def test_settings_store_roundtrip_and_damaged_file(tmp_path):
    path = tmp_path / "app.toml"
    s = SettingsStore(path)
    s.set("tab", 2)
    s.set_bytes("geo", b"\x00\x01\xff")
    assert s.save() is None
    s2 = SettingsStore(path)
    assert s2.get("tab", 0) == 2 and s2.get_bytes("geo") == b"\x00\x01\xff"
    assert s2.get("tab", "x") == "x"  # wrong type falls back to the default
    path.write_text("this is [not toml", encoding="utf-8")
    s3 = SettingsStore(path)
    assert s3.get("tab") is None and s3.load_error and "unreadable" in s3.load_error


def test_models_panel_describes_config_and_evaluation(tmp_path):
    import json

    from gui.widgets.models_panel import describe

    run = tmp_path / "run"
    ck = run / "checkpoints" / "ckpt-00000200"
    ck.mkdir(parents=True)
    (ck / "model.safetensors").write_bytes(b"")
    (ck / "config.json").write_text(json.dumps({"name": "groovae_tiny", "z_size": 16}), encoding="utf-8")
    (ck / "state.json").write_text(json.dumps({"step": 200, "val_loss": 12.5}), encoding="utf-8")
    (run / "checkpoints" / "best").write_text("ckpt-00000200\n", encoding="utf-8")
    (run / "eval_metrics.csv").write_text("time_unix,step,checkpoint,loss,r_loss\n1,200,x,11.25,10.5\n", encoding="utf-8")
    text = describe(run, "my run")
    assert "groovae_tiny" in text and "z_size" in text
    assert "val_loss        12.5000" in text
    assert "evaluation (step 200)" in text and "11.2500" in text
    assert "(no checkpoint found)" in describe(None, "missing")


def test_slot_drop_accepts_only_midi_files(tmp_path):
    from PyQt6.QtCore import QMimeData, QUrl

    from gui.widgets.slots import midi_paths

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "a.txt")), QUrl.fromLocalFile(str(tmp_path / "b.MID")),
                  QUrl("https://example.com/c.mid")])
    assert midi_paths(mime) == [tmp_path / "b.MID"]
    assert midi_paths(QMimeData()) == []
