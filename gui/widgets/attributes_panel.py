"""Feel: the musical attribute controls of the Play tab (``Engine.set_attribute``).

A 2-D pad for the two a drummer reaches for first, density (x: sparse <-> busy) and intensity
(y: soft <-> loud), and a slider for each of the other five; all in standard deviations, -2..2.
Dragging or clicking the pad sets both; a double-click on the pad or a slider sets it back to 0,
and Reset sets all back to 0. The engine re-decodes the playing pattern from its source and
swaps it in at the next bar line. Without attribute directions in the loaded model (the
humanize model, a run without ``groovebridge fit-prior``) the panel is disabled and says why.
"""

from __future__ import annotations

import time
from typing import Any

from PyQt6.QtCore import QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PyQt6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from bridge.engine.api import EngineCommands
from gui import theme
from gui.engine_adapter import EngineAdapter
from models.net.attributes import ATTRIBUTE_HELP, ATTRIBUTE_LIMIT, ATTRIBUTE_NAMES

PAD_X, PAD_Y = "density", "intensity"
SLIDER_NAMES = tuple(n for n in ATTRIBUTE_NAMES if n not in (PAD_X, PAD_Y))
LABELS = {"density": "Density", "intensity": "Intensity", "laid_back": "Laid back", "swing": "Swing",
          "syncopation": "Syncopation", "hihat_ride": "Hat ↔ ride", "fills": "Fills"}
STEPS = 100  # slider units per standard deviation
PAD_STEP = 0.05  # the pad's values are rounded to this
PANEL_WIDTH = 244
PENDING_SEC = 1.0  # how long a control keeps a sent value against older snapshots
PAD_SIDE = 216  # the pad's height (its square fits the panel's width)


def _tip(name: str) -> str:
    return (f"{LABELS[name]}: {ATTRIBUTE_HELP[name]}.\n-2..+2 standard deviations of the training grooves; "
            "double-click: back to 0")


class AttributePad(QWidget):
    """A square with a dot: x = density, y = intensity, both -2..2 (0 in the middle)."""

    moved = pyqtSignal(float, float)  # (density, intensity) on a click or drag
    resetRequested = pyqtSignal()  # double-click

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._x = self._y = 0.0
        self.dragging = False
        self.setMinimumSize(QSize(140, 140))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(PAD_SIDE)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip(f"x: {_tip(PAD_X)}\ny: {_tip(PAD_Y)}\nClick or drag to set both")

    def values(self) -> tuple[float, float]:
        return self._x, self._y

    def set_values(self, x: float, y: float) -> None:
        """Move the dot (no signal)."""
        if (x, y) != (self._x, self._y):
            self._x, self._y = x, y
            self.update()

    def square(self) -> QRectF:
        """The pad's square, centred in the widget."""
        side = max(10.0, min(self.width(), self.height()) - 4.0)
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def point_of(self, x: float, y: float) -> QPointF:
        sq, span = self.square(), 2 * ATTRIBUTE_LIMIT
        return QPointF(sq.left() + (x + ATTRIBUTE_LIMIT) / span * sq.width(),
                       sq.top() + (ATTRIBUTE_LIMIT - y) / span * sq.height())

    def values_at(self, pos: QPointF) -> tuple[float, float]:
        sq, span = self.square(), 2 * ATTRIBUTE_LIMIT

        def snap(v: float) -> float:
            v = min(ATTRIBUTE_LIMIT, max(-ATTRIBUTE_LIMIT, v))
            return round(round(v / PAD_STEP) * PAD_STEP, 2) + 0.0  # + 0.0: no -0.0

        return (snap((pos.x() - sq.left()) / sq.width() * span - ATTRIBUTE_LIMIT),
                snap(ATTRIBUTE_LIMIT - (pos.y() - sq.top()) / sq.height() * span))

    def _apply(self, pos: QPointF) -> None:
        x, y = self.values_at(pos)
        if (x, y) != (self._x, self._y):
            self.set_values(x, y)
            self.moved.emit(x, y)

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is not None and event.button() == Qt.MouseButton.LeftButton:
            self.dragging = True
            self._apply(event.position())

    def mouseMoveEvent(self, event: QMouseEvent | None) -> None:
        if event is not None and self.dragging:
            self._apply(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent | None) -> None:
        self.dragging = False

    def mouseDoubleClickEvent(self, event: QMouseEvent | None) -> None:
        self.dragging = False
        self.set_values(0.0, 0.0)
        self.resetRequested.emit()

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        sq = self.square()
        enabled = self.isEnabled()
        p.setPen(QPen(theme.BAR_LINE, 1))
        p.setBrush(QColor("#12141a"))
        p.drawRoundedRect(sq, 4, 4)
        for v in (-1.0, 0.0, 1.0):  # grid lines at -1, 0, +1 standard deviations
            p.setPen(QPen(theme.BAR_LINE if v == 0 else theme.GRID_LINE, 1))
            a, b = self.point_of(v, -ATTRIBUTE_LIMIT), self.point_of(v, ATTRIBUTE_LIMIT)
            p.drawLine(a, b)
            a, b = self.point_of(-ATTRIBUTE_LIMIT, v), self.point_of(ATTRIBUTE_LIMIT, v)
            p.drawLine(a, b)
        p.setPen(theme.TEXT_DIM)
        inner = sq.adjusted(6, 4, -6, -4)
        p.drawText(inner, int(Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignRight), "busy →")
        p.drawText(inner, int(Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft), "sparse")
        p.drawText(inner, int(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft), "↑ loud")
        dot = self.point_of(self._x, self._y)
        p.setPen(QPen(theme.BACKGROUND, 2))
        p.setBrush(theme.ACCENT if enabled else theme.TEXT_DIM)
        p.drawEllipse(dot, 7.0, 7.0)
        p.end()


