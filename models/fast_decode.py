"""Fast GrooVAE inference: encoder means and autoregressive sampling with little per-step work.

``FastGrooVAE(model)`` copies a trained model's weights into an inference layout:
* encoder: forward and backward LSTMs merged into one bidirectional ``nn.LSTM`` (one oneDNN
  call runs both directions; its input projections are one matrix product over all steps);
* decoder: z's share of layer 1's input projection (and the controls' share for every step)
  is computed once per batch; per step layer 1 multiplies only [y_{t-1}, h1] and every layer
  uses one concatenated [input | recurrent] weight (gates reordered to [i, f, o, g]); the
  whole step loop runs in TorchScript (no Python per step), or, for a single sequence on
  CPU, in the native C kernel of ``models.fast_kernel`` when a C compiler is available and
  a short measurement at construction finds it faster on this machine.
* sampling: sigmoid(l / T) > u  <=>  l > T * logit(u), so thresholds for all steps are drawn
  up front and temperature 0 is the threshold 0 (sigmoid(l) > 0.5).

``reference_decode`` is the straightforward ``nn.LSTMCell`` loop the fast path must equal
(tests/models/test_generate.py, benchmarks/bench_inference.py).
"""

from __future__ import annotations

import os
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from models.fast_kernel import NativeDecoder, load_kernel
from models.vae import GrooVAE

SMALL_BATCH = 2  # up to this batch size the transposed (matrix-vector) weight layout is faster
NATIVE_MAX_BATCH = 1  # the native kernel (models.fast_kernel) is used for single sequences


def _decode_loop(
    zp: torch.Tensor,  # (B, 4H1) z share of layer-1 gates + biases
    cp: torch.Tensor,  # (T, B, 4H1) controls share, or empty
    states: list[torch.Tensor],  # [h1, c1, h2, c2, ...] each (B, H)
    weights: list[torch.Tensor],  # per layer (in + H, 4H)
    biases: list[torch.Tensor],  # per layer (4H,) (layer 0 unused: in zp)
    w_out: torch.Tensor,  # (H_last, 27)
    b_out: torch.Tensor,  # (27,)
    thresholds: torch.Tensor,  # (T, B, 9) logit thresholds for hits
) -> torch.Tensor:
    b = zp.shape[0]
    num_layers = len(weights)
    y = torch.zeros(b, 27, dtype=zp.dtype, device=zp.device)
    use_controls = cp.numel() > 0
    cps = cp.unbind(0) if use_controls else [zp]
    ys: list[torch.Tensor] = []
    for t, th in enumerate(thresholds.unbind(0)):
        x = y
        for li in range(num_layers):
            h = states[2 * li]
            c = states[2 * li + 1]
            if li == 0:
                bias = zp + cps[t] if use_controls else zp
            else:
                bias = biases[li]
            g = torch.addmm(bias, torch.cat([x, h], 1), weights[li])
            i, f, o, gg = torch.sigmoid(g).chunk(4, 1)  # gg's sigmoid is unused: one op is cheaper
            c = torch.addcmul(f * c, i, torch.tanh(g[:, 3 * h.shape[1] :]))
            h = o * torch.tanh(c)
            states[2 * li] = h
            states[2 * li + 1] = c
            x = h
        lo = torch.addmm(b_out, x, w_out)
        y = torch.cat([(lo[:, :9] > th).to(lo.dtype), torch.sigmoid(lo[:, 9:18]), torch.tanh(lo[:, 18:])], 1)
        ys.append(y)
    out = torch.stack(ys, 1)
    return out


with warnings.catch_warnings():  # TorchScript is deprecated upstream but still the fastest here
    warnings.simplefilter("ignore", DeprecationWarning)
    _decode_loop = torch.jit.script(_decode_loop)


def _ifog(w: torch.Tensor, h: int) -> torch.Tensor:
    """Reorder torch's gate blocks (i, f, g, o) along dim 0 to (i, f, o, g)."""
    return torch.cat([w[: 2 * h], w[3 * h : 4 * h], w[2 * h : 3 * h]], 0)


