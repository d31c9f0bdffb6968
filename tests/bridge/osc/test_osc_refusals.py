"""Refused OSC values answer on /error (one line each) and change nothing: real UDP on
127.0.0.1, the real Engine with a fake model (session 20 trial findings 2, 17, 18, 19)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from engine_fakes import FakeModel, wait_for
from test_osc_udp import Receiver, served

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.settings import Settings
from tests.rigs.midi_fakes import FakeMidiIO

P = "/groovebridge"


@pytest.fixture
def live(tmp_path, monkeypatch):
    monkeypatch.setenv("GROOVEBRIDGE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("GROOVEBRIDGE_DATA_DIR", str(tmp_path / "data"))
    engine = Engine(Settings(bpm=240.0, osc_save_dir=str(tmp_path / "exports")),
                    model_loader=lambda _name: FakeModel(), midi=FakeMidiIO(), clock=InternalClock(240.0))
    engine.start()
    wait_for(lambda: engine.snapshot().model_state == "ready" and engine.snapshot().variations, what="ready")
    with served(engine) as (server, rx):
        yield engine, server, rx
    engine.close()


def _send_and_settle(rx: Receiver, port: int, address: str, *args: Any, errors: int) -> None:
    rx.send(port, P + address, *args)
    wait_for(lambda: len(rx.of(P + "/error")) >= errors, what=f"/error for {address} {args}")
    time.sleep(0.2)  # anything else it would echo has arrived by now


@pytest.mark.parametrize(("address", "args", "words"), [
    ("/tempo", (500.0,), "tempo"),
    ("/sample", (20,), "variations"),
    ("/variation", (99,), "variation"),
    ("/save", ("../evil",), "export folder"),
    ("/model", ("nope",), "nope"),
])
def test_a_refused_value_answers_one_line_on_error_and_changes_nothing(live, address, args, words) -> None:
    engine, server, rx = live
    before = engine.snapshot()
    _send_and_settle(rx, server.address[1], address, *args, errors=1)
    errors = rx.of(P + "/error")
    assert len(errors) == 1 and words in errors[0][0] and "\n" not in errors[0][0]
    after = engine.snapshot()
    assert (after.bpm, after.model_name, after.model_state, len(after.variations)) == (
        before.bpm, before.model_name, "ready", len(before.variations))
    assert not rx.of(P + "/model")  # the bad model name is never echoed (old code: /model .../nope, loading, error)


def test_interpolate_with_empty_slots_is_refused_without_echoing_the_value(live) -> None:
    engine, server, rx = live
    _send_and_settle(rx, server.address[1], "/interpolate", 0.3, errors=1)
    assert "slots A and B" in rx.of(P + "/error")[-1][0]
    assert not rx.of(P + "/interpolate")  # old code echoed 0.3 as if accepted
    assert engine.snapshot().interpolation == 0.0


def test_good_news_goes_to_notice_not_error(live) -> None:
    engine, _server, rx = live
    engine.ctx.post(engine.ctx.notice, "JACK server is back: MIDI ports re-opened")
    wait_for(lambda: rx.of(P + "/notice"), what="/notice")
    time.sleep(0.2)
    assert rx.of(P + "/notice") == [["JACK server is back: MIDI ports re-opened"]]
    assert not rx.of(P + "/error") and engine.snapshot().last_error == ""


def test_sync_health_lost_sends_an_unknown_phase_error_not_a_made_up_number() -> None:
    from bridge.engine.snapshot import EngineSnapshot
    from bridge.osc.echo import group_messages

    lost = EngineSnapshot(sync_health={"state": "lost", "phase_error_ms": 1000.0, "source": "midi", "detail": ""})
    assert group_messages("sync_health", lost) == [(P + "/sync/health", ["lost", -1.0])]  # was 1000.0
    locked = EngineSnapshot(sync_health={"state": "locked", "phase_error_ms": 0.4, "source": "midi", "detail": ""})
    assert group_messages("sync_health", locked) == [(P + "/sync/health", ["locked", 0.4])]


def _echoes_of(rx: Receiver, port: int, address: str, value: Any) -> list[tuple[str, list[Any]]]:
    rx.messages.clear()
    rx.send(port, P + address, value)
    wait_for(lambda: rx.of(P + address), what=f"the echo of {address}")
    time.sleep(0.3)  # anything else it echoes has arrived by now
    return list(rx.messages)


@pytest.mark.parametrize(("address", "value", "expect"), [
    ("/temperature", 0.8, {"/temperature", "/temperature/norm"}),
    ("/latency", 12.0, {"/latency"}),
    ("/clock/out", 1, {"/clock/out"}),
    ("/variations/count", 6, {"/variations/count"}),
    ("/follow/amount", 0.3, {"/follow/amount", "/follow/amount/norm"}),
    ("/follow/every", 2, {"/follow/every"}),
])
def test_one_setting_change_echoes_only_its_own_addresses(live, address, value, expect) -> None:
    _engine, server, rx = live
    got = _echoes_of(rx, server.address[1], address, value)
    assert {a for a, _ in got} == {P + a for a in expect}, [a for a, _ in got]  # old code: ~37 (8 for follow)
    assert len(got) == len(expect)


def test_an_attribute_change_echoes_the_attributes_that_moved_only() -> None:
    from bridge.engine.snapshot import EngineSnapshot
    from bridge.osc.echo import group_messages
    from bridge.osc.settings_echo import settings_echo

    echoed: dict[str, float] = {}
    first = settings_echo({"attributes"}, EngineSnapshot(), echoed, group_messages)
    assert first is not None and len(first) == 14  # nothing echoed before: all seven, value + fader
    snap = EngineSnapshot(attributes=dict(EngineSnapshot().attributes, swing=1.0))
    moved = settings_echo({"attributes"}, snap, echoed, group_messages)
    assert moved == [(P + "/attribute/swing", [1.0]), (P + "/attribute/swing/norm", [0.75])]
    assert settings_echo({"attributes"}, snap, echoed, group_messages) == []  # nothing moved
    assert settings_echo({"a_new_setting"}, snap, echoed, group_messages) is None  # unknown: the full echo


def test_a_fader_flood_echoes_two_messages_per_value_at_most(live) -> None:
    _engine, server, rx = live
    rx.messages.clear()
    for i in range(25):  # a fader at 50 messages a second for half a second
        rx.send(server.address[1], P + "/temperature/norm", 0.2 + i * 0.02)
        time.sleep(0.02)
    wait_for(lambda: rx.of(P + "/temperature"), what="echoes")
    time.sleep(0.3)
    assert {a for a, _ in rx.messages} == {P + "/temperature", P + "/temperature/norm"}
    assert len(rx.messages) <= 2 * 25  # old code: ~37 per value (925)


def test_a_flood_of_refused_values_gets_twenty_error_lines_a_second_at_most(live) -> None:
    _engine, server, rx = live
    for i in range(200):
        rx.send(server.address[1], P + "/tempo", 500.0 + i)
    wait_for(lambda: rx.of(P + "/error"), what="/error")
    time.sleep(0.3)
    assert 1 <= len(rx.of(P + "/error")) <= 20 * 2  # (the burst may straddle a second)
    assert server.control.rejected == 200
