"""Geometry helpers for the app's layout tests."""

from __future__ import annotations

from PyQt6.QtCore import QPoint, QRect, Qt
from PyQt6.QtWidgets import QApplication, QWidget


def rect_in(w: QWidget, ref: QWidget) -> QRect:
    """``w``'s rectangle in ``ref``'s coordinates."""
    return QRect(w.mapTo(ref, QPoint(0, 0)), w.size())


def play_page_at(window, width: int = 1280, height: int = 720) -> tuple[QWidget, QRect]:
    """Resize the main window, check it took the width and shows the Play tab; (tab, its rect)."""
    window.resize(width, height)
    QApplication.processEvents()
    assert window.width() == width
    play = window.tabs.widget(0)
    assert window.tabs.currentWidget() is play
    return play, play.rect()


def _shown_children(w: QWidget) -> list[QWidget]:
    return [c for c in w.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)
            if c.isVisible() and not c.isWindow() and c.width() > 0 and c.height() > 0]


def _clip_of(w: QWidget, window: QWidget) -> QRect:
    """The part of ``window`` where ``w`` can be seen: a scroll area's content may extend past
    the window (it scrolls), so widgets inside one are held to the content instead."""
    from PyQt6.QtWidgets import QAbstractScrollArea

    p: QWidget | None = w
    while p is not None and p is not window:
        gp = p.parentWidget()
        if gp is not None and isinstance(gp.parentWidget(), QAbstractScrollArea) and gp is gp.parentWidget().viewport():  # type: ignore[union-attr]
            return rect_in(p, window)
        p = gp
    return window.rect()


def layout_problems(window: QWidget, root: QWidget | None = None) -> list[str]:
    """Every visible widget under ``root`` that overlaps a visible sibling or sticks out of the
    window (or out of its scroll area's content). Empty when the layout is clean."""
    problems: list[str] = []
    stack = [root or window]
    while stack:
        parent = stack.pop()
        kids = _shown_children(parent)
        rects = [(k, rect_in(k, window)) for k in kids]
        for i, (a, ra) in enumerate(rects):
            for b, rb in rects[i + 1:]:
                if ra.intersects(rb):
                    problems.append(f"{_name(a)} {_r(ra)} overlaps {_name(b)} {_r(rb)} in {_name(parent)}")
            clip = _clip_of(a, window)
            if not clip.contains(ra):
                problems.append(f"{_name(a)} {_r(ra)} leaves {_r(clip)}")
        stack.extend(kids)
    return problems


def _name(w: QWidget) -> str:
    text = getattr(w, "text", None)
    label = text() if callable(text) else ""
    return f"{type(w).__name__}{'(' + label[:24] + ')' if isinstance(label, str) and label else ''}{'#' + w.objectName() if w.objectName() else ''}"


def _r(r: QRect) -> str:
    return f"[{r.x()},{r.y()} {r.width()}x{r.height()}]"


def fit(window, width: int, height: int) -> None:
    """Resize the window like a user (or a laptop screen) would; it must take the size."""
    window.resize(width, height)
    for _ in range(3):
        QApplication.processEvents()
    assert (window.width(), window.height()) == (width, height), (
        f"asked for {width}x{height}, the window is {window.width()}x{window.height()}"
        f" (its minimum: {window.minimumSizeHint().width()}x{window.minimumSizeHint().height()})")
