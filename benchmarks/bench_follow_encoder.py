"""The follow job's model calls with the full encoder and with a distilled follow encoder.

One follow job as ``bridge/engine/follow.py`` runs it for the "drums" source: encode the played
4-bar window (``encode`` or ``encode_quick``), slerp from the playing pattern's latent by 0.5,
decode one groove at temperature 1 (batch 1, one torch thread, the native int8 kernels). The
student is taken from ``--student`` (default: the candidate in models/pretrained/candidates/)
and put beside a temporary copy of the shipped default's weights, so nothing in the package
changes. Both variants run interleaved, ``--rounds`` times over ``--windows`` GMD test windows;
reported: the median job time per round (ms) and the median over rounds, with the load average.

    .venv/bin/python benchmarks/bench_follow_encoder.py [--rounds 6] [--windows 64]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.data.io import load_windows  # noqa: E402
from models.generate import PRETRAINED_DIR, load_model  # noqa: E402
from models.groove import Groove  # noqa: E402
from models.latent import slerp  # noqa: E402
from models.net.follow_encoder import FOLLOW_FILE, FOLLOW_JSON  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--student", default=str(PRETRAINED_DIR / "candidates" / "follow_encoder_u256"))
    ap.add_argument("--data", default="data/gmd.gbds")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--windows", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(1)  # as the engine's generation worker
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for f in ("config.json", "state.json", "model.safetensors"):
            shutil.copy(PRETRAINED_DIR / "default" / f, d / f)
        for f in (FOLLOW_FILE, FOLLOW_JSON):
            shutil.copy(Path(args.student) / f, d / f)
        model = load_model(d)
    if not model.has_quick_encoder:
        print(f"no usable follow encoder in {args.student} (see the log)")
        return 1
    played = [Groove.from_tensor(t, 174.0) for t in load_windows(args.data, "test").tensors[: args.windows]]
    z_pattern = model.encode([played[-1]])[0]

    def job(encode, groove: Groove) -> None:  # type: ignore[no-untyped-def]
        z = slerp(z_pattern, np.asarray(encode([groove]))[0], 0.5)
        model.decode(z[None], temperature=1.0, seed=4321)

    rounds: dict[str, list[float]] = {"full encoder": [], "follow encoder": []}
    load0 = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, encode in (("full encoder", model.encode), ("follow encoder", model.encode_quick)):
            times = []
            for g in played:
                t = time.perf_counter()
                job(encode, g)
                times.append(time.perf_counter() - t)
            rounds[name].append(1000.0 * float(np.median(times)))
    print(f"load average (1 min) {load0:.2f} -> {os.getloadavg()[0]:.2f}")
    for name, v in rounds.items():
        print(f"{name}: follow job median ms per round {[round(x, 2) for x in v]}, median {np.median(v):.2f}")
    ratio = np.median(rounds["follow encoder"]) / np.median(rounds["full encoder"])
    print(f"ratio {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
