"""`groovebridge evaluate`: reconstruction and realism of a model on a dataset split."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from models.cli.common import check_device, check_output_file, make_parser
from models.data.io import DatasetError, load_windows
from models.train.checkpoint import CheckpointError


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(
        "groovebridge evaluate",
        "Evaluate a model: reconstruction (hit F1, velocity/timing error) and sample "
        "realism (Yang & Lerch overlap), with baselines. No checkpoint flag = the shipped default.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint_file", help="a checkpoint directory or model.safetensors")
    src.add_argument("--run_dir", help="a training run (its best checkpoint)")
    src.add_argument("--model", help="a shipped model name (default, humanize, drumify) or an imported one; default: default")
    p.add_argument("--examples_path", required=True, help="dataset made by `groovebridge preprocess`")
    p.add_argument("--split", default="test", choices=("train", "validation", "test"), help="split to reconstruct")
    p.add_argument("--temperature", type=float, default=1.0, help="for the realism samples")
    p.add_argument("--num_samples", type=int, default=1000, help="realism set size")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--output_json", help="write the full report here")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    p.add_argument("--raw_outputs", action="store_true",
                   help="evaluate the network's raw velocities/offsets (Magenta's decoding)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from models.evaluate import EvaluationOptions, evaluate, format_report
    from models.generate import load_model
    from models.train.checkpoint import resolve_checkpoint

    try:
        args.device = check_device(args.device)
        if args.output_json:
            check_output_file(args.output_json, "--output_json")
        if args.temperature < 0:
            raise ValueError(f"--temperature {args.temperature:g}: give a number >= 0")
        if args.run_dir:
            source: str | Path = resolve_checkpoint(args.run_dir, prefer="best")
        else:
            source = args.checkpoint_file or args.model or "default"
        model = load_model(source, device=args.device, raw_outputs=args.raw_outputs)
        num_bars = model.config.num_bars
        windows = load_windows(args.examples_path, args.split, num_bars=num_bars)
        train = load_windows(args.examples_path, "train", num_bars=num_bars)
    except (CheckpointError, DatasetError, OSError, ValueError, RuntimeError) as e:
        print(f"groovebridge evaluate: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.perf_counter()
    try:
        report = evaluate(
            model, windows, train,
            EvaluationOptions(args.temperature, args.num_samples, args.seed),
        )
    except ValueError as e:
        print(f"groovebridge evaluate: {e}", file=sys.stderr)
        return 2
    report["seconds"] = round(time.perf_counter() - t0, 2)
    print(format_report(report))
    print(f"\n({report['seconds']} s)")
    if args.output_json:
        try:
            Path(args.output_json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as e:
            print(f"groovebridge evaluate: cannot write {args.output_json}: {e.strerror or e}", file=sys.stderr)
            return 1
    return 0
