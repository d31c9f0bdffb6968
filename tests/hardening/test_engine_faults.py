"""Faults under the live engine with real JACK (a private server per test, dummy backend).

* The output port's peer vanishes mid-playback and comes back: with our virtual port (the
  receiver connects to us) and with a named port (we connect to it: reported, re-opened).
* The JACK server itself stops and starts again: the engine reports it (``error`` and
  ``ports`` events, ``last_error``), keeps running, re-opens its ports when the server is
  back, notes reach a receiver again, and closing afterwards does not crash. That last part
  runs in a child process: before the fix (``bridge/midi/jack_watch.py``) ``close_port`` on a port
  of the dead server crashed the process with SIGSEGV.
* No JACK server when the engine starts: reported at once (``NO_SERVER``), playback runs
  silently, and when a server starts later the ports open and notes reach a receiver.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bridge"))
from engine_fakes import Events, FakeModel, groove_of, wait_for  # noqa: E402
from jack_helpers import JackServer, private_jack_server  # noqa: E402

from bridge.clock.base import InternalClock  # noqa: E402
from bridge.engine import Engine  # noqa: E402
from bridge.midi.ports import OUT_PORT_NAME, find_port  # noqa: E402
from bridge.settings import Settings  # noqa: E402

rtmidi = pytest.importorskip("rtmidi")
pytestmark = pytest.mark.jack
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def jack() -> Iterator[JackServer]:
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        pytest.skip("python-rtmidi was built without JACK")
    with private_jack_server(64) as server:
        yield server


def playing_engine(**settings: object) -> tuple[Engine, Events]:
    s = Settings(midi_api="jack", bpm=240.0, midi_input="none", realtime_priority=0, **settings)  # type: ignore[arg-type]
    engine = Engine(s, model_loader=lambda name: FakeModel(), clock=InternalClock(s.bpm), auto_sample=False)
    events = Events()
    engine.subscribe(events)
    engine.start()
    engine.set_pattern(groove_of([(step, 0, 100, 0.0) for step in range(0, 64, 2)]))  # 8 notes/s at 240 BPM
    engine.play()
    return engine, events


class Sink:
    """Another JACK client: reads ``GrooveBridge Out`` (connect=True) or offers a port of its own."""

    def __init__(self, connect: bool) -> None:
        self.got: list[list[int]] = []
        self.midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="gbfault-sink")
        self.midi_in.set_callback(lambda ev, _d: self.got.append(ev[0]))
        if connect:
            idx = find_port(self.midi_in.get_ports(), OUT_PORT_NAME)
            assert idx is not None
            self.midi_in.open_port(idx)
        else:
            self.midi_in.open_virtual_port("Fault Sink")

    def note_ons(self) -> int:
        return sum(1 for m in self.got if m[0] & 0xF0 == 0x90 and m[2] > 0)

    def close(self) -> None:
        self.midi_in.close_port()
        self.midi_in.delete()


def test_receiver_of_our_virtual_port_vanishes_and_comes_back(jack: JackServer) -> None:
    engine, events = playing_engine()
    try:
        sink = Sink(connect=True)
        wait_for(lambda: sink.note_ons() >= 3, timeout_sec=10, what="notes at the receiver")
        sink.close()  # the peer vanishes mid-playback
        played = len(events.of("note"))
        wait_for(lambda: len(events.of("note")) >= played + 4, timeout_sec=10, what="playback going on alone")
        sink = Sink(connect=True)  # and comes back
        wait_for(lambda: sink.note_ons() >= 3, timeout_sec=10, what="notes after reconnecting")
        sink.close()
        assert engine.snapshot().playing and engine.snapshot().last_error == ""
    finally:
        engine.close()


def test_named_output_port_vanishes_is_reported_and_reopened(jack: JackServer) -> None:
    sink = Sink(connect=False)
    engine, events = playing_engine(midi_output="fault sink")
    try:
        assert engine.snapshot().ports["output_present"]
        wait_for(lambda: sink.note_ons() >= 3, timeout_sec=10, what="notes at the sink")
        sink.close()
        wait_for(lambda: any("vanished" in str(e) for e in events.of("error")), timeout_sec=5, what="vanished report")
        wait_for(lambda: not engine.snapshot().ports["output_present"], what="ports state")
        assert any(not p["output_present"] for p in events.of("ports"))  # type: ignore[index]
        played = len(events.of("note"))
        wait_for(lambda: len(events.of("note")) >= played + 4, timeout_sec=10, what="playback going on")
        sink = Sink(connect=False)
        wait_for(lambda: any("is back" in str(e) for e in events.of("notice")), timeout_sec=5, what="back notice")
        assert not [e for e in events.of("error") if "is back" in str(e)]  # good news is not an error
        wait_for(lambda: sink.note_ons() >= 3, timeout_sec=10, what="notes after the port came back")
        assert engine.snapshot().ports["output_present"] and engine.snapshot().playing
        sink.close()
    finally:
        engine.close()


RESTART_CHILD = r"""
import json, os, subprocess, sys, time
sys.path[:0] = sys.argv[1:3]
from engine_fakes import Events, FakeModel, groove_of, wait_for
from jack_helpers import _start
import rtmidi
from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.midi.ports import OUT_PORT_NAME, find_port
from bridge.settings import Settings

