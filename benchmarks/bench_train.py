"""GrooVAE training throughput on CPU: examples/s and achieved FLOP rate for groovae_4bar.

For each batch size, times full training steps (forward, loss, backward, clipping, Adam) of
``models.train.loop.train_step`` and converts them to FLOP/s with the analytic matrix-product
count of the model (training = 3 x forward). The baseline is a plain matrix product (square,
--matmul_n) measured in the same run before and after, in fp32 and in bf16; the figure of merit
is model FLOP rate / fp32 matmul FLOP rate (target >= 0.7). bf16 rows (autocast forward) are
also given against the bf16 matmul rate (AMX / AVX512-BF16 where the CPU has them), which is
the honest ceiling for them. Batch "default" is the config's own batch_size (512 for
groovae_4bar, as Magenta). Prints a table and one JSON line.

    .venv/bin/python benchmarks/bench_train.py [--batch_sizes default,64] [--precisions fp32,bf16] [--steps 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from models.net.config import GrooVAEConfig, get_config
from models.net.vae import GrooVAE
from models.train.loop import step_generator, train_step

CLOCK = time.perf_counter


def forward_flops_per_example(cfg: GrooVAEConfig) -> float:
    """Multiply-adds x 2 of every matrix product in one forward pass of one example."""
    t, d, h, z = cfg.num_steps, cfg.input_depth, cfg.enc_rnn_size[0], cfg.z_size
    enc = 2 * t * 2 * (d + h) * 4 * h
    post = 2 * 2 * (2 * h) * z + 2 * z * 2 * sum(cfg.dec_rnn_size)
    dec, inp = 0, cfg.output_depth + z + cfg.control_depth
    for hs in cfg.dec_rnn_size:
        dec += t * 2 * (inp + hs) * 4 * hs
        inp = hs
    out = t * 2 * cfg.dec_rnn_size[-1] * cfg.output_depth
    return float(enc + post + dec + out)


def matmul_gflops(n: int, seconds: float = 2.0, dtype: torch.dtype = torch.float32) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    count, t0 = 0, CLOCK()
    while CLOCK() - t0 < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (CLOCK() - t0) / 1e9


def lstm_layer_gflops(batch: int, steps: int, in_size: int, hidden: int, repeats: int = 2) -> float:
    """Forward + backward of one nn.LSTM layer alone (oneDNN on CPU), the model's building block:
    the ceiling for the whole model's rate without a faster LSTM implementation."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(in_size, hidden, batch_first=True)
    x = torch.randn(batch, steps, in_size, requires_grad=True)
    lstm(x)[0].sum().backward()  # warm-up
    t0 = CLOCK()
    for _ in range(repeats):
        lstm(x)[0].sum().backward()
    flops = 3 * batch * steps * 2 * (in_size + hidden) * 4 * hidden
    return flops * repeats / (CLOCK() - t0) / 1e9


def train_rate(cfg: GrooVAEConfig, batch: int, steps: int, precision: str = "fp32") -> float:
    torch.manual_seed(0)
    model = GrooVAE(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    hits = (torch.rand(batch, cfg.num_steps, 9) < 0.2).float()
    x = torch.cat([hits, torch.rand_like(hits) * hits, (torch.rand_like(hits) - 0.5) * hits], -1)
    dev = torch.device("cpu")
    train_step(model, opt, cfg, x, 0, step_generator(0, 0, 0, dev), precision)  # warm-up
    t0 = CLOCK()
    for s in range(steps):
        train_step(model, opt, cfg, x, s + 1, step_generator(0, s + 1, 0, dev), precision)
    return batch * steps / (CLOCK() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="groovae_4bar")
    ap.add_argument("--batch_sizes", default="default,64", help="comma list; default = the config's batch_size")
    ap.add_argument("--steps", type=int, default=2, help="timed steps per batch size (after one warm-up step)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--matmul_n", type=int, default=1024)
    ap.add_argument("--precisions", default="fp32,bf16", help="comma list of fp32, bf16 (bf16 = autocast forward)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu = process CPU time: on a busy machine, an estimate of the uncontended "
                         "rate (meaningful with --threads 1 only)")
    args = ap.parse_args(argv)
    global CLOCK
    if args.clock == "cpu":
        CLOCK = time.process_time
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = get_config(args.config)
    fwd = forward_flops_per_example(cfg)
    train_flops = 3 * fwd
    precisions = args.precisions.split(",")
    batches = [cfg.batch_size if x == "default" else int(x) for x in args.batch_sizes.split(",")]
    mm_before = {"fp32": matmul_gflops(args.matmul_n)}
    if "bf16" in precisions:
        mm_before["bf16"] = matmul_gflops(args.matmul_n, dtype=torch.bfloat16)
    rows = []
    for prec in precisions:
        for b in batches:
            ex_s = train_rate(cfg, b, args.steps, prec)
            rows.append({"precision": prec, "batch_size": b, "default_batch": b == cfg.batch_size,
                         "examples_per_sec": ex_s, "gflops": ex_s * train_flops / 1e9})
    lstm_rows = {b: lstm_layer_gflops(b, cfg.num_steps, cfg.input_depth, cfg.enc_rnn_size[0]) for b in batches}
    mm_after = {k: matmul_gflops(args.matmul_n, dtype=torch.bfloat16 if k == "bf16" else torch.float32) for k in mm_before}
    mm = {k: max(mm_before[k], mm_after[k]) for k in mm_before}
    print(f"{cfg.name}: {fwd / 1e6:.1f} MFLOP forward / example, {train_flops / 1e9:.3f} GFLOP per training example; "
          f"config batch_size {cfg.batch_size}")
    for k in mm:
        print(f"{k} matmul {args.matmul_n}^3: {mm_before[k]:.1f} GFLOP/s before, {mm_after[k]:.1f} after; "
              f"threads {torch.get_num_threads()}")
    print(f"{'prec':>5} {'batch':>9} {'examples/s':>11} {'GFLOP/s':>9} {'of fp32 matmul':>15} {'of own-prec matmul':>19}")
    for r in rows:
        r["fraction_of_matmul"] = r["gflops"] / mm["fp32"]
        r["fraction_of_same_precision_matmul"] = r["gflops"] / mm[r["precision"]]
        tag = f"{r['batch_size']}{'*' if r['default_batch'] else ''}"
        print(f"{r['precision']:>5} {tag:>9} {r['examples_per_sec']:>11.1f} {r['gflops']:>9.1f} "
              f"{r['fraction_of_matmul']:>15.2f} {r['fraction_of_same_precision_matmul']:>19.2f}")
    print("(* = the config's default batch size; target: >= 0.7 of the fp32 matmul rate)")
    for b, gf in lstm_rows.items():
        print(f"ceiling: one encoder nn.LSTM layer alone (oneDNN), fp32 forward+backward, batch {b}: "
              f"{gf:.1f} GFLOP/s = {gf / mm['fp32']:.2f} of the fp32 matmul rate")
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} CPUs (other processes skew these figures); clock {args.clock}")
    print(json.dumps({"bench": "train", "config": cfg.name, "threads": torch.get_num_threads(), "loadavg_1min": load, "clock": args.clock,
                      "matmul_gflops": mm["fp32"], "matmul_gflops_by_precision": mm, "train_gflop_per_example": train_flops / 1e9, "rows": rows,
                      "lstm_layer_gflops": {str(b): v for b, v in lstm_rows.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
