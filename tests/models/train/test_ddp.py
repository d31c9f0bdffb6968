"""Data-parallel training: 2 CPU processes with the gloo backend hold identical weights."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from tests.models.vae_helpers import make_small_gmd_dataset


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, run_dir: str, ds: str, out_dir: str) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    from models.train.trainer import TrainOptions, run_training

    torch.set_num_threads(1)
    res = run_training(TrainOptions(
        config="groovae_tiny", run_dir=run_dir, examples_path=ds, hparams="batch_size=16",
        num_steps=6, eval_every_steps=0, device="cpu", progress_bar=False, seed=1,
    ))
    weights = {k: v.contiguous() for k, v in res.model.state_dict().items()}
    save_file(weights, str(Path(out_dir) / f"rank{rank}.safetensors"))


@pytest.mark.slow
def test_two_gloo_ranks_hold_identical_weights(gmd_dir: Path, tmp_path: Path) -> None:
    ds = make_small_gmd_dataset(gmd_dir, tmp_path / "data")
    run_dir = tmp_path / "run"
    mp.spawn(_worker, args=(2, _free_port(), str(run_dir), str(ds), str(tmp_path)), nprocs=2, join=True)
    w0 = load_file(str(tmp_path / "rank0.safetensors"))
    w1 = load_file(str(tmp_path / "rank1.safetensors"))
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # the weights moved (6 updates on different halves of each batch, averaged by all-reduce)
    torch.manual_seed(1)
    from models.net.config import get_config
    from models.net.vae import GrooVAE

    init = GrooVAE(get_config("groovae_tiny")).state_dict()
    assert not torch.equal(init["decoder.output_projection.weight"], w0["decoder.output_projection.weight"])
    # only rank 0 wrote the run directory; its checkpoint is the shared result
    from models.train.checkpoint import load_checkpoint

    saved, _, meta = load_checkpoint(run_dir)
    assert meta["step"] == 6
    assert torch.equal(saved.state_dict()["encoder.mu.weight"], w0["encoder.mu.weight"])
