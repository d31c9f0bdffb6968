"""What the main window's mixins (``gui.window_export``, ``gui.window_extras``) use of the
window, for the type checker: a ``QMainWindow`` with these parts, which
``gui.main_window.MainWindow`` builds. The mixins derive from it only while type checking (at
run time they stay plain classes, so the window's method order is unchanged)."""

from __future__ import annotations

from collections import deque

from PyQt6.QtWidgets import QLabel, QMainWindow, QSplitter

from gui.engine_adapter import EngineAdapter
from gui.settings_store import SettingsStore
from gui.widgets.generate_panel import GeneratePanel
from gui.widgets.io_panel import IoPanel
from gui.widgets.pattern_grid import PatternGrid
from gui.widgets.slots import SlotsPanel
from gui.widgets.train_panel import TrainPanel
from gui.widgets.transport import TransportBar


class WindowParts(QMainWindow):
    adapter: EngineAdapter
    store: SettingsStore
    grid: PatternGrid
    transport: TransportBar
    slots: SlotsPanel
    generate: GeneratePanel
    train_panel: TrainPanel
    io_panel: IoPanel
    splitter: QSplitter
    error_label: QLabel
    source_label: QLabel
    errors: deque[str]

    def show_error(self, message: str) -> None:
        raise NotImplementedError  # MainWindow's

    def _show_shortcuts(self) -> None:
        raise NotImplementedError  # MainWindow's
