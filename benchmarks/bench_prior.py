"""The fitted sampling prior: fitting time on the full training split, and its cost per sample.

Figures (the shipped default model, this machine, the threads torch picks):
* fit           ``groovebridge fit-prior``'s work on the GMD train split with one mixture size
                (encode every window, EM for the mixture, class calibration, attribute
                directions): target <= 60 s on 2 cores. The encoding alone is shown beside it,
                as the floor any prior fitted to encoder means pays.
* sample 1      ``GrooveModel.sample(1)`` with the fitted prior and with N(0, I), timed
                round-robin in the same run (target: <= 0.2 ms more with the prior).

    .venv/bin/python benchmarks/bench_prior.py --examples_path data/gmd.gbds [--components 1024]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_inference import interleaved_median_ms  # noqa: E402

from models.data.io import load_windows  # noqa: E402
from models.generate import load_model  # noqa: E402
from models.net.prior import encode_windows  # noqa: E402
from models.train.prior_fit import fit_prior  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples_path", default="data/gmd.gbds")
    p.add_argument("--components", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--skip_fit", action="store_true")
    args = p.parse_args()
    model = load_model("default")
    out: dict[str, float] = {}
    if not args.skip_fit:
        train = load_windows(args.examples_path, "train", 4).tensors
        t0 = time.perf_counter()
        encode_windows(model, train)
        out["encode_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        fit_prior(model, train, None, [args.components])
        out["fit_s"] = time.perf_counter() - t0
        out["windows"] = len(train)
    seeds = iter(range(10**9))
    ms = interleaved_median_ms({
        "fitted": lambda: model.sample(1, 1.0, seed=next(seeds), prior="fitted"),
        "normal": lambda: model.sample(1, 1.0, seed=next(seeds), prior="normal"),
    }, args.repeats)
    out.update(sample_fitted_ms=ms["fitted"], sample_normal_ms=ms["normal"],
               sample_extra_ms=ms["fitted"] - ms["normal"], sample_ratio=ms["fitted"] / ms["normal"])
    if "fit_s" in out:
        print(f"fit on {out['windows']} windows, {args.components} components: {out['fit_s']:.1f} s "
              f"(encoding alone {out['encode_s']:.1f} s)")
    print(f"sample 1: fitted prior {ms['fitted']:.3f} ms, N(0, I) {ms['normal']:.3f} ms, "
          f"+{out['sample_extra_ms']:.3f} ms (x{out['sample_ratio']:.3f}); median of {args.repeats}")
    print(json.dumps({k: round(v, 4) for k, v in out.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
