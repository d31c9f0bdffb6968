"""Training-data augmentation for GrooVAE: musically plausible variants of each window.

The Groove MIDI Dataset is small (15,692 overlapping 4-bar training windows) and a full
``groovae_4bar`` memorises it within a few thousand steps. Each option below makes a variant a
drummer could have played, drawn fresh per window and per step (all off by default, as in
Magenta):

* ``augment_velocity_gain`` g: every velocity of the window times one factor from U(1-g, 1+g)
  (the same groove played softer or harder), clipped to [0, 1].
* ``augment_timing_shift`` s: one constant from U(-s, s) added to every hit's offset (the same
  groove pushed or laid back; offsets in tensor units, 1 = half a 16th), clipped to [-1, 1].
* ``augment_hihat_ride_swap`` p: with probability p the closed hi-hat and ride columns trade
  places (the same groove on the ride).
* ``augment_bar_shuffle`` p: with probability p the window's bars are played in a random
  order (the drummer's own bars, arranged differently: a fill may move to another bar). An
  autoencoder then meets many more bar combinations than the data's 15.7k windows hold.

Random numbers come from the step's generator, so a resumed run sees the same variants.
"""

from __future__ import annotations

import torch

from models.drum_maps import CLASS_NAMES, NUM_CLASSES
from models.net.config import AUGMENT_HPARAMS, STEPS_PER_BAR, GrooVAEConfig

K = NUM_CLASSES
HIHAT, RIDE = CLASS_NAMES.index("closed_hihat"), CLASS_NAMES.index("ride")


def augmentation_enabled(config: GrooVAEConfig) -> bool:
    return any(getattr(config, key) for key in AUGMENT_HPARAMS)


def augment_batch(
    config: GrooVAEConfig, batch: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """A new (B, T, 27) tensor with the config's augmentations applied per window."""
    if not augmentation_enabled(config):
        return batch
    b = batch.shape[0]
    hits, vel, off = batch[..., :K], batch[..., K : 2 * K], batch[..., 2 * K :]
    on = (hits > 0.5).to(batch.dtype)

    def uniform(shape: tuple[int, ...]) -> torch.Tensor:
        return torch.rand(shape, generator=generator, device=batch.device, dtype=batch.dtype)

    if config.augment_velocity_gain:
        g = config.augment_velocity_gain
        gain = 1.0 + (2.0 * uniform((b, 1, 1)) - 1.0) * g
        vel = torch.clamp(vel * gain, 0.0, 1.0)
    if config.augment_timing_shift:
        s = config.augment_timing_shift
        shift = (2.0 * uniform((b, 1, 1)) - 1.0) * s
        off = torch.clamp(off + shift * on, -1.0, 1.0)
    out = torch.cat([hits, vel, off], dim=-1)
    if config.augment_hihat_ride_swap:
        swap = uniform((b,)) < config.augment_hihat_ride_swap
        if bool(swap.any()):
            perm = torch.arange(3 * K, device=batch.device)
            for base in (0, K, 2 * K):
                perm[base + HIHAT], perm[base + RIDE] = base + RIDE, base + HIHAT
            out = torch.where(swap[:, None, None], out[..., perm], out)
    if config.augment_bar_shuffle:
        out = _shuffle_bars(out, uniform((b,)) < config.augment_bar_shuffle, uniform((b, config.num_bars)))
    return out


def _shuffle_bars(out: torch.Tensor, chosen: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """The bars of the ``chosen`` windows in the order that sorting ``keys`` (B, bars) gives."""
    b, t, d = out.shape
    bars = keys.shape[1]
    order = torch.argsort(keys, dim=1)
    order = torch.where(chosen[:, None], order, torch.arange(bars, device=out.device))
    steps = (order[:, :, None] * STEPS_PER_BAR + torch.arange(STEPS_PER_BAR, device=out.device)).reshape(b, t)
    return torch.gather(out, 1, steps[:, :, None].expand(b, t, d))
