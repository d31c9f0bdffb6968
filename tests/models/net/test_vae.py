"""GrooVAE network: shapes for every config, parameter contract, TF-like init, dropout,
encoder-input transforms (section 1.6) and the loss (section 2.2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.net.config import CONFIGS, apply_hparams, get_config
from models.net.losses import beta_at, groovae_loss
from models.net.transforms import encoder_inputs
from models.net.vae import GrooVAE, input_dropout

torch.set_num_threads(1)


def _batch(cfg, b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    hits = (torch.rand(b, cfg.num_steps, 9, generator=g) < 0.3).float()
    vel = torch.rand(b, cfg.num_steps, 9, generator=g) * hits
    off = (torch.rand(b, cfg.num_steps, 9, generator=g) * 2 - 1) * hits
    return torch.cat([hits, vel, off], -1)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_shapes_for_every_config(name: str) -> None:
    cfg = get_config(name)
    small = apply_hparams(cfg, "enc_rnn_size=[16],dec_rnn_size=[16,16],z_size=8") if cfg.z_size > 16 else cfg
    model = GrooVAE(small).train()
    x = _batch(small, 2)
    out = model(x, torch.Generator().manual_seed(1))
    assert out.logits.shape == (2, cfg.num_steps, 27)
    assert out.mu.shape == out.sigma.shape == out.z.shape == (2, small.z_size)
    assert bool((out.sigma > 0).all())
    loss, parts = groovae_loss(small, out.logits, x, out.mu, out.sigma, 1)
    loss.backward()
    assert math.isfinite(float(loss.detach())) and set(parts) >= {"r_loss", "kl_bits", "hits_loss"}


def test_parameter_names_and_magenta_shapes() -> None:
    sd = GrooVAE(get_config("groovae_4bar")).state_dict()
    expect = {
        "encoder.fw.weight_ih_l0": (2048, 27), "encoder.fw.weight_hh_l0": (2048, 512),
        "encoder.bw.weight_ih_l0": (2048, 27), "encoder.mu.weight": (256, 1024),
        "encoder.sigma.weight": (256, 1024), "decoder.z_to_initial_state.weight": (1024, 256),
        "decoder.layers.0.weight_ih_l0": (1024, 283), "decoder.layers.0.weight_hh_l0": (1024, 256),
        "decoder.layers.1.weight_ih_l0": (1024, 256), "decoder.output_projection.weight": (27, 256),
    }
    for k, shape in expect.items():
        assert tuple(sd[k].shape) == shape, k
    # Magenta's 4,085,019 trainable values + torch's second LSTM bias (zero-initialised)
    extra_bias = 2 * 2048 + 2 * 1024
    assert sum(v.numel() for v in sd.values()) == 4_085_019 + extra_bias
    hc = GrooVAE(get_config("groovae_2bar_hits_control")).state_dict()
    assert tuple(hc["encoder.fw.weight_ih_l0"].shape) == (2048, 36)
    assert tuple(hc["decoder.layers.0.weight_ih_l0"].shape) == (1024, 292)


def test_tf_like_initialisation() -> None:
    torch.manual_seed(0)
    m = GrooVAE(get_config("groovae_4bar"))
    b = m.encoder.fw.bias_ih_l0
    assert torch.all(b[512:1024] == 1.0) and torch.all(b[:512] == 0) and torch.all(b[1024:] == 0)
    assert torch.all(m.encoder.fw.bias_hh_l0 == 0)
    limit = math.sqrt(6 / ((27 + 512) + 2048))
    w = m.encoder.fw.weight_ih_l0.detach()
    assert float(w.abs().max()) <= limit and float(w.abs().max()) > 0.9 * limit
    for lin in (m.encoder.mu, m.encoder.sigma, m.decoder.z_to_initial_state):
        assert abs(float(lin.weight.detach().std()) - 0.001) < 1e-4 and torch.all(lin.bias == 0)


def test_input_dropout_per_element_and_step() -> None:
    x = torch.ones(64, 64, 100)
    y = input_dropout(x, 0.3, torch.Generator().manual_seed(0))
    kept = (y > 0).float()
    assert abs(float(kept.mean()) - 0.3) < 0.01
    assert torch.allclose(y[y > 0], torch.tensor(1 / 0.3))
    assert not torch.equal(kept[:, 0], kept[:, 1])  # fresh mask per time step


def test_dropout_only_in_training() -> None:
    cfg = get_config("groovae_tiny")
    m = GrooVAE(cfg)
    x = _batch(cfg)
    m.eval()
    a = m(x, torch.Generator().manual_seed(3)).logits
    b = m(x, torch.Generator().manual_seed(3)).logits
    assert torch.equal(a, b)
    mu1, _, _ = m.encode(x)
    m.train()
    mu2, _, _ = m.encode(x, torch.Generator().manual_seed(3))
    assert not torch.allclose(mu1, mu2)


def test_transforms() -> None:
    x = torch.zeros(1, 32, 27)
    x[0, 0, [0, 2]] = 1  # kick + closed hh at step 0
    x[0, 0, [9, 11]] = torch.tensor([0.5, 0.9])  # hh louder
    x[0, 0, [18, 20]] = torch.tensor([0.1, -0.3])
    hum, _ = encoder_inputs(get_config("groovae_2bar_humanize"), x)
    assert torch.equal(hum[..., :9], x[..., :9]) and float(hum[..., 9:].abs().sum()) == 0
    tap, _ = encoder_inputs(get_config("groovae_2bar_tap_fixed_velocity"), x)
    assert tap[0, 0, 3] == 1 and float(tap[0, 0, :9].sum()) == 1  # one tap on open hh
    assert tap[0, 0, 21] == pytest.approx(-0.3) and float(tap[..., 9:18].abs().sum()) == 0
    hh, _ = encoder_inputs(get_config("groovae_2bar_add_closed_hh"), x)
    assert hh[0, 0, 2] == 0 and hh[0, 0, 11] == 0 and hh[0, 0, 20] == 0 and hh[0, 0, 0] == 1
    hc, ctl = encoder_inputs(get_config("groovae_2bar_hits_control"), x)
    assert hc.shape == (1, 32, 36) and torch.equal(ctl, x[..., :9]) and torch.equal(hc[..., 27:], ctl)
    nd = get_config("groovae_2bar_tap_fixed_velocity_note_dropout")
    big = _batch(nd, 64)
    same, _ = encoder_inputs(nd, big, training=False)
    dropped, _ = encoder_inputs(nd, big, training=True, generator=torch.Generator().manual_seed(0))
    assert float(dropped[..., :9].sum()) < float(same[..., :9].sum())


def test_tapify_all_dropped_quirk_takes_kick() -> None:
    cfg = apply_hparams(get_config("groovae_2bar_tap_fixed_velocity_note_dropout"), "max_note_dropout_probability=1.0")
    x = torch.zeros(1, 32, 27)
    x[0, :, 0] = 1  # kick every step, velocity 0 -> drop probability 1 * p
    x[0, :, 18] = 0.2
    out, _ = encoder_inputs(cfg, x, training=True, generator=torch.Generator().manual_seed(0))
    assert torch.all(out[0, :, 3] == 1) and torch.allclose(out[0, :, 21], torch.tensor(0.2))


def test_loss_matches_formula_and_free_bits() -> None:
    cfg = apply_hparams(get_config("groovae_tiny"), "free_bits=48,max_beta=0.2")
    rng = np.random.default_rng(0)
    logits = torch.tensor(rng.normal(size=(2, 64, 27)), dtype=torch.float32)
    target = _batch(cfg, 2)
    mu = torch.tensor(rng.normal(size=(2, 16)) * 3, dtype=torch.float32)
    sigma = torch.tensor(rng.uniform(0.1, 1, size=(2, 16)), dtype=torch.float32)
    loss, parts = groovae_loss(cfg, logits, target, mu, sigma, step=5)
    lg, t = logits.double().numpy(), target.double().numpy()
    p = 1 / (1 + np.exp(-lg[..., :9]))
    h = -(t[..., :9] * np.log(p + 1e-7) + (1 - t[..., :9]) * np.log(1 - p + 1e-7)).sum(-1)
    v = ((1 / (1 + np.exp(-lg[..., 9:18])) - t[..., 9:18]) ** 2).sum(-1)
    o = ((np.tanh(lg[..., 18:]) - t[..., 18:]) ** 2).sum(-1)
    r = (h + v + o).sum(-1)
    m, s = mu.double().numpy(), sigma.double().numpy()
    kl = (0.5 * (m**2 + s**2) - np.log(s) - 0.5).sum(-1)
    kl_cost = np.maximum(kl - 48 * math.log(2), 0)
    assert float(parts["r_loss"]) == pytest.approx(r.mean(), rel=1e-5)
    assert float(parts["kl_bits"]) == pytest.approx(kl.mean() / math.log(2), rel=1e-5)
    assert float(loss.detach()) == pytest.approx(r.mean() + 0.2 * kl_cost.mean(), rel=1e-5)
    assert float(parts["hits_loss"]) == pytest.approx(h.mean(), rel=1e-5)
    small = torch.full((2, 16), 0.1)
    _, p2 = groovae_loss(cfg, logits, target, small, torch.ones(2, 16), step=5)
    assert float(p2["kl_loss"]) == 0.0  # total KL under 48 bits costs nothing
    assert beta_at(cfg, 0) == 0.0 and beta_at(cfg, 1) == pytest.approx(0.2)


def test_loss_weights_change_the_optimised_loss_not_the_logged_r_loss() -> None:
    base = apply_hparams(get_config("groovae_tiny"), "free_bits=0")
    weighted = apply_hparams(base, "hits_loss_weight=0.5,velocity_loss_weight=10,offset_loss_weight=3")
    rng = np.random.default_rng(1)
    logits = torch.tensor(rng.normal(size=(2, 64, 27)), dtype=torch.float32)
    target = _batch(base, 2)
    mu, sigma = torch.zeros(2, 16), torch.ones(2, 16)
    loss0, p0 = groovae_loss(base, logits, target, mu, sigma, step=5)
    loss1, p1 = groovae_loss(weighted, logits, target, mu, sigma, step=5)
    assert float(p1["r_loss"]) == pytest.approx(float(p0["r_loss"]), rel=1e-6)
    steps = 64
    expect = steps * (0.5 * float(p0["hits_loss"]) + 10 * float(p0["velocities_loss"])
                      + 3 * float(p0["offsets_loss"]))
    assert float(loss1) == pytest.approx(expect, rel=1e-5)
    assert float(loss0) == pytest.approx(float(p0["r_loss"]), rel=1e-6)
    with pytest.raises(ValueError, match="offset_loss_weight"):
        apply_hparams(base, "offset_loss_weight=-1")


def test_decoder_input_dropout_zeroes_whole_previous_steps_in_training_only() -> None:
    cfg = apply_hparams(get_config("groovae_tiny"), "dropout_keep_prob=1.0,decoder_input_dropout=0.4")
    m = GrooVAE(cfg)
    x = _batch(cfg, b=4)
    z = torch.randn(4, cfg.z_size, generator=torch.Generator().manual_seed(1))
    m.train()
    dropped = m.decoder(x, z, None, torch.Generator().manual_seed(5))
    # the same draw as the decoder's: keep step t's input y_{t-1} where u >= 0.4
    keep = torch.rand((4, cfg.num_steps, 1), generator=torch.Generator().manual_seed(5)) >= 0.4
    assert 0.4 < keep.float().mean() < 0.8
    masked = x.clone()
    masked[:, :-1] *= keep[:, 1:].float()  # y_{t-1} is target row t-1
    m.eval()
    with torch.no_grad():
        assert torch.allclose(dropped, m.decoder(masked, z), atol=1e-6)
        assert not torch.allclose(dropped, m.decoder(x, z), atol=1e-3)
    with pytest.raises(Exception, match="decoder_input_dropout"):
        apply_hparams(get_config("groovae_tiny"), "decoder_input_dropout=1")
