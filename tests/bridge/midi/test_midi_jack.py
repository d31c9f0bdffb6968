"""Real JACK MIDI (dummy backend, private server with a 32-frame period): the engine's virtual
ports seen by another rtmidi client, capture of a real GMD groove played into GrooveBridge In,
a vanished port reported and re-opened."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from engine_fakes import Events, FakeModel, groove_of, wait_for
from jack_helpers import JackServer, private_jack_server

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.midi.ports import IN_PORT_NAME, OUT_PORT_NAME, MidiIO, find_port, resolve_api
from bridge.settings import Settings
from models.drum_maps import ROLAND
from models.groove import Groove

rtmidi = pytest.importorskip("rtmidi")
pytestmark = pytest.mark.jack
GMD_FILE = Path("drummer1/session1/102_funk_95_beat_4-4.mid")


@pytest.fixture(scope="module")
def jack() -> Iterator[JackServer]:
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        pytest.skip("python-rtmidi was built without JACK")
    with private_jack_server(32) as name:
        yield name


def jack_engine(**settings: object) -> tuple[Engine, Events]:
    s = Settings(midi_api="jack", **settings)  # type: ignore[arg-type]
    engine = Engine(s, model_loader=lambda name: FakeModel(), clock=InternalClock(s.bpm), auto_sample=False)
    events = Events()
    engine.subscribe(events)
    engine.start()
    assert engine.snapshot().last_error == ""
    return engine, events


class Receiver:
    """A test client reading a port with rtmidi (JACK), timestamping arrivals."""

    def __init__(self, port_substring: str) -> None:
        self.midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="gbtest-receiver")
        names = self.midi_in.get_ports()
        idx = find_port(names, port_substring)
        assert idx is not None, f"{port_substring!r} not in {names}"
        self.messages: list[tuple[float, list[int]]] = []
        self.midi_in.set_callback(lambda ev, _d: self.messages.append((time.monotonic(), ev[0])))
        self.midi_in.open_port(idx)

    def note_ons(self) -> list[tuple[int, int]]:
        return [(m[1], m[2]) for _, m in self.messages if m[0] & 0xF0 == 0x90 and m[2] > 0]

    def close(self) -> None:
        self.midi_in.close_port()
        self.midi_in.delete()


def test_groovebridge_out_reaches_another_client(jack: JackServer) -> None:
    engine, events = jack_engine(bpm=240.0)
    rx = Receiver(OUT_PORT_NAME)
    try:
        # velocities tell the notes apart; the snare of bar 2 is early, before its bar line
        pattern = groove_of([(0, 0, 100, 0.0), (4, 2, 64, -0.3), (16, 1, 90, 0.8), (40, 8, 77, 0.0)])
        engine.set_pattern(pattern)
        engine.play()
        wait_for(lambda: len(rx.note_ons()) >= 5, timeout_sec=10, what="notes at the receiver")
        engine.stop()
        wait_for(lambda: rx.messages and rx.messages[-1][1] == [0xB9, 123, 0], what="all notes off")
        assert rx.note_ons()[:5] == [(36, 100), (42, 64), (38, 90), (51, 77), (36, 100)]
        ons = sum(1 for _, m in rx.messages if m[0] == 0x99)
        offs = sum(1 for _, m in rx.messages if m[0] == 0x89)
        assert ons == offs >= 5
    finally:
        rx.close()
        engine.close()


def _gmd_groove(gmd_dir: Path) -> Groove:
    from models.midi.files import load_groove_window

    path = gmd_dir / GMD_FILE
    if not path.is_file():
        pytest.skip(f"{path} not found")
    groove, _ = load_groove_window(path, window=1, drum_map="roland")
    # Keep clear of the half-16th rounding edge (a late JACK period on a busy machine must not
    # move a hit to the next step): offsets limited to a quarter of a 16th.
    return groove.with_changes(offsets=np.clip(groove.offsets, -0.5, 0.5))


PLAYER = Path(__file__).resolve().parents[3] / "scripts" / "midi_player.py"


@pytest.mark.slow
def test_groove_played_into_groovebridge_in_is_captured(jack: JackServer, gmd_dir: Path) -> None:
    """A second process plays 4 bars of a real GMD groove at 120 BPM (internal clock);
    "record next 4 bars" gets the same hits and velocities, and offsets as JACK delivered them."""
    groove = _gmd_groove(gmd_dir)
    engine, events = jack_engine(bpm=120.0, input_drum_map="roland")
    proc = subprocess.Popen(
        [sys.executable, str(PLAYER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps({"port": IN_PORT_NAME, "monitor": True}) + "\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ready"
        engine.play()
        wait_for(lambda: engine.snapshot().playing)
        engine.capture("A", "next")
        wait_for(lambda: events.of("capture"), what="capture armed")
        armed = events.of("capture")[0]
        assert isinstance(armed, dict) and armed["state"] == "armed"
        start_beat = (armed["start_bar"] - 1) * 4.0
        clock = engine._clock
        plan = [
            (clock.time_at_beat(start_beat + ev.start_beats), [0x99, ROLAND.output_pitch(ev.drum_class), ev.velocity])
            for ev in groove.to_events()
        ]
        proc.stdin.write(json.dumps(plan) + "\n")
        proc.stdin.flush()
        sent_sec = json.loads(proc.stdout.readline())  # when the player sent each note
        jack_sec = json.loads(proc.stdout.readline())  # when JACK delivered it (the player's monitor)
        assert len(jack_sec) == len(plan), "the monitor port missed notes"
        wait_for(lambda: engine.snapshot().slots["A"] is not None, timeout_sec=5, what="captured slot")
        got = engine.snapshot().slots["A"]
        assert isinstance(got, Groove)
        heard = [(round(h.beat - start_beat, 4), h.drum_class, h.velocity) for h in engine.capture_buffer.hits()]
        wanted = [(round(e.start_beats, 4), e.drum_class, e.velocity) for e in groove.to_events()]
        assert np.array_equal(got.hits, groove.hits), f"heard {heard}\nwanted {wanted}"
        np.testing.assert_array_equal(np.round(got.velocities * 127), np.round(groove.velocities * 127))

        def offsets_at(times: list[float]) -> np.ndarray:
            """The groove's offsets with each hit moved to when it happened (120 BPM: 2 beats/s)."""
            offsets = groove.offsets.copy()
            for ev, (t_plan, _m), t in zip(groove.to_events(), plan, times, strict=True):
                pos = (ev.start_beats + (t - t_plan) * 2.0) * 4
                step = int(np.floor(ev.start_beats * 4 + 0.5))
                offsets[step, ev.drum_class] = 2.0 * (step - pos)
            return offsets

        mask = groove.hits > 0.5
        vs_jack = np.abs(got.offsets - offsets_at(jack_sec))[mask]
        vs_sent = np.abs(got.offsets - offsets_at(sent_sec))[mask]
        late_ms = (np.array(jack_sec) - np.array(sent_sec)) * 1000
        print(f"capture offset error (units of half a 16th) vs JACK delivery: median {np.median(vs_jack):.4f} "
              f"p90 {np.percentile(vs_jack, 90):.4f} max {vs_jack.max():.4f}; vs send: median "
              f"{np.median(vs_sent):.4f} max {vs_sent.max():.4f}; JACK delivery late by median "
              f"{np.median(late_ms):.2f} max {late_ms.max():.2f} ms")
        # The engine keeps what JACK delivered: typically within 0.005 (0.3 ms at 120 BPM) of the
        # monitor, a client of the same JACK cycle (stamping at hand-over instead: ~0.5 ms late).
        # rtmidi dates each event when its client's process thread runs, so on a loaded machine a
        # few hits differ by several ms either way (either client's thread ran late): 90 % within
        # 0.02 (1.25 ms). Against the send times only the median holds: JACK itself delivers some
        # notes late on a busy machine (measured up to 21 ms on the 2-core VM while training).
        assert np.median(vs_jack) < 0.005, vs_jack
        assert np.percentile(vs_jack, 90) < 0.02, vs_jack
        assert np.median(vs_sent) < 0.05, vs_sent
    finally:
        try:  # let the player close its client: a killed client stalls a synchronous server
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        engine.close()


