"""Where live inference runs: the devices torch offers and a measured choice between them.

``choose_device("auto", model)`` loads the model on each available device, times one
``sample(1)`` and one ``encode`` of one groove there (after a warm-up call, the median of a
few) and picks the faster for live work. Batch-1 autoregressive decoding pays a kernel
launch per step on a GPU, so a CPU often wins: measure, don't assume. With only a CPU it
returns "cpu" without timing anything. ``cpu`` / ``cuda`` / ``mps`` are taken as asked; an
unavailable one is a one-line ``ValueError`` naming the devices there are.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from models.groove import Groove
from models.protocols import ControlledModelLike, DeviceModelLoader, GrooveModelLike

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
TIMING_REPEATS = 5

Loader = DeviceModelLoader  # (name or path, device) -> a model with sample / encode


def available_devices() -> list[str]:
    """"cpu", then "cuda" and "mps" when torch reports them."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def check_device_choice(preference: str) -> str:
    """``preference`` lower-cased, or a one-line ValueError when it is not auto|cpu|cuda|mps."""
    value = str(preference).strip().lower()
    if value not in DEVICE_CHOICES:
        raise ValueError(f"device {preference!r} is not one of {', '.join(DEVICE_CHOICES)}")
    return value


def _default_loader(name: str, device: str) -> GrooveModelLike:
    from models.generate import load_model

    return load_model(None if name in ("", "default") else name, device=device)


def _probe_groove(num_steps: int) -> Groove:
    """A plain rock beat: kick on 1 and 3, snare on 2 and 4, closed hats on eighths."""
    g = Groove.empty(num_steps)
    hits, vels = g.hits.copy(), g.velocities.copy()
    for step in range(0, num_steps, 2):
        hits[step, 2], vels[step, 2] = 1.0, 0.6
    for step in range(0, num_steps, 4):
        k = 0 if step % 8 == 0 else 1
        hits[step, k], vels[step, k] = 1.0, 0.8
    return Groove(hits, vels, g.offsets.copy(), g.bpm)


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def time_model(model: GrooveModelLike, device: str, repeats: int = TIMING_REPEATS) -> dict[str, float]:
    """Median ms of ``sample(1)`` and of ``encode`` of one groove, after one warm-up call each."""
    groove = _probe_groove(int(getattr(model, "num_steps", 64) or 64))
    config = getattr(model, "config", None)
    controls = [groove] if getattr(config, "hits_as_controls", False) else None
    controlled = cast(ControlledModelLike, model)  # used only when its config asks for control hits
    calls: dict[str, Callable[[], object]] = {
        "sample_ms": lambda: controlled.sample(1, seed=0, controls=controls) if controls else model.sample(1, seed=0),
        "encode_ms": lambda: model.encode([groove]),
    }
    out: dict[str, float] = {}
    for key, fn in calls.items():
        fn()  # warm-up: first calls compile / allocate
        _sync(device)
        times = []
        for _ in range(max(1, repeats)):
            t = time.perf_counter()
            fn()
            _sync(device)
            times.append((time.perf_counter() - t) * 1e3)
        out[key] = float(statistics.median(times))
    out["total_ms"] = out["sample_ms"] + out["encode_ms"]
    return out


def choose_device(
    preference: str,
    model_path_or_name: str | Path | None = "default",
    *,
    loader: Loader | None = None,
    repeats: int = TIMING_REPEATS,
) -> tuple[str, dict[str, Any]]:
    """(device for live inference, report). The report holds ``preference``, ``available``,
    ``device`` and, when "auto" timed several devices, ``timings``: {device: {sample_ms,
    encode_ms, total_ms}} (a device whose load or run failed has {"error": text} instead)."""
    pref = check_device_choice(preference)
    avail = available_devices()
    report: dict[str, Any] = {"preference": pref, "available": avail, "timings": {}}
    if pref != "auto":
        if pref not in avail:
            raise ValueError(f"device {pref!r} is not available here; available: {', '.join(avail)}")
        report["device"] = pref
        return pref, report
    if len(avail) == 1:
        report["device"] = "cpu"
        return "cpu", report
    load = loader or _default_loader
    name = "default" if model_path_or_name is None else str(model_path_or_name)
    timings: dict[str, dict[str, Any]] = report["timings"]
    for device in avail:
        try:
            timings[device] = time_model(load(name, device), device, repeats)
        except Exception as e:  # noqa: BLE001 - a device that fails is simply not chosen
            text = str(e).strip().splitlines()
            timings[device] = {"error": f"{type(e).__name__}: {text[0]}" if text else type(e).__name__}
            log.warning("device %s not usable: %s", device, timings[device]["error"])
    timed = {d: t["total_ms"] for d, t in timings.items() if "total_ms" in t}
    best = min(timed, key=lambda d: timed[d]) if timed else "cpu"
    report["device"] = best
    log.info("inference device: %s (%s)", best,
             ", ".join(f"{d} {ms:.2f} ms" for d, ms in timed.items()))
    return best, report

