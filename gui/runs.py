"""Where the app keeps datasets and training runs, and reading a run folder without torch.

``data_dir()`` is the platform data folder (``GROOVEBRIDGE_DATA_DIR`` overrides it); runs go
to ``<data>/runs``, datasets to ``<data>/datasets``. Checkpoints are read from their
``state.json`` files (layout of ``models.checkpoint``), so listing them never imports torch.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

_EXC_LINE = re.compile(r"^[\w.]*(?:Error|Exception): (.+)$")


def data_dir() -> Path:
    env = os.environ.get("GROOVEBRIDGE_DATA_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("groovebridge"))


def readable(message: str) -> str:
    m = _EXC_LINE.match(message.strip())
    return m.group(1) if m else message.strip()


def fmt_duration(sec: float | None) -> str:
    if sec is None or sec != sec or sec == float("inf"):
        return "–"
    sec = int(sec)
    h, rem = divmod(sec, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60:d}:{rem % 60:02d}"


def validation_losses(run_dir: Path) -> dict[int, float]:
    """step -> validation loss from the run's metrics.csv (the last row of a step wins)."""
    import csv

    out: dict[int, float] = {}
    try:
        with (run_dir / "metrics.csv").open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                if row.get("split") == "validation":
                    try:
                        out[int(row["step"])] = float(row["loss"])
                    except (KeyError, TypeError, ValueError):
                        continue
    except OSError:
        pass
    return out


def read_checkpoints(run_dir: Path) -> list[dict[str, Any]]:
    """Checkpoints of a run (newest first) from their state.json files; no torch needed.

    A checkpoint written before its step's validation ran has no loss in its state.json: the
    loss is taken from metrics.csv (what the plot shows). "best" is the lowest validation loss
    known; the trainer's ``best`` pointer only decides when no checkpoint has one."""
    ckdir = run_dir / "checkpoints"
    pointer = (ckdir / "best").read_text(encoding="utf-8").strip() if (ckdir / "best").is_file() else ""
    val_rows = validation_losses(run_dir)
    out = []
    for d in sorted(ckdir.glob("ckpt-*"), reverse=True) if ckdir.is_dir() else []:
        if not (d / "model.safetensors").is_file():
            continue
        try:
            state = json.loads((d / "state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = {}
        extra = state.get("extra", state)
        step = int(state.get("step", 0) or int(d.name.split("-")[-1]))
        val = extra.get("val_loss")
        out.append({
            "path": str(d), "step": step, "val_loss": val if val is not None else val_rows.get(step),
            "best": d.name == pointer,
            "prior": (d / "prior.safetensors").is_file() and (d / "prior.json").is_file(),
        })
    known = [c for c in out if isinstance(c["val_loss"], (int, float))]
    if known:
        best = min(known, key=lambda c: (c["val_loss"], -c["step"]))
        for c in out:
            c["best"] = c is best
    return out
