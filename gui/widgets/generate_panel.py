"""Generate: temperature, variations (1-16) and their strip, humanize, reconstruct, A<->B morph.

Clicking a variation auditions it (the engine plays it from the next bar); its context menu
sends it to slot A or B. Export buttons ask the window to save the pattern or all variations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QPoint, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from bridge.engine.api import EngineCommands
from gui.engine_adapter import EngineAdapter
from gui.export import DraggableThumb

MAX_VARIATIONS = 16
MORPH_RESOLUTION = 1000


class MorphSlider(QSlider):
    """A<->B interpolation position, sent live to the engine."""

    def __init__(self, adapter: EngineAdapter, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.adapter = adapter
        self.setRange(0, MORPH_RESOLUTION)
        self.setPageStep(MORPH_RESOLUTION // 8)
        self.setToolTip("Morph the playing pattern from A to B (latent interpolation)")
        self.valueChanged.connect(self._send)

    def _send(self, value: int) -> None:
        self.adapter.command(EngineCommands.set_interpolation, value / MORPH_RESOLUTION)

    def set_position(self, position: float) -> None:
        """Move the slider (and the engine's morph) to ``position`` in 0..1."""
        self.setValue(round(min(max(position, 0.0), 1.0) * MORPH_RESOLUTION))

    def update_state(self, snap: Any) -> None:
        if self.isSliderDown() or snap.interpolation is None:
            return
        v = round(float(snap.interpolation) * MORPH_RESOLUTION)
        if v != self.value():
            self.blockSignals(True)
            self.setValue(v)
            self.blockSignals(False)


def _labelled_slider(lo: int, hi: int, value: int, tip: str, fmt: Any) -> tuple[QSlider, QLabel]:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    s.setToolTip(tip)
    label = QLabel(fmt(value))
    label.setMinimumWidth(38)
    label.setToolTip(tip)
    s.valueChanged.connect(lambda v: label.setText(fmt(v)))
    return s, label


class GeneratePanel(QWidget):
    exportPatternRequested = pyqtSignal()
    exportVariationsRequested = pyqtSignal()

    def __init__(
        self, adapter: EngineAdapter, export_info: Callable[[], tuple[float, Any]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.adapter = adapter
        export_info = export_info or (lambda: (120.0, "gm"))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)

        row = QHBoxLayout()
        self.sample_button = QPushButton("✦  Sample")
        self.sample_button.setObjectName("primary")
        self.sample_button.setToolTip("Sample new grooves from the model (S)")
        self.sample_button.clicked.connect(self.sample)
        row.addWidget(self.sample_button)
        row.addWidget(QLabel("Temperature"))
        self.temperature, self.temperature_label = _labelled_slider(
            5, 200, 100, "Sampling temperature: low = safe and repetitive, high = wild", lambda v: f"{v / 100:.2f}"
        )
        self.temperature.valueChanged.connect(lambda v: self.adapter.command(EngineCommands.set_temperature, v / 100))
        row.addWidget(self.temperature, 2)
        row.addWidget(self.temperature_label)
        row.addWidget(QLabel("Variations"))
        self.num_variations = QSpinBox()
        self.num_variations.setRange(1, MAX_VARIATIONS)
        self.num_variations.setValue(4)
        self.num_variations.setToolTip("How many grooves one Sample makes (1-16)")
        self.num_variations.valueChanged.connect(lambda v: self.adapter.command(EngineCommands.set_num_variations, int(v)))
        row.addWidget(self.num_variations)
        lay.addLayout(row)

        self.strip = QGridLayout()
        self.strip.setSpacing(4)
        self.thumbs: list[DraggableThumb] = []
        for i in range(MAX_VARIATIONS):
            t = DraggableThumb(f"variation-{i + 1:02d}", export_info)
            t.setMinimumHeight(26)
            t.set_placeholder(str(i + 1))
            t.setToolTip(f"Variation {i + 1}: click to audition, right-click to send to A or B, drag out as .mid")
            t.clicked.connect(lambda i=i: self.select(i))
            t.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            t.customContextMenuRequested.connect(lambda pos, i=i: self._menu(i, pos))
            self.strip.addWidget(t, i // 8, i % 8)
            self.thumbs.append(t)
        lay.addLayout(self.strip)

        row2 = QHBoxLayout()
        self.humanize_button = QPushButton("Humanize")
        self.humanize_button.setToolTip("Give the playing pattern the model's timing and dynamics (keeps its hits)")
        self.humanize_button.clicked.connect(lambda: self.adapter.command(EngineCommands.humanize, self.humanize_amount.value() / 100))
        row2.addWidget(self.humanize_button)
        row2.addWidget(QLabel("Amount"))
        self.humanize_amount, amount_label = _labelled_slider(
            0, 100, 100, "How much of the humanized feel to apply (0-100%)", lambda v: f"{v}%"
        )
        row2.addWidget(self.humanize_amount, 1)
        row2.addWidget(amount_label)
        self.reconstruct_button = QPushButton("Reconstruct")
        self.reconstruct_button.setToolTip("Encode and decode the playing pattern: the model's take on it")
        self.reconstruct_button.clicked.connect(lambda: self.adapter.command(EngineCommands.reconstruct))
        row2.addWidget(self.reconstruct_button)
        row2.addSpacing(12)
        self.export_button = QPushButton("Save pattern…")
        self.export_button.setToolTip("Save the playing pattern as a .mid file (Ctrl+S)")
        self.export_button.clicked.connect(self.exportPatternRequested)
        row2.addWidget(self.export_button)
        self.export_all_button = QPushButton("Save variations…")
        self.export_all_button.setToolTip("Save every variation as .mid files into a folder")
        self.export_all_button.clicked.connect(self.exportVariationsRequested)
        row2.addWidget(self.export_all_button)
        lay.addLayout(row2)

    # ---- commands ----------------------------------------------------------------------
    def sample(self) -> None:
        self.adapter.command(EngineCommands.sample, self.num_variations.value(), self.temperature.value() / 100)

    def select(self, i: int) -> None:
        if self.thumbs[i].groove() is not None:
            self.adapter.command(EngineCommands.select_variation, i)

    def _menu(self, i: int, pos: QPoint) -> None:
        groove = self.thumbs[i].groove()
        if groove is None:
            return
        menu = QMenu(self)
        for slot in ("A", "B"):
            menu.addAction(f"Send to slot {slot}", lambda s=slot: self.adapter.command(EngineCommands.load_slot, s, groove))
        menu.exec(self.thumbs[i].mapToGlobal(pos))

    # ---- state -------------------------------------------------------------------------
    def update_state(self, snap: Any) -> None:
        variations = tuple(snap.variations or ())
        for i, t in enumerate(self.thumbs):
            g = variations[i] if i < len(variations) else None
            if g is not t.groove():
                t.set_groove(g)
            t.set_selected(g is not None and snap.selected_variation == i and str(snap.pattern_source).startswith(("variation", "sample")))
            t.setVisible(i < max(len(variations), self.num_variations.value()))
        for spin, value in ((self.num_variations, int(snap.num_variations)),):
            if not spin.hasFocus() and spin.value() != value:
                spin.blockSignals(True)
                spin.setValue(value)
                spin.blockSignals(False)
        t100 = round(float(snap.temperature) * 100)
        if not self.temperature.isSliderDown() and t100 != self.temperature.value():
            self.temperature.blockSignals(True)
            self.temperature.setValue(t100)
            self.temperature_label.setText(f"{t100 / 100:.2f}")
            self.temperature.blockSignals(False)
        ready = snap.model_state == "ready"
        for b in (self.sample_button, self.humanize_button, self.reconstruct_button):
            b.setEnabled(ready)
        self.export_all_button.setEnabled(bool(variations))