name, sig, pid_file = sys.argv[3], int(sys.argv[4]), sys.argv[5]
env = dict(os.environ, JACK_NO_START_SERVER="1")
os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")

def server():
    for _ in range(3):
        proc = _start(name, 64, False, env)
        if proc is not None:
            with open(pid_file, "a") as f:
                f.write(f"{proc.pid}\n")
            for _ in range(50):  # jack_lsp answers a moment before clients are accepted
                try:
                    rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="gbfault-probe").delete()
                    return proc
                except rtmidi.SystemError:
                    time.sleep(0.1)
            proc.terminate(); proc.wait()
    raise SystemExit("jackd did not start")

def receive(seconds):
    mi = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="gbfault-rx")
    got = []
    mi.set_callback(lambda ev, _d: got.append(ev[0]))
    mi.open_port(find_port(mi.get_ports(), OUT_PORT_NAME))
    wait_for(lambda: sum(1 for m in got if m[0] == 0x99) >= 3, timeout_sec=seconds, what="notes")
    mi.close_port(); mi.delete()
    return len(got)

out = {}
proc = server()
s = Settings(midi_api="jack", bpm=240.0, realtime_priority=0)
engine = Engine(s, model_loader=lambda n: FakeModel(), clock=InternalClock(240.0), auto_sample=False)
ev = Events()
engine.subscribe(ev)
engine.start()
engine.set_pattern(groove_of([(k, 0, 100, 0.0) for k in range(0, 64, 2)]))
engine.play()
out["before"] = receive(10)
proc.send_signal(sig); proc.wait()
wait_for(lambda: "JACK server stopped" in engine.snapshot().last_error, timeout_sec=10, what="stop report")
out["down_error"] = engine.snapshot().last_error
out["down_ports"] = engine.snapshot().ports
n = len(ev.of("note"))
wait_for(lambda: len(ev.of("note")) > n + 4, timeout_sec=10, what="playback while the server is down")
out["playing_while_down"] = engine.snapshot().playing
proc = server()
wait_for(lambda: any("JACK server is back" in str(n) for n in ev.of("notice")), timeout_sec=10, what="back notice")
out["back_errors"] = [str(e) for e in ev.of("error") if "JACK server is back" in str(e)]
out["back_ports"] = engine.snapshot().ports
out["after"] = receive(10)
out["ports_events"] = len(ev.of("ports"))
engine.close()
proc.terminate(); proc.wait()
print(json.dumps(out), flush=True)
"""


def _reclaim(name: str) -> None:
    """Start and stop a server of this name: a SIGKILLed jackd leaves its entry in JACK's
    machine-wide registry (8 servers at most), and only a server of the same name frees it."""
    import shutil

    from jack_helpers import _start

    if shutil.which("jackd") is None:  # nothing to reclaim (the test skips: jackd is not installed)
        return
    proc = _start(name, 64, False, dict(os.environ, JACK_NO_START_SERVER="1"))
    if proc is not None:
        proc.terminate()
        proc.wait(5)


def _run_jack_child(script: str, server: str, args: list[str], tmp_path: Path) -> dict:
    """Run a JACK scenario in a child process (argv: bridge test dir, repo, server name, *args,
    pid file); stop any jackd it left with SIGTERM (a SIGKILLed jackd leaves its entry in JACK's
    server registry); its last stdout line, as JSON."""
    import shutil

    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed")
    env = {k: v for k, v in os.environ.items() if k != "JACK_DEFAULT_SERVER"}
    pids = tmp_path / "jackd.pids"
    try:
        child = subprocess.run(
            [sys.executable, "-c", script, str(HERE.parent / "bridge"), str(HERE.parents[1]), server, *args, str(pids)],
            capture_output=True, text=True, timeout=90, env=env, cwd=HERE.parents[1],
        )
    finally:
        for pid in (int(x) for x in pids.read_text().split()) if pids.exists() else ():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    assert child.returncode == 0, f"child rc {child.returncode} (-11 = SIGSEGV): {child.stderr[-1500:]}"
    return json.loads(child.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
def test_jack_server_restart_is_reported_and_recovered(sig: int, tmp_path: Path) -> None:
    name = f"gbfault-{os.getpid()}-{int(sig)}"
    try:
        out = _run_jack_child(RESTART_CHILD, name, [str(int(sig))], tmp_path)
    finally:
        _reclaim(name)
    assert out["before"] >= 3 and out["after"] >= 3
    assert "re-open when it is back" in out["down_error"]
    assert not out["down_ports"]["output_present"] and out["back_ports"]["output_present"]
    assert out["playing_while_down"] and out["ports_events"] >= 2
    assert out["back_errors"] == []  # "JACK server is back" is a notice, not an error


LATE_CHILD = r"""
import json, os, sys, time
sys.path[:0] = sys.argv[1:3]
from engine_fakes import Events, FakeModel, groove_of, wait_for
from jack_helpers import _start
import rtmidi
from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.midi.ports import OUT_PORT_NAME, find_port
from bridge.settings import Settings

