"""Settings: TOML sections, environment overrides, flag overrides, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.settings import Settings, SettingsError, load_settings


def test_defaults() -> None:
    s = load_settings(env={})
    assert s == Settings()
    assert (s.osc_host, s.osc_port, s.midi_output_channel, s.sync) == ("127.0.0.1", 9000, 10, "internal")


def test_toml_then_env_then_overrides(tmp_path: Path) -> None:
    f = tmp_path / "gb.toml"
    f.write_text(
        '[engine]\nbpm = 96\nlatency_ms = 12.5\noutput_drum_map = "roland"\n'
        '[midi]\napi = "jack"\ninput = "TD-11"\ninput_channels = [10]\n'
        "[osc]\nport = 9100\n"
    )
    s = load_settings(f, env={"GROOVEBRIDGE_OSC_PORT": "9200", "GROOVEBRIDGE_CLOCK_OUT": "yes"})
    assert (s.bpm, s.latency_ms, s.output_drum_map) == (96.0, 12.5, "roland")
    assert (s.midi_api, s.midi_input, s.midi_input_channels) == ("jack", "TD-11", (10,))
    assert s.osc_port == 9200 and s.clock_out is True
    s2 = load_settings(f, env={"GROOVEBRIDGE_BPM": "100"}, bpm=140.0, sync=None)
    assert s2.bpm == 140.0 and s2.sync == "internal"


@pytest.mark.parametrize(
    ("text", "env", "fragment"),
    [
        ("bpm = 1000\n", {}, "bpm"),
        ('[engine]\nsync = "smpte"\n', {}, "sync"),
        ("[midi]\nfoo = 1\n", {}, "unknown setting [midi] foo"),
        ("[engine\n", {}, "not valid TOML"),
        ("", {"GROOVEBRIDGE_OSC_PORT": "many"}, "osc_port"),
        ("", {"GROOVEBRIDGE_MIDI_INPUT_CHANNELS": "0,17"}, "midi_input_channels"),
        ('[engine]\noutput_drum_map = "nope"\n', {}, "output_drum_map"),
        ("[midi]\noutput_channel = 2.5\n", {}, "midi_output_channel"),
        ('[engine]\ndevice = "gpu"\n', {}, "setting device: 'gpu'; use one of auto, cpu, cuda, mps"),
        ("", {"GROOVEBRIDGE_DEVICE": "tpu"}, "setting device"),
    ],
)
def test_mistakes_are_one_line(tmp_path: Path, text: str, env: dict[str, str], fragment: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(f, env=env)
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_missing_file() -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings("/nonexistent/gb.toml", env={})


def test_device_from_toml_env_and_flags(tmp_path: Path) -> None:
    assert Settings().device == "auto"
    f = tmp_path / "gb.toml"
    f.write_text('[engine]\ndevice = "cpu"\n')
    assert load_settings(f, env={}).device == "cpu"
    assert load_settings(f, env={"GROOVEBRIDGE_DEVICE": "cuda"}).device == "cuda"  # validated, not probed
    assert load_settings(f, env={"GROOVEBRIDGE_DEVICE": "cuda"}, device="mps").device == "mps"
