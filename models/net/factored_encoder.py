"""The follow encoder with factored recurrent weights: the teacher's encoder, W_hh = U V.

Why: the default's encoder (bi-LSTM, 512 units per direction) spends its time streaming the
recurrent matrix W_hh (2,048 x 512, 1 MB in int8) once per step and direction, more than a
core's L2. Its singular values fall slowly (rank 128 holds 73 % of the energy), but a rank-r
factorisation started from the truncated SVD and then distilled on the teacher's means gets
back most of what truncation loses, with every other weight (input projection, biases, mean
head) starting as the teacher's: a student that begins near its teacher, unlike a smaller
LSTM trained from scratch (models/pretrained/MODEL_CARD.md, "Follow encoder").

Per step and direction: p = V h (r x 512), gates = W_ih x + b + U p (2,048 x r): at r = 128
0.33 M weights instead of 1.05 M, 320 KB in int8, which stays in L2. This is exactly an LSTM
with a recurrent projection (torch's ``nn.LSTM(proj_size=r)``: ``weight_hr_l0`` = V,
``weight_hh_l0`` = U) except at the end: the mean head reads the full h of the last step
(as the teacher's does), which LSTMP's output (V h) hides, so the last step is run here.
The native kernel (``gb_encode`` with a rank, models/net/fast_kernel_encoder_src.py) runs the same.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from models.net.vae import Encoder, lstm_params

# torch says so on every LSTMP call on the CPU: known (the native kernel is the fast path)
warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN", category=UserWarning)


class FactoredEncoder(nn.Module):
    """Bidirectional single-layer LSTM encoder with W_hh = U V per direction and a mean head."""

    def __init__(self, input_depth: int, units: int, rank: int, z_size: int) -> None:
        super().__init__()
        if not 0 < rank < units:
            raise ValueError(f"rank {rank}: between 1 and units - 1 ({units - 1})")
        self.fw = nn.LSTM(input_depth, units, batch_first=True, proj_size=rank)
        self.bw = nn.LSTM(input_depth, units, batch_first=True, proj_size=rank)
        self.mu = nn.Linear(2 * units, z_size)

    @property
    def units(self) -> int:
        return int(self.fw.hidden_size)

    @property
    def rank(self) -> int:
        return int(self.fw.proj_size)

    @classmethod
    def from_teacher(cls, teacher: Encoder, rank: int) -> FactoredEncoder:
        """The teacher's weights with each W_hh replaced by its rank-``rank`` truncated SVD."""
        units = teacher.fw.hidden_size
        enc = cls(teacher.fw.input_size, units, rank, teacher.mu.out_features)
        with torch.no_grad():
            for dst, src in ((enc.fw, teacher.fw), (enc.bw, teacher.bw)):
                w_ih, w_hh, b_ih, b_hh = lstm_params(src)
                u, s, vh = torch.linalg.svd(w_hh.detach().double(), full_matrices=False)
                d_ih, d_u, d_bih, d_bhh = lstm_params(dst)
                d_u.copy_((u[:, :rank] * s[:rank]).float())
                dst.get_parameter("weight_hr_l0").copy_(vh[:rank].float())
                d_ih.copy_(w_ih)
                d_bih.copy_(b_ih)
                d_bhh.copy_(b_hh)
            enc.mu.load_state_dict(copy.deepcopy(teacher.mu.state_dict()))
        return enc

    @staticmethod
    def _final_h(lstm: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
        """The full h (B, units) after the last step of x (B, T, D)."""
        b = x.shape[0]
        if x.shape[1] > 1:
            _, (p, c) = lstm(x[:, :-1])
            p, c = p[0], c[0]
        else:
            p, c = x.new_zeros(b, lstm.proj_size), x.new_zeros(b, lstm.hidden_size)
        w_ih, u, b_ih, b_hh = lstm_params(lstm)
        gates = x[:, -1] @ w_ih.T + b_ih + b_hh + p @ u.T
        i, f, g, o = gates.chunk(4, -1)  # torch's gate order
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c)

    def summary(self, x: torch.Tensor) -> torch.Tensor:
        """[h_fw(T-1), h_bw(0)] (B, 2 units): the backward direction runs over x reversed."""
        return torch.cat([self._final_h(self.fw, x), self._final_h(self.bw, x.flip(1))], -1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        """x (B, T, D) -> (mu (B, Z), None): the distillation scripts' (mu, sigma) shape; no sigma."""
        return self.mu(self.summary(x)), None

    def directions(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per direction (w_ih (4H, D), U (4H, r), V (r, H), bias (4H,)), torch's gate order."""
        out = []
        for d in (self.fw, self.bw):
            w_ih, u, b_ih, b_hh = lstm_params(d)
            out.append((w_ih.detach(), u.detach(), d.get_parameter("weight_hr_l0").detach(), (b_ih + b_hh).detach()))
        return out
