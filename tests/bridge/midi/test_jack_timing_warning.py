"""A JACK server that can drop MIDI is named as such (issue 22): without real-time scheduling,
in JACK2's default asynchronous mode, a busy machine loses clock ticks and played hits, so
the engine reports one line when it opens its ports there and `groovebridge ports` says how
the server runs. Synchronous (-S) or real-time servers get no warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.midi.jack_watch import jackd_options, server_is_synchronous, timing_warning
from tests.rigs.jack_server import JackUnavailable, private_jack_server

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("argv", "want"), [
    (["jackd", "-d", "dummy"], ("default", False)),
    (["/usr/bin/jackd", "-S", "-t", "200", "--no-realtime", "-d", "dummy", "-p", "32"], ("default", True)),
    (["jackd", "-n", "stage", "--sync", "-d", "alsa"], ("stage", True)),
    (["jackd", "--name=stage", "-R", "-P", "70", "-d", "alsa", "-n", "3"], ("stage", False)),  # -n after -d: periods
    (["jackd", "-nstage", "-d", "dummy", "-S"], ("stage", False)),  # a driver's -S is not the server's
])
def test_jackd_options(argv: list[str], want: tuple[str, bool]) -> None:
    assert jackd_options(argv) == want


def test_timing_warning_only_where_midi_can_drop() -> None:
    assert timing_warning(True, False) is None and timing_warning(True, None) is None
    assert timing_warning(False, True) is None
    assert timing_warning(None, False) is None  # not connected: nothing to say
    async_line = timing_warning(False, False)
    assert async_line is not None and "asynchronous" in async_line and "-R" in async_line and "-S" in async_line
    unknown = timing_warning(False, None)  # PipeWire's JACK: no jackd command line to read
    assert unknown is not None and "asynchronous" not in unknown


def test_server_is_synchronous_reads_the_named_servers_command_line(tmp_path: Path) -> None:
    def proc(pid: str, *argv: str) -> None:
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")

    proc("10", "python3", "-S", "x.py")
    proc("11", "/usr/bin/jackd", "-n", "other", "-S", "-d", "dummy")
    proc("12", "jackd", "--no-realtime", "-d", "dummy")
    (tmp_path / "self").mkdir()
    assert server_is_synchronous("other", tmp_path) is True
    assert server_is_synchronous("default", tmp_path) is False
    assert server_is_synchronous("missing", tmp_path) is None
    assert server_is_synchronous("default", tmp_path / "absent") is None


def reports_and_ports_line(mode: str, sync: bool) -> tuple[list[str], list[str], str]:
    """On a private server: the engine port layer's first two polls' reports, and `ports`' output."""
    rtmidi = pytest.importorskip("rtmidi")
    from bridge.midi.ports import MidiIO

    try:
        server = private_jack_server("groovebridge-test", 32, mode=mode, sync=sync)
        server.__enter__()
    except JackUnavailable as e:
        pytest.skip(str(e))
    try:
        io = MidiIO(rtmidi.API_UNIX_JACK)
        try:
            first, second = io.poll(), io.poll()
        finally:
            io.close()
        out = subprocess.run([sys.executable, "-m", "groovebridge.cli", "ports", "--api", "jack"], cwd=ROOT,
                             env=dict(os.environ), capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return first, second, out.stdout
    finally:
        server.__exit__(None, None, None)


@pytest.mark.jack
def test_asynchronous_no_realtime_server_is_reported_once() -> None:
    first, second, ports = reports_and_ports_line("no-rt", sync=False)
    warnings = [r for r in first if "without real-time" in r]
    assert len(warnings) == 1 and "asynchronous" in warnings[0], first
    assert not any("without real-time" in r for r in second)  # once, not at every poll
    assert "JACK server: not real-time, asynchronous" in ports and "warning: JACK runs without" in ports, ports


@pytest.mark.jack
def test_synchronous_server_gets_no_warning() -> None:
    first, _second, ports = reports_and_ports_line("no-rt", sync=True)
    assert not any("without real-time" in r for r in first), first
    assert "JACK server: not real-time, synchronous (-S)" in ports and "warning:" not in ports, ports


@pytest.mark.jack
def test_realtime_server_gets_no_warning() -> None:
    first, _second, ports = reports_and_ports_line("rt", sync=False)  # skips where -R is not allowed
    assert not any("without real-time" in r for r in first), first
    assert "JACK server: real-time, asynchronous" in ports and "warning:" not in ports, ports


@pytest.mark.jack
@pytest.mark.slow
def test_serve_prints_the_warning_once() -> None:
    """Seen trying it: the line came twice, Python's last-resort log handler printing the engine's
    warning beside serve's own "! ..." line (every engine error did)."""
    try:
        server = private_jack_server("groovebridge-test", 32, mode="no-rt", sync=False)
        server.__enter__()
    except JackUnavailable as e:
        pytest.skip(str(e))
    try:
        out = subprocess.run([sys.executable, "-m", "groovebridge.cli", "serve", "--midi-api", "jack", "--no-play",
                              "--no-osc", "--duration", "4"], cwd=ROOT, env=dict(os.environ), capture_output=True,
                             text=True, timeout=120)
    finally:
        server.__exit__(None, None, None)
    assert out.returncode == 0, out.stderr
    both = out.stdout + out.stderr
    assert both.count("JACK runs without real-time scheduling") == 1, both
    assert "! JACK runs without real-time scheduling in asynchronous mode" in out.stdout, both
