"""SIGKILL fault injection for training: kill a real training process at random moments.

Run by ``tests/hardening/test_checkpoint_faults.py`` as
``python -m tests.hardening.kill_harness RUN_DIR DATASET REPORT --trials 50 --seed S``.
This process imports torch once (one thread) and, per trial, forks a child that runs
``models.train.trainer.run_training`` (checkpointing after every step), sleeps a random time, sends
SIGKILL and reaps it. After every kill it loads every ``ckpt-*`` directory present
(``load_checkpoint`` + ``load_optimizer_state``) and notes the newest step; the next child's
first progress event says which step it resumed from. At the end it trains the killed run on
to a final step without interruption, trains a never-killed reference run to the same step
and compares the weights. Everything is written to the JSON report for the test to judge.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch

from models.train import checkpoint as ckpt
from models.train import run_folder
from models.train.trainer import TrainOptions, run_training

MAX_DELAY_SEC = 0.8


def _options(run_dir: Path, dataset: Path, num_steps: int, hparams: str) -> TrainOptions:
    return TrainOptions(
        config="groovae_tiny", run_dir=str(run_dir), examples_path=str(dataset), hparams=hparams,
        num_steps=num_steps, device="cpu", seed=0, checkpoint_every_steps=1,
        checkpoint_every_sec=1e9, keep_checkpoints=3, eval_every_steps=0,
        log_every_steps=1_000_000, num_threads=1, progress_bar=False,
    )


def _verify(run_dir: Path) -> tuple[list[int], list[str]]:
    """Steps of the ckpt-* dirs present (each fully loaded) and the load errors."""
    steps, errors = [], []
    for d in sorted((run_dir / run_folder.CKPT_SUBDIR).glob("ckpt-*")):
        try:
            model, _, meta = ckpt.load_checkpoint(d)
            opt = torch.optim.Adam(model.parameters())
            ckpt.load_optimizer_state(d, opt)
            if d.name != run_folder.checkpoint_name(int(meta["step"])):
                raise RuntimeError(f"state.json step {meta['step']} does not match the name")
            steps.append(int(meta["step"]))
        except Exception as e:  # noqa: BLE001 - every failure is a finding for the report
            errors.append(f"{d.name}: {type(e).__name__}: {e}")
    return steps, errors


def _child(options: TrainOptions, log: Path) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)

    def record(event: dict[str, Any]) -> None:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event["event"], "step": event["step"]}) + "\n")

    try:
        run_training(options, record)
    finally:
        os._exit(0)


def _first_step(log: Path) -> int | None:
    if not log.is_file():
        return None
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError):
            return None  # a line cut by the kill
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir", type=Path)
    p.add_argument("dataset", type=Path)
    p.add_argument("report", type=Path)
    p.add_argument("--trials", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hparams", default="batch_size=8")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rng = random.Random(args.seed)
    logs = args.report.parent / "kill_logs"
    logs.mkdir(parents=True, exist_ok=True)
    forever = _options(args.run_dir, args.dataset, 1_000_000, args.hparams)
    # Warm-up in this process: lazy imports (dataset, optimizer) are done once, not per child.
    run_training(_options(args.report.parent / "warmup", args.dataset, 1, args.hparams))
    trials: list[dict[str, Any]] = []
    t0 = time.monotonic()
    for trial in range(args.trials):
        before, _ = _verify(args.run_dir)
        log = logs / f"trial{trial:03d}.jsonl"
        delay = rng.uniform(0.0, MAX_DELAY_SEC)
        pid = os.fork()
        if pid == 0:
            _child(forever, log)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        steps, errors = _verify(args.run_dir)
        leftovers = sorted(
            q.name for q in (args.run_dir / run_folder.CKPT_SUBDIR).glob(".*")
        ) if (args.run_dir / run_folder.CKPT_SUBDIR).is_dir() else []
        trials.append({
            "trial": trial, "delay_sec": round(delay, 4),
            "killed": os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL,
            "latest_before": max(before, default=0), "resumed_from": _first_step(log),
            "steps_after": steps, "errors": errors, "leftovers": leftovers,
        })
    latest = max(_verify(args.run_dir)[0], default=0)
    final_step = latest + 3
    resumed = run_training(_options(args.run_dir, args.dataset, final_step, args.hparams))
    ref = run_training(_options(args.report.parent / "reference", args.dataset, final_step, args.hparams))
    a, b = resumed.model.state_dict(), ref.model.state_dict()  # type: ignore[union-attr]
    max_diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    report = {
        "trials": trials, "final_step": final_step, "resumed_step": resumed.step,
        "reference_step": ref.step, "max_abs_weight_diff": max_diff,
        "identical": all(torch.equal(a[k], b[k]) for k in a),
        "seconds": round(time.monotonic() - t0, 2),
    }
    args.report.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
