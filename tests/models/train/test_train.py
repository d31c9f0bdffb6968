"""Training on real GMD windows: loss falls, resume after kill (same steps, same data order),
Ctrl-C checkpoints, progress interface, eval mode, schedule/clipping, CLI errors."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from models.cli.train import main as train_main
from models.net.config import apply_hparams, get_config
from models.train import checkpoint as ck
from models.train import run_folder
from models.train.loop import BatchOrder, TrainingError, clip_gradients_, learning_rate_at
from models.train.trainer import TrainOptions, run_training
from tests.models.vae_helpers import make_small_gmd_dataset

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def dataset(gmd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_small_gmd_dataset(gmd_dir, tmp_path_factory.mktemp("gmd"))


def _opts(run_dir: Path, ds: Path, **kw) -> TrainOptions:
    base = dict(config="groovae_tiny", run_dir=str(run_dir), examples_path=str(ds), hparams="batch_size=16",
                eval_every_steps=0, progress_bar=False, num_threads=1, seed=3)
    base.update(kw)
    return TrainOptions(**base)


def _rows(run_dir: Path, split: str = "train") -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r["split"] == split]


@pytest.mark.slow
def test_tiny_model_loss_falls_on_gmd(dataset: Path, tmp_path: Path) -> None:
    events: list[dict] = []
    res = run_training(_opts(tmp_path, dataset, num_steps=120, hparams="batch_size=32",
                             eval_every_steps=20, log_every_steps=10), events.append)
    assert res.state == "done" and res.step == 120
    r = [float(x["r_loss"]) for x in _rows(tmp_path)]
    assert np.mean(r[-3:]) < 0.6 * np.mean(r[:3])
    val = _rows(tmp_path, "validation")
    assert len(val) == 6 and float(val[-1]["loss"]) < 0.7 * float(val[0]["loss"])
    assert events[-1]["event"] == "done" and events[-1]["step"] == 120
    prog = json.loads((tmp_path / "progress.json").read_text())
    assert prog["state"] == "done" and prog["train"]["r_loss"] > 0
    assert run_folder.best_checkpoint(tmp_path) is not None


def _wait_for(cond, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _cli(run_dir: Path, ds: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "models.cli.train", "--config", "groovae_tiny", "--run_dir", str(run_dir),
            "--examples_path", str(ds), "--hparams", "batch_size=16", "--eval_every_steps", "0",
            "--num_threads", "1", "--seed", "3", "--no_progress_bar", *extra]


@pytest.mark.slow
def test_resume_after_kill_continues_steps_and_data_order(dataset: Path, tmp_path: Path) -> None:
    a = tmp_path / "killed"
    proc = subprocess.Popen(_cli(a, dataset, "--num_steps", "100000", "--checkpoint_every_steps", "7"),
                            cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: (c := run_folder.latest_checkpoint(a)) is not None and int(c.name[5:]) >= 14)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    latest = run_folder.latest_checkpoint(a)
    assert latest is not None
    killed_at = int(json.loads((latest / "state.json").read_text())["step"])
    ck.load_checkpoint(latest)  # the pointer names a complete, loadable checkpoint
    target = killed_at + 9
    resumed = run_training(_opts(a, dataset, num_steps=target))
    assert resumed.step == target
    fresh = run_training(_opts(tmp_path / "fresh", dataset, num_steps=target))
    for (k, v), (k2, v2) in zip(resumed.model.state_dict().items(), fresh.model.state_dict().items(), strict=True):
        assert k == k2 and torch.allclose(v, v2, atol=1e-6), k
    steps = [int(r["step"]) for r in _rows(a)]
    assert steps[-1] == target


@pytest.mark.slow
def test_sigint_saves_a_checkpoint_and_stops(dataset: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(_cli(tmp_path, dataset, "--num_steps", "100000", "--checkpoint_every_steps", "100000",
                                 "--checkpoint_every_sec", "100000"), cwd=ROOT, stderr=subprocess.PIPE, text=True)
    prog = tmp_path / "progress.json"
    _wait_for(lambda: prog.exists() and json.loads(prog.read_text()).get("step", 0) >= 5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    state = json.loads(prog.read_text())
    assert state["state"] == "stopped"
    latest = run_folder.latest_checkpoint(tmp_path)
    assert latest is not None and int(latest.name[5:]) == state["step"] >= 5
    assert "Traceback" not in err


def test_batch_order_is_a_pure_function_of_seed_and_step() -> None:
    o = BatchOrder(100, 16, seed=5)
    assert o.batches_per_epoch == 6
    epoch0 = np.concatenate([o.indices(s) for s in range(6)])
    assert len(set(epoch0.tolist())) == 96  # no repeats inside an epoch, remainder dropped
    again = BatchOrder(100, 16, seed=5)
    assert np.array_equal(again.indices(13), o.indices(13))
    assert not np.array_equal(o.indices(0), o.indices(6))  # new permutation each epoch
    r0, r1 = BatchOrder(100, 16, 5, rank=0, world_size=2), BatchOrder(100, 16, 5, rank=1, world_size=2)
    assert np.array_equal(np.sort(np.concatenate([r0.indices(3), r1.indices(3)])), o.indices(3))
    with pytest.raises(TrainingError, match="batch_size"):
        BatchOrder(10, 16, 0)


def test_lr_schedule_and_clipping() -> None:
    cfg = get_config("groovae_4bar")
    assert learning_rate_at(cfg, 0) == pytest.approx(1e-3)
    assert learning_rate_at(cfg, 10000) == pytest.approx((1e-3 - 1e-5) * 0.9999**10000 + 1e-5)
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])
    assert clip_gradients_([p], cfg) == pytest.approx(5.0)
    assert float(p.grad.norm()) == pytest.approx(1.0)
    p.grad = torch.tensor([3e4, 4e4, 0.0, 0.0])
    clip_gradients_([p], cfg)
    assert torch.all(p.grad == 0)
    p.grad = torch.tensor([float("nan"), 1.0, 0.0, 0.0])
    clip_gradients_([p], cfg)
    assert torch.all(p.grad == 0)
    cfg2 = apply_hparams(cfg, "grad_clip=10")
    p.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])
    clip_gradients_([p], cfg2)
    assert float(p.grad.norm()) == pytest.approx(5.0)


def test_eval_mode_and_run_dir_of_another_config(dataset: Path, tmp_path: Path, capsys) -> None:
    run_training(_opts(tmp_path, dataset, num_steps=3))
    res = run_training(_opts(tmp_path, dataset, mode="eval"))
    assert res.state == "evaluated" and res.step == 3 and np.isfinite(res.metrics["r_loss"])
    assert (tmp_path / "eval_metrics.csv").read_text().count("\n") == 2
    capsys.readouterr()
    rc = train_main(["--config", "groovae_4bar", "--run_dir", str(tmp_path), "--examples_path", str(dataset)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "groovae_tiny" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--config", "groovae_9bar"], "unknown config"),
        (["--hparams", "batch_sise=2"], "unknown hparam"),
        (["--examples_path", "/nonexistent/ds.gbd"], "not found"),
        (["--hparams", "batch_size=100000"], "fewer than batch_size"),
    ],
)
def test_cli_bad_inputs_one_line(dataset: Path, tmp_path: Path, capsys, args, needle) -> None:
    base = {"--config": "groovae_tiny", "--run_dir": str(tmp_path / "r"), "--examples_path": str(dataset),
            "--num_steps": "2"}
    for k, v in zip(args[::2], args[1::2], strict=True):
        base[k] = v
    argv = [x for kv in base.items() for x in kv] + ["--no_progress_bar"]
    rc = train_main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and needle in err and len(err.splitlines()) == 1, err



def test_resume_allows_optimisation_hparams_only(dataset: Path, tmp_path: Path) -> None:
    run_training(_opts(tmp_path, dataset, num_steps=2, hparams="batch_size=16,free_bits=7"))
    (tmp_path / "checkpoints" / ".ckpt-00000009.deadbeef.tmp").mkdir()  # a killed writer's leftovers
    res = run_training(_opts(tmp_path, dataset, num_steps=3, hparams="learning_rate=0.0005"))
    # --hparams on resume changes only what it names: the run's other hparams are kept
    assert res.step == 3 and res.model.config.batch_size == 16 and res.model.config.free_bits == 7.0
    assert res.model.config.learning_rate == 0.0005
    res = run_training(_opts(tmp_path, dataset, num_steps=4, hparams="batch_size=8,learning_rate=0.0005"))
    assert res.step == 4 and res.model.config.batch_size == 8 and res.model.config.free_bits == 7.0
    assert not (tmp_path / "checkpoints" / ".ckpt-00000009.deadbeef.tmp").exists()
    with pytest.raises(TrainingError, match="z_size"):
        run_training(_opts(tmp_path, dataset, num_steps=6, hparams="z_size=8"))


def test_bf16_autocast_option_trains_or_says_why_not(dataset: Path, tmp_path: Path) -> None:
    from models.train.trainer import bf16_lstm_supported

    if bf16_lstm_supported(torch.device("cpu")):
        res = run_training(_opts(tmp_path, dataset, num_steps=3, precision="bf16"))
        assert res.step == 3 and np.isfinite(res.metrics["loss"]) and res.metrics["r_loss"] > 0
    else:  # e.g. an AMD EPYC without AVX-512 BF16: one clear line, not oneDNN's traceback
        with pytest.raises(TrainingError, match="--precision fp32") as e:
            run_training(_opts(tmp_path, dataset, num_steps=3, precision="bf16"))
        assert "\n" not in str(e.value)
    with pytest.raises(TrainingError, match="precision"):
        run_training(_opts(tmp_path / "x", dataset, num_steps=3, precision="fp8"))


def test_warm_start_begins_a_new_run_from_other_weights(dataset: Path, tmp_path: Path, capsys) -> None:
    first = run_training(_opts(tmp_path / "a", dataset, num_steps=3))
    res = run_training(_opts(tmp_path / "b", dataset, num_steps=1, hparams="batch_size=16,learning_rate=0",
                             warm_start=str(tmp_path / "a")))
    assert res.step == 1  # a new run: fresh step count and optimizer
    for k, v in first.model.state_dict().items():  # learning rate 0: the weights are the source's
        assert torch.allclose(res.model.state_dict()[k], v, atol=1e-6), k
    resumed = run_training(_opts(tmp_path / "b", dataset, num_steps=2, warm_start="/nonexistent"))
    assert resumed.step == 2  # an existing run resumes; warm_start only seeds new runs
    capsys.readouterr()
    rc = train_main(["--config", "groovae_4bar", "--run_dir", str(tmp_path / "c"), "--examples_path",
                     str(dataset), "--warm_start", str(tmp_path / "a"), "--no_progress_bar"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "z_size" in err and len(err.splitlines()) == 1, err
    rc = train_main(["--config", "groovae_tiny", "--run_dir", str(tmp_path / "d"), "--examples_path",
                     str(dataset), "--warm_start", str(tmp_path / "nothing"), "--no_progress_bar"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "not found" in err and len(err.splitlines()) == 1, err


def test_warm_start_grows_hits_control_columns_from_a_plain_model(dataset: Path, tmp_path: Path) -> None:
    from models.generate import GrooveModel
    from tests.models.vae_helpers import random_groove

    plain = run_training(_opts(tmp_path / "a", dataset, num_steps=2, config="groovae_tiny_humanize"))
    grown = run_training(_opts(tmp_path / "b", dataset, num_steps=1, config="groovae_tiny_humanize",
                               hparams="batch_size=16,learning_rate=0,hits_as_controls=true",
                               warm_start=str(tmp_path / "a")))
    assert grown.model.config.hits_as_controls
    w = grown.model.state_dict()["decoder.layers.0.weight_ih_l0"]
    assert w.shape[1] == plain.model.state_dict()["decoder.layers.0.weight_ih_l0"].shape[1] + 9
    assert torch.count_nonzero(w[:, -9:]) == 0
    g = random_groove(5)
    a = GrooveModel(plain.model).humanize(g, temperature=0.0, keep_hits=False)
    b = GrooveModel(grown.model).humanize(g, temperature=0.0, keep_hits=False)
    assert np.allclose(a.to_tensor(), b.to_tensor(), atol=1e-5)  # the same model until trained


def test_warm_start_from_the_same_config_keeps_its_hparams(dataset: Path, tmp_path: Path) -> None:
    run_training(_opts(tmp_path / "a", dataset, num_steps=1, hparams="batch_size=16,free_bits=7"))
    res = run_training(_opts(tmp_path / "b", dataset, num_steps=1, hparams="batch_size=8",
                             warm_start=str(tmp_path / "a")))
    assert res.model.config.free_bits == 7.0 and res.model.config.batch_size == 8


@pytest.mark.slow
def test_progress_lines_are_the_job_protocol_and_match_the_run_folder(dataset: Path, tmp_path: Path) -> None:
    """`groovebridge train --progress_lines` speaks the protocol every child job speaks
    (models.progress), the same events progress.json holds; a user error is an error event."""
    from models import progress as pg

    run = tmp_path / "run"
    out = subprocess.run(_cli(run, dataset, "--num_steps", "12", "--checkpoint_every_steps", "6", "--progress_lines"),
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    events = [pg.parse_line(line) for line in out.stdout.splitlines()]
    assert events and all(e is not None for e in events)
    ckpt_steps = {pg.done_total(e)[0] for e in events if e["event"] == "checkpoint"}
    assert {6, 12} <= ckpt_steps
    assert events[-1]["event"] == "done" and pg.done_total(events[-1]) == (12, 12)
    dones = [pg.done_total(e)[0] for e in events]
    assert dones == sorted(dones)
    final = run_folder.read_progress(run)
    assert final is not None and final["event"] == "done" and pg.done_total(final) == (12, 12)
    bad = subprocess.run(_cli(tmp_path / "bad", tmp_path / "missing.gbds", "--num_steps", "2", "--progress_lines"),
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    err = [pg.parse_line(line) for line in bad.stdout.splitlines()][-1]
    assert err is not None and err["event"] == "error" and "missing.gbds" in err["message"]
    assert "Traceback" not in bad.stderr
