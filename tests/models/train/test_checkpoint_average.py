"""Checkpoint averaging: the mean of the weights, one config, clear errors, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from groovebridge.cli import main as cli
from models.net.config import apply_hparams, get_config
from models.net.vae import GrooVAE
from models.train import checkpoint as ck
from models.train import run_folder
from models.train.average import average_checkpoints, checkpoint_step, run_checkpoints

torch.set_num_threads(1)


def _run(tmp_path: Path, steps: list[int], hparams: str = "") -> Path:
    run = tmp_path / "run"
    config = apply_hparams(get_config("groovae_tiny"), hparams) if hparams else get_config("groovae_tiny")
    for i, step in enumerate(steps):
        torch.manual_seed(i)
        m = GrooVAE(config)
        ck.save_checkpoint(run / run_folder.CKPT_SUBDIR / run_folder.checkpoint_name(step), m, config, step=step)
    return run


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return ck.load_checkpoint(path)[0].state_dict()


def test_average_is_the_mean_of_the_weights_and_loads_as_a_checkpoint(tmp_path: Path) -> None:
    run = _run(tmp_path, [100, 200, 300])
    paths = run_checkpoints(run, from_step=200)
    assert [p.name for p in paths] == ["ckpt-00000200", "ckpt-00000300"]
    out = average_checkpoints(paths, tmp_path / "avg")
    a, b, avg = _weights(paths[0]), _weights(paths[1]), _weights(out)
    for k in a:
        assert torch.allclose(avg[k], (a[k] + b[k]) / 2, atol=1e-7), k
        assert not torch.equal(avg[k], a[k]) or torch.equal(a[k], b[k])
    model, config, meta = ck.load_checkpoint(out)
    assert config.name == "groovae_tiny" and meta["step"] == 300
    assert meta["averaged_steps"] == [200, 300]
    with torch.no_grad():  # the averaged network runs
        assert torch.isfinite(model(torch.rand(1, 64, 27), torch.Generator().manual_seed(0)).logits).all()


def test_step_range_and_errors(tmp_path: Path) -> None:
    run = _run(tmp_path, [100, 200, 300])
    assert [ck_p.name for ck_p in run_checkpoints(run, 100, 200)] == ["ckpt-00000100", "ckpt-00000200"]
    with pytest.raises(ck.CheckpointError, match="no checkpoints"):
        run_checkpoints(run, from_step=400)
    with pytest.raises(ck.CheckpointError, match="nothing to average"):
        average_checkpoints([], tmp_path / "avg")
    paths = run_checkpoints(run)
    with pytest.raises(ck.CheckpointError, match="one of the checkpoints"):
        average_checkpoints(paths, paths[0])
    other = _run(tmp_path / "o", [100], hparams="z_size=8")
    with pytest.raises(ck.CheckpointError, match=r"\(z_size\); cannot average"):
        average_checkpoints([paths[0], *run_checkpoints(other)], tmp_path / "avg")
    assert not (tmp_path / "avg").exists()
    # Only training hparams differ (a resume or warm start that changed them): allowed, and the
    # average keeps the newest checkpoint's.
    sched = _run(tmp_path / "s", [100], hparams="learning_rate=0.0005,free_bits=2048,augment_bar_shuffle=0.5")
    average_checkpoints([paths[0], *run_checkpoints(sched)], tmp_path / "avg")
    config = ck.load_checkpoint(tmp_path / "avg")[1]
    assert (config.learning_rate, config.free_bits, config.augment_bar_shuffle) == (0.0005, 2048, 0.5)


def test_cli_averages_a_run_and_reports_user_errors_in_one_line(tmp_path: Path, capsys) -> None:
    run = _run(tmp_path, [100, 200])
    assert cli(["average", "--run_dir", str(run), "--output_dir", str(tmp_path / "avg")]) == 0
    assert "averaged 2 checkpoints" in capsys.readouterr().out
    assert ck.load_checkpoint(tmp_path / "avg")[2]["averaged_steps"] == [100, 200]
    listed = ",".join(str(p) for p in run_checkpoints(run))
    assert cli(["average", "--checkpoints", listed, "--output_dir", str(tmp_path / "avg2")]) == 0
    capsys.readouterr()
    for argv in (
        ["average", "--run_dir", str(tmp_path / "missing"), "--output_dir", str(tmp_path / "x")],
        ["average", "--run_dir", str(run), "--from_step", "500", "--output_dir", str(tmp_path / "x")],
        ["average", "--checkpoints", str(tmp_path / "nope"), "--output_dir", str(tmp_path / "x")],
    ):
        assert cli(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("groovebridge average: ") and "\n" not in err and "Traceback" not in err


def test_cli_reports_and_stores_the_validation_loss_training_would_log(gmd_dir: Path, tmp_path: Path, capsys) -> None:
    from models.train.trainer import TrainOptions, run_training
    from tests.models.vae_helpers import make_small_gmd_dataset

    ds = make_small_gmd_dataset(gmd_dir, tmp_path / "data")
    run = tmp_path / "run"
    opts = dict(config="groovae_tiny", run_dir=str(run), examples_path=str(ds), hparams="batch_size=16",
                eval_every_steps=0, progress_bar=False, num_threads=1, seed=3)
    run_training(TrainOptions(**opts, num_steps=6, checkpoint_every_steps=2, keep_checkpoints=10))
    assert [checkpoint_step(p) for p in run_checkpoints(run, from_step=2)] == [2, 4, 6]
    capsys.readouterr()
    avg = tmp_path / "avg"
    argv = ["average", "--run_dir", str(run), "--from_step", "2", "--output_dir", str(avg), "--examples_path", str(ds)]
    assert cli(argv) == 0
    line = capsys.readouterr().out.strip()
    stored = ck.load_checkpoint(avg)[2]["val_loss"]
    # The figure training logs (its validation draws z with seed 0), as `train --mode eval` computes
    # it for the averaged checkpoint and for the newest one.
    for path, shown in ((avg, line.split("validation loss ")[1].split()[0]),
                        (run_checkpoints(run)[-1], line.split("alone: ")[1].rstrip(")"))):
        res = run_training(TrainOptions(**{**opts, "run_dir": str(tmp_path / "eval"), "seed": 0}, mode="eval", checkpoint=str(path)))
        assert f"{res.metrics['loss']:.2f}" == shown
    assert f"{stored:.2f}" == line.split("validation loss ")[1].split()[0]
    capsys.readouterr()
    bad = ["average", "--run_dir", str(run), "--output_dir", str(tmp_path / "x"), "--examples_path", str(tmp_path / "no.gbds")]
    assert cli(bad) == 2 and "dataset not found" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
