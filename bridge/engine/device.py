"""The engine's inference device: where the model loads (``Settings.device``, ``set_device``).

``DevicePlacer`` is a collaborator of ``bridge.engine.Engine`` with explicit dependencies (the
model loader, an error sink, the worker's ``drop_helpers``); the engine's ``set_device`` command
and ``_load_model`` use it. Model loads run on the generation worker: the main
model's load first resolves the device (``models.inference_device.choose_device``: "auto"
times the available devices, the others are taken as asked), then loads there. A device
that is not available or fails to load is reported as one error line and the model loads
on the CPU instead. Helper models (humanize, drumify) load on the main model's device.
The snapshot's ``device`` is the device the playing model actually runs on.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from models.inference_device import choose_device
from models.protocols import GrooveModelLike

AnyLoader = Callable[..., GrooveModelLike]  # loader(name) or loader(name, device=...)


def default_model_loader(name: str, device: str = "cpu") -> GrooveModelLike:
    """Load a shipped model by name ("" or "default": the default one) or a checkpoint path."""
    from models.generate import load_model

    return load_model(None if name in ("", "default") else name, device=device)


def accepts_device(loader: AnyLoader) -> bool:
    """Whether ``loader(name, device=...)`` is allowed (test stand-ins take a name only)."""
    try:
        params = inspect.signature(loader).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "device" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def device_of(model: GrooveModelLike, fallback: str) -> str:
    """The torch device type a loaded model sits on ("cpu", "cuda", "mps"), else ``fallback``."""
    dev = getattr(model, "device", None)
    kind = getattr(dev, "type", None) or (dev if isinstance(dev, str) else None)
    return str(kind).split(":")[0] if kind else fallback


class DevicePlacer:
    """Where models load (called on the generation worker thread).

    ``loader(name[, device=...])`` loads a model; ``report_error(text)`` tells the user one line
    (the engine posts it to its control thread); ``drop_helpers()`` forgets the helper models
    when the main model moves to another device (they reload there when next used).
    """

    def __init__(self, loader: AnyLoader, report_error: Callable[[str], None],
                 drop_helpers: Callable[[], None]) -> None:
        self._loader = loader
        self._report_error = report_error
        self._drop_helpers = drop_helpers
        self.model_device = ""  # the device of the loaded model (worker thread writes, then posts)
        self._attempt_device = ""
        self._attempt_timings: dict[str, float] = {}

    def call_loader(self, name: str, device: str) -> GrooveModelLike:
        if accepts_device(self._loader):
            return self._loader(name, device=device)
        return self._loader(name)

    def load_main(self, name: str, preference: str) -> GrooveModelLike:
        """The main model, on the device ``preference`` resolves to (CPU when that fails)."""
        timings: dict[str, float] = {}
        if accepts_device(self._loader):
            try:
                device, report = choose_device(preference, name, loader=self.call_loader)
                timings = {d: round(t["total_ms"], 3) for d, t in report["timings"].items() if "total_ms" in t}
            except ValueError as e:
                self._report_error(f"{e}; using the CPU")
                device = "cpu"
        elif preference in ("auto", "cpu"):
            device = "cpu"
        else:  # a stand-in loader cannot place its model: say so, run where it lands
            self._report_error(f"device {preference!r}: this model loader cannot choose a device; using the CPU")
            device = "cpu"
        if self.model_device and device != self.model_device:
            self._drop_helpers()  # reloaded on the new device when used
        try:
            model = self.call_loader(name, device)
        except Exception as e:
            if device == "cpu":
                raise
            text = (str(e).strip().splitlines() or [type(e).__name__])[0]
            self._report_error(f"model {name!r} on {device}: {text}; using the CPU")
            device = "cpu"
            model = self.call_loader(name, device)
        self._attempt_device = device_of(model, device)
        self._attempt_timings = timings
        return model

    def load_helper(self, name: str) -> GrooveModelLike:
        """Helper models (humanize, drumify) on the main model's device."""
        return self.call_loader(name, self.model_device or "cpu")

    def state(self, state: str) -> tuple[str, dict[str, float]]:
        """(device, timings) to report with a model state change."""
        if state == "ready":
            self.model_device = self._attempt_device or "cpu"
            return self.model_device, dict(self._attempt_timings)
        return self.model_device, {}
