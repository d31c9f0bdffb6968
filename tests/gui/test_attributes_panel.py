"""The Feel panel (pad + sliders) over a real Engine with the shipped default model: clicks,
drags, double-clicks and slider moves reach the engine; the layout fits 1280x720; a model
without attribute directions disables it with the reason."""

from __future__ import annotations

import pytest
from layout_helpers import rect_in
from PyQt6.QtCore import QEvent, QPointF, QRect, Qt
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import QApplication, QWidget

from models.net.attributes import ATTRIBUTE_NAMES


@pytest.fixture
def model_loader():
    """The shipped default model: it has the attribute directions."""
    from bridge.engine import default_model_loader

    return default_model_loader


@pytest.fixture
def win(qtbot, engine):
    from gui.main_window import MainWindow
    from gui.settings_store import SettingsStore
    from gui.theme import apply_theme

    apply_theme(QApplication.instance())
    w = MainWindow(SettingsStore())
    qtbot.addWidget(w)
    w.resize(1280, 720)
    w.show()
    w.attach_engine(engine)
    qtbot.waitUntil(lambda: engine.snapshot().pattern_source == "sample", timeout=120000)
    qtbot.waitUntil(lambda: w.attributes.pad.isEnabled(), timeout=5000)
    yield w
    w.close()


def attrs(w) -> dict[str, float]:
    return w.adapter.engine.snapshot().attributes


def move(widget: QWidget, pos: QPointF) -> None:
    """A mouse move with the left button held (what a drag delivers)."""
    ev = QMouseEvent(QEvent.Type.MouseMove, pos, widget.mapToGlobal(pos), Qt.MouseButton.NoButton,
                     Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def test_pad_click_drag_and_double_click_reach_the_engine(win, qtbot):
    pad = win.attributes.pad
    source = win.adapter.engine.snapshot().pattern
    qtbot.mouseClick(pad, Qt.MouseButton.LeftButton, pos=pad.point_of(1.0, -1.0).toPoint())
    qtbot.waitUntil(lambda: attrs(win)["density"] > 0.9 and attrs(win)["intensity"] < -0.9, timeout=5000)
    assert attrs(win)["density"] == pytest.approx(1.0, abs=0.051)
    assert attrs(win)["intensity"] == pytest.approx(-1.0, abs=0.051)
    assert pad.values() == (attrs(win)["density"], attrs(win)["intensity"])
    qtbot.waitUntil(lambda: "density" in win.adapter.engine.snapshot().pattern_source, timeout=30000)
    assert win.adapter.engine.snapshot().pattern is not source  # the playing pattern was re-decoded
    qtbot.waitUntil(lambda: win.grid.groove() is win.adapter.engine.snapshot().pattern, timeout=5000)

    # drag from the centre to the top-right corner (and beyond: clamped to +2, +2)
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=pad.point_of(0.0, 0.0).toPoint())
    for x in (0.5, 1.0, 1.5):
        move(pad, pad.point_of(x, x))
    corner = pad.point_of(2.0, 2.0)
    move(pad, QPointF(corner.x() + 30, corner.y() - 30))
    assert pad.dragging
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=corner.toPoint())
    qtbot.waitUntil(lambda: (attrs(win)["density"], attrs(win)["intensity"]) == (2.0, 2.0), timeout=5000)
    # the panel follows the engine's echoes, which arrive in order after the drag's own values
    qtbot.waitUntil(lambda: win.attributes.pad_label.text() == "density +2.00 · intensity +2.00", timeout=5000)
    qtbot.waitUntil(lambda: win.adapter.engine.snapshot().pattern_source.endswith("density +2, intensity +2"),
                    timeout=30000)

    qtbot.mouseDClick(pad, Qt.MouseButton.LeftButton, pos=pad.point_of(1.0, 1.0).toPoint())
    qtbot.waitUntil(lambda: (attrs(win)["density"], attrs(win)["intensity"]) == (0.0, 0.0), timeout=5000)
    assert pad.values() == (0.0, 0.0)
    qtbot.waitUntil(lambda: win.adapter.engine.snapshot().pattern_source.endswith("reconstructed"), timeout=30000)


