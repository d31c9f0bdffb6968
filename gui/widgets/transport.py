"""Transport bar: play/stop, the loop position, tempo, sync source with lock, peers and sync
health, latency, sound (the preview kit: ``gui.widgets.sound``), model state.

The position reads "bar 3 / 4 · beat 2" (the bar of the loop that plays, of how many) in a label
of fixed width, so the bar never shifts as the text grows. Sync health (the engine snapshot's
``sync_health`` and its "sync_health" / "sync_slip" events) shows as a coloured dot and the
phase error, the detail as tooltip; hidden for the internal clock and for an engine without it.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QEvent, QSize, Qt
from PyQt6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

from bridge import commands
from bridge.engine.api import EngineCommands
from gui import theme
from gui.engine_adapter import EngineAdapter
from gui.widgets.sound import SoundBox


def _row(widget: QWidget) -> QHBoxLayout:
    lay = QHBoxLayout(widget)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(8)
    return lay


SYNC_SOURCES = tuple(zip(commands.SYNC_SOURCES, ("Internal", "MIDI clock", "Ableton Link"), strict=True))
HEALTH_COLORS = {"locked": theme.OK, "settling": theme.ACCENT, "lost": theme.MUTE}
WIDEST_POSITION = "bar 88 / 88 · beat 8"  # sizes the position label (loops are up to 99 bars)


def position_text(bar: int, beat: float, loop_bars: int) -> str:
    """"bar 3 / 4 · beat 2": the bar of the loop (1-based) and the beat in the bar."""
    loop = max(1, int(loop_bars))
    return f"bar {(max(1, int(bar)) - 1) % loop + 1} / {loop} · beat {max(1, int(beat))}"


def health_text(health: dict[str, Any]) -> str:
    state = str(health.get("state", ""))
    try:
        err = float(health.get("phase_error_ms", 0.0))
    except (TypeError, ValueError):
        err = 0.0
    if state == "locked":
        return f"locked ±{abs(err):.1f} ms"
    return state


class Led(QWidget):
    """A small round indicator."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._color = theme.GRID_LINE
        self.setFixedSize(QSize(14, 14))

    def set_color(self, color: QColor) -> None:
        if color != self._color:
            self._color = color
            self.update()

    def color(self) -> QColor:
        return self._color

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(theme.BAR_LINE)
        p.setBrush(self._color)
        p.drawEllipse(self.rect().adjusted(1, 1, -1, -1))
        p.end()


