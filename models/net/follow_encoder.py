"""A small distilled encoder for follow mode: the teacher's encoder, made cheaper.

Why: follow mode encodes the played window once per bar; the shipped default's encoder (a
bi-LSTM of 512 units per direction) streams 1 MB of int8 recurrent weights per direction and
step, more than a core's L2, and is two thirds of the follow job's time. Two kinds of student,
trained by ``scripts/distill_follow_encoder.py`` to give the teacher's posterior mean (no sigma
head is trained or stored: only the mean is used):
* "bilstm": the same network (``models.net.vae.Encoder``: one bidirectional LSTM layer over the
  same encoder inputs, a linear mean head) with fewer units (``units``, e.g. 256: a quarter of
  the weights), trained from scratch (the session-17 candidate: too far from its teacher);
* "factored-bilstm": the teacher's own encoder with each recurrent matrix factored, W_hh = U V
  of rank ``rank`` (``models.net.factored_encoder``), started from the truncated SVD of the
  teacher's weights and distilled (what ships beside the default, see the model card).

Files beside the teacher's ``model.safetensors``: ``follow_encoder.safetensors`` (the student's
``fw.*``, ``bw.*``, ``mu.*`` tensors, a factored one's V as ``*.weight_hr_l0``, stored as float16
and loaded as float32, as the teacher's) and ``follow_encoder.json`` (format tag, architecture,
the teacher's weights fingerprint (``models.net.prior.weights_fingerprint``), how it was
trained and its evaluation). A student for other weights, a damaged or a missing one is refused
(``FollowEncoderError``) and the caller falls back to the full encoder. Nothing is pickled.

Inference mirrors ``models.net.fast_decode.FastGrooVAE.encode``: the native int8 / fp16 / fp32
kernel (``NativeEncoder``, one thread per direction; factored: p = V h, then the gates from p)
for one or two sequences, torch with the same rounded recurrent weights for larger batches.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save

from models.atomic_io import atomic_write, write_text_atomic
from models.net.config import ConfigError, GrooVAEConfig
from models.net.factored_encoder import FactoredEncoder
from models.net.fast_decode import NATIVE_ENCODE_MAX_BATCH, encode_threads
from models.net.fast_kernel import NativeEncoder, load_kernel, round_as_stored_
from models.net.sidecar import read_sidecar
from models.net.vae import Encoder, lstm_params

FOLLOW_FILE = "follow_encoder.safetensors"
FOLLOW_JSON = "follow_encoder.json"
FORMAT_TAG = "groovebridge-follow-encoder"
FORMAT = 1
_FACTORS = ("fw.weight_hr_l0", "bw.weight_hr_l0")  # V of a factored student (its U: weight_hh_l0)
_KEYS = ("fw.weight_ih_l0", "fw.weight_hh_l0", "fw.bias_ih_l0", "fw.bias_hh_l0",
         "bw.weight_ih_l0", "bw.weight_hh_l0", "bw.bias_ih_l0", "bw.bias_hh_l0", "mu.weight", "mu.bias")


class FollowEncoderError(RuntimeError):
    """A follow encoder is missing, damaged or distilled from other weights (one-line reason)."""


def student_config(teacher: GrooVAEConfig, units: int) -> GrooVAEConfig:
    """The teacher's config with ``units`` encoder units per direction (no input dropout)."""
    return dataclasses.replace(teacher, enc_rnn_size=(int(units),), dropout_keep_prob=1.0)


def new_student(teacher: GrooVAEConfig, units: int) -> Encoder:
    """A freshly initialised student encoder (TF-style init, as the teacher's)."""
    return Encoder(student_config(teacher, units))


class QuickEncoder:
    """Inference view of a student encoder: encoder inputs (B, T, D) -> means (B, Z). The student:
    a smaller bi-LSTM (``Encoder``) or the teacher's with factored recurrent weights
    (``FactoredEncoder``: W_hh = U V)."""

    def __init__(self, encoder: Encoder | FactoredEncoder, info: dict[str, Any] | None = None,
                 use_native: bool | None = None, native_weights: str | None = None) -> None:
        self.info = dict(info or {})
        enc = encoder.eval()
        self.units = enc.fw.hidden_size
        self.rank = enc.rank if isinstance(enc, FactoredEncoder) else 0
        dll = load_kernel() if use_native is not False else None
        self.native: NativeEncoder | None = None
        self.lstm: torch.nn.LSTM | None = None
        self.factored: FactoredEncoder | None = None
        with torch.no_grad():
            if isinstance(enc, FactoredEncoder):
                self.factored = copy.deepcopy(enc).eval()
                dirs = self.factored.directions()
                if dll is not None:
                    self.native = NativeEncoder(dll, [(w_ih, u, b) for w_ih, u, _, b in dirs], native_weights,
                                                [v for _, _, v, _ in dirs])
                    for lstm in (self.factored.fw, self.factored.bw):  # batches: the same rounded matrices
                        round_as_stored_(lstm, ("weight_hh_l0", "weight_hr_l0"), self.native.weights)
            else:
                bi = torch.nn.LSTM(enc.fw.input_size, self.units, batch_first=True, bidirectional=True)
                for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                    getattr(bi, name).copy_(getattr(enc.fw, name))
                    getattr(bi, name + "_reverse").copy_(getattr(enc.bw, name))
                self.lstm = bi.eval()
                if dll is not None:
                    self.native = NativeEncoder(
                        dll, [(p[0].detach(), p[1].detach(), (p[2] + p[3]).detach())
                              for p in (lstm_params(enc.fw), lstm_params(enc.bw))], native_weights)
                    round_as_stored_(self.lstm, ("weight_hh_l0", "weight_hh_l0_reverse"), self.native.weights)
            self.mu_w, self.mu_b = enc.mu.weight.detach().clone(), enc.mu.bias.detach().clone()

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, threads: int | None = None) -> torch.Tensor:
        """Encoder input (B, T, D) (the config's transform applied) -> mu (B, Z). ``threads``:
        of the native kernel (one per direction, at most 2 used; default as the full encoder's)."""
        if self.native is not None and x.shape[0] <= NATIVE_ENCODE_MAX_BATCH:
            summary = self.native.final_states(x.float().contiguous(), threads or encode_threads())
        elif self.factored is not None:
            summary = self.factored.summary(x.float())
        else:
            assert self.lstm is not None
            _, (h_n, _) = self.lstm(x.float())
            summary = torch.cat([h_n[0], h_n[1]], dim=-1)
        return torch.cat([F.linear(s, self.mu_w, self.mu_b) for s in summary.split(1)])


