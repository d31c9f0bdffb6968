"""Native kernels' weight storage (fp16 / int8, fp32 for reference): speed and quality, one process.

Speed (single sequence, 1 thread unless --threads; median of --repeats, the storages timed
round-robin so they share the machine's load; ratios against fp16 in the same process):
* encode 1   ``FastGrooVAE.encode`` of one 4-bar window (native encoder + mean)
* decode 1   ``FastGrooVAE.decode`` of one z (native decoder, temperature 0.5)
* follow job what the engine's follow job does for the "drums" source: ``GrooveModel.encode`` of
             the played 4 bars (a real GMD test window), slerp, ``GrooveModel.decode`` (temperature
             1, one seed), incl. the Groove conversions
Quality on --windows test-split windows of the dataset (one at a time, as live use runs them),
against the fp32 torch path (oneDNN encoder + TorchScript decoder, no rounding anywhere):
* z: max |mu - mu_fp32|, relative error |mu - mu_fp32| / |mu_fp32| (median and max over windows)
* decode: the same fp32 z decoded at temperature 0 by each storage: hit F1 against the fp32
  decode, velocity MAE (MIDI) and timing MAE (ms) on common hits, share of windows identical
* reconstruction (``groovebridge evaluate``'s definition: encode, decode at temperature 0 with
  each storage's own z) against the real performance: hit F1, velocity / timing MAE; and the
  same agreement figures against the fp32 reconstruction.

    .venv/bin/python benchmarks/bench_native_weights.py [--windows 512] [--repeats 40]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from bench_inference import interleaved_median_ms

from models.data.io import load_windows
from models.generate import GrooveModel, load_model
from models.groove import Groove
from models.latent import slerp
from models.metrics import reconstruction_scores
from models.net.fast_decode import FastGrooVAE, hit_thresholds
from models.net.fast_kernel import load_kernel
from models.net.transforms import encoder_inputs

STORAGES = ("fp32", "fp16", "int8")
DATASET = Path(__file__).resolve().parents[1] / "data" / "gmd.gbds"


def _models(base: GrooveModel) -> dict[str, GrooveModel]:
    """One GrooveModel per path: "torch" (fp32, no native kernels) and each native storage."""
    out = {}
    for name in ("torch", *STORAGES):
        gm = GrooveModel(base.model, name=base.name, device="cpu", raw_outputs=base.raw_outputs, prior=base.prior)
        gm.fast = FastGrooVAE(base.model, use_native=name != "torch", native_weights=None if name == "torch" else name)
        out[name] = gm
    return out


def speed(models: dict[str, GrooveModel], window: np.ndarray, repeats: int) -> dict[str, float]:
    cfg = models["fp16"].config
    x = torch.from_numpy(window[None])
    xe = encoder_inputs(cfg, x, training=False)[0]
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, cfg.z_size, generator=g)
    th = hit_thresholds(torch.rand(cfg.num_steps, 1, 9, generator=g), 0.5)
    played = Groove.from_tensor(window)
    z_current = models["fp16"].encode([Groove.from_tensor(np.roll(window, 16, axis=0))])[0]

    def follow(gm: GrooveModel) -> object:
        target = gm.encode([played])[0]
        return gm.decode(slerp(z_current, target, 0.5)[None, :], temperature=1.0, seed=4321)[0]

    fns = {}
    for w in ("fp16", "int8", "fp32"):
        fm = models[w].fast
        fns[f"encode_{w}"] = lambda fm=fm: fm.encode(xe)
        fns[f"decode_{w}"] = lambda fm=fm: fm.decode(z, th)
        fns[f"follow_{w}"] = lambda gm=models[w]: follow(gm)
    res = interleaved_median_ms(fns, repeats)
    for k in ("encode", "decode", "follow"):
        res[f"{k}_int8_vs_fp16"] = res[f"{k}_int8"] / res[f"{k}_fp16"]
    return res


def _agreement(ref: np.ndarray, out: np.ndarray, bpm: np.ndarray) -> dict[str, float]:
    s = reconstruction_scores(ref, out, bpm)
    same = float(np.mean([np.array_equal(a[:, :9] > 0.5, b[:, :9] > 0.5) for a, b in zip(ref, out, strict=True)]))
    return {"hit_f1": s.hit_f1, "velocity_mae_midi": s.velocity_mae_midi, "timing_mae_ms": s.timing_mae_ms,
            "same_hits_share": same}


def quality(models: dict[str, GrooveModel], windows: np.ndarray, bpm: np.ndarray) -> dict[str, dict[str, float]]:
    mus = {k: np.concatenate([gm.encode(w[None]) for w in windows]) for k, gm in models.items()}
    ref_mu = mus["torch"]
    z_dec = {k: np.stack([gm.decode(m[None], temperature=0.0)[0].to_tensor() for m in ref_mu])
             for k, gm in models.items()}
    recon = {k: np.stack([gm.decode(m[None], temperature=0.0)[0].to_tensor() for m in mus[k]])
             for k, gm in models.items()}
    out: dict[str, dict[str, float]] = {}
    for k in models:
        err = np.linalg.norm(mus[k] - ref_mu, axis=1) / np.linalg.norm(ref_mu, axis=1)
        real = reconstruction_scores(windows, recon[k], bpm)
        out[k] = {
            "z_max_abs": float(np.abs(mus[k] - ref_mu).max()), "z_rel_median": float(np.median(err)),
            "z_rel_max": float(err.max()), "z_abs_mean_fp32": float(np.abs(ref_mu).mean()),
            **{f"decode_{a}": v for a, v in _agreement(z_dec["torch"], z_dec[k], bpm).items()},
            **{f"recon_vs_fp32_{a}": v for a, v in _agreement(recon["torch"], recon[k], bpm).items()},
            "recon_hit_f1": real.hit_f1, "recon_velocity_mae_midi": real.velocity_mae_midi,
            "recon_timing_mae_ms": real.timing_mae_ms,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--dataset", default=str(DATASET))
    ap.add_argument("--windows", type=int, default=512, help="test windows for the quality figures (0: none)")
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if load_kernel() is None:
        print("native kernels unavailable here (no C compiler or GROOVEBRIDGE_NATIVE=0)")
        return 1
    base = load_model(args.model)
    models = _models(base)
    wins = load_windows(args.dataset, "test", num_bars=base.config.num_steps // 16, hop_bars=base.config.num_steps // 16)
    rng = np.random.default_rng(0)
    keep = rng.permutation(len(wins.tensors))[: max(args.windows, 1)]
    windows, bpm = wins.tensors[keep], wins.bpm[keep]
    sp = speed(models, windows[0], args.repeats)
    print(f"speed, {args.threads} thread(s), median of {args.repeats} (interleaved), model {args.model}:")
    print(f"{'figure':<12} {'fp16 ms':>8} {'int8 ms':>8} {'fp32 ms':>8} {'int8/fp16':>10}")
    for k in ("encode", "decode", "follow"):
        print(f"{k + ' 1' if k != 'follow' else 'follow job':<12} {sp[k + '_fp16']:>8.2f} {sp[k + '_int8']:>8.2f} "
              f"{sp[k + '_fp32']:>8.2f} {sp[k + '_int8_vs_fp16']:>10.2f}")
    q: dict[str, dict[str, float]] = {}
    if args.windows > 0:
        q = quality(models, windows, bpm)
        print(f"\nquality on {len(windows)} test windows ({Path(args.dataset).name}), against the fp32 torch path:")
        print(f"{'path':<6} {'z max|d|':>9} {'z rel p50':>10} {'z rel max':>10} | {'dec F1':>7} {'dec vel':>8} "
              f"{'dec ms':>7} {'same':>6} | {'rec F1':>7} {'rec vel':>8} {'rec ms':>7} | {'F1 real':>8} {'vel':>6} {'ms':>6}")
        for k, r in q.items():
            print(f"{k:<6} {r['z_max_abs']:>9.4f} {r['z_rel_median']:>10.4f} {r['z_rel_max']:>10.4f} | "
                  f"{r['decode_hit_f1']:>7.4f} {r['decode_velocity_mae_midi']:>8.3f} {r['decode_timing_mae_ms']:>7.3f} "
                  f"{r['decode_same_hits_share']:>6.3f} | {r['recon_vs_fp32_hit_f1']:>7.4f} "
                  f"{r['recon_vs_fp32_velocity_mae_midi']:>8.3f} {r['recon_vs_fp32_timing_mae_ms']:>7.3f} | "
                  f"{r['recon_hit_f1']:>8.4f} {r['recon_velocity_mae_midi']:>6.2f} {r['recon_timing_mae_ms']:>6.2f}")
        print(f"(mean |z| of the fp32 means: {q['torch']['z_abs_mean_fp32']:.3f}; dec = the fp32 z decoded at "
              "temperature 0 by each path, against the fp32 decode; rec = each path's own encode + decode, against "
              "the fp32 reconstruction; F1 real / vel / ms = that reconstruction against the real performance)")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} on {os.cpu_count()} CPUs (other processes skew the times, not the ratios much)")
    print(json.dumps({"bench": "native_weights", "threads": args.threads, "loadavg_1min": load[0],
                      "speed_ms": sp, "quality": q}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
