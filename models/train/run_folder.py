"""The run-folder format, written by the trainer and read by the app: torch-free.

A training run is a folder::

    <run>/progress.json        the trainer's state, rewritten atomically (state, step, ETA, ...)
    <run>/metrics.csv          one row per logged step (split=train) and per validation
    <run>/eval_metrics.csv     one row per ``mode="eval"`` run
    <run>/checkpoints/ckpt-<step:08d>/{model.safetensors, config.json, state.json, ...}
    <run>/checkpoints/latest   pointer file: the name of the newest checkpoint
    <run>/checkpoints/best     pointer file: the checkpoint with the lowest validation loss

``models.train.report`` writes progress and metrics through this module,
``models.train.checkpoint`` writes the checkpoints and pointers, and the app (listing runs,
following a training run) reads all of it here without importing torch (an import-linter
contract keeps it so). Damaged or half-written files never raise: a reader returns what it
could read (``None`` / ``{}`` / no rows), and the next poll tries again.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from models.atomic_io import write_text_atomic

PROGRESS_FILE = "progress.json"
METRICS_FILE = "metrics.csv"
EVAL_METRICS_FILE = "eval_metrics.csv"
CKPT_SUBDIR = "checkpoints"
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
STATE_FILE = "state.json"
OPTIMIZER_FILE = "optimizer.safetensors"
PRIOR_FILES = ("prior.safetensors", "prior.json")
POINTERS = ("latest", "best")


# ---- checkpoints ------------------------------------------------------------------------------
def checkpoint_name(step: int) -> str:
    return f"ckpt-{step:08d}"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run (those with their weights file), oldest first."""
    d = Path(run_dir) / CKPT_SUBDIR
    if not d.is_dir():
        return []
    found = [p for p in d.iterdir() if p.is_dir() and p.name.startswith("ckpt-") and (p / MODEL_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def read_pointer(run_dir: str | Path, which: str) -> Path | None:
    """The checkpoint a pointer file names: a plain ``ckpt-*`` name inside ``checkpoints/``
    (a pointer holding a path that would leave the folder is ignored)."""
    ptr = Path(run_dir) / CKPT_SUBDIR / which
    try:
        name = ptr.read_text(encoding="utf-8").strip() if ptr.is_file() else ""
    except (OSError, UnicodeDecodeError):
        return None
    if not name.startswith("ckpt-") or "/" in name or "\\" in name or Path(name).name != name:
        return None
    target = Path(run_dir) / CKPT_SUBDIR / name
    return target if (target / MODEL_FILE).is_file() else None


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint: the ``latest`` pointer's, or a newer one a kill left
    between the checkpoint's rename and the pointer's update."""
    found = list_checkpoints(run_dir)
    ptr = read_pointer(run_dir, "latest")
    candidates = found + ([ptr] if ptr is not None else [])
    return max(candidates, key=lambda p: p.name) if candidates else None


def best_checkpoint(run_dir: str | Path) -> Path | None:
    return read_pointer(run_dir, "best")


def read_state(ckpt_dir: str | Path) -> dict[str, Any]:
    """A checkpoint's state.json as a dict; {} when absent or unreadable."""
    try:
        state = json.loads((Path(ckpt_dir) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def read_checkpoints(run_dir: str | Path) -> list[dict[str, Any]]:
    """Checkpoints of a run, newest first: ``{"path", "step", "val_loss", "best", "prior"}``.

    A checkpoint written before its step's validation ran has no loss in its state.json: the
    loss is taken from metrics.csv (what the plot shows). "best" is the lowest validation loss
    known; the trainer's ``best`` pointer only decides when no checkpoint has one."""
    run_dir = Path(run_dir)
    pointer = read_pointer(run_dir, "best")
    val_rows = validation_losses(run_dir)
    out: list[dict[str, Any]] = []
    for d in reversed(list_checkpoints(run_dir)):
        state = read_state(d)
        extra = state.get("extra", state)
        extra = extra if isinstance(extra, dict) else {}
        try:
            step = int(state.get("step", 0) or int(d.name.split("-")[-1]))
        except (TypeError, ValueError):
            step = 0
        val = extra.get("val_loss")
        out.append({
            "path": str(d), "step": step, "val_loss": val if val is not None else val_rows.get(step),
            "best": pointer is not None and d.name == pointer.name,
            "prior": all((d / f).is_file() for f in PRIOR_FILES),
        })
    known = [c for c in out if isinstance(c["val_loss"], (int, float))]
    if known:
        best = min(known, key=lambda c: (c["val_loss"], -c["step"]))
        for c in out:
            c["best"] = c is best
    return out


# ---- progress.json ----------------------------------------------------------------------------
def write_progress(run_dir: str | Path, state: dict[str, Any]) -> None:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / PROGRESS_FILE, json.dumps(state, indent=1))


def read_progress(run_dir: str | Path) -> dict[str, Any] | None:
    """The trainer's last progress state, or None (not written yet, or being replaced)."""
    try:
        data = json.loads((Path(run_dir) / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def progress_mtime(run_dir: str | Path) -> float | None:
    try:
        return (Path(run_dir) / PROGRESS_FILE).stat().st_mtime
    except OSError:
        return None


# ---- metrics.csv ------------------------------------------------------------------------------
def append_row(path: Path, fields: Iterable[str], row: dict[str, Any]) -> None:
    """Append one row to a metrics CSV (writing its header first when the file is new)."""
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)


def append_metrics(run_dir: str | Path, fields: Iterable[str], row: dict[str, Any]) -> None:
    append_row(Path(run_dir) / METRICS_FILE, fields, row)


def append_eval_metrics(run_dir: str | Path, fields: Iterable[str], row: dict[str, Any]) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / EVAL_METRICS_FILE
    append_row(path, fields, {"time_unix": time.time(), **row})
    return path


def _typed(rec: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for k, v in rec.items():
        try:
            row[k] = float(v) if v not in ("", None) else None
        except (TypeError, ValueError):
            row[k] = v
    return row


class MetricsTail:
    """Reads the rows appended to a run's metrics.csv since the last call (numbers as floats,
    empty cells as None); a row still being written is left for the next call."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / METRICS_FILE
        self._pos = 0
        self._header: list[str] | None = None

    def read_new(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        try:
            with open(self.path, "rb") as f:
                f.seek(self._pos)
                data = f.read()
        except OSError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self._pos += end + 1
        lines = data[: end + 1].decode("utf-8", "replace").splitlines()
        if self._header is None and lines:
            self._header = next(csv.reader([lines[0]]))
            lines = lines[1:]
        return [_typed(rec) for rec in csv.DictReader(io.StringIO("\n".join(lines)), fieldnames=self._header)]


def validation_losses(run_dir: str | Path) -> dict[int, float]:
    """step -> validation loss from the run's metrics.csv (the last row of a step wins)."""
    out: dict[int, float] = {}
    try:
        with (Path(run_dir) / METRICS_FILE).open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                if row.get("split") == "validation":
                    try:
                        out[int(row["step"])] = float(row["loss"])
                    except (KeyError, TypeError, ValueError):
                        continue
    except OSError:
        pass
    return out
