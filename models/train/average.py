"""Checkpoint averaging: the mean of the weights of several checkpoints of one run.

Late in a run Adam's steps make the weights wander around a minimum; the mean of the last
checkpoints sits nearer its centre and usually scores better on held-out data than any one of
them (Polyak averaging, as tensor2tensor's ``avg_checkpoints`` does it). The checkpoints must
share one config (the same run, or warm-started runs of the same architecture); the result is
an ordinary checkpoint directory (no optimizer state), loadable and shippable like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from models.net.config import AUGMENT_HPARAMS, GrooVAEConfig
from models.net.vae import GrooVAE
from models.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.train.run_folder import list_checkpoints

# Training-only fields (optimisation, loss, augmentation): checkpoints that differ only in these
# (one run whose hparams changed on resume, warm-started runs) hold the same network.
_TRAINING_FIELDS = (
    "learning_rate", "decay_rate", "min_learning_rate", "batch_size", "grad_clip", "grad_norm_clip_to_zero",
    "dropout_keep_prob", "decoder_input_dropout", "free_bits", "max_beta", "beta_rate",
    "hits_loss_weight", "velocity_loss_weight", "offset_loss_weight", *AUGMENT_HPARAMS,
)


def checkpoint_step(ckpt: Path) -> int:
    """The step in a checkpoint directory's name (``ckpt-00012500`` -> 12500), -1 if none."""
    digits = ckpt.name.rpartition("-")[2]
    return int(digits) if digits.isdigit() else -1


def run_checkpoints(run_dir: str | Path, from_step: int = 0, to_step: int | None = None) -> list[Path]:
    """The complete checkpoints of ``run_dir`` with from_step <= step <= to_step, oldest first."""
    found = [
        p for p in list_checkpoints(run_dir)
        if checkpoint_step(p) >= from_step and (to_step is None or checkpoint_step(p) <= to_step)
    ]
    if not found:
        span = f"steps {from_step}..{'end' if to_step is None else to_step}"
        raise CheckpointError(f"no checkpoints in {run_dir} for {span}")
    return found


def _architecture(config: GrooVAEConfig) -> dict[str, Any]:
    d = config.to_dict()
    for k in ("name", "description", *_TRAINING_FIELDS):
        d.pop(k, None)
    return d


def average_models(paths: list[Path]) -> tuple[GrooVAE, GrooVAEConfig, dict[str, Any]]:
    """(model holding the mean of the checkpoints' weights, config, state to save with it).

    Each checkpoint is loaded with every check of ``load_checkpoint`` first; a checkpoint with
    another network (not only other training hparams) is refused with one line. The average
    keeps the newest checkpoint's config. The sum runs in float64, so the order of the
    checkpoints does not change the result beyond float32 rounding."""
    if not paths:
        raise CheckpointError("nothing to average: no checkpoints given")
    first, config, meta = load_checkpoint(paths[0])
    total = {k: v.double().clone() for k, v in first.state_dict().items()}
    steps = [meta.get("step")]
    for p in paths[1:]:
        net, cfg, meta = load_checkpoint(p)
        a, b = _architecture(config), _architecture(cfg)
        if a != b:
            keys = ", ".join(sorted(k for k in a if a[k] != b.get(k)))
            raise CheckpointError(f"{p}: another network than {paths[0]} ({keys}); cannot average")
        for k, v in net.state_dict().items():
            total[k] += v.double()
        steps.append(meta.get("step"))
        config = cfg
    model = GrooVAE(config)
    model.load_state_dict({k: (v / len(paths)).to(torch.float32) for k, v in total.items()})
    model.eval()
    state: dict[str, Any] = {k: meta[k] for k in ("step", "seed", "num_train") if k in meta}  # the newest's
    state["step"] = steps[-1] if isinstance(steps[-1], int) else 0
    state.update(averaged_steps=steps, averaged_from=sorted({str(Path(p).parent) for p in paths}))
    return model, config, state


def average_checkpoints(
    paths: list[Path],
    output_dir: str | Path,
    annotate: Callable[[GrooVAE, GrooVAEConfig, int], dict[str, Any]] | None = None,
) -> Path:
    """Write the mean of the checkpoints' weights (``average_models``) to ``output_dir``.

    ``annotate(model, config, step)`` may add fields to the saved state (e.g. its validation
    loss); it runs before anything is written."""
    out = Path(output_dir)
    if any(Path(p).resolve() == out.resolve() for p in paths):
        raise CheckpointError(f"the output {out} is one of the checkpoints to average")
    model, config, state = average_models(paths)
    step = state.pop("step")
    if annotate is not None:
        state.update(annotate(model, config, step))
    return save_checkpoint(out, model.cpu(), config, step=step, extra=state)
