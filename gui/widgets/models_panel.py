"""Models panel: shipped, imported and user-trained models; pick the active one; details.

Entries: the shipped models (``default``, ``humanize``, ``drumify``: every model folder in
``models/pretrained/``), imported
Magenta checkpoints (the user's model folder, ``models.magenta.fetch.models_dir``), and training runs
(``<data dir>/runs``). Details show the config and any evaluation numbers found beside the
checkpoint. The device row shows where the model runs and reloads it on the one chosen. Import (file or folder) and fetch run the CLIs in a child process.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFontDatabase
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bridge.engine.api import EngineCommands
from gui.child_jobs import ChildJob
from gui.data_folders import runs_dir
from gui.engine_adapter import EngineAdapter
from gui.job_text import readable
from gui.widgets.model_words import describe_plainly
from models.inference_device import DEVICE_CHOICES
from models.train import run_folder

PRETRAINED_DIR = Path(__file__).resolve().parents[2] / "models" / "pretrained"


def shipped_models(folder: Path = PRETRAINED_DIR) -> tuple[tuple[str, str], ...]:
    """(key, title) of every model shipped in ``models/pretrained`` (a folder with a config.json),
    the default first: read from the package, so a model added there is listed without code."""
    keys = sorted((d.name for d in folder.iterdir() if (d / "config.json").is_file()) if folder.is_dir() else ())
    keys.sort(key=lambda k: k != "default")
    return tuple((k, k.replace("_", " ").capitalize()) for k in keys)


SHIPPED = shipped_models()
CONFIG_KEYS = ("name", "description", "num_bars", "z_size", "enc_rnn_size", "dec_rnn_size",
               "humanize", "free_bits", "max_beta", "batch_size", "learning_rate")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _checkpoint_dir(path: Path) -> Path | None:
    """The checkpoint directory for a checkpoint, run or model folder (a run's best, then its
    latest: ``models.train.run_folder``, the format the trainer writes)."""
    if (path / run_folder.MODEL_FILE).is_file():
        return path
    return run_folder.best_checkpoint(path) or run_folder.latest_checkpoint(path)


def describe(path: Path | None, title: str) -> str:
    """Config and evaluation numbers of a checkpoint/run as readable text."""
    lines = [title, ""]
    if path is None:
        return "\n".join(lines + ["(no checkpoint found)"])
    ck = _checkpoint_dir(path) or path
    lines.append(f"path: {ck}")
    config = _read_json(ck / run_folder.CONFIG_FILE)
    for k in CONFIG_KEYS:
        if k in config:
            lines.append(f"{k:<15} {config[k]}")
    state = run_folder.read_state(ck)
    for k in ("step", "val_loss", "best_val_loss", "num_train"):
        if k in state:
            v = state[k]
            lines.append(f"{k:<15} {v:.4f}" if isinstance(v, float) else f"{k:<15} {v}")
    for folder in (ck, ck.parent, ck.parent.parent):
        ev = folder / run_folder.EVAL_METRICS_FILE
        if ev.is_file():
            rows = list(csv.DictReader(ev.open(encoding="utf-8")))
            if rows:
                lines += ["", f"evaluation (step {rows[-1].get('step')}):"]
                lines += [f"  {k:<16} {float(v):.4f}" for k, v in rows[-1].items()
                          if k not in ("time_unix", "step", "checkpoint") and v not in ("", None)]
            break
    for extra in sorted(ck.glob("*.md"))[:1]:
        lines += ["", extra.read_text(encoding="utf-8")[:1500]]
    return "\n".join(lines)


class ModelsPanel(QWidget):
    def __init__(self, adapter: EngineAdapter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.adapter = adapter
        self.job = ChildJob("model import", self)
        self.active = ""
        lay = QHBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal)
        lay.addWidget(split)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Model", "Source"])
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # type: ignore[union-attr]
        self.tree.header().setStretchLastSection(False)  # type: ignore[union-attr]
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)  # type: ignore[union-attr]
        self.tree.setToolTip("Available models; double-click one to make it active")
        self.tree.itemSelectionChanged.connect(self._show_selected)
        self.tree.itemDoubleClicked.connect(lambda *_: self.use_selected())
        ll.addWidget(self.tree)
        row = QHBoxLayout()
        self.use_button = QPushButton("Use this model")
        self.use_button.setObjectName("primary")
        self.use_button.setToolTip("Hot-swap the engine to the selected model (playback keeps going)")
        self.use_button.clicked.connect(self.use_selected)
        row.addWidget(self.use_button)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Look for new runs and imported models")
        self.refresh_button.clicked.connect(self.refresh)
        row.addWidget(self.refresh_button)
        ll.addLayout(row)
        row2 = QHBoxLayout()
        self.import_file = QPushButton("Import file…")
        self.import_file.setToolTip("Import a Magenta checkpoint: a published .tar or a .index file")
        self.import_file.clicked.connect(self._import_file)
        self.import_dir = QPushButton("Import folder…")
        self.import_dir.setToolTip("Import a Magenta TF checkpoint folder or a magenta.js folder")
        self.import_dir.clicked.connect(self._import_dir)
        row2.addWidget(self.import_file)
        row2.addWidget(self.import_dir)
        ll.addLayout(row2)
        row3 = QHBoxLayout()
        self.fetch_combo = QComboBox()
        self.fetch_combo.setToolTip("Checkpoints published by Magenta")
        self.fetch_button = QPushButton("Fetch")
        self.fetch_button.setToolTip("Download the chosen published checkpoint and import it (needs the internet)")
        self.fetch_button.clicked.connect(self._fetch)
        row3.addWidget(self.fetch_combo, 1)
        row3.addWidget(self.fetch_button)
        ll.addLayout(row3)
        ll.addLayout(self._device_row())
        self.status = QLabel("")
        self.status.setObjectName("dim")
        self.status.setWordWrap(True)
        ll.addWidget(self.status)
        split.addWidget(left)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        self.summary = QLabel("Choose a model on the left to read what it does.")
        self.summary.setWordWrap(True)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.summary.setToolTip("What the selected model is for, what it learned from and how well it does")
        rl.addWidget(self.summary)
        self.details_button = QToolButton()
        self.details_button.setText("Details (for developers)")
        self.details_button.setCheckable(True)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setToolTip("Show the configuration and every evaluation number")
        rl.addWidget(self.details_button)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setToolTip("Configuration and evaluation numbers of the selected model")
        self.details.hide()
        rl.addWidget(self.details, 1)
        rl.addStretch(0)
        self.details_button.toggled.connect(self._toggle_details)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([420, 900])
        self.job.finished.connect(self._job_done)
        self.job.outputLine.connect(lambda line: self.status.setText(line[-160:]))
        self._filled = False  # the lists are read when the tab is first shown (faster start)

    # ---- inference device ----------------------------------------------------------------
    def _device_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        label = QLabel("Device")
        label.setToolTip("Where the model runs; the engine reloads it when you change this")
        self.device_combo = QComboBox()
        self.device_combo.addItems(list(DEVICE_CHOICES))
        self.device_combo.setToolTip("auto: time sampling on each available device and use the faster;\n"
                                     "cpu / cuda / mps: run the model there (reloads it)")
        self.device_combo.activated.connect(self._device_chosen)
        self.device_label = QLabel("in use: –")
        self.device_label.setObjectName("dim")
        self.device_label.setToolTip("The device the active model runs on now")
        row.addWidget(label)
        row.addWidget(self.device_combo, 1)
        row.addWidget(self.device_label)
        return row

    def _fill_devices(self) -> None:
        """Disable the devices this machine lacks (torch is asked once, when the tab is shown)."""
        from models.inference_device import available_devices

        avail = available_devices()
        model = self.device_combo.model()
        for i, name in enumerate(DEVICE_CHOICES):
            item = model.item(i)  # type: ignore[union-attr]
            on = name == "auto" or name in avail
            item.setEnabled(on)
            item.setToolTip("" if on else f"{name} is not available here (available: {', '.join(avail)})")

    def _device_chosen(self, index: int) -> None:
        self.adapter.command(EngineCommands.set_device, self.device_combo.itemText(index))

    def showEvent(self, event: Any) -> None:
        if not self._filled:
            self.refresh()
        super().showEvent(event)

    def refresh(self) -> None:
        from models.magenta.fetch import PUBLISHED, models_dir

        self._filled = True
        self._fill_devices()
        if self.fetch_combo.count() == 0:
            self.fetch_combo.addItems(list(PUBLISHED))
        self.tree.clear()
        groups = []
        shipped = QTreeWidgetItem(["Shipped", ""])
        for key, title in SHIPPED:
            installed = (PRETRAINED_DIR / key / "model.safetensors").is_file()
            it = QTreeWidgetItem([title, "shipped" if installed else "not installed"])
            it.setData(0, Qt.ItemDataRole.UserRole, key)
            it.setData(1, Qt.ItemDataRole.UserRole, str(PRETRAINED_DIR / key))
            shipped.addChild(it)
        groups.append(shipped)
        imported = QTreeWidgetItem(["Imported", ""])
        mdir = models_dir()
        for d in sorted(mdir.iterdir()) if mdir.is_dir() else []:
            if d.is_dir() and _checkpoint_dir(d) is not None:
                it = QTreeWidgetItem([d.name, "Magenta"])
                it.setData(0, Qt.ItemDataRole.UserRole, str(d))
                imported.addChild(it)
        groups.append(imported)
        runs = QTreeWidgetItem(["Your runs", ""])
        rdir = runs_dir()
        for d in sorted(rdir.iterdir(), reverse=True) if rdir.is_dir() else []:
            ck = _checkpoint_dir(d) if d.is_dir() else None
            if ck is not None:
                step = run_folder.read_state(ck).get("step", "?")
                it = QTreeWidgetItem([d.name, f"step {step}"])
                it.setData(0, Qt.ItemDataRole.UserRole, str(ck))
                runs.addChild(it)
        groups.append(runs)
        self.tree.addTopLevelItems(groups)
        for g in groups:
            g.setExpanded(True)
            g.setFlags(g.flags() & ~Qt.ItemFlag.ItemIsSelectable)
        self._mark_active()

    def _mark_active(self) -> None:
        for i in range(self.tree.topLevelItemCount()):
            g = self.tree.topLevelItem(i)
            for it in (g.child(j) for j in range(g.childCount())) if g is not None else ():
                if it is None:
                    continue
                key = it.data(0, Qt.ItemDataRole.UserRole)
                f = it.font(0)
                f.setBold(bool(self.active) and (key == self.active or str(self.active).startswith(str(key))))
                it.setFont(0, f)

    def _show_selected(self) -> None:
        items = self.tree.selectedItems()
        if not items:
            return
        it = items[0]
        key = it.data(0, Qt.ItemDataRole.UserRole)
        if key in dict(SHIPPED):
            p = Path(it.data(1, Qt.ItemDataRole.UserRole))
            path = p if p.exists() else None
        else:
            path = Path(key)
        self.details.setPlainText(describe(path, it.text(0)))
        self.summary.setText(describe_plainly(path, it.text(0), _checkpoint_dir(path) if path else None))

    def _toggle_details(self, on: bool) -> None:
        self.details.setVisible(on)
        self.details_button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    def use_selected(self) -> None:
        items = self.tree.selectedItems()
        key = items[0].data(0, Qt.ItemDataRole.UserRole) if items else None
        if key:
            self.adapter.command(EngineCommands.set_model, key)

    def update_state(self, snap: Any) -> None:
        if snap.model_name != self.active:
            self.active = snap.model_name
            self._mark_active()
        pref = getattr(snap, "device_preference", "auto")
        if self.device_combo.currentText() != pref:
            self.device_combo.setCurrentText(pref)
        timings = getattr(snap, "device_timings", {}) or {}
        text = f"in use: {getattr(snap, 'device', '') or '–'}"
        if self.device_label.text() != text:
            self.device_label.setText(text)
            self.device_label.setToolTip("The device the active model runs on now" + "".join(
                f"\n{d}: {ms:.2f} ms (sample + encode)" for d, ms in timings.items()))

    # ---- import / fetch ----------------------------------------------------------------
    def _import(self, source: str) -> None:
        from models.magenta.fetch import models_dir

        out = models_dir() / Path(source.rstrip("/")).stem.replace(".tar", "")
        self.status.setText(f"importing {source} …")
        self.job.start("groovebridge", ["import-magenta", source, "--output", str(out)])

    def _import_file(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Magenta checkpoint", "", "Checkpoints (*.tar *.index *.ckpt*);;All files (*)")
        if f:
            self._import(f)

    def _import_dir(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Magenta checkpoint folder")
        if d:
            self._import(d)

    def _fetch(self) -> None:
        self.status.setText(f"fetching {self.fetch_combo.currentText()} …")
        self.job.start("groovebridge", ["fetch-pretrained", self.fetch_combo.currentText(), "--quiet"])

    def _job_done(self, ok: bool, message: str) -> None:
        if ok:
            self.status.setText("done")
            self.refresh()
        else:
            self.status.setText(readable(message))
            self.adapter.error.emit(f"model import failed: {readable(message)}")
