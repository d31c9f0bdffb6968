"""Drumify: any rhythm in, a full groove out (the shipped drumify model, its CLI, bad input)."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

from groovebridge.cli import main as cli
from models.generate import load_model
from models.groove import Groove
from models.midi.files import MidiFileError, read_midi, read_rhythm

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FUNK = "drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid"


def _bass_line(path: Path, channel: int = 0, bars: int = 4) -> list[float]:
    """A bass line (pitches 36-48) on ``channel``: a syncopated rhythm, beats of its notes."""
    beats = [b + o for b in range(0, 4 * bars, 2) for o in (0.0, 0.75, 1.5)]
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(96), time=0))
    now = 0
    for i, b in enumerate(beats):
        t = round(b * 480)
        tr.append(mido.Message("note_on", channel=channel, note=36 + (i * 5) % 13, velocity=90, time=t - now))
        tr.append(mido.Message("note_off", channel=channel, note=36 + (i * 5) % 13, velocity=0, time=100))
        now = t + 100
    tr.append(mido.MetaMessage("end_of_track", time=4 * 480 * bars - now))
    mid.save(path)
    return beats


@pytest.fixture(scope="module")
def drumify_model():
    model = load_model("drumify")  # shipped in the package: no network
    assert model.config.tapify
    return model


def test_any_notes_on_any_channel_are_taps(tmp_path: Path) -> None:
    beats = _bass_line(tmp_path / "bass.mid", channel=2)
    r = read_rhythm(tmp_path / "bass.mid").groove
    assert r.num_steps == 64 and r.num_hits == len(beats)
    assert sorted(np.nonzero(r.hits.any(axis=1))[0].tolist()) == sorted(round(b * 4) for b in beats)
    assert read_rhythm(tmp_path / "bass.mid", channels=[2]).groove.num_hits == len(beats)
    with pytest.raises(MidiFileError, match="no notes on MIDI channel"):
        read_rhythm(tmp_path / "bass.mid", channels=[0])


def test_drumify_keeps_the_rhythm_and_adds_drums(drumify_model, tmp_path: Path) -> None:
    _bass_line(tmp_path / "bass.mid")
    rhythm = read_rhythm(tmp_path / "bass.mid").groove
    out = drumify_model.drumify(rhythm)
    taps = rhythm.hits.any(axis=1)
    hit_steps = out.hits.any(axis=1)
    assert (taps & hit_steps).sum() / taps.sum() > 0.5  # most taps carry a drum hit
    assert int(out.hits.any(axis=0).sum()) >= 2  # drums (kick and snare at least), not one tapped voice
    assert out.num_steps == 64 and out.bpm == rhythm.bpm
    assert drumify_model.drumify(rhythm).allclose(out)  # temperature 0 is deterministic


def test_drumify_of_a_real_groove_plays_like_a_drummer(drumify_model, gmd_dir: Path) -> None:
    real = read_midi(gmd_dir / FUNK).groove.window(0, 4)
    out = drumify_model.drumify(real)
    inter = (out.hits * real.hits).sum()
    f1 = 2 * inter / (out.hits.sum() + real.hits.sum())
    assert f1 > 0.3  # the tapped funk groove comes back as drums that overlap the drummer's own
    taps = real.hits.any(axis=1)
    assert (taps & out.hits.any(axis=1)).sum() / taps.sum() >= 0.8
    assert int(out.hits.any(axis=0).sum()) >= 3  # kick, snare, hi-hat...


def test_short_rhythms_are_padded_and_bad_input_refused(drumify_model) -> None:
    one_bar = Groove.empty(16)
    h = one_bar.hits.copy()
    h[::4, 0] = 1
    out = drumify_model.drumify(one_bar.with_changes(hits=h, velocities=h * 0.7))
    assert out.num_steps == 64
    with pytest.raises(ValueError, match="no notes"):
        drumify_model.drumify(Groove.empty(64))
    with pytest.raises(ValueError, match="not a Drumify model"):
        load_model("default").drumify(out)


def test_generate_drumify_cli(tmp_path: Path, capsys) -> None:
    _bass_line(tmp_path / "bass.mid", channel=4)
    out = tmp_path / "out"
    args = ["generate", "--mode=drumify", "--input_midi_1", str(tmp_path / "bass.mid"), "--channels", "5",
            "--num_outputs", "2", "--seed", "1", "--output_dir", str(out)]
    assert cli(args) == 0
    files = sorted(out.glob("*drumify*.mid"))
    assert len(files) == 2
    g = read_midi(files[0], drum_map="gm").groove
    assert g.num_steps == 64 and int(g.hits.any(axis=0).sum()) >= 3
    empty = mido.MidiFile()
    empty.tracks.append(mido.MidiTrack([mido.MetaMessage("end_of_track", time=1920)]))
    empty.save(tmp_path / "empty.mid")
    for bad, needle in [(["--input_midi_1", str(tmp_path / "empty.mid")], "no notes"),
                        (["--input_midi_1", str(tmp_path / "bass.mid"), "--channels", "1"], "no notes on MIDI channel"),
                        (["--input_midi_1", str(tmp_path / "bass.mid"), "--channels", "17"], "--channels"),
                        (["--input_midi_1", str(tmp_path / "bass.mid"), "--model", "default"], "Drumify model"),
                        ([], "--input_midi_1")]:
        assert cli(["generate", "--mode=drumify", "--output_dir", str(out), *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("groovebridge generate: ") and needle in err and "\n" not in err
