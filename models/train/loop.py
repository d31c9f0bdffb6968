"""Training building blocks: data order, learning-rate schedule, clipping, one step, evaluation.

Everything random is a pure function of (seed, step, rank) or (seed, epoch): the batch order
is a permutation drawn from (seed, epoch) and the dropout/epsilon noise of a step from
(seed, step, rank), so a resumed run sees exactly the data and noise it would have seen
without the interruption.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.net.config import GrooVAEConfig
from models.net.losses import PART_NAMES, groovae_loss
from models.net.vae import GrooVAE
from models.train.augment import augment_batch


class TrainingError(RuntimeError):
    """A user-level problem with the training setup (one-line message)."""


@dataclass
class BatchOrder:
    """Which examples form the local batch of a given global step (drop-remainder epochs)."""

    num_examples: int
    batch_size: int  # global batch
    seed: int
    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if self.batch_size % self.world_size:
            raise TrainingError(
                f"batch_size {self.batch_size} is not divisible by {self.world_size} processes"
            )
        if self.num_examples < self.batch_size:
            raise TrainingError(
                f"only {self.num_examples} training windows, fewer than batch_size "
                f"{self.batch_size}; use --hparams=batch_size=N with a smaller N"
            )
        self._epoch = -1
        self._perm = np.arange(0)

    @property
    def batches_per_epoch(self) -> int:
        return self.num_examples // self.batch_size

    def permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)
            self._epoch = epoch
        return self._perm

    def indices(self, step: int) -> np.ndarray:
        epoch, i = divmod(step, self.batches_per_epoch)
        glob = self.permutation(epoch)[i * self.batch_size : (i + 1) * self.batch_size]
        local = self.batch_size // self.world_size
        return np.sort(glob[self.rank * local : (self.rank + 1) * local])


def learning_rate_at(config: GrooVAEConfig, step: int) -> float:
    """(lr - min_lr) * decay_rate^step + min_lr (Magenta's exponential decay)."""
    return (config.learning_rate - config.min_learning_rate) * config.decay_rate**step + config.min_learning_rate


def step_generator(seed: int, step: int, rank: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed((seed * 1_000_003 + step * 1009 + rank) % (2**63))
    return g


def clip_gradients_(params: list[torch.nn.Parameter], config: GrooVAEConfig) -> float:
    """Global-norm clip to ``grad_clip``; above ``grad_norm_clip_to_zero`` (or non-finite) the
    gradients are zeroed, so the update is skipped as in Magenta. Returns the global norm."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norm = float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
    if not (norm < config.grad_norm_clip_to_zero):  # also catches nan / inf
        for g in grads:
            g.zero_()
        return norm
    scale = config.grad_clip / max(norm, config.grad_clip)
    if scale < 1.0:
        torch._foreach_mul_(grads, scale)
    return norm


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    config: GrooVAEConfig,
    batch: torch.Tensor,  # (B, T, 27)
    step: int,
    generator: torch.Generator,
    precision: str = "fp32",
) -> dict[str, float]:
    """One update at global step ``step`` (the count of updates done before it).

    ``precision="bf16"`` runs the forward pass under bfloat16 autocast (weights, optimizer and
    loss stay fp32): faster on CPUs with AMX/AVX512-BF16 and on GPUs, not Magenta-exact."""
    lr = learning_rate_at(config, step)
    for group in optimizer.param_groups:
        group["lr"] = lr
    model.train()
    batch = augment_batch(config, batch, generator)
    with torch.autocast(batch.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = model(batch, generator)
    loss, parts = groovae_loss(
        config, out.logits.float(), batch, out.mu.float(), out.sigma.float(), step
    )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for g in optimizer.param_groups for p in g["params"]]
    norm = clip_gradients_(params, config)
    optimizer.step()
    result = {k: float(v) for k, v in parts.items()}
    result["grad_norm"] = norm
    result["learning_rate"] = lr
    return result


@torch.no_grad()
def evaluate(
    model: GrooVAE,
    config: GrooVAEConfig,
    tensors: np.ndarray,  # (N, T, 27)
    step: int,
    device: torch.device,
    batch_size: int = 256,
    max_batches: int = 0,
    seed: int = 0,
) -> dict[str, float]:
    """Mean loss parts over ``tensors`` (no dropout; z sampled with a fixed seed)."""
    was_training = model.training
    model.eval()
    g = step_generator(seed, 0, 0, device)
    sums = dict.fromkeys(PART_NAMES, 0.0)
    count = 0
    for bi, start in enumerate(range(0, len(tensors), batch_size)):
        if max_batches and bi >= max_batches:
            break
        x = torch.from_numpy(np.ascontiguousarray(tensors[start : start + batch_size])).to(device)
        out = model(x, g)
        _, parts = groovae_loss(config, out.logits, x, out.mu, out.sigma, step)
        n = x.shape[0]
        for k in PART_NAMES:
            sums[k] += float(parts[k]) * n
        count += n
    model.train(was_training)
    if count == 0:
        raise TrainingError("the validation split has no windows")
    return {k: v / count for k, v in sums.items()}


_BF16_OK: dict[str, bool] = {}


def bf16_lstm_supported(device: torch.device) -> bool:
    """Whether an LSTM runs under bfloat16 autocast on ``device`` (oneDNN refuses it on CPUs
    without AVX-512 BF16 / AMX); probed once per device type with a tiny layer."""
    key = str(device)
    if key not in _BF16_OK:
        try:
            lstm = torch.nn.LSTM(4, 4).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16):
                lstm(torch.zeros(2, 1, 4, device=device))
            _BF16_OK[key] = True
        except RuntimeError:
            _BF16_OK[key] = False
    return _BF16_OK[key]
