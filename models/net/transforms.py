"""Encoder-input transforms of the GrooVAE siblings (reference section 1.6).

The decoder target is always the untouched performance; only the encoder sees the transformed
copy. Order: note dropout, tapify, humanize, fixed velocities, add_instruments; hits-as-controls
gives a separate (B, T, 9) control tensor (the target hits).

Note dropout is random: Magenta draws it once when converting (then caches the dataset); here
it is drawn fresh per batch during training and skipped at inference (``training=False``), so
encoding is deterministic.
"""

from __future__ import annotations

import torch

from models.drum_maps import NUM_CLASSES
from models.net.config import GrooVAEConfig

K = NUM_CLASSES
TAP_CLASS = 3  # open hi-hat carries the tapped voice


def encoder_inputs(
    config: GrooVAEConfig,
    target: torch.Tensor,  # (B, T, 27)
    training: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(encoder input (B, T, 27 + controls), controls (B, T, 9) or None) for ``target``."""
    hits, vel, off = target[..., :K], target[..., K : 2 * K], target[..., 2 * K :]
    in_hits, in_vel, in_off = hits, vel, off
    if training and config.max_note_dropout_probability > 0:
        b = target.shape[0]
        p = torch.rand(b, 1, 1, generator=generator, device=target.device)
        p = p * config.max_note_dropout_probability
        drop_prob = torch.clamp(1.0 - vel, min=0.2) * p
        keep = (torch.rand(vel.shape, generator=generator, device=target.device) >= drop_prob)
        keep = keep.to(target.dtype)
        in_hits, in_vel, in_off = in_hits * keep, in_vel * keep, in_off * keep
    if config.tapify:
        # Loudest remaining class per step (0 when nothing is left); its ORIGINAL values move
        # to the open hi-hat column and everything else is cleared.
        a = torch.argmax(in_vel, dim=-1, keepdim=True)  # (B, T, 1)
        one_hot = torch.zeros_like(hits).scatter_(-1, torch.full_like(a, TAP_CLASS), 1.0)
        in_hits = torch.gather(hits, -1, a) * one_hot
        in_vel = torch.gather(vel, -1, a) * one_hot
        in_off = torch.gather(off, -1, a) * one_hot
    if config.humanize:
        in_vel = torch.zeros_like(in_vel)
        in_off = torch.zeros_like(in_off)
    if config.fixed_velocities:
        in_vel = torch.zeros_like(in_vel)
    if config.add_instruments:
        mask = torch.ones(K, dtype=target.dtype, device=target.device)
        mask[list(config.add_instruments)] = 0.0
        in_hits, in_vel, in_off = in_hits * mask, in_vel * mask, in_off * mask
    inputs = torch.cat([in_hits, in_vel, in_off], dim=-1)
    controls = None
    if config.hits_as_controls:
        controls = (hits > 0.5).to(target.dtype)
        inputs = torch.cat([inputs, controls], dim=-1)
    return inputs, controls
