"""`groovebridge fit-prior`: fit a model's sampling prior and attribute directions.

The prior (``models.net.prior``) is written beside the model's weights (``prior.safetensors`` +
``prior.json``); from then on ``sample`` in the API, CLI, engine, app and OSC draws from it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.cli.common import make_parser


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(
        "groovebridge fit-prior",
        "Fit a sampling prior (a Gaussian mixture over the training windows' encodings) "
        "and the musical attribute directions for a model, and store them beside its weights.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint_file", help="a checkpoint directory or model.safetensors")
    src.add_argument("--run_dir", help="a training run (its latest checkpoint)")
    src.add_argument("model", nargs="?", help="a shipped (default, humanize, drumify) or imported model name (default: default)")
    p.add_argument("--examples_path", required=True, help="dataset made by `groovebridge preprocess`")
    p.add_argument("--components", default="1024",
                   help="mixture size; a comma list fits each and keeps the best on the validation split")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--num_threads", type=int, default=0, help="torch CPU threads (0 = default)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from models.data.io import DatasetError, load_windows
    from models.generate import load_model, resolve_model_path
    from models.net.prior import PriorError, weights_fingerprint
    from models.train.checkpoint import CheckpointError, resolve_checkpoint
    from models.train.prior_fit import fit_prior

    def fail(msg: object) -> int:
        print(f"groovebridge fit-prior: {msg}", file=sys.stderr)
        return 2

    try:
        components = [int(c) for c in args.components.split(",") if c.strip()]
    except ValueError:
        return fail(f"--components {args.components!r}: give whole numbers, e.g. 256,1024")
    if not components or min(components) < 1:
        return fail("--components needs at least one size >= 1")
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    try:
        source: str | Path = args.checkpoint_file or args.run_dir or args.model or "default"
        path, _ = resolve_model_path(source)
        ckpt = resolve_checkpoint(path)
        model = load_model(ckpt)
        nb = model.config.num_bars
        train = load_windows(args.examples_path, "train", num_bars=nb).tensors
        try:
            val = load_windows(args.examples_path, "validation", num_bars=nb).tensors
        except DatasetError:
            val = None
    except (CheckpointError, DatasetError, OSError, ValueError) as e:
        return fail(e)
    if len(train) < 2:
        return fail(f"{args.examples_path}: the train split has {len(train)} window(s); a prior needs more")
    try:
        prior, _ = fit_prior(model, train, val, components, args.seed, log=print)
        prior.fingerprint = weights_fingerprint(ckpt)
        out = prior.save(ckpt)
    except (PriorError, OSError, ValueError) as e:
        return fail(e)
    print(f"wrote {out} ({prior.num_components} components, {prior.info['seconds']} s)")
    return 0
