"""GrooVAE loss (reference section 2.2) and its logged parts.

Per step: hits BCE with Magenta's +1e-7 epsilons, squared errors of sigmoid velocities and tanh
offsets, all summed over the 9 classes and NOT masked by hits. r = sum over steps; KL against
N(0, I) with free bits on the per-example total; loss = mean(r) + beta * mean(max(KL - fb, 0)).
The config's ``*_loss_weight`` fields (1.0 = Magenta) weight the three terms inside the optimised
loss only; the logged r_loss is always Magenta's unweighted sum.
"""

from __future__ import annotations

import math

import torch

from models.drum_maps import NUM_CLASSES
from models.net.config import GrooVAEConfig

K = NUM_CLASSES
LOG2 = math.log(2.0)
PART_NAMES = (
    "loss",
    "r_loss",
    "kl_loss",
    "kl_bits",
    "kl_beta",
    "hits_loss",
    "velocities_loss",
    "offsets_loss",
)


def beta_at(config: GrooVAEConfig, step: int) -> float:
    """(1 - beta_rate^step) * max_beta; with beta_rate 0 this is 0 at step 0, then max_beta."""
    return (1.0 - config.beta_rate**step) * config.max_beta


def groovae_loss(
    config: GrooVAEConfig,
    logits: torch.Tensor,  # (B, T, 27)
    target: torch.Tensor,  # (B, T, 27)
    mu: torch.Tensor,  # (B, Z)
    sigma: torch.Tensor,  # (B, Z)
    step: int,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(scalar loss, detached parts named as Magenta logs them, without the prefixes)."""
    h_logit, v_logit, o_logit = logits[..., :K], logits[..., K : 2 * K], logits[..., 2 * K :]
    h, v, o = target[..., :K], target[..., K : 2 * K], target[..., 2 * K :]
    p = torch.sigmoid(h_logit)
    hits = (-h * torch.log(p + 1e-7) - (1.0 - h) * torch.log(1.0 - p + 1e-7)).sum(-1)  # (B, T)
    vels = ((torch.sigmoid(v_logit) - v) ** 2).sum(-1)
    offs = ((torch.tanh(o_logit) - o) ** 2).sum(-1)
    r = (hits + vels + offs).sum(-1)  # (B,) Magenta's r_loss, logged
    r_opt = (  # optimised; equal to r bit for bit with the default weights of 1.0
        config.hits_loss_weight * hits + config.velocity_loss_weight * vels + config.offset_loss_weight * offs
    ).sum(-1)
    kl = (0.5 * (mu**2 + sigma**2) - torch.log(sigma) - 0.5).sum(-1)  # (B,) nats
    kl_cost = torch.clamp(kl - config.free_bits * LOG2, min=0.0)
    beta = beta_at(config, step)
    r_loss, kl_loss = r.mean(), kl_cost.mean()
    loss = r_opt.mean() + beta * kl_loss
    parts = {
        "loss": loss.detach(),
        "r_loss": r_loss.detach(),
        "kl_loss": kl_loss.detach(),
        "kl_bits": (kl.mean() / LOG2).detach(),
        "kl_beta": torch.tensor(beta),
        "hits_loss": hits.mean().detach(),
        "velocities_loss": vels.mean().detach(),
        "offsets_loss": offs.mean().detach(),
    }
    return loss, parts
