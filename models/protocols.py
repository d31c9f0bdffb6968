"""What the bridge asks of a loaded model, as typed Protocols (no torch here).

``models.generate.GrooveModel`` implements all of them; the engine's test stand-ins
(``tests/bridge/engine_fakes.FakeModel``) implement ``GrooveModelLike``. The signatures are the
calls the bridge makes (``bridge/engine/``: generation worker, model commands, follow,
attributes; ``models.inference_device``), so an implementation may take more (keyword)
arguments than listed, never fewer:

* ``GrooveModelLike``: every model: sample, encode, encode_quick, decode, reconstruct, humanize;
* ``AttributeModelLike``: a model with a fitted prior whose attribute directions it can shift
  along (``sample(..., attributes=...)``, ``shift``); tell it with ``can_shift``;
* ``ControlledModelLike``: a model whose decoder takes control hits (``sample(..., controls=...)``);
* ``DrumifyModelLike``: a Drumify (tap-to-drums) model's ``drumify``;
* ``ModelLoader`` / ``DeviceModelLoader``: name (or checkpoint path) [and device] -> a model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, TypeGuard, runtime_checkable

import numpy as np

from models.groove import Groove


class GrooveModelLike(Protocol):
    """A loaded generative groove model (calls are made from one thread at a time)."""

    @property
    def name(self) -> str: ...

    @property
    def num_steps(self) -> int:
        """The length of the grooves it encodes and decodes (steps of a 16th)."""
        ...

    def encode(self, grooves: list[Groove]) -> np.ndarray:
        """Encoder means (n, z_size) of grooves of exactly ``num_steps`` steps."""
        ...

    def encode_quick(self, grooves: list[Groove]) -> np.ndarray:
        """``encode`` by a small distilled encoder where the model has one (follow mode's
        per-bar encode), else the same as ``encode``."""
        ...

    def decode(self, z: np.ndarray, temperature: float = 1.0, seed: int | None = None) -> list[Groove]:
        """One groove per row of ``z`` (n, z_size)."""
        ...

    def sample(self, n: int, temperature: float = 1.0, seed: int | None = None) -> list[Groove]: ...

    def reconstruct(self, groove: Groove, temperature: float = 1.0, seed: int | None = None) -> Groove: ...

    def humanize(self, groove: Groove, temperature: float = 1.0, seed: int | None = None, *,
                 amount: float | None = None) -> Groove:
        """``groove``'s hits, played: the model's velocities and timing (``amount`` 0-1: that far)."""
        ...


@runtime_checkable
class AttributeModelLike(GrooveModelLike, Protocol):
    """A model that moves grooves along musical attribute directions (a fitted prior's)."""

    def sample(self, n: int, temperature: float = 1.0, seed: int | None = None, *,
               attributes: Mapping[str, float] | None = None) -> list[Groove]: ...

    def shift(self, groove: Groove, attributes: Mapping[str, float], temperature: float = 0.0,
              seed: int | None = None) -> Groove: ...


class ControlledModelLike(GrooveModelLike, Protocol):
    """A model whose decoder takes control hits (``config.hits_as_controls``: humanize-style)."""

    def sample(self, n: int, temperature: float = 1.0, seed: int | None = None, *,
               controls: list[Groove] | None = None) -> list[Groove]: ...


@runtime_checkable
class DrumifyModelLike(Protocol):
    """A Drumify model: every hit of ``rhythm`` is a tap; a full groove comes back."""

    def drumify(self, rhythm: Groove, temperature: float = 0.0, seed: int | None = None) -> Groove: ...


ModelLoader = Callable[[str], GrooveModelLike]  # name or checkpoint path -> model (on the CPU)
DeviceModelLoader = Callable[[str, str], GrooveModelLike]  # (name or path, device) -> model


def can_shift(model: GrooveModelLike) -> TypeGuard[AttributeModelLike]:
    """Whether ``model`` can shift along attribute directions: it has the calls and a fitted
    prior with directions."""
    prior = getattr(model, "prior", None)
    return (prior is not None and getattr(prior, "directions", None) is not None
            and isinstance(model, AttributeModelLike))
