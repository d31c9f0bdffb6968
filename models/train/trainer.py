"""Train or evaluate a GrooVAE in a run directory: resume, checkpoints, progress, DDP.

``run_training(options, progress_callback)`` is the entry point for the CLI and for the GUI
(which runs it in a child process). The run directory is the interface to other processes:

* ``checkpoints/ckpt-<step>/`` + ``latest`` / ``best`` pointers (see ``models.train.checkpoint``)
* ``metrics.csv``  one row per logged step (train) or validation (split column)
* ``progress.json`` rewritten atomically: state (running|done|stopped|error), step,
  num_steps, examples_per_sec, eta_sec and the latest loss parts
* ``eval_metrics.csv`` from ``mode="eval"``

A run resumes from its latest checkpoint with the same step count and data order. SIGINT /
SIGTERM stop after the current step with a checkpoint. Under ``torchrun`` (WORLD_SIZE > 1)
it trains data-parallel (gloo on CPU, nccl on CUDA); rank 0 writes the run directory.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from models.net.config import AUGMENT_HPARAMS, GrooVAEConfig, apply_hparams, get_config
from models.net.vae import GrooVAE
from models.train import checkpoint as ckpt
from models.train import run_folder
from models.train.loop import (
    BatchOrder,
    TrainingError,
    bf16_lstm_supported,
    evaluate,
    step_generator,
    train_step,
)
from models.train.report import ProgressReporter, write_eval_csv

ProgressCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrainOptions:
    config: str = "groovae_4bar"
    run_dir: str = ""
    examples_path: str = ""
    hparams: str = ""
    num_steps: int = 200_000  # total updates (Magenta's default)
    mode: str = "train"  # train | eval
    device: str = "auto"  # auto | cpu | cuda | mps
    seed: int = 0
    checkpoint_every_steps: int = 1000
    checkpoint_every_sec: float = 60.0
    keep_checkpoints: int = 5
    eval_every_steps: int = 500  # 0 = never during training
    eval_max_batches: int = 20  # 0 = the whole validation split
    log_every_steps: int = 10
    checkpoint: str = ""  # eval mode: checkpoint to evaluate (default: latest in run_dir)
    num_threads: int = 0  # torch CPU threads, 0 = torch's default
    progress_bar: bool = True
    precision: str = "fp32"  # fp32 (as Magenta) | bf16 (autocast forward, faster on AMX CPUs / GPUs)
    warm_start: str = ""  # a new run starts from these weights: shipped name, checkpoint or run dir


@dataclass(frozen=True)
class TrainResult:
    state: str  # done | stopped | evaluated
    step: int
    metrics: dict[str, float]
    checkpoint: str
    model: GrooVAE | None = field(default=None, repr=False, compare=False)  # final weights


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError("--device cuda: no CUDA GPU is available")
        return torch.device("cuda", local_rank)
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise TrainingError("--device mps: MPS is not available")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise TrainingError(f"unknown device {name!r}; use auto, cpu, cuda or mps")


def load_split(examples_path: str, split: str, config: GrooVAEConfig) -> np.ndarray:
    """(N, T, 27) float32 windows of ``split`` from a dataset made by ``groovebridge preprocess``."""
    if not examples_path:
        raise TrainingError("--examples_path is required (a dataset from `groovebridge preprocess`)")
    if not Path(examples_path).exists():
        raise TrainingError(f"dataset not found: {examples_path}")
    from models.data import dataset
    try:
        windows = dataset.load_windows(examples_path, split, num_bars=config.num_bars)
    except (ValueError, OSError, KeyError) as e:
        raise TrainingError(f"cannot load split {split!r} of {examples_path}: {e}") from None
    tensors = np.ascontiguousarray(windows.tensors, dtype=np.float32)
    if tensors.ndim != 3 or tensors.shape[1:] != (config.num_steps, config.output_depth):
        raise TrainingError(
            f"{examples_path} {split}: windows of shape {tensors.shape[1:]}, "
            f"config {config.name} needs ({config.num_steps}, {config.output_depth})"
        )
    return tensors


# Optimisation-only hparams that may change when a run is resumed (shapes and data may not).
RESUMABLE_HPARAMS = frozenset({
    "description", "batch_size", "learning_rate", "decay_rate", "min_learning_rate", "grad_clip",
    "grad_norm_clip_to_zero", "free_bits", "max_beta", "beta_rate", "dropout_keep_prob",
    "hits_loss_weight", "velocity_loss_weight", "offset_loss_weight",
    "decoder_input_dropout", *AUGMENT_HPARAMS,
})


def resolve_config(options: TrainOptions) -> GrooVAEConfig:
    """The config of a new run, or of the run in ``run_dir`` (optimisation hparams may change).

    A new run warm-started from a model of the same config name starts from that model's
    hyper-parameters (fine-tuning continues its recipe), with ``--hparams`` on top. A resumed
    run keeps its saved hyper-parameters; ``--hparams`` changes only the ones it names."""
    base = get_config(options.config)
    found = run_folder.latest_checkpoint(options.run_dir) if options.run_dir else None
    if found is not None:
        saved = ckpt.load_config(found)
        if saved.name != base.name:
            raise TrainingError(f"{options.run_dir} holds a {saved.name} run, not {base.name}")
        config = apply_hparams(saved, options.hparams)
        fixed = sorted(
            f.name for f in dataclasses.fields(config)
            if getattr(config, f.name) != getattr(saved, f.name)
            and f.name not in RESUMABLE_HPARAMS
        )
        if fixed:
            raise TrainingError(
                f"{options.run_dir} was trained with other {', '.join(fixed)}; use a new --run_dir"
            )
        return config
    if options.warm_start:
        source = ckpt.load_config(warm_start_checkpoint(options.warm_start))
        if source.name == base.name:
            base = source
    return apply_hparams(base, options.hparams)


def warm_start_checkpoint(source: str) -> Path:
    """The checkpoint directory that ``--warm_start`` names (shipped name, checkpoint, run dir)."""
    from models.generate import resolve_model_path

    return ckpt.resolve_checkpoint(resolve_model_path(source)[0])


def warm_start_weights(source: str, config: GrooVAEConfig) -> dict[str, torch.Tensor]:
    """Weights of ``source`` (a shipped model name, checkpoint or run dir) for a new run of
    ``config``: fine-tuning the shipped model on one's own MIDI. Sizes must match; loss,
    transform and optimisation hparams may differ. A config that adds hits-as-controls columns
    gets them as zero input weights (the control columns come last in the encoder's and the
    decoder's inputs), so the new model starts out computing exactly what the source did. The
    step count and the optimizer start fresh."""
    loaded, saved, _ = ckpt.load_checkpoint(warm_start_checkpoint(source))
    shape_keys = ("z_size", "enc_rnn_size", "dec_rnn_size", "num_bars")
    diff = [k for k in shape_keys if getattr(saved, k) != getattr(config, k)]
    if saved.hits_as_controls and not config.hits_as_controls:
        diff.append("hits_as_controls")
    if diff:
        raise TrainingError(
            f"--warm_start {source}: its {', '.join(diff)} differ from config {config.name}"
        )
    with torch.device("meta"):
        wanted = GrooVAE(config).state_dict()
    out = {}
    for key, w in loaded.state_dict().items():
        shape = wanted[key].shape
        if w.shape != shape:  # input weights of a model that gains control columns
            w = torch.cat([w, w.new_zeros(shape[0], shape[1] - w.shape[1])], dim=1)
        out[key] = w
    return out


class _StopFlag:
    """Set by SIGINT/SIGTERM; the loop checks it between steps."""

    def __init__(self) -> None:
        self.signal = 0
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal:  # second Ctrl-C: give up at once
            raise KeyboardInterrupt
        self.signal = signum

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def run_training(
    options: TrainOptions, progress_callback: ProgressCallback | None = None
) -> TrainResult:
    """Train (or evaluate) as described in the module docstring."""
    if options.num_threads > 0:
        torch.set_num_threads(options.num_threads)
    if not options.run_dir:
        raise TrainingError("--run_dir is required")
    if options.mode == "eval":
        return run_eval(options, progress_callback)
    if options.mode != "train":
        raise TrainingError(f"unknown mode {options.mode!r}; use train or eval")
    if options.precision not in ("fp32", "bf16"):
        raise TrainingError(f"unknown precision {options.precision!r}; use fp32 or bf16")
    rank, world, local_rank = _dist_info()
    device = pick_device(options.device, local_rank)
    if options.precision == "bf16" and not bf16_lstm_supported(device):
        raise TrainingError(
            f"--precision bf16 is not supported on this {device.type} (no bfloat16 LSTM kernel: on a CPU "
            "it needs AVX-512 BF16 or AMX); use --precision fp32"
        )
    distributed = world > 1
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        return _train(options, progress_callback, device, rank, world, distributed)
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


def _train(
    options: TrainOptions,
    callback: ProgressCallback | None,
    device: torch.device,
    rank: int,
    world: int,
    distributed: bool,
) -> TrainResult:
    run_dir = Path(options.run_dir)
    config = resolve_config(options)
    train_x = load_split(options.examples_path, "train", config)
    val_x = load_split(options.examples_path, "validation", config) if options.eval_every_steps else None
    if val_x is not None and len(val_x) == 0:
        val_x = None
    order = BatchOrder(len(train_x), config.batch_size, options.seed, rank, world)
    torch.manual_seed(options.seed)
    model = GrooVAE(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, betas=(0.9, 0.999), eps=1e-8)
    step, best_val = 0, float("inf")
    latest = run_folder.latest_checkpoint(run_dir)
    if latest is None and options.warm_start:
        model.load_state_dict(warm_start_weights(options.warm_start, config))
    if latest is not None:
        loaded, _, meta = ckpt.load_checkpoint(latest, device)
        model.load_state_dict(loaded.state_dict())
        ckpt.load_optimizer_state(latest, optimizer)
        step = int(meta["step"])
        best_val = float(meta.get("best_val_loss") or float("inf"))
    train_model: torch.nn.Module = model
    if distributed:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    is_main = rank == 0
    reporter = ProgressReporter(
        run_dir, config, options.num_steps, step, callback if is_main else None,
        enabled=is_main, bar=options.progress_bar, log_every_steps=options.log_every_steps,
    )
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt.remove_stale_temporaries(run_dir)
        reporter.message(
            f"{config.name}: {len(train_x)} train windows, batch {config.batch_size}, "
            f"{world} process(es) on {device}, starting at step {step}"
        )
    stop = _StopFlag()
    stop.install()
    last_ckpt_time = time.monotonic()
    last_saved_step = step
    saved_path = str(latest or "")
    parts: dict[str, float] = {}

    def save(val_metrics: dict[str, float] | None = None) -> None:
        nonlocal last_ckpt_time, last_saved_step, saved_path, best_val
        if is_main:
            is_best = val_metrics is not None and val_metrics["loss"] < best_val
            if is_best:
                best_val = val_metrics["loss"]  # type: ignore[index]
            extra: dict[str, Any] = {
                "best_val_loss": best_val if best_val < float("inf") else None,
                "seed": options.seed, "num_train": len(train_x),
            }
            if val_metrics is not None:
                extra["val_loss"] = val_metrics["loss"]
            path = ckpt.save_checkpoint(
                run_dir / run_folder.CKPT_SUBDIR / run_folder.checkpoint_name(step),
                model, config, step, optimizer, extra,
            )
            ckpt.set_pointer(run_dir, "latest", path)
            if is_best:
                ckpt.set_pointer(run_dir, "best", path)
            ckpt.prune_checkpoints(run_dir, options.keep_checkpoints)
            saved_path = str(path)
            reporter.checkpoint(step, path)
        if distributed:
            dist.barrier()
        last_ckpt_time = time.monotonic()
        last_saved_step = step

    state = "done"
    try:
        while step < options.num_steps:
            idx = order.indices(step)
            batch = torch.from_numpy(train_x[idx]).to(device, non_blocking=True)
            gen = step_generator(options.seed, step, rank, device)
            parts = train_step(train_model, optimizer, config, batch, step, gen, options.precision)
            step += 1
            reporter.step(step, parts, len(idx) * world)
            due_ckpt = (
                step - last_saved_step >= options.checkpoint_every_steps
                or time.monotonic() - last_ckpt_time >= options.checkpoint_every_sec
            )
            flags = [float(stop.signal != 0), float(due_ckpt)]
            if distributed:
                t = torch.tensor(flags, device=device)
                dist.all_reduce(t, op=dist.ReduceOp.MAX)
                flags = t.tolist()
            if val_x is not None and step % options.eval_every_steps == 0:
                vm = evaluate(model, config, val_x, step, device, max_batches=options.eval_max_batches)
                reporter.validation(step, vm)
                save(vm)  # each validation gets a checkpoint, so "best" always exists
            elif flags[0] or flags[1]:
                save()
            if flags[0]:
                state = "stopped"
                break
        if step != last_saved_step or latest is None:
            save()
    except BaseException:
        reporter.finish("error", step)
        raise
    finally:
        stop.restore()
    reporter.finish(state, step)
    return TrainResult(state, step, parts, saved_path, model)


def run_eval(options: TrainOptions, callback: ProgressCallback | None) -> TrainResult:
    """Validation metrics of one checkpoint (``options.checkpoint`` or the run's latest)."""
    device = pick_device(options.device)
    source = options.checkpoint or options.run_dir
    model, config, meta = ckpt.load_checkpoint(source, device)
    if options.config and options.config != config.name and not options.checkpoint:
        raise TrainingError(f"{source} holds a {config.name} model, not {options.config}")
    val_x = load_split(options.examples_path, "validation", config)
    step = int(meta.get("step", 0))
    metrics = evaluate(model, config, val_x, step, device, max_batches=0, seed=options.seed)
    write_eval_csv(Path(options.run_dir), step, meta["path"], metrics)
    if callback is not None:
        callback({"event": "eval", "step": step, **metrics})
    return TrainResult("evaluated", step, metrics, meta["path"], model)
