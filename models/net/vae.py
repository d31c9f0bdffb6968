"""GrooVAE network (reference section 2.1): bidirectional LSTM encoder, z, 2-layer LSTM decoder.

Shapes: target (B, T, 27) = [hits | velocities | offsets]; controls (B, T, 9) for hits-control.
* Encoder: separate forward and backward single-layer LSTMs (the backward one runs over the
  time-reversed input), summary = [h_fw(T-1), h_bw(0)] (B, 2*enc) -> mu, sigma = softplus(.).
* Decoder: initial states tanh(Dense(z)) split [c1, h1, c2, h2, ...]; step t reads
  [y_{t-1} (zeros at t=0), z, c_t]; teacher forcing on the target during training.
* Optional word dropout (``decoder_input_dropout``, not in Magenta): whole y_{t-1} inputs
  zeroed at random during training.
* Input dropout (keep ``dropout_keep_prob``) on every LSTM layer's input, a fresh mask per
  element and time step, training only (Magenta's DropoutWrapper on the cell input).

Parameter names are a contract with ``models.magenta.importer`` (docs/interfaces.md). The LSTM
forget-gate bias +1 of TF's LSTMBlockCell is folded into ``bias_ih`` (as the importer does).
"""

from __future__ import annotations

import math
from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import nn

from models.net.config import GrooVAEConfig
from models.net.transforms import encoder_inputs


def lstm_params(lstm: nn.LSTM) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A one-layer LSTM's (weight_ih, weight_hh, bias_ih, bias_hh), typed."""
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    w_ih, w_hh, b_ih, b_hh = (lstm.get_parameter(n) for n in names)
    return w_ih, w_hh, b_ih, b_hh

class VAEOutput(NamedTuple):
    logits: torch.Tensor  # (B, T, 27) raw decoder outputs
    mu: torch.Tensor  # (B, Z)
    sigma: torch.Tensor  # (B, Z)
    z: torch.Tensor  # (B, Z)


