"""Open Magenta checkpoints for import: tars (extracted safely), TF bundles, magenta.js folders.

A ``.tar`` is extracted member by member (regular files and folders only: absolute paths,
``..`` and links are refused); in a folder the ``checkpoint`` state file names the prefix
(only its file name is used: the path is usually the training machine's), else the newest
``*.index``; a folder with ``weights_manifest.json`` is a magenta.js checkpoint. The result is
a ``Source``: variable shapes, a lazy reader, and a name that may tell the config.
"""

from __future__ import annotations

import re
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.magenta.js import MANIFEST_FILE, MagentaJSError, read_config, read_magenta_js
from models.magenta.tf_checkpoint import TFCheckpoint, TFCheckpointError, resolve_prefix

_MAX_TAR_BYTES = 2 << 30


class MagentaImportError(Exception):
    """Why an import was refused (one line); nothing has been written."""


@dataclass(frozen=True)
class Source:
    """Tensors of one checkpoint: names -> shapes, a reader, and hints for the config."""

    kind: str  # "tf" | "magenta.js"
    shapes: dict[str, tuple[int, ...]]
    read: Callable[[str], np.ndarray]
    hint_name: str
    num_steps: int | None = None  # magenta.js config.json numSteps, if given


# ---------------------------------------------------------------- sources


def safe_extract_tar(tar_path: Path, dest: Path) -> None:
    """Extract regular files and folders only; refuse absolute paths, ``..`` and links."""
    try:
        with tarfile.open(tar_path) as tar:
            members = tar.getmembers()
            total = 0
            for m in members:
                parts = Path(m.name).parts
                if m.name.startswith(("/", "\\")) or Path(m.name).is_absolute() or ".." in parts:
                    raise MagentaImportError(f"{tar_path.name}: unsafe member path {m.name!r}")
                if m.issym() or m.islnk():
                    raise MagentaImportError(f"{tar_path.name}: member {m.name!r} is a link")
                if not (m.isfile() or m.isdir()):
                    raise MagentaImportError(f"{tar_path.name}: member {m.name!r} is not a file")
                total += m.size
            if total > _MAX_TAR_BYTES:
                raise MagentaImportError(f"{tar_path.name}: too large to be a GrooVAE checkpoint")
            for m in members:
                target = dest / Path(m.name)
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                if src is None:
                    raise MagentaImportError(f"{tar_path.name}: cannot read member {m.name!r}")
                with src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise MagentaImportError(f"{tar_path.name}: not a readable tar ({e})") from None


def _find_prefix(folder: Path) -> Path | None:
    """Checkpoint prefix in a folder: the ``checkpoint`` file's choice, else the newest."""
    state = folder / "checkpoint"
    if state.is_file():
        m = re.search(
            r'^model_checkpoint_path:\s*"([^"]+)"', state.read_text(errors="replace"), re.M
        )
        if m:
            candidate = folder / Path(m.group(1)).name
            if candidate.with_name(candidate.name + ".index").is_file():
                return candidate
    indexes = sorted(folder.rglob("*.index"))
    if not indexes:
        return None

    def step(p: Path) -> int:
        m = re.search(r"-(\d+)\.index$", p.name)
        return int(m.group(1)) if m else -1

    return resolve_prefix(max(indexes, key=lambda p: (step(p), str(p))))


def open_source(path: str | Path, workdir: Path) -> Source:
    """Open a tar / checkpoint / magenta.js folder (tars are extracted under ``workdir``)."""
    p = Path(path)
    hint = p.name
    for suffix in (".tar.gz", ".tgz", ".tar", ".index"):
        if hint.endswith(suffix):
            hint = hint[: -len(suffix)]
    if p.is_file() and (tarfile.is_tarfile(p) if p.suffix != ".index" else False):
        dest = workdir / "extracted"
        dest.mkdir()
        safe_extract_tar(p, dest)
        manifests = sorted(dest.rglob(MANIFEST_FILE))
        folder = manifests[0].parent if manifests else dest
        return _open_folder_or_prefix(folder, hint, from_tar=True)
    if p.is_dir():
        return _open_folder_or_prefix(p, hint, from_tar=False)
    if p.is_file() and p.name.endswith((".tar", ".tar.gz", ".tgz")):
        raise MagentaImportError(f"{p.name}: not a readable tar file (damaged download?)")
    prefix = resolve_prefix(p)
    if prefix.with_name(prefix.name + ".index").is_file():
        return _tf_source(prefix, _prefix_hint(prefix))
    raise MagentaImportError(f"{path}: no such checkpoint, tar or magenta.js folder")


def _open_folder_or_prefix(folder: Path, hint: str, from_tar: bool) -> Source:
    if (folder / MANIFEST_FILE).is_file():
        try:
            tensors = read_magenta_js(folder)
        except MagentaJSError as e:
            raise MagentaImportError(str(e)) from None
        steps = read_config(folder).get("dataConverter", {}).get("args", {}).get("numSteps")
        return Source(
            kind="magenta.js",
            shapes={k: tuple(v.shape) for k, v in tensors.items()},
            read=lambda name: tensors[name],
            hint_name=hint,
            num_steps=steps if isinstance(steps, int) else None,
        )
    prefix = _find_prefix(folder)
    if prefix is None:
        what = "tar" if from_tar else "folder"
        raise MagentaImportError(
            f"{hint}: the {what} holds no .index checkpoint or {MANIFEST_FILE}"
        )
    return _tf_source(prefix, hint)


def _prefix_hint(prefix: Path) -> str:
    """A name that may say which model it is: ``model.ckpt-N`` says nothing, its folder may."""
    if prefix.name.startswith("model.ckpt") and prefix.parent.name:
        return prefix.parent.resolve().name
    return prefix.name


def _tf_source(prefix: Path, hint: str) -> Source:
    try:
        ckpt = TFCheckpoint(prefix)
    except TFCheckpointError as e:
        raise MagentaImportError(str(e)) from None
    return Source(kind="tf", shapes=ckpt.shapes(), read=ckpt.read, hint_name=hint)
