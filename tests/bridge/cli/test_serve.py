"""`groovebridge serve` and `groovebridge ports` as a user runs them (subprocesses)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_fakes import wait_for
from jack_helpers import JackServer, private_jack_server

from bridge.cli.serve import status_line
from bridge.engine.snapshot import EngineSnapshot

ROOT = Path(__file__).resolve().parents[3]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "groovebridge.cli", *args], capture_output=True, text=True, cwd=ROOT,
        env=env or os.environ.copy(), timeout=timeout,
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["serve", "--bpm", "1000"], "bpm"),
        (["serve", "--settings", "/nonexistent.toml"], "not found"),
        (["serve", "--device", "gpu"], "setting device: 'gpu'"),
        (["ports", "--api", "winmm"], "winmm"),
    ],
)
def test_user_mistakes_give_one_line(args: list[str], fragment: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert fragment in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_status_line_shows_sync_tempo_position_and_source() -> None:
    line = status_line(EngineSnapshot(sync_source="midi", locked=False, bpm=97.25, bar=3, beat=2.5,
                                      playing=True, pattern_source="morph 0.40", model_state="ready",
                                      model_name="default"))
    assert line == "midi (unlocked) |   97.2 BPM |   3:2.50 | playing | pattern: morph 0.40 | model: default"


@pytest.fixture(scope="module")
def jack() -> Iterator[JackServer]:
    rtmidi = pytest.importorskip("rtmidi")
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        pytest.skip("python-rtmidi was built without JACK")
    with private_jack_server(32) as name:
        yield name


@pytest.mark.jack
@pytest.mark.slow
def test_serve_plays_to_jack_and_stops_cleanly_on_sigterm(jack: JackServer, tiny_checkpoint: Path) -> None:
    import rtmidi

    env = dict(os.environ, GROOVEBRIDGE_MIDI_API="jack", GROOVEBRIDGE_OSC_PORT="0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "groovebridge.cli", "serve", "--bpm", "200", "--model", str(tiny_checkpoint),
         "--input", "none", "--status-interval", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )
    assert proc.stdout is not None
    rx = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="gbtest-serve-rx")
    got: list[list[int]] = []
    try:
        first = proc.stdout.readline()
        assert "GrooveBridge serving" in first, first + proc.stderr.read() if proc.poll() is not None else first

        def connect() -> bool:
            names = rx.get_ports()
            idx = next((i for i, n in enumerate(names) if "GrooveBridge Out" in n), None)
            if idx is None:
                return False
            rx.set_callback(lambda ev, _d: got.append(ev[0]))
            rx.open_port(idx)
            return True

        wait_for(connect, timeout_sec=10, what="GrooveBridge Out")
        wait_for(lambda: sum(1 for m in got if m[0] == 0x99) >= 3, timeout_sec=30, what="notes from serve")
        time.sleep(0.3)  # a few status-line periods
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "stopping: all notes off" in out
        assert "pattern: sample" in out  # the status line as the log shows it
        time.sleep(0.1)
        assert got[-1] == [0xB9, 123, 0]
        ons = sum(1 for m in got if m[0] == 0x99 and m[2] > 0)
        offs = sum(1 for m in got if m[0] == 0x89)
        assert ons == offs
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        rx.delete()


@pytest.mark.jack
def test_ports_lists_what_jack_has(jack: JackServer) -> None:
    import rtmidi

    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="gbtest-ports")
    out.open_virtual_port("Test Kit")
    try:
        proc = run_cli("ports", "--api", "jack")
        assert proc.returncode == 0, proc.stderr
        assert "using: Jack" in proc.stdout
        assert "gbtest-ports:Test Kit" in proc.stdout.split("output ports")[0]  # a port we can read
    finally:
        out.delete()
