"""Child processes for long jobs (preprocessing, training, imports) and their progress.

``ChildJob`` runs ``python -m <module> ...`` in a QProcess, so a crash or a busy CPU in the job
never stalls the GUI or the engine's timing. It reads stdout line by line (events of the
progress protocol every job speaks, ``models.progress``, become ``jsonLine``; an ``error``
event's message is the job's failure message), keeps the stderr tail, and always ends with
``finished(ok, message)``: otherwise a failed job's message is the last meaningful line it
printed. ``RunMonitor`` follows a training run through its folder (``models.train.run_folder``:
``progress.json``, the same events, and new ``metrics.csv`` rows) on a timer, so a run started
elsewhere, or before the app restarted, is followed the same way.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from pathlib import Path

from PyQt6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, pyqtSignal

from models import progress
from models.train import run_folder

PROJECT_ROOT = Path(__file__).resolve().parent.parent
KILL_AFTER_MS = 8000


class ChildJob(QObject):
    """One child process at a time; ``start`` while running is refused with an error."""

    started = pyqtSignal()
    outputLine = pyqtSignal(str)  # every stdout/stderr line that is not JSON
    jsonLine = pyqtSignal(dict)  # stdout lines holding a JSON object
    finished = pyqtSignal(bool, str)  # ok, message (error text when not ok)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._proc: QProcess | None = None
        self._stderr_tail: deque[str] = deque(maxlen=40)
        self._buffers = {"out": "", "err": ""}
        self._stopping = False
        self._error_event: str | None = None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.state() != QProcess.ProcessState.NotRunning

    def start(self, module: str, args: list[str], extra_env: dict[str, str] | None = None) -> bool:
        if self.is_running():
            self.finished.emit(False, f"a {self.name} job is already running")
            return False
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONPATH", os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.value("PYTHONPATH")])))
        env.insert("PYTHONUNBUFFERED", "1")
        env.remove("QT_QPA_PLATFORM")  # the child never opens a window
        for k, v in (extra_env or {}).items():
            env.insert(k, v)
        proc.setProcessEnvironment(env)
        proc.setWorkingDirectory(str(PROJECT_ROOT))
        proc.readyReadStandardOutput.connect(lambda: self._read("out"))
        proc.readyReadStandardError.connect(lambda: self._read("err"))
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self._proc = proc
        self._stderr_tail.clear()
        self._buffers = {"out": "", "err": ""}
        self._stopping = False
        self._error_event = None
        proc.start(sys.executable, ["-m", module, *args])
        self.started.emit()
        return True

    def stop(self) -> None:
        """SIGTERM (training checkpoints and exits); killed if still alive after a while."""
        if not self.is_running() or self._proc is None:
            return
        self._stopping = True
        self._proc.terminate()
        proc = self._proc

        def kill_if_alive() -> None:
            try:
                if proc.state() != QProcess.ProcessState.NotRunning:
                    proc.kill()
            except RuntimeError:  # the QProcess is gone: the child finished and was cleaned up
                pass

        QTimer.singleShot(KILL_AFTER_MS, kill_if_alive)

    def kill(self) -> None:
        if self._proc is not None and self.is_running():
            self._stopping = True
            self._proc.kill()
            self._proc.waitForFinished(3000)

    def shutdown(self, grace_ms: int = 5000) -> None:
        """App quitting: SIGTERM (training writes a checkpoint), then kill if it lingers."""
        if self._proc is not None and self.is_running():
            self._stopping = True
            self._proc.terminate()
            if not self._proc.waitForFinished(grace_ms):
                self.kill()

    def _read(self, which: str) -> None:
        if self._proc is None:
            return
        raw = self._proc.readAllStandardOutput() if which == "out" else self._proc.readAllStandardError()
        text = self._buffers[which] + bytes(raw.data()).decode("utf-8", "replace").replace("\r", "\n")
        *lines, self._buffers[which] = text.split("\n")
        for line in lines:
            self._line(which, line)

    def _line(self, which: str, line: str) -> None:
        line = line.rstrip()
        if not line:
            return
        if which == "out" and (obj := progress.parse_line(line)) is not None:  # models.progress
            if obj.get("event") == progress.ERROR:
                self._error_event = str(obj.get("message", "failed"))
            self.jsonLine.emit(obj)
            return
        if which == "err":
            self._stderr_tail.append(line)
        self.outputLine.emit(line)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._proc = None
            self.finished.emit(False, f"{self.name}: could not start {sys.executable}")

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        for which in ("out", "err"):
            self._read(which)
            if self._buffers[which]:
                self._line(which, self._buffers[which])
                self._buffers[which] = ""
        stopped = self._stopping
        self._proc = None
        if stopped:
            self.finished.emit(True, f"{self.name} stopped")
        elif status == QProcess.ExitStatus.CrashExit:
            self.finished.emit(False, f"{self.name} crashed: {self.error_summary() or 'no message'}")
        elif code != 0:
            self.finished.emit(False, self._error_event or self.error_summary() or f"{self.name} failed (exit status {code})")
        else:
            self.finished.emit(True, f"{self.name} finished")

    def error_summary(self) -> str:
        """The most telling stderr line: the exception line of a traceback, else the last line."""
        lines = [ln for ln in self._stderr_tail if ln.strip()]
        for ln in reversed(lines):
            if not ln.startswith((" ", "Traceback", "During handling")):
                return ln.strip()
        return lines[-1].strip() if lines else ""


class RunMonitor(QObject):
    """Polls a training run directory: ``progress.json`` and new rows of ``metrics.csv``."""

    progress = pyqtSignal(dict)
    rows = pyqtSignal(list)  # new metrics.csv rows (dicts of str -> float|str)

    def __init__(self, parent: QObject | None = None, interval_ms: int = 400) -> None:
        super().__init__(parent)
        self.run_dir: Path | None = None
        self._metrics: run_folder.MetricsTail | None = None
        self._progress_mtime = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll)

    def watch(self, run_dir: str | Path, from_start: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self._metrics, self._progress_mtime = run_folder.MetricsTail(self.run_dir), 0.0
        self._timer.start()
        self.poll()

    def stop(self) -> None:
        self.poll()
        self._timer.stop()

    def poll(self) -> None:
        if self.run_dir is None:
            return
        mtime = run_folder.progress_mtime(self.run_dir)
        if mtime is not None and mtime != self._progress_mtime:
            data = run_folder.read_progress(self.run_dir)
            if data is not None:  # else being replaced while read: next tick
                self._progress_mtime = mtime
                self.progress.emit(data)
        new_rows = self._metrics.read_new() if self._metrics is not None else []
        if new_rows:
            self.rows.emit(new_rows)
