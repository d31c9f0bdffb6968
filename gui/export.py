"""Export grooves as .mid: save dialogs' back end and drag-out of the window as a file.

Files are written with ``models.midi.files.write_midi`` (type 0, channel 10, the output drum
map's pitches), the same writer the CLI uses. ``start_midi_drag`` writes the groove to a temp
folder and starts a QDrag carrying its file URL, which DAWs and file managers accept.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PyQt6.QtCore import QMimeData, QPoint, Qt, QUrl
from PyQt6.QtGui import QDrag, QMouseEvent, QPixmap
from PyQt6.QtWidgets import QApplication, QWidget

from gui.widgets.pattern_grid import GrooveThumb
from models.drum_maps import DrumMap
from models.groove import Groove

_DRAG_DIR: Path | None = None


def export_pattern(groove: Groove, path: str | Path, bpm: float, drum_map: str | DrumMap = "gm") -> Path:
    """Write one groove; adds ``.mid`` when the name has no extension."""
    out = Path(path)
    if out.suffix.lower() not in (".mid", ".midi"):
        out = out.with_name(out.name + ".mid")
    out.parent.mkdir(parents=True, exist_ok=True)
    from models.midi.files import write_midi  # mido: imported when first needed (faster start)

    return write_midi(groove, out, bpm=bpm, drum_map=drum_map)


def export_variations(
    grooves: Sequence[Groove], directory: str | Path, bpm: float, drum_map: str | DrumMap = "gm",
    stem: str = "variation",
) -> list[Path]:
    """Write ``<stem>-01.mid``, ``<stem>-02.mid``, ... into ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    return [
        export_pattern(g, d / f"{stem}-{i + 1:02d}.mid", bpm, drum_map) for i, g in enumerate(grooves)
    ]


def drag_dir() -> Path:
    global _DRAG_DIR
    if _DRAG_DIR is None or not _DRAG_DIR.is_dir():
        _DRAG_DIR = Path(tempfile.mkdtemp(prefix="groovebridge-drag-"))
    return _DRAG_DIR


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "groove"


def midi_mime(groove: Groove, bpm: float, drum_map: str | DrumMap, name: str) -> QMimeData:
    """Write ``groove`` to a temp .mid; mime data carrying its file URL (what DAWs accept)."""
    path = export_pattern(groove, drag_dir() / f"{safe_name(name)}.mid", bpm, drum_map)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    mime.setText(str(path))
    return mime


def start_midi_drag(
    source: QWidget, groove: Groove, bpm: float, drum_map: str | DrumMap, name: str
) -> Path:
    """Drag ``groove`` out of the window as a .mid file (blocks until dropped)."""
    mime = midi_mime(groove, bpm, drum_map, name)
    path = Path(mime.urls()[0].toLocalFile())
    drag = QDrag(source)
    drag.setMimeData(mime)
    pix: QPixmap = source.grab()
    if not pix.isNull():
        drag.setPixmap(pix.scaledToWidth(min(160, max(1, pix.width())), Qt.TransformationMode.SmoothTransformation))
    drag.exec(Qt.DropAction.CopyAction)
    return path


class DraggableThumb(GrooveThumb):
    """A groove thumbnail that can be dragged out of the window as a .mid file."""

    def __init__(self, name: str, bpm_and_map: object, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self._bpm_and_map = bpm_and_map  # callable () -> (bpm, drum_map)
        self._press: QPoint | None = None

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is not None and event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent | None) -> None:
        if event is None or self._press is None or self.groove() is None:
            return
        if (event.position().toPoint() - self._press).manhattanLength() < QApplication.startDragDistance():
            return
        self._press = None
        bpm, dmap = self._bpm_and_map()  # type: ignore[operator]
        start_midi_drag(self, self.groove(), bpm, dmap, self._name)  # type: ignore[arg-type]

    def mouseReleaseEvent(self, event: QMouseEvent | None) -> None:
        self._press = None
        super().mouseReleaseEvent(event)
