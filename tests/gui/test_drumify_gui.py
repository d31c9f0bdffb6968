"""Drumify and the capture input choice in the app, with real widgets (offscreen) over the real
Engine: the slot's Drumify button reaches the engine (the real shipped Drumify model plays drums
from the rhythm in the slot), the Drums / Rhythm choice round-trips, and both lay out without
overlap at 1280x720."""

from __future__ import annotations

import numpy as np
from layout_helpers import play_page_at, rect_in
from PyQt6.QtCore import Qt

from models.groove import Groove

TAPS = sorted(set(range(0, 64, 2)) | {s + o for s in range(0, 64, 16) for o in (3, 7)})


def kick_rhythm() -> Groove:
    g = Groove.empty(64)
    h, v = g.hits.copy(), g.velocities.copy()
    h[TAPS, 0], v[TAPS, 0] = 1.0, 100 / 127
    return Groove(h, v, g.offsets.copy(), g.bpm)


def test_drumify_button_on_each_slot_reaches_the_engine(window, engine, qtbot):
    card = window.slots.cards["A"]
    button = card.buttons["Drumify"]
    assert "Drumify slot A" in button.toolTip() and "tap" in button.toolTip()
    assert "Drumify slot B" in window.slots.cards["B"].buttons["Drumify"].toolTip()
    errors: list[str] = []
    window.adapter.error.connect(errors.append)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # slot A empty: the engine's one line
    qtbot.waitUntil(lambda: any("slot A is empty" in e for e in errors), timeout=5000)

    engine.load_slot("A", kick_rhythm())
    qtbot.waitUntil(lambda: card.thumb.groove() is not None, timeout=5000)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: engine.snapshot().pattern_source == "drumify slot A", timeout=60000)
    pattern = engine.snapshot().pattern
    assert int(pattern.hits.any(axis=0).sum()) >= 3  # drums from a kick-only rhythm
    taps = kick_rhythm().hits.any(axis=1)
    assert (taps & pattern.hits.any(axis=1)).sum() / taps.sum() >= 0.7
    qtbot.waitUntil(lambda: window.grid.groove() is engine.snapshot().pattern, timeout=5000)
    assert np.array_equal(window.grid.groove().hits, pattern.hits)  # the pattern view shows it


def test_input_mode_choice_round_trips(window, engine, qtbot):
    combo = window.slots.input_mode
    assert [combo.itemText(i) for i in range(combo.count())] == ["Drums", "Rhythm"]
    assert combo.currentText() == "Drums" and engine.snapshot().input_mode == "drums"
    assert "Rhythm" in combo.toolTip() and "Drumify" in combo.toolTip()
    combo.setCurrentIndex(1)  # the user picks Rhythm
    qtbot.waitUntil(lambda: engine.snapshot().input_mode == "rhythm", timeout=5000)
    assert engine.capture_buffer.mode == "rhythm"
    engine.set_input_mode("drums")  # changed elsewhere (OSC): the choice follows
    qtbot.waitUntil(lambda: combo.currentText() == "Drums", timeout=5000)
    engine.set_input_mode("rhythm")
    qtbot.waitUntil(lambda: combo.currentText() == "Rhythm", timeout=5000)
    window.save_settings()  # the choice is kept for the next start
    assert window.store.get("engine.input_mode") == "rhythm"
    assert window.engine_overrides()["input_mode"] == "rhythm"


def test_drumify_and_input_mode_lay_out_at_1280x720(window):
    play, page = play_page_at(window)
    slots = window.slots
    combo_rect = rect_in(slots.input_mode, play)
    assert slots.input_mode.isVisible() and page.contains(combo_rect), (combo_rect, page)
    assert slots.input_mode.width() >= slots.input_mode.minimumSizeHint().width()
    for card in slots.cards.values():
        assert not combo_rect.intersects(rect_in(card, play)), card.slot
        buttons = list(card.buttons.values())
        assert [b.text() for b in buttons][-1] == "Drumify"
        rects = [rect_in(b, card) for b in buttons]
        for b, r in zip(buttons, rects, strict=True):
            assert b.isVisible() and card.rect().contains(r), (b.text(), r, card.rect())
            assert b.width() >= b.minimumSizeHint().width(), b.text()  # the label is not cut
        for i, a in enumerate(rects):
            for b in rects[i + 1:]:
                assert not a.intersects(b), (a, b)
    for other in (slots.swap_button, slots.morph):
        assert not combo_rect.intersects(rect_in(other, play)), type(other).__name__
    assert not rect_in(slots, play).intersects(rect_in(window.attributes, play))
