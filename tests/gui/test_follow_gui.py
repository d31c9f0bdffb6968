"""The Follow group on the Play tab, real widgets (offscreen) over the real Engine (the tests'
tiny model): the toggle, source, every and amount reach the engine, the engine's values (set
elsewhere, e.g. over OSC) are shown back, and the group lays out without overlap at 1280x720."""

from __future__ import annotations

from layout_helpers import play_page_at, rect_in
from PyQt6.QtCore import Qt


def test_follow_toggle_and_controls_reach_the_engine(window, engine, qtbot):
    box = window.follow
    assert not box.toggle.isChecked() and engine.snapshot().follow is False
    qtbot.mouseClick(box.toggle, Qt.MouseButton.LeftButton)  # the user switches Follow on
    qtbot.waitUntil(lambda: engine.snapshot().follow is True, timeout=5000)
    box.source.setCurrentIndex(1)
    qtbot.waitUntil(lambda: engine.snapshot().follow_source == "rhythm", timeout=5000)
    box.every.setCurrentIndex(2)
    qtbot.waitUntil(lambda: engine.snapshot().follow_every == 4, timeout=5000)
    box.amount.setValue(80)
    qtbot.waitUntil(lambda: engine.snapshot().follow_amount == 0.8, timeout=5000)
    assert box.amount_label.text() == "80%"

    engine.set_follow(False)  # changed elsewhere (OSC): the group follows
    engine.set_follow_every(2)
    engine.set_follow_amount(0.25)
    qtbot.waitUntil(lambda: not box.toggle.isChecked() and box.every.currentData() == 2, timeout=5000)
    qtbot.waitUntil(lambda: box.amount.value() == 25, timeout=5000)
    assert engine.snapshot().follow is False  # showing it did not send it back
    qtbot.mouseClick(box.toggle, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: engine.snapshot().follow is True, timeout=5000)


def test_follow_group_lays_out_at_1280x720(window):
    play, page = play_page_at(window)
    box = window.follow
    box_rect = rect_in(box, play)
    assert box.isVisible() and page.contains(box_rect), (box_rect, page)
    controls = [box.toggle, box.source, box.every, box.amount, box.amount_label]
    rects = [rect_in(w, box) for w in controls]
    for w, r in zip(controls, rects, strict=True):
        assert w.isVisible() and box.rect().contains(r), (type(w).__name__, r, box.rect())
        assert w.width() >= w.minimumSizeHint().width(), type(w).__name__  # nothing cut
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not a.intersects(b), (a, b)
    assert box.amount.width() >= 60
    for other in (window.generate, window.slots, window.attributes, window.grid):
        assert not box_rect.intersects(rect_in(other, play)), type(other).__name__
