"""Shared pytest fixtures. Keep this small and additive: each part adds its own fixtures."""

from __future__ import annotations

import os
import sys
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


@pytest.fixture(scope="session")
def gmd_gbds(gmd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole Groove MIDI Dataset preprocessed as `groovebridge preprocess` writes it (about a
    second), once per session: tests read it as training does, on a clean clone too."""
    from models.data.dataset import preprocess

    out = tmp_path_factory.mktemp("gmd_full") / "gmd.gbds"
    preprocess(gmd_dir, out, workers=1)
    return out


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ARG001
    """A failed ``jack`` test's report ends with the tail of the newest private jackd's log
    (tests/bridge/jack_helpers.py): xruns and clients the server timed out show there."""
    outcome = yield
    report = outcome.get_result()
    helpers = sys.modules.get("jack_helpers")
    if not (report.failed and item.get_closest_marker("jack") and helpers and helpers.logs):
        return
    log = helpers.logs[-1]
    try:
        tail = log.read_text(errors="replace").splitlines()[-60:]
    except OSError as e:
        tail = [f"(could not read {log}: {e})"]
    report.sections.append((f"jackd log {log}", "\n".join(tail)))
