"""The bridge CLIs' --help shows real defaults (the trial found "(default: None)" on most of
serve's options, whose values come from the settings, and "(default: ...) (default: None)"
twice on some), and render's errors name the file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "groovebridge.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("command", ["serve", "ports", "render"])
def test_help_shows_no_empty_or_doubled_defaults(command: str) -> None:
    out = cli(command, "--help")
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())  # argparse wraps lines
    assert "(default: None)" not in text
    assert not re.search(r"default: [^)]*\) \(default:", text), text


def test_serve_help_names_the_settings_defaults() -> None:
    from bridge.settings import Settings

    text = " ".join(cli("serve", "--help").stdout.split())
    d = Settings()
    for shown in (f"(default: {d.bpm:g})", f"(default: {d.sync})", f"default: {d.midi_api})", f"(default: {d.osc_port})"):
        assert shown in text, shown


def test_render_names_the_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mid"
    bad.write_text("not midi")
    out = cli("render", "--input_midi_1", str(bad), "--output", str(tmp_path / "x.wav"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == f"groovebridge render: {bad}: not a MIDI file (no MThd header)", out.stderr
    missing = cli("render", "--input_midi_1", str(tmp_path / "gone.mid"), "--output", str(tmp_path / "x.wav"))
    assert missing.stderr.count(str(tmp_path / "gone.mid")) == 1, missing.stderr  # named once, not twice
