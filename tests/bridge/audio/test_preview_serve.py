"""`groovebridge serve --preview` as a user runs it (a subprocess on a private JACK server, its
audio recorded by a second client process), and the ``[preview]`` settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from jack_helpers import private_jack_server

from bridge.settings import SettingsError, load_settings
from models.synth import find_soundfont

ROOT = Path(__file__).resolve().parents[3]
RECORDER = Path(__file__).resolve().parent / "audio_recorder.py"


def test_preview_settings_from_toml_env_and_flags(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('[preview]\nenabled = true\nsoundfont = "~/kits/my.sf2"\nvolume = 0.5\naudio = "jack"\n')
    s = load_settings(f, env={})
    assert (s.preview_enabled, s.preview_soundfont, s.preview_volume, s.preview_audio) == (True, "~/kits/my.sf2", 0.5, "jack")
    s = load_settings(f, env={"GROOVEBRIDGE_PREVIEW_VOLUME": "0.25", "GROOVEBRIDGE_PREVIEW_AUDIO": "portaudio"})
    assert (s.preview_volume, s.preview_audio) == (0.25, "portaudio")
    for text, fragment in (("volume = 1.5", "preview_volume: 1.5 must be 0-1"), ('audio = "alsa"', "preview_audio: 'alsa'"),
                           ("enabled = 3", "preview_enabled"), ("gain = 1", "unknown setting [preview] gain")):
        f.write_text(f"[preview]\n{text}\n")
        with pytest.raises(SettingsError) as info:
            load_settings(f, env={})
        assert fragment in str(info.value) and "\n" not in str(info.value)


@pytest.mark.jack
@pytest.mark.slow
def test_serve_preview_plays_through_jack_audio(tmp_path):
    if find_soundfont() is None:
        pytest.skip("no GM SoundFont installed (scripts/system-deps.sh installs fluid-soundfont-gm)")
    with private_jack_server(256):
        env = dict(os.environ, GROOVEBRIDGE_MIDI_API="jack", GROOVEBRIDGE_OSC_PORT="0")
        bad = tmp_path / "bad.sf2"
        bad.write_text("not a soundfont")
        refused = subprocess.run(
            [sys.executable, "-m", "groovebridge.cli", "serve", "--preview", "--soundfont", str(bad), "--no-osc",
             "--input", "none", "--no-play", "--duration", "0.5"],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
        assert refused.returncode == 0  # the engine serves on without sound
        lines = [x for x in refused.stderr.splitlines() if x.startswith("groovebridge serve:")]
        assert lines == ["groovebridge serve: preview sound off: bad.sf2: not a SoundFont file (no RIFF sfbk header)"]
        assert "Traceback" not in refused.stderr

        rec_path = tmp_path / "rec.npz"
        rec = subprocess.Popen([sys.executable, str(RECORDER), str(rec_path), "10"], stdout=subprocess.PIPE, text=True)
        try:
            assert rec.stdout is not None and rec.stdout.readline().strip() == "ready"
            served = subprocess.run(
                [sys.executable, "-m", "groovebridge.cli", "serve", "--preview", "--bpm", "174", "--no-osc",
                 "--input", "none", "--duration", "12"],
                capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
            assert rec.wait(60) == 0
        finally:
            if rec.poll() is None:
                rec.kill()
    assert served.returncode == 0, served.stderr
    assert "preview sound: FluidR3_GM.sf2 (Standard) through jack" in served.stdout or "through jack" in served.stdout
    audio = np.load(rec_path)["audio"]
    loud = np.abs(audio).max(axis=1) > 0.01
    # (the pattern starts once the model has loaded and sampled: seconds on a loaded machine)
    assert len(audio) >= 3 * 48000 and loud.sum() > 0.5 * 48000, f"heard {loud.sum() / 48000:.2f} s of {len(audio) / 48000:.1f} s"
