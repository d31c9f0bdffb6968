"""Slots A and B: capture from live input, load a .mid (dialog or drop), sample into, play,
drumify, swap.

Each slot card previews its groove, accepts .mid files dropped on it and can be dragged out as
a .mid. Between the cards sit the capture input choice (Drums / Rhythm), Swap and the A<->B
morph slider.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.engine_adapter import EngineAdapter
from gui.export import DraggableThumb
from gui.widgets.generate_panel import MorphSlider

MIDI_SUFFIXES = (".mid", ".midi")
INPUT_MODES = (("Drums", "drums"), ("Rhythm", "rhythm"))  # (shown, engine's name)


def midi_paths(mime: Any) -> list[Path]:
    if mime is None or not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile() and u.toLocalFile().lower().endswith(MIDI_SUFFIXES)]


class SlotCard(QFrame):
    """One slot: preview, source label and its buttons; a drop target for .mid files."""

    loadRequested = pyqtSignal(str, str)  # slot, path

    def __init__(
        self, slot: str, adapter: EngineAdapter, export_info: Callable[[], tuple[float, Any]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.slot = slot
        self.adapter = adapter
        self.last_dir = ""
        self.setObjectName("slot")
        self.setAcceptDrops(True)
        self.setToolTip(f"Slot {slot}: drop a .mid file here; drag the preview out as a .mid")
        lay = QGridLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        title = QLabel(f"<b style='font-size:15pt; color:#f0a030'>{slot}</b>")
        lay.addWidget(title, 0, 0)
        self.source = QLabel("empty")
        self.source.setObjectName("dim")
        self.source.setToolTip("Where this slot's groove came from")
        lay.addWidget(self.source, 0, 1, 1, 4)
        self.thumb = DraggableThumb(f"slot-{slot}", export_info)
        self.thumb.set_placeholder("drop a .mid here")
        self.thumb.setToolTip(f"Slot {slot}: click to play it, drag it out as a .mid file")
        self.thumb.setMinimumHeight(56)
        self.thumb.clicked.connect(lambda: self.adapter.command("play_slot", self.slot))
        lay.addWidget(self.thumb, 1, 0, 1, 5)
        buttons = (
            ("Capture", f"Capture the last 4 bars played on the MIDI input into {slot} (key {slot});"
             " right-click to record the next 4 bars instead", self.capture),
            ("Load…", f"Load a .mid file into slot {slot} (first 4 bars)", self.load_dialog),
            ("Sample", f"Sample a new groove from the model into slot {slot}", self.sample_into),
            ("Play", f"Play slot {slot}", lambda: self.adapter.command("play_slot", self.slot)),
            ("Drumify", f"Drumify slot {slot}: every note of its groove is a tap (any instrument); the Drumify"
             " model turns that rhythm into a full drum groove that keeps it, played from the next bar."
             " Capture with input Rhythm to tap or play a rhythm on any keys", self.drumify),
        )
        self.buttons: dict[str, QPushButton] = {}
        for col, (text, tip, slot_fn) in enumerate(buttons):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot_fn)
            lay.addWidget(b, 2, col)
            self.buttons[text] = b
        self._pending_sample = False
        cap = self.buttons["Capture"]
        cap.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        cap.customContextMenuRequested.connect(lambda pos: self._capture_menu(cap.mapToGlobal(pos)))

    # ---- actions -----------------------------------------------------------------------
    def drumify(self) -> None:
        self.adapter.command("drumify", self.slot.lower())

    def capture(self) -> None:
        if self.adapter.command("capture", self.slot, mode="last"):
            self.source.setText("capturing…")

    def capture_next(self, count_in_bars: int = 0) -> None:
        if self.adapter.command("capture", self.slot, mode="next", count_in_bars=count_in_bars):
            self.source.setText("armed…")

    def _capture_menu(self, where: Any) -> None:
        menu = QMenu(self)
        menu.addAction("Capture the last 4 bars", self.capture)
        menu.addAction("Record the next 4 bars", lambda: self.capture_next(0))
        menu.addAction("Record after a 1-bar count-in", lambda: self.capture_next(1))
        menu.exec(where)

    def on_capture(self, payload: dict) -> None:
        """Engine "capture" events for this slot: armed, recording, done, cancelled."""
        state = payload.get("state")
        text = {"armed": f"count-in… (from bar {payload.get('start_bar', '?')})", "recording": "recording…",
                "cancelled": "capture cancelled"}.get(str(state))
        if state == "done":
            text = f"captured ({payload.get('hits', 0)} hits)"
        if text:
            self.source.setText(text)

    def load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, f"Load a MIDI file into slot {self.slot}", self.last_dir, "MIDI files (*.mid *.midi)"
        )
        if path:
            self.load_file(path)

    def load_file(self, path: str | Path) -> None:
        """Read the file's first 4 bars here (a few ms) so a bad file names itself; then load."""
        from models.midi_files import MidiFileError, load_groove_window

        p = Path(path)
        self.last_dir = str(p.parent)
        snap = self.adapter.snapshot()
        drum_map = snap.input_drum_map if snap is not None else "gm"
        try:
            groove, _count = load_groove_window(p, drum_map=drum_map)
        except (MidiFileError, OSError) as e:
            self.adapter.error.emit(f"{p.name}: {getattr(e, 'strerror', None) or e}")
            return
        if self.adapter.command("load_slot", self.slot, groove):
            self.source.setText(p.name)
            self.source.setToolTip(str(p))
            self.loadRequested.emit(self.slot, str(p))

    def sample_into(self) -> None:
        """Sample one groove; when the variations arrive, the selected one goes into the slot."""
        if self.adapter.command("sample", 1):
            self._pending_sample = True
            self.source.setText("sampling…")

    def on_variations(self, snap: Any) -> None:
        if not self._pending_sample or not snap.variations:
            return
        self._pending_sample = False
        i = snap.selected_variation if snap.selected_variation is not None else 0
        i = min(max(int(i), 0), len(snap.variations) - 1)
        if self.adapter.command("load_slot", self.slot, snap.variations[i]):
            self.source.setText("sampled")

    def update_state(self, snap: Any) -> None:
        groove = snap.slots.get(self.slot)
        if groove is not self.thumb.groove():
            self.thumb.set_groove(groove)
            if groove is None:
                self.source.setText("empty")
            elif self.source.text() == "capturing…":
                self.source.setText(f"captured ({groove.num_hits} hits)")
            elif self.source.text() == "empty":
                self.source.setText("loaded")
        playing = snap.pattern_source == f"slot {self.slot}"
        self.thumb.set_selected(playing)

    # ---- drag and drop -----------------------------------------------------------------
    def _set_drag_over(self, on: bool) -> None:
        self.setProperty("dragOver", on)
        self.style().unpolish(self)  # type: ignore[union-attr]
        self.style().polish(self)  # type: ignore[union-attr]

    def dragEnterEvent(self, event: QDragEnterEvent | None) -> None:
        if event is not None and midi_paths(event.mimeData()):
            event.acceptProposedAction()
            self._set_drag_over(True)

    def dragLeaveEvent(self, event: QDragLeaveEvent | None) -> None:
        self._set_drag_over(False)

    def dropEvent(self, event: QDropEvent | None) -> None:
        self._set_drag_over(False)
        if event is None:
            return
        paths = midi_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.load_file(paths[0])


