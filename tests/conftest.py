"""Shared pytest fixtures. Keep this small and additive: each part adds its own fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

GMD_DIR = Path(
    os.environ.get("GROOVEBRIDGE_GMD_DIR")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "groove-midi" / "groove"
)


@pytest.fixture(scope="session")
def gmd_dir() -> Path:
    """The real Groove MIDI Dataset (1,150 files + info.csv); skips when it is not there."""
    if not (GMD_DIR / "info.csv").is_file():
        pytest.skip(f"Groove MIDI Dataset not found at {GMD_DIR}")
    return GMD_DIR
