"""Engine inference device: the setting reaches the loader, a device that is not there falls back
to the CPU with an error event, "auto" measures, set_device reloads (fake models; one real
CUDA run where there is CUDA)."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from engine_fakes import Events, FakeModel, wait_for

from bridge.clock.base import InternalClock
from bridge.engine import Engine, default_model_loader
from bridge.settings import Settings
from models import inference_device
from tests.rigs.midi_fakes import FakeMidiIO

BPM = 300.0
HAS_CUDA = torch.cuda.is_available()


class DeviceLoader:
    """A loader that takes a device, as the real one does; records (name, device)."""

    def __init__(self, delays: dict[str, float] | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.delays = delays or {}
        self.lock = threading.Lock()

    def __call__(self, name: str, device: str = "cpu") -> FakeModel:
        with self.lock:
            self.calls.append((name, device))
        model = FakeModel(decode_delay_sec=0.0)
        delay = self.delays.get(device, 0.0)
        if delay:
            plain = model.sample
            model.sample = lambda n, temperature=1.0, seed=None: (time.sleep(delay), plain(n, temperature, seed))[1]  # type: ignore[method-assign]
        return model


def start(loader: object, device: str) -> tuple[Engine, FakeMidiIO, Events]:
    midi = FakeMidiIO()
    engine = Engine(Settings(bpm=BPM, device=device), model_loader=loader, midi=midi,  # type: ignore[arg-type]
                    clock=InternalClock(BPM))
    events = Events()
    engine.subscribe(events)
    engine.start()
    wait_for(lambda: engine.snapshot().model_state == "ready", what="model ready")
    return engine, midi, events


@pytest.mark.skipif(HAS_CUDA, reason="CUDA is present here")
def test_cuda_without_cuda_falls_back_to_cpu_and_still_plays() -> None:
    loader = DeviceLoader()
    engine, midi, events = start(loader, "cuda")
    try:
        wait_for(lambda: engine.snapshot().device == "cpu", what="device reported")
        assert loader.calls == [("default", "cpu")]
        errors = [str(e) for e in events.of("error")]
        assert len(errors) == 1 and "\n" not in errors[0]
        assert "'cuda' is not available" in errors[0] and "available: cpu" in errors[0]
        assert "using the CPU" in errors[0]
        snap = engine.snapshot()
        assert snap.device_preference == "cuda"
        assert [p for p in events.of("model") if p["state"] == "ready"][0]["device"] == "cpu"  # type: ignore[index]
        wait_for(lambda: len(engine.snapshot().variations) == 4, what="variations")
        engine.play()
        wait_for(lambda: len(midi.notes()) >= 2, what="notes")
    finally:
        engine.close()


def test_set_device_reloads_the_model_there() -> None:
    loader = DeviceLoader()
    engine, _midi, events = start(loader, "auto")
    try:
        assert engine.snapshot().device == "cpu" and engine.snapshot().device_preference == "auto"
        engine.set_device("cpu")
        wait_for(lambda: len(loader.calls) == 2 and engine.snapshot().model_state == "ready", what="reload")
        assert loader.calls[-1] == ("default", "cpu")
        assert engine.snapshot().device_preference == "cpu"
        assert {"device": "cpu"} in events.of("settings")
        engine.set_device("gpu")
        wait_for(lambda: any("gpu" in str(e) for e in events.of("error")), what="bad device error")
        assert engine.snapshot().device_preference == "cpu"
    finally:
        engine.close()


def test_a_loader_without_devices_runs_on_the_cpu_and_says_so() -> None:
    fake = FakeModel()
    engine, _midi, events = start(lambda name: fake, "mps")
    try:
        wait_for(lambda: engine.snapshot().device == "cpu", what="device")
        assert any("cannot choose a device" in str(e) for e in events.of("error"))
    finally:
        engine.close()


@pytest.mark.parametrize(("delays", "expected"), [({"cpu": 0.0, "cuda": 0.003}, "cpu"),
                                                   ({"cpu": 0.003, "cuda": 0.0}, "cuda")])
def test_auto_times_the_devices_and_reports_them(monkeypatch: pytest.MonkeyPatch, delays: dict[str, float],
                                                 expected: str) -> None:
    monkeypatch.setattr(inference_device, "available_devices", lambda: ["cpu", "cuda"])
    monkeypatch.setattr(inference_device, "_sync", lambda device: None)
    loader = DeviceLoader(delays)
    engine, _midi, _events = start(loader, "auto")
    try:
        wait_for(lambda: engine.snapshot().device == expected, what="device")
        snap = engine.snapshot()
        assert set(snap.device_timings) == {"cpu", "cuda"}
        assert loader.calls[:3] == [("default", "cpu"), ("default", "cuda"), ("default", expected)]
    finally:
        engine.close()


def test_a_failing_device_load_falls_back_to_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference_device, "available_devices", lambda: ["cpu", "cuda"])

    def loader(name: str, device: str = "cpu") -> FakeModel:
        if device == "cuda":
            raise RuntimeError("CUDA driver version is insufficient\ndetails")
        return FakeModel()

    engine, _midi, events = start(loader, "cuda")
    try:
        wait_for(lambda: engine.snapshot().device == "cpu", what="device")
        errors = [str(e) for e in events.of("error")]
        assert errors == ["model 'default' on cuda: CUDA driver version is insufficient; using the CPU"]
    finally:
        engine.close()


@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_default_model_on_cuda_samples() -> None:
    engine, _midi, _events = start(default_model_loader, "cuda")
    try:
        assert engine.snapshot().device == "cuda"
        wait_for(lambda: len(engine.snapshot().variations) == 4, timeout_sec=30, what="variations")
    finally:
        engine.close()
