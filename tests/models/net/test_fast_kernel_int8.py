"""The native kernels' int8 storage (models.net.fast_kernel, wtype W_I8): int8 weights with one
scale per gate column and chunk of 64 rows, activations ([x | h] of each layer, every step)
rounded to int8 with one scale per vector (max |x| / 127), exact int32 dot products.

Tolerances:
* against a torch emulation of exactly that arithmetic (``emulate_*`` below: the kernel's
  rounded weights, the same activation rounding, float64 sums): equal up to fp32 rounding (1e-5)
  for every sequence whose activation roundings all agree. An activation within ~1e-5 of a
  rounding tie (x * 127 / max) can round the other way in one of them (sigmoid / tanh differ by
  ~1e-7), which moves that sequence by ~3e-3 (measured: 3 of 8 groovae_4bar encodes, 65 k
  roundings each): so every sequence within 1e-2 and at least half of them within 1e-5
  (a missing activation rounding or a wrong scale fails both);
* against fp32 (the model as trained; the shipped weights are fp16, which fp16 storage keeps
  exactly): weight rounding ~0.7 % (relative RMS), activations ~0.4 % of each vector's max. On
  the shipped model: encoder means within 3 % (relative, median; 5 % max) of fp32 on real test
  windows; decoded grooves from the same z at temperature 0 >= 98.5 % equal hit cells.
  benchmarks/bench_native_weights.py measures the same on 512 test windows (README).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from models.generate import PRETRAINED_DIR
from models.net.config import get_config
from models.net.fast_decode import (
    FastGrooVAE,
    conditional_outputs,
    hit_thresholds,
    reference_decode,
)
from models.net.fast_kernel import (
    WEIGHTS,
    NativeDecoder,
    NativeEncoder,
    load_kernel,
    load_variant,
    stored,
)
from models.net.transforms import encoder_inputs
from models.net.vae import GrooVAE
from models.train.checkpoint import load_checkpoint
from tests.models.net.kernel_builds import build_or_skip

torch.set_num_threads(1)

pytestmark = pytest.mark.skipif(load_kernel() is None, reason="no C compiler: native kernels unavailable")


def _model(cfg, noise: float, seed: int = 0) -> GrooVAE:
    torch.manual_seed(seed)
    m = GrooVAE(cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * noise)
    return m


def _shipped() -> GrooVAE:
    path = PRETRAINED_DIR / "default"
    if not path.exists():
        pytest.skip("no shipped default model")
    return load_checkpoint(path)[0].eval()


def quantized(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel's activation rounding: round(x * (127 / max|x|)) per row, scale max|x| / 127."""
    m = x.abs().amax(-1, keepdim=True)
    inv = torch.where(m > 0, torch.tensor(127.0) / m, torch.zeros_like(m))
    return torch.round(x * inv), m / 127.0


