"""GrooVAE inference latency: fast path (models.fast_decode) vs a plain nn.LSTMCell step loop.

Figures (median of --repeats, groovae_4bar shapes, random weights unless --checkpoint):
* sample 1      one 4-bar groove, 64 autoregressive steps (targets: <= 4 ms on the 2-core CPU);
                native C kernel when available (also shown: the TorchScript path alone)
* sample 16     16 variations in one batch (<= 30 ms)
* encode 1      encoder mean of one groove (<= 8 ms)
* api sample 1  ``GrooveModel.sample(1)`` incl. RNG and Groove conversion
Each with the baseline (nn.LSTMCell loop, measured in the same run) and the speed-up ratio,
for 1 and 2 CPU threads, plus CUDA / MPS when present. Prints a table and one JSON line.

    .venv/bin/python benchmarks/bench_inference.py [--checkpoint DIR] [--repeats 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from models.config import get_config
from models.fast_decode import FastGrooVAE, hit_thresholds, reference_decode
from models.fast_kernel import load_kernel
from models.generate import GrooveModel
from models.transforms import encoder_inputs
from models.vae import GrooVAE

CLOCK: Callable[[], float] = time.perf_counter


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 3, sync: Callable[[], None] = lambda: None) -> float:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t = CLOCK()
        fn()
        sync()
        times.append(CLOCK() - t)
    return statistics.median(times) * 1e3


@torch.inference_mode()
def reference_encode(model: GrooVAE, x: torch.Tensor) -> torch.Tensor:
    """Plain encoder: an nn.LSTMCell loop per direction, then the mean."""
    enc = model.encoder
    hs = []
    for lstm, seq in ((enc.fw, x), (enc.bw, x.flip(1))):
        cell = nn.LSTMCell(lstm.input_size, lstm.hidden_size).to(x.device)
        cell.weight_ih.copy_(lstm.weight_ih_l0)
        cell.weight_hh.copy_(lstm.weight_hh_l0)
        cell.bias_ih.copy_(lstm.bias_ih_l0)
        cell.bias_hh.copy_(lstm.bias_hh_l0)
        h = x.new_zeros(x.shape[0], lstm.hidden_size)
        c = torch.zeros_like(h)
        for t in range(seq.shape[1]):
            h, c = cell(seq[:, t], (h, c))
        hs.append(h)
    return enc.mu(torch.cat(hs, -1))


def measure(model: GrooVAE, device: torch.device, repeats: int) -> dict[str, float]:
    model = model.to(device).eval()
    fast = FastGrooVAE(model)
    script_only = FastGrooVAE(model, use_native=False)
    cfg = model.config
    sync = torch.cuda.synchronize if device.type == "cuda" else (torch.mps.synchronize if device.type == "mps" else (lambda: None))
    res: dict[str, float] = {}
    g = torch.Generator(device="cpu").manual_seed(0)
    for n in (1, 16):
        z = torch.randn(n, cfg.z_size, generator=g).to(device)
        u = torch.rand(cfg.num_steps, n, 9, generator=g).to(device)
        res[f"sample_{n}_fast_ms"] = median_ms(lambda z=z, u=u: fast.decode(z, hit_thresholds(u, 0.5)), repeats, sync=sync)
        if fast.native is not None and n == 1:
            res[f"sample_{n}_torchscript_ms"] = median_ms(
                lambda z=z, u=u: script_only.decode(z, hit_thresholds(u, 0.5)), repeats, sync=sync
            )
        res[f"sample_{n}_lstmcell_ms"] = median_ms(lambda z=z, u=u: reference_decode(model, z, 0.5, u), max(5, repeats // 3), sync=sync)
    x = torch.rand(1, cfg.num_steps, 27, generator=g).to(device)
    res["encode_1_fast_ms"] = median_ms(lambda: fast.encode(encoder_inputs(cfg, x)[0]), repeats, sync=sync)
    res["encode_1_lstmcell_ms"] = median_ms(lambda: reference_encode(model, x), max(5, repeats // 3), sync=sync)
    if device.type == "cpu":
        gm = GrooveModel(model, device=device)
        res["api_sample_1_ms"] = median_ms(lambda: gm.sample(1, 0.5, seed=1), repeats)
    for key in ("sample_1", "sample_16", "encode_1"):
        res[f"{key}_speedup"] = res[f"{key}_lstmcell_ms"] / res[f"{key}_fast_ms"]
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="checkpoint or run dir (default: random groovae_4bar)")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", default="1,2", help="CPU thread counts to measure")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu = process CPU time: on a busy machine, an estimate of the uncontended "
                         "latency (meaningful with --threads 1 only)")
    args = ap.parse_args(argv)
    global CLOCK
    if args.clock == "cpu":
        CLOCK = time.process_time
    if args.checkpoint:
        from models.checkpoint import load_checkpoint

        model = load_checkpoint(args.checkpoint)[0]
    else:
        torch.manual_seed(0)
        model = GrooVAE(get_config("groovae_4bar"))
        with torch.no_grad():  # fresh-init weights decode nearly nothing; perturb like a trained net
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
    results: dict[str, dict[str, float]] = {}
    for th in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(th)
        results[f"cpu_{th}thr"] = measure(model, torch.device("cpu"), args.repeats)
    if torch.cuda.is_available():
        results["cuda"] = measure(model, torch.device("cuda"), args.repeats)
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        results["mps"] = measure(model, torch.device("mps"), args.repeats)
    print(f"{'device':<10} {'figure':<10} {'fast ms':>9} {'LSTMCell ms':>12} {'speed-up':>9}  target")
    targets = {"sample_1": "<= 4 ms", "sample_16": "<= 30 ms", "encode_1": "<= 8 ms"}
    for dev, r in results.items():
        for key, tgt in targets.items():
            print(f"{dev:<10} {key:<10} {r[key + '_fast_ms']:>9.2f} {r[key + '_lstmcell_ms']:>12.2f} "
                  f"{r[key + '_speedup']:>8.1f}x  {tgt}, >= 5x")
        if "sample_1_torchscript_ms" in r:
            print(f"{dev:<10} {'samp 1 TS':<10} {r['sample_1_torchscript_ms']:>9.2f}   (TorchScript path, native kernel off)")
        if "api_sample_1_ms" in r:
            print(f"{dev:<10} {'api samp 1':<10} {r['api_sample_1_ms']:>9.2f}   (GrooveModel.sample(1) incl. RNG + Groove)")
    load = os.getloadavg()
    print(f"native kernel: {'on' if load_kernel() is not None else 'unavailable'}; "
          f"load average {load[0]:.2f} on {os.cpu_count()} CPUs (other processes skew these figures)")
    print(f"clock: {args.clock}")
    print(json.dumps({"bench": "inference", "torch": torch.__version__, "loadavg_1min": load[0], "clock": args.clock,
                      "native_kernel": load_kernel() is not None, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
