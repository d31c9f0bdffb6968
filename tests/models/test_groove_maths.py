"""Groove maths written once in models/: MIDI velocities and note times, the humanize blend and
the humanize-model choice, slerp. The bridge's player, OSC echo and engine use these (checked
here against the bridge's own outputs, so a second copy cannot drift)."""

from __future__ import annotations

import numpy as np
import pytest

from models.drum_maps import NUM_CLASSES
from models.groove import (
    EARLY_BEATS,
    STEPS_PER_BAR,
    STEPS_PER_QUARTER,
    Groove,
    blend_humanized,
    midi_velocities,
)
from models.latent import slerp, slerp_path


def _groove(cells, steps=2 * STEPS_PER_BAR):
    h = np.zeros((steps, NUM_CLASSES), np.float32)
    v, o = h.copy(), h.copy()
    for s, k, vel, off in cells:
        h[s, k], v[s, k], o[s, k] = 1.0, vel, off
    return Groove(h, v, o, 100.0)


G = _groove([(0, 0, 1.0, 1.0), (3, 2, 0.0, -0.4), (17, 1, 0.5, 3.0), (20, 8, 1.7, 0.2)])


def test_midi_velocities_round_clip_and_keep_hits_audible():
    vel = midi_velocities(G.hits, G.velocities)
    assert (vel[0, 0], vel[3, 2], vel[17, 1], vel[20, 8]) == (127, 1, 64, 127)  # 0.5*127 = 63.5 -> 64
    assert int(np.count_nonzero(vel)) == 4  # silent cells stay 0
    assert midi_velocities(G.hits, G.velocities, min_velocity=0)[3, 2] == 0


def test_notes_are_the_one_conversion_behind_events_player_and_osc():
    from bridge.osc.echo import pattern_messages
    from bridge.play.player import compile_pattern

    notes = [(s, k, round(early, 6), v) for s, k, early, v in G.notes()]
    assert notes == [(0, 0, 0.5, 127), (3, 2, -0.2, 1), (17, 1, 0.5, 64), (20, 8, 0.1, 127)]
    events = G.to_events()
    assert [(round(e.start_beats * STEPS_PER_QUARTER, 6), e.velocity) for e in events] == [
        (-0.5, 127), (3.2, 0), (16.5, 64), (19.9, 127)]
    assert events[0].start_beats == -EARLY_BEATS  # the earliest a hit can start
    compiled = compile_pattern(G)
    played = [(bar * STEPS_PER_BAR + round(b * STEPS_PER_QUARTER, 6), k, v)
              for bar, notes_in_bar in enumerate(compiled.bars) for b, k, v in notes_in_bar]
    assert sorted(played) == [(-0.5, 0, 127), (3.2, 2, 1), (16.5, 1, 64), (19.9, 8, 127)]
    blob = np.frombuffer(dict(pattern_messages(G))["/groovebridge/pattern"][1], np.uint8)
    assert np.array_equal(blob.reshape(G.num_steps, NUM_CLASSES), midi_velocities(G.hits, G.velocities))


def test_blend_humanized_amounts():
    played = _groove([(0, 0, 0.2, 0.6), (17, 1, 0.9, -0.5), (5, 5, 1.0, 0.0)])  # dropped (3, 2)
    none = blend_humanized(G, played, 0.0)
    assert np.array_equal(none.hits, G.hits)
    assert none.velocities[3, 2] == pytest.approx(1 / 127)  # kept audible
    assert none.velocities[0, 0] == pytest.approx(1.0)
    full = blend_humanized(G, played, 1.0)
    assert full.velocities[0, 0] == pytest.approx(0.2) and full.offsets[0, 0] == pytest.approx(0.6)
    assert full.offsets[3, 2] == pytest.approx(-0.4)  # the model dropped it: unchanged
    assert full.hits[5, 5] == 0.0  # the model's extra hit is not added
    half = blend_humanized(G, played, 0.5)
    assert half.velocities[17, 1] == pytest.approx(0.7)


def test_slerp_path_is_slerp_at_even_positions_with_exact_ends():
    rng = np.random.default_rng(3)
    za, zb = rng.normal(size=32).astype(np.float32), rng.normal(size=32).astype(np.float32)
    path = slerp_path(za, zb, 5)
    assert np.array_equal(path[0], za) and np.array_equal(path[-1], zb)
    for i, t in enumerate(np.linspace(0, 1, 5)):
        assert np.allclose(path[i], slerp(za, zb, float(t)), atol=1e-6)
    # Norms stay between the ends' (a great circle), unlike a straight line's dip.
    mid = slerp(za, -za * 0.999 + zb * 0.01, 0.5)
    assert np.linalg.norm(mid) > 0.9 * np.linalg.norm(za)
    assert np.allclose(slerp(za, 2 * za, 0.5), 1.5 * za, atol=1e-5)  # parallel: linear
    assert np.allclose(slerp(np.zeros(4), np.ones(4), 0.25), 0.25)


@pytest.mark.slow
def test_humanize_amount_and_model_choice_with_the_shipped_models():
    from models.generate import humanizer, load_model

    default, hz = load_model("default"), load_model("humanize")
    assert humanizer(default, lambda: hz) is hz  # a plain VAE asks for the humanize model
    assert humanizer(default, lambda: None) is default  # none loaded: the active one
    assert humanizer(hz, lambda: pytest.fail("not needed")) is hz  # trained to humanize
    flat = _groove([(s, 2, 0.8, 0.0) for s in range(0, 64, 2)] + [(s, 0, 0.8, 0.0) for s in range(0, 64, 8)],
                   steps=hz.num_steps)
    raw = hz.humanize(flat, temperature=0.0, seed=1)
    assert np.array_equal(raw.hits, flat.hits)
    assert hz.humanize(flat, temperature=0.0, seed=1, amount=1.0).allclose(blend_humanized(flat, raw, 1.0))
    zero = hz.humanize(flat, temperature=0.0, seed=1, amount=0.0)
    assert zero.allclose(flat)
