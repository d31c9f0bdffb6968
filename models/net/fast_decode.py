"""Fast GrooVAE inference: encoder means and autoregressive sampling with little per-step work.

``FastGrooVAE(model)`` copies a trained model's weights into an inference layout:
* encoder: forward and backward LSTMs merged into one bidirectional ``nn.LSTM`` (one oneDNN
  call runs both directions; its input projections are one matrix product over all steps);
  for one or two sequences on CPU, the native kernel (one thread per direction, int8 weights
  where the CPU has AVX2, see models.net.fast_kernel);
* decoder: z's share of layer 1's input projection (and the controls' share for every step)
  is computed once per batch; per step layer 1 multiplies only [y_{t-1}, h1] and every layer
  uses one concatenated [input | recurrent] weight (gates reordered to [i, f, o, g]); the
  whole step loop runs in TorchScript (no Python per step), or, for up to NATIVE_MAX_BATCH
  sequences on CPU (two at a time share each weight load), in the native C kernel of
  ``models.net.fast_kernel`` when a C compiler is available (one thread for small batches, see
  ``decode_threads``). The native kernels store the recurrent matrix-vector weights in int8
  (AVX2 / AVX-512 builds; integer products of int8 activations) or fp16 / fp32
  (``native_weights``, GROOVEBRIDGE_NATIVE_WEIGHTS): fp16 results equal the LSTMCell loop run
  with fp16-rounded weights (tests/models/net/test_fast_kernel.py), int8 results a torch
  emulation of its arithmetic (test_fast_kernel_int8.py); the torch paths (batches beyond the
  native kernels) use the same rounded matrices, so a z gives the same groove at any batch size
  (fp16: up to fp32 sum order; int8: up to the kernel's activation rounding, ~1 % of a gate sum).
* sampling: sigmoid(l / T) > u  <=>  l > T * logit(u), so thresholds for all steps are drawn
  up front and temperature 0 is the threshold 0 (sigmoid(l) > 0.5).

``reference_decode`` is the straightforward ``nn.LSTMCell`` loop the fast path must equal
(tests/models/test_generate.py, benchmarks/bench_inference.py).
"""

from __future__ import annotations

import os
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from models.net.fast_kernel import (
    NativeDecoder,
    NativeEncoder,
    load_kernel,
    round_as_stored_,
    stored,
)
from models.net.vae import GrooVAE, lstm_params

SMALL_BATCH = 2  # up to this batch size the transposed (matrix-vector) weight layout is faster
NATIVE_MAX_BATCH = 16  # the native decode kernel (models.net.fast_kernel) is used up to this batch
NATIVE_THREADED_MIN_BATCH = 8  # from this batch on it uses torch's thread count (see decode_threads)
NATIVE_ENCODE_MAX_BATCH = 2  # and the native encoder up to this batch (oneDNN wins above)


def native_threads() -> int:
    """Threads for the native kernels: torch's setting, at most the CPU count (and 4)."""
    return max(1, min(torch.get_num_threads(), os.cpu_count() or 1, 4))


def decode_threads() -> int:
    """Threads of the native single-sequence decoder: 1 unless GROOVEBRIDGE_NATIVE_THREADS=N.

    Its threads meet at a spin barrier twice a step (128 times a groove), so a thread that the
    OS deschedules stalls the others: on this shared 2-core machine 2 threads measured 1.3-4x
    slower than 1 in every run here (other processes were always running; see
    benchmarks/bench_inference.py), and one thread already decodes a groove in ~2 ms while
    leaving a core to the live scheduler. Batches of NATIVE_THREADED_MIN_BATCH or more carry
    enough work per step to gain from torch's thread count (16 grooves: 20 vs 27 ms measured
    with 2 vs 1 thread on the busy machine). The encoder's threads never wait: ``encode_threads``."""
    env = os.environ.get("GROOVEBRIDGE_NATIVE_THREADS", "")
    return max(1, int(env)) if env.isdigit() else 1


