"""The typed model Protocols (``models/protocols.py``): the real model and the engine's fakes
implement them with compatible signatures, and the worker narrows to them where it needs more."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

from bridge.engine.attributes import has_directions, shifting
from bridge.engine.generation import GenerationWorker, ModelNotReady
from models.generate import GrooveModel
from models.groove import Groove
from models.net.attributes import AttributeValueError
from models.protocols import (
    AttributeModelLike,
    ControlledModelLike,
    DrumifyModelLike,
    GrooveModelLike,
    can_shift,
)
from tests.bridge.engine_fakes import FakeModel, wait_for

CALLS = ("encode", "encode_quick", "decode", "sample", "reconstruct", "humanize")


def accepts(impl: Any, proto: Any) -> list[str]:
    """Why ``impl`` cannot be called every way ``proto`` can (empty: it can): the protocol's
    positional parameters in order, its keyword ones by name, a default wherever it has one."""
    want = list(inspect.signature(proto).parameters.values())[1:]  # without self
    have = inspect.signature(impl).parameters
    has_var_kw = any(p.kind is p.VAR_KEYWORD for p in have.values())
    positional = [p for p in have.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][1:]
    problems = []
    for i, p in enumerate(want):
        if p.kind is p.POSITIONAL_OR_KEYWORD:
            if i >= len(positional) or positional[i].name != p.name:
                problems.append(f"positional {i} is not {p.name!r}")
                continue
            got = positional[i]
        else:  # keyword-only in the protocol
            got = have.get(p.name)
            if got is None or got.kind not in (got.POSITIONAL_OR_KEYWORD, got.KEYWORD_ONLY):
                if not has_var_kw:
                    problems.append(f"no keyword {p.name!r}")
                continue
        if p.default is not p.empty and got.default is got.empty:
            problems.append(f"{p.name!r} has no default")
    extra = [p.name for p in have.values() if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
             and p.name != "self" and p.name not in {w.name for w in want}]
    problems += [f"{name!r} is required but the protocol never passes it" for name in extra]
    return problems


@pytest.mark.parametrize("impl", [GrooveModel, FakeModel], ids=["GrooveModel", "FakeModel"])
@pytest.mark.parametrize("name", CALLS)
def test_models_implement_the_calls_the_bridge_makes(impl: type, name: str) -> None:
    assert accepts(getattr(impl, name), getattr(GrooveModelLike, name)) == []


@pytest.mark.parametrize(("proto", "name"), [(AttributeModelLike, "sample"), (AttributeModelLike, "shift"),
                                             (ControlledModelLike, "sample"), (DrumifyModelLike, "drumify")])
def test_the_real_model_implements_the_narrower_protocols(proto: Any, name: str) -> None:
    assert accepts(getattr(GrooveModel, name), getattr(proto, name)) == []


def test_the_checker_sees_a_missing_keyword_and_a_missing_default() -> None:
    class Bad:
        def humanize(self, groove: Groove, temperature: float, seed: int | None = None) -> Groove:
            return groove

        def sample(self, count: int, temperature: float = 1.0, seed: int | None = None) -> list[Groove]:
            return []

    assert accepts(Bad.humanize, GrooveModelLike.humanize) == ["'temperature' has no default", "no keyword 'amount'"]
    assert accepts(Bad.sample, GrooveModelLike.sample) == [
        "positional 0 is not 'n'", "'count' is required but the protocol never passes it"]


class Directions:
    directions = np.zeros((3, 2), np.float32)


class ShiftingFake(FakeModel):
    prior = Directions()

    def sample(self, n: int, temperature: float = 1.0, seed: int | None = None, *,
               attributes: dict[str, float] | None = None) -> list[Groove]:
        return super().sample(n, temperature, seed)

    def shift(self, groove: Groove, attributes: dict[str, float], temperature: float = 0.0,
              seed: int | None = None) -> Groove:
        return groove


def test_only_a_model_with_directions_and_the_calls_can_shift() -> None:
    assert not can_shift(FakeModel()) and not has_directions(FakeModel()) and not has_directions(None)
    no_calls = FakeModel()
    no_calls.prior = Directions()  # type: ignore[attr-defined]
    assert not can_shift(no_calls)  # a prior, but no shift call
    assert can_shift(ShiftingFake()) and has_directions(ShiftingFake())
    with pytest.raises(AttributeValueError, match="fake has no attribute directions"):
        shifting(FakeModel())


def test_the_worker_runs_a_load_without_a_model_and_refuses_model_jobs_before() -> None:
    results: list[tuple[Any, BaseException | None]] = []
    states: list[str] = []
    worker = GenerationWorker(lambda name: FakeModel(), lambda state, name, err: states.append(state))
    try:
        worker.submit(lambda model: model.name, lambda r, e: results.append((r, e)))
        wait_for(lambda: results, what="the job before a load")
        assert results[0][0] is None and isinstance(results[0][1], ModelNotReady)
        worker.load("fake")
        worker.submit(lambda model: model.sample(1)[0].num_hits, lambda r, e: results.append((r, e)))
        wait_for(lambda: len(results) == 2, what="the job after the load")
        assert states == ["loading", "ready"] and results[1] == (4, None)
    finally:
        worker.close()


class NoDrumify(FakeModel):
    name = "plain"


def test_drumifier_refuses_a_helper_without_drumify() -> None:
    results: list[tuple[Any, BaseException | None]] = []
    worker = GenerationWorker(lambda name: NoDrumify(), lambda *a: None)
    try:
        worker.load("plain")
        worker.submit(lambda model: worker.drumifier(model), lambda r, e: results.append((r, e)))
        wait_for(lambda: results, what="the drumify job")
        assert isinstance(results[0][1], RuntimeError) and "plain has no drumify call" in str(results[0][1])
    finally:
        worker.close()
