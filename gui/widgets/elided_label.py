"""A label that never asks for more width than it is given: long text is elided in the middle
(the whole text in the tooltip). For paths and names in tool bars, where a long checkpoint path
must not widen the window."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import QPainter, QPaintEvent
from PyQt6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None, max_width: int = 320,
                 tip_prefix: str = "", min_width: int = 48, shorten: Callable[[str], str] | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.max_width = max_width
        self.min_width = min_width
        self.tip_prefix = tip_prefix
        self.shorten = shorten or (lambda t: t)  # what is shown (the tooltip keeps the whole text)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str | None) -> None:  # noqa: N802 - Qt's name
        self._full = text or ""
        super().setText(self.shorten(self._full))
        self.setToolTip("\n".join(t for t in (self.tip_prefix, self._full) if t))
        self.updateGeometry()

    def full_text(self) -> str:
        return self._full

    def shown_text(self) -> str:
        return self.fontMetrics().elidedText(self.shorten(self._full), Qt.TextElideMode.ElideMiddle, max(self.width(), 1))

    def sizeHint(self) -> QSize:  # noqa: N802
        s = super().sizeHint()
        return QSize(min(s.width(), self.max_width), s.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        s = super().minimumSizeHint()
        return QSize(min(s.width(), self.min_width), s.height())

    def paintEvent(self, event: QPaintEvent | None) -> None:  # noqa: N802
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawText(self.contentsRect(), int(self.alignment()), self.shown_text())
        p.end()
