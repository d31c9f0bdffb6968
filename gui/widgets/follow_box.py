"""Follow: a compact group on the Play tab for the engine's Follow mode (bridge.engine.follow).

One row: an on/off toggle, the source (Drums: the played drums | Rhythm: the played rhythm,
drumified), every 1 / 2 / 4 bars, and the amount (0-100 %). Each control sends its engine
command; the engine's values (changed over OSC, or refused) are shown back without being
sent again. The last-bars window and the temperature are settings / OSC only.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from bridge.commands import FOLLOW_BARS
from bridge.engine.api import Command, EngineCommands
from gui.engine_adapter import EngineAdapter

SOURCES = (("Drums", "drums"), ("Rhythm", "rhythm"))
EVERY = FOLLOW_BARS


class FollowBox(QGroupBox):
    def __init__(self, adapter: EngineAdapter, parent: QWidget | None = None) -> None:
        super().__init__("Follow", parent)
        self.adapter = adapter
        self.setToolTip("Follow: every bar line (or every 2 / 4 bars) the next pattern is generated from "
                        "what you played in the last bars, and plays from the next bar line")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        self.toggle = QPushButton("Follow")
        self.toggle.setCheckable(True)
        self.toggle.setToolTip("Follow mode on/off: the pattern follows what you play (silence keeps it)")
        self.toggle.toggled.connect(lambda on: self._send(EngineCommands.set_follow, "follow", bool(on)))
        lay.addWidget(self.toggle)
        self.source = QComboBox()
        for text, name in SOURCES:
            self.source.addItem(text, name)
        self.source.setToolTip("Drums: move towards the drums you play; Rhythm: drumify the rhythm you play "
                               "(any notes; set the capture input to Rhythm)")
        self.source.currentIndexChanged.connect(
            lambda i: self._send(EngineCommands.set_follow_source, "follow_source", self.source.itemData(i)))
        lay.addWidget(self.source)
        lay.addWidget(QLabel("every"))
        self.every = QComboBox()
        for n in EVERY:
            self.every.addItem(f"{n} bar" + ("s" if n > 1 else ""), n)
        self.every.setToolTip("Generate a new pattern every 1, 2 or 4 bars")
        self.every.currentIndexChanged.connect(
            lambda i: self._send(EngineCommands.set_follow_every, "follow_every", self.every.itemData(i)))
        lay.addWidget(self.every)
        lay.addWidget(QLabel("amount"))
        self.amount = QSlider(Qt.Orientation.Horizontal)
        self.amount.setRange(0, 100)
        self.amount.setValue(50)
        self.amount.setMinimumWidth(80)
        self.amount.setToolTip("How far each new pattern moves from the playing one towards what you played "
                               "(0 keeps it)")
        self.amount_label = QLabel("50%")
        self.amount_label.setMinimumWidth(36)
        self.amount.valueChanged.connect(self._amount_moved)
        lay.addWidget(self.amount, 1)
        lay.addWidget(self.amount_label)
        self.late = QLabel("")
        self.late.setObjectName("dim")
        self.late.setToolTip("Generations not ready before their bar: skipped, never played late")
        lay.addWidget(self.late)
        adapter.stateChanged.connect(self.update_state)

    def _send(self, command: Command, field: str, value: Any) -> None:
        snap = self.adapter.snapshot()
        if value is not None and (snap is None or getattr(snap, field, None) != value):
            self.adapter.command(command, value)

    def _amount_moved(self, value: int) -> None:
        self.amount_label.setText(f"{value}%")
        self._send(EngineCommands.set_follow_amount, "follow_amount", value / 100.0)

    def update_state(self, snap: Any) -> None:
        """Show the engine's follow settings (not sent back)."""
        widgets = (self.toggle, self.source, self.every, self.amount)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.toggle.setChecked(bool(getattr(snap, "follow", False)))
            for combo, field in ((self.source, "follow_source"), (self.every, "follow_every")):
                i = combo.findData(getattr(snap, field, None))
                if i >= 0:
                    combo.setCurrentIndex(i)
            if not self.amount.isSliderDown():
                value = round(float(getattr(snap, "follow_amount", 0.5)) * 100)
                self.amount.setValue(value)
                self.amount_label.setText(f"{value}%")
        finally:
            for w in widgets:
                w.blockSignals(False)
        late = int(getattr(snap, "follow_late", 0))
        self.late.setText(f"late {late}" if late else "")
