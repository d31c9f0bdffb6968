"""Issue 27: every window size from 1280x720 up lays out without overlap (and the Play tab down
to 900x600): geometry assertions on the real window, every tab, with a real engine and model."""

from __future__ import annotations

import pytest

from tests.gui.layout_helpers import fit, layout_problems

SIZES = ((1280, 720), (1366, 768), (1920, 1080))


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_no_widget_overlaps_or_leaves_the_window_on_any_tab(window, qtbot, width, height):
    fit(window, width, height)
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        qtbot.wait(30)
        problems = layout_problems(window)
        assert not problems, f"{window.tabs.tabText(i)} at {width}x{height}:\n" + "\n".join(problems[:20])
    # The Play tab shows everything at once from 1280x720 up: no scrolling needed.
    window.tabs.setCurrentIndex(0)
    qtbot.wait(30)
    area = window.tabs.widget(0)
    bars = [getattr(area, f"{d}ScrollBar")() for d in ("vertical", "horizontal") if hasattr(area, f"{d}ScrollBar")]
    assert not any(b.isVisible() for b in bars)


def test_train_tab_at_1366x700_keeps_its_form_apart(window, qtbot):
    fit(window, 1366, 700)
    window.tabs.setCurrentWidget(window.train_panel)
    qtbot.wait(30)
    assert not layout_problems(window)
    tp = window.train_panel
    buttons = tp.start_button.geometry().united(tp.resume_button.geometry())
    assert not buttons.intersects(tp.train_bar.geometry())


def test_play_tab_at_900x600_scrolls_instead_of_overlapping(window, qtbot):
    fit(window, 900, 600)
    window.tabs.setCurrentIndex(0)
    qtbot.wait(30)
    assert not layout_problems(window)
    assert window.transport.play_button.isVisible()


def test_a_long_model_name_never_sets_the_window_minimum(window, qtbot):
    fit(window, 1280, 720)
    window.transport.model_label.setText("/home/someone/.local/share/groovebridge/runs/" + "x" * 300 + "/checkpoints/ckpt-00012000")
    qtbot.wait(30)
    assert window.minimumSizeHint().width() <= 1280
    fit(window, 1280, 720)
    assert not layout_problems(window)


def test_the_geometry_check_sees_an_overlap_and_a_widget_past_the_edge(qtbot):
    from PyQt6.QtWidgets import QPushButton, QWidget

    top = QWidget()
    qtbot.addWidget(top)
    top.resize(200, 100)
    a, b, c = QPushButton("a", top), QPushButton("b", top), QPushButton("c", top)
    a.setGeometry(0, 0, 80, 30)
    b.setGeometry(60, 10, 80, 30)  # over a
    c.setGeometry(150, 80, 80, 30)  # past the right and bottom edges
    top.show()
    problems = layout_problems(top)
    assert any("(a)" in p and "overlaps" in p and "(b)" in p for p in problems), problems
    assert any("(c)" in p and "leaves" in p for p in problems), problems
    b.move(100, 0)
    c.move(100, 50)
    assert layout_problems(top) == []
