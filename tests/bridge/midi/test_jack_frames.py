"""The frame-keeping JACK MIDI input (bridge.midi.jack_frames) over a real JACK server: a second
process writes notes at exact frames inside 256-frame periods (as a DAW on JACK does); their
times at GrooveBridge In keep those places (python-rtmidi's input stamped them all alike).
On by default where it builds (GROOVEBRIDGE_MIDI_FRAMES=0: rtmidi); these tests say which they want."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from jack_helpers import JackServer, private_jack_server

from bridge.midi import jack_frames
from bridge.midi.ports import MidiIO, jack_port_names, resolve_api

rtmidi = pytest.importorskip("rtmidi")
pytest.importorskip("jack")
pytestmark = pytest.mark.jack
SENDER = Path(__file__).resolve().parents[2] / "rigs" / "frame_sender.py"
OFFSETS = [0, 64, 128, 255]  # frames into a 256-frame period (48 kHz): 0, 1.33, 2.67, 5.31 ms
RATE = 48000


@pytest.fixture(scope="module")
def jack() -> Iterator[JackServer]:
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        pytest.skip("python-rtmidi was built without JACK")
    with private_jack_server(256) as server:  # synchronous (-S)
        yield server


def received(times: int = 12) -> tuple[str, np.ndarray]:
    """The input handle's type and, per period the sender wrote in, the note times less the first."""
    io = MidiIO(resolve_api("jack"), "", "none")
    got: list[tuple[float, list[int]]] = []
    io.set_callback(lambda m, t: got.append((t, m)))
    kind = type(io._in.handle).__name__
    try:
        spec = {"to": jack_port_names()[0], "offsets": OFFSETS, "every": 10, "times": times}
        proc = subprocess.run([sys.executable, str(SENDER), json.dumps(spec)], capture_output=True, text=True, timeout=60)
        assert proc.stdout.split() == ["ready", "done"], proc.stderr
        deadline = time.monotonic() + 2.0
        while len(got) < times * len(OFFSETS) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        io.close()
    notes = [(t, m) for t, m in got if m[0] == 0x99]
    assert len(notes) == times * len(OFFSETS)
    t = np.array([t for t, _m in notes]).reshape(times, len(OFFSETS))
    assert [m[1] for _t, m in notes[: len(OFFSETS)]] == [36 + i for i in range(len(OFFSETS))]
    return kind, t - t[:, :1]


def test_events_keep_their_frame_inside_the_period(jack: JackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    if not jack_frames.available():
        pytest.skip("the frame reader does not build here (no C compiler or no libjack.so.0)")
    monkeypatch.setenv("GROOVEBRIDGE_MIDI_FRAMES", "1")
    kind, rel = received()
    assert kind == "JackFrameMidiIn"
    np.testing.assert_allclose(rel, np.tile(np.array(OFFSETS) / RATE, (rel.shape[0], 1)), atol=20e-6)


def test_without_it_rtmidi_stamps_the_period(jack: JackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the reader fixes (and what reads where it does not build): every note of a period
    at one time, up to 5.3 ms off its frame."""
    monkeypatch.setenv("GROOVEBRIDGE_MIDI_FRAMES", "1")
    monkeypatch.setattr(jack_frames, "library", lambda: None)
    kind, rel = received(6)
    assert kind == "MidiIn"
    assert float(np.abs(rel).max()) < 0.5e-3  # all of a period's notes stamped alike
    assert float(np.abs(rel[:, -1] - OFFSETS[-1] / RATE).min()) > 4e-3


def test_the_reader_is_the_default_where_it_builds_and_0_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jack_frames, "library", lambda: object())  # built
    for value, want in ((None, True), ("1", True), ("0", False)):
        if value is None:
            monkeypatch.delenv("GROOVEBRIDGE_MIDI_FRAMES", raising=False)
        else:
            monkeypatch.setenv("GROOVEBRIDGE_MIDI_FRAMES", value)
        assert jack_frames.enabled() is want, value
    monkeypatch.delenv("GROOVEBRIDGE_MIDI_FRAMES", raising=False)
    monkeypatch.setattr(jack_frames, "library", lambda: None)  # no compiler / no libjack: rtmidi
    assert jack_frames.enabled() is False


def test_the_reader_refuses_with_one_line_without_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    if not jack_frames.available():
        pytest.skip("the frame reader does not build here")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "groovebridge-no-such-server")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    with pytest.raises(jack_frames.JackFrameError, match="could not be opened"):
        jack_frames.JackFrameMidiIn("GrooveBridge test")



def _fifo_threads() -> list[int]:
    """Priorities of this process's SCHED_FIFO threads."""
    out = []
    for tid in os.listdir("/proc/self/task"):
        try:
            if os.sched_getscheduler(int(tid)) == os.SCHED_FIFO:
                out.append(os.sched_getparam(int(tid)).sched_priority)
        except OSError:
            continue
    return out


def test_the_readers_thread_asks_for_real_time_under_a_server_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """jackd without -R runs clients' threads at normal priority; asynchronous JACK then drops
    the cycles a late one misses (bench_sync_scenario: hits lost at GrooveBridge In). The reader
    asks for SCHED_FIFO for its own thread where the OS allows it (fails on the first version)."""
    if not jack_frames.available():
        pytest.skip("the frame reader does not build here")
    if os.geteuid() != 0 and resource.getrlimit(resource.RLIMIT_RTPRIO)[0] < jack_frames.RT_PRIORITY:
        pytest.skip("real-time priority is not allowed here")
    from tests.rigs.jack_server import private_jack_server as server

    monkeypatch.setenv("GROOVEBRIDGE_MIDI_FRAMES", "1")
    with server("groovebridge-test", 256, mode="no-rt"):
        before = _fifo_threads()
        io = MidiIO(resolve_api("jack"), "", "none")
        try:
            deadline = time.monotonic() + 2.0
            while jack_frames.RT_PRIORITY not in _fifo_threads() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert _fifo_threads().count(jack_frames.RT_PRIORITY) == before.count(jack_frames.RT_PRIORITY) + 1
        finally:
            io.close()