class SlotsPanel(QWidget):
    """A and B cards with Swap and the morph slider between them."""

    def __init__(
        self, adapter: EngineAdapter, export_info: Callable[[], tuple[float, Any]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.adapter = adapter
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.cards = {s: SlotCard(s, adapter, export_info) for s in ("A", "B")}
        lay.addWidget(self.cards["A"], 3)
        mid = QVBoxLayout()
        mid.addStretch(1)
        mode_row = QHBoxLayout()
        mode_label = QLabel("Capture input")
        mode_label.setObjectName("dim")
        mode_row.addWidget(mode_label)
        self.input_mode = QComboBox()
        for text, name in INPUT_MODES:
            self.input_mode.addItem(text, name)
        tip = ("What Capture records from the MIDI input. Drums: notes through the input drum map"
               " (kick, snare, hats...). Rhythm: every note on the input channels is a tap, whatever"
               " its pitch (a bass line, claps, any pad): capture it, then Drumify the slot for full drums")
        self.input_mode.setToolTip(tip)
        mode_label.setToolTip(tip)
        self.input_mode.currentIndexChanged.connect(self._mode_chosen)
        mode_row.addWidget(self.input_mode)
        mid.addLayout(mode_row)
        caption = QLabel("Morph  A ⟷ B")
        caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        caption.setObjectName("dim")
        mid.addWidget(caption)
        self.morph = MorphSlider(adapter)
        mid.addWidget(self.morph)
        self.swap_button = QPushButton("⇄  Swap A/B")
        self.swap_button.setToolTip("Exchange the grooves in slots A and B")
        self.swap_button.clicked.connect(lambda: self.adapter.command("swap_slots"))
        mid.addWidget(self.swap_button, 0, Qt.AlignmentFlag.AlignHCenter)
        mid.addStretch(1)
        lay.addLayout(mid, 2)
        lay.addWidget(self.cards["B"], 3)

    def _mode_chosen(self, index: int) -> None:
        name = self.input_mode.itemData(index)
        snap = self.adapter.snapshot()
        if name and (snap is None or getattr(snap, "input_mode", None) != name):
            self.adapter.command("set_input_mode", name)

    def update_state(self, snap: Any) -> None:
        i = self.input_mode.findData(getattr(snap, "input_mode", "drums"))
        if i >= 0 and i != self.input_mode.currentIndex():
            self.input_mode.blockSignals(True)  # the engine's value shown: not sent back
            self.input_mode.setCurrentIndex(i)
            self.input_mode.blockSignals(False)
        for card in self.cards.values():
            card.update_state(snap)
        self.morph.update_state(snap)
        both = snap.slots.get("A") is not None and snap.slots.get("B") is not None
        self.morph.setEnabled(both)
        self.morph.setToolTip(
            "Morph the playing pattern from A to B (latent interpolation)"
            if both
            else "Fill both slots A and B to morph between them"
        )

    def on_variations(self, snap: Any) -> None:
        for card in self.cards.values():
            card.on_variations(snap)
