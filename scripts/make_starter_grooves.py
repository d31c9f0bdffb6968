"""Write the starter grooves a first-ever launch of the app plays at once (before the model
is up): models/pretrained/default/starters.json.

    .venv/bin/python scripts/make_starter_grooves.py [--count 6] [--candidates 48] [--seed 0]

How they are made: the shipped default model (``load_model("default")``, its fitted prior,
the app's default temperature 1.0) samples ``--candidates`` 4-bar grooves, one per seed
``seed, seed+1, ...`` (each reproducible with ``GrooveModel.sample(1, 1.0, seed=s)``). A
candidate is kept when every bar has a kick, a snare on beat 2 or 4, a time-keeper (closed or
open hi-hat, or ride) and 10-40 hits, and all bars but one start with a kick: a groove a
drummer would count in at once, not a sparse fill, a wash or an odd-metre study; the first ``--count`` kept, in seed order, are written with the seeds, the model file's
SHA-256 (a test checks it against the shipped model) and this command. Only the model's own
output is written: no dataset file is read or copied.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gui.first_pattern import STARTERS_FILE, starters_to_json  # noqa: E402
from models.groove import STEPS_PER_BAR, Groove  # noqa: E402

KICK, SNARE, CLOSED_HH, OPEN_HH, RIDE = 0, 1, 2, 3, 8
HITS_PER_BAR = (10, 40)
BACKBEAT_STEPS = [4, 12]  # beats 2 and 4 of a bar of 16ths
TEMPERATURE = 1.0  # bridge.settings.Settings.temperature: what Sample gives in the app


def reasons_to_skip(groove: Groove) -> list[str]:
    """Why a sampled groove is not a starter (empty: it is one)."""
    out = []
    for b in range(groove.num_bars):
        bar = groove.hits[b * STEPS_PER_BAR:(b + 1) * STEPS_PER_BAR] > 0.5
        n = int(bar.sum())
        if not bar[:, KICK].any() or not bar[:, SNARE].any():
            out.append(f"bar {b + 1} lacks a kick or a snare")
        if not bar[:, [CLOSED_HH, OPEN_HH, RIDE]].any():
            out.append(f"bar {b + 1} has no hi-hat or ride")
        if not HITS_PER_BAR[0] <= n <= HITS_PER_BAR[1]:
            out.append(f"bar {b + 1} has {n} hits")
        if not (bar[BACKBEAT_STEPS, SNARE].any()):
            out.append(f"bar {b + 1} has no snare on beat 2 or 4")
    downbeats = sum(bool(groove.hits[b * STEPS_PER_BAR, KICK] > 0.5) for b in range(groove.num_bars))
    if downbeats < groove.num_bars - 1:
        out.append(f"a kick on the one in {downbeats} of {groove.num_bars} bars")
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=6)
    p.add_argument("--candidates", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=STARTERS_FILE)
    args = p.parse_args(argv)
    from models.generate import PRETRAINED_DIR, load_model

    model = load_model("default")
    kept: list[tuple[int, Groove]] = []
    skipped = 0
    for seed in range(args.seed, args.seed + args.candidates):
        groove = model.sample(1, temperature=TEMPERATURE, seed=seed)[0]
        why = reasons_to_skip(groove)
        if why:
            skipped += 1
            print(f"seed {seed}: skipped ({why[0]})")
            continue
        kept.append((seed, groove))
        print(f"seed {seed}: kept, {groove.num_hits} hits")
        if len(kept) == args.count:
            break
    if not kept:
        print("no candidate passed; nothing written")
        return 1
    meta = {
        "made_by": "scripts/make_starter_grooves.py " + " ".join(
            f"--{k} {v}" for k, v in (("count", args.count), ("candidates", args.candidates), ("seed", args.seed))),
        "how": (f"GrooveModel.sample(1, temperature={TEMPERATURE}, seed=s) of the shipped default model"
                " (fitted prior); kept: every bar has a kick, a snare on beat 2 or 4, a hi-hat or ride and"
                f" {HITS_PER_BAR[0]}-{HITS_PER_BAR[1]} hits; a kick on the one in all bars but one"),
        "model": "default",
        "model_sha256": sha256(PRETRAINED_DIR / "default" / "model.safetensors"),
        "seeds": [s for s, _ in kept],
        "candidates_skipped": skipped,
    }
    data = starters_to_json([g for _, g in kept], meta)
    grooves = data.pop("grooves")  # one line per groove: the file stays small and diffs by groove
    head = json.dumps(data, indent=2)[:-2]
    rows = ",\n".join("    " + json.dumps(g, separators=(",", ":")) for g in grooves)
    args.out.write_text(f'{head},\n  "grooves": [\n{rows}\n  ]\n}}\n', encoding="utf-8")
    print(f"wrote {len(kept)} starter grooves to {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
