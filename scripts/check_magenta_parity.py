"""Import a Magenta checkpoint and compare it with a TensorFlow reference (no TF needed).

The reference is a ``*_reference.safetensors`` written by scripts/make_magenta_fixtures.py
(encoder mu/sigma and teacher-forced decoder logits computed with TF's LSTMBlockCell op).
Prints one table row per output and a JSON line with the max relative error
(max |torch - tf| / max |tf|, per tensor).

    .venv/bin/python scripts/check_magenta_parity.py /tmp/groovae_4bar_parity/groovae_4bar \\
        /tmp/groovae_4bar_parity/groovae_4bar_reference.safetensors
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.magenta.importer import import_magenta  # noqa: E402
from models.train.checkpoint import load_checkpoint  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    src, ref_path = Path(argv[0]), Path(argv[1])
    config_name = argv[2] if len(argv) > 2 else None
    ref = load_file(str(ref_path))
    with tempfile.TemporaryDirectory() as tmp:
        result = import_magenta(src, Path(tmp) / "out", config_name)
        model, _, _ = load_checkpoint(result.output, "cpu")
    target = torch.from_numpy(ref["target"])
    controls = torch.from_numpy(ref["controls"]) if "controls" in ref else None
    with torch.no_grad():
        mu, sigma, _ = model.encode(target)
        logits = model.decoder(target, torch.from_numpy(ref["mu"]), controls)
    ours = {
        "mu": mu,
        "sigma": sigma,
        "logits": logits,
        "hit_probs": torch.sigmoid(logits[..., :9]),
        "velocities": torch.sigmoid(logits[..., 9:18]),
        "offsets": torch.tanh(logits[..., 18:]),
    }
    print(result.note)
    print(f"{'output':<12} {'shape':<16} {'max|tf|':>10} {'max abs err':>12} {'rel err':>10}")
    errors = {}
    for name, value in ours.items():
        a, b = value.numpy(), ref[name]
        abs_err = float(np.max(np.abs(a - b)))
        errors[name] = abs_err / float(np.max(np.abs(b)))
        print(
            f"{name:<12} {str(list(b.shape)):<16} {np.max(np.abs(b)):>10.4f} {abs_err:>12.3e} {errors[name]:>10.2e}"
        )
    print(
        json.dumps(
            {
                "checkpoint": str(src),
                "config": result.config.name,
                "max_relative_error": max(errors.values()),
                "per_output": errors,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
