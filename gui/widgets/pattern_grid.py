"""The pattern view: 9 drum rows x 64 steps with playhead, velocity shading and micro-timing.

Each hit is a block shaded by its velocity and shifted off the grid line by its offset (positive
offsets are early, so they sit left of the grid). Rows carry the instrument name, the output
note number and a mute box. Clicking a cell toggles a hit and emits ``patternEdited`` with the
new Groove (the window sends it to the engine); the wheel over a hit changes its velocity.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QHelpEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PyQt6.QtWidgets import QSizePolicy, QToolTip, QWidget

from gui import theme
from models.drum_maps import GM, NUM_CLASSES, DrumMap
from models.groove import STEPS_PER_BAR, STEPS_PER_QUARTER, Groove

NEW_HIT_VELOCITY = 0.8


def hit_color(row: int, velocity: float, muted: bool = False) -> QColor:
    """The row's hue, darker for soft hits; greyed when the row is muted."""
    base = theme.ROW_COLORS[row % len(theme.ROW_COLORS)]
    v = float(np.clip(velocity, 0.0, 1.0))
    c = QColor.fromHsvF(
        max(base.hsvHueF(), 0.0), base.hsvSaturationF() * (0.55 + 0.45 * v), 0.28 + 0.72 * v
    )
    if muted:
        grey = int(60 + 60 * v)
        c = QColor(grey, grey, grey)
    return c


def paint_groove(
    p: QPainter,
    rect: QRectF,
    groove: Groove | None,
    mutes: tuple[bool, ...] = (),
    num_steps: int = 64,
) -> None:
    """Draw a groove's hits into ``rect`` (no labels): shared by the grid and the thumbnails."""
    if groove is None:
        return
    steps = max(num_steps, groove.num_steps)
    cw = rect.width() / steps
    rh = rect.height() / NUM_CLASSES
    cell = min(cw, rh)
    pad = cell * 0.12 if cell >= 6 else 0.0  # tiny thumbnails: solid ticks
    radius = max(pad, 0.5)
    p.setPen(Qt.PenStyle.NoPen)
    for s, k in zip(*np.nonzero(groove.hits > 0.5), strict=True):
        off = float(np.clip(groove.offsets[s, k], -1.0, 1.0))
        x = rect.left() + (s - off / 2.0) * cw
        y = rect.top() + k * rh
        muted = bool(mutes[k]) if k < len(mutes) else False
        p.setBrush(hit_color(int(k), float(groove.velocities[s, k]), muted))
        p.drawRoundedRect(QRectF(x + pad, y + pad, max(cw - 2 * pad, 1.0), rh - 2 * pad), radius, radius)


