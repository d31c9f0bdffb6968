"""The app's dark theme: a Fusion palette, one stylesheet and the drum-row colours.

Colours live here so every widget (grid, thumbnails, plots) agrees on them.
"""

from __future__ import annotations

from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QApplication

BACKGROUND = QColor("#15171c")
PANEL = QColor("#1d2027")
PANEL_LIGHT = QColor("#262a33")
GRID_LINE = QColor("#2e333d")
BAR_LINE = QColor("#4a5160")
TEXT = QColor("#d8dce4")
TEXT_DIM = QColor("#8a93a3")
ACCENT = QColor("#f0a030")  # playhead, active transport
MUTE = QColor("#e5534b")
OK = QColor("#57c27a")

# One hue per drum class (kick, snare, closed hh, open hh, low/mid/high tom, crash, ride).
ROW_COLORS: tuple[QColor, ...] = tuple(
    QColor(c)
    for c in (
        "#ff6b5b",
        "#ffb347",
        "#f5e663",
        "#b5e655",
        "#4fd1a5",
        "#45c4e8",
        "#5b8cff",
        "#a779ff",
        "#ef6fd0",
    )
)

ROW_LABELS: tuple[str, ...] = (
    "Kick",
    "Snare",
    "Closed Hat",
    "Open Hat",
    "Low Tom",
    "Mid Tom",
    "High Tom",
    "Crash",
    "Ride",
)

STYLESHEET = """
QWidget { color: #d8dce4; }
QMainWindow, QDialog { background: #15171c; }
QGroupBox {
    background: #1d2027; border: 1px solid #2e333d; border-radius: 6px;
    margin-top: 1.3em; padding: 0.5em 0.45em 0.45em 0.45em; font-weight: 600;
}
QGroupBox::title { subcontrol-origin: margin; left: 0.7em; padding: 0 0.3em; color: #8a93a3; }
QPushButton, QToolButton {
    background: #2a2f3a; border: 1px solid #3a404d; border-radius: 4px;
    padding: 0.3em 0.75em; min-height: 1.3em;
}
QPushButton:hover, QToolButton:hover { background: #343a47; border-color: #4e5667; }
QPushButton:pressed, QToolButton:pressed { background: #20242c; }
QPushButton:checked, QToolButton:checked { background: #4a3a1c; border-color: #f0a030; color: #ffd08a; }
QPushButton:disabled, QToolButton:disabled { color: #5d6472; background: #22262e; }
QPushButton#primary { background: #3b2d12; border-color: #f0a030; color: #ffd08a; font-weight: 600; }
QPushButton#primary:hover { background: #4a3a1c; }
QPushButton#primary:disabled { background: #22262e; border-color: #3a404d; color: #5d6472; }
QComboBox, QLineEdit {
    background: #12141a; border: 1px solid #3a404d; border-radius: 4px; padding: 0.15em 0.4em;
    selection-background-color: #f0a030; selection-color: #15171c;
}
QComboBox QAbstractItemView { background: #1d2027; border: 1px solid #3a404d; }
QSlider::groove:horizontal { height: 4px; background: #2e333d; border-radius: 2px; }
QSlider::sub-page:horizontal { background: #b07a25; border-radius: 2px; }
QSlider::handle:horizontal {
    background: #f0a030; width: 14px; height: 14px; margin: -6px 0; border-radius: 7px;
}
QProgressBar {
    background: #12141a; border: 1px solid #3a404d; border-radius: 4px; text-align: center;
    min-height: 1.1em;
}
QProgressBar::chunk { background: #b07a25; border-radius: 3px; }
QTabWidget::pane { border: 1px solid #2e333d; border-radius: 6px; top: -1px; }
QTabBar::tab {
    background: #1d2027; border: 1px solid #2e333d; padding: 0.4em 1.2em; margin-right: 2px;
    border-top-left-radius: 5px; border-top-right-radius: 5px; color: #8a93a3;
}
QTabBar::tab:selected { background: #262a33; color: #ffd08a; border-bottom-color: #262a33; }
QListWidget, QTableWidget, QPlainTextEdit, QTreeWidget {
    background: #12141a; border: 1px solid #2e333d; border-radius: 4px;
    alternate-background-color: #171a20;
    selection-background-color: #4a3a1c; selection-color: #ffd08a;
}
QHeaderView::section { background: #1d2027; border: none; padding: 0.25em; color: #8a93a3; }
QStatusBar { background: #101216; color: #8a93a3; }
QLabel#display {
    background: #0d0f13; border: 1px solid #2e333d; border-radius: 4px; color: #ffd08a;
    font-family: monospace; font-size: 15pt; padding: 0.05em 0.5em;
}
QLabel#dim { color: #8a93a3; }
QFrame#slot { background: #1a1d23; border: 1px solid #2e333d; border-radius: 6px; }
QFrame#slot[dragOver="true"] { border: 1px dashed #f0a030; background: #231f17; }
QToolTip { background: #262a33; color: #d8dce4; border: 1px solid #4a5160; padding: 4px; }
"""


def apply_theme(app: QApplication) -> None:
    """Fusion style, a dark palette and the stylesheet; fonts stay the platform's (HiDPI safe)."""
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: BACKGROUND,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: QColor("#12141a"),
        QPalette.ColorRole.AlternateBase: PANEL,
        QPalette.ColorRole.ToolTipBase: PANEL_LIGHT,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: PANEL_LIGHT,
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: BACKGROUND,
        QPalette.ColorRole.PlaceholderText: TEXT_DIM,
    }
    for role, color in roles.items():
        pal.setColor(role, color)
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, TEXT_DIM)
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, TEXT_DIM)
    app.setPalette(pal)
    app.setStyleSheet(STYLESHEET)
