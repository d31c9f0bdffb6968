"""The engine's inference device: where the model loads (``Settings.device``, ``set_device``).

A mixin of ``bridge.engine.Engine``. Model loads run on the generation worker: the main
model's load first resolves the device (``models.inference_device.choose_device``: "auto"
times the available devices, the others are taken as asked), then loads there. A device
that is not available or fails to load is reported as one error line and the model loads
on the CPU instead. Helper models (humanize, drumify) load on the main model's device.
The snapshot's ``device`` is the device the playing model actually runs on.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from bridge.engine.command import command
from models.inference_device import check_device_choice, choose_device

if TYPE_CHECKING:  # pragma: no cover
    from bridge.engine.core import Engine as _Base
else:
    _Base = object


def accepts_device(loader: Any) -> bool:
    """Whether ``loader(name, device=...)`` is allowed (test stand-ins take a name only)."""
    try:
        params = inspect.signature(loader).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "device" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def device_of(model: Any, fallback: str) -> str:
    """The torch device type a loaded model sits on ("cpu", "cuda", "mps"), else ``fallback``."""
    dev = getattr(model, "device", None)
    kind = getattr(dev, "type", None) or (dev if isinstance(dev, str) else None)
    return str(kind).split(":")[0] if kind else fallback


class EngineDeviceMixin(_Base):
    _model_device: str = ""  # the device of the loaded model (worker thread writes, then posts)
    _attempt_device: str = ""
    _attempt_timings: dict[str, float] = {}  # noqa: RUF012 - replaced, never mutated

    # ---- commands (control thread) ---------------------------------------------------------------
    @command
    def set_device(self, preference: str) -> None:
        """Reload the active model on ``preference`` (auto | cpu | cuda | mps)."""
        pref = check_device_choice(preference)
        self._update(device_preference=pref)
        self._emit("settings", {"device": pref})
        self._load_model(self._snap.model_name or self.settings.model)

    def _load_model(self, name: str) -> None:
        pref = self._snap.device_preference
        self.worker.load(name, loader=lambda n: self._load_on_device(n, pref))  # type: ignore[union-attr]

    # ---- loading (worker thread) ----------------------------------------------------------------
    def _call_loader(self, name: str, device: str) -> Any:
        if accepts_device(self._loader):
            return self._loader(name, device=device)  # type: ignore[call-arg]
        return self._loader(name)

    def _load_on_device(self, name: str, preference: str) -> Any:
        """The main model, on the device ``preference`` resolves to (CPU when that fails)."""
        timings: dict[str, float] = {}
        if accepts_device(self._loader):
            try:
                device, report = choose_device(preference, name, loader=self._call_loader)
                timings = {d: round(t["total_ms"], 3) for d, t in report["timings"].items() if "total_ms" in t}
            except ValueError as e:
                self._post(self._error, f"{e}; using the CPU")
                device = "cpu"
        elif preference in ("auto", "cpu"):
            device = "cpu"
        else:  # a stand-in loader cannot place its model: say so, run where it lands
            self._post(self._error, f"device {preference!r}: this model loader cannot choose a device; using the CPU")
            device = "cpu"
        if self._model_device and device != self._model_device:
            self.worker.drop_helpers()  # type: ignore[union-attr]  # reloaded on the new device when used
        try:
            model = self._call_loader(name, device)
        except Exception as e:
            if device == "cpu":
                raise
            text = (str(e).strip().splitlines() or [type(e).__name__])[0]
            self._post(self._error, f"model {name!r} on {device}: {text}; using the CPU")
            device = "cpu"
            model = self._call_loader(name, device)
        self._attempt_device = device_of(model, device)
        self._attempt_timings = timings
        return model

    def _load_helper(self, name: str) -> Any:
        """Helper models (humanize, drumify) on the main model's device."""
        return self._call_loader(name, self._model_device or "cpu")

    def _device_state(self, state: str) -> tuple[str, dict[str, float]]:
        """(device, timings) to report with a model state change (worker thread)."""
        if state == "ready":
            self._model_device = self._attempt_device or "cpu"
            return self._model_device, dict(self._attempt_timings)
        return self._model_device, {}
