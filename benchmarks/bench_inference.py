"""GrooVAE inference latency: fast path (models.net.fast_decode) vs a plain nn.LSTMCell step loop.

Figures (median of --repeats, all variants of a figure timed round-robin so they share the same
load; groovae_4bar shapes, random weights unless --checkpoint):
* sample 1      one 4-bar groove, 64 autoregressive steps (targets: <= 4 ms on the 2-core CPU);
                native C kernel when available; also shown: the kernel with int8, fp16 and fp32
                weight storage, and the TorchScript path alone
* sample 16     16 variations in one batch (<= 30 ms)
* encode 1      encoder mean of one groove (<= 8 ms); native kernel (int8 / fp16 / fp32) and oneDNN
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

from models.generate import GrooveModel
from models.net.config import get_config
from models.net.fast_decode import FastGrooVAE, hit_thresholds, native_threads, reference_decode
from models.net.fast_kernel import load_kernel
from models.net.transforms import encoder_inputs
from models.net.vae import GrooVAE

CLOCK: Callable[[], float] = time.perf_counter


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 3, sync: Callable[[], None] = lambda: None) -> float:
    return interleaved_median_ms({"x": fn}, repeats, warmup, sync)["x"]


def interleaved_median_ms(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 3,
                          sync: Callable[[], None] = lambda: None) -> dict[str, float]:
    """Median ms of each function, timed round-robin (one call of each per round), so that all
    of them see the same load from other processes and their ratios stay fair."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = CLOCK()
            fn()
            sync()
            times[k].append(CLOCK() - t)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


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
    fast = FastGrooVAE(model)  # what the API uses: native int8 kernels where available and faster
    script_only = FastGrooVAE(model, use_native=False)
    natives = {}
    if device.type == "cpu" and load_kernel() is not None:
        natives = {w: FastGrooVAE(model, use_native=True, native_weights=w) for w in ("int8", "fp16", "fp32")}
    cfg = model.config
    sync = torch.cuda.synchronize if device.type == "cuda" else (torch.mps.synchronize if device.type == "mps" else (lambda: None))
    res: dict[str, float] = {"native_for_single": float(fast.native_for_single),
                             "native_decode_threads": float(fast.decode_threads)}
    g = torch.Generator(device="cpu").manual_seed(0)
    for n in (1, 16):
        z = torch.randn(n, cfg.z_size, generator=g).to(device)
        u = torch.rand(cfg.num_steps, n, 9, generator=g).to(device)
        th = hit_thresholds(u, 0.5)
        fns: dict[str, Callable[[], object]] = {
            "fast": lambda z=z, u=u: fast.decode(z, hit_thresholds(u, 0.5)),
            "lstmcell": lambda z=z, u=u: reference_decode(model, z, 0.5, u),
        }
        if natives:
            fns["torchscript"] = lambda z=z, th=th: script_only.decode(z, th)
            for w, fm in natives.items():
                fns[f"native_{w}"] = lambda z=z, th=th, fm=fm: fm.native.decode(z, th, None, native_threads())
        for k, v in interleaved_median_ms(fns, repeats, sync=sync).items():
            res[f"sample_{n}_{k}_ms"] = v
    x = torch.rand(1, cfg.num_steps, 27, generator=g).to(device)
    xe = encoder_inputs(cfg, x)[0]
    fns = {"fast": lambda: fast.encode(encoder_inputs(cfg, x)[0]), "lstmcell": lambda: reference_encode(model, x)}
    if natives:
        fns["onednn"] = lambda: script_only.encode(xe)
        for w, fm in natives.items():
            fns[f"native_{w}"] = lambda fm=fm: fm.encode(xe)
    if device.type == "cpu":
        gm = GrooveModel(model, device=device)
        fns["api_sample_1"] = lambda: gm.sample(1, 0.5, seed=1)
    for k, v in interleaved_median_ms(fns, repeats, sync=sync).items():
        res[f"encode_1_{k}_ms" if k != "api_sample_1" else "api_sample_1_ms"] = v
    for key in ("sample_1", "sample_16", "encode_1"):
        res[f"{key}_speedup"] = res[f"{key}_lstmcell_ms"] / res[f"{key}_fast_ms"]
        if f"{key}_native_fp32_ms" in res:
            res[f"{key}_fp16_vs_fp32"] = res[f"{key}_native_fp32_ms"] / res[f"{key}_native_fp16_ms"]
            res[f"{key}_int8_vs_fp16"] = res[f"{key}_native_int8_ms"] / res[f"{key}_native_fp16_ms"]
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
        from models.train.checkpoint import load_checkpoint

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
    print(f"\n{'device':<10} {'figure':<10} {'native int8':>12} {'native fp16':>12} {'native fp32':>12} "
          f"{'int8/fp16':>10} {'fp16 gain':>10} {'torch path':>11}")
    for dev, r in results.items():
        for key in targets:
            if f"{key}_native_fp16_ms" not in r:
                continue
            other = r.get(f"{key}_torchscript_ms", r.get(f"{key}_onednn_ms", float("nan")))
            print(f"{dev:<10} {key:<10} {r[key + '_native_int8_ms']:>12.2f} {r[key + '_native_fp16_ms']:>12.2f} "
                  f"{r[key + '_native_fp32_ms']:>12.2f} {r[key + '_int8_vs_fp16']:>10.2f} "
                  f"{r[key + '_fp16_vs_fp32']:>9.2f}x {other:>11.2f}")
        if "api_sample_1_ms" in r:
            print(f"{dev:<10} {'api samp 1':<10} {r['api_sample_1_ms']:>12.2f}   (GrooveModel.sample(1) incl. RNG + Groove)")
        if r.get("native_for_single"):
            print(f"{dev:<10} fast sample_1: native decoder with {int(r['native_decode_threads'])} thread(s) "
                  "(GROOVEBRIDGE_NATIVE_THREADS); native columns and sample_16: torch's thread count")
    print("(fast = what FastGrooVAE uses: the native int8 kernels when a C compiler is available (decode up to "
          "16 grooves, encode up to 2), else TorchScript / oneDNN = the torch path)")
    load = os.getloadavg()
    print(f"native kernel: {'on' if load_kernel() is not None else 'unavailable'}; "
          f"load average {load[0]:.2f} on {os.cpu_count()} CPUs (other processes skew these figures)")
    print(f"clock: {args.clock}")
    print(json.dumps({"bench": "inference", "torch": torch.__version__, "loadavg_1min": load[0], "clock": args.clock,
                      "native_kernel": load_kernel() is not None, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
