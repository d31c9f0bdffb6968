"""OSC over real UDP on 127.0.0.1: a recording engine, then the real Engine."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from osc_fakes import FakeEngine, P, groove_with
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.engine.snapshot import EngineSnapshot
from bridge.osc import (
    OscServer,
    decode_pattern,
)
from bridge.play.player import PlayedNote
from tests.rigs.osc_peer import OscPeer


# ---- real UDP on 127.0.0.1 -----------------------------------------------------------------------
class Receiver(OscPeer):
    """A UDP socket on an ephemeral port collecting decoded OSC messages."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[Any]]] = []
        super().__init__()

    def on_message(self, t: float, address: str, args: list[Any]) -> None:
        self.messages.append((address, args))

    def of(self, address: str) -> list[list[Any]]:
        """The arguments of every message to ``address`` so far, oldest first."""
        return [a for addr, a in list(self.messages) if addr == address]

    def wait_for(self, address: str, expect: list[Any] | None = None, timeout: float = 2.0) -> list[Any]:
        """The first message on ``address`` (equal to ``expect`` if given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for addr, args in list(self.messages):
                if addr == address and (expect is None or args == expect):
                    return args
            time.sleep(0.005)
        raise AssertionError(f"no {address} in {[a for a, _ in self.messages]}")


@contextmanager
def served(engine: Any) -> Iterator[tuple[OscServer, Receiver]]:
    """An OscServer on an ephemeral port for ``engine``, echoing to a fresh Receiver."""
    rx = Receiver()
    server = OscServer(engine, "127.0.0.1", 0, "127.0.0.1", rx.port)
    server.start()
    try:
        yield server, rx
    finally:
        server.close()
        rx.close()


@pytest.fixture
def udp(engine):
    with served(engine) as (server, rx):
        yield engine, server, rx


def wait_calls(engine: FakeEngine, n: int, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while len(engine.calls) < n and time.monotonic() < deadline:
        time.sleep(0.005)


def test_udp_commands_reach_the_engine_in_order(udp):
    engine, server, rx = udp
    port = server.address[1]
    for v in (0.125, 0.25, 0.5, 0.75):
        rx.send(port, P + "/interpolate", v)
    rx.send(port, P + "/capture/a", 1.0)
    deadline = time.monotonic() + 2.0
    while not any(c[0] == "capture" for c in engine.calls) and time.monotonic() < deadline:
        time.sleep(0.005)
    # Values that arrive in one batch are coalesced (latest wins), always before a later command.
    values = [c[1][0] for c in engine.calls if c[0] == "set_interpolation"]
    assert values and values[-1] == 0.75 and values == sorted(values)
    assert engine.calls[-1] == ("capture", (), {"slot": "A", "mode": "last", "count_in_bars": 0})
    assert len(engine.calls) == len(values) + 1
    assert server.coalesced == 4 - len(values)


def test_udp_events_are_echoed_and_notes_sent(udp):
    engine, server, rx = udp
    engine.snap = EngineSnapshot(bpm=133.0, playing=True,
                                 pattern=groove_with([(0, 0, 1.0, 0.0)]), pattern_source="sample")
    engine.emit("tempo", 133.0)
    engine.emit("transport", True)
    engine.emit("pattern", None)
    engine.emit("note", PlayedNote(0, 36, 127, 0.0))
    assert rx.wait_for(P + "/tempo") == [pytest.approx(133.0)]
    assert rx.wait_for(P + "/transport") == [1]
    assert rx.wait_for(P + "/note") == [0, 36, 127, 0.0]
    assert decode_pattern(rx.wait_for(P + "/pattern"))[0][0, 0] == 127
    assert rx.wait_for(P + "/pattern/source") == ["sample"]


def test_udp_query_answered_to_sender_and_garbage_survived(udp):
    engine, server, rx = udp
    port = server.address[1]
    other = Receiver()  # a second controller: the reply goes to it, not to the output target
    try:
        rx.sock.sendto(b"\x00garbage that is not OSC", ("127.0.0.1", port))
        rx.sock.sendto(b"/groovebridge/tempo\x00,s\x00\x00", ("127.0.0.1", port))  # truncated
        rx.send(port, P + "/tempo", "not a number")
        rx.send(port, P + "/does/not/exist", 1)
        other.send(port, P + "/query/tempo")
        assert other.wait_for(P + "/tempo") == [pytest.approx(97.0)]
        assert not any(a == P + "/tempo" for a, _ in rx.messages)
        assert server.control.rejected == 2  # bad argument, unknown address
        assert server.bad_packets == 2  # not OSC, truncated
    finally:
        other.close()


def test_udp_future_timetagged_bundle_does_not_block(udp):
    engine, server, rx = udp
    bundle = OscBundleBuilder(time.time() + 30.0)  # python-osc would sleep 30 s by default
    msg = OscMessageBuilder(P + "/play")
    bundle.add_content(msg.build())
    rx.sock.sendto(bundle.build().dgram, ("127.0.0.1", server.address[1]))
    assert engine.called.wait(2.0)
    assert engine.calls[0][0] == "play"


# ---- the real Engine over UDP ----------------------------------------------------------------------
@pytest.fixture
def live():
    from engine_fakes import FakeModel

    from bridge.engine import Engine
    from bridge.settings import Settings
    from tests.rigs.midi_fakes import FakeMidiIO

    midi = FakeMidiIO()
    engine = Engine(Settings(bpm=240.0), model_loader=lambda _name: FakeModel(), midi=midi,
                    auto_sample=False)
    rx = Receiver()
    server = OscServer(engine, "127.0.0.1", 0, "127.0.0.1", rx.port)
    engine.start()
    server.start()
    yield engine, midi, server, rx
    server.close()
    engine.close()
    rx.close()


def test_real_engine_driven_over_udp(live):
    engine, midi, server, rx = live
    port = server.address[1]
    deadline = time.monotonic() + 5.0
    while engine.snapshot().model_state != "ready" and time.monotonic() < deadline:
        time.sleep(0.01)
    rx.send(port, P + "/tempo", 240.0)
    rx.send(port, P + "/sample", 2)
    vel, _off = decode_pattern(rx.wait_for(P + "/pattern"))
    assert [int(s) for s in np.nonzero(vel[:, 0])[0]] == [0, 16, 32, 48] and vel[0, 0] == 60
    assert rx.wait_for(P + "/variations/available") == [2]
    rx.messages.clear()

    rx.send(port, P + "/play", 1.0)
    assert rx.wait_for(P + "/transport") == [1]
    assert rx.wait_for(P + "/note", timeout=3.0) == [0, 36, 60, 0.0]  # kick, GM pitch, beat 0

    # capture: a player's four kicks and a snare run, stamped in the 4 bars before beat 0
    clock = engine._clock
    for beat in (-16.0, -12.0, -8.0, -4.0):
        midi.inject([0x99, 36, 100], clock.time_at_beat(beat))
    rx.send(port, P + "/capture/a", 1.0)
    rx.wait_for(P + "/slot/a", [1])
    for beat in np.arange(-16.0, -14.0, 0.25):
        midi.inject([0x99, 38, 90], clock.time_at_beat(float(beat)))
    rx.send(port, P + "/capture/b", 1.0)
    rx.wait_for(P + "/slot/b", [1])
    assert engine.snapshot().slots["B"].num_hits == 12

    rx.messages.clear()
    rx.send(port, P + "/interpolate", 0.5)  # FakeModel: z = hit count; decode = that many hats
    assert rx.wait_for(P + "/interpolate") == [0.5]
    assert rx.wait_for(P + "/pattern/source") == ["morph 0.50"]
    vel, _ = decode_pattern(rx.wait_for(P + "/pattern"))
    assert int((vel[:, 2] > 0).sum()) == 8 and int((vel > 0).sum()) == 8

    rx.send(port, P + "/mute/kick", 1.0)
    assert rx.wait_for(P + "/mute/kick") == [1]
    rx.send(port, P + "/stop", 1.0)
    rx.wait_for(P + "/transport", [0])
    assert not engine.snapshot().playing


def test_udp_replies_to_target_when_configured(engine):
    rx = Receiver()
    other = Receiver()
    server = OscServer(engine, "127.0.0.1", 0, "127.0.0.1", rx.port, replies_to_target=True)
    server.start()
    try:
        other.send(server.address[1], P + "/query/tempo")
        assert rx.wait_for(P + "/tempo") == [pytest.approx(97.0)]
        assert other.messages == []
    finally:
        server.close()
        rx.close()
        other.close()


def test_port_in_use_is_one_clear_error(engine):
    from bridge.osc import OscError

    first = OscServer(engine, "127.0.0.1", 0, "127.0.0.1", 0)
    first.start()
    try:
        second = OscServer(engine, "127.0.0.1", first.address[1], "127.0.0.1", 0)
        with pytest.raises(OscError, match="cannot listen for OSC on 127.0.0.1"):
            second.start()
    finally:
        first.close()
