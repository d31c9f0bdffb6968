"""Train panel: fit a checkpoint's sampling prior in a child process (``groovebridge fit-prior``).

The train panel starts it by itself when a run ends with a checkpoint (``--run_dir``: the run's
latest checkpoint) and from its "Fit prior" button for the selected checkpoint
(``--checkpoint_file``), both with the dataset the model was trained on. The child's progress
lines show in the status label; it ends with "Sampling prior fitted …", "… cancelled" or the
child's one-line error. ``prior.safetensors`` + ``prior.json`` land beside the weights, where
``models.generate.load_model`` finds them.
"""

from __future__ import annotations

import re
from pathlib import Path

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gui.child_jobs import ChildJob
from gui.job_text import readable

PREFIX = "groovebridge fit-prior: "
FITTING = "Fitting the sampling prior…"
# The child's progress lines, as a musician reads them (its numbers are for the terminal):
# "encoded 256 training windows in 2.1 s", "  256 components: train log-lik …", "class
# calibration (hit-logit bias [0.12, -0.3, …]) in 0.4 s", "attribute directions scaled by […] …".
STAGES = (
    (re.compile(r"^encoded (\d+) training windows"), "step 1 of 4: read {0} training windows"),
    (re.compile(r"^\s*(\d+) components:"), "step 2 of 4: fitted {0} components"),
    (re.compile(r"^class calibration"), "step 3 of 4: balanced the drum classes"),
    (re.compile(r"^attribute directions"), "step 4 of 4: scaled the attribute directions"),
)


def progress_text(line: str) -> str:
    """A fit-prior progress line as one short human line (no raw lists of floats)."""
    for pattern, text in STAGES:
        m = pattern.match(line)
        if m:
            return f"{FITTING} {text.format(*m.groups())}"
    line = re.sub(r"\s*[\[(][^\])]*[\])]", "", line)  # lists and parentheses of numbers
    line = re.sub(r"(\d+\.\d)\d+", r"\1", line)  # 0.9100000262260437 -> 0.9
    return f"{FITTING} {line.strip()[:100]}"


class PriorBox(QWidget):
    """A status line plus "Fit prior" / "Cancel"; one fit-prior child at a time."""

    fitted = pyqtSignal(str)  # the checkpoint directory that now holds prior files
    failed = pyqtSignal(str)  # the one-line error
    stateChanged = pyqtSignal()  # started or ended (the panel re-checks its buttons)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.extra_args: list[str] = []  # e.g. ["--components", "8", "--num_threads", "1"] (tests)
        self.prior_job = ChildJob("fit-prior", self)
        self.last_message = ""
        self._written = ""
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.fit_button = QPushButton("Fit prior")
        self.fit_button.setToolTip(
            "Fit the selected checkpoint's sampling prior and attribute directions on the dataset "
            "(done by itself when a run ends; samples then follow the training data)"
        )
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop fitting the sampling prior")
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.fit_button)
        row.addWidget(self.cancel_button)
        lay.addLayout(row)
        self.status_label = QLabel("")
        self.status_label.setObjectName("dim")
        self.status_label.setWordWrap(True)
        self.status_label.setToolTip("Sampling prior: fitting progress or the last result")
        lay.addWidget(self.status_label)
        self.prior_job.outputLine.connect(self._on_line)
        self.prior_job.finished.connect(self._on_finished)
        self.cancel_button.setEnabled(False)

    def is_running(self) -> bool:
        return self.prior_job.is_running()

    def start(self, source: list[str], dataset: str) -> bool:
        """``source``: ``["--run_dir", RUN]`` or ``["--checkpoint_file", CKPT]``."""
        if not dataset:
            return self._report_failure("no dataset to fit the prior on: choose the training dataset first")
        if self.is_running():
            return self._report_failure("a prior is already being fitted")
        self._written = ""
        self.last_message = ""
        self.status_label.setText(FITTING)
        args = ["fit-prior", *source, "--examples_path", dataset, *self.extra_args]
        ok = self.prior_job.start("groovebridge", args)
        self.cancel_button.setEnabled(ok)
        self.stateChanged.emit()
        return ok

    def cancel(self) -> None:
        if self.is_running():
            self.status_label.setText("Cancelling the prior fit…")
            self.prior_job.stop()

    def shutdown(self) -> None:
        self.prior_job.kill()

    def _on_line(self, line: str) -> None:
        if line.startswith("wrote "):
            self._written = line
        if not line.startswith(PREFIX):  # the error line is shown when the job ends
            self.status_label.setText(progress_text(line))

    def _on_finished(self, ok: bool, message: str) -> None:
        self.cancel_button.setEnabled(False)
        if ok and message.endswith("stopped"):
            self.last_message = "Prior fitting cancelled"
            self.status_label.setText(self.last_message)
        elif ok:
            # "wrote DIR/prior.safetensors (64 components, 3.2 s)"
            path, _, detail = self._written[len("wrote "):].partition(" (")
            self.last_message = "Sampling prior fitted" + (f" ({detail}" if detail else "")
            self.status_label.setText(self.last_message)
            if path:
                self.fitted.emit(str(Path(path).parent))
        else:
            self._report_failure(message)
        self.stateChanged.emit()

    def _report_failure(self, message: str) -> bool:
        line = message.strip().splitlines()[-1] if message.strip() else "failed"
        if not line.startswith(PREFIX):
            line = PREFIX + readable(line)
        self.last_message = line
        self.status_label.setText(line)
        self.failed.emit(line)
        return False