def _keys(encoder: Encoder | FactoredEncoder) -> tuple[str, ...]:
    return _KEYS + _FACTORS if isinstance(encoder, FactoredEncoder) else _KEYS


def round_to_stored(encoder: Encoder | FactoredEncoder) -> Encoder | FactoredEncoder:
    """``encoder`` with its weights rounded as they are stored (float16), in place: evaluate this."""
    with torch.no_grad():
        for p in encoder.parameters():
            p.copy_(p.half().float())
    return encoder


def save_follow_encoder(encoder: Encoder | FactoredEncoder, ckpt_dir: str | Path, fingerprint: str, info: dict[str, Any]) -> Path:
    """Write the student's tensors (float16) and its JSON (``info`` + format, units, fingerprint)."""
    d = Path(ckpt_dir)
    state = encoder.state_dict()
    tensors = {k: state[k].detach().half().contiguous() for k in _keys(encoder)}
    arch = {"kind": "bilstm", "units": encoder.fw.hidden_size, "input_depth": encoder.fw.input_size,
            "z_size": encoder.mu.out_features}
    if isinstance(encoder, FactoredEncoder):
        arch.update(kind="factored-bilstm", rank=encoder.rank)
    meta = {**info, "format": FORMAT_TAG, "format_version": FORMAT, "fingerprint": fingerprint, "architecture": arch}
    with atomic_write(d / FOLLOW_FILE) as fh:
        fh.write(save(tensors))
    write_text_atomic(d / FOLLOW_JSON, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return d / FOLLOW_FILE


def load_follow_encoder(ckpt_dir: str | Path, fingerprint: str | None, teacher: GrooVAEConfig,
                        use_native: bool | None = None, native_weights: str | None = None) -> QuickEncoder:
    """The student stored in ``ckpt_dir`` for the teacher with weights ``fingerprint``;
    FollowEncoderError when it is missing, damaged or distilled from other weights."""
    d = Path(ckpt_dir)
    meta, t = read_sidecar(d, FOLLOW_FILE, FOLLOW_JSON, load_file, FollowEncoderError, "follow encoder",
                           f"no follow encoder in {d}")
    if meta.get("format") != FORMAT_TAG or meta.get("format_version") != FORMAT:
        raise FollowEncoderError(f"{d / FOLLOW_JSON}: not a GrooveBridge follow encoder (format {FORMAT})")
    if fingerprint is not None and meta.get("fingerprint") != fingerprint:
        raise FollowEncoderError(f"the follow encoder in {d} was distilled from other weights")
    arch = meta.get("architecture")
    arch = arch if isinstance(arch, dict) else {}
    units, rank, kind = arch.get("units"), arch.get("rank"), arch.get("kind")
    factored = kind == "factored-bilstm"
    if (not isinstance(units, int) or units < 1 or kind not in ("bilstm", "factored-bilstm")
            or (factored and not (isinstance(rank, int) and 0 < rank < units))
            or set(t) != set(_KEYS + _FACTORS if factored else _KEYS)):
        raise FollowEncoderError(f"{d / FOLLOW_FILE}: damaged (tensors or architecture)")
    try:
        enc: Encoder | FactoredEncoder
        if factored:
            enc = FactoredEncoder(teacher.input_depth, units, int(rank or 0), teacher.z_size)
            enc.load_state_dict({k: v.float() for k, v in t.items()})
        else:
            enc = new_student(teacher, units)
            enc.load_state_dict(t, strict=False)  # the untrained sigma head is not stored
    except (RuntimeError, ConfigError, ValueError) as e:
        raise FollowEncoderError(f"{d / FOLLOW_FILE}: does not fit {teacher.name}: {str(e).splitlines()[0]}") from None
    if not all(bool(torch.isfinite(v).all()) for v in t.values()):
        raise FollowEncoderError(f"{d / FOLLOW_FILE}: damaged (values not finite)")
    info = {k: v for k, v in meta.items() if k not in ("format", "format_version", "fingerprint")}
    return QuickEncoder(enc, info, use_native, native_weights)
