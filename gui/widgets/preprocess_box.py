"""Train panel, step 1: choose a MIDI folder and preprocess it in a child process.

Runs ``python -m gui.job_child preprocess`` (JSON progress lines): a progress bar, the windows
per split and the per-reason skip report; the dataset it writes fills the Dataset field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from gui.child_jobs import ChildJob
from gui.data_folders import datasets_dir
from gui.job_text import readable
from models import progress


def path_row(edit: QLineEdit, tip: str, pick: Any) -> QWidget:
    """A line edit with a Browse… button sharing its tooltip."""
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    edit.setToolTip(tip)
    lay.addWidget(edit, 1)
    b = QPushButton("Browse…")
    b.setToolTip(tip)
    b.clicked.connect(pick)
    lay.addWidget(b)
    return w


class PreprocessBox(QGroupBox):
    failed = pyqtSignal(str)  # one-line message

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("1 · Data", parent)
        self.workers: int | None = None
        self.preprocess_job = ChildJob("preprocessing", self)
        self._pending_dataset = ""
        form = QFormLayout(self)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("a folder of drum .mid files (searched recursively)")
        form.addRow("MIDI folder", path_row(self.folder_edit, "Folder of drum MIDI files to learn from", self._pick_folder))
        self.drum_map = QComboBox()
        self.drum_map.addItems(["roland", "gm", "reduced"])
        self.drum_map.setToolTip("How the files' drum notes map to the 9 classes (roland = Groove MIDI Dataset)")
        form.addRow("Drum map", self.drum_map)
        self.preprocess_button = QPushButton("Preprocess")
        self.preprocess_button.setToolTip("Read the folder into a training dataset (.gbds), in a child process")
        self.preprocess_button.clicked.connect(self.start_preprocess)
        self.preprocess_bar = QProgressBar()
        self.preprocess_bar.setFormat("%v / %m files")
        self.preprocess_bar.setToolTip("Files read so far")
        row = QHBoxLayout()
        row.addWidget(self.preprocess_button)
        row.addWidget(self.preprocess_bar, 1)
        form.addRow(row)
        self.report_label = QLabel("")
        self.report_label.setWordWrap(True)
        self.report_label.setObjectName("dim")
        self.report_label.setToolTip("Files, windows per split and skipped files of the last preprocessing")
        form.addRow(self.report_label)
        self.skip_table = QTableWidget(0, 2)
        self.skip_table.setHorizontalHeaderLabels(["skipped because", "files"])
        self.skip_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)  # type: ignore[union-attr]
        self.skip_table.verticalHeader().setVisible(False)  # type: ignore[union-attr]
        self.skip_table.setMaximumHeight(110)
        self.skip_table.setToolTip("Files that gave no training windows, counted per reason")
        form.addRow(self.skip_table)
        self.dataset_edit = QLineEdit()
        self.dataset_edit.setPlaceholderText("dataset .gbds, or a Magenta NoteSequence .tfrecord (filled in by Preprocess)")
        form.addRow("Dataset", path_row(self.dataset_edit, "The dataset file training reads", self._pick_dataset))
        self.preprocess_job.jsonLine.connect(self._on_preprocess_json)
        self.preprocess_job.finished.connect(self._on_preprocess_finished)

    def _pick_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder of drum MIDI files", self.folder_edit.text())
        if d:
            self.folder_edit.setText(d)

    def _pick_dataset(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Dataset", str(datasets_dir()), "Datasets (*.gbds *.npz *.tfrecord)")
        if f:
            self.dataset_edit.setText(f)

    # ---- preprocessing -----------------------------------------------------------------
    def start_preprocess(self) -> None:
        folder = self.folder_edit.text().strip()
        if not folder or not Path(folder).is_dir():
            self.failed.emit(f"choose an existing MIDI folder first (got {folder or 'nothing'})")
            return
        out_dir = datasets_dir()
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"{Path(folder).name or 'dataset'}-{self.drum_map.currentText()}.gbds"
        args = ["preprocess", "--input_dir", folder, "--output_file", str(out),
                "--drum_map", self.drum_map.currentText(), "--recursive"]
        if self.workers:
            args += ["--workers", str(self.workers)]
        self._pending_dataset = str(out)
        self.preprocess_bar.setRange(0, 0)  # busy until the first count arrives
        self.report_label.setText("reading files…")
        self.preprocess_button.setEnabled(False)
        self.preprocess_job.start("gui.job_child", args)

    def _on_preprocess_json(self, obj: dict) -> None:
        if obj.get("event") == progress.PROGRESS and (dt := progress.done_total(obj)) is not None:
            self.preprocess_bar.setRange(0, dt[1])
            self.preprocess_bar.setValue(dt[0])
        elif obj.get("event") == "report":
            rep = obj["report"]
            w = rep["windows_per_split"]
            self.report_label.setText(
                f"{rep['files_read']} of {rep['files_found']} files read · windows: "
                f"{w.get('train', 0)} train, {w.get('validation', 0)} validation, {w.get('test', 0)} test"
            )
            skipped = sorted(rep["skipped"].items())
            self.skip_table.setRowCount(len(skipped))
            for i, (reason, n) in enumerate(skipped):
                self.skip_table.setItem(i, 0, QTableWidgetItem(reason.replace("_", " ")))
                self.skip_table.setItem(i, 1, QTableWidgetItem(str(n)))
            self.dataset_edit.setText(self._pending_dataset)

    def _on_preprocess_finished(self, ok: bool, message: str) -> None:
        self.preprocess_bar.setRange(0, max(1, self.preprocess_bar.maximum()))
        if not ok:
            self.failed.emit(f"preprocessing failed: {readable(message)}")
            self.report_label.setText(readable(message))
        self.preprocess_button.setEnabled(True)
