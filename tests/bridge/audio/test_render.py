"""Offline rendering through the GM SoundFont kit (bridge.audio.render, models.synth), with the real
FluidR3 GM SoundFont and real grooves of the Groove MIDI Dataset."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from audio_onsets import attack_table, envelope, isolated, onset_near

from bridge.audio import render as render_mod
from bridge.audio.render import groove_notes, render_groove, write_wav
from models.groove import Groove
from models.midi.files import read_midi
from models.synth import DrumSynth, SoundFontError, find_soundfont, load_kit

DATA = Path("/work/shared/data/groove-midi/groove")
GROOVE_FILE = DATA / "drummer1/session1/1_funk_80_beat_4-4.mid"


@pytest.fixture(scope="module")
def kit():
    path = find_soundfont()
    if path is None:
        pytest.skip("no GM SoundFont installed (scripts/system-deps.sh installs fluid-soundfont-gm)")
    return load_kit(path)


@pytest.fixture(scope="module")
def groove() -> Groove:
    if not GROOVE_FILE.exists():
        pytest.skip(f"the Groove MIDI Dataset is not at {DATA}")
    return read_midi(GROOVE_FILE).groove.window(0, 8)


def test_render_is_deterministic_and_loop_exact(kit, groove, tmp_path):
    a = render_groove(groove, kit, loops=2)
    b = render_groove(groove, kit, loops=2)
    assert np.array_equal(a.audio, b.audio)
    assert a.audio.shape == (int(round(2 * 8 * 4 * 60.0 / groove.bpm * 48000)), 2)
    assert np.abs(a.audio).max() > 0.05  # it is not silence
    wa, wb = write_wav(tmp_path / "a.wav", a.audio), write_wav(tmp_path / "b.wav", b.audio)
    assert wa.read_bytes() == wb.read_bytes()
    with wave.open(str(wa)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 2, 48000, a.audio.shape[0])


def lone_hit(kit):
    return attack_table(lambda frames, at, pitch, vel: DrumSynth(kit).render(frames, [(at, pitch, vel)]))


def test_onsets_from_energy_fall_within_2_ms_of_the_notes(kit):
    r = render_groove(read_midi(GROOVE_FILE).groove, kit, loops=1, tail="keep")  # the whole take
    env, attack = envelope(r.audio), lone_hit(kit)
    times = [n.time_sec for n in r.notes]
    checked = [r.notes[i] for i in isolated(times) if 0.05 < times[i] < len(env) / 48000 - 0.05]
    errors_ms, masked = [], 0
    for n in checked:
        onset = onset_near(env, n.time_sec)
        if onset is None:
            masked += 1  # a soft hi-hat under a ringing one: no onset to measure
        else:
            errors_ms.append((onset - n.time_sec - attack(n.pitch, n.velocity)) * 1000.0)
    assert len(errors_ms) >= 100 and masked <= 0.4 * len(checked), (len(errors_ms), masked)
    errors = np.abs(np.array(errors_ms))
    assert errors.max() <= 2.0, f"onset errors (ms): max {errors.max():.2f}, worst {sorted(errors_ms, key=abs)[-5:]}"


def test_a_note_moved_by_its_micro_timing_moves_its_onset(kit):
    hits = np.zeros((16, 9), np.float32)
    hits[4, 1] = 1.0  # one snare on beat 2
    vels = hits * 0.8
    offs = np.zeros_like(hits)
    for offset in (-0.4, 0.0, 0.4):
        offs[4, 1] = offset  # positive = early: +0.4 plays 0.2 of a 16th early
        g = Groove(hits, vels, offs.copy(), 120.0)
        r = render_groove(g, kit, tail="keep")
        (note,) = r.notes
        expected = (1.0 - offset / 2.0 / 4.0) * 0.5  # beat 1 - offset/2 of a 16th, at 0.5 s a beat
        assert note.time_sec == pytest.approx(expected)
        onset = onset_near(envelope(r.audio), expected)
        assert onset is not None and abs(onset - expected - lone_hit(kit)(38, note.velocity)) <= 0.002


@pytest.mark.parametrize("pitch", [36, 38, 42])
def test_louder_for_higher_velocity(kit, pitch):
    energies = []
    for velocity in (20, 50, 80, 110, 127):
        audio = DrumSynth(kit).render(24000, [(100, pitch, velocity)])
        energies.append(float(np.sum(audio.astype(np.float64) ** 2)))
    assert all(b > a * 1.1 for a, b in zip(energies, energies[1:], strict=False)), energies


def test_mutes_leave_classes_out_and_volume_scales(kit, groove):
    notes, _ = groove_notes(groove, mutes=(True,) + (False,) * 8)
    assert notes and all(n.drum_class != 0 for n in notes)
    all_notes, loop_sec = groove_notes(groove, loops=3)
    assert loop_sec == pytest.approx(3 * 8 * 4 * 60.0 / groove.bpm)
    assert len(all_notes) == 3 * len(groove_notes(groove)[0])
    loud = render_groove(groove.window(0, 1), kit, volume=1.0).audio
    soft = render_groove(groove.window(0, 1), kit, volume=0.5).audio
    assert 0.1 < np.abs(soft).max() / np.abs(loud).max() < 0.5


def _bad_files(tmp_path: Path, real: Path) -> dict[str, Path]:
    files = {}
    files["text"] = tmp_path / "text.sf2"
    files["text"].write_text("not a soundfont\n")
    files["empty"] = tmp_path / "empty.sf2"
    files["empty"].write_bytes(b"")
    files["truncated"] = tmp_path / "truncated.sf2"
    with open(real, "rb") as f:
        files["truncated"].write_bytes(f.read(2_000_000))
    files["riff_wave"] = tmp_path / "wave.sf2"
    files["riff_wave"].write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(8))
    files["suffix"] = tmp_path / "kit.txt"
    files["suffix"].write_bytes(b"RIFF")
    files["missing"] = tmp_path / "missing.sf2"
    files["folder"] = tmp_path / "folder.sf2"
    files["folder"].mkdir()
    return files


def test_bad_soundfonts_are_refused_with_one_line(kit, tmp_path):
    for name, path in _bad_files(tmp_path, kit.path).items():
        with pytest.raises(SoundFontError) as info:
            load_kit(path)
        message = str(info.value)
        assert "\n" not in message and path.name in message, (name, message)


def test_render_cli(kit, tmp_path, capsys):
    if not GROOVE_FILE.exists():
        pytest.skip("dataset missing")
    out = tmp_path / "groove.wav"
    assert render_mod.main(["--input_midi_1", str(GROOVE_FILE), "--loops", "2", "--output", str(out)]) == 0
    line = capsys.readouterr().out
    assert "real time" in line and out.exists()
    with wave.open(str(out)) as w:
        seconds = w.getnframes() / w.getframerate()
    read = read_midi(GROOVE_FILE)
    assert seconds == pytest.approx(2 * read.groove.num_bars * 4 * 60.0 / read.bpm, abs=1e-3)
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00sfbk" + bytes(100))
    for argv in (["--soundfont", str(bad)], ["--loops", "0"], ["--output", str(tmp_path / "x" / "y.wav")]):
        full = ["--input_midi_1", str(GROOVE_FILE), "--output", str(tmp_path / "z.wav"), *argv]
        assert render_mod.main(full) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("groovebridge render: ") and "Traceback" not in err
