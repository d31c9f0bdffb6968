"""Training progress for people and processes: a progress bar, metrics.csv, progress.json.

``progress.json`` (format: ``models.train.run_folder``; rewritten atomically, at most every ``json_every_sec`` and at each event) is
what the GUI polls; ``metrics.csv`` is appended one row per logged step and per validation.
TensorBoard event files are written too when the ``tensorboard`` package is installed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.net.config import GrooVAEConfig
from models.net.losses import PART_NAMES
from models.train import run_folder

CSV_FIELDS = ("time_unix", "split", "step", *PART_NAMES, "grad_norm", "learning_rate", "examples_per_sec")
BAR_PARTS = ("loss", "r_loss", "kl_bits", "hits_loss", "velocities_loss", "offsets_loss")


def _fmt_sec(sec: float) -> str:
    if sec != sec or sec == float("inf"):
        return "?"
    sec = int(sec)
    h, rem = divmod(sec, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60:02d}:{rem % 60:02d}"


class ProgressReporter:
    def __init__(
        self,
        run_dir: Path,
        config: GrooVAEConfig,
        num_steps: int,
        start_step: int,
        callback: Callable[[dict[str, Any]], None] | None,
        enabled: bool = True,
        bar: bool = True,
        log_every_steps: int = 10,
        json_every_sec: float = 1.0,
    ) -> None:
        self.run_dir, self.config, self.num_steps = run_dir, config, num_steps
        self.callback, self.enabled, self.bar = callback, enabled, bar
        self.log_every_steps, self.json_every_sec = log_every_steps, json_every_sec
        self.start_step = start_step
        self.t0 = time.monotonic()
        self.last_json = 0.0
        self.examples = 0
        self.state: dict[str, Any] = {
            "state": "running", "config": config.name, "step": start_step, "num_steps": num_steps,
            "done": start_step, "total": num_steps,  # the progress protocol (models.progress)
            "examples_per_sec": 0.0, "eta_sec": None, "train": {}, "validation": {},
            "last_checkpoint": None, "pid": os.getpid(), "message": "",
        }
        self.tty = sys.stderr.isatty()
        self.tb = None
        if enabled:
            try:  # optional: only when tensorboard is installed
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except Exception:
                self.tb = None

    # ---- sinks --------------------------------------------------------------------------------
    def _emit(self, event: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if force or now - self.last_json >= self.json_every_sec:
            self.last_json = now
            run_folder.write_progress(self.run_dir, {**self.state, "event": event})
        if self.callback is not None:
            self.callback({**self.state, "event": event})

    def _csv(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        run_folder.append_metrics(self.run_dir, CSV_FIELDS, row)

    # ---- events -------------------------------------------------------------------------------
    def message(self, text: str) -> None:
        self.state["message"] = text
        if self.enabled:
            print(text, file=sys.stderr, flush=True)
            self._emit("message", force=True)

    def step(self, step: int, parts: dict[str, float], batch_examples: int) -> None:
        self.examples += batch_examples
        elapsed = time.monotonic() - self.t0
        rate = self.examples / elapsed if elapsed > 0 else 0.0
        steps_done = step - self.start_step
        eta = (self.num_steps - step) * elapsed / steps_done if steps_done else float("nan")
        eta_json = eta if eta == eta else None  # JSON has no NaN
        self.state.update(step=step, done=step, examples_per_sec=rate, eta_sec=eta_json, train=dict(parts))
        if not self.enabled:
            return
        logged = step % self.log_every_steps == 0 or step == self.num_steps
        if logged:
            self._csv({"time_unix": time.time(), "split": "train", "step": step, **parts, "examples_per_sec": rate})
            if self.tb is not None:
                for k, v in parts.items():
                    self.tb.add_scalar(f"train/{k}", v, step)
        if self.bar and (self.tty or logged):
            frac = step / max(1, self.num_steps)
            filled = int(20 * frac)
            text = " ".join(f"{k}={parts[k]:.3f}" for k in BAR_PARTS if k in parts)
            line = (
                f"[{'#' * filled}{'.' * (20 - filled)}] {step}/{self.num_steps} {text} "
                f"{rate:.1f} ex/s ETA {_fmt_sec(eta)}"
            )
            print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)
        self._emit("step")

    def validation(self, step: int, metrics: dict[str, float]) -> None:
        self.state["validation"] = dict(metrics, step=step)
        if not self.enabled:
            return
        self._csv({"time_unix": time.time(), "split": "validation", "step": step, **metrics})
        if self.tb is not None:
            for k, v in metrics.items():
                self.tb.add_scalar(f"validation/{k}", v, step)
        if self.bar:
            nl = "\n" if self.tty else ""
            print(f"{nl}validation @ {step}: loss={metrics['loss']:.3f} r_loss={metrics['r_loss']:.3f} "
                  f"kl_bits={metrics['kl_bits']:.2f}", file=sys.stderr, flush=True)
        self._emit("validation", force=True)

    def checkpoint(self, step: int, path: Path) -> None:
        self.state["last_checkpoint"] = str(path)
        self._emit("checkpoint", force=True)

    def finish(self, state: str, step: int) -> None:
        self.state.update(state=state, step=step, done=step)
        if self.enabled and self.bar and self.tty:
            print(file=sys.stderr)
        if self.tb is not None:
            self.tb.close()
        self._emit(state, force=True)


def write_eval_csv(run_dir: Path, step: int, checkpoint_path: str, metrics: dict[str, float]) -> Path:
    fields = ("time_unix", "step", "checkpoint", *PART_NAMES)
    return run_folder.append_eval_metrics(run_dir, fields, {"step": step, "checkpoint": checkpoint_path, **metrics})