class AttributeSlider(QSlider):
    """-2..2 (in 1/100 steps) with 0 in the middle; a double-click sets it back to 0."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.name = name
        limit = round(ATTRIBUTE_LIMIT * STEPS)
        self.setRange(-limit, limit)
        self.setSingleStep(STEPS // 10)
        self.setPageStep(STEPS // 2)
        self.setToolTip(_tip(name))

    def attribute(self) -> float:
        return self.value() / STEPS

    def mouseDoubleClickEvent(self, event: QMouseEvent | None) -> None:
        self.setValue(0)


class AttributesPanel(QWidget):
    """The pad, the five sliders and Reset; commands go through the engine adapter."""

    def __init__(self, adapter: EngineAdapter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.adapter = adapter
        self.available = False
        self.reason = "waiting for the model"
        # values sent and not yet seen in a snapshot: until the engine has them (or PENDING_SEC has
        # passed) an older snapshot does not move the control back (it flickered to the old value
        # and back on a busy machine, and a test read the label in between)
        self._pending: dict[str, tuple[float, float]] = {}
        self.setFixedWidth(PANEL_WIDTH)
        # Bipolar sliders: no filled "sub-page" from the left end.
        self.setStyleSheet("QSlider::sub-page:horizontal { background: #2e333d; }")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 0, 6, 0)
        lay.setSpacing(4)
        head = QHBoxLayout()
        head.addWidget(QLabel("<b>Feel</b>"))
        head.addStretch(1)
        self.reset_button = QPushButton("Reset")
        self.reset_button.clicked.connect(self.reset)
        head.addWidget(self.reset_button)
        lay.addLayout(head)
        self.pad = AttributePad()
        self.pad.moved.connect(lambda x, y: self._send_pad(x, y))
        self.pad.resetRequested.connect(lambda: self._send_pad(0.0, 0.0))
        lay.addWidget(self.pad)
        self.pad_label = QLabel()
        self.pad_label.setObjectName("dim")
        self.pad_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.pad_label)
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(6)
        self.sliders: dict[str, AttributeSlider] = {}
        self.value_labels: dict[str, QLabel] = {}
        for row, name in enumerate(SLIDER_NAMES):
            label = QLabel(LABELS[name])
            label.setToolTip(_tip(name))
            slider = AttributeSlider(name)
            value = QLabel("+0.00")
            value.setMinimumWidth(36)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            slider.valueChanged.connect(lambda v, n=name: self._send_slider(n, v))
            grid.addWidget(label, row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(value, row, 2)
            self.sliders[name] = slider
            self.value_labels[name] = value
        lay.addLayout(grid)
        lay.addStretch(1)
        self._show_pad_values()
        self.set_available(False, self.reason)

    # ---- commands ----------------------------------------------------------------------
    def _send_pad(self, x: float, y: float) -> None:
        self._show_pad_values()
        self._expect({PAD_X: x, PAD_Y: y})
        self.adapter.command(EngineCommands.set_attributes, {PAD_X: x, PAD_Y: y})

    def _send_slider(self, name: str, value: int) -> None:
        self.value_labels[name].setText(f"{value / STEPS:+.2f}")
        self._expect({name: value / STEPS})
        self.adapter.command(EngineCommands.set_attribute, name, value / STEPS)

    def reset(self) -> None:
        """Every attribute back to 0 (view and engine)."""
        self._pending.clear()
        self._show({})
        self._expect({name: 0.0 for name in (PAD_X, PAD_Y, *self.sliders)})
        self.adapter.command(EngineCommands.reset_attributes)

    def _expect(self, values: dict[str, float]) -> None:
        deadline = time.monotonic() + PENDING_SEC
        self._pending.update({name: (float(v), deadline) for name, v in values.items()})

    def _held(self, name: str, value: float) -> bool:
        """Whether ``name`` keeps the value the user gave it against ``value`` from a snapshot:
        until the engine reports what was sent, for PENDING_SEC at most."""
        if name not in self._pending:
            return False
        sent, deadline = self._pending[name]
        if abs(value - sent) < 0.5 / STEPS or time.monotonic() > deadline:
            del self._pending[name]
            return False
        return True

    # ---- state -------------------------------------------------------------------------
    def _show_pad_values(self) -> None:
        x, y = self.pad.values()
        self.pad_label.setText(f"density {x:+.2f} · intensity {y:+.2f}")

    def _show(self, values: dict[str, float]) -> None:
        """Controls to ``values`` (missing = 0) without sending; a control in the hand is left."""
        x, y = float(values.get(PAD_X, 0.0)), float(values.get(PAD_Y, 0.0))
        held = [self._held(PAD_X, x), self._held(PAD_Y, y)]  # (both asked: each may clear)
        if not self.pad.dragging and not any(held):
            self.pad.set_values(x, y)
            self._show_pad_values()
        for name, slider in self.sliders.items():
            v = round(float(values.get(name, 0.0)) * STEPS)
            if self._held(name, v / STEPS) or slider.isSliderDown() or v == slider.value():
                continue
            slider.blockSignals(True)
            slider.setValue(v)
            slider.blockSignals(False)
            self.value_labels[name].setText(f"{v / STEPS:+.2f}")

    def set_available(self, available: bool, reason: str = "") -> None:
        """Enable the controls, or disable them with ``reason`` in their tooltips."""
        self.available, self.reason = available, reason
        note = "" if available else f"\n\nUnavailable: {reason}"
        widgets: list[tuple[QWidget, str]] = [
            (self.pad, f"x: {_tip(PAD_X)}\ny: {_tip(PAD_Y)}\nClick or drag to set both"),
            (self.reset_button, "Set every attribute back to 0 (the playing pattern's source, reconstructed)"),
        ]
        widgets += [(s, _tip(n)) for n, s in self.sliders.items()]
        for w, tip in widgets:
            w.setEnabled(available)
            w.setToolTip(tip + note)
        self.setToolTip("" if available else f"Feel controls unavailable: {reason}")

    def update_state(self, snap: Any) -> None:
        if snap.model_state != "ready":
            available, reason = False, f"the model is {snap.model_state}"
        elif not getattr(snap, "attributes_available", False):
            available = False
            reason = (f"model '{snap.model_name}' has no attribute directions "
                      "(run `groovebridge fit-prior` for it, or use the default model)")
        else:
            available, reason = True, ""
        if (available, reason) != (self.available, self.reason):
            self.set_available(available, reason)
        self._show(dict(getattr(snap, "attributes", None) or {}))
