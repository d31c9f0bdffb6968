"""Copy a trained checkpoint into the package as a shipped model (float16 storage).

    python scripts/ship_model.py runs/default default        # best checkpoint of the run
    python scripts/ship_model.py runs/humanize humanize

Writes models/pretrained/<name>/{model.safetensors, config.json, state.json, fp16_check.json}.
Weights are stored as float16 and load as float32; the script checks the fp16 copy against the
fp32 checkpoint (encoder means and deterministic decodes of real GMD test windows) and refuses
to ship if they differ more than the tolerance below.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.data.io import load_windows  # noqa: E402
from models.generate import GrooveModel  # noqa: E402
from models.groove import Groove  # noqa: E402
from models.train.checkpoint import load_checkpoint, resolve_checkpoint  # noqa: E402

MAX_MU_ERROR = 0.05  # absolute, on encoder means (z ~ N(0, 1) scale)
MIN_HIT_AGREEMENT = 0.995  # share of equal hit cells in temperature-0 decodes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("name", choices=("default", "humanize", "drumify"))
    ap.add_argument("--examples_path", default=str(ROOT / "data" / "gmd.gbds"))
    ap.add_argument("--prefer", default="best", choices=("best", "latest"))
    args = ap.parse_args()

    ckpt = resolve_checkpoint(args.run_dir, prefer=args.prefer)
    model, config, meta = load_checkpoint(ckpt)
    out = ROOT / "models" / "pretrained" / args.name
    out.mkdir(parents=True, exist_ok=True)
    half = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(half, str(out / "model.safetensors"), metadata={"config": config.name, "step": str(meta.get("step"))})
    (out / "config.json").write_text(config.to_json(), encoding="utf-8")
    state = {k: v for k, v in meta.items() if k not in ("optimizer", "path")}
    state["source_checkpoint"] = Path(ckpt).name
    (out / "state.json").write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")

    # fp16 copy against the fp32 checkpoint on real test windows.
    full = GrooveModel(model, config.name)
    shipped, _, _ = load_checkpoint(out)
    small = GrooveModel(shipped, config.name)
    windows = load_windows(args.examples_path, "test", num_bars=config.num_bars)
    pick = np.random.default_rng(0).choice(len(windows), 256, replace=False)
    grooves = [Groove.from_tensor(t) for t in windows.tensors[pick]]
    mu32, mu16 = full.encode(grooves), small.encode(grooves)
    ctl = grooves if config.hits_as_controls else None
    d32 = np.stack([g.to_tensor() for g in full.decode(mu32, temperature=0.0, controls=ctl)])
    d16 = np.stack([g.to_tensor() for g in small.decode(mu32, temperature=0.0, controls=ctl)])
    check = {
        "windows": len(pick),
        "max_abs_mu_error": float(np.abs(mu32 - mu16).max()),
        "hit_agreement": float(((d32[..., :9] > 0.5) == (d16[..., :9] > 0.5)).mean()),
        "max_abs_velocity_error": float(np.abs(d32[..., 9:18] - d16[..., 9:18]).max()),
        "max_abs_offset_error": float(np.abs(d32[..., 18:] - d16[..., 18:]).max()),
    }
    (out / "fp16_check.json").write_text(json.dumps(check, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(check))
    if check["max_abs_mu_error"] > MAX_MU_ERROR or check["hit_agreement"] < MIN_HIT_AGREEMENT:
        print("fp16 copy differs too much from fp32: not shipped", file=sys.stderr)
        return 1
    print(f"shipped {ckpt} (step {meta.get('step')}) as {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
