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

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
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
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from bridge import commands
from bridge.engine.api import EngineCommands
from gui.engine_adapter import EngineAdapter
from gui.export import DraggableThumb
from gui.widgets.generate_panel import MorphSlider

MIDI_SUFFIXES = (".mid", ".midi")
PENDING_TIMEOUT_MS = 4000  # an action with no answer by then is given up (its label restored)
INPUT_MODES = tuple((name.capitalize(), name) for name in commands.INPUT_MODES)  # (shown, engine's name)


def midi_paths(mime: Any) -> list[Path]:
    if mime is None or not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile() and u.toLocalFile().lower().endswith(MIDI_SUFFIXES)]


class SlotCard(QFrame):
    """One slot: preview, source label and its buttons; a drop target for .mid files."""

    loadRequested = pyqtSignal(str, str)  # slot, path
    tempoOffered = pyqtSignal(float, str)  # a loaded file's tempo, its name

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
        lay.setContentsMargins(8, 4, 8, 6)
        lay.setVerticalSpacing(4)
        title = QLabel(f"<b style='font-size:15pt; color:#f0a030'>{slot}</b>")
        lay.addWidget(title, 0, 0)
        self.source = QLabel("empty")
        self.source.setObjectName("dim")
        self.source.setToolTip("Where this slot's groove came from")
        lay.addWidget(self.source, 0, 1, 1, 3)
        self.thumb = DraggableThumb(f"slot-{slot}", export_info)
        self.thumb.set_placeholder("drop a .mid here")
        self.thumb.setToolTip(f"Slot {slot}: click to play it, drag it out as a .mid file")
        self.thumb.setMinimumHeight(40)
        self.thumb.clicked.connect(lambda: self.adapter.command(EngineCommands.play_slot, self.slot))
        lay.addWidget(self.thumb, 1, 0, 1, 4)
        self.count_in = QSpinBox()  # beside Record (below); its lambda reads it
        buttons = (
            ("Capture", f"Capture the last 4 bars played on the MIDI input into {slot} (key {slot})", self.capture, 2, 0),
            ("Record", f"Record the next 4 bars played on the MIDI input into {slot}, from the next bar line"
             " (after the count-in, when one is set)", lambda: self.capture_next(self.count_in.value()), 2, 1),
            ("Load…", f"Load a .mid file into slot {slot} (first 4 bars)", self.load_dialog, 3, 0),
            ("Sample", f"Sample a new groove from the model into slot {slot} (the variations and the"
             " playing pattern stay)", self.sample_into, 3, 1),
            ("Play", f"Play slot {slot}", lambda: self.adapter.command(EngineCommands.play_slot, self.slot), 3, 2),
            ("Drumify", f"Drumify slot {slot}: every note of its groove is a tap (any instrument); the Drumify"
             " model turns that rhythm into a full drum groove that keeps it, played from the next bar."
             " Capture with input Rhythm to tap or play a rhythm on any keys", self.drumify, 3, 3),
        )
        self.buttons: dict[str, QPushButton] = {}
        for text, tip, slot_fn, row, col in buttons:
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot_fn)
            lay.addWidget(b, row, col)
            self.buttons[text] = b
        self.count_in.setRange(0, 2)
        self.count_in.setSuffix(" bar count-in")
        self.count_in.setSpecialValueText("no count-in")
        self.count_in.setToolTip("Bars of count-in before Record starts (clicks when the click is on)")
        lay.addWidget(self.count_in, 2, 2, 1, 2)
        self.names: dict[int, tuple[Any, str, str]] = {}  # id(groove) -> (groove, label, tooltip): shared
        self._pending = ""  # "capture" | "sample" while the engine works on it
        self._before = ("empty", "")  # the label to restore when the pending action fails
        self._pending_timer = QTimer(self)
        self._pending_timer.setSingleShot(True)
        self._pending_timer.setInterval(PENDING_TIMEOUT_MS)
        self._pending_timer.timeout.connect(self._give_up)
        adapter.error.connect(self._on_error)
        cap = self.buttons["Capture"]
        cap.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        cap.customContextMenuRequested.connect(lambda pos: self._capture_menu(cap.mapToGlobal(pos)))

    # ---- actions -----------------------------------------------------------------------
    def drumify(self) -> None:
        self.adapter.command(EngineCommands.drumify, self.slot.lower())

    def _start(self, action: str, text: str) -> None:
        """An action is under way: show it, remember what to go back to if it fails."""
        if not self._pending:
            self._before = (self.source.text(), self.source.toolTip())
        self._pending = action
        self.source.setText(text)
        self._pending_timer.start()

    def _end(self, failed: str = "") -> None:
        """The pending action is over; a failed one puts the slot's label back."""
        self._pending = ""
        self._pending_timer.stop()
        if failed:
            self.source.setText(self._before[0])
            self.source.setToolTip(self._before[1])

    def _on_error(self, message: str) -> None:
        # Commands run in order on the engine's control thread: an error while this slot
        # waits (and its groove did not change) is this action's failure.
        if self._pending:
            self._end(failed=message)

    def _give_up(self) -> None:
        self._end(failed="" if self._pending == "record" else "no answer")

    def capture(self) -> None:
        if self.adapter.command(EngineCommands.capture, self.slot, mode="last"):
            self._start("capture", "capturing…")

    def capture_next(self, count_in_bars: int = 0) -> None:
        if self.adapter.command(EngineCommands.capture, self.slot, mode="next", count_in_bars=count_in_bars):
            self._start("record", "armed…")
            self._pending_timer.stop()  # a recording takes its bars: the engine reports its end

    def _capture_menu(self, where: Any) -> None:
        menu = QMenu(self)
        menu.addAction("Capture the last 4 bars", self.capture)
        menu.addAction("Record the next 4 bars", lambda: self.capture_next(0))
        menu.addAction("Record after a 1-bar count-in", lambda: self.capture_next(1))
        menu.exec(where)

    def on_capture(self, payload: dict) -> None:
        """Engine "capture" events for this slot: armed, recording, done, cancelled."""
        state = payload.get("state")
        text = {"armed": f"count-in… (from bar {payload.get('start_bar', '?')})", "recording": "recording…"}.get(str(state))
        if state == "done":
            if self._pending == "record":  # the groove follows: update_state labels it
                self._pending_timer.start()
            else:
                text = f"captured ({payload.get('hits', 0)} hits)"
        elif state == "cancelled":
            self._end(failed="cancelled")
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
        from models.midi.files import MidiFileError, load_groove_window

        p = Path(path)
        self.last_dir = str(p.parent)
        snap = self.adapter.snapshot()
        drum_map = snap.input_drum_map if snap is not None else "gm"
        try:
            groove, _count = load_groove_window(p, drum_map=drum_map)
        except (MidiFileError, OSError) as e:
            self.adapter.error.emit(f"{p.name}: {getattr(e, 'strerror', None) or e}")
            return
        if self.adapter.command(EngineCommands.load_slot, self.slot, groove):
            self._end()
            self.names[id(groove)] = (groove, p.name, str(p))
            self.source.setText(p.name)
            self.source.setToolTip(str(p))
            self.loadRequested.emit(self.slot, str(p))
            if groove.bpm and snap is not None and abs(float(groove.bpm) - float(snap.bpm)) >= 0.5:
                self.tempoOffered.emit(round(float(groove.bpm), 1), p.name)

    def sample_into(self) -> None:
        """Sample one groove into this slot; the variation strip and the pattern stay."""
        if self.adapter.command(EngineCommands.sample_slot, self.slot):
            self._start("sample", "sampling…")

    def on_variations(self, snap: Any) -> None:
        """(Kept for the window's "variations" event; slot sampling no longer goes through it.)"""

    def update_state(self, snap: Any) -> None:
        groove = snap.slots.get(self.slot)
        if groove is not self.thumb.groove():
            self.thumb.set_groove(groove)
            named = self.names.get(id(groove)) if groove is not None else None
            if groove is None:
                text, tip = "empty", ""
            elif named is not None and named[0] is groove:
                text, tip = named[1], named[2]
            elif self._pending == "capture":
                text, tip = f"captured ({groove.num_hits} hits)", ""
            elif self._pending == "sample":
                text, tip = "sampled", ""
            elif self._pending == "record":
                text, tip = f"captured ({groove.num_hits} hits)", ""
            else:
                text, tip = "loaded", ""
            if groove is not None:
                if len(self.names) > 64:  # forget grooves no slot holds any more
                    keep = {id(g) for g in snap.slots.values() if g is not None}
                    for k in [k for k in self.names if k not in keep]:
                        del self.names[k]
                self.names[id(groove)] = (groove, text, tip)
            self._end()
            self.source.setText(text)
            self.source.setToolTip(tip or "Where this slot's groove came from")
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
        self.cards = {s: SlotCard(s, adapter, export_info) for s in commands.SLOTS}
        self.cards["B"].names = self.cards["A"].names  # one naming: a swap carries the names over
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
        self.swap_button.setToolTip("Exchange the grooves in slots A and B (X); a playing morph keeps"
                                    " playing, its slider mirrored")
        self.swap_button.clicked.connect(self.swap)
        mid.addWidget(self.swap_button, 0, Qt.AlignmentFlag.AlignHCenter)
        mid.addStretch(1)
        lay.addLayout(mid, 2)
        lay.addWidget(self.cards["B"], 3)

    def _mode_chosen(self, index: int) -> None:
        name = self.input_mode.itemData(index)
        snap = self.adapter.snapshot()
        if name and (snap is None or getattr(snap, "input_mode", None) != name):
            self.adapter.command(EngineCommands.set_input_mode, name)

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

    def swap(self) -> None:
        """Swap A and B so that what is shown still plays: names go with their grooves; a
        playing morph is redone at the mirrored position (1 - p: the same point between the
        same two grooves); a playing slot keeps playing under its new letter."""
        snap = self.adapter.snapshot()
        if not self.adapter.command(EngineCommands.swap_slots) or snap is None:
            return
        src = str(snap.pattern_source)
        if src.startswith("morph") and all(snap.slots.get(k) is not None for k in commands.SLOTS):
            p = 1.0 - float(snap.interpolation)
            self.morph.blockSignals(True)
            self.morph.set_position(p)
            self.morph.blockSignals(False)
            self.adapter.command(EngineCommands.set_interpolation, p)  # runs after the swap (one control thread)
        elif src in ("slot A", "slot B"):
            self.adapter.command(EngineCommands.play_slot, "B" if src == "slot A" else "A")

    # ---- kept between launches ----------------------------------------------------------------
    def save_slots(self, folder: Path, bpm: float) -> dict[str, str]:
        """Write each filled slot to ``folder/<slot>.mid``; {slot: its label} (empty ones absent)."""
        from gui.export import export_pattern

        snap = self.adapter.snapshot()
        labels: dict[str, str] = {}
        for key, card in self.cards.items():
            f = folder / f"{key}.mid"
            groove = snap.slots.get(key) if snap is not None else None
            try:
                if groove is None or not groove.num_hits:
                    f.unlink(missing_ok=True)
                    continue
                export_pattern(groove, f, bpm, "gm")
            except (OSError, ValueError):
                continue
            labels[key] = card.source.text()
        return labels

    def restore_slots(self, folder: Path, labels: dict[str, str]) -> None:
        """Load what ``save_slots`` kept (a missing or damaged file leaves its slot empty)."""
        from models.midi.files import MidiFileError, load_groove_window

        for key, label in labels.items():
            card = self.cards.get(key)
            f = folder / f"{key}.mid"
            if card is None or not f.is_file():
                continue
            try:
                groove, _ = load_groove_window(f, drum_map="gm")
            except (MidiFileError, OSError) as e:
                self.adapter.error.emit(f"slot {key} from the last session not restored: {e}")
                continue
            card.names[id(groove)] = (groove, str(label), "Restored from the last session")
            self.adapter.command(EngineCommands.load_slot, key, groove)
