"""`groovebridge average`: the mean of a run's last checkpoints, as a new checkpoint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.cli.common import check_checkpoint_output, check_device, make_parser


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(
        "groovebridge average",
        "Average the weights of checkpoints (the last ones of a run, or a list) into "
        "a new checkpoint directory. Train with --keep_checkpoints large enough to keep the steps "
        "you want to average.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run_dir", help="a training run: its checkpoints from --from_step to --to_step")
    src.add_argument("--checkpoints", help="comma-separated checkpoint directories")
    p.add_argument("--from_step", type=int, default=0, help="with --run_dir: first step to include")
    p.add_argument("--to_step", type=int, default=None, help="with --run_dir: last step to include")
    p.add_argument("--output_dir", required=True, help="the averaged checkpoint directory to write (new, or a checkpoint to replace)")
    p.add_argument("--examples_path", default="",
                   help="a dataset: also report the validation loss of the average and of the newest "
                   "checkpoint (the loss training logs), and store it with the average")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps (for --examples_path)")
    return p


def _validation_losses(models: list, config, examples_path: str, step: int, device: str) -> list[float]:
    """The loss training logs for validation (z drawn with seed 0), for each model."""
    import torch

    from models.train.loop import evaluate
    from models.train.trainer import load_split

    val = load_split(examples_path, "validation", config)
    return [evaluate(m.to(device), config, val, step, torch.device(device))["loss"] for m in models]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from models.train.average import average_checkpoints, run_checkpoints
    from models.train.checkpoint import CheckpointError, load_checkpoint
    from models.train.loop import TrainingError

    losses: list[float] = []  # (mean, newest alone), filled by annotate

    def annotate(model, config, step: int) -> dict:
        if not args.examples_path:
            return {}
        newest = load_checkpoint(paths[-1])[0]
        losses.extend(_validation_losses([model, newest], config, args.examples_path, step, args.device))
        return {"val_loss": losses[0]}

    try:
        args.device = check_device(args.device)
        check_checkpoint_output(args.output_dir)
        if args.run_dir:
            paths = run_checkpoints(args.run_dir, args.from_step, args.to_step)
        else:
            paths = [Path(s.strip()) for s in args.checkpoints.split(",") if s.strip()]
        out = average_checkpoints(paths, args.output_dir, annotate)
    except (CheckpointError, TrainingError, OSError, ValueError, RuntimeError) as e:
        print(f"groovebridge average: {e}", file=sys.stderr)
        return 2
    report = f"; validation loss {losses[0]:.2f} (newest checkpoint alone: {losses[1]:.2f})" if losses else ""
    print(f"averaged {len(paths)} checkpoints ({paths[0].name} .. {paths[-1].name}) -> {out}{report}")
    return 0
