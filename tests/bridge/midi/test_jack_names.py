"""Predictable JACK names (issue 22): our ports sit on clients of their own with fixed full
names (no "GrooveBridge-01" depending on start order), and `groovebridge ports` prints those
exact names and `jack_connect` lines that work as printed."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from jack_helpers import private_jack_server

from bridge.cli.ports import jack_lines
from bridge.midi.ports import MidiIO, jack_port_names, resolve_api

ROOT = Path(__file__).resolve().parents[3]


def test_jack_lines_name_our_ports_and_every_other_port():
    ours_in, ours_out = jack_port_names()
    assert (ours_in, ours_out) == ("GrooveBridge In:GrooveBridge In", "GrooveBridge Out:GrooveBridge Out")
    lines = jack_lines(["system:midi_capture_1", ours_out], ["system:midi_playback_1", ours_in])
    assert f'  jack_connect "system:midi_capture_1" "{ours_in}"' in lines
    assert f'  jack_connect "{ours_out}" "system:midi_playback_1"' in lines
    assert not any(f'"{ours_out}" "{ours_in}"' in line for line in lines)  # never to ourselves
    assert any("<your MIDI source>" in line for line in jack_lines([], []))


@pytest.mark.jack
def test_full_names_on_jack_and_the_printed_jack_connect_lines_work():
    pytest.importorskip("rtmidi")
    import rtmidi

    with private_jack_server():
        env = dict(os.environ)  # (the private server is the default server inside the block)
        api = resolve_api("jack")
        sender = rtmidi.MidiOut(api, name="Test Drums")
        sender.open_virtual_port("pads")
        io = MidiIO(api)  # our virtual In and Out
        try:
            ports = subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True, timeout=20).stdout.splitlines()
            ours_in, ours_out = jack_port_names()
            assert ours_in in ports and ours_out in ports, ports
            assert not any(p.startswith("GrooveBridge-0") for p in ports)
            out = subprocess.run([sys.executable, "-m", "groovebridge.cli", "ports", "--api", "jack"], cwd=ROOT,
                                 env=env, capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            assert f"input:  {ours_in}" in out.stdout and f"output: {ours_out}" in out.stdout
            line = f'jack_connect "Test Drums:pads" "{ours_in}"'
            assert line in out.stdout, out.stdout
            done = subprocess.run(shlex.split(line), env=env, capture_output=True, text=True, timeout=20)
            assert done.returncode == 0, done.stderr  # the printed line works as printed
            conns = subprocess.run(["jack_lsp", "-c", "Test Drums:pads"], env=env, capture_output=True,
                                   text=True, timeout=20).stdout
            assert ours_in in conns
        finally:
            io.close()
            sender.close_port()
            sender.delete()
