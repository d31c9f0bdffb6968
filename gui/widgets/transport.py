"""Transport bar: play/stop, tempo, sync source with lock and peers, bar:beat, latency, model state."""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import QColor, QPainter, QPaintEvent
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

from gui import theme
from gui.engine_adapter import EngineAdapter

SYNC_SOURCES = (("internal", "Internal"), ("midi", "MIDI clock"), ("link", "Ableton Link"))


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


class TransportBar(QWidget):
    def __init__(self, adapter: EngineAdapter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.adapter = adapter
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)

        self.play_button = QPushButton("▶  Play")
        self.play_button.setObjectName("primary")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Start or stop playback (Space)")
        self.play_button.setMinimumWidth(96)
        self.play_button.clicked.connect(self._on_play_clicked)
        lay.addWidget(self.play_button)

        self.position = QLabel("1 : 1")
        self.position.setObjectName("display")
        self.position.setToolTip("Playback position: bar : beat of the 4-bar loop")
        self.position.setMinimumWidth(90)
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
        self.tempo.valueChanged.connect(lambda v: self.adapter.command("set_tempo", float(v)))
        lay.addWidget(self.tempo)

        lay.addWidget(QLabel("Sync"))
        self.sync = QComboBox()
        for key, label in SYNC_SOURCES:
            self.sync.addItem(label, key)
        self.sync.setToolTip("Clock source: internal clock, incoming MIDI clock or an Ableton Link session")
        self.sync.currentIndexChanged.connect(
            lambda i: self.adapter.command("set_sync_source", self.sync.itemData(i))
        )
        lay.addWidget(self.sync)
        self.lock_led = Led()
        self.lock_led.setToolTip("Sync lock: green when following the clock source")
        lay.addWidget(self.lock_led)
        self.peers = QLabel("")
        self.peers.setObjectName("dim")
        self.peers.setToolTip("Ableton Link peers on the network")
        lay.addWidget(self.peers)

        lay.addWidget(QLabel("Latency"))
        self.latency = QSpinBox()
        self.latency.setRange(-500, 500)
        self.latency.setSuffix(" ms")
        self.latency.setKeyboardTracking(False)
        self.latency.setToolTip("Output latency offset: positive sends notes earlier to cover a slow synth/DAW")
        self.latency.valueChanged.connect(lambda v: self.adapter.command("set_latency_ms", float(v)))
        lay.addWidget(self.latency)

        lay.addStretch(1)
        self.model_led = Led()
        self.model_led.setToolTip("Model state: amber loading, green ready, red error")
        lay.addWidget(self.model_led)
        self.model_label = QLabel("model: starting…")
        self.model_label.setObjectName("dim")
        self.model_label.setToolTip("The active GrooVAE model and its state")
        lay.addWidget(self.model_label)

    def _on_play_clicked(self, checked: bool) -> None:
        self.adapter.command("play" if checked else "stop")
        self._show_playing(checked)

    def toggle_play(self) -> None:
        self.play_button.click()

    def _show_playing(self, playing: bool) -> None:
        self.play_button.setChecked(playing)
        self.play_button.setText("■  Stop" if playing else "▶  Play")

    def update_position(self, snap: Any) -> None:
        self.position.setText(f"{max(1, int(snap.bar))} : {max(1, int(snap.beat))}")

    def update_state(self, snap: Any) -> None:
        """Show engine state without sending anything back."""
        self._show_playing(bool(snap.playing))
        for w, value in ((self.tempo, float(snap.bpm)), (self.latency, int(round(snap.latency_ms)))):
            if not w.hasFocus():
                w.blockSignals(True)
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
        state = str(snap.model_state)
        colors = {"ready": theme.OK, "loading": theme.ACCENT, "error": theme.MUTE}
        self.model_led.set_color(colors.get(state, theme.GRID_LINE))
        name = snap.model_name or "model"
        self.model_label.setText(f"{name}: {state}" if state != "ready" else f"{name}")
