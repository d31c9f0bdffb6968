"""Checkpoints: safetensors weights + JSON config (+ optimizer state), written atomically.

A checkpoint is a directory ``ckpt-<step>/`` holding ``model.safetensors``, ``config.json``,
``state.json`` (step and extra metadata) and, for training, ``optimizer.safetensors``. It is
written into a temporary sibling directory and renamed into place, so a kill at any moment
leaves either the old or the new checkpoint, never a half-written one. A run directory keeps
checkpoints under ``checkpoints/`` with ``latest`` and ``best`` pointer files (each replaced
atomically). Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from models.net.config import ConfigError, GrooVAEConfig
from models.net.vae import GrooVAE
from models.train.run_folder import (
    CKPT_SUBDIR,
    CONFIG_FILE,
    MODEL_FILE,
    OPTIMIZER_FILE,
    STATE_FILE,
    best_checkpoint,
    latest_checkpoint,
    list_checkpoints,
)
from models.train.run_folder import read_pointer as _pointer


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or does not match (one-line reason)."""


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"cannot write {path}: {e.strerror or e}") from None


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def save_checkpoint(
    dir_or_file: str | Path,
    model: torch.nn.Module,
    config: GrooVAEConfig,
    step: int,
    optimizer: torch.optim.Optimizer | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory atomically; returns its path.

    ``dir_or_file`` is the checkpoint directory (or a ``model.safetensors`` path inside it).
    """
    path = Path(dir_or_file)
    if path.suffix == ".safetensors":
        path = path.parent
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()
    try:
        weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(tmp / MODEL_FILE), metadata={"config": config.name, "step": str(step)})
        (tmp / CONFIG_FILE).write_text(config.to_json(), encoding="utf-8")
        state: dict[str, Any] = {"step": int(step), "config_name": config.name, **(extra or {})}
        if optimizer is not None:
            tensors, opt_meta = _optimizer_tensors(optimizer)
            save_file(tensors, str(tmp / OPTIMIZER_FILE))
            state["optimizer"] = opt_meta
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if path.exists():
            trash = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.old")
            os.replace(path, trash)
            os.replace(tmp, path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except (OSError, SafetensorError) as e:  # disk full, read-only, ...: the previous stays
        # (safetensors reports its own write errors as SafetensorError, not OSError)
        shutil.rmtree(tmp, ignore_errors=True)
        reason = getattr(e, "strerror", None) or str(e).splitlines()[0]
        raise CheckpointError(f"cannot write checkpoint {path}: {reason}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


# ---- run directories (layout and readers: models.train.run_folder) ------------------------
def set_pointer(run_dir: str | Path, which: str, ckpt: Path) -> None:
    _write_text_atomic(Path(run_dir) / CKPT_SUBDIR / which, ckpt.name + "\n")


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints, sparing the ``best`` one, and the
    temporary leftovers of writes that a kill interrupted (the caller is the run's only
    writer, and calls this after its own write has finished)."""
    best = best_checkpoint(run_dir)
    found = list_checkpoints(run_dir)
    for p in found[: max(0, len(found) - keep)]:
        if best is None or p.resolve() != best.resolve():
            # Rename first: a kill during rmtree must not leave a half-deleted ckpt-* dir.
            trash = p.with_name(f".{p.name}.{uuid.uuid4().hex[:8]}.old")
            os.replace(p, trash)
            shutil.rmtree(trash, ignore_errors=True)
    d = Path(run_dir) / CKPT_SUBDIR
    for p in d.glob(".*"):
        if p.name.endswith((".tmp", ".old")):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def remove_stale_temporaries(run_dir: str | Path) -> None:
    """Delete half-written checkpoint directories left by a killed writer (call at start)."""
    d = Path(run_dir) / CKPT_SUBDIR
    if d.is_dir():
        for p in d.iterdir():
            if p.name.startswith(".") and p.name.endswith((".tmp", ".old")):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def resolve_checkpoint(path: str | Path, prefer: str = "latest") -> Path:
    """A checkpoint directory from a checkpoint dir, a model.safetensors file or a run dir."""
    p = Path(path).expanduser()
    if not p.exists():
        raise CheckpointError(f"checkpoint not found: {p}")
    if p.is_file() and p.name in ("latest", "best") and p.parent.name == CKPT_SUBDIR:
        target = _pointer(p.parent.parent, p.name)  # a plain ckpt-* name, never a way out
        if target is None:
            raise CheckpointError(f"{p} does not name a checkpoint in {p.parent}")
        p = target
    if p.is_file():
        if p.suffix != ".safetensors":
            raise CheckpointError(f"not a checkpoint (expected a directory or .safetensors file): {p}")
        p = p.parent
    if (p / MODEL_FILE).is_file():
        return p
    found = (best_checkpoint(p) if prefer == "best" else None) or latest_checkpoint(p)
    if found is None:
        raise CheckpointError(f"no checkpoint in {p}")
    return found


def load_config(ckpt: Path) -> GrooVAEConfig:
    try:
        return GrooVAEConfig.from_dict(json.loads((ckpt / CONFIG_FILE).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {ckpt} has no {CONFIG_FILE}") from None
    except (ValueError, ConfigError, TypeError) as e:
        raise CheckpointError(f"checkpoint {ckpt}: bad {CONFIG_FILE}: {e}") from None


def _foreign_format(head: bytes) -> str | None:
    """What a file that is not safetensors looks like (safetensors: u64 header length, then
    ``{``), from its first bytes; None when it may be safetensors."""
    if len(head) >= 9 and head[8:9] == b"{":
        return None
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle"
    if head[:4] == b"PK\x03\x04":
        return "a zip archive (a torch.save pickle?)"
    return None


def _expected_tensors(ckpt: Path, config: GrooVAEConfig) -> dict[str, torch.Tensor]:
    """The model's tensors on the meta device: shapes and dtypes, nothing allocated (a
    hostile config.json with huge sizes costs nothing here)."""
    try:
        with torch.device("meta"):
            return dict(GrooVAE(config).state_dict())
    except (RuntimeError, ValueError, TypeError, ConfigError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"checkpoint {ckpt}: {CONFIG_FILE} describes no valid model ({reason})") from None


def _read_weights(ckpt: Path) -> dict[str, torch.Tensor]:
    """model.safetensors as tensors; never unpickles (a pickle is named and refused)."""
    path = ckpt / MODEL_FILE
    try:
        with open(path, "rb") as fh:
            foreign = _foreign_format(fh.read(9))
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from None
    if foreign is not None:
        raise CheckpointError(
            f"refusing {path}: it is {foreign}, not safetensors (a pickle can run code)"
        )
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"cannot read {path}: not a valid safetensors file ({reason})") from None


def _check_weights(ckpt: Path, config: GrooVAEConfig, weights: dict[str, torch.Tensor]) -> None:
    expected = _expected_tensors(ckpt, config)
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {ckpt} does not match config {config.name}: "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    for k, v in weights.items():
        if v.shape != expected[k].shape:
            raise CheckpointError(
                f"checkpoint {ckpt}: {k} has shape {tuple(v.shape)}, config expects {tuple(expected[k].shape)}"
            )
        # Shipped weights may be stored as float16 (half the download); they load as float32.
        half_ok = v.dtype in (torch.float16, torch.bfloat16) and expected[k].dtype == torch.float32
        if v.dtype != expected[k].dtype and not half_ok:
            raise CheckpointError(
                f"checkpoint {ckpt}: {k} has dtype {v.dtype}, the model needs {expected[k].dtype}"
            )
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"checkpoint {ckpt}: {k} holds NaN or infinite values")


def _read_state(ckpt: Path) -> dict[str, Any]:
    """state.json as a dict ({} when absent); damage is a CheckpointError."""
    path = ckpt / STATE_FILE
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {ckpt}: bad {STATE_FILE}: {e}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {ckpt}: bad {STATE_FILE}: not a JSON object")
    return state


def load_checkpoint(
    path: str | Path, device: str | torch.device | None = None, prefer: str = "latest"
) -> tuple[GrooVAE, GrooVAEConfig, dict[str, Any]]:
    """(model in eval mode on ``device``, config, meta from state.json incl. ``path``).

    Every check (names, shapes, dtypes, finite values, config) runs before the model is
    built, so a damaged or hostile checkpoint is refused with one line and costs no memory."""
    ckpt = resolve_checkpoint(path, prefer)
    config = load_config(ckpt)
    weights = _read_weights(ckpt)
    _check_weights(ckpt, config, weights)
    meta = _read_state(ckpt)
    model = GrooVAE(config)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights.items()})
    model.eval()
    if device is not None:
        model.to(device)
    meta["path"] = str(ckpt)
    return model, config, meta


def load_optimizer_state(ckpt: Path, optimizer: torch.optim.Optimizer) -> None:
    """Restore an optimizer saved by ``save_checkpoint`` (same parameter order)."""
    meta = _read_state(ckpt).get("optimizer")
    if meta is None or not (ckpt / OPTIMIZER_FILE).is_file():
        raise CheckpointError(f"checkpoint {ckpt} has no optimizer state")
    try:
        tensors = load_file(str(ckpt / OPTIMIZER_FILE))
        per_param: dict[int, dict[str, Any]] = {}
        for key, v in tensors.items():
            pid, name = key.split(".", 1)
            per_param.setdefault(int(pid), {})[name] = v
        for key, v in meta["scalars"].items():
            pid, name = key.split(".", 1)
            per_param.setdefault(int(pid), {})[name] = v
        optimizer.load_state_dict({"state": per_param, "param_groups": meta["param_groups"]})
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"checkpoint {ckpt}: unusable optimizer state ({reason})") from None
