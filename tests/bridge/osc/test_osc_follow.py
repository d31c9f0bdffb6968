"""OSC Follow mode (bridge.osc.follow): the table called directly, the settings echo, then over
real UDP on 127.0.0.1 against the real Engine: every follow address set and echoed, bad values
answered with one line on /groovebridge/error, the server alive afterwards."""

from __future__ import annotations

import pytest
from engine_fakes import FakeModel, wait_for
from osc_fakes import P, run
from test_osc_attributes import serve_osc, wait_error

from bridge.engine.api import EngineCommands
from bridge.engine.snapshot import EngineSnapshot
from bridge.osc import group_messages
from bridge.osc.intake import COALESCED
from bridge.osc.table import find_route


def test_follow_addresses_call_the_engine(engine):
    assert run(engine, "/follow", 1) == [("set_follow", (1,), {})]
    assert run(engine, "/Follow/", 0.0) == [("set_follow", (0.0,), {})]
    assert run(engine, "/follow/source", " Rhythm") == [("set_follow_source", ("rhythm",), {})]
    assert run(engine, "/follow/source", 1.0) == [("set_follow_source", ("rhythm",), {})]  # radio button
    assert run(engine, "/follow/source", 0) == [("set_follow_source", ("drums",), {})]
    assert run(engine, "/follow/every", 2) == [("set_follow_every", (2,), {})]
    assert run(engine, "/follow/every", 3) == [("set_follow_every", (3,), {})]  # the engine's one line
    assert run(engine, "/follow/bars", 4) == [("set_follow_bars", (4,), {})]
    assert run(engine, "/follow/amount", 0.3) == [("set_follow_amount", (0.3,), {})]
    assert run(engine, "/follow/amount/norm", 1.7) == [("set_follow_amount", (1.0,), {})]  # clamped
    assert run(engine, "/follow/temperature", 0.8) == [("set_follow_temperature", (0.8,), {})]
    assert run(engine, "/follow/every") == []  # no argument: logged and ignored
    C = EngineCommands
    assert all(COALESCED[m] == 0 for m in (C.set_follow, C.set_follow_amount, C.set_follow_every))
    assert find_route(P + "/follow/amount/norm") is not None


def test_follow_settings_are_echoed():
    snap = EngineSnapshot(follow=True, follow_source="rhythm", follow_every=2, follow_bars=1,
                          follow_amount=0.25, follow_temperature=0.7, follow_late=3)
    msgs = dict(group_messages("settings", snap))
    assert msgs[P + "/follow"] == [1] and msgs[P + "/follow/source"] == ["rhythm"]
    assert msgs[P + "/follow/every"] == [2] and msgs[P + "/follow/bars"] == [1]
    assert msgs[P + "/follow/amount"] == [0.25] and msgs[P + "/follow/amount/norm"] == [0.25]
    assert msgs[P + "/follow/temperature"] == [0.7] and msgs[P + "/follow/late"] == [3]


@pytest.fixture
def live():
    from bridge.engine import Engine
    from bridge.settings import Settings
    from tests.rigs.midi_fakes import FakeMidiIO

    engine = Engine(Settings(bpm=240.0), midi=FakeMidiIO(), auto_sample=False, model_loader=lambda name: FakeModel())
    yield from serve_osc(engine, timeout_sec=10, what="model")


def test_follow_over_udp_set_echo_and_errors(live):
    engine, server, rx = live
    port = server.address[1]

    rx.send(port, P + "/follow", 1)
    assert rx.wait_for(P + "/follow", [1]) == [1]
    rx.send(port, P + "/follow/source", "rhythm")
    assert rx.wait_for(P + "/follow/source", ["rhythm"]) == ["rhythm"]
    rx.send(port, P + "/follow/every", 4)
    assert rx.wait_for(P + "/follow/every", [4]) == [4]
    rx.send(port, P + "/follow/bars", 2)
    assert rx.wait_for(P + "/follow/bars", [2]) == [2]
    rx.send(port, P + "/follow/amount", 0.75)
    assert rx.wait_for(P + "/follow/amount", [0.75]) == [0.75]
    rx.send(port, P + "/follow/amount/norm", 0.25)
    assert rx.wait_for(P + "/follow/amount/norm", [0.25]) == [0.25]
    rx.send(port, P + "/follow/temperature", 0.5)
    assert rx.wait_for(P + "/follow/temperature", [0.5]) == [0.5]
    wait_for(lambda: engine.snapshot().follow_temperature == 0.5, what="temperature")
    snap = engine.snapshot()
    assert (snap.follow, snap.follow_source, snap.follow_every, snap.follow_bars, snap.follow_amount) == (
        True, "rhythm", 4, 2, 0.25)

    for address, value, text in (("/follow/every", 3, "follow every 3 must be 1, 2 or 4 bars"),
                                 ("/follow/bars", 8, "follow bars 8 must be 1, 2 or 4 bars"),
                                 ("/follow/amount", 1.5, "follow amount 1.5 must be 0-1"),
                                 ("/follow/source", "piano", "follow source 'piano' is not drums or rhythm"),
                                 ("/follow/temperature", 9.0, "follow temperature 9.0 must be in (0, 5]"),
                                 ("/follow", "maybe", "follow 'maybe' must be 0/1")):
        before = sum(1 for a, _ in list(rx.messages) if a == P + "/error")
        rx.send(port, P + address, value)
        message = wait_error(rx, text)
        assert "\n" not in message
        wait_for(lambda b=before: sum(1 for a, _ in list(rx.messages) if a == P + "/error") == b + 1, what="one line")
    snap = engine.snapshot()
    assert (snap.follow_every, snap.follow_bars, snap.follow_amount, snap.follow_source) == (4, 2, 0.25, "rhythm")

    rx.send(port, P + "/follow", 0)
    assert rx.wait_for(P + "/follow", [0]) == [0]
    rx.send(port, P + "/ping")
    assert rx.wait_for(P + "/pong") == []  # alive after all of it
