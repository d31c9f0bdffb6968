"""OSC /drumify and /capture/input_mode: the table called directly, the settings echo, then over
real UDP on 127.0.0.1 against the real Engine and the real shipped Drumify model (drumify a slot,
set and echo the input mode, bad values answered with one line on /error, the server alive)."""

from __future__ import annotations

import pytest
from engine_fakes import KICK, groove_of, wait_for
from osc_fakes import P, run
from test_engine_drumify import TAPS
from test_osc_attributes import serve_osc, wait_error
from test_osc_udp import Receiver

from bridge.engine.api import EngineCommands
from bridge.engine.snapshot import EngineSnapshot
from bridge.osc import group_messages
from bridge.osc.intake import COALESCED


# ---- the table, called directly ------------------------------------------------------------------
def test_drumify_and_input_mode_addresses_call_the_engine(engine):
    assert run(engine, "/drumify", "a") == [("drumify", ("a",), {})]
    assert run(engine, "/drumify", " B ") == [("drumify", ("b",), {})]
    assert run(engine, "/Drumify/", "Pattern") == [("drumify", ("pattern",), {})]
    assert run(engine, "/drumify") == [("drumify", ("pattern",), {})]  # a bare button: the pattern
    assert run(engine, "/drumify", 1.0) == [("drumify", ("pattern",), {})]
    assert run(engine, "/drumify", 0.0) == []  # button release
    assert run(engine, "/drumify", "c") == [("drumify", ("c",), {})]  # the engine's one line on /error
    assert run(engine, "/capture/input_mode", "rhythm") == [("set_input_mode", ("rhythm",), {})]
    assert run(engine, "/capture/input_mode", " Drums") == [("set_input_mode", ("drums",), {})]
    assert run(engine, "/capture/input_mode", 1.0) == [("set_input_mode", ("rhythm",), {})]  # radio button
    assert run(engine, "/capture/input_mode", 0) == [("set_input_mode", ("drums",), {})]
    assert run(engine, "/capture/input_mode", "piano") == [("set_input_mode", ("piano",), {})]
    assert run(engine, "/capture/input_mode") == []  # no argument: logged and ignored
    assert COALESCED[EngineCommands.set_input_mode] == 0


def test_input_mode_is_echoed_with_the_settings():
    msgs = dict(group_messages("settings", EngineSnapshot(input_mode="rhythm")))
    assert msgs[P + "/capture/input_mode"] == ["rhythm"]
    assert dict(group_messages("settings", EngineSnapshot()))[P + "/capture/input_mode"] == ["drums"]


# ---- real UDP, real engine, the shipped Drumify model ------------------------------------------------
@pytest.fixture
def live():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from engine_fakes import FakeModel

    from bridge.engine import Engine
    from bridge.settings import Settings
    from models.generate import load_model
    from tests.rigs.midi_fakes import FakeMidiIO

    drumify_model = load_model("drumify")
    engine = Engine(Settings(bpm=240.0), midi=FakeMidiIO(), auto_sample=False,
                    model_loader=lambda name: drumify_model if name == "drumify" else FakeModel())
    yield from serve_osc(engine, timeout_sec=60, what="model")


def test_drumify_and_input_mode_over_udp(live):
    engine, server, rx = live
    port = server.address[1]

    rx.send(port, P + "/capture/input_mode", "rhythm")
    assert rx.wait_for(P + "/capture/input_mode", ["rhythm"]) == ["rhythm"]
    wait_for(lambda: engine.snapshot().input_mode == "rhythm", what="rhythm mode")
    assert engine.capture_buffer.mode == "rhythm"

    rx.send(port, P + "/capture/input_mode", "piano")
    message = wait_error(rx, "piano")
    assert "capture input mode 'piano' is not drums or rhythm" in message and "\n" not in message
    assert engine.snapshot().input_mode == "rhythm"  # unchanged

    rx.send(port, P + "/drumify", "a")  # slot A is empty
    assert "slot A is empty" in wait_error(rx, "slot A")
    rx.send(port, P + "/drumify", "c")
    assert "drumify source 'c' is not a, b or pattern" in wait_error(rx, "'c'")

    engine.load_slot("A", groove_of([(s, KICK, 100, 0.0) for s in TAPS], bpm=240.0))
    wait_for(lambda: engine.snapshot().slots["A"] is not None, what="slot A")
    rx.send(port, P + "/drumify", "a")
    assert rx.wait_for(P + "/pattern/source", ["drumify slot A"], timeout=60.0)
    pattern = engine.snapshot().pattern
    assert int(pattern.hits.any(axis=0).sum()) >= 3  # drums came back
    kick_velocities = rx.wait_for(P + "/pattern/kick")
    assert len(kick_velocities) == 64

    rejected = server.control.rejected
    rx.send(port, P + "/capture/input_mode")  # no argument: logged and ignored
    wait_for(lambda: server.control.rejected == rejected + 1, what="a rejected message")

    other = Receiver()  # a second controller asks for the settings: the mode is in them
    try:
        other.send(port, P + "/query/settings")
        assert other.wait_for(P + "/capture/input_mode") == ["rhythm"]
    finally:
        other.close()
    rx.send(port, P + "/ping")
    assert rx.wait_for(P + "/pong") == []  # alive after all of it
