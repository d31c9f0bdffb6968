"""GUI test fixtures: offscreen Qt, private config/data folders, a real Engine with a tiny model.

The engine is the real ``bridge.engine.Engine`` with a recording MIDI stand-in
(``FakeMidiIO``) so assertions can read what was played; one test opens real JACK ports.
The model is a tiny GrooVAE with random weights (same ``GrooveModel`` API, fast on CPU);
test_app.py also opens the window with the shipped default model once it is installed.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

GMD = Path("/work/shared/data/groove-midi/groove")


def tiny_loader(name: str):
    """Engine model loader: a tiny random-weight GrooVAE for "default"; paths load for real."""
    import torch

    from models.generate import GrooveModel, load_model
    from models.net.config import get_config
    from models.net.vae import GrooVAE

    torch.set_num_threads(1)
    if name not in ("", "default", "tiny"):
        return load_model(name)
    torch.manual_seed(0)
    return GrooveModel(GrooVAE(get_config("groovae_tiny")).eval(), name="tiny-random")


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var, sub in (("GROOVEBRIDGE_CONFIG_DIR", "config"), ("GROOVEBRIDGE_DATA_DIR", "data"),
                     ("GROOVEBRIDGE_MODELS_DIR", "models")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    return tmp_path


@pytest.fixture
def model_loader():
    return tiny_loader


@pytest.fixture
def engine(model_loader):
    """The engine with fake MIDI and the ``model_loader`` fixture's models (a tiny one unless a
    test module overrides ``model_loader``)."""
    from bridge.engine import Engine
    from bridge.settings import Settings
    from tests.rigs.midi_fakes import FakeMidiIO

    eng = Engine(Settings(osc_enabled=False), model_loader=model_loader, midi=FakeMidiIO())
    eng.start()
    yield eng
    eng.close()


@pytest.fixture
def window(qtbot, engine):
    from PyQt6.QtWidgets import QApplication

    from gui.main_window import MainWindow
    from gui.settings_store import SettingsStore
    from gui.theme import apply_theme

    apply_theme(QApplication.instance())
    win = MainWindow(SettingsStore())
    qtbot.addWidget(win)
    win.show()
    win.attach_engine(engine)
    # Ready, and the first sample is in: the engine samples an empty pattern once the model is
    # up; attached while the model still loads, the window plays a starter groove and samples
    # over it at model ready (gui.first_pattern). The variations arrive a moment before the
    # chosen one becomes the pattern: wait for both.
    def settled() -> bool:
        s = engine.snapshot()
        return s.model_state == "ready" and len(s.variations) > 0 and s.pattern.num_hits > 0

    qtbot.waitUntil(settled, timeout=30000)
    qtbot.waitUntil(lambda: win.grid.groove() is engine.snapshot().pattern, timeout=5000)
    yield win
    win.close()


@pytest.fixture
def gmd_files() -> list[Path]:
    files = sorted(GMD.glob("drummer1/session1/*_beat_4-4.mid"))
    if len(files) < 2:
        pytest.skip("Groove MIDI Dataset not found at /work/shared/data/groove-midi")
    return files
