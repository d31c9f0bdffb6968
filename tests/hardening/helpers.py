"""Shared helpers of the hardening tests: a tiny real-GMD dataset and hostile MIDI bytes."""

from __future__ import annotations

import os
from pathlib import Path

GMD_FILES = (
    "drummer1/session1/100_neworleans-secondline_94_beat_4-4.mid",
    "drummer1/session1/101_dance-disco_120_beat_4-4.mid",
    "drummer1/session1/102_funk_95_beat_4-4.mid",
)
TINY_HPARAMS = "batch_size=8"
REPO_ROOT = Path(__file__).resolve().parents[2]


def link_gmd_files(gmd_dir: Path, folder: Path, names: tuple[str, ...] = GMD_FILES) -> list[Path]:
    """Symlink a few real GMD files into ``folder`` (nothing is copied)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for rel in names:
        dst = folder / Path(rel).name
        os.symlink(gmd_dir / rel, dst)
        out.append(dst)
    return out


def tiny_dataset(gmd_dir: Path, work: Path) -> Path:
    """A dataset of three GMD files, every window in the train split."""
    from models.data.dataset import preprocess

    midi = work / "midi"
    link_gmd_files(gmd_dir, midi)
    out = work / "tiny.npz"
    preprocess(midi, out, workers=1, split_fractions=(1.0, 0.0, 0.0))
    return out


def smf(tracks: list[bytes], fmt: int = 1, ppq: int = 96, num_tracks: int | None = None) -> bytes:
    """A Standard MIDI File from raw track bodies (no checks: for hostile files)."""
    n = len(tracks) if num_tracks is None else num_tracks
    head = b"MThd" + (6).to_bytes(4, "big") + fmt.to_bytes(2, "big") + n.to_bytes(2, "big")
    head += ppq.to_bytes(2, "big")
    return head + b"".join(b"MTrk" + len(t).to_bytes(4, "big") + t for t in tracks)


def varlen(value: int) -> bytes:
    """A MIDI variable-length quantity (any non-negative value; > 4 bytes for huge ones)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


END_OF_TRACK = b"\x00\xff\x2f\x00"
