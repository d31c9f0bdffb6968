"""Loop-exact MIDI files: a groove of N bars is written as exactly N bars, early downbeat hits
at the end of the clip (wrap) or on the downbeat (clamp), and read back exactly."""

from __future__ import annotations

import os
from pathlib import Path

import mido
import numpy as np
import pytest

from models.drum_maps import CLASS_NAMES
from models.groove import Groove
from models.midi.files import ORIGIN_MARKER, groove_to_midifile, read_midi, write_midi

KICK, SNARE, RIDE = (CLASS_NAMES.index(n) for n in ("kick", "snare", "ride"))


def _timed(mid: mido.MidiFile) -> list[tuple[int, mido.Message]]:
    msgs, tick = [], 0
    for msg in mid.tracks[0]:
        tick += msg.time
        msgs.append((tick, msg))
    return msgs


def _early_groove() -> Groove:
    g = Groove.empty(64)
    h, v, o = (a.copy() for a in (g.hits, g.velocities, g.offsets))
    h[0, KICK], v[0, KICK], o[0, KICK] = 1, 100 / 127, 0.5  # a quarter of a 16th early
    h[63, RIDE], v[63, RIDE], o[63, RIDE] = 1, 30 / 127, -0.25
    h[32, SNARE], v[32, SNARE], o[32, SNARE] = 1, 90 / 127, -1.0  # half a 16th late: its own step
    return Groove(h, v, o)


def test_four_bars_are_written_as_exactly_four_bars_and_read_back(tmp_path: Path) -> None:
    g = _early_groove()
    mid = mido.MidiFile(write_midi(g, tmp_path / "early.mid", bpm=100, drum_map="gm"))
    assert mid.type == 0 and mid.ticks_per_beat == 480
    msgs = _timed(mid)
    assert msgs[-1][1].type == "end_of_track" and msgs[-1][0] == 4 * 1920  # exactly 4 bars
    assert abs(mid.length - 4 * 4 * 60 / 100) < 1e-9
    assert not [m for _, m in msgs if m.type == "marker"]  # no shifted origin any more
    kick = [(t, m.type) for t, m in msgs if m.type in ("note_on", "note_off") and m.note == 36]
    assert kick == [(4 * 1920 - 30, "note_on"), (4 * 1920, "note_off")]  # the next loop's downbeat
    sig = [m for _, m in msgs if m.type == "time_signature"]
    assert (sig[0].numerator, sig[0].denominator) == (4, 4)
    assert [round(mido.tempo2bpm(m.tempo), 3) for _, m in msgs if m.type == "set_tempo"] == [100.0]
    back = read_midi(tmp_path / "early.mid", drum_map="gm")
    assert back.groove.num_steps == 64
    np.testing.assert_allclose(back.groove.to_tensor(), g.to_tensor(), atol=1 / 60 + 1e-6)
    assert back.groove.hits[0, KICK] == 1 and abs(back.groove.offsets[0, KICK] - 0.5) < 1e-6
    assert back.groove.hits[32, SNARE] == 1 and back.groove.hits[33, SNARE] == 0
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # atomic write left nothing


def test_clamp_puts_early_downbeat_hits_on_the_downbeat(tmp_path: Path) -> None:
    mid = groove_to_midifile(_early_groove(), drum_map="gm", early_hits="clamp")
    msgs = _timed(mid)
    assert [t for t, m in msgs if m.type == "note_on" and m.note == 36] == [0]
    assert msgs[-1][0] == 4 * 1920
    with pytest.raises(ValueError, match="early_hits"):
        groove_to_midifile(_early_groove(), early_hits="shift")


def test_sampled_grooves_are_loop_exact(tmp_path: Path) -> None:
    from models.generate import load_model

    model = load_model("default")
    grooves = model.sample(12, 1.0, seed=3)
    assert sum(bool((g.offsets[0] > 0).any()) for g in grooves) >= 3  # early downbeats happen
    for i, g in enumerate(grooves):
        path = write_midi(g, tmp_path / f"{i}.mid", bpm=100)
        assert abs(mido.MidiFile(path).length - 9.6) < 1e-6
        back = read_midi(path, drum_map="gm").groove
        np.testing.assert_array_equal(back.hits, g.hits)
        np.testing.assert_allclose(back.offsets, g.offsets, atol=1 / 60 + 1e-6)
        np.testing.assert_allclose(back.velocities, np.maximum(g.velocities, 1 / 127) * g.hits, atol=0.5 / 127 + 1e-6)


def test_files_of_earlier_versions_with_an_origin_marker_still_read(tmp_path: Path) -> None:
    track = mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100), time=0),
        mido.Message("note_on", channel=9, note=36, velocity=100, time=1920 - 30),
        mido.MetaMessage("marker", text=ORIGIN_MARKER, time=30),
        mido.Message("note_off", channel=9, note=36, velocity=0, time=90),
        mido.MetaMessage("end_of_track", time=8 * 480 - 90),
    ])
    mid = mido.MidiFile(type=0, ticks_per_beat=480)
    mid.tracks.append(track)
    mid.save(tmp_path / "old.mid")
    back = read_midi(tmp_path / "old.mid", drum_map="gm")
    assert back.origin_beats == 4.0
    assert back.groove.hits[0, KICK] == 1 and abs(back.groove.offsets[0, KICK] - 0.5) < 1e-6
