"""OSC: the address table called directly (exact engine calls), then real UDP on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder, build_msg
from pythonosc.osc_packet import OscPacket

from bridge.engine_state import EngineSnapshot
from bridge.osc import (
    OscControl,
    OscServer,
    RateLimitedLog,
    decode_pattern,
    group_messages,
    note_message,
    pattern_messages,
)
from bridge.osc_table import PREFIX, ROUTES, markdown_table
from bridge.scheduler import PlayedNote
from models.groove import Groove

P = PREFIX
ENGINE_METHODS = {
    "start", "close", "play", "stop", "set_tempo", "set_sync_source", "set_latency_ms",
    "set_clock_out", "sample", "select_variation", "set_temperature", "set_num_variations",
    "capture", "load_slot", "load_slot_file", "swap_slots", "play_slot", "set_interpolation",
    "humanize", "reconstruct", "set_mute", "set_pattern", "save_pattern", "save_variations",
    "set_model", "set_input_port", "set_output_port", "set_drum_maps",
}


class FakeEngine:
    """Records every command; serves a settable snapshot; subscribers get `emit`."""

    def __init__(self, snap: EngineSnapshot | None = None) -> None:
        self.snap = snap or EngineSnapshot()
        self.calls: list[tuple[str, tuple, dict]] = []
        self.subscribers: list[Any] = []
        self.called = threading.Event()

    def __getattr__(self, name: str):
        if name not in ENGINE_METHODS:
            raise AttributeError(name)

        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))
            self.called.set()

        return record

    def snapshot(self) -> EngineSnapshot:
        return self.snap

    def subscribe(self, callback):
        self.subscribers.append(callback)
        return lambda: self.subscribers.remove(callback)

    def emit(self, event: str, payload: Any = None) -> None:
        for cb in list(self.subscribers):
            cb(event, payload)


def groove_with(hits: list[tuple[int, int, float, float]], steps: int = 64) -> Groove:
    g = np.zeros((3, steps, 9), np.float32)
    for step, k, vel, off in hits:
        g[:, step, k] = (1.0, vel, off)
    return Groove(g[0], g[1], g[2], 120.0)


@pytest.fixture
def engine() -> FakeEngine:
    four = tuple(Groove.empty() for _ in range(4))
    return FakeEngine(EngineSnapshot(variations=four, selected_variation=1, bpm=97.0))


def run(engine: FakeEngine, address: str, *args: Any) -> list[tuple[str, tuple, dict]]:
    engine.calls.clear()
    OscControl(engine).handle(P + address, args, ("127.0.0.1", 5555))
    return engine.calls


# ---- the address table, called directly -------------------------------------------------------
def test_buttons_act_on_press_only(engine):
    assert run(engine, "/play", 1.0) == [("play", (), {})]
    assert run(engine, "/play", 0.0) == []  # TouchOSC release
    assert run(engine, "/play") == [("play", (), {})]
    assert run(engine, "/stop", 1) == [("stop", (), {})]
    assert run(engine, "/toggle", 1.0) == [("play", (), {})]  # stopped -> play
    engine.snap = EngineSnapshot(playing=True)
    assert run(engine, "/toggle", 1.0) == [("stop", (), {})]
    assert run(engine, "/reconstruct", 1.0) == [("reconstruct", (), {})]
    assert run(engine, "/slot/swap", 0.0) == []


def test_tempo_absolute_normalised_and_rejected(engine):
    assert run(engine, "/tempo", 97.5) == [("set_tempo", (97.5,), {})]
    assert run(engine, "/tempo", 128) == [("set_tempo", (128.0,), {})]
    assert run(engine, "/tempo/norm", 0.5) == [("set_tempo", (140.0,), {})]
    assert run(engine, "/tempo/norm", 1.2) == [("set_tempo", (240.0,), {})]  # clamped
    assert run(engine, "/tempo", 1000.0) == []
    assert run(engine, "/tempo", "fast") == []
    assert run(engine, "/tempo") == []


def test_sync_by_name_index_and_buttons(engine):
    assert run(engine, "/sync", "link") == [("set_sync_source", ("link",), {})]
    assert run(engine, "/sync", "MIDI") == [("set_sync_source", ("midi",), {})]
    assert run(engine, "/sync", 1) == [("set_sync_source", ("midi",), {})]
    assert run(engine, "/sync", 2.0) == [("set_sync_source", ("link",), {})]
    assert run(engine, "/sync", 0.0) == [("set_sync_source", ("internal",), {})]
    assert run(engine, "/sync/link", 1.0) == [("set_sync_source", ("link",), {})]
    assert run(engine, "/sync", "smpte") == []
    assert run(engine, "/sync", 5) == []


def test_sample_counts_temperature_and_presses(engine):
    assert run(engine, "/sample") == [("sample", (), {"n": None, "temperature": None})]
    assert run(engine, "/sample", 1.0) == [("sample", (), {"n": None, "temperature": None})]
    assert run(engine, "/sample", 0.0) == []
    assert run(engine, "/sample", 4) == [("sample", (), {"n": 4, "temperature": None})]
    assert run(engine, "/sample", 8, 0.5) == [("sample", (), {"n": 8, "temperature": 0.5})]
    assert run(engine, "/sample", 20) == []
    assert run(engine, "/sample", 4, 3.0) == []  # temperature above 2


def test_variation_index_norm_and_stepping(engine):
    assert run(engine, "/variation", 2) == [("select_variation", (2,), {})]
    assert run(engine, "/variation", 1.0) == [("select_variation", (3,), {})]  # norm: last
    assert run(engine, "/variation", 0.0) == [("select_variation", (0,), {})]
    assert run(engine, "/variation", 3.0) == [("select_variation", (3,), {})]  # float > 1: index
    assert run(engine, "/variation", 7) == []
    assert run(engine, "/variation/next", 1.0) == [("select_variation", (2,), {})]
    assert run(engine, "/variation/prev", 1.0) == [("select_variation", (0,), {})]
    engine.snap = EngineSnapshot(variations=tuple(Groove.empty() for _ in range(4)), selected_variation=3)
    assert run(engine, "/variation/next") == [("select_variation", (0,), {})]  # wraps
    assert run(engine, "/variations/count", 8) == [("set_num_variations", (8,), {})]
    assert run(engine, "/variations/count", 1.0) == [("set_num_variations", (16,), {})]
    assert run(engine, "/variations/count", 0.0) == [("set_num_variations", (1,), {})]
    assert run(engine, "/variations/count", 17) == []


def test_capture_forms(engine):
    assert run(engine, "/capture/a", 1.0) == [("capture", (), {"slot": "A", "mode": "last", "count_in_bars": 0})]
    assert run(engine, "/capture/a", 0.0) == []
    assert run(engine, "/capture/b", "next") == [("capture", (), {"slot": "B", "mode": "next", "count_in_bars": 0})]
    assert run(engine, "/capture/b", "next", 1) == [("capture", (), {"slot": "B", "mode": "next", "count_in_bars": 1})]
    assert run(engine, "/capture/a/next", 1.0, 2) == [("capture", (), {"slot": "A", "mode": "next", "count_in_bars": 2})]
    assert run(engine, "/capture", "b") == [("capture", (), {"slot": "B", "mode": "last", "count_in_bars": 0})]
    assert run(engine, "/capture", "c") == []
    assert run(engine, "/capture/a", "later") == []
    assert run(engine, "/capture/a", "next", 9) == []


def test_continuous_controls(engine):
    assert run(engine, "/interpolate", 0.25) == [("set_interpolation", (0.25,), {})]
    assert run(engine, "/interpolate", 1.5) == [("set_interpolation", (1.0,), {})]
    assert run(engine, "/humanize") == [("humanize", (), {"amount": 1.0})]
    assert run(engine, "/humanize", 0.4) == [("humanize", (), {"amount": 0.4})]
    assert run(engine, "/humanize", 0.0) == []
    assert run(engine, "/temperature", 0.8) == [("set_temperature", (0.8,), {})]
    assert run(engine, "/temperature", 0.0) == [("set_temperature", (0.01,), {})]
    assert run(engine, "/temperature/norm", 0.75) == [("set_temperature", (1.5,), {})]
    assert run(engine, "/temperature", 2.5) == []
    assert run(engine, "/latency", -12.5) == [("set_latency_ms", (-12.5,), {})]
    assert run(engine, "/latency", 900) == []
    assert run(engine, "/clock/out", 1.0) == [("set_clock_out", (True,), {})]
    assert run(engine, "/clock/out", "off") == [("set_clock_out", (False,), {})]


def test_mutes(engine):
    assert run(engine, "/mute/kick", 1.0) == [("set_mute", (0, True), {})]
    assert run(engine, "/mute/ride", 0) == [("set_mute", (8, False), {})]
    assert run(engine, "/mute/crash", True) == [("set_mute", (7, True), {})]  # OSC T
    assert run(engine, "/mute/snare") == [("set_mute", (1, True), {})]  # toggles
    engine.snap = EngineSnapshot(mutes=(False, True) + (False,) * 7)
    assert run(engine, "/mute/snare") == [("set_mute", (1, False), {})]
    assert run(engine, "/mute", "closed_hihat", 1) == [("set_mute", (2, True), {})]
    assert run(engine, "/mute", 3, 1.0) == [("set_mute", (3, True), {})]
    assert run(engine, "/mute", "4", 0.0) == [("set_mute", (4, False), {})]
    assert run(engine, "/mute", "cowbell", 1) == []
    assert run(engine, "/mute", 9, 1) == []


def test_slots_files_model_ports(engine, tmp_path):
    from bridge.settings import Settings

    engine.settings = Settings(osc_save_dir=str(tmp_path))
    assert run(engine, "/slot/play", "b") == [("play_slot", ("B",), {})]
    assert run(engine, "/slot/play/a", 1.0) == [("play_slot", ("A",), {})]
    assert run(engine, "/slot/play", "x") == []
    # OSC saves go inside the export folder (tests/hardening/test_osc_fuzz.py has the rules)
    assert run(engine, "/save", "a.mid") == [("save_pattern", (tmp_path / "a.mid",), {})]
    assert run(engine, "/save", "/tmp/a.mid") == []
    assert run(engine, "/save") == []
    assert run(engine, "/save/variations", "v") == [("save_variations", (tmp_path / "v",), {})]
    assert run(engine, "/model", "humanize") == [("set_model", ("humanize",), {})]
    assert run(engine, "/port/input", "") == [("set_input_port", ("",), {})]
    assert run(engine, "/port/output", "IAC") == [("set_output_port", ("IAC",), {})]
    assert run(engine, "/drummap/output", "roland") == [("set_drum_maps", (), {"output": "roland"})]


def test_unknown_malformed_and_engine_errors_never_raise(engine, caplog):
    control = OscControl(engine, RateLimitedLog(interval_sec=60.0))
    with caplog.at_level(logging.WARNING, logger="bridge.osc"):
        for i in range(50):
            assert control.handle(f"/nope/{i}", (1,)) == []
    assert control.rejected == 50
    assert len([r for r in caplog.records if "unknown address" in r.message]) == 1  # rate-limited

    class Refusing(FakeEngine):
        def set_tempo(self, bpm):
            raise ValueError("tempo 300 out of range")

        def play(self):
            raise RuntimeError("boom")

    bad = OscControl(Refusing())
    bad.handle(P + "/tempo", (300.0,))
    bad.handle(P + "/play", ())
    bad.handle(None, ())  # type: ignore[arg-type]
    assert bad.rejected == 3 and bad.handled == 0


@settings(max_examples=150, deadline=None)
@given(
    route=st.sampled_from(ROUTES),
    args=st.lists(st.one_of(st.none(), st.booleans(), st.integers(-70000, 70000),
                            st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                            st.binary(max_size=4)), max_size=3),
)
def test_any_arguments_to_any_address_never_raise(route, args):
    engine = FakeEngine(EngineSnapshot(variations=(Groove.empty(),) * 2))
    control = OscControl(engine, RateLimitedLog(interval_sec=60.0))
    control.handle(P + route.address, tuple(args), ("127.0.0.1", 9))
    assert control.handled + control.rejected == 1
    assert all(name in ENGINE_METHODS for name, _, _ in engine.calls)


def test_queries_reply_to_sender_or_given_port(engine):
    control = OscControl(engine)
    replies = control.handle(P + "/query/tempo", (), ("10.0.0.2", 7000))
    assert replies == [(("10.0.0.2", 7000), (P + "/tempo", [97.0])),
                       (("10.0.0.2", 7000), (P + "/tempo/norm", [pytest.approx(0.285)]))]
    replies = control.handle(P + "/query", ("sync", 9123), ("10.0.0.2", 7000))
    assert {dest for dest, _ in replies} == {("10.0.0.2", 9123)}
    assert (P + "/sync", ["internal"]) in [m for _, m in replies]
    state = [m[0] for _, m in control.handle(P + "/query/state", (), ("h", 1))]
    for addr in ("/transport", "/tempo", "/sync", "/variation", "/temperature", "/mute/kick",
                 "/slot/a", "/model/state", "/position"):
        assert P + addr in state
    assert control.handle(P + "/ping", (), ("h", 1)) == [(("h", 1), (P + "/pong", []))]
    assert control.handle(P + "/query", ("weather",), ("h", 1)) == []


# ---- output encoding ---------------------------------------------------------------------------
def test_pattern_encoding_round_trips():
    g = groove_with([(0, 0, 1.0, 0.0), (4, 1, 0.5, 0.4), (63, 8, 0.01, -1.0)])
    msgs = dict(pattern_messages(g, "sample"))
    vel, off = decode_pattern(msgs[P + "/pattern"])
    assert vel.shape == (64, 9)
    assert vel[0, 0] == 127 and vel[4, 1] == 64 and vel[63, 8] == 1 and vel.sum() == 192
    assert off[4, 1] == pytest.approx(0.4, abs=0.01) and off[63, 8] == pytest.approx(-1.0)
    assert msgs[P + "/pattern/snare"][4] == 64 and len(msgs[P + "/pattern/kick"]) == 64
    assert msgs[P + "/pattern/source"] == ["sample"]
    # the message builds into a real OSC datagram (blobs included) and parses back
    packet = OscPacket(build_msg(P + "/pattern", msgs[P + "/pattern"]).dgram)
    assert decode_pattern(packet.messages[0].message.params)[0].sum() == 192


def test_state_echo_and_notes():
    snap = EngineSnapshot(playing=True, bpm=140.0, mutes=(True,) + (False,) * 8, sync_source="link",
                          peers=2, interpolation=0.5)
    assert group_messages("transport", snap) == [(P + "/transport", [1]), (P + "/play", [1.0])]
    assert (P + "/tempo/norm", [0.5]) in group_messages("tempo", snap)
    assert (P + "/sync/index", [2]) in group_messages("sync", snap)
    assert (P + "/peers", [2]) in group_messages("sync", snap)
    assert (P + "/mute/kick", [1]) in group_messages("mute", snap)
    assert (P + "/interpolate", [0.5]) in group_messages("settings", snap)
    note = PlayedNote(drum_class=1, pitch=38, velocity=100, beat=4.25)
    assert note_message(note) == (P + "/note", [1, 38, 100, 4.25])
    assert note_message((2, 42, 80, 1.0)) == (P + "/note", [2, 42, 80, 1.0])


def test_docs_table_is_current():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "osc.md").read_text(encoding="utf-8")
    assert markdown_table() in doc, "docs/osc.md is stale: paste bridge.osc_table.markdown_table()"


# ---- real UDP on 127.0.0.1 -----------------------------------------------------------------------
class Receiver:
    """A UDP socket on an ephemeral port collecting decoded OSC messages."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.messages: list[tuple[str, list[Any]]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            for m in OscPacket(data).messages:
                self.messages.append((m.message.address, list(m.message.params)))

    def wait_for(self, address: str, expect: list[Any] | None = None, timeout: float = 2.0) -> list[Any]:
        """The first message on ``address`` (equal to ``expect`` if given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for addr, args in list(self.messages):
                if addr == address and (expect is None or args == expect):
                    return args
            time.sleep(0.005)
        raise AssertionError(f"no {address} in {[a for a, _ in self.messages]}")

    def send(self, port: int, address: str, *args: Any) -> None:
        self.sock.sendto(build_msg(address, list(args)).dgram, ("127.0.0.1", port))

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


@pytest.fixture
def udp(engine):
    rx = Receiver()
    server = OscServer(engine, "127.0.0.1", 0, "127.0.0.1", rx.port)
    server.start()
    yield engine, server, rx
    server.close()
    rx.close()


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
    wait_calls(engine, 5)
    assert engine.calls == [("set_interpolation", (v,), {}) for v in (0.125, 0.25, 0.5, 0.75)] + [
        ("capture", (), {"slot": "A", "mode": "last", "count_in_bars": 0})]


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
    from bridge.midi_ports import FakeMidiIO
    from bridge.settings import Settings

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
