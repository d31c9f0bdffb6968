"""Fixtures shared by the bridge tests."""

from __future__ import annotations

import pytest
from osc_fakes import FakeEngine, osc_test_engine


@pytest.fixture
def engine() -> FakeEngine:
    """A recording fake Engine for the OSC tests (see osc_fakes.py)."""
    return osc_test_engine()