def test_connected_port_vanishes_is_reported_and_comes_back(jack: JackServer) -> None:
    got: list[list[int]] = []

    def open_sink() -> object:
        sink = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="gbtest-sink")
        sink.open_virtual_port("Drum Sink")
        sink.set_callback(lambda ev, _d: got.append(ev[0]))
        return sink

    sink = open_sink()
    io = MidiIO(resolve_api("jack"), input_port="none", output_port="drum sink")
    try:
        assert io.ports["output_present"] and "Drum Sink" in io.ports["output"]
        io.send_message([0x99, 36, 100])
        wait_for(lambda: got, what="first note")
        sink.close_port()
        sink.delete()
        reports = io.poll()
        assert reports and "vanished" in reports[0]
        io.send_message([0x99, 38, 100])  # dropped quietly while away
        sink = open_sink()
        reports = io.poll()
        assert reports and "is back" in reports[0]
        io.send_message([0x99, 42, 100])
        wait_for(lambda: len(got) == 2, what="note after reconnect")
        assert got[-1] == [0x99, 42, 100]
    finally:
        io.close()
        sink.delete()  # type: ignore[attr-defined]


def test_our_output_is_never_our_input(jack: JackServer) -> None:
    io_out = MidiIO(resolve_api("jack"), input_port="none", output_port="")
    io_in = MidiIO(resolve_api("jack"), input_port=OUT_PORT_NAME, output_port="none")
    try:
        assert not io_in.ports["input_present"]  # our own output is not a candidate input
    finally:
        io_in.close()
        io_out.close()


def test_our_notes_looped_back_into_our_input_are_dropped(jack: JackServer) -> None:
    """A patch loop (GrooveBridge Out -> a thru client -> GrooveBridge In) must not feed our
    own notes back into the capture; the thru client's own notes still arrive."""
    io = MidiIO(resolve_api("jack"), input_port="", output_port="")
    heard: list[list[int]] = []
    io.set_callback(lambda m, t: heard.append(m))
    thru_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="gbtest-thru")
    thru_out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="gbtest-thru")
    try:
        i = find_port(thru_in.get_ports(), OUT_PORT_NAME)
        o = find_port(thru_out.get_ports(), IN_PORT_NAME)
        assert i is not None and o is not None
        thru_out.open_port(o)
        thru_in.set_callback(lambda ev, _d: thru_out.send_message(ev[0]))
        thru_in.open_port(i)
        time.sleep(0.05)
        io.send_message([0x99, 36, 100])
        time.sleep(0.1)
        thru_out.send_message([0x99, 38, 90])
        wait_for(lambda: heard, what="the thru client's own note")
        time.sleep(0.05)
        assert heard == [[0x99, 38, 90]]
    finally:
        thru_in.delete()
        thru_out.delete()
        io.close()