class FastGrooVAE:
    """Inference-only view of a GrooVAE (see the module docstring). Not an nn.Module."""

    def __init__(self, model: GrooVAE, use_native: bool | None = None) -> None:
        """``use_native``: None = use the native kernel for single sequences when it is available
        and measured faster here; True = whenever available; False = never (TorchScript)."""
        cfg = model.config
        self.config = cfg
        dev = next(model.parameters()).device
        self.device = dev
        with torch.no_grad():
            enc = model.encoder
            bi = nn.LSTM(cfg.input_depth, cfg.enc_rnn_size[0], batch_first=True, bidirectional=True)
            for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                getattr(bi, name).copy_(getattr(enc.fw, name))
                getattr(bi, name + "_reverse").copy_(getattr(enc.bw, name))
            self.enc_lstm = bi.to(dev).eval()
            self.mu_w, self.mu_b = enc.mu.weight.detach().clone(), enc.mu.bias.detach().clone()
            self.sg_w, self.sg_b = enc.sigma.weight.detach().clone(), enc.sigma.bias.detach().clone()
            dec = model.decoder
            self.init_w = dec.z_to_initial_state.weight.detach().clone()
            self.init_b = dec.z_to_initial_state.bias.detach().clone()
            self.sizes = dec.sizes
            od, zs = cfg.output_depth, cfg.z_size
            rows: list[torch.Tensor] = []  # per layer (4H, in + H), gates (i, f, o, g)
            biases: list[torch.Tensor] = []
            for li, lstm in enumerate(dec.layers):
                h = lstm.hidden_size
                w_ih = _ifog(lstm.weight_ih_l0.detach(), h)
                w_hh = _ifog(lstm.weight_hh_l0.detach(), h)
                bias = _ifog((lstm.bias_ih_l0 + lstm.bias_hh_l0).detach(), h)
                if li == 0:
                    self.w_z = w_ih[:, od : od + zs].t().contiguous()  # (Z, 4H)
                    self.w_c = w_ih[:, od + zs :].t().contiguous()  # (C, 4H)
                    w_ih = w_ih[:, :od]
                rows.append(torch.cat([w_ih, w_hh], 1).contiguous())
                biases.append(bias.contiguous())
            self.biases = biases
            # Two layouts of the same weights: (in, 4H) contiguous is faster for batches,
            # a transposed view of (4H, in) for one or two sequences (matrix-vector products).
            self.w_rows = [w.t().contiguous() for w in rows]
            self.w_cols = [w.t() for w in rows]
            wo = dec.output_projection.weight.detach()
            self.w_out_rows = wo.t().contiguous()
            self.w_out_cols = wo.clone().t()
            self.b_out = dec.output_projection.bias.detach().clone()
        self.native: NativeDecoder | None = None
        if dev.type == "cpu" and use_native is not False:
            dll = load_kernel()
            if dll is not None:
                self.native = NativeDecoder(
                    dll, [w.numpy() for w in self.w_rows], [b.numpy() for b in self.biases],
                    self.w_out_rows.numpy(), self.b_out.numpy(),
                )
        self.native_for_single = self.native is not None
        if self.native is not None and use_native is None:
            self.native_for_single = self._native_is_faster()

    def _native_is_faster(self) -> bool:
        """Time both single-sequence paths a few times (~0.1 s) and keep the faster."""
        z = torch.zeros(1, self.config.z_size)
        th = torch.zeros(self.config.num_steps, 1, 9)

        def best_sec(native: bool) -> float:
            self.native_for_single = native
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                self.decode(z, th)
                times.append(time.perf_counter() - t0)
            return min(times[1:])

        return best_sec(True) <= best_sec(False)

    @torch.inference_mode()
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder input (B, T, D) (transform already applied) -> (mu, sigma) each (B, Z)."""
        _, (h_n, _) = self.enc_lstm(x)
        summary = torch.cat([h_n[0], h_n[1]], dim=-1)
        return F.linear(summary, self.mu_w, self.mu_b), F.softplus(F.linear(summary, self.sg_w, self.sg_b))

    @torch.inference_mode()
    def decode(
        self,
        z: torch.Tensor,  # (B, Z)
        thresholds: torch.Tensor,  # (T, B, 9): hit where logit > threshold
        controls: torch.Tensor | None = None,  # (B, T, C)
    ) -> torch.Tensor:
        """Sampled outputs (B, T, 27): hits in {0, 1}, sigmoid velocities, tanh offsets."""
        b = z.shape[0]
        s = torch.tanh(F.linear(z, self.init_w, self.init_b))
        states: list[torch.Tensor] = []
        i = 0
        for h in self.sizes:
            states += [s[:, i + h : i + 2 * h].contiguous(), s[:, i : i + h].contiguous()]  # h, c
            i += 2 * h
        zp = torch.addmm(self.biases[0], z, self.w_z)
        if controls is not None and controls.shape[-1]:
            cp = torch.matmul(controls.transpose(0, 1), self.w_c).contiguous()  # (T, B, 4H)
        else:
            cp = zp.new_empty(0)
        if self.native is not None and self.native_for_single and b <= NATIVE_MAX_BATCH:
            threads = max(1, min(torch.get_num_threads(), os.cpu_count() or 1, 4))
            out = self.native.decode(
                zp.numpy(), cp.numpy() if cp.numel() else None, [x.numpy() for x in states[0::2]],
                [x.numpy() for x in states[1::2]], thresholds.numpy(), threads,
            )
            return torch.from_numpy(out)
        small = b <= SMALL_BATCH
        weights = self.w_cols if small else self.w_rows
        w_out = self.w_out_cols if small else self.w_out_rows
        return _decode_loop(zp, cp, states, weights, self.biases, w_out, self.b_out, thresholds)


def hit_thresholds(uniform: torch.Tensor, temperature: float) -> torch.Tensor:
    """Logit thresholds equivalent to ``sigmoid(l / T) > u`` (T > 0) or ``sigmoid(l) > 0.5``."""
    if temperature <= 0:
        return torch.zeros_like(uniform)
    return temperature * torch.logit(uniform)


@torch.inference_mode()
def reference_decode(
    model: GrooVAE,
    z: torch.Tensor,  # (B, Z)
    temperature: float,
    uniform: torch.Tensor,  # (T, B, 9) in [0, 1)
    controls: torch.Tensor | None = None,  # (B, T, C)
) -> torch.Tensor:
    """The straightforward decoder: one ``nn.LSTMCell`` per layer, input [y, z, c] per step."""
    dec = model.decoder
    cells = []
    for lstm in dec.layers:
        cell = nn.LSTMCell(lstm.input_size, lstm.hidden_size).to(z.device)
        cell.weight_ih.copy_(lstm.weight_ih_l0)
        cell.weight_hh.copy_(lstm.weight_hh_l0)
        cell.bias_ih.copy_(lstm.bias_ih_l0)
        cell.bias_hh.copy_(lstm.bias_hh_l0)
        cells.append(cell)
    state = [(h.clone(), c.clone()) for h, c in dec.initial_state(z)]
    b = z.shape[0]
    y = z.new_zeros(b, 27)
    outs = []
    for t in range(uniform.shape[0]):
        parts = [y, z] + ([controls[:, t]] if controls is not None else [])
        x = torch.cat(parts, -1)
        for li, cell in enumerate(cells):
            state[li] = cell(x, state[li])
            x = state[li][0]
        lo = dec.output_projection(x)
        if temperature <= 0:
            hits = (torch.sigmoid(lo[:, :9]) > 0.5).to(lo.dtype)
        else:
            hits = (torch.sigmoid(lo[:, :9] / temperature) > uniform[t]).to(lo.dtype)
        y = torch.cat([hits, torch.sigmoid(lo[:, 9:18]), torch.tanh(lo[:, 18:])], -1)
        outs.append(y)
    return torch.stack(outs, 1)