def encode_threads() -> int:
    """Threads of the native encoder (one per direction, at most 2 used): torch's thread count
    (``native_threads``; 1 in the engine) unless GROOVEBRIDGE_NATIVE_ENCODE_THREADS=N. Its
    threads never wait for each other (and the results do not depend on the count), but a
    second one competes with the playback threads for the other core. Measured in the engine
    over JACK (benchmarks/bench_follow.py, 174 BPM, int8, the full encoder): session 16, 30 s,
    1.0-1.7 of the 2 cores busy with other processes: 22.1 -> 19.4 ms per bar with 2 threads
    (12.6 vs 13.0 with the model calls at SCHED_FIFO); session 18, quiet machine, 60 s runs
    paired: 1 thread 10.4-10.7 ms, 2 threads 10.1-10.9 ms (the generation thread's CPU 9.3 ->
    7.5 ms, but the second direction, on the core JACK and the other clients use, ends as late;
    one 5-minute pair 10.4 vs 9.7), jitter p99 alike: no clear gain, so the default stays."""
    env = os.environ.get("GROOVEBRIDGE_NATIVE_ENCODE_THREADS", "")
    return max(1, int(env)) if env.isdigit() else native_threads()


RAW = (1.0, 1.0)  # hit-probability floors that leave velocities and offsets as written
GIVEN_HIT = (1e-6, 1e-6)  # velocities and offsets given a hit (sampling, reconstruction)
GIVEN_FORCED_HIT = (1e-6, 1.0)  # hits forced from outside (humanize): velocities given a hit, raw offsets


def conditional_outputs(y: torch.Tensor, hit_logits: torch.Tensor, floors: tuple[float, float]) -> torch.Tensor:
    """Velocities and offsets of one step's output ``y`` (B, 27) as their expectation given a hit.

    GrooVAE's loss (Magenta's) regresses velocity and offset of every cell, silent ones included
    (target 0), so the trained outputs estimate E[v * hit] = p * E[v | hit], with p the hit
    probability sigmoid(hit logit) at temperature 1: an uncertain hit comes out too soft and too
    tight. Dividing by p gives E[v | hit] (clipped to the valid range); ``floors`` (velocity,
    offset) bound the division, 1.0 = the raw output. Only the written output changes; the
    decoder's next input stays the raw ``y`` it was trained on. Measured on the GMD test split
    (MODEL_CARD.md), this moves the velocity-mean realism overlap of samples from ~0.3 to ~0.8
    and lowers velocity error. For hits forced from outside (humanize) p can be tiny, and
    dividing offsets by it turns noise into timing errors, hence ``GIVEN_FORCED_HIT``."""
    p = torch.sigmoid(hit_logits)
    vel = torch.clamp(y[:, 9:18] / p.clamp_min(floors[0]), max=1.0)
    off = torch.clamp(y[:, 18:27] / p.clamp_min(floors[1]), -1.0, 1.0)
    return torch.cat([y[:, :9], vel, off], 1)


