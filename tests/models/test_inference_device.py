"""Inference device: what torch offers, "auto" measured (not assumed), unavailable ones refused."""

from __future__ import annotations

import time

import pytest
import torch

from models import inference_device
from models.groove import Groove
from models.inference_device import (
    available_devices,
    check_device_choice,
    choose_device,
    time_model,
)

HAS_CUDA = torch.cuda.is_available()


def test_available_devices_start_with_cpu() -> None:
    found = available_devices()
    assert found[0] == "cpu"
    assert ("cuda" in found) == HAS_CUDA
    assert set(found) <= {"cpu", "cuda", "mps"}


def test_auto_returns_cpu_without_timing_when_only_a_cpu() -> None:
    if available_devices() != ["cpu"]:
        pytest.skip("an accelerator is present: auto times it")
    device, report = choose_device("auto", "default")
    assert device == "cpu"
    assert report["device"] == "cpu" and report["timings"] == {} and report["available"] == ["cpu"]


@pytest.mark.skipif(HAS_CUDA, reason="CUDA is present here")
def test_cuda_asked_without_cuda_is_one_line_naming_available_devices() -> None:
    with pytest.raises(ValueError) as info:
        choose_device("cuda", "default")
    text = str(info.value)
    assert "\n" not in text and "cuda" in text and "available: cpu" in text


def test_explicit_cpu_and_bad_choice() -> None:
    assert choose_device("CPU", "default")[0] == "cpu"
    with pytest.raises(ValueError, match="not one of auto, cpu, cuda, mps"):
        check_device_choice("gpu")


class _Timed:
    """A stand-in model whose calls take ``delay`` seconds."""

    num_steps = 64

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def sample(self, n: int, seed: int | None = None) -> list[Groove]:
        time.sleep(self.delay)
        return [Groove.empty()] * n

    def encode(self, grooves: list[Groove]) -> list[list[float]]:
        time.sleep(self.delay)
        return [[0.0]] * len(grooves)


@pytest.mark.parametrize(("cpu_delay", "cuda_delay", "expected"), [(0.0, 0.004, "cpu"), (0.004, 0.0, "cuda")])
def test_auto_measures_each_device_and_takes_the_faster(
    monkeypatch: pytest.MonkeyPatch, cpu_delay: float, cuda_delay: float, expected: str
) -> None:
    monkeypatch.setattr(inference_device, "available_devices", lambda: ["cpu", "cuda"])
    monkeypatch.setattr(inference_device, "_sync", lambda device: None)
    loaded: list[tuple[str, str]] = []

    def loader(name: str, device: str) -> _Timed:
        loaded.append((name, device))
        return _Timed(cpu_delay if device == "cpu" else cuda_delay)

    device, report = choose_device("auto", "some-run", loader=loader, repeats=3)
    assert device == expected and report["device"] == expected
    assert loaded == [("some-run", "cpu"), ("some-run", "cuda")]
    assert set(report["timings"]) == {"cpu", "cuda"}
    for t in report["timings"].values():
        assert t["total_ms"] == pytest.approx(t["sample_ms"] + t["encode_ms"])


def test_auto_skips_a_device_that_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference_device, "available_devices", lambda: ["cpu", "cuda"])
    monkeypatch.setattr(inference_device, "_sync", lambda device: None)

    def loader(name: str, device: str) -> _Timed:
        if device == "cuda":
            raise RuntimeError("CUDA error: out of memory\nmore")
        return _Timed(0.0)

    device, report = choose_device("auto", "default", loader=loader, repeats=1)
    assert device == "cpu"
    assert report["timings"]["cuda"] == {"error": "RuntimeError: CUDA error: out of memory"}


def test_time_model_on_a_real_tiny_model() -> None:
    from models.generate import GrooveModel
    from models.net.config import get_config
    from models.net.vae import GrooVAE

    torch.manual_seed(0)
    model = GrooveModel(GrooVAE(get_config("groovae_tiny")).eval(), name="tiny")
    t = time_model(model, "cpu", repeats=2)
    assert t["sample_ms"] > 0 and t["encode_ms"] > 0


@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_default_model_loads_on_cuda_and_samples() -> None:
    from models.generate import load_model

    assert choose_device("cuda", "default")[0] == "cuda"
    model = load_model("default", device="cuda")
    assert model.device.type == "cuda"
    grooves = model.sample(2, seed=0)
    assert len(grooves) == 2 and grooves[0].num_steps == model.num_steps
    assert model.encode(grooves).shape == (2, model.z_size)
    t = time_model(model, "cuda", repeats=2)
    assert t["sample_ms"] > 0
