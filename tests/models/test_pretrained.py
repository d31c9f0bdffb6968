"""The shipped models load with no network and no extra files, and make plausible grooves."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.generate import PRETRAINED_DIR, load_model
from models.groove import Groove

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def default_model():
    return load_model("default")


def test_shipped_files_are_safetensors_and_json():
    for name in ("default", "humanize"):
        d = PRETRAINED_DIR / name
        assert (d / "model.safetensors").read_bytes()[8:9] == b"{"  # safetensors header, not pickle
        config = json.loads((d / "config.json").read_text())
        assert config["num_bars"] == 4
    assert json.loads((PRETRAINED_DIR / "humanize" / "config.json").read_text())["humanize"] is True


def test_default_model_samples_plausible_grooves(default_model):
    grooves = default_model.sample(16, temperature=1.0, seed=7)
    assert len(grooves) == 16 and all(g.num_steps == 64 for g in grooves)
    hits = np.stack([g.hits for g in grooves])  # (16, 64, 9)
    per_groove = hits.sum(axis=(1, 2))
    assert (per_groove > 8).all(), "a sampled groove is (nearly) silent"
    assert (hits.mean(axis=(1, 2)) < 0.5).all(), "a sampled groove hits most cells"
    assert (hits.sum(axis=(0, 1)) > 0).sum() >= 3, "fewer than 3 drum classes used"
    vel = np.stack([g.velocities for g in grooves])[hits > 0.5]
    off = np.stack([g.offsets for g in grooves])[hits > 0.5]
    assert 0.15 < vel.mean() < 0.95 and vel.std() > 0.02, "velocities are flat or extreme"
    assert 0.005 < np.abs(off).mean() < 0.6, "no micro-timing, or timing all over the place"


def test_default_model_reconstructs_a_real_groove(default_model, gmd_dir):
    from models.midi.files import load_groove_window

    groove, _ = load_groove_window(gmd_dir / "drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid")
    out = default_model.reconstruct(groove, temperature=0.0)
    a, b = groove.hits > 0.5, out.hits > 0.5
    f1 = 2 * (a & b).sum() / (a.sum() + b.sum())
    assert f1 > 0.6, f"reconstruction hit F1 {f1:.2f}"


def test_humanize_model_adds_dynamics_and_timing(gmd_dir):
    from models.midi.files import load_groove_window

    model = load_model("humanize")
    real, _ = load_groove_window(gmd_dir / "drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid")
    flat = Groove(real.hits, np.where(real.hits > 0, 0.6, 0.0), np.zeros_like(real.offsets), real.bpm)
    out = model.humanize(flat, temperature=0.0)
    played = out.hits > 0.5
    assert played.sum() > 0.5 * real.hits.sum(), "humanize dropped most of the hits"
    assert out.velocities[played].std() > 0.03, "humanize left velocities flat"
    assert np.abs(out.offsets[played]).mean() > 0.01, "humanize left timing on the grid"


def test_loading_the_shipped_model_does_not_import_torch_dynamo() -> None:
    """Checking a checkpoint builds the network on the meta device; drawing its initial values
    there imported torch._dynamo, ~1.1 s of every launch of the app (load_model 2.0 -> 0.4 s)."""
    import subprocess
    import sys

    code = ("import sys; from models.generate import load_model; load_model('default'); "
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr
