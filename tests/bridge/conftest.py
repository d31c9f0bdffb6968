"""Fixtures shared by the bridge tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The tests mirror bridge/'s floors (tests/bridge/<floor>/); some import another floor's test
# helpers by module name (``from test_osc_udp import Receiver``), so every floor's folder is on
# the path whichever file pytest collects first.
_HERE = Path(__file__).parent
for _floor in sorted(p for p in _HERE.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
    if str(_floor) not in sys.path:
        sys.path.append(str(_floor))
from osc_fakes import FakeEngine, osc_test_engine  # noqa: E402


@pytest.fixture
def engine() -> FakeEngine:
    """A recording fake Engine for the OSC tests (see osc_fakes.py)."""
    return osc_test_engine()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly initialised groovae_tiny checkpoint (serve runs that need a real, fast model)."""
    torch = pytest.importorskip("torch")
    from models.net.config import get_config
    from models.net.vae import GrooVAE
    from models.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    config = get_config("groovae_tiny")
    path = tmp_path_factory.mktemp("model") / "tiny"
    save_checkpoint(path, GrooVAE(config), config, step=0)
    return path
