"""The groove representation (models.groove): exact rules of GrooVAE's GrooveConverter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.drum_maps import NUM_CLASSES
from models.groove import DrumHit, Groove, bar_is_empty, quantize, quantize_arrays
from models.midi.smf import read_smf


def test_quantize_round_half_up_offsets_and_sign() -> None:
    # beat 0.125 = step 0.5 exactly: rounds up to step 1, played half a step early -> +1.0
    # beat 0.3 = step 1.2: step 1, late by 0.2 steps -> -0.4
    g = quantize([DrumHit(0.125, 0, 100), DrumHit(1.3, 1, 64)], num_steps=16)
    assert g.hits[1, 0] == 1 and g.offsets[1, 0] == pytest.approx(1.0)
    assert g.hits[5, 1] == 1 and g.offsets[5, 1] == pytest.approx(-0.4, abs=1e-6)
    assert g.velocities[5, 1] == pytest.approx(64 / 127)
    assert g.num_hits == 2
    # -0.5 step before the grid start still lands on step 0, as an early hit.
    e = quantize([DrumHit(-0.125, 2, 10)], num_steps=16)
    assert e.hits[0, 2] == 1 and e.offsets[0, 2] == pytest.approx(1.0)


def test_loudest_note_per_cell_first_on_ties() -> None:
    g = quantize([DrumHit(1.0, 1, 50), DrumHit(1.05, 1, 90), DrumHit(0.97, 1, 90)], num_steps=16)
    assert g.velocities[4, 1] == pytest.approx(90 / 127)
    assert g.offsets[4, 1] == pytest.approx(2 * (4 - 1.05 * 4), abs=1e-6)  # first of the two 90s


def test_grid_length_whole_bars() -> None:
    assert quantize([DrumHit(3.8, 0, 1)]).num_steps == 16  # step 15.2 -> 15: one bar
    assert quantize([DrumHit(3.87, 0, 1)]).num_bars == 1  # step 15.48 -> 15
    assert quantize([DrumHit(3.875, 0, 1)]).num_steps == 32  # step 15.5 rounds up to 16: bar 2
    assert quantize([]).num_steps == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-2, 64 * 30), st.integers(0, 8), st.integers(1, 127)),
        min_size=0,
        max_size=80,
    )
)
def test_quantize_arrays_equals_quantize(notes: list[tuple[int, int, int]]) -> None:
    beats = np.array([t / 120 for t, _, _ in notes], np.float64)  # ticks at 480 PPQ -> beats
    classes = np.array([k for _, k, _ in notes], np.int64)
    vels = np.array([v for _, _, v in notes], np.int64)
    ref = quantize(
        [DrumHit(float(b), int(k), int(v)) for b, k, v in zip(beats, classes, vels, strict=True)],
        128,
    )
    h, v, o = quantize_arrays(beats, classes, vels, 128)
    assert Groove(h, v, o).allclose(ref, atol=1e-7)


def test_tensor_round_trip_and_events() -> None:
    g = quantize([DrumHit(0.0, 0, 127), DrumHit(-0.1, 2, 64), DrumHit(2.02, 8, 1)], num_steps=16)
    t = g.to_tensor()
    assert t.shape == (16, 27) and t.dtype == np.float32
    back = Groove.from_tensor(t, bpm=90)
    assert back.allclose(g) and back.bpm == 90
    ev = g.to_events()
    assert [e.drum_class for e in ev] == [2, 0, 8]
    assert ev[0].start_beats == pytest.approx(-0.1)  # early hit before beat 0 kept
    assert ev[2].start_beats == pytest.approx(2.02)
    assert [e.velocity for e in ev] == [64, 127, 1]
    assert all(e.duration_beats == 0.25 for e in ev)


def test_from_tensor_thresholds_and_masks() -> None:
    t = np.zeros((16, 27), np.float32)
    t[3, 0], t[3, 9], t[3, 18] = 0.51, 0.7, 0.3
    t[4, 1], t[4, 10], t[4, 19] = 0.49, 0.9, -0.6  # below 0.5: no hit, vel/offset zeroed
    g = Groove.from_tensor(t)
    assert g.num_hits == 1 and g.velocities[4, 1] == 0 and g.offsets[4, 1] == 0
    assert g.velocities[3, 0] == pytest.approx(0.7)


def test_window_and_bars(gmd_dir: Path) -> None:
    ev = read_smf(gmd_dir / "drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid")
    from models.drum_maps import ROLAND

    keep = [ROLAND.class_of(int(p)) is not None for p in ev.notes[:, 2]]
    notes = ev.notes[keep]
    classes = np.array([ROLAND.class_of(int(p)) for p in notes[:, 2]])
    h, v, o = quantize_arrays(notes[:, 0] / 480, classes, notes[:, 3], 160)
    g = Groove(h, v, o, 138.0)
    w = g.window(2, 4)
    assert w.num_steps == 64 and w.bpm == 138.0
    np.testing.assert_array_equal(w.hits, g.hits[32:96])
    assert not bar_is_empty(g, 0)
    with pytest.raises(ValueError, match="outside"):
        g.window(8, 4)


def test_groove_copies_and_freezes() -> None:
    a = np.zeros((16, NUM_CLASSES), np.float32)
    g = Groove(a, a, a)
    a[0, 0] = 1.0  # the caller's array stays writable and does not leak into the groove
    assert g.hits[0, 0] == 0.0
    with pytest.raises(ValueError):
        g.hits[0, 0] = 1.0
    with pytest.raises(ValueError, match="share"):
        Groove(a, a[:8], a)
