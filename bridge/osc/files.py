"""Which files a remote OSC controller may name: saves stay in the export folder, models in
the user's model and data folders.

OSC arrives from the network (127.0.0.1 by default, any host when ``osc_host`` says so), so a
message must not choose where files are written nor which files are read:

* ``/save`` and ``/save/variations`` name a file or folder *inside* the export folder
  (setting ``osc_save_dir``; default ``<user documents>/GrooveBridge/exports``): a relative
  name, no ``..``, no absolute path, no symlink leading out; ``/save`` writes ``.mid`` only
  (a name without a suffix gets ``.mid``). The engine methods (``Engine.save_pattern(path)``)
  still take any path: the app calls them with what the user chose in a file dialog.
* ``/model`` takes a shipped name (``default``, ``humanize``), a plain name of a model in
  the user model folder (``models.magenta.fetch.models_dir()``), or a path that resolves inside that
  folder or the app's data folder (training runs; ``GROOVEBRIDGE_DATA_DIR``). Anything else
  is refused with one line; the app's own model picker is not limited.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

EXPORT_SUBDIR = ("GrooveBridge", "exports")


class OscPathError(ValueError):
    """A path from an OSC message is not allowed; one line for the log / ``/error``."""


def export_dir(settings: Any = None) -> Path:
    """The folder OSC saves go to: ``settings.osc_save_dir`` or the user documents folder."""
    configured = str(getattr(settings, "osc_save_dir", "") or "")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_documents_dir()).joinpath(*EXPORT_SUBDIR)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _relative_name(name: str, what: str) -> Path:
    text = name.strip()
    if not text or "\x00" in text:
        raise OscPathError(f"{what} is empty")
    rel = Path(text.replace("\\", "/"))
    if rel.is_absolute() or text.startswith(("/", "~")) or ".." in rel.parts or (len(text) > 1 and text[1] == ":"):
        raise OscPathError(f"{what} {name!r} must be a name inside the export folder (no absolute path, no ..)")
    return rel


def export_file(name: str, folder: Path) -> Path:
    """``folder/name`` for ``/save`` (``.mid`` only; no suffix -> ``.mid``); OscPathError else."""
    rel = _relative_name(name, "file name")
    if rel.suffix == "":
        rel = rel.with_name(rel.name + ".mid")
    if rel.suffix.lower() != ".mid":
        raise OscPathError(f"file name {name!r}: OSC saves write .mid files only")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / rel
    if not _inside(path, folder):
        raise OscPathError(f"file name {name!r} leads out of the export folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def export_folder(name: str, folder: Path) -> Path:
    """``folder/name`` for ``/save/variations`` (``.`` = the export folder itself)."""
    rel = _relative_name(name, "folder name")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / rel
    if not _inside(path, folder):
        raise OscPathError(f"folder name {name!r} leads out of the export folder")
    return path


def model_roots() -> list[Path]:
    """Folders an OSC ``/model`` path may point into."""
    from models.magenta.fetch import models_dir

    env = os.environ.get("GROOVEBRIDGE_DATA_DIR")
    if env:
        data = Path(env).expanduser()
    else:
        import platformdirs

        data = Path(platformdirs.user_data_dir("groovebridge"))
    return [models_dir(), data]


def osc_model(name: str) -> str:
    """The ``/model`` argument if OSC may load it (see module docstring), else OscPathError."""
    from models.generate import SHIPPED

    text = name.strip()
    if text in SHIPPED:
        return text
    if text and text == Path(text).name and text not in (".", "..") and "\\" not in text:
        from models.magenta.fetch import models_dir

        # a plain name: the user model folder only, never the cwd
        return _existing_model(str(models_dir() / text), name)
    path = Path(text).expanduser()
    if any(_inside(path, root) for root in model_roots()):
        return _existing_model(str(path), name)
    raise OscPathError(
        f"model {name!r}: OSC loads shipped names, imported model names or paths inside the "
        "user model/data folder only (choose other files in the app)"
    )


def _existing_model(path: str, name: str) -> str:
    """``path`` if a model can be found there (a checkpoint or a run folder), else OscPathError:
    a name that leads nowhere is refused before the engine changes anything."""
    from models.generate import resolve_model_path
    from models.train.checkpoint import CheckpointError

    try:
        resolve_model_path(path)
    except CheckpointError:
        raise OscPathError(f"model {name!r} not found (no shipped name, imported model or model path)") from None
    return path
