"""The main window's export commands: the playing pattern or every variation as .mid files,
with or without a file dialog (``gui.main_window.MainWindow`` mixes this in)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PyQt6.QtWidgets import QFileDialog

from gui.export import export_pattern, export_variations

if TYPE_CHECKING:  # pragma: no cover
    from gui.window_parts import WindowParts as _Base
else:
    _Base = object


class WindowExportMixin(_Base):
    def export_info(self) -> tuple[float, Any]:
        snap = self.adapter.snapshot()
        if snap is None:
            return 120.0, "gm"
        return float(snap.bpm), snap.output_drum_map

    def export_pattern_to(self, path: str | Path) -> Path | None:
        snap = self.adapter.snapshot()
        groove = snap.pattern if snap is not None else self.grid.groove()
        bpm, dmap = self.export_info()
        try:
            out = export_pattern(groove, path, bpm, dmap)
        except (OSError, ValueError) as e:
            self.show_error(f"could not save {path}: {e}")
            return None
        self.statusBar().showMessage(f"saved {out}", 5000)  # type: ignore[union-attr]
        return out

    def export_pattern_dialog(self) -> None:
        start = str(Path(self.store.get("export_dir", str(Path.home()))) / "groove.mid")
        path, _ = QFileDialog.getSaveFileName(self, "Save pattern as MIDI", start, "MIDI files (*.mid)")
        if path:
            self.store.set("export_dir", str(Path(path).parent))
            self.export_pattern_to(path)

    def export_variations_to(self, directory: str | Path) -> list[Path]:
        snap = self.adapter.snapshot()
        if snap is None or not snap.variations:
            self.show_error("no variations to save yet: press Sample first")
            return []
        bpm, dmap = self.export_info()
        try:
            out = export_variations(snap.variations, directory, bpm, dmap)
        except (OSError, ValueError) as e:
            self.show_error(f"could not save variations to {directory}: {e}")
            return []
        self.statusBar().showMessage(f"saved {len(out)} variations to {directory}", 5000)  # type: ignore[union-attr]
        return out

    def export_variations_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder for the variations", self.store.get("export_dir", str(Path.home())))
        if d:
            self.store.set("export_dir", d)
            self.export_variations_to(d)
