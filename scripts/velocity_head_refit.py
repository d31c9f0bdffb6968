"""Experiment: refit the default model's velocity and offset outputs on held-out windows.

    python scripts/velocity_head_refit.py --loss l1     # absolute error: the median given a hit
    python scripts/velocity_head_refit.py --loss l2     # squared error on hit cells only

The question (MODEL_CARD.md, "What would close the gap"): is the velocity / timing error of the
shipped default a matter of its output layer (Magenta's loss regresses the mean of every cell,
silent ones included, and the evaluation scores absolute error on hits), or of what the decoder
knows? The script decodes the ``--fit_split`` windows as ``groovebridge evaluate`` does (encoder
mean, hits thresholded at 0.5, free-running), keeps the decoder's last hidden state at every
step, fits a new velocity/offset projection on the true hit cells (starting from the shipped
one; the hits and the decoder's next input stay the network's own), then reconstructs the test
split with the written velocities and offsets taken from the new projection and prints both
reports. Session 13 (validation fit, 800 full-batch Adam steps): see MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.data.io import load_windows  # noqa: E402
from models.generate import load_model  # noqa: E402
from models.metrics import reconstruction_by_class, reconstruction_scores  # noqa: E402
from models.net.fast_decode import GIVEN_HIT, conditional_outputs  # noqa: E402

K = 9


@torch.inference_mode()
def reconstruct(net, target: np.ndarray, head=None, batch: int = 256):
    """(outputs (N, T, 27), decoder hidden states (N, T, H)) of free-running decodes from mu."""
    dec = net.decoder
    cells = []
    for lstm in dec.layers:
        cell = nn.LSTMCell(lstm.input_size, lstm.hidden_size)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(lstm, name + "_l0"))
        cells.append(cell)
    outs, feats = [], []
    for i in range(0, len(target), batch):
        x = torch.from_numpy(target[i : i + batch])
        z, _, _ = net.encode(x)
        state = [(h.clone(), c.clone()) for h, c in dec.initial_state(z)]
        y = z.new_zeros(len(x), 27)
        steps, hs = [], []
        for _ in range(x.shape[1]):
            inp = torch.cat([y, z], -1)
            for li, cell in enumerate(cells):
                state[li] = cell(inp, state[li])
                inp = state[li][0]
            lo = dec.output_projection(inp)
            hits = (lo[:, :K] > 0).float()
            y = torch.cat([hits, torch.sigmoid(lo[:, K : 2 * K]), torch.tanh(lo[:, 2 * K :])], -1)
            if head is None:
                steps.append(conditional_outputs(y, lo[:, :K], GIVEN_HIT))
            else:
                vo = nn.functional.linear(inp, *head)
                steps.append(torch.cat([hits, torch.sigmoid(vo[:, :K]), torch.tanh(vo[:, K:])], -1))
            hs.append(inp)
        outs.append(torch.stack(steps, 1))
        feats.append(torch.stack(hs, 1))
    return torch.cat(outs).numpy(), torch.cat(feats)


def fit_head(net, feats: torch.Tensor, target: np.ndarray, loss: str, steps: int):
    """A new (weight (18, H), bias (18,)) for velocities and offsets, fit on true hit cells."""
    proj = net.decoder.output_projection
    w = proj.weight[K:].detach().clone().requires_grad_(True)
    b = proj.bias[K:].detach().clone().requires_grad_(True)
    t = torch.from_numpy(target)
    n, s, cls = (t[..., :K] > 0.5).nonzero().unbind(1)
    fx, tv, to = feats[n, s], t[n, s, K + cls], t[n, s, 2 * K + cls]
    opt = torch.optim.Adam([w, b], lr=3e-3)
    for i in range(steps):
        lo = torch.addmm(b, fx, w.t())  # (M, 18); each cell reads its class's two columns
        ev = torch.sigmoid(lo.gather(1, cls[:, None])[:, 0]) - tv
        eo = torch.tanh(lo.gather(1, K + cls[:, None])[:, 0]) - to
        err = ev.abs().mean() + eo.abs().mean() if loss == "l1" else (ev**2).mean() + (eo**2).mean()
        opt.zero_grad()
        err.backward()
        opt.step()
        if i % 100 == 0 or i == steps - 1:
            print(f"step {i}: fit-split velocity MAE {float(ev.detach().abs().mean()) * 127:.2f}")
    return w.detach(), b.detach()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples_path", default="data/gmd.gbds")
    p.add_argument("--fit_split", default="validation", choices=("train", "validation"))
    p.add_argument("--loss", default="l1", choices=("l1", "l2"))
    p.add_argument("--steps", type=int, default=800)
    args = p.parse_args()
    torch.manual_seed(0)
    net = load_model("default").model.eval()
    fit = load_windows(args.examples_path, args.fit_split, num_bars=4).tensors.astype(np.float32)
    test = load_windows(args.examples_path, "test", num_bars=4)
    tt, bpm = test.tensors.astype(np.float32), test.bpm.astype(np.float64)
    head = fit_head(net, reconstruct(net, fit)[1], fit, args.loss, args.steps)
    for name, h in (("shipped", None), (f"{args.loss} refit on {args.fit_split}", head)):
        pred = reconstruct(net, tt, h)[0]
        s = reconstruction_scores(tt, pred, bpm)
        print(f"{name}: test velocity MAE {s.velocity_mae_midi:.2f}, timing MAE {s.timing_mae_ms:.2f} ms")
        for cls, c in reconstruction_by_class(tt, pred, bpm).items():
            print(f"  {cls:<13} velocity {c['velocity_mae_midi']:5.1f}  timing {c['timing_mae_ms']:5.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
