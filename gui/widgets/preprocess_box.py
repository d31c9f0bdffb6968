"""Train panel, step 1: choose a MIDI folder and preprocess it in a child process.

Runs ``python -m gui.job_child preprocess`` (JSON progress lines): a progress bar, the windows
per split (a warning when there is no validation split) and every skipped file with its reason;
the dataset it writes fills the Dataset field.
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

REPORT_TIP = "Files, windows per split and skipped files of the last preprocessing"
NO_VALIDATION_TIP = (
    "No file of this folder went to the validation split, so training shows no validation loss "
    "(\"–\") and cannot mark the best checkpoint.\nAbout 1 file in 10 goes to validation (by a hash "
    "of its name): add more files, or put an info.csv with a split column at the folder's root.")


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
        self.report_label.setToolTip(REPORT_TIP)
        form.addRow(self.report_label)
        self.skip_table = QTableWidget(0, 2)
        self.skip_table.setHorizontalHeaderLabels(["skipped because", "file"])
        self.skip_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)  # type: ignore[union-attr]
        self.skip_table.verticalHeader().setVisible(False)  # type: ignore[union-attr]
        self.skip_table.setMaximumHeight(110)
        self.skip_table.setToolTip("Every file that gave no training windows, with the reason (hover a row for the detail)")
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
            self.show_report(obj["report"])
            self.dataset_edit.setText(self._pending_dataset)

    def show_report(self, rep: dict[str, Any]) -> None:
        """The report line (with a warning when a split is empty) and one row per skipped file."""
        w = rep.get("windows_per_split", {})
        text = (f"{rep.get('files_read', 0)} of {rep.get('files_found', 0)} files read · windows: "
                f"{w.get('train', 0)} train, {w.get('validation', 0)} validation, {w.get('test', 0)} test")
        tip = REPORT_TIP
        if w.get("train", 0) and not w.get("validation", 0):  # one short line; the why in the tooltip
            text += "\n⚠ no validation windows: no validation loss (hover for why)"
            tip = NO_VALIDATION_TIP
        self.report_label.setText(text)
        self.report_label.setToolTip(tip)
        rows = [(str(f[1]), str(f[0]), str(f[2]) if len(f) > 2 else "")
                for f in rep.get("skipped_files") or [] if isinstance(f, (list, tuple)) and len(f) >= 2]
        if not rows:  # a report without the file list: counts per reason
            rows = [(reason, f"{n} file{'s' * (n != 1)}", "") for reason, n in sorted(rep.get("skipped", {}).items())]
        self.skip_table.setRowCount(len(rows))
        for i, (reason, name, detail) in enumerate(sorted(rows)):
            for j, value in enumerate((reason.replace("_", " "), name)):
                item = QTableWidgetItem(value)
                item.setToolTip(f"{name}: {detail}" if detail else name)
                self.skip_table.setItem(i, j, item)

    def _on_preprocess_finished(self, ok: bool, message: str) -> None:
        self.preprocess_bar.setRange(0, max(1, self.preprocess_bar.maximum()))
        if not ok:
            self.failed.emit(f"preprocessing failed: {readable(message)}")
            self.report_label.setText(readable(message))
        self.preprocess_button.setEnabled(True)