class FixedWidthLabel(QLabel):
    """A label as wide as ``widest`` in its current font (every digit counted as the widest one),
    re-measured when the style sheet or font changes: its neighbours never move."""

    def __init__(self, text: str, widest: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self._widest = widest
        self._fit()

    def _fit(self) -> None:
        fm = QFontMetrics(self.font())
        digit = max("0123456789", key=fm.horizontalAdvance)
        template = "".join(digit if c.isdigit() else c for c in self._widest)
        m = self.contentsMargins()
        self.setFixedWidth(fm.horizontalAdvance(template) + m.left() + m.right() + 2 * self.margin() + 20)

    def changeEvent(self, event: QEvent | None) -> None:
        super().changeEvent(event)
        if event is not None and event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._fit()


class TransportBar(QWidget):
    def __init__(self, adapter: EngineAdapter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.adapter = adapter
        # Two groups: one row when the window is wide enough, else the latency, sound and model
        # go to a second row (a 900 px window shows the whole bar, never scrolls it).
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(8)
        self._grid.setVerticalSpacing(4)
        self.head, self.tail = QWidget(), QWidget()
        lay = _row(self.head)

        self.play_button = QPushButton("▶  Play")
        self.play_button.setObjectName("primary")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Start or stop playback (Space)")
        self.play_button.setMinimumWidth(96)
        self.play_button.clicked.connect(self._on_play_clicked)
        lay.addWidget(self.play_button)

        self.position = FixedWidthLabel(position_text(1, 1, 4), WIDEST_POSITION)
        self.position.setObjectName("display")
        self.position.setStyleSheet("QLabel#display { font-size: 12pt; }")  # the long text fits the bar
        self.position.setToolTip("Playback position: the bar of the loop (of how many) and the beat")
        self.position.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.position)

        lay.addWidget(QLabel("Tempo"))
        self.tempo = QDoubleSpinBox()
        self.tempo.setRange(20.0, 300.0)
        self.tempo.setDecimals(1)
        self.tempo.setSuffix(" bpm")
        self.tempo.setValue(120.0)
        self.tempo.setKeyboardTracking(False)
        self.tempo.setToolTip("Tempo in beats per minute (followed from the master when synced)")
        self.tempo.valueChanged.connect(lambda v: self.adapter.command(EngineCommands.set_tempo, float(v)))
        lay.addWidget(self.tempo)

        lay.addWidget(QLabel("Sync"))
        self.sync = QComboBox()
        for key, label in SYNC_SOURCES:
            self.sync.addItem(label, key)
        self.sync.setToolTip("Clock source: internal clock, incoming MIDI clock or an Ableton Link session")
        self.sync.currentIndexChanged.connect(
            lambda i: self.adapter.command(EngineCommands.set_sync_source, self.sync.itemData(i))
        )
        lay.addWidget(self.sync)
        self.lock_led = Led()
        self.lock_led.setToolTip("Sync lock: green when following the clock source")
        lay.addWidget(self.lock_led)
        self.peers = QLabel("")
        self.peers.setObjectName("dim")
        self.peers.setToolTip("Ableton Link peers on the network")
        lay.addWidget(self.peers)
        self.health_led = Led()
        self.health_label = QLabel("")
        self.health_label.setObjectName("dim")
        for w in (self.health_led, self.health_label):
            w.setVisible(False)
            lay.addWidget(w)
        self._slip = self._health_base = ""
        adapter.engineEvent.connect(self._on_event)
        lay.addStretch(1)

        lay = _row(self.tail)
        lay.addWidget(QLabel("Latency"))
        self.latency = QSpinBox()
        self.latency.setRange(-500, 500)
        self.latency.setSuffix(" ms")
        self.latency.setKeyboardTracking(False)
        self.latency.setToolTip("Output latency offset: positive sends notes earlier to cover a slow synth/DAW")
        self.latency.valueChanged.connect(lambda v: self.adapter.command(EngineCommands.set_latency_ms, float(v)))
        lay.addWidget(self.latency)

        self.sound = SoundBox(adapter)
        lay.addWidget(self.sound)

        lay.addStretch(1)
        self.model_led = Led()
        self.model_led.setToolTip("Model state: amber loading, green ready, red error")
        lay.addWidget(self.model_led)
        self.model_label = QLabel("model: starting…")
        self.model_label.setObjectName("dim")
        self.model_label.setToolTip("The active GrooVAE model and its state")
        lay.addWidget(self.model_label)
        self._grid.addWidget(self.head, 0, 0)
        self.two_rows: bool | None = None
        self._arrange(False)

    # ---- one row or two ---------------------------------------------------------------------------
    def one_row_width(self) -> int:
        return self.head.minimumSizeHint().width() + self._grid.horizontalSpacing() + self.tail.minimumSizeHint().width()

    def _arrange(self, two_rows: bool) -> None:
        if two_rows == self.two_rows:
            return
        self.two_rows = two_rows
        self._grid.removeWidget(self.tail)
        self._grid.addWidget(self.tail, *((1, 0) if two_rows else (0, 1)))
        self._grid.setColumnStretch(0, 1 if two_rows else 0)
        self._grid.setColumnStretch(1, 0 if two_rows else 1)
        self.updateGeometry()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - as narrow as the wider group: two rows below that
        hint = super().minimumSizeHint()
        return QSize(max(self.head.minimumSizeHint().width(), self.tail.minimumSizeHint().width()), hint.height())

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        self._arrange(self.width() < self.one_row_width())
        super().resizeEvent(event)

    def _on_play_clicked(self, checked: bool) -> None:
        self.adapter.command(EngineCommands.play if checked else EngineCommands.stop)
        self._show_playing(checked)

    def toggle_play(self) -> None:
        self.play_button.click()

    def _show_playing(self, playing: bool) -> None:
        self.play_button.setChecked(playing)
        self.play_button.setText("■  Stop" if playing else "▶  Play")

    def update_position(self, snap: Any) -> None:
        pattern = getattr(snap, "pattern", None)
        loop_bars = getattr(pattern, "num_bars", 4) if pattern is not None else 4
        self.position.setText(position_text(snap.bar, snap.beat, loop_bars))

    # ---- sync health (issue 22's contract, read defensively) -------------------------------------
    def _on_event(self, event: str, payload: Any) -> None:
        if event == "sync_health" and isinstance(payload, dict):
            self.show_sync_health(payload)
        elif event == "sync_slip" and isinstance(payload, dict):
            ticks = payload.get("ticks", 0)
            self._slip = f"last slip: {ticks} MIDI clock ticks, {'corrected' if payload.get('corrected') else 'not corrected'}"
            self._set_health_tooltip()

    def _set_health_tooltip(self) -> None:
        text = "\n".join(x for x in (self._health_base, self._slip) if x)
        for w in (self.health_led, self.health_label):
            w.setToolTip(text)

    def show_sync_health(self, health: Any) -> None:
        """A dot coloured by state and the phase error; hidden for the internal clock or no data."""
        if not isinstance(health, dict) or health.get("source", "internal") == "internal" \
                or health.get("state") in (None, "free"):
            for w in (self.health_led, self.health_label):
                w.setVisible(False)
            return
        state = str(health.get("state"))
        self.health_led.set_color(HEALTH_COLORS.get(state, theme.GRID_LINE))
        self.health_label.setText(health_text(health))
        detail = str(health.get("detail", "") or "")
        source = {"midi": "MIDI clock", "link": "Ableton Link"}.get(str(health.get("source")), str(health.get("source")))
        self._health_base = "\n".join(x for x in (f"Sync health ({source}): {state}", detail) if x)
        self._set_health_tooltip()
        for w in (self.health_led, self.health_label):
            w.setVisible(True)

    def update_state(self, snap: Any) -> None:
        """Show engine state without sending anything back."""
        self._show_playing(bool(snap.playing))
        for w, value in ((self.tempo, float(snap.bpm)), (self.latency, float(snap.latency_ms))):
            if not w.hasFocus():
                w.blockSignals(True)
                if isinstance(w, QSpinBox):  # the latency, whole ms
                    w.setValue(int(round(value)))
                else:
                    w.setValue(value)
                w.blockSignals(False)
        i = self.sync.findData(snap.sync_source)
        if i >= 0 and i != self.sync.currentIndex():
            self.sync.blockSignals(True)
            self.sync.setCurrentIndex(i)
            self.sync.blockSignals(False)
        # A MIDI clock master owns the tempo; Link sessions take a proposed tempo.
        self.tempo.setEnabled(not (snap.sync_source == "midi" and snap.locked))
        if snap.sync_source == "internal":
            self.lock_led.set_color(theme.GRID_LINE)
        else:
            self.lock_led.set_color(theme.OK if snap.locked else theme.MUTE)
        self.peers.setText(f"{snap.peers} peer{'s' * (snap.peers != 1)}" if snap.sync_source == "link" else "")
        self.show_sync_health(getattr(snap, "sync_health", None))
        state = str(snap.model_state)
        colors = {"ready": theme.OK, "loading": theme.ACCENT, "error": theme.MUTE}
        self.model_led.set_color(colors.get(state, theme.GRID_LINE))
        name = snap.model_name or "model"
        self.model_label.setText(f"{name}: {state}" if state != "ready" else f"{name}")
