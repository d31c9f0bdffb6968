"""OSC attribute addresses: the table called directly, then over real UDP on 127.0.0.1 against
the real Engine with the shipped default model (set, echo, /norm, errors on /error, queries)."""

from __future__ import annotations

import time

import pytest
from engine_fakes import HAT, KICK, SNARE, groove_of, wait_for
from osc_fakes import P, run
from test_osc_udp import Receiver

from bridge.engine.snapshot import EngineSnapshot
from bridge.osc import OscServer, group_messages
from bridge.osc.table import QUERY_GROUPS, STATE_GROUPS, find_route
from models.net.attributes import ATTRIBUTE_NAMES


# ---- the table, called directly ------------------------------------------------------------------
def test_attribute_addresses_call_the_engine(engine):
    assert run(engine, "/attribute/density", 1.5) == [("set_attribute", ("density", 1.5), {})]
    assert run(engine, "/attribute/Fills/", -2) == [("set_attribute", ("fills", -2.0), {})]
    assert run(engine, "/attribute/intensity/norm", 0.25) == [("set_attribute", ("intensity", -1.0), {})]
    assert run(engine, "/attribute/swing/norm", 1.7) == [("set_attribute", ("swing", 2.0), {})]  # clamped
    assert run(engine, "/attribute/swing/norm", 0.5) == [("set_attribute", ("swing", 0.0), {})]
    # range and name are the engine's to check (its one-line error goes out on /error)
    assert run(engine, "/attribute/laid_back", 7.0) == [("set_attribute", ("laid_back", 7.0), {})]
    assert run(engine, "/attribute/cowbell", 1.0) == [("set_attribute", ("cowbell", 1.0), {})]
    assert run(engine, "/attribute/density", "loud") == []
    assert run(engine, "/attribute/density", float("nan")) == []
    assert run(engine, "/attribute/density") == []
    assert run(engine, "/attributes/reset", 1.0) == [("reset_attributes", (), {})]
    assert run(engine, "/attributes/reset", 0.0) == []  # button release
    assert find_route(P + "/attribute/a/b") is None and find_route(P + "/attribute/") is None
    assert find_route(P + "/attribute/" + "x" * 60) is None
    assert "attributes" in STATE_GROUPS and QUERY_GROUPS["attributes"] == ("attributes",)


def test_attribute_echo_messages():
    values = dict.fromkeys(ATTRIBUTE_NAMES, 0.0) | {"density": 1.0, "fills": -2.0}
    msgs = dict(group_messages("attributes", EngineSnapshot(attributes=values, attributes_available=True)))
    assert msgs[P + "/attribute/density"] == [1.0] and msgs[P + "/attribute/density/norm"] == [0.75]
    assert msgs[P + "/attribute/fills/norm"] == [0.0] and msgs[P + "/attribute/swing/norm"] == [0.5]
    assert msgs[P + "/attributes/available"] == [1]
    assert len(msgs) == 2 * len(ATTRIBUTE_NAMES) + 1


# ---- real UDP, real engine, shipped model ---------------------------------------------------------
@pytest.fixture
def live():
    from bridge.engine import Engine
    from bridge.settings import Settings
    from tests.rigs.midi_fakes import FakeMidiIO

    engine = Engine(Settings(bpm=240.0), midi=FakeMidiIO(), auto_sample=False)
    yield from serve_osc(engine, timeout_sec=120, what="default model")


def serve_osc(engine, timeout_sec: float, what: str):
    """Start ``engine`` and an OSC server on 127.0.0.1 answering a Receiver; yield all three
    once the model is ready; close them afterwards (the body of the live-UDP fixtures)."""
    rx = Receiver()
    server = OscServer(engine, "127.0.0.1", 0, "127.0.0.1", rx.port)
    engine.start()
    server.start()
    try:
        wait_for(lambda: engine.snapshot().model_state == "ready", timeout_sec=timeout_sec, what=what)
        yield engine, server, rx
    finally:
        server.close()
        engine.close()
        rx.close()


def wait_error(rx: Receiver, text: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for addr, args in list(rx.messages):
            if addr == P + "/error" and args and text in str(args[0]):
                return str(args[0])
        time.sleep(0.005)
    raise AssertionError(f"no /error with {text!r} in {[m for m in rx.messages if m[0] == P + '/error']}")


def test_attributes_over_udp_set_echo_norm_and_errors(live):
    engine, server, rx = live
    port = server.address[1]
    cells = [(s, KICK, 110, 0.0) for s in range(0, 64, 8)] + [(s, SNARE, 100, 0.0) for s in range(4, 64, 8)]
    engine.set_pattern(groove_of(cells + [(s, HAT, 80, 0.0) for s in range(0, 64, 2)], bpm=240.0), "edit")
    wait_for(lambda: engine.snapshot().pattern_source == "edit", what="source pattern")

    rx.send(port, P + "/attribute/density", 1.5)
    assert rx.wait_for(P + "/attribute/density", [1.5]) == [1.5]
    assert rx.wait_for(P + "/attribute/density/norm", [0.875]) == [0.875]
    assert rx.wait_for(P + "/pattern/source", ["edit · density +1.5"], timeout=20.0)

    rx.send(port, P + "/attribute/intensity/norm", 0.25)  # a fader: 0.25 -> -1
    assert rx.wait_for(P + "/attribute/intensity", [-1.0]) == [-1.0]
    wait_for(lambda: engine.snapshot().attributes["intensity"] == -1.0, what="intensity -1")
    assert rx.wait_for(P + "/pattern/source", ["edit · density +1.5, intensity -1"], timeout=20.0)

    rx.send(port, P + "/attribute/swing", 3.0)  # out of range: the engine's one line
    assert "attribute swing=3 is outside -2..2" in wait_error(rx, "swing")
    rx.send(port, P + "/attribute/cowbell", 1.0)  # unknown name: answered, not silently dropped
    message = wait_error(rx, "cowbell")
    assert message.startswith("unknown attribute 'cowbell'") and "density" in message and "\n" not in message
    rejected = server.control.rejected
    rx.send(port, P + "/attribute/density", "busy")  # not a number: logged and ignored
    wait_for(lambda: server.control.rejected == rejected + 1, what="a rejected message")

    other = Receiver()  # a second controller asks for the state: the attributes are in it
    try:
        other.send(port, P + "/query/state")
        assert other.wait_for(P + "/attribute/density") == [1.5]
        assert other.wait_for(P + "/attribute/swing") == [0.0]
        assert other.wait_for(P + "/attributes/available") == [1]
        other.send(port, P + "/query/attributes")
        assert other.wait_for(P + "/attribute/intensity/norm") == [0.25]
    finally:
        other.close()

    snap = engine.snapshot()
    assert snap.attributes == dict.fromkeys(ATTRIBUTE_NAMES, 0.0) | {"density": 1.5, "intensity": -1.0}
    rx.messages.clear()
    rx.send(port, P + "/attributes/reset", 1.0)
    assert rx.wait_for(P + "/attribute/density", [0.0]) == [0.0]
    assert rx.wait_for(P + "/pattern/source", ["edit · reconstructed"], timeout=20.0)
    rx.send(port, P + "/ping")
    assert rx.wait_for(P + "/pong") == []  # the server is alive after all of it
