"""Train panel: preprocess a MIDI folder (``gui.widgets.preprocess_box``, a child process), train in
a child process (``python -m groovebridge train``) watched through its run directory; Stop sends
SIGTERM (the trainer checkpoints first), Resume trains the same run further. A run that ends with a
checkpoint gets its sampling prior fitted (``gui.widgets.prior_box``; "Fit prior" for the selected
checkpoint); "Use this model" hot-swaps the engine's model (and its prior, if fitted)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
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
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bridge.engine.api import EngineCommands
from gui import theme
from gui.child_jobs import ChildJob, RunMonitor
from gui.data_folders import runs_dir
from gui.engine_adapter import EngineAdapter
from gui.job_text import fmt_duration, readable
from gui.widgets.preprocess_box import PreprocessBox, path_row
from gui.widgets.prior_box import PriorBox
from gui.widgets.train_points import add_rows, final_train_point
from models import progress
from models.train.run_folder import read_checkpoints

CONFIG_NAMES = ("groovae_4bar", "groovae_4bar_humanize", "groovae_4bar_humanize_control", "groovae_tiny",
                "groovae_tiny_humanize")
USE_TIP = "Hot-swap the engine to the selected checkpoint (playback keeps going)"


# "Start from" choices -> the --warm_start value of a new run ("" = random initial weights)
START_FROM = {"new model": "", "shipped default": "default", "shipped humanize": "humanize"}


class TrainPanel(QWidget):
    """Preprocess -> train -> pick a checkpoint; every long step in a child process."""

    modelChosen = pyqtSignal(str)  # checkpoint path sent to the engine

    @property
    def preprocess_workers(self) -> int | None:
        return self.data_box.workers

    @preprocess_workers.setter
    def preprocess_workers(self, n: int | None) -> None:
        self.data_box.workers = n

    def __init__(self, adapter: EngineAdapter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.adapter = adapter
        self.extra_train_args: list[str] = []  # e.g. ["--num_threads", "1"] (tests, benchmarks)
        self.train_job = ChildJob("training", self)
        self.monitor = RunMonitor(self)
        self.train_x: list[float] = []
        self.train_y: list[float] = []
        self.val_x: list[float] = []
        self.val_y: list[float] = []
        self.last_error = ""
        self._batch = 0
        self._train_dataset = ""  # the dataset of the running training (its prior is fitted on it)
        self._closing = False

        root = QHBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal)
        root.addWidget(split)
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        self.data_box = PreprocessBox(self)
        self.data_box.failed.connect(self._fail)
        d = self.data_box  # its parts, under the names the window and tests use
        self.folder_edit, self.drum_map, self.preprocess_button = d.folder_edit, d.drum_map, d.preprocess_button
        self.preprocess_bar, self.report_label, self.skip_table = d.preprocess_bar, d.report_label, d.skip_table
        self.dataset_edit, self.preprocess_job, self.start_preprocess = d.dataset_edit, d.preprocess_job, d.start_preprocess
        left_lay.addWidget(self.data_box)
        left_lay.addWidget(self._build_train_box())
        left_lay.addStretch(1)
        split.addWidget(left)
        right = QWidget()
        right_lay = QVBoxLayout(right)
        right_lay.setContentsMargins(0, 0, 0, 0)
        right_lay.addWidget(self._build_plot(), 3)
        right_lay.addWidget(self._build_checkpoints(), 2)
        split.addWidget(right)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)

        self.train_job.outputLine.connect(lambda line: self.log.setText(line[-160:]))
        self.train_job.finished.connect(self._on_train_finished)
        self.monitor.progress.connect(self._on_progress)
        self.monitor.rows.connect(self._on_rows)
        self.dataset_edit.textChanged.connect(self._update_buttons)
        self._update_buttons()

    # ---- layout ------------------------------------------------------------------------
    def _build_train_box(self) -> QGroupBox:
        box = QGroupBox("2 · Training")
        form = QFormLayout(box)
        self.config_combo = QComboBox()
        self.config_combo.addItems(CONFIG_NAMES)
        self.config_combo.setToolTip("Model configuration (groovae_4bar = Magenta's GrooVAE; tiny = quick tests)")
        form.addRow("Config", self.config_combo)
        self.start_combo = QComboBox()
        self.start_combo.addItems(list(START_FROM))
        self.start_combo.setToolTip(
            "New model: random weights. Shipped default / humanize: fine-tune the model that ships "
            "with GrooveBridge on your MIDI (same sizes needed; a new run starts from its weights)"
        )
        form.addRow("Start from", self.start_combo)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 10_000_000)
        self.steps_spin.setValue(20_000)
        self.steps_spin.setToolTip("Train until this many updates (Magenta trains 200k)")
        form.addRow("Steps", self.steps_spin)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 4096)
        self.batch_spin.setValue(512)
        self.batch_spin.setToolTip("Windows per update (Magenta: 512)")
        form.addRow("Batch size", self.batch_spin)
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda", "mps"])
        self.device_combo.setToolTip("Where to train: auto picks a GPU when there is one")
        form.addRow("Device", self.device_combo)
        self.run_edit = QLineEdit()
        self.run_edit.setPlaceholderText("new run folder on Start")
        form.addRow("Run folder", path_row(self.run_edit, "Run folder: checkpoints and metrics (Resume continues it)", self._pick_run))
        row = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("primary")
        self.start_button.setToolTip("Start a new training run in a child process")
        self.start_button.clicked.connect(lambda: self.start_training(resume=False))
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current step (a checkpoint is written)")
        self.stop_button.clicked.connect(self.train_job.stop)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the run folder's latest checkpoint up to Steps")
        self.resume_button.clicked.connect(lambda: self.start_training(resume=True))
        for b in (self.start_button, self.stop_button, self.resume_button):
            row.addWidget(b)
        form.addRow(row)
        self.train_bar = QProgressBar()
        self.train_bar.setFormat("%v / %m steps")
        self.train_bar.setToolTip("Steps done of Steps")
        form.addRow(self.train_bar)
        self.rate_label = QLabel("–")
        self.rate_label.setToolTip("Training speed")
        form.addRow("Rate", self.rate_label)
        self.eta_label = QLabel("–")
        self.eta_label.setToolTip("Estimated time to reach Steps")
        form.addRow("ETA", self.eta_label)
        self.log = QLabel("")
        self.log.setObjectName("dim")
        self.log.setWordWrap(True)
        self.log.setToolTip("Last message of the running job")
        form.addRow(self.log)
        return box

    def _build_plot(self) -> QWidget:
        """A holder; the pyqtgraph plot is built when the panel is first shown (faster start)."""
        self.plot_holder = QWidget()
        self.plot_holder.setMinimumHeight(220)
        QVBoxLayout(self.plot_holder).setContentsMargins(0, 0, 0, 0)
        self._curves: tuple[Any, Any] | None = None
        return self.plot_holder

    def showEvent(self, event: Any) -> None:
        self.ensure_plot()
        super().showEvent(event)

    @property
    def train_curve(self) -> Any:
        return self.ensure_plot()[0]

    @property
    def val_curve(self) -> Any:
        return self.ensure_plot()[1]

    def ensure_plot(self) -> tuple[Any, Any]:
        if self._curves is not None:
            return self._curves
        import pyqtgraph as pg

        pg.setConfigOptions(antialias=True)
        self.plot = pg.PlotWidget(background=theme.PANEL.name())
        self.plot.setToolTip("Training loss (amber) and validation loss (cyan) per step")
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.addLegend(offset=(-10, 10))
        train = self.plot.plot([], [], pen=pg.mkPen(theme.ACCENT.name(), width=2), name="train")
        val = self.plot.plot(
            [], [], pen=pg.mkPen("#45c4e8", width=2), symbol="o", symbolSize=6,
            symbolBrush="#45c4e8", name="validation",
        )
        self.plot_holder.layout().addWidget(self.plot)  # type: ignore[union-attr]
        self._curves = (train, val)
        self._redraw()
        return self._curves

    def _build_checkpoints(self) -> QWidget:
        box = QGroupBox("Checkpoints")
        lay = QVBoxLayout(box)
        self.ckpt_table = QTableWidget(0, 3)
        self.ckpt_table.setHorizontalHeaderLabels(["step", "validation loss", "best · prior"])
        self.ckpt_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)  # type: ignore[union-attr]
        self.ckpt_table.verticalHeader().setVisible(False)  # type: ignore[union-attr]
        self.ckpt_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.ckpt_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.ckpt_table.setToolTip("Checkpoints of this run: the best validation loss is marked, and those whose sampling prior is fitted")
        self.ckpt_table.itemSelectionChanged.connect(self._update_buttons)
        lay.addWidget(self.ckpt_table)
        self.use_button = QPushButton("Use this model")
        self.use_button.setObjectName("primary")
        self.use_button.clicked.connect(self.use_selected)
        lay.addWidget(self.use_button)
        self.prior_box = PriorBox(self)
        self.prior_job, self.fit_prior_button = self.prior_box.prior_job, self.prior_box.fit_button
        self.prior_box.fit_button.clicked.connect(self.fit_selected)
        self.prior_box.failed.connect(self._fail)
        self.prior_box.fitted.connect(lambda _: self.refresh_checkpoints())
        self.prior_box.stateChanged.connect(self._update_buttons)
        lay.addWidget(self.prior_box)
        return box

    # ---- pickers -----------------------------------------------------------------------
    def _pick_run(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Run folder", str(runs_dir()))
        if d:
            self.show_run(d)

    def show_run(self, run_dir: str | Path) -> None:
        """Show an existing run: its curves, progress and checkpoints (and follow it)."""
        self.run_edit.setText(str(run_dir))
        self.train_x, self.train_y, self.val_x, self.val_y = [], [], [], []
        self._redraw()
        self.refresh_checkpoints()
        self.monitor.watch(run_dir)
        self._update_buttons()

    # ---- training ----------------------------------------------------------------------
    def start_training(self, resume: bool = False) -> None:
        dataset = self.dataset_edit.text().strip()
        if not dataset:
            self._fail("preprocess a MIDI folder or choose a dataset file first")
            return
        run = self.run_edit.text().strip()
        if resume and (not run or not read_checkpoints(Path(run))):
            self._fail("nothing to resume: choose a run folder that has checkpoints")
            return
        if not resume and (not run or read_checkpoints(Path(run))):
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run = str(runs_dir() / f"{self.config_combo.currentText()}-{stamp}")
            self.run_edit.setText(run)
        steps = self.steps_spin.value()
        self._batch = self.batch_spin.value()
        self.prior_box.cancel()  # a new or resumed run gets its own prior when it ends
        self._train_dataset = dataset
        args = [
            "train", "--config", self.config_combo.currentText(), "--run_dir", run,
            "--examples_path", dataset, "--num_steps", str(steps),
            "--hparams", f"batch_size={self._batch}", "--device", self.device_combo.currentText(),
            "--no_progress_bar", "--progress_lines", "--log_every_steps", str(min(10, max(1, steps // 200))),
            "--eval_every_steps", str(min(500, max(1, steps // 10))), *self.extra_train_args,
        ]
        warm = START_FROM.get(self.start_combo.currentText(), "")
        if warm and not resume:
            args += ["--warm_start", warm]
        # The monitor re-reads metrics.csv from its start, so a resumed run's curve is whole.
        self.train_x, self.train_y, self.val_x, self.val_y = [], [], [], []
        self._redraw()
        self.last_error = ""
        self.train_bar.setRange(0, steps)
        self.log.setText("starting…")
        if self.train_job.start("groovebridge", args):
            self.monitor.watch(run)
        self._update_buttons()

    def _on_progress(self, p: dict) -> None:
        step, total = progress.done_total(p) or (0, 1)
        self.train_bar.setRange(0, total)
        self.train_bar.setValue(min(step, total))
        ex = float(p.get("examples_per_sec") or 0.0)
        batch = self._batch or self.batch_spin.value()
        self.rate_label.setText(f"{ex / max(batch, 1):.2f} steps/s · {ex:.0f} windows/s")
        self.eta_label.setText(fmt_duration(p.get("eta_sec")) if p.get("state") == "running" else str(p.get("state", "")))
        if p.get("message"):
            self.log.setText(str(p["message"])[-160:])
        if p.get("event") in ("checkpoint", "validation", "done", "stopped"):
            self.refresh_checkpoints()
        end = final_train_point(p, self.train_x)  # stopped between two logged steps: its last step
        if end is not None:
            self.train_x.append(end[0])
            self.train_y.append(end[1])
            self._redraw()

    def _on_rows(self, rows: list) -> None:
        add_rows(rows, self.train_x, self.train_y, self.val_x, self.val_y)
        self._redraw()

    def _redraw(self) -> None:
        if self._curves is not None:
            self._curves[0].setData(self.train_x, self.train_y)
            self._curves[1].setData(self.val_x, self.val_y)

    def _on_train_finished(self, ok: bool, message: str) -> None:
        self.monitor.stop()
        self.refresh_checkpoints()
        if ok:
            self.log.setText(message)
            self.eta_label.setText("done" if "finished" in message else "stopped")
            run = self.run_edit.text().strip()
            if run and not self._closing and read_checkpoints(Path(run)):
                self.prior_box.start(["--run_dir", run], self._train_dataset)
        else:
            self._fail(f"training failed: {readable(message)}")
            self.log.setText(readable(message))
        self._update_buttons()

    # ---- checkpoints -------------------------------------------------------------------
    def refresh_checkpoints(self) -> None:
        run = self.run_edit.text().strip()
        ckpts = read_checkpoints(Path(run)) if run else []
        self.ckpt_table.setRowCount(len(ckpts))
        for i, c in enumerate(ckpts):
            items = [
                QTableWidgetItem(str(c["step"])),
                QTableWidgetItem("–" if c["val_loss"] is None else f"{c['val_loss']:.4f}"),
                QTableWidgetItem(" · ".join(t for t, on in (("★ best", c["best"]), ("prior fitted", c["prior"])) if on)),
            ]
            items[0].setData(Qt.ItemDataRole.UserRole, c["path"])
            for j, it in enumerate(items):
                self.ckpt_table.setItem(i, j, it)
        if ckpts and not self.ckpt_table.selectedItems():
            self.ckpt_table.selectRow(0)
        self._update_buttons()

    def selected_checkpoint(self) -> str | None:
        rows = self.ckpt_table.selectionModel().selectedRows()  # type: ignore[union-attr]
        if not rows:
            return None
        item = self.ckpt_table.item(rows[0].row(), 0)
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def fit_selected(self) -> None:
        path = self.selected_checkpoint()
        if path:
            self.prior_box.start(["--checkpoint_file", path], self.dataset_edit.text().strip())

    def use_selected(self) -> None:
        path = self.selected_checkpoint()
        if path and self.adapter.command(EngineCommands.set_model, path):
            self.modelChosen.emit(path)

    # ---- state -------------------------------------------------------------------------
    def _fail(self, message: str) -> None:
        self.last_error = message
        self.adapter.error.emit(message)

    def _update_buttons(self) -> None:
        busy_train = self.train_job.is_running()
        self.start_button.setEnabled(not busy_train)
        self.resume_button.setEnabled(not busy_train and bool(self.run_edit.text().strip()))
        self.stop_button.setEnabled(busy_train)
        chosen = self.selected_checkpoint() is not None
        self.use_button.setEnabled(chosen)  # greyed, with the reason, until there is a checkpoint
        self.use_button.setToolTip(USE_TIP if chosen else "No checkpoint yet: train a run (or choose a run folder with checkpoints)")
        self.prior_box.fit_button.setEnabled(
            not busy_train and not self.prior_box.is_running() and self.selected_checkpoint() is not None
            and bool(self.dataset_edit.text().strip())
        )

    def shutdown(self) -> None:
        """Quitting: stop children so none outlives the app (training checkpoints first)."""
        self._closing = True  # a training stopped now gets no prior fit
        self.train_job.shutdown()
        self.data_box.preprocess_job.kill()
        self.prior_box.shutdown()
