"""The factored follow encoder (W_hh = U V, issue 25): its torch forward against a plain LSTM
loop, its start from the teacher's truncated SVD, the native kernel's low-rank path against the
torch model (fp32 exact, fp16 / int8 close, ranks not a multiple of the kernel's block), and
the student's file round trip. Small random networks: exact checks, not the trained weights."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from models.net.config import get_config
from models.net.factored_encoder import FactoredEncoder
from models.net.fast_kernel import NativeEncoder, load_kernel
from models.net.follow_encoder import (
    FOLLOW_JSON,
    FollowEncoderError,
    QuickEncoder,
    load_follow_encoder,
    save_follow_encoder,
)
from models.net.vae import Encoder

needs_kernel = pytest.mark.skipif(load_kernel() is None, reason="no C compiler: native kernels unavailable")


def _teacher(units: int, seed: int = 0) -> Encoder:
    torch.manual_seed(seed)
    cfg = get_config("groovae_4bar")
    enc = Encoder(dataclasses.replace(cfg, enc_rnn_size=(units,), dropout_keep_prob=1.0)).eval()
    with torch.no_grad():  # livelier than the TF init (tiny weights would hide errors)
        for lstm in (enc.fw, enc.bw):
            lstm.weight_hh_l0.mul_(3.0)
            lstm.weight_ih_l0.mul_(2.0)
    return enc


def _loop_summary(enc: FactoredEncoder, x: torch.Tensor) -> torch.Tensor:
    """The reference: an LSTMCell loop with W_hh = U V, the full h after the last step."""
    out = []
    for lstm, xs in ((enc.fw, x), (enc.bw, x.flip(1))):
        cell = torch.nn.LSTMCell(lstm.input_size, lstm.hidden_size)
        with torch.no_grad():
            cell.weight_ih.copy_(lstm.weight_ih_l0)
            cell.weight_hh.copy_(lstm.weight_hh_l0 @ lstm.weight_hr_l0)
            cell.bias_ih.copy_(lstm.bias_ih_l0)
            cell.bias_hh.copy_(lstm.bias_hh_l0)
            h = c = torch.zeros(x.shape[0], lstm.hidden_size)
            for t in range(xs.shape[1]):
                h, c = cell(xs[:, t], (h, c))
        out.append(h)
    return torch.cat(out, -1)


def test_the_forward_is_an_lstm_with_w_hh_u_v_and_reads_the_full_last_h() -> None:
    enc = FactoredEncoder.from_teacher(_teacher(64), 24)
    x = torch.rand(3, 16, 27, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = _loop_summary(enc, x)
        assert torch.allclose(enc.summary(x), ref, atol=1e-5)
        assert torch.allclose(enc(x)[0], enc.mu(ref), atol=1e-5)
        one = enc.summary(x[:, :1])  # a single step: no LSTMP part
    assert torch.allclose(one, _loop_summary(enc, x[:, :1]), atol=1e-6)


def test_from_teacher_is_the_truncated_svd_and_keeps_every_other_weight() -> None:
    teacher = _teacher(64)
    for rank in (8, 32, 63):
        enc = FactoredEncoder.from_teacher(teacher, rank)
        for src, dst in ((teacher.fw, enc.fw), (teacher.bw, enc.bw)):
            w = src.weight_hh_l0.detach()
            s = torch.linalg.svdvals(w)
            err = torch.linalg.norm(w - dst.weight_hh_l0 @ dst.weight_hr_l0).detach()
            assert abs(float(err) - float(s[rank:].square().sum().sqrt())) < 1e-3  # Eckart-Young: the best
            assert torch.equal(src.weight_ih_l0, dst.weight_ih_l0) and torch.equal(src.bias_hh_l0, dst.bias_hh_l0)
        assert torch.equal(enc.mu.weight, teacher.mu.weight)
    with pytest.raises(ValueError, match="rank"):
        FactoredEncoder.from_teacher(teacher, 64)


@needs_kernel
@pytest.mark.parametrize(("units", "rank"), [(128, 64), (128, 40), (72, 70)])
def test_the_native_low_rank_path_matches_torch(units: int, rank: int) -> None:
    """40: padded to the kernel's block of columns; 72 units: h padded to the kernel's block of
    units (UB 16 with AVX2, 32 with AVX-512), 70 > one block of columns (CB 64 with AVX2)."""
    dll = load_kernel()
    enc = FactoredEncoder.from_teacher(_teacher(units, seed=rank), rank).eval()
    x = torch.rand(3, 64, 27, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = enc.summary(x)
    dirs = enc.directions()
    errors = {}
    for weights in ("fp32", "fp16", "int8"):
        ne = NativeEncoder(dll, [(w, u, b) for w, u, _, b in dirs], weights, [v for _, _, v, _ in dirs])
        out = ne.final_states(x, 1)
        assert torch.equal(out, ne.final_states(x, 2))  # one thread per direction: same numbers
        assert torch.equal(out[1:2], ne.final_states(x[1:2].contiguous(), 1))  # batch-independent
        errors[weights] = float((out - ref).norm() / ref.norm())
    assert errors["fp32"] < 1e-5, errors
    assert 0 < errors["fp16"] < 5e-3 and 0 < errors["int8"] < 0.05, errors
    full = NativeEncoder(dll, [(w, u @ v, b) for w, u, v, b in dirs], "fp32")  # the same W_hh, unfactored
    assert torch.allclose(full.final_states(x, 1), ref, atol=1e-4)


@needs_kernel
def test_mismatched_factors_are_refused() -> None:
    dirs = FactoredEncoder.from_teacher(_teacher(64), 16).directions()
    with pytest.raises(ValueError, match="per direction"):  # one V for two directions: C would read past it
        NativeEncoder(load_kernel(), [(w, u, b) for w, u, _, b in dirs], "fp32", [dirs[0][2]])
    with pytest.raises(ValueError, match="per direction"):
        NativeEncoder(load_kernel(), [(w, u[:, :8], b) for w, u, _, b in dirs], "fp32", [v for _, _, v, _ in dirs])


def test_a_factored_student_round_trips_and_a_wrong_rank_is_refused(tmp_path: Path) -> None:
    teacher = _teacher(64)
    enc = FactoredEncoder.from_teacher(teacher, 16)
    cfg = get_config("groovae_4bar")
    save_follow_encoder(enc, tmp_path, "f" * 24, {"note": "test"})
    meta = json.loads((tmp_path / FOLLOW_JSON).read_text())
    assert meta["architecture"] == {"kind": "factored-bilstm", "units": 64, "rank": 16, "input_depth": 27,
                                    "z_size": cfg.z_size}
    quick = load_follow_encoder(tmp_path, "f" * 24, cfg, use_native=False)
    assert quick.rank == 16 and quick.units == 64
    x = torch.rand(2, 64, 27, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = enc(x)[0]
    assert torch.allclose(quick.encode(x), want, atol=2e-2 * float(want.abs().max()))  # fp16 storage
    if load_kernel() is not None:
        native = load_follow_encoder(tmp_path, "f" * 24, cfg, native_weights="fp32")
        assert native.native is not None and native.native.rank > 0
        assert torch.allclose(native.encode(x), quick.encode(x), atol=1e-4)
    for bad in (64, 0, "16"):
        meta["architecture"]["rank"] = bad
        (tmp_path / FOLLOW_JSON).write_text(json.dumps(meta))
        with pytest.raises(FollowEncoderError, match="damaged"):
            load_follow_encoder(tmp_path, None, cfg)
    meta["architecture"]["rank"] = 24  # tensors of another rank
    (tmp_path / FOLLOW_JSON).write_text(json.dumps(meta))
    with pytest.raises(FollowEncoderError, match="does not fit"):
        load_follow_encoder(tmp_path, None, cfg)


def test_a_quick_encoder_of_a_factored_student_uses_the_rounded_factors_for_batches() -> None:
    enc = FactoredEncoder.from_teacher(_teacher(64), 16)
    if load_kernel() is None:
        pytest.skip("no C compiler: native kernels unavailable")
    q = QuickEncoder(enc, native_weights="int8")
    assert q.factored is not None and not torch.equal(q.factored.fw.weight_hr_l0, enc.fw.weight_hr_l0)
    x = torch.rand(40, 64, 27, generator=torch.Generator().manual_seed(4))  # a batch: the torch path
    small = torch.cat([q.encode(x[i : i + 1]) for i in range(3)])  # the native path
    rel = (q.encode(x)[:3] - small).norm(dim=1) / small.norm(dim=1)
    assert float(rel.max()) < 0.05