def int8_gates(init: torch.Tensor, parts: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """init + sum over parts of scale(x) * (round(x) @ W) in float64 (W: the stored int8 weights)."""
    g = init.double()
    for x, w in parts:
        q, s = quantized(x)
        g = g + s.double() * (q.double() @ w.double())
    return g.float()


def emulate_encoder(m: GrooVAE, x: torch.Tensor) -> torch.Tensor:
    """Final [h_fw, h_bw] of the int8 encoder, in torch (gates in torch's order i, f, g, o)."""
    hs = []
    for lstm, seq in ((m.encoder.fw, x), (m.encoder.bw, x.flip(1))):
        h_size = lstm.hidden_size
        w = stored(lstm.weight_hh_l0.detach().t(), "int8")  # (H, 4H): chunks over the rows of h
        xp = seq @ lstm.weight_ih_l0.detach().t() + (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach()
        h = x.new_zeros(x.shape[0], h_size)
        c = torch.zeros_like(h)
        for t in range(seq.shape[1]):
            g = int8_gates(xp[:, t], [(h, w)])
            i, f, gg, o = g.split(h_size, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
            h = torch.sigmoid(o) * torch.tanh(c)
        hs.append(h)
    return torch.cat(hs, -1)


def emulate_decoder(fm: FastGrooVAE, z: torch.Tensor, th: torch.Tensor, controls: torch.Tensor | None = None,
                    floors=(1.0, 1.0)) -> torch.Tensor:
    """The int8 decoder in torch from FastGrooVAE's matrices (int8-rounded when its native storage is int8)."""
    s = torch.tanh(torch.nn.functional.linear(z, fm.init_w, fm.init_b))
    hs, cs, i = [], [], 0
    for h in fm.sizes:
        cs.append(s[:, i : i + h].clone())
        hs.append(s[:, i + h : i + 2 * h].clone())
        i += 2 * h
    zp = torch.addmm(fm.biases[0], z, fm.w_z)
    y, outs = z.new_zeros(z.shape[0], 27), []
    for t in range(th.shape[0]):
        x = y
        for li, h_size in enumerate(fm.sizes):
            w = fm.w_rows[li]
            n1 = w.shape[0] - h_size
            init = fm.biases[li] if li else (zp if controls is None else zp + controls[:, t] @ fm.w_c)
            g = int8_gates(init, [(x, w[:n1]), (hs[li], w[n1:])])
            i_g, f_g, o_g = (torch.sigmoid(g[:, k * h_size : (k + 1) * h_size]) for k in range(3))
            cs[li] = f_g * cs[li] + i_g * torch.tanh(g[:, 3 * h_size :])
            hs[li] = o_g * torch.tanh(cs[li])
            x = hs[li]
        lo = torch.addmm(fm.b_out, x, fm.w_out_rows)
        y = torch.cat([(lo[:, :9] > th[t]).float(), torch.sigmoid(lo[:, 9:18]), torch.tanh(lo[:, 18:])], 1)
        outs.append(conditional_outputs(y, lo[:, :9], floors))
    return torch.stack(outs, 1)


def _assert_like_emulation(out: torch.Tensor, ref: torch.Tensor, hits: bool = True) -> None:
    """(B, T, F): at least half the sequences within 1e-5 (hits identical); decoders: >= 99 % of
    hit cells equal, the rest of a sequence whose hits agree within 1e-2; encoders (hits=False)
    every value within 1e-2 (see the module docstring)."""
    diff = (out - ref).abs().amax(-1).amax(-1)
    if hits:
        same = (out[..., :9] == ref[..., :9]).all(-1).all(-1)
        assert float((out[..., :9] == ref[..., :9]).float().mean()) >= 0.99
        assert float((same & (diff <= 1e-5)).float().mean()) >= 0.5 and bool((diff[same] <= 1e-2).all())
    else:
        assert float((diff <= 1e-5).float().mean()) >= 0.5 and bool((diff <= 1e-2).all())


CASES = [
    (get_config("groovae_4bar"), 0.05, 8),
    (dataclasses.replace(get_config("groovae_tiny"), dec_rnn_size=(20, 40), enc_rnn_size=(24,)), 0.3, 5),
    (get_config("groovae_tiny_2bar_hits_control"), 0.3, 4),
]


@pytest.mark.parametrize("cfg, noise, batch", CASES, ids=lambda v: getattr(v, "name", str(v)))
def test_int8_kernels_do_the_stated_arithmetic(cfg, noise, batch) -> None:
    m = _model(cfg, noise)
    fm = FastGrooVAE(m, use_native=True, native_weights="int8")
    assert fm.native is not None and fm.native_encoder is not None and fm.native.w[0].dtype == np.int8
    g = torch.Generator().manual_seed(7)
    x, _ = encoder_inputs(cfg, torch.rand(batch, cfg.num_steps, 27, generator=g))
    _assert_like_emulation(fm.native_encoder.final_states(x, 2)[:, None], emulate_encoder(m, x)[:, None], hits=False)
    z, u = torch.randn(batch, cfg.z_size, generator=g), torch.rand(cfg.num_steps, batch, 9, generator=g)
    c = (torch.rand(batch, cfg.num_steps, 9, generator=g) < 0.3).float() if cfg.hits_as_controls else None
    for temperature in (0.0, 0.5):
        th = hit_thresholds(u, temperature)
        out = fm.native.decode(z, th, c, 2)
        ref = emulate_decoder(fm, z, th, c)
        _assert_like_emulation(out, ref)
        assert 0 < float(ref[..., :9].sum()) < ref[..., :9].numel()


def test_int8_decoder_on_the_shipped_model() -> None:
    """Against its emulation (all but a few sequences equal), and against the fp32 model as
    trained: from the same z at temperature 0, >= 98.5 % of hit cells equal, and velocities /
    offsets of the sequences whose hits all agree within 0.1 (mean abs <= 0.01)."""
    model = _shipped()
    fm = FastGrooVAE(model, use_native=True, native_weights="int8")
    g = torch.Generator().manual_seed(4)
    z, u = torch.randn(16, model.config.z_size, generator=g), torch.rand(model.config.num_steps, 16, 9, generator=g)
    th = hit_thresholds(u, 0.0)
    out = fm.native.decode(z, th, None, 1)
    _assert_like_emulation(out, emulate_decoder(fm, z, th))
    ref = reference_decode(model, z, 0.0, u)
    assert float((out[..., :9] == ref[..., :9]).float().mean()) >= 0.985
    same = (out[..., :9] == ref[..., :9]).all(-1).all(-1)
    assert bool(same.any()) and 0 < float(ref[..., :9].sum()) < ref[..., :9].numel()
    diff = (out[same, :, 9:] - ref[same, :, 9:]).abs()
    assert float(diff.max()) <= 0.1 and float(diff.mean()) <= 0.01


def test_int8_encoder_on_real_test_windows(gmd_gbds: Path) -> None:
    """Encoder means of 32 GMD test windows: within 3 % of fp32 (relative, median), 5 % max."""
    from models.data.io import load_windows

    model = _shipped()
    wins = load_windows(gmd_gbds, "test", num_bars=4, hop_bars=4).tensors
    windows = torch.from_numpy(wins[np.random.default_rng(0).permutation(len(wins))[:32]])
    x, _ = encoder_inputs(model.config, windows, training=False)
    fm = FastGrooVAE(model, use_native=True, native_weights="int8")
    mu = torch.cat([fm.encode(x[i : i + 1])[0] for i in range(len(x))])
    with torch.no_grad():
        ref = model.encoder(x)[0]
    rel = (mu - ref).norm(dim=1) / ref.norm(dim=1)
    assert float(rel.median()) <= 0.03 and float(rel.max()) <= 0.05
    assert float(rel.min()) > 0  # int8 does change the numbers (this is not the fp32 path)


@pytest.mark.parametrize("variant, simd_level", [("portable", 0), ("avx2", 1)])
def test_other_builds_do_the_same_int8_arithmetic(variant: str, simd_level: int) -> None:
    """Scalar (plain flags) and AVX2 builds sum the same integers as the native build."""
    dll = build_or_skip(variant, simd_level)
    cfg = dataclasses.replace(get_config("groovae_tiny"), dec_rnn_size=(20, 40), enc_rnn_size=(24,))
    m = _model(cfg, 0.3)
    fm = FastGrooVAE(m, use_native=True, native_weights="int8")  # torch matrices int8-rounded
    nd = NativeDecoder(dll, [w.clone() for w in fm.w_rows], fm.biases, fm.w_z, fm.w_c, fm.init_w.t(), fm.init_b,
                       fm.w_out_rows, fm.b_out, "int8")
    g = torch.Generator().manual_seed(3)
    z, u = torch.randn(6, cfg.z_size, generator=g), torch.rand(cfg.num_steps, 6, 9, generator=g)
    th = hit_thresholds(u, 0.5)
    _assert_like_emulation(nd.decode(z, th, None, 2), emulate_decoder(fm, z, th))
    enc = m.encoder
    ne = NativeEncoder(dll, [(lstm.weight_ih_l0.detach(), lstm.weight_hh_l0.detach(),
                              (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach()) for lstm in (enc.fw, enc.bw)], "int8")
    x = torch.rand(6, cfg.num_steps, cfg.input_depth, generator=g)
    _assert_like_emulation(ne.final_states(x, 2)[:, None], emulate_encoder(m, x)[:, None], hits=False)


def test_storage_names(monkeypatch) -> None:
    dll = load_kernel()
    assert dll is not None and set(WEIGHTS) == {"fp32", "fp16", "int8"}
    m = _model(get_config("groovae_tiny"), 0.3)
    monkeypatch.setenv("GROOVEBRIDGE_NATIVE_WEIGHTS", "int8")
    fm = FastGrooVAE(m, use_native=True)
    assert fm.native is not None and fm.native.weights == "int8" and fm.native_encoder.weights == "int8"
    with pytest.raises(ValueError, match="int4"):
        FastGrooVAE(m, use_native=True, native_weights="int4")


def test_int8_setting_without_native_kernels_falls_back_to_fp32_torch(monkeypatch) -> None:
    """GROOVEBRIDGE_NATIVE=0 wins over GROOVEBRIDGE_NATIVE_WEIGHTS=int8: no kernel, the torch
    paths with the model's own (unrounded) weights, equal to the plain LSTMCell loop."""
    from models.net import fast_kernel

    monkeypatch.setattr(fast_kernel, "_tried", False)
    monkeypatch.setattr(fast_kernel, "_loaded", None)
    monkeypatch.setenv("GROOVEBRIDGE_NATIVE", "0")
    monkeypatch.setenv("GROOVEBRIDGE_NATIVE_WEIGHTS", "int8")
    cfg = get_config("groovae_tiny")
    m = _model(cfg, 0.3)
    fm = FastGrooVAE(m)
    assert fm.native is None and fm.native_encoder is None
    g = torch.Generator().manual_seed(8)
    z, u = torch.randn(1, cfg.z_size, generator=g), torch.rand(cfg.num_steps, 1, 9, generator=g)
    out, ref = fm.decode(z, hit_thresholds(u, 0.5)), reference_decode(m, z, 0.5, u)
    assert torch.equal(out[..., :9], ref[..., :9]) and torch.allclose(out, ref, atol=1e-4)
    x, _ = encoder_inputs(cfg, torch.rand(1, cfg.num_steps, 27, generator=g))
    with torch.no_grad():
        assert torch.allclose(fm.encode(x)[0], m.encoder(x)[0], atol=1e-5)


def test_encoder_threads_follow_torch_unless_set(monkeypatch) -> None:
    """torch's count (this module: torch.set_num_threads(1) at its top) unless the environment
    variable says; the encoder's summary is the same, bit for bit, with one or two threads."""
    from models.net.fast_decode import encode_threads

    monkeypatch.delenv("GROOVEBRIDGE_NATIVE_ENCODE_THREADS", raising=False)
    assert encode_threads() == 1
    monkeypatch.setenv("GROOVEBRIDGE_NATIVE_ENCODE_THREADS", "2")
    assert encode_threads() == 2
    model = _shipped()
    x, _ = encoder_inputs(model.config, torch.rand(2, model.config.num_steps, 27, generator=torch.Generator().manual_seed(3)))
    encoder = FastGrooVAE(model, use_native=True, native_weights="int8").native_encoder
    assert encoder is not None
    one, two = encoder.final_states(x, 1), encoder.final_states(x, 2)
    assert torch.equal(one, two) and float(one.abs().max()) > 1e-3


@pytest.mark.parametrize("weights", ["int8", "fp16"])
def test_a_thread_without_buffers_fails_the_call_instead_of_hanging_or_returning_garbage(weights: str) -> None:
    """Review finding: a decoder thread whose malloc failed returned before the first layer
    barrier (the other threads spun there for ever), and an encoder thread's failure returned 0
    with its h_out never written. Fault-injection build: the second thread gets no buffers."""
    import threading

    dll = load_variant("fail-alloc-test")
    if dll is None:
        pytest.skip("the fault-injection build does not compile here")
    cfg = dataclasses.replace(get_config("groovae_tiny"), dec_rnn_size=(20, 40), enc_rnn_size=(24,))
    m = _model(cfg, 0.3)
    fm = FastGrooVAE(m, use_native=True, native_weights=weights)
    nd = NativeDecoder(dll, [w.clone() for w in fm.w_rows], fm.biases, fm.w_z, fm.w_c, fm.init_w.t(), fm.init_b,
                       fm.w_out_rows, fm.b_out, weights)
    g = torch.Generator().manual_seed(3)
    z, u = torch.randn(2, cfg.z_size, generator=g), torch.rand(cfg.num_steps, 2, 9, generator=g)
    th = hit_thresholds(u, 0.5)
    assert nd.decode(z, th, None, 1).shape[0] == 2  # one thread: it has its buffers
    outcome: list[object] = []

    def two_threads() -> None:
        try:
            outcome.append(nd.decode(z, th, None, 2))
        except RuntimeError as e:
            outcome.append(e)

    t = threading.Thread(target=two_threads, daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "the decode hung (a thread left the others at a barrier)"
    assert isinstance(outcome[0], RuntimeError) and "(-3)" in str(outcome[0])
    enc = m.encoder
    ne = NativeEncoder(dll, [(lstm.weight_ih_l0.detach(), lstm.weight_hh_l0.detach(),
                              (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach()) for lstm in (enc.fw, enc.bw)], weights)
    x = torch.rand(2, cfg.num_steps, cfg.input_depth, generator=g)
    assert ne.final_states(x, 1).shape[0] == 2
    with pytest.raises(RuntimeError, match=r"\(-3\)"):
        ne.final_states(x, 2)  # the second direction's thread had no buffers
