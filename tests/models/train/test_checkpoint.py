"""Checkpoints: save -> load gives identical outputs; atomic layout; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from models.net.config import apply_hparams, get_config
from models.net.vae import GrooVAE
from models.train import checkpoint as ck
from models.train import run_folder

torch.set_num_threads(1)


def _model(seed: int = 0) -> GrooVAE:
    torch.manual_seed(seed)
    return GrooVAE(get_config("groovae_tiny"))


def test_save_load_identical_outputs(tmp_path: Path) -> None:
    m = _model()
    path = ck.save_checkpoint(tmp_path / "c", m, m.config, step=7, extra={"note": "x"})
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors", "state.json"]
    loaded, cfg, meta = ck.load_checkpoint(path)
    assert cfg == m.config and meta["step"] == 7 and meta["note"] == "x"
    x = torch.rand(2, 64, 27)
    m.eval()
    a = m(x, torch.Generator().manual_seed(1)).logits
    b = loaded(x, torch.Generator().manual_seed(1)).logits
    assert torch.equal(a, b)
    for src in (path / "model.safetensors", path):
        assert torch.equal(ck.load_checkpoint(src)[0].decoder.output_projection.weight, m.decoder.output_projection.weight)


def test_optimizer_state_roundtrip(tmp_path: Path) -> None:
    m = _model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m(torch.rand(2, 64, 27)).logits.sum().backward()
    opt.step()
    path = ck.save_checkpoint(tmp_path / "c", m, m.config, 1, opt)
    m2 = _model(1)
    m2.load_state_dict(m.state_dict())
    opt2 = torch.optim.Adam(m2.parameters(), lr=1e-3)
    ck.load_optimizer_state(path, opt2)
    s1, s2 = opt.state_dict()["state"][3], opt2.state_dict()["state"][3]
    assert torch.equal(s1["exp_avg_sq"], s2["exp_avg_sq"]) and float(s1["step"]) == float(s2["step"])


def test_run_dir_pointers_prune_and_no_temp_left(tmp_path: Path) -> None:
    m = _model()
    for step in (1, 2, 3, 4):
        p = ck.save_checkpoint(tmp_path / "checkpoints" / run_folder.checkpoint_name(step), m, m.config, step)
        ck.set_pointer(tmp_path, "latest", p)
        if step == 2:
            ck.set_pointer(tmp_path, "best", p)
    ck.save_checkpoint(tmp_path / "checkpoints" / run_folder.checkpoint_name(4), m, m.config, 4)  # overwrite
    ck.prune_checkpoints(tmp_path, keep=1)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["best", "ckpt-00000002", "ckpt-00000004", "latest"]
    assert ck.resolve_checkpoint(tmp_path).name == "ckpt-00000004"
    assert ck.resolve_checkpoint(tmp_path, prefer="best").name == "ckpt-00000002"
    assert ck.resolve_checkpoint(tmp_path / "checkpoints" / "best").name == "ckpt-00000002"


def test_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ck.CheckpointError, match="not found"):
        ck.load_checkpoint(tmp_path / "nope")
    with pytest.raises(ck.CheckpointError, match="no checkpoint"):
        ck.load_checkpoint(tmp_path)
    m = _model()
    path = ck.save_checkpoint(tmp_path / "c", m, m.config, 1)
    other = apply_hparams(m.config, "z_size=8")
    (path / "config.json").write_text(other.to_json())
    with pytest.raises(ck.CheckpointError, match="shape") as e:
        ck.load_checkpoint(path)
    assert "\n" not in str(e.value)
    (path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ck.CheckpointError):
        ck.load_checkpoint(path)
    (path / "config.json").write_text(json.dumps({"name": "x", "bogus": 1}))
    with pytest.raises(ck.CheckpointError, match="config"):
        ck.load_checkpoint(path)