class PatternGrid(QWidget):
    """Editable view of the playing pattern. Pure view: state arrives through setters."""

    patternEdited = pyqtSignal(object)  # Groove after a click or wheel edit
    muteToggled = pyqtSignal(int, bool)  # drum class, muted

    NUM_STEPS = 64

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._groove = Groove.empty(self.NUM_STEPS)
        self._mutes: list[bool] = [False] * NUM_CLASSES
        self._drum_map: DrumMap = GM
        self._playhead_steps: float | None = None
        self._hover: tuple[int, int] | None = None
        self.setMouseTracking(True)
        self.setMinimumSize(480, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Pattern: click a cell to add or remove a hit, wheel over a hit for velocity")

    # ---- state in ------------------------------------------------------------------------
    def groove(self) -> Groove:
        return self._groove

    def mutes(self) -> tuple[bool, ...]:
        return tuple(self._mutes)

    def set_groove(self, groove: Groove | None) -> None:
        self._groove = groove if groove is not None else Groove.empty(self.NUM_STEPS)
        self.update()

    def set_mutes(self, mutes: tuple[bool, ...] | list[bool]) -> None:
        self._mutes = [bool(m) for m in list(mutes)[:NUM_CLASSES]]
        self._mutes += [False] * (NUM_CLASSES - len(self._mutes))
        self.update()

    def set_drum_map(self, drum_map: DrumMap) -> None:
        self._drum_map = drum_map
        self.update()

    def set_playhead(self, step: float | None) -> None:
        if step != self._playhead_steps:
            self._playhead_steps = step
            self.update()

    # ---- geometry --------------------------------------------------------------------------
    def sizeHint(self) -> QSize:
        return QSize(1100, 300)

    def _label_width(self) -> float:
        fm = self.fontMetrics()
        return self._mute_size() + 10 + fm.horizontalAdvance("Closed Hat") + fm.horizontalAdvance(" 127") + 14

    def _mute_size(self) -> float:
        return self.fontMetrics().height() + 4

    def _header_height(self) -> float:
        return self.fontMetrics().height() + 6

    def _grid_rect(self) -> QRectF:
        lw, hh = self._label_width(), self._header_height()
        return QRectF(lw, hh, max(1.0, self.width() - lw - 2), max(1.0, self.height() - hh - 2))

    def _num_steps(self) -> int:
        return max(self.NUM_STEPS, self._groove.num_steps)

    def cell_rect(self, step: int, row: int) -> QRectF:
        g = self._grid_rect()
        cw, rh = g.width() / self._num_steps(), g.height() / NUM_CLASSES
        return QRectF(g.left() + step * cw, g.top() + row * rh, cw, rh)

    def mute_rect(self, row: int) -> QRectF:
        g = self._grid_rect()
        rh = g.height() / NUM_CLASSES
        m = self._mute_size()
        return QRectF(4, g.top() + row * rh + (rh - m) / 2, m, m)

    def _cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        g = self._grid_rect()
        if not g.contains(pos):
            return None
        step = int((pos.x() - g.left()) / g.width() * self._num_steps())
        row = int((pos.y() - g.top()) / g.height() * NUM_CLASSES)
        return min(step, self._num_steps() - 1), min(row, NUM_CLASSES - 1)

    def _row_at_label(self, pos: QPointF) -> int | None:
        g = self._grid_rect()
        if pos.x() >= g.left() or not g.top() <= pos.y() < g.bottom():
            return None
        return min(int((pos.y() - g.top()) / g.height() * NUM_CLASSES), NUM_CLASSES - 1)

    # ---- editing ---------------------------------------------------------------------------
    def toggle_cell(self, step: int, row: int) -> Groove:
        """Toggle one hit and emit the edited pattern (also used by keyboard and tests)."""
        g = self._groove
        hits, vel, off = g.hits.copy(), g.velocities.copy(), g.offsets.copy()
        if hits[step, row] > 0.5:
            hits[step, row], vel[step, row], off[step, row] = 0.0, 0.0, 0.0
        else:
            hits[step, row], vel[step, row], off[step, row] = 1.0, NEW_HIT_VELOCITY, 0.0
        self._groove = Groove(hits, vel, off, g.bpm)
        self.update()
        self.patternEdited.emit(self._groove)
        return self._groove

    def toggle_mute(self, row: int) -> None:
        self._mutes[row] = not self._mutes[row]
        self.update()
        self.muteToggled.emit(row, self._mutes[row])

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is None or event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.position()
        cell = self._cell_at(pos)
        if cell is not None:
            self.toggle_cell(*cell)
            return
        row = self._row_at_label(pos)
        if row is not None:
            self.toggle_mute(row)

    def mouseMoveEvent(self, event: QMouseEvent | None) -> None:
        if event is None:
            return
        cell = self._cell_at(event.position())
        if cell != self._hover:
            self._hover = cell
            self.update()

    def leaveEvent(self, event: object) -> None:
        self._hover = None
        self.update()

    def wheelEvent(self, event: object) -> None:
        from PyQt6.QtGui import QWheelEvent

        if not isinstance(event, QWheelEvent):
            return
        cell = self._cell_at(event.position())
        if cell is None or self._groove.hits[cell] < 0.5:
            event.ignore()
            return
        step_v = 0.05 if event.angleDelta().y() > 0 else -0.05
        vel = self._groove.velocities.copy()
        vel[cell] = float(np.clip(vel[cell] + step_v, 0.05, 1.0))
        self._groove = self._groove.with_changes(velocities=vel)
        self.update()
        self.patternEdited.emit(self._groove)

    def event(self, e: object) -> bool:  # position-dependent tooltips
        if isinstance(e, QHelpEvent) and e.type() == QHelpEvent.Type.ToolTip:
            QToolTip.showText(e.globalPos(), self._tooltip_at(QPointF(e.pos())), self)
            return True
        return super().event(e)  # type: ignore[arg-type]

    def _tooltip_at(self, pos: QPointF) -> str:
        row = self._row_at_label(pos)
        if row is not None:
            state = "muted" if self._mutes[row] else "playing"
            return (
                f"{theme.ROW_LABELS[row]} (output note {self._drum_map.output_pitch(row)}), {state}."
                " Click to mute or unmute this row."
            )
        cell = self._cell_at(pos)
        if cell is None:
            return self.toolTip()
        s, k = cell
        bar, beat, sixteenth = s // STEPS_PER_BAR + 1, (s % STEPS_PER_BAR) // 4 + 1, s % 4 + 1
        where = f"{theme.ROW_LABELS[k]} at {bar}.{beat}.{sixteenth}"
        if self._groove.hits[s, k] > 0.5:
            vel = round(float(self._groove.velocities[s, k]) * 127)
            off_ms = -float(self._groove.offsets[s, k]) / 2 * 60000 / (4 * max(self._groove.bpm, 1))
            return f"{where}: velocity {vel}, {off_ms:+.0f} ms off the grid. Click to remove, wheel for velocity."
        return f"{where}: empty. Click to add a hit."

    # ---- drawing ---------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.fillRect(self.rect(), theme.PANEL)
        g = self._grid_rect()
        steps = self._num_steps()
        cw, rh = g.width() / steps, g.height() / NUM_CLASSES
        # Beat shading, then lines.
        for beat in range(steps // STEPS_PER_QUARTER):
            shade = theme.PANEL_LIGHT if beat % 2 == 0 else QColor("#22262e")
            p.fillRect(QRectF(g.left() + beat * 4 * cw, g.top(), 4 * cw, g.height()), shade)
        if self._hover is not None:
            p.fillRect(self.cell_rect(*self._hover), QColor(255, 255, 255, 28))
        for k in range(NUM_CLASSES):
            if self._mutes[k]:
                p.fillRect(QRectF(g.left(), g.top() + k * rh, g.width(), rh), QColor(0, 0, 0, 90))
        p.setPen(QPen(theme.GRID_LINE, 1))
        for s in range(steps + 1):
            if s % STEPS_PER_BAR:
                x = g.left() + s * cw
                p.drawLine(QPointF(x, g.top()), QPointF(x, g.bottom()))
        for k in range(NUM_CLASSES + 1):
            y = g.top() + k * rh
            p.drawLine(QPointF(g.left(), y), QPointF(g.right(), y))
        p.setPen(QPen(theme.BAR_LINE, 2))
        for s in range(0, steps + 1, STEPS_PER_BAR):
            x = g.left() + s * cw
            p.drawLine(QPointF(x, g.top() - 4), QPointF(x, g.bottom()))
        paint_groove(p, g, self._groove, tuple(self._mutes), steps)
        self._paint_header(p, g, cw)
        self._paint_labels(p, g, rh)
        if self._playhead_steps is not None:
            x = g.left() + (self._playhead_steps % steps) * cw
            col = int(self._playhead_steps % steps)
            p.fillRect(QRectF(g.left() + col * cw, g.top(), cw, g.height()), QColor(240, 160, 48, 40))
            p.setPen(QPen(theme.ACCENT, 2))
            p.drawLine(QPointF(x, g.top() - 4), QPointF(x, g.bottom()))
        p.end()

    def _paint_header(self, p: QPainter, g: QRectF, cw: float) -> None:
        p.setPen(theme.TEXT_DIM)
        for s in range(0, self._num_steps(), STEPS_PER_QUARTER):
            label = str(s // STEPS_PER_BAR + 1) if s % STEPS_PER_BAR == 0 else "·"
            r = QRectF(g.left() + s * cw + 3, 0, 4 * cw, g.top() - 2)
            p.drawText(r, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), label)

    def _paint_labels(self, p: QPainter, g: QRectF, rh: float) -> None:
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, self.font().pointSizeF() * 0.85))
        for k in range(NUM_CLASSES):
            m = self.mute_rect(k)
            p.setPen(QPen(theme.MUTE if self._mutes[k] else theme.BAR_LINE, 1))
            p.setBrush(theme.MUTE if self._mutes[k] else theme.PANEL_LIGHT)
            p.drawRoundedRect(m, 3, 3)
            p.setPen(theme.BACKGROUND if self._mutes[k] else theme.TEXT_DIM)
            p.setFont(small)
            p.drawText(m, int(Qt.AlignmentFlag.AlignCenter), "M")
            p.setBrush(theme.ROW_COLORS[k])
            p.setPen(Qt.PenStyle.NoPen)
            p.drawRoundedRect(QRectF(m.right() + 5, m.top() + 3, 4, m.height() - 6), 2, 2)
            text_rect = QRectF(m.right() + 13, g.top() + k * rh, g.left() - m.right() - 20, rh)
            p.setFont(self.font())
            p.setPen(theme.TEXT_DIM if self._mutes[k] else theme.TEXT)
            p.drawText(text_rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), theme.ROW_LABELS[k])
            p.setFont(small)
            p.setPen(theme.TEXT_DIM)
            p.drawText(
                text_rect,
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                str(self._drum_map.output_pitch(k)),
            )
        p.setFont(self.font())


class GrooveThumb(QWidget):
    """A small read-only picture of a groove (slots, variation strip); clickable."""

    clicked = pyqtSignal()

    def __init__(self, parent: QWidget | None = None, min_size: QSize = QSize(96, 40)) -> None:
        super().__init__(parent)
        self._groove: Groove | None = None
        self._selected = False
        self._placeholder = "empty"
        self.setMinimumSize(min_size)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def groove(self) -> Groove | None:
        return self._groove

    def set_groove(self, groove: Groove | None) -> None:
        self._groove = groove
        self.update()

    def set_selected(self, selected: bool) -> None:
        self._selected = selected
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is not None and event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        r = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        p.setPen(QPen(theme.ACCENT if self._selected else theme.GRID_LINE, 2 if self._selected else 1))
        p.setBrush(QColor("#111318"))
        p.drawRoundedRect(r, 4, 4)
        inner = r.adjusted(3, 3, -3, -3)
        if self._groove is None:
            p.setPen(theme.TEXT_DIM)
            p.drawText(inner, int(Qt.AlignmentFlag.AlignCenter), self._placeholder)
        else:
            p.setPen(QPen(theme.GRID_LINE, 1))
            for bar in range(1, max(1, self._groove.num_bars)):
                x = inner.left() + inner.width() * bar / self._groove.num_bars
                p.drawLine(QPointF(x, inner.top()), QPointF(x, inner.bottom()))
            paint_groove(p, inner, self._groove, (), self._groove.num_steps)
        p.end()
