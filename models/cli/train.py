"""`groovebridge train`: train or evaluate a GrooVAE (Magenta ``music_vae_train`` flags).

Also runnable as ``python -m models.cli.train`` (e.g. under ``torchrun --nproc_per_node=N``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from models import progress as pg
from models.cli.common import make_parser
from models.net.config import CONFIGS, ConfigError
from models.train.checkpoint import CheckpointError
from models.train.loop import TrainingError
from models.train.trainer import TrainOptions, run_training


def build_parser() -> argparse.ArgumentParser:
    d = TrainOptions()
    p = make_parser("groovebridge train", "Train (or evaluate) a GrooVAE; resumes from the latest checkpoint in --run_dir.")
    p.add_argument("--config", default=d.config, help=f"one of: {', '.join(CONFIGS)}")
    p.add_argument("--run_dir", required=True, help="checkpoints, metrics.csv and progress.json go here")
    p.add_argument("--examples_path", required=True, help="dataset made by `groovebridge preprocess`, or Magenta's NoteSequence .tfrecord")
    p.add_argument("--hparams", default="", help="overrides, e.g. batch_size=64,free_bits=0")
    p.add_argument("--num_steps", type=int, default=d.num_steps, help="train until this global step")
    p.add_argument("--mode", choices=("train", "eval"), default=d.mode, help="eval: validation metrics of a checkpoint")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default=d.device, help="auto: cuda, then mps, then cpu")
    p.add_argument("--seed", type=int, default=d.seed, help="data order, init and noise")
    p.add_argument("--checkpoint_every_steps", type=int, default=d.checkpoint_every_steps, help="checkpoint interval in steps")
    p.add_argument("--checkpoint_every_sec", type=float, default=d.checkpoint_every_sec, help="checkpoint interval in seconds")
    p.add_argument("--keep_checkpoints", type=int, default=d.keep_checkpoints, help="newest K kept (+ best)")
    p.add_argument("--eval_every_steps", type=int, default=d.eval_every_steps, help="0 = no validation")
    p.add_argument("--eval_max_batches", type=int, default=d.eval_max_batches, help="0 = whole split")
    p.add_argument("--log_every_steps", type=int, default=d.log_every_steps, help="metrics.csv row interval")
    p.add_argument("--checkpoint", default="", help="eval mode: checkpoint to evaluate (default latest)")
    p.add_argument("--num_threads", type=int, default=d.num_threads, help="torch CPU threads (0 = default)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default=d.precision,
                   help="bf16: bfloat16 autocast forward (faster on AMX CPUs and GPUs; fp32 is Magenta's)")
    p.add_argument("--warm_start", default="",
                   help="start a new run from these weights: 'default', 'humanize', a checkpoint or a run dir")
    p.add_argument("--no_progress_bar", action="store_true")
    p.add_argument("--progress_lines", action="store_true",
                   help="print progress events as JSON lines on stdout (models.progress; the app's protocol)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = TrainOptions(
        config=args.config, run_dir=args.run_dir, examples_path=args.examples_path,
        hparams=args.hparams, num_steps=args.num_steps, mode=args.mode, device=args.device,
        seed=args.seed, checkpoint_every_steps=args.checkpoint_every_steps,
        checkpoint_every_sec=args.checkpoint_every_sec, keep_checkpoints=args.keep_checkpoints,
        eval_every_steps=args.eval_every_steps, eval_max_batches=args.eval_max_batches,
        log_every_steps=args.log_every_steps, checkpoint=args.checkpoint,
        num_threads=args.num_threads, progress_bar=not args.no_progress_bar, precision=args.precision,
        warm_start=args.warm_start,
    )
    callback = _progress_lines() if args.progress_lines else None
    try:
        result = run_training(options, callback)
    except (ConfigError, CheckpointError, TrainingError) as e:
        return _fail(str(e), args.progress_lines)
    except OSError as e:  # disk full or a read-only folder while writing metrics / progress
        where = e.filename or args.run_dir
        return _fail(f"cannot write {where}: {e.strerror or e}", args.progress_lines)
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun only rank 0 reports
    if result.state == "evaluated":
        print(f"validation metrics of {result.checkpoint} (step {result.step}):")
        for k, v in result.metrics.items():
            print(f"  {k:<16} {v:.4f}")
    elif result.state == "stopped":
        print(f"stopped at step {result.step}; checkpoint {result.checkpoint}", file=sys.stderr)
    else:
        print(f"done at step {result.step}; checkpoint {result.checkpoint}", file=sys.stderr)
    return 0


def _fail(message: str, lines: bool) -> int:
    print(f"groovebridge train: {message}", file=sys.stderr)
    if lines:
        pg.write_line(pg.event(pg.ERROR, message=message))
    return 2


def _progress_lines() -> Callable[[dict[str, Any]], None]:
    """The trainer's events (the state progress.json holds) as protocol lines on stdout: every
    milestone, and training steps at most 10 per second."""
    throttle = pg.Throttle(0.1)

    def emit(state: dict[str, Any]) -> None:
        done, total = pg.done_total(state) or (0, 1)
        if state.get("event") != "step" or throttle.ready(done, total):
            pg.write_line(state)

    return emit


if __name__ == "__main__":
    sys.exit(main())
