"""Files stored beside a checkpoint's weights (the fitted prior, the follow encoder): a
safetensors file with its JSON description, read with one error type and one-line messages.
Nothing is pickled: safetensors and JSON only."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from safetensors import SafetensorError

T = TypeVar("T")


def read_sidecar(d: Path, tensors_name: str, json_name: str, load: Callable[[str], T], error: type[Exception],
                 what: str, missing: str) -> tuple[dict[str, Any], T]:
    """The JSON object and the tensors (``load``: safetensors' numpy or torch ``load_file``) of
    ``tensors_name`` + ``json_name`` in ``d``; ``error(missing)`` when either file is absent,
    ``error`` naming ``what`` when unreadable or the JSON is no object."""
    if not (d / tensors_name).is_file() or not (d / json_name).is_file():
        raise error(missing)
    try:
        meta = json.loads((d / json_name).read_text(encoding="utf-8"))
        tensors = load(str(d / tensors_name))
    except (OSError, ValueError, SafetensorError) as e:
        raise error(f"cannot read the {what} in {d}: {e}") from None
    if not isinstance(meta, dict):
        raise error(f"{d / json_name}: not a GrooveBridge {what}")
    return meta, tensors
