"""Read magenta.js / TensorFlow.js weight folders (``weights_manifest.json`` + shard files).

The manifest is a list of groups ``{"paths": [shard, ...], "weights": [{"name", "shape",
"dtype", optional "quantization": {"dtype", "scale", "min"}}]}``. A group's shards,
concatenated, hold its tensors back to back in manifest order (little-endian). Quantised
weights are stored as uint8/uint16 (value = q * scale + min) or float16. Shard paths must
stay inside the folder: absolute paths, ``..`` and links pointing elsewhere are refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST_FILE = "weights_manifest.json"
CONFIG_FILE = "config.json"

_DTYPES: dict[str, np.dtype[Any]] = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "bool": np.dtype("?")}
_QUANT_DTYPES: dict[str, np.dtype[Any]] = {"uint8": np.dtype("u1"), "uint16": np.dtype("<u2"), "float16": np.dtype("<f2")}


class MagentaJSError(Exception):
    """An unusable magenta.js folder; the message is one line for the user."""


def _safe_member(folder: Path, rel: object) -> Path:
    if not isinstance(rel, str) or not rel:
        raise MagentaJSError(f"{MANIFEST_FILE}: shard path {rel!r} is not a file name")
    p = Path(rel)
    if p.is_absolute() or rel.startswith(("/", "\\")) or ".." in p.parts or ":" in rel:
        raise MagentaJSError(f"{MANIFEST_FILE}: shard path {rel!r} points outside its folder")
    target = folder / p
    root = folder.resolve()
    resolved = target.resolve()
    if not resolved.is_relative_to(root):
        raise MagentaJSError(f"{MANIFEST_FILE}: shard path {rel!r} points outside its folder")
    return target


def read_manifest(folder: str | Path) -> list[dict[str, Any]]:
    """The validated manifest of ``folder`` (groups with paths and weights)."""
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MagentaJSError(f"no {MANIFEST_FILE} in {folder}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MagentaJSError(
            f"{MANIFEST_FILE} is not valid JSON ({e.__class__.__name__})"
        ) from None
    if not isinstance(manifest, list) or not manifest:
        raise MagentaJSError(f"{MANIFEST_FILE} must be a non-empty list of weight groups")
    for group in manifest:
        if not isinstance(group, dict) or not isinstance(group.get("paths"), list):
            raise MagentaJSError(f"{MANIFEST_FILE}: every group needs a 'paths' list")
        if not isinstance(group.get("weights"), list):
            raise MagentaJSError(f"{MANIFEST_FILE}: every group needs a 'weights' list")
        for rel in group["paths"]:
            _safe_member(folder, rel)
        for w in group["weights"]:
            if not isinstance(w, dict) or not isinstance(w.get("name"), str):
                raise MagentaJSError(f"{MANIFEST_FILE}: a weight entry has no name")
            shape = w.get("shape")
            if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
            ):
                raise MagentaJSError(f"{MANIFEST_FILE}: weight {w['name']} has a bad shape")
    return manifest


def read_config(folder: str | Path) -> dict[str, Any]:
    """magenta.js ``config.json`` if present and readable, else {}."""
    try:
        cfg = json.loads((Path(folder) / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def _decode(w: dict[str, Any], raw: bytes) -> np.ndarray:
    shape = tuple(w["shape"])
    quant = w.get("quantization")
    if quant:
        stored = _QUANT_DTYPES[quant["dtype"]]
        q = np.frombuffer(raw, dtype=stored).reshape(shape)
        if quant["dtype"] == "float16":
            return q.astype(np.float32)
        return q.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
    return np.frombuffer(raw, dtype=_DTYPES[w.get("dtype", "float32")]).reshape(shape).copy()


def _stored_nbytes(w: dict[str, Any]) -> int:
    quant = w.get("quantization")
    dtype_name = w.get("dtype", "float32")
    if quant:
        if not isinstance(quant, dict) or quant.get("dtype") not in _QUANT_DTYPES:
            raise MagentaJSError(f"{w['name']}: unsupported quantization {quant!r}")
        if quant["dtype"] != "float16" and not {"scale", "min"} <= set(quant):
            raise MagentaJSError(f"{w['name']}: quantization lacks scale/min")
        itemsize = _QUANT_DTYPES[quant["dtype"]].itemsize
    elif dtype_name in _DTYPES:
        itemsize = _DTYPES[dtype_name].itemsize
    else:
        raise MagentaJSError(f"{w['name']}: unsupported dtype {dtype_name!r}")
    return int(np.prod(w["shape"], dtype=np.int64)) * itemsize


def read_magenta_js(folder: str | Path) -> dict[str, np.ndarray]:
    """All tensors of a magenta.js folder by name (float32 after de-quantisation)."""
    folder = Path(folder)
    tensors: dict[str, np.ndarray] = {}
    for group in read_manifest(folder):
        chunks = []
        for rel in group["paths"]:
            shard = _safe_member(folder, rel)
            try:
                chunks.append(shard.read_bytes())
            except FileNotFoundError:
                raise MagentaJSError(f"weight shard missing: {rel}") from None
            except OSError as e:
                raise MagentaJSError(f"cannot read weight shard {rel}: {e.strerror}") from None
        blob = b"".join(chunks)
        pos = 0
        for w in group["weights"]:
            n = _stored_nbytes(w)
            if pos + n > len(blob):
                raise MagentaJSError(
                    f"weight shards are truncated: {w['name']} needs bytes {pos}..{pos + n} "
                    f"but the group holds {len(blob)}"
                )
            if w["name"] in tensors:
                raise MagentaJSError(f"{MANIFEST_FILE} lists {w['name']} twice")
            tensors[w["name"]] = _decode(w, blob[pos : pos + n])
            pos += n
        if pos != len(blob):
            raise MagentaJSError(
                f"weight shards hold {len(blob) - pos} bytes more than {MANIFEST_FILE} lists"
            )
    return tensors
