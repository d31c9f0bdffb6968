"""Coverage-guided fuzzing of the MIDI reader with atheris (libFuzzer), seeded from real GMD files.

    .venv/bin/python fuzz/atheris_midi.py [--seconds 60] [--corpus DIR] [--gmd DIR] [libFuzzer flags]

The target is what every user file goes through: ``models.midi.smf.parse_smf`` then
``models.midi.files.events_to_groove`` (drum map roland). Allowed outcomes: ``SmfError`` /
``MidiFileError`` with a one-line message, or a groove of whole 16-step bars at most
``MAX_BARS`` long with finite values. Anything else (another exception, a multi-line reason,
a bad groove) is a crash that libFuzzer saves as ``crash-*`` in the working directory. Hangs
and memory are bounded by libFuzzer's ``-timeout`` (per input, 5 s) and ``-rss_limit_mb``
(1024). The seed corpus is a temporary folder of GMD files (``--corpus`` keeps one that grows
between runs); nothing is written into the repository. ``scripts/fuzz.sh`` runs it for a
bounded time. atheris is an optional dev dependency (``pip install atheris``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

# Dependencies first (not instrumented), then the code under test (instrumented).
import mido  # noqa: F401
import numpy as np

import models.drum_maps
import models.groove  # noqa: F401

with atheris.instrument_imports(include=["models.midi.smf", "models.midi.files"]):
    from models.midi.files import MAX_BARS, MidiFileError, events_to_groove
    from models.midi.smf import SmfError, parse_smf

ROLAND = models.drum_maps.ROLAND
DEFAULT_GMD = Path(__file__).resolve().parents[2] / "shared" / "data" / "groove-midi" / "groove"


def check(data: bytes) -> None:
    try:
        read = events_to_groove(parse_smf(data), ROLAND)
    except (SmfError, MidiFileError) as e:
        if not str(e) or "\n" in str(e):
            raise AssertionError(f"reason is not one line: {str(e)!r}") from None
        return
    g = read.groove
    steps = g.hits.shape[0]
    if g.hits.shape != (steps, 9) or steps == 0 or steps % 16 or steps > MAX_BARS * 16:
        raise AssertionError(f"bad groove shape {g.hits.shape}")
    if not (np.isfinite(g.velocities).all() and np.isfinite(g.offsets).all()):
        raise AssertionError("non-finite groove values")


def seed_corpus(gmd: Path, folder: Path, count: int) -> int:
    files = sorted(gmd.rglob("*.mid"), key=lambda p: (p.stat().st_size, p.name))[:count]
    for p in files:
        shutil.copyfile(p, folder / p.name)
    return len(files)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=60, help="total fuzzing time (default 60)")
    p.add_argument("--corpus", type=Path, default=None, help="corpus folder to keep (default: temp)")
    p.add_argument("--gmd", type=Path, default=Path(os.environ.get("GROOVEBRIDGE_GMD_DIR", DEFAULT_GMD)))
    p.add_argument("--seeds", type=int, default=64, help="smallest GMD files used as seeds")
    args, libfuzzer = p.parse_known_args()
    tmp = None
    corpus = args.corpus
    if corpus is None:
        tmp = tempfile.TemporaryDirectory(prefix="gb-fuzz-")
        corpus = Path(tmp.name)
    corpus.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        if not args.gmd.is_dir():
            sys.exit(f"atheris_midi: GMD folder not found: {args.gmd} (use --gmd)")
        n = seed_corpus(args.gmd, corpus, args.seeds)
        print(f"atheris_midi: seeded {corpus} with {n} GMD files", file=sys.stderr)
    flags = [f"-max_total_time={args.seconds}", "-timeout=5", "-rss_limit_mb=1024",
             "-max_len=65536", "-print_final_stats=1", *libfuzzer]
    atheris.Setup([sys.argv[0], *flags, str(corpus)], check)
    atheris.Fuzz()  # exits the process when the time is up (libFuzzer prints the run count)


if __name__ == "__main__":
    main()
