"""Training augmentation: plausible variants, pure function of the step's generator, off by default."""

from __future__ import annotations

import pytest
import torch

from models.net.config import ConfigError, apply_hparams, get_config
from models.train.augment import HIHAT, RIDE, augment_batch

K = 9


def _batch(b: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    hits = (torch.rand(b, 64, K, generator=g) < 0.3).float()
    vel = (0.2 + 0.6 * torch.rand(b, 64, K, generator=g)) * hits
    off = (torch.rand(b, 64, K, generator=g) * 1.6 - 0.8) * hits
    return torch.cat([hits, vel, off], -1)


def test_off_by_default_returns_the_batch_untouched() -> None:
    x = _batch()
    assert augment_batch(get_config("groovae_4bar"), x, torch.Generator().manual_seed(1)) is x


def test_each_augmentation_is_a_plausible_variant_and_reproducible() -> None:
    cfg = apply_hparams(get_config("groovae_tiny"),
                        "augment_velocity_gain=0.2,augment_timing_shift=0.1,augment_hihat_ride_swap=0.5")
    x = _batch()
    y = augment_batch(cfg, x, torch.Generator().manual_seed(7))
    y2 = augment_batch(cfg, x, torch.Generator().manual_seed(7))
    assert torch.equal(y, y2)
    hx, hy = x[..., :K] > 0.5, y[..., :K] > 0.5
    swapped = ~torch.equal(hx[..., HIHAT], hy[..., HIHAT])
    per_window_swap = (hx[..., HIHAT] != hy[..., HIHAT]).any(-1)
    assert swapped and 0.2 < per_window_swap.float().mean() < 0.8
    perm = list(range(K))
    perm[HIHAT], perm[RIDE] = RIDE, HIHAT
    for i in range(len(x)):  # the same hits, maybe with the two columns traded
        assert torch.equal(hy[i], hx[i][..., perm] if per_window_swap[i] else hx[i])
    assert ((y[..., K : 2 * K] > 0) == hy).all() and ((y[..., 2 * K :] != 0) <= hy).all()
    # one gain and one shift per window
    vx, vy = x[..., K : 2 * K][hx], y[..., K : 2 * K][hy]
    assert vy.min() >= 0 and vy.max() <= 1
    ratio = (y[0, ..., K : 2 * K].sum() / x[0, ..., K : 2 * K].sum()).item()
    assert 0.8 <= ratio <= 1.2 and abs(vx.mean() - vy.mean()) < 0.1
    d = (y[3, ..., 2 * K :] - x[3, ..., 2 * K :][..., perm if per_window_swap[3] else list(range(K))])
    d = d[hy[3]]
    assert d.abs().max() <= 0.1 + 1e-6 and (d.max() - d.min()) < 1e-5


def test_bad_augmentation_values_are_refused() -> None:
    with pytest.raises(ConfigError, match="augment_timing_shift"):
        apply_hparams(get_config("groovae_tiny"), "augment_timing_shift=2")


def test_bar_shuffle_rearranges_whole_bars_of_some_windows() -> None:
    cfg = apply_hparams(get_config("groovae_tiny"), "augment_bar_shuffle=0.5")
    x = _batch()
    y = augment_batch(cfg, x, torch.Generator().manual_seed(3))
    assert torch.equal(y, augment_batch(cfg, x, torch.Generator().manual_seed(3)))
    bars = cfg.num_bars
    shuffled = 0
    for i in range(len(x)):
        xb, yb = x[i].reshape(bars, 16, -1), y[i].reshape(bars, 16, -1)
        # every bar of the variant is one of the window's bars, each used once
        order = [next(j for j in range(bars) if torch.equal(yb[k], xb[j])) for k in range(bars)]
        assert sorted(order) == list(range(bars))
        shuffled += order != list(range(bars))
    # p = 0.5 of 64 windows chosen; a chosen window keeps its order with probability 1/bars!
    assert 16 <= shuffled <= 40
