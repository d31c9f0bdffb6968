"""Engine attribute controls: the playing pattern re-decoded from its source with the shipped
default model (more hits at density +2 than at -2, swapped at a bar line, back to the source's
reconstruction at 0, never compounded), the sample plumbing, and a model without directions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from engine_fakes import HAT, KICK, SNARE, Events, FakeModel, groove_of, wait_for

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.play.player import CompiledPattern, PlayedNote, compile_pattern
from bridge.settings import Settings
from models.groove import Groove
from models.net.attributes import ATTRIBUTE_NAMES
from tests.rigs.midi_fakes import FakeMidiIO

BPM = 300.0  # a bar lasts 0.8 s


def rock_beat() -> Groove:
    """Four bars of a plain rock beat: kick on 1 and 3, snare on 2 and 4, 8th-note hats."""
    cells = []
    for bar in range(4):
        b = bar * 16
        cells += [(b, KICK, 110, 0.0), (b + 8, KICK, 100, 0.0), (b + 10, KICK, 80, 0.0)]
        cells += [(b + 4, SNARE, 105, 0.0), (b + 12, SNARE, 108, 0.0)]
        cells += [(b + s, HAT, 70 + (20 if s % 4 == 0 else 0), 0.0) for s in range(0, 16, 2)]
    return groove_of(cells, bpm=BPM)


@pytest.fixture(scope="module")
def real():
    """The real engine with the shipped default model (it has attribute directions)."""
    engine = Engine(Settings(bpm=BPM), midi=FakeMidiIO(), clock=InternalClock(BPM), auto_sample=False)
    events = Events()
    engine.subscribe(events)
    engine.start()
    try:
        wait_for(lambda: engine.snapshot().model_state == "ready", timeout_sec=120, what="default model")
        yield engine, events
    finally:
        engine.close()


def set_source(engine: Engine, groove: Groove, label: str) -> None:
    engine.reset_attributes()
    engine.set_pattern(groove, label)
    wait_for(lambda: engine.snapshot().pattern is groove, what="source pattern")


def wait_pattern(engine: Engine, source: str) -> Groove:
    wait_for(lambda: engine.snapshot().pattern_source == source, timeout_sec=30, what=f"pattern {source!r}")
    return engine.snapshot().pattern


def bar_labels(notes: list[PlayedNote], patterns: dict[str, CompiledPattern]) -> dict[int, set[str]]:
    """For each bar played: the patterns that account for every note of that bar (exact beat,
    class and velocity, early and late hits included)."""
    per_bar: dict[int, list[set[str]]] = {}
    for note in notes:
        found: dict[int, set[str]] = {}
        for name, cp in patterns.items():
            n0 = math.floor(note.beat / 4)
            for n in (n0 - 1, n0, n0 + 1):
                if n < 0:
                    continue
                for beat_in_bar, k, vel in cp.bars[n % cp.num_bars]:
                    if k == note.drum_class and vel == note.velocity and abs(4 * n + beat_in_bar - note.beat) < 1e-6:
                        found.setdefault(n, set()).add(name)
        assert found, f"{note} is in neither pattern"
        for n, names in found.items():
            per_bar.setdefault(n, []).append(names)
    return {n: set.intersection(*sets) for n, sets in per_bar.items()}


def test_density_moves_the_playing_pattern_at_a_bar_line(real) -> None:
    engine, events = real
    assert engine.snapshot().attributes_available
    assert engine.snapshot().attributes == dict.fromkeys(ATTRIBUTE_NAMES, 0.0)
    source = rock_beat()
    set_source(engine, source, "edit")
    swaps: list[int] = []
    engine.player.on_swap = lambda _pattern, bar: swaps.append(bar)  # type: ignore[union-attr]
    start = len(events.items)
    engine.play()
    try:
        wait_for(lambda: any(isinstance(n, PlayedNote) and n.beat >= 5.0 for n in events.of("note")),
                 what="a bar and more of the source")
        engine.set_attribute("density", 2.0)
        busy = wait_pattern(engine, "edit · density +2")
        assert engine.snapshot().attributes["density"] == 2.0
        assert {"attributes": engine.snapshot().attributes} in events.of("settings")
        end_beat = [n.beat for n in events.of("note") if isinstance(n, PlayedNote)][-1] + 12.0
        wait_for(lambda: [n.beat for n in events.of("note") if isinstance(n, PlayedNote)][-1] >= end_beat,
                 timeout_sec=20, what="three more bars")
    finally:
        engine.stop()
        engine.player.on_swap = None  # type: ignore[union-attr]
    played = [n for e, n in events.items[start:] if e == "note" and isinstance(n, PlayedNote)]
    labels = bar_labels(played, {"source": compile_pattern(source), "busy": compile_pattern(busy)})
    bars = sorted(labels)
    assert all(labels[n] for n in bars), f"a bar mixes the two patterns: {labels}"
    first_busy = next(n for n in bars if labels[n] == {"busy"})
    assert any(labels[n] == {"source"} for n in bars if n < first_busy)
    assert all("busy" in labels[n] for n in bars if n >= first_busy)  # and it stays
    assert first_busy in swaps  # the player swapped it in at that bar line
    assert busy.num_hits > source.num_hits


def test_density_extremes_return_to_zero_and_never_compound(real) -> None:
    engine, events = real
    model = engine.worker.model  # type: ignore[union-attr]
    source = rock_beat()
    set_source(engine, source, "slot A")
    errors_before = len(events.of("error"))

    engine.set_attribute("density", 2.0)
    busy = wait_pattern(engine, "slot A · density +2")
    engine.set_attribute("density", -2.0)
    sparse = wait_pattern(engine, "slot A · density -2")
    assert busy.num_hits > sparse.num_hits + 20, (busy.num_hits, sparse.num_hits)

    engine.set_attribute("density", 1.0)
    wait_pattern(engine, "slot A · density +1")
    engine.set_attribute("density", 2.0)  # from the source, not from the +1 pattern
    again = wait_pattern(engine, "slot A · density +2")
    np.testing.assert_allclose(again.to_tensor(), busy.to_tensor())
    np.testing.assert_allclose(again.to_tensor(), model.shift(source, {"density": 2.0}).to_tensor())

    engine.set_attribute("density", 0.0)  # back to 0: the source's reconstruction
    back = wait_pattern(engine, "slot A · reconstructed")
    reconstruction = model.shift(source, {})
    np.testing.assert_allclose(back.to_tensor(), reconstruction.to_tensor())
    assert not back.allclose(busy) and not back.allclose(sparse)

    engine.set_attributes({"density": -1.0, "intensity": 1.5})  # the pad: two at once
    wait_pattern(engine, "slot A · density -1, intensity +1.5")
    engine.reset_attributes()
    wait_pattern(engine, "slot A · reconstructed")
    np.testing.assert_allclose(engine.snapshot().pattern.to_tensor(), reconstruction.to_tensor())
    assert engine.snapshot().attributes == dict.fromkeys(ATTRIBUTE_NAMES, 0.0)

    engine.set_attribute("density", 2.5)  # out of range, unknown name: one line each, nothing moves
    engine.set_attribute("groove", 1.0)
    wait_for(lambda: len(events.of("error")) >= errors_before + 2, what="two errors")
    errors = events.of("error")[errors_before:]
    assert "outside -2..2" in errors[0] and "unknown attribute 'groove'" in errors[1]
    assert all("\n" not in e for e in errors)
    assert engine.snapshot().attributes["density"] == 0.0


def test_a_new_sample_takes_the_attributes_and_is_the_next_source(real) -> None:
    engine, _events = real
    engine.set_attribute("density", 2.0)
    wait_for(lambda: engine.snapshot().attributes["density"] == 2.0, what="density set")
    engine.sample(3)
    busy = wait_pattern(engine, "sample")
    sources = engine.models.variation_sources
    assert len(sources) == 3 and engine.patterns.source is sources[0]
    assert busy.num_hits > sources[0].num_hits  # drawn with density +2, its source without
    engine.select_variation(2)
    wait_pattern(engine, "variation 3")
    assert engine.patterns.source is sources[2]
    engine.reset_attributes()
    wait_pattern(engine, "variation 3 · reconstructed")


class DirectionsModel(FakeModel):
    """FakeModel with attribute directions: records what sample and shift are asked."""

    class prior:  # noqa: N801 - stands in for the model's LatentPrior
        directions = np.zeros((7, 2), np.float32)

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, dict]] = []

    def sample(self, n: int, temperature: float = 1.0, seed: int | None = None, attributes: dict | None = None):
        self.asked.append(("sample", {"seed": seed, "attributes": attributes}))
        extra = 8 if attributes else 0  # "shifted" samples: more hats
        return [groove_of([(s, KICK, 60 + i, 0.0) for s in (0, 16, 32, 48)] + [(s, HAT, 50, 0.0) for s in range(extra)])
                for i in range(n)]

    def shift(self, groove: Groove, attributes: dict, temperature: float = 0.0, seed: int | None = None) -> Groove:
        self.asked.append(("shift", dict(attributes)))
        return groove_of([(s, SNARE, 90, 0.0) for s in range(1 + int(round(4 * attributes.get("density", 0.0) + 8)))])


def test_sample_passes_the_attributes_with_one_seed_for_the_source() -> None:
    model = DirectionsModel()
    engine = Engine(Settings(bpm=BPM), model_loader=lambda _n: model, midi=FakeMidiIO(), clock=InternalClock(BPM),
                    auto_sample=False)
    engine.start()
    try:
        wait_for(lambda: engine.snapshot().attributes_available, what="directions seen")
        model.asked.clear()  # the worker's warm-up calls
        engine.sample(2)
        wait_pattern(engine, "sample")
        assert model.asked == [("sample", {"seed": None, "attributes": None})]  # all 0: Magenta's call
        engine.set_attribute("density", 1.5)
        wait_pattern(engine, "sample · density +1.5")
        assert model.asked[-1] == ("shift", {**dict.fromkeys(ATTRIBUTE_NAMES, 0.0), "density": 1.5})
        model.asked.clear()
        engine.sample(2)
        wait_for(lambda: engine.snapshot().pattern_source == "sample" and engine.snapshot().pattern.num_hits == 12,
                 what="a shifted sample")
        (a, ka), (b, kb) = model.asked
        assert (a, b) == ("sample", "sample") and ka["seed"] == kb["seed"] is not None
        assert ka["attributes"] == {"density": 1.5} and kb["attributes"] is None
        assert engine.patterns.source.num_hits == 4  # the un-shifted decode is the source
        engine.set_attribute("density", 1.5)  # the sample has these values already: no re-decode
        engine.set_pattern(rock_beat(), "edit")  # a pattern from elsewhere plays as it is...
        wait_pattern(engine, "edit")
        assert [a for a, _ in model.asked] == ["sample", "sample"]
        engine.set_attribute("density", 1.5)  # ...until the attributes are applied to it
        wait_pattern(engine, "edit · density +1.5")
        engine.set_attribute("density", 1.5)
        engine.reset_attributes()
        wait_pattern(engine, "edit · reconstructed")
        engine.set_pattern(rock_beat(), "slot A")
        engine.reset_attributes()  # all 0 already and the slot plays as it is: nothing to do
        engine.set_attribute("density", 0.0)
        wait_pattern(engine, "slot A")
        engine.sample(1)  # a later command: the two above are done when it is
        wait_pattern(engine, "sample")
        assert [a for a, _ in model.asked] == ["sample", "sample", "shift", "shift", "sample"]
    finally:
        engine.close()


def test_a_model_without_directions_reports_one_line_and_keeps_working() -> None:
    engine = Engine(Settings(bpm=BPM), model_loader=lambda _n: FakeModel(), midi=FakeMidiIO(),
                    clock=InternalClock(BPM), auto_sample=False)
    events = Events()
    engine.subscribe(events)
    engine.start()
    try:
        wait_for(lambda: engine.snapshot().model_state == "ready", what="model ready")
        assert not engine.snapshot().attributes_available
        engine.set_pattern(rock_beat(), "edit")
        engine.set_attribute("density", 1.0)
        engine.reset_attributes()  # nothing to reset: no error
        wait_for(lambda: events.of("error"), what="an error event")
        (message,) = events.of("error")
        assert "no attribute directions" in message and "fit-prior" in message and "\n" not in message
        assert engine.snapshot().last_error == message
        assert engine.snapshot().attributes["density"] == 0.0
        engine.sample(2)  # sampling still works (no attributes asked of the model)
        wait_pattern(engine, "sample")
        assert len(events.of("error")) == 1
    finally:
        engine.close()