def test_sliders_and_reset_reach_the_engine_and_follow_it(win, qtbot):
    panel = win.attributes
    assert set(panel.sliders) == set(ATTRIBUTE_NAMES) - {"density", "intensity"}
    swing = panel.sliders["swing"]
    swing.setFocus()
    qtbot.keyClick(swing, Qt.Key.Key_PageUp)  # +0.5
    qtbot.waitUntil(lambda: attrs(win)["swing"] == 0.5, timeout=5000)
    assert panel.value_labels["swing"].text() == "+0.50"
    fills = panel.sliders["fills"]
    fills.setValue(-150)
    qtbot.waitUntil(lambda: attrs(win)["fills"] == -1.5, timeout=5000)
    qtbot.waitUntil(lambda: "fills -1.5" in win.adapter.engine.snapshot().pattern_source, timeout=30000)
    qtbot.mouseDClick(swing, Qt.MouseButton.LeftButton)  # double-click: back to 0
    qtbot.waitUntil(lambda: attrs(win)["swing"] == 0.0, timeout=5000)
    assert swing.value() == 0

    win.adapter.engine.set_attribute("laid_back", -2.0)  # from elsewhere (OSC): the slider follows
    qtbot.waitUntil(lambda: panel.sliders["laid_back"].value() == -200, timeout=5000)
    assert panel.value_labels["laid_back"].text() == "-2.00"

    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(v == 0.0 for v in attrs(win).values()), timeout=5000)
    assert all(s.value() == 0 for s in panel.sliders.values()) and panel.pad.values() == (0.0, 0.0)
    for name, slider in panel.sliders.items():
        assert name.split("_")[0] in slider.toolTip().lower() or "ride" in slider.toolTip()
        assert "standard deviations" in slider.toolTip()


def test_feel_panel_fits_the_play_tab_at_1280x720(win):
    win.resize(1280, 720)
    QApplication.processEvents()
    play = win.tabs.widget(0)
    assert win.tabs.currentWidget() is play
    panel = win.attributes

    assert win.width() == 1280 and win.height() <= 744  # 744: the Train tab's minimum, not this panel's
    assert play.minimumSizeHint().height() <= 720 - 160  # the Play tab itself fits a 720-pixel window
    page = play.rect()
    feel = rect_in(panel, play)
    assert page.contains(feel), (page, feel)
    for other in (win.splitter, win.grid, win.slots, win.generate):
        assert not feel.intersects(rect_in(other, play)), type(other).__name__
    assert win.grid.width() >= 800
    children = [panel.pad, panel.pad_label, panel.reset_button]
    for name in panel.sliders:
        children += [panel.sliders[name], panel.value_labels[name]]
    rects = [rect_in(c, panel) for c in children]
    for c, r in zip(children, rects, strict=True):
        assert c.isVisible() and panel.rect().contains(r), (type(c).__name__, r, panel.rect())
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not a.intersects(b), (a, b)
    assert panel.pad.square().width() >= 140
    assert QRect(panel.pad.rect()).contains(panel.pad.square().toRect())
    assert all(s.width() >= 80 for s in panel.sliders.values())


def test_a_snapshot_older_than_the_users_move_does_not_move_the_control_back(win, qtbot, monkeypatch):
    """Clean-clone `make test` (session 20): after PageUp on Swing the engine had 0.5 while the
    label read +0.00: a snapshot taken before the engine applied the command set the slider back
    (and forth again a poll later: a flicker the user sees on a busy machine)."""
    from types import SimpleNamespace

    from gui.widgets import attributes_panel as ap

    panel = win.attributes
    qtbot.waitUntil(lambda: panel.available, timeout=30000)
    swing = panel.sliders["swing"]
    stale = win.adapter.engine.snapshot()  # swing 0, taken before the move

    def older(values: dict) -> SimpleNamespace:
        return SimpleNamespace(model_state="ready", attributes_available=True, model_name=stale.model_name,
                               attributes=values)

    swing.setFocus()
    qtbot.keyClick(swing, Qt.Key.Key_PageUp)
    panel.update_state(older({}))  # the older snapshot arrives after the move
    assert swing.value() == 50 and panel.value_labels["swing"].text() == "+0.50"
    panel.pad.set_values(0.5, -0.5)
    panel._send_pad(0.5, -0.5)
    panel.update_state(older({"swing": 0.5}))  # swing confirmed, the pad's values not yet
    assert panel.pad.values() == (0.5, -0.5) and swing.value() == 50
    panel.update_state(older({"swing": 0.5, "density": 0.5, "intensity": -0.5}))  # confirmed
    # a value the engine never reports (refused, lost) gives way after PENDING_SEC
    panel.sliders["fills"].setValue(-100)
    monkeypatch.setattr(ap, "PENDING_SEC", 0.0)
    panel._expect({"fills": -1.0})
    panel.update_state(older({"swing": 0.5, "density": 0.5, "intensity": -0.5}))
    assert panel.sliders["fills"].value() == 0 and panel.value_labels["fills"].text() == "+0.00"