name, pid_file = sys.argv[3], sys.argv[4]
env = dict(os.environ, JACK_NO_START_SERVER="1")
os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
out = {}
s = Settings(midi_api="jack", bpm=240.0, realtime_priority=0)
engine = Engine(s, model_loader=lambda n: FakeModel(), clock=InternalClock(240.0), auto_sample=False)
ev = Events()
engine.subscribe(ev)
engine.start()  # no server of this name runs yet
wait_for(lambda: "no JACK server is running" in engine.snapshot().last_error, timeout_sec=10, what="no-server report")
out["start_error"] = engine.snapshot().last_error
out["start_ports"] = engine.snapshot().ports
engine.set_pattern(groove_of([(k, 0, 100, 0.0) for k in range(0, 64, 2)]))
engine.play()
wait_for(lambda: len(ev.of("note")) > 4, timeout_sec=10, what="playback with no server")
proc = _start(name, 64, False, env)
if proc is None:
    raise SystemExit("jackd did not start")
with open(pid_file, "a") as f:
    f.write(f"{proc.pid}\n")
try:
    wait_for(lambda: any("MIDI ports opened" in str(n) for n in ev.of("notice")), timeout_sec=20, what="ports-opened notice")
    out["up_notice"] = [str(n) for n in ev.of("notice")][-1]
    out["up_ports"] = engine.snapshot().ports
    mi = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="gbfault-late-rx")
    got = []
    mi.set_callback(lambda e, _d: got.append(e[0]))
    mi.open_port(find_port(mi.get_ports(), OUT_PORT_NAME))
    wait_for(lambda: sum(1 for m in got if m[0] == 0x99 and m[2] > 0) >= 3, timeout_sec=10, what="notes at the receiver")
    out["received"] = len(got)
    mi.close_port(); mi.delete()
    out["errors"] = [str(e) for e in ev.of("error")]
    engine.close()
finally:
    proc.terminate(); proc.wait()
print(json.dumps(out), flush=True)
"""


@pytest.mark.slow
def test_no_jack_server_at_start_is_reported_and_ports_open_when_it_starts(tmp_path: Path) -> None:
    out = _run_jack_child(LATE_CHILD, f"gblate-{os.getpid()}", [], tmp_path)
    assert "start jackd" in out["start_error"]
    assert out["start_ports"]["server_down"] and not out["start_ports"]["output_present"]
    assert out["up_notice"] == "JACK server is running: MIDI ports opened"  # a notice, not an error
    assert not [e for e in out["errors"] if "ports opened" in e]
    assert out["up_ports"]["output_present"] and not out["up_ports"]["server_down"]
    assert out["received"] >= 3
    assert out["errors"][0].startswith("no JACK server is running")


def test_midi_io_without_a_jack_server_waits_instead_of_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fast: a server name nobody runs; the ports say so, poll() reports once, sends go nowhere."""
    from bridge.midi.jack_watch import JackWatch
    from bridge.midi.ports import NO_SERVER, MidiIO

    monkeypatch.setenv("JACK_DEFAULT_SERVER", f"gb-nobody-{os.getpid()}")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    if JackWatch.open(wait=True) is None:
        pytest.skip("libjack is not installed")
    midi = MidiIO(rtmidi.API_UNIX_JACK, input_port="none", output_port="")
    try:
        assert midi.server_down and not midi.ports["output_present"]
        midi.send_message([0x99, 36, 100])  # dropped, no error
        assert midi.poll() == [NO_SERVER]
        assert midi.poll() == []  # said once; retried quietly
    finally:
        midi.close()