def _decode_loop(
    zp: torch.Tensor,  # (B, 4H1) z share of layer-1 gates + biases
    cp: torch.Tensor,  # (T, B, 4H1) controls share, or empty
    states: list[torch.Tensor],  # [h1, c1, h2, c2, ...] each (B, H)
    weights: list[torch.Tensor],  # per layer (in + H, 4H)
    biases: list[torch.Tensor],  # per layer (4H,) (layer 0 unused: in zp)
    w_out: torch.Tensor,  # (H_last, 27)
    b_out: torch.Tensor,  # (27,)
    thresholds: torch.Tensor,  # (T, B, 9) logit thresholds for hits
    floors: tuple[float, float] = (1.0, 1.0),  # see conditional_outputs; (1, 1) = raw
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
        ys.append(y if floors[0] >= 1.0 and floors[1] >= 1.0 else conditional_outputs(y, lo[:, :9], floors))
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

    def __init__(self, model: GrooVAE, use_native: bool | None = None, native_weights: str | None = None) -> None:
        """``use_native``: None or True = use the native kernels for single sequences (and small
        batches) when a C compiler is available; False = never (TorchScript / oneDNN).
        ``native_weights``: "fp16" / "fp32" / "int8" weight storage in the native kernels (None:
        see models.net.fast_kernel.default_weights)."""
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
            for li, lstm in enumerate(dec.lstms):
                h = lstm.hidden_size
                p_ih, p_hh, b_ih, b_hh = lstm_params(lstm)
                w_ih = _ifog(p_ih.detach(), h)
                w_hh = _ifog(p_hh.detach(), h)
                bias = _ifog((b_ih + b_hh).detach(), h)
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
        self.native_encoder: NativeEncoder | None = None
        if dev.type == "cpu" and use_native is not False:
            dll = load_kernel()
            if dll is not None:
                with torch.no_grad():
                    self.native = NativeDecoder(
                        dll, self.w_rows, self.biases, self.w_z, self.w_c, self.init_w.t(), self.init_b,
                        self.w_out_rows, self.b_out, native_weights,
                    )
                    self.native_encoder = NativeEncoder(
                        dll, [(p[0].detach(), p[1].detach(), (p[2] + p[3]).detach())
                              for p in (lstm_params(enc.fw), lstm_params(enc.bw))],
                        native_weights,
                    )
                    if self.native.weights != "fp32":
                        # the torch paths (batches) use the same rounded matrices, so a z decodes
                        # to the same groove alone or in a batch (up to fp32 rounding; int8: up to
                        # the kernel's activation rounding); cols are views of rows
                        for li, w in [*enumerate(self.w_rows), *enumerate(self.w_cols)]:  # (in + H, 4H)
                            w.copy_(stored(w, self.native.weights, split=w.shape[0] - self.sizes[li]))
                        round_as_stored_(self.enc_lstm, ("weight_hh_l0", "weight_hh_l0_reverse"), self.native.weights)
        self.native_for_single = self.native is not None
        self.decode_threads = decode_threads()

    @torch.inference_mode()
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder input (B, T, D) (transform already applied) -> (mu, sigma) each (B, Z)."""
        if self.native_encoder is not None and self.native_for_single and x.shape[0] <= NATIVE_ENCODE_MAX_BATCH:
            summary = self.native_encoder.final_states(x.float().contiguous(), encode_threads())
        else:
            _, (h_n, _) = self.enc_lstm(x)
            summary = torch.cat([h_n[0], h_n[1]], dim=-1)
        if summary.shape[0] <= NATIVE_ENCODE_MAX_BATCH:  # row by row: same result at any batch size
            rows = [(F.linear(s, self.mu_w, self.mu_b), F.linear(s, self.sg_w, self.sg_b)) for s in summary.split(1)]
            mu, pre_sigma = torch.cat([r[0] for r in rows]), torch.cat([r[1] for r in rows])
        else:
            mu, pre_sigma = F.linear(summary, self.mu_w, self.mu_b), F.linear(summary, self.sg_w, self.sg_b)
        return mu, F.softplus(pre_sigma)

    @torch.inference_mode()
    def decode(
        self,
        z: torch.Tensor,  # (B, Z)
        thresholds: torch.Tensor,  # (T, B, 9): hit where logit > threshold
        controls: torch.Tensor | None = None,  # (B, T, C)
        floors: tuple[float, float] = RAW,
    ) -> torch.Tensor:
        """Sampled outputs (B, T, 27): hits in {0, 1}, sigmoid velocities, tanh offsets
        (``floors``: velocities/offsets given a hit, see ``conditional_outputs``)."""
        b = z.shape[0]
        if self.native is not None and self.native_for_single and b <= NATIVE_MAX_BATCH:
            threads = self.decode_threads if b < NATIVE_THREADED_MIN_BATCH else native_threads()
            return self.native.decode(z.float().contiguous(), thresholds, controls, threads, floors)
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
        small = b <= SMALL_BATCH
        weights = self.w_cols if small else self.w_rows
        w_out = self.w_out_cols if small else self.w_out_rows
        return _decode_loop(zp, cp, states, weights, self.biases, w_out, self.b_out, thresholds, floors)


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
    floors: tuple[float, float] = RAW,
) -> torch.Tensor:
    """The straightforward decoder: one ``nn.LSTMCell`` per layer, input [y, z, c] per step."""
    dec = model.decoder
    cells = []
    for lstm in dec.lstms:
        cell = nn.LSTMCell(lstm.input_size, lstm.hidden_size).to(z.device)
        for dst, src in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), lstm_params(lstm), strict=True):
            dst.copy_(src)
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
        outs.append(conditional_outputs(y, lo[:, :9], floors))
    return torch.stack(outs, 1)
