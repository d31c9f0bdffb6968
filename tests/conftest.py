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
