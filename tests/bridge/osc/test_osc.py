"""OSC: the address table called directly (exact engine calls) and the output encoding."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from osc_fakes import ENGINE_METHODS, FakeEngine, P, groove_with, run
from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_packet import OscPacket

from bridge.engine.snapshot import EngineSnapshot
from bridge.osc.control import OscControl, RateLimitedLog
from bridge.osc.echo import decode_pattern, group_messages, note_message, pattern_messages
from bridge.osc.table import ROUTES, markdown_table
from bridge.play.player import PlayedNote
from models.groove import Groove


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
    assert run(engine, "/sample", 4, 3.0) == [("sample", (), {"n": 4, "temperature": 3.0})]  # the engine's (0, 5]
    assert run(engine, "/sample", 4, 5.5) == []  # temperature above 5


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
    assert run(engine, "/temperature", 2.5) == [("set_temperature", (2.5,), {})]  # was refused above 2 (issue 24)
    assert run(engine, "/temperature", 5.0) == [("set_temperature", (5.0,), {})]
    assert run(engine, "/temperature", 5.5) == []
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
    doc = (Path(__file__).resolve().parents[3] / "docs" / "osc.md").read_text(encoding="utf-8")
    assert markdown_table() in doc, "docs/osc.md is stale: paste bridge.osc.table.markdown_table()"