def input_dropout(
    x: torch.Tensor, keep_prob: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Inverted dropout with an independent mask per element (per time step)."""
    if keep_prob >= 1.0:
        return x
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    if x.dtype in (torch.float32, torch.float64):
        # mask * (1 / keep) in place in the uniform buffer: one product over x instead of two
        # and no extra temporaries; x * (m * s) == (x * m) * s bit for bit (m is 0 or 1, s is
        # exact in x's precision as a Python scalar would be)
        return x * u.lt_(keep_prob).mul_(1.0 / keep_prob)
    return x * (u < keep_prob).to(x.dtype) * (1.0 / keep_prob)


def _glorot_(t: torch.Tensor, fan_in: int, fan_out: int) -> None:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(t, -limit, limit)


def init_lstm_tf_(lstm: nn.LSTM) -> None:
    """TF LSTMBlockCell init: glorot-uniform over the joint [(D+H), 4H] kernel, zero bias,
    forget bias +1 folded into bias_ih (torch gate order i, f, g, o)."""
    d, h = lstm.input_size, lstm.hidden_size
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if name.startswith("weight"):
                _glorot_(p, d + h, 4 * h)
            else:
                p.zero_()
                if name.startswith("bias_ih"):
                    p[h : 2 * h] = 1.0


def init_dense_tf_(layer: nn.Linear, stddev: float | None = None) -> None:
    if layer.weight.is_meta:
        return  # shapes only (checkpoint checks): no values to draw, and drawing normal_ on the
        # meta device imports torch._dynamo (~1.1 s of every model load)
    with torch.no_grad():
        if stddev is None:
            _glorot_(layer.weight, layer.in_features, layer.out_features)
        else:
            nn.init.normal_(layer.weight, 0.0, stddev)
        layer.bias.zero_()


class Encoder(nn.Module):
    def __init__(self, config: GrooVAEConfig) -> None:
        super().__init__()
        d, h = config.input_depth, config.enc_rnn_size[0]
        self.fw = nn.LSTM(d, h, batch_first=True)
        self.bw = nn.LSTM(d, h, batch_first=True)
        self.mu = nn.Linear(2 * h, config.z_size)
        self.sigma = nn.Linear(2 * h, config.z_size)
        self.keep_prob = config.dropout_keep_prob
        for lstm in (self.fw, self.bw):
            init_lstm_tf_(lstm)
        init_dense_tf_(self.mu, 0.001)
        init_dense_tf_(self.sigma, 0.001)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D) -> (mu, sigma) each (B, Z)."""
        keep = self.keep_prob if self.training else 1.0
        _, (h_fw, _) = self.fw(input_dropout(x, keep, generator))
        _, (h_bw, _) = self.bw(input_dropout(x.flip(1), keep, generator))
        summary = torch.cat([h_fw[-1], h_bw[-1]], dim=-1)  # (B, 2H)
        return self.mu(summary), F.softplus(self.sigma(summary))


class Decoder(nn.Module):
    def __init__(self, config: GrooVAEConfig) -> None:
        super().__init__()
        sizes = config.dec_rnn_size
        self.sizes = tuple(sizes)
        self.output_depth = config.output_depth
        self.keep_prob = config.dropout_keep_prob
        self.prev_dropout = config.decoder_input_dropout
        self.z_to_initial_state = nn.Linear(config.z_size, 2 * sum(sizes))
        in_sizes = [config.output_depth + config.z_size + config.control_depth, *sizes[:-1]]
        self.layers = nn.ModuleList(nn.LSTM(i, h, batch_first=True) for i, h in zip(in_sizes, sizes, strict=True))
        self.output_projection = nn.Linear(sizes[-1], config.output_depth)
        init_dense_tf_(self.z_to_initial_state, 0.001)
        init_dense_tf_(self.output_projection)
        for lstm in self.lstms:
            init_lstm_tf_(lstm)

    @property
    def lstms(self) -> list[nn.LSTM]:
        """The decoder's LSTM layers, typed (``layers`` is the ModuleList the weights live in)."""
        return [cast(nn.LSTM, m) for m in self.layers]

    def initial_state(self, z: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """[(h, c)] per layer, each (B, H), from tanh(Dense(z)) split [c1, h1, c2, h2, ...]."""
        s = torch.tanh(self.z_to_initial_state(z))
        out, i = [], 0
        for h in self.sizes:
            c_, h_ = s[:, i : i + h], s[:, i + h : i + 2 * h]
            out.append((h_, c_))
            i += 2 * h
        return out

    def forward(
        self,
        target: torch.Tensor,  # (B, T, 27)
        z: torch.Tensor,  # (B, Z)
        controls: torch.Tensor | None = None,  # (B, T, C)
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Teacher-forced logits (B, T, 27)."""
        b, t, _ = target.shape
        prev = torch.cat([target.new_zeros(b, 1, self.output_depth), target[:, :-1]], dim=1)
        if self.training and self.prev_dropout > 0.0:
            u = torch.rand((b, t, 1), generator=generator, device=prev.device, dtype=prev.dtype)
            prev = prev * (u >= self.prev_dropout).to(prev.dtype)
        parts = [prev, z.unsqueeze(1).expand(b, t, z.shape[-1])]
        if controls is not None:
            parts.append(controls)
        x = torch.cat(parts, dim=-1)
        keep = self.keep_prob if self.training else 1.0
        for lstm, (h0, c0) in zip(self.layers, self.initial_state(z), strict=True):
            x, _ = lstm(input_dropout(x, keep, generator), (h0.unsqueeze(0).contiguous(), c0.unsqueeze(0).contiguous()))
        return self.output_projection(x)


class GrooVAE(nn.Module):
    def __init__(self, config: GrooVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def encode(
        self, target: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(mu, sigma, controls) of a batch of performances; the config's transform applied."""
        x, controls = encoder_inputs(self.config, target, self.training, generator)
        mu, sigma = self.encoder(x, generator)
        return mu, sigma, controls

    def forward(
        self, target: torch.Tensor, generator: torch.Generator | None = None
    ) -> VAEOutput:
        """Encode, sample z = mu + sigma * eps, decode with teacher forcing."""
        mu, sigma, controls = self.encode(target, generator)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + sigma * eps
        logits = self.decoder(target, z, controls, generator)
        return VAEOutput(logits, mu, sigma, z)
