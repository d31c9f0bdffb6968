"""OSC intake (bridge.osc.intake): batches, pre-filter, coalescing, reply rate limit, quiet gate,
and the fast encoder (bridge.osc.wire) against python-osc. Batches are handed to the intake
directly (exact), plus one real-UDP check that a burst is coalesced."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from osc_fakes import FakeEngine, P, osc_test_engine
from pythonosc.osc_message_builder import build_msg

from bridge.osc import OscControl, OscServer
from bridge.osc import intake as osc_intake
from bridge.osc.intake import Intake, quiet_gate
from bridge.osc.wire import encode_message, message_address

SENDER = ("127.0.0.1", 5555)


class Rig:
    """An Intake around a FakeEngine, recording replies and bad packets (its socket unused)."""

    def __init__(self, engine: FakeEngine | None = None) -> None:
        self.engine = engine or osc_test_engine()
        self.control = OscControl(self.engine)
        self.replies: list[tuple[Any, Any]] = []
        self.bad: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.intake = Intake(self.sock, self.control, self.engine, lambda s, why: self.bad.append(why),
                             lambda msg, dest: self.replies.append((msg, dest)))

    def batch(self, *datagrams: bytes) -> list[tuple[str, tuple, dict]]:
        self.engine.calls.clear()
        self.intake.handle_batch([(d, SENDER) for d in datagrams])
        return self.engine.calls

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def msg(address: str, *args: Any) -> bytes:
    return build_msg(P + address, list(args)).dgram


def bundle(*datagrams: bytes) -> bytes:
    return b"#bundle\0" + struct.pack(">Q", 1) + b"".join(struct.pack(">i", len(d)) + d for d in datagrams)


def test_values_in_a_batch_are_coalesced_latest_wins_commands_keep_their_order(rig):
    calls = rig.batch(msg("/temperature", 0.5), msg("/temperature/norm", 0.25), msg("/mute/kick", 1),
                      msg("/mute/snare", 1), msg("/mute/kick", 0), msg("/sample", 1.0),
                      msg("/temperature", 1.5), msg("/tempo", 100.0), msg("/tempo", 130.0))
    # before /sample: one temperature (0.25 * 2 = 0.5 from the fader), one mute per instrument
    # (in the order of their last change); /sample in its place; after it the later values, once each
    assert calls == [("set_temperature", (0.5,), {}), ("set_mute", (1, True), {}), ("set_mute", (0, False), {}),
                     ("sample", (), {"n": None, "temperature": None}), ("set_temperature", (1.5,), {}),
                     ("set_tempo", (130.0,), {})]
    assert rig.intake.coalesced == 3
    assert rig.control.handled == 9


def test_a_bad_value_never_replaces_a_good_one(rig):
    calls = rig.batch(msg("/tempo", 120.0), msg("/tempo", 9999.0), msg("/tempo", "fast"))
    assert calls == [("set_tempo", (120.0,), {})]
    assert rig.control.rejected == 2


def test_a_lone_message_is_applied_at_once(rig):
    assert rig.batch(msg("/interpolate", 0.25)) == [("set_interpolation", (0.25,), {})]
    assert rig.intake.coalesced == 0


def test_prefilter_drops_unknown_addresses_and_garbage_without_parsing(rig, monkeypatch):
    datagrams = (msg("/no/such/thing", 1, 2.0, "x"), b"\xde\xad\xbe\xef" * 8, b"/\0\0\0",
                 b"/groovebridge/tempo\0\0\0\0,zq\0\0\0\0\0", msg("/tempo", 99.0))
    parsed: list[bytes] = []
    real = osc_intake.osc_message.OscMessage
    monkeypatch.setattr(osc_intake.osc_message, "OscMessage", lambda d: parsed.append(d) or real(d))
    calls = rig.batch(*datagrams)
    assert calls == [("set_tempo", (99.0,), {})]
    assert len(parsed) == 2  # only the two known addresses were parsed
    assert rig.control.rejected == 2  # the unknown addresses ("/" included)
    assert rig.bad == ["non-OSC datagram", "malformed OSC packet"]  # garbage; wrong type tags


def test_bundles_nested_and_too_deep(rig):
    inner = msg("/temperature", 0.75)
    assert rig.batch(bundle(bundle(msg("/mute/ride", 1)), inner)) == [
        ("set_mute", (8, True), {}), ("set_temperature", (0.75,), {})]
    deep = inner
    for _ in range(2000):
        deep = bundle(deep)
    assert rig.batch(deep) == []
    assert rig.bad[-1] in ("bundle nested too deep", "malformed OSC packet")


def test_repeated_queries_are_answered_once_per_interval_and_the_last_one_later(rig):
    rig.batch(*[msg("/ping")] * 20)
    assert [m[0] for m, _ in rig.replies] == [P + "/pong"]  # once now
    rig.intake.send_owed()
    assert len(rig.replies) == 1  # the interval has not passed
    time.sleep(osc_intake.REPLY_INTERVAL_SEC + 0.005)
    rig.intake.send_owed()
    assert [m[0] for m, _ in rig.replies] == [P + "/pong"] * 2  # the owed answer to the last repeat
    assert rig.intake.replies_merged == 18
    rig.batch(msg("/ping", 7000))  # another reply port: another question
    assert rig.replies[-1][1] == ("127.0.0.1", 7000)


class _Sched:
    def __init__(self, due: float) -> None:
        self.next_due_sec = due


class _Engine:
    def __init__(self, due: float) -> None:
        self.scheduler = _Sched(due)


def test_quiet_gate_sleeps_just_before_and_after_the_next_event_only(monkeypatch):
    slept: list[float] = []
    real_sleep = time.sleep
    monkeypatch.setattr(osc_intake.time, "sleep", lambda sec: (slept.append(sec), real_sleep(sec)))
    now = time.monotonic()
    far = quiet_gate(_Engine(now + 1.0))
    far()
    assert slept == []  # the next event is a second away: no wait
    near = quiet_gate(_Engine(now + 0.002))
    near()
    assert time.monotonic() >= now + 0.002 + osc_intake.QUIET_AFTER_SEC - 1e-4  # held past the event
    assert len(slept) == 1
    quiet_gate(FakeEngine())()  # no scheduler: no-op


ARGS = st.lists(st.one_of(st.integers(-(2**31), 2**31 - 1), st.floats(width=32),
                          st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=12),
                          st.binary(min_size=1, max_size=13)), max_size=5)  # python-osc refuses empty blobs


@settings(max_examples=300, deadline=None)
@given(address=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=20), args=ARGS)
def test_encoder_makes_the_same_bytes_as_python_osc(address: str, args: list) -> None:
    address = "/" + address
    assert encode_message(address, args) == build_msg(address, args).dgram
    assert message_address(encode_message(address, args)) == address


def test_encoder_falls_back_for_other_types():
    assert encode_message("/a", [True, None, 2**40, -(2**31)]) == build_msg("/a", [True, None, 2**40, -(2**31)]).dgram


def test_a_udp_burst_is_coalesced_and_the_server_stays_exact():
    engine = osc_test_engine()
    server = OscServer(engine, "127.0.0.1", 0, out_port=0)
    server.start()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        burst = [msg("/interpolate", i / 1000.0) for i in range(1, 501)] + [msg("/capture/a", 1.0)]
        tx.sendto(bundle(*burst[:250]), server.address)
        tx.sendto(bundle(*burst[250:]), server.address)
        deadline = time.monotonic() + 3.0
        while not any(c[0] == "capture" for c in engine.calls) and time.monotonic() < deadline:
            time.sleep(0.005)
        values = [c[1][0] for c in engine.calls if c[0] == "set_interpolation"]
        assert values[-1] == 0.5 and values == sorted(values) and len(values) <= 2
        assert engine.calls[-1][0] == "capture"
        assert server.coalesced == 500 - len(values)
    finally:
        tx.close()
        server.close()


def test_coalescing_is_keyed_by_engine_commands_not_names():
    """COALESCED and the recorded calls hold the EngineCommands references the routes name, so a
    reader (and mypy) follows them; something that is not a command cannot be recorded."""
    from bridge.engine.api import EngineCommands, command_name

    assert osc_intake.COALESCED, "nothing coalesced"
    for method, leading in osc_intake.COALESCED.items():
        assert getattr(EngineCommands, command_name(method)) is method and leading in (0, 1)
    rec = osc_intake.Recorder(osc_test_engine())
    rec.set_tempo(99.0)
    rec.set_mute(3, True)
    assert rec.calls == [(EngineCommands.set_tempo, (99.0,), {}), (EngineCommands.set_mute, (3, True), {})]
    with pytest.raises(AttributeError, match="not an engine command"):
        rec.emit("tempo", 1.0)  # the fake engine has it, but it is no command
