"""Where the app keeps what it makes: ``data_dir()`` is the platform data folder
(``GROOVEBRIDGE_DATA_DIR`` overrides it); training runs go to ``runs_dir()``, preprocessed
datasets to ``datasets_dir()``. (A run folder's contents are read with
``models.train.run_folder``, the module the trainer writes them with.)"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    env = os.environ.get("GROOVEBRIDGE_DATA_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("groovebridge"))


def runs_dir() -> Path:
    """Training runs started from the app: ``<data>/runs/<config>-<time>``."""
    return data_dir() / "runs"


def datasets_dir() -> Path:
    """Datasets preprocessed from the app: ``<data>/datasets/<name>.gbds``."""
    return data_dir() / "datasets"
