"""Native kernels (models.net.fast_kernel) with fp16 weight storage, padded sizes and the portable
build, against the plain nn.LSTMCell loop / the model's own encoder.

Tolerances: fp16 storage rounds each matrix-vector weight to 11 significant bits (relative
error <= 2^-11 = 4.9e-4); products and sums stay fp32. So (1) against a reference run with the
same weights rounded to fp16, only the summation order differs: hits equal, the rest within
1e-4, as for fp32; (2) against the unrounded fp32 reference, gate sums move by ~1e-4 and a hit
whose logit sits within that distance of its threshold can flip (the rest of that sequence then
diverges), so on the shipped model each step's decisions are compared given the same history
(see the test). The shipped weights are stored in fp16, so there fp16 storage is exact.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from models.generate import PRETRAINED_DIR
from models.net.config import get_config
from models.net.fast_decode import (
    NATIVE_ENCODE_MAX_BATCH,
    NATIVE_MAX_BATCH,
    FastGrooVAE,
    hit_thresholds,
    reference_decode,
)
from models.net.fast_kernel import NativeDecoder, NativeEncoder, load_kernel
from models.net.transforms import encoder_inputs
from models.net.vae import GrooVAE
from models.train.checkpoint import load_checkpoint
from tests.models.net.kernel_builds import build_or_skip

torch.set_num_threads(1)

pytestmark = pytest.mark.skipif(load_kernel() is None, reason="no C compiler: native kernels unavailable")


def _model(cfg, noise: float, seed: int = 0) -> GrooVAE:
    torch.manual_seed(seed)
    m = GrooVAE(cfg).eval()
    with torch.no_grad():  # random, non-trivial weights (fresh init decodes almost nothing)
        for p in m.parameters():
            p.add_(torch.randn_like(p) * noise)
    return m


def rounded_like_fp16_kernel(m: GrooVAE) -> GrooVAE:
    """A copy whose weights are rounded to fp16 exactly where the kernels store fp16: the
    decoder layers' [y_{t-1} | h_{l-1}] and recurrent matrices, the encoder's recurrent ones."""
    r = copy.deepcopy(m)
    with torch.no_grad():
        def half(t: torch.Tensor) -> None:
            t.copy_(t.half().float())

        for li, lstm in enumerate(r.decoder.layers):
            half(lstm.weight_ih_l0[:, : m.config.output_depth] if li == 0 else lstm.weight_ih_l0)
            half(lstm.weight_hh_l0)
        half(r.encoder.fw.weight_hh_l0)
        half(r.encoder.bw.weight_hh_l0)
    return r


CASES = [
    (get_config("groovae_4bar"), 0.05, 1),
    # hidden sizes that are not multiples of the kernel's block: padded units must stay zero
    (dataclasses.replace(get_config("groovae_tiny"), dec_rnn_size=(20, 40), enc_rnn_size=(24,)), 0.3, 3),
    (get_config("groovae_tiny_2bar_hits_control"), 0.3, 2),
]


@pytest.mark.parametrize("cfg, noise, batch", CASES, ids=lambda v: getattr(v, "name", str(v)))
@pytest.mark.parametrize("temperature", [0.0, 0.5])
@pytest.mark.parametrize("threads", [1, 2])
def test_fp16_decode_equals_lstmcell_loop_with_rounded_weights(cfg, noise, batch, temperature, threads) -> None:
    m = _model(cfg, noise)
    g = torch.Generator().manual_seed(1)
    z = torch.randn(batch, cfg.z_size, generator=g)
    u = torch.rand(cfg.num_steps, batch, 9, generator=g)
    c = (torch.rand(batch, cfg.num_steps, 9, generator=g) < 0.3).float() if cfg.hits_as_controls else None
    fm = FastGrooVAE(m, use_native=True, native_weights="fp16")
    assert fm.native is not None and fm.native.weights == "fp16" and fm.native.w[0].dtype.itemsize == 2
    out = fm.native.decode(z, hit_thresholds(u, temperature), c, threads)
    ref = reference_decode(rounded_like_fp16_kernel(m), z, temperature, u, c)
    assert torch.equal(out[..., :9], ref[..., :9]) and 0 < float(ref[..., :9].sum()) < ref[..., :9].numel()
    assert torch.allclose(out, ref, atol=1e-4)


@pytest.mark.parametrize("cfg, noise, batch", CASES, ids=lambda v: getattr(v, "name", str(v)))
@pytest.mark.parametrize("weights", ["fp16", "fp32"])
def test_native_encoder_equals_encoder(cfg, noise, batch, weights) -> None:
    m = _model(cfg, noise)
    x, _ = encoder_inputs(cfg, torch.rand(batch, cfg.num_steps, 27, generator=torch.Generator().manual_seed(2)))
    fm = FastGrooVAE(m, use_native=True, native_weights=weights)
    assert fm.native_encoder is not None
    ref = rounded_like_fp16_kernel(m) if weights == "fp16" else m
    with torch.no_grad():
        _, (h_fw, _) = ref.encoder.fw(x)
        _, (h_bw, _) = ref.encoder.bw(x.flip(1))
        mu2, sigma2 = ref.encoder(x)
    summary = fm.native_encoder.final_states(x, 2)  # any batch; one thread per direction
    assert torch.allclose(summary, torch.cat([h_fw[-1], h_bw[-1]], -1), atol=1e-5)
    mu, sigma = fm.encode(x[:1])  # FastGrooVAE.encode's native branch (single sequences)
    assert torch.allclose(mu, mu2[:1], atol=1e-5) and torch.allclose(sigma, sigma2[:1], atol=1e-5)
    assert float(mu2.abs().max()) > 1e-3  # a non-trivial encoding


@pytest.mark.parametrize("weights", ["fp32", "fp16"])
@pytest.mark.parametrize("variant, simd_level", [("portable", 0), ("avx2", 1)])
def test_other_builds_equal_the_reference(weights: str, variant: str, simd_level: int) -> None:
    """The fallback builds: plain compiler flags (scalar code, software fp16 widening) and
    AVX2 + F16C + FMA (8-wide vectors, scalar sigmoid / tanh)."""
    dll = build_or_skip(variant, simd_level)
    cfg = dataclasses.replace(get_config("groovae_tiny"), dec_rnn_size=(20, 40), enc_rnn_size=(24,))
    m = _model(cfg, 0.3)
    ref_model = rounded_like_fp16_kernel(m) if weights == "fp16" else m
    fm = FastGrooVAE(m, use_native=False)  # weights in the torch layout, to build the kernel's
    nd = NativeDecoder(dll, fm.w_rows, fm.biases, fm.w_z, fm.w_c, fm.init_w.t(), fm.init_b, fm.w_out_rows,
                       fm.b_out, weights)
    g = torch.Generator().manual_seed(3)
    z, u = torch.randn(2, cfg.z_size, generator=g), torch.rand(cfg.num_steps, 2, 9, generator=g)
    out = nd.decode(z, hit_thresholds(u, 0.5), None, 2)
    ref = reference_decode(ref_model, z, 0.5, u)
    assert torch.equal(out[..., :9], ref[..., :9]) and torch.allclose(out, ref, atol=1e-4)
    enc = m.encoder
    ne = NativeEncoder(dll, [(lstm.weight_ih_l0.detach(), lstm.weight_hh_l0.detach(),
                              (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach()) for lstm in (enc.fw, enc.bw)], weights)
    x = torch.rand(2, cfg.num_steps, cfg.input_depth, generator=g)
    with torch.no_grad():
        _, (h_fw, _) = ref_model.encoder.fw(x)
        _, (h_bw, _) = ref_model.encoder.bw(x.flip(1))
    assert torch.allclose(ne.final_states(x, 2), torch.cat([h_fw[-1], h_bw[-1]], -1), atol=1e-5)


@pytest.mark.parametrize("temperature", [0.0, 0.5])
def test_fp16_weights_agree_with_fp32_reference_on_shipped_model(temperature: float) -> None:
    """Per step, given the same history (the fp32 decoder teacher-forced on the kernel's own
    outputs): every hit decision equal unless its logit lies within 1e-3 of the threshold,
    velocities and offsets within 1e-3. Free-running: >= 99 % of hit cells equal (one flip
    changes the rest of its sequence), velocities/offsets within 1e-2 where no hit flipped."""
    path = PRETRAINED_DIR / "default"
    if not path.exists():
        pytest.skip("no shipped default model")
    model = load_checkpoint(path)[0].eval()
    fm = FastGrooVAE(model, use_native=True, native_weights="fp16")
    assert fm.native is not None
    g = torch.Generator().manual_seed(4)
    z = torch.randn(16, model.config.z_size, generator=g)
    u = torch.rand(model.config.num_steps, 16, 9, generator=g)
    th = hit_thresholds(u, temperature)
    out = fm.native.decode(z, th, None, 2)
    with torch.no_grad():
        logits = model.decoder(out, z)  # fp32 nn.LSTM, previous outputs = the kernel's
    margin = (logits[..., :9] - th.transpose(0, 1)).abs()
    ref_hits = (logits[..., :9] > th.transpose(0, 1)).float()
    assert torch.equal(out[..., :9][margin > 1e-3], ref_hits[margin > 1e-3])
    assert float((margin <= 1e-3).float().mean()) < 1e-2  # such near-ties are rare
    assert torch.allclose(out[..., 9:18], torch.sigmoid(logits[..., 9:18]), atol=1e-3)
    assert torch.allclose(out[..., 18:], torch.tanh(logits[..., 18:]), atol=1e-3)
    ref = reference_decode(model, z, temperature, u)  # free-running fp32 LSTMCell loop
    same = (out[..., :9] == ref[..., :9]).all(-1).all(-1)
    assert float((out[..., :9] == ref[..., :9]).float().mean()) >= 0.99 and bool(same.any())
    assert float((out[same, :, 9:] - ref[same, :, 9:]).abs().max()) <= 1e-2
    assert 0 < float(ref[..., :9].sum()) < ref[..., :9].numel()


def test_weight_storage_choice(monkeypatch) -> None:
    dll = load_kernel()
    assert dll is not None
    m = _model(get_config("groovae_tiny"), 0.3)
    monkeypatch.setenv("GROOVEBRIDGE_NATIVE_WEIGHTS", "fp32")
    fm = FastGrooVAE(m, use_native=True)
    assert fm.native is not None and fm.native.weights == "fp32" and fm.native.w[0].dtype.itemsize == 4
    monkeypatch.delenv("GROOVEBRIDGE_NATIVE_WEIGHTS")
    fm = FastGrooVAE(m, use_native=True)
    assert fm.native is not None and fm.native.weights == ("int8" if dll.gb_simd_level() > 0 else "fp32")


def test_single_and_batch_paths_agree_with_fp16_storage() -> None:
    """Single sequences go through the native fp16 kernels, batches through TorchScript /
    oneDNN with the same fp16-rounded matrices: a z gives the same groove either way."""
    cfg = get_config("groovae_4bar")
    m = _model(cfg, 0.05)
    fm = FastGrooVAE(m, use_native=True, native_weights="fp16")
    g = torch.Generator().manual_seed(5)
    n = NATIVE_MAX_BATCH + 2
    z, u = torch.randn(n, cfg.z_size, generator=g), torch.rand(cfg.num_steps, n, 9, generator=g)
    th = hit_thresholds(u, 0.5)
    batch = fm.decode(z, th)
    single = torch.cat([fm.decode(z[i : i + 1], th[:, i : i + 1]) for i in range(n)])
    assert torch.equal(batch[..., :9], single[..., :9]) and torch.allclose(batch, single, atol=1e-5)
    x = torch.rand(NATIVE_ENCODE_MAX_BATCH + 1, cfg.num_steps, 27, generator=g)
    mu_batch, _ = fm.encode(x)
    mu_single = torch.cat([fm.encode(x[i : i + 1])[0] for i in range(x.shape[0])])
    assert torch.allclose(mu_batch, mu_single, atol=1e-5)


def test_thread_counts_give_identical_results(monkeypatch) -> None:
    """Threads own disjoint blocks of hidden units, so the sums are the same for any count."""
    m = _model(get_config("groovae_4bar"), 0.05)
    monkeypatch.setenv("GROOVEBRIDGE_NATIVE_THREADS", "2")
    fm = FastGrooVAE(m, use_native=True)
    assert fm.decode_threads == 2
    g = torch.Generator().manual_seed(6)
    z, u = torch.randn(3, 256, generator=g), torch.rand(64, 3, 9, generator=g)
    th = hit_thresholds(u, 0.5)
    outs = [fm.native.decode(z, th, None, n) for n in (1, 2, 3)]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
    assert torch.equal(fm.decode(z, th), outs[0])  # FastGrooVAE.decode's native branch, 2 threads
    x = torch.rand(2, 64, 27, generator=g)
    assert torch.equal(fm.native_encoder.final_states(x, 1), fm.native_encoder.final_states(x, 2))
