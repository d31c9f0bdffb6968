"""Where the app keeps datasets and training runs, and reading a run folder without torch.

``data_dir()`` is the platform data folder (``GROOVEBRIDGE_DATA_DIR`` overrides it); runs go
to ``<data>/runs``, datasets to ``<data>/datasets``. A run folder is read with
``models.train.run_folder`` (torch-free), the same module the trainer writes it with.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

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
