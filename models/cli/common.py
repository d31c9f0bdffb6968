"""What the ``models`` command lines share: their parser (no abbreviated flags, real defaults in
``--help``), the ``--device`` check and the output-folder check, both made before any model runs,
so a user's mistake is one line and not a traceback after minutes of work."""

from __future__ import annotations

import os
from pathlib import Path

from models.help_format import HelpFormatter, make_parser

__all__ = ["HelpFormatter", "make_parser", "check_device", "prepare_output_dir", "check_output_file",
           "check_checkpoint_output"]

DEVICES = ("cpu", "cuda", "mps")


def check_device(device: str, flag: str = "--device") -> str:
    """``device`` lower-cased when torch here can run on it; otherwise a one-line ValueError
    naming the devices there are (never torch's assertion or RuntimeError traceback)."""
    from models.inference_device import available_devices

    value = str(device).strip().lower()
    here = available_devices()
    if value not in DEVICES:
        raise ValueError(f"{flag} {device}: not one of {', '.join(DEVICES)} (this machine has: {', '.join(here)})")
    if value not in here:
        raise ValueError(f"{flag} {device}: not available in this torch build / machine (it has: {', '.join(here)})")
    return value


def prepare_output_dir(path: str | Path, flag: str = "--output_dir") -> Path:
    """``path`` as a folder that exists and can be written to (created where missing), or a
    one-line ValueError; call it before running a model."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise ValueError(f"{flag} {path}: exists and is not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{flag} {path}: cannot create the folder ({e.strerror or e})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: the folder is not writable")
    return p


def check_output_file(path: str | Path, flag: str) -> Path:
    """``path`` as a file that can be written (its folder exists and is writable, and it is not
    a folder), checked before the work that produces it; a one-line ValueError otherwise."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise ValueError(f"{flag} {path}: is a folder, give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ValueError(f"{flag} {path}: not writable")
    return p


def check_checkpoint_output(path: str | Path, flag: str = "--output_dir") -> Path:
    """``path`` as a checkpoint folder to write: new, empty, or a checkpoint (which is replaced);
    never a file or a folder of other things (writing replaces the whole folder). Its parent is
    created where missing. A one-line ValueError otherwise; call it before the work."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise ValueError(f"{flag} {path}: exists and is not a folder")
    if p.is_dir() and any(p.iterdir()) and not (p / "model.safetensors").is_file():
        raise ValueError(f"{flag} {path}: a folder that is not a checkpoint (it would be replaced); give a new one")
    prepare_output_dir(p.parent, flag=f"{flag} {path}: its folder")
    return p
