"""Geometry helpers for the app's layout tests."""

from __future__ import annotations

from PyQt6.QtCore import QPoint, QRect
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
