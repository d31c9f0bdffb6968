"""Ableton Link clock: on its own, and with a second process joining the session for real."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.clock.link import LinkClock

PEER = Path(__file__).with_name("link_peer.py")


def wait_for(cond: Callable[[], bool], timeout_sec: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_sec
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


@pytest.fixture
def clock():
    c = LinkClock(bpm=110.0)
    yield c
    c.close()


def test_link_clock_maps_beats_and_transport(clock):
    assert clock.name == "link" and clock.locked
    clock.set_tempo(111.0)
    assert wait_for(lambda: abs(clock.bpm - 111.0) < 1e-6)
    assert not clock.is_playing
    clock.start()
    assert wait_for(lambda: clock.is_playing)
    now = time.monotonic()
    b = clock.beat_at(now)
    assert clock.time_at_beat(b + 2.0) == pytest.approx(now + 2.0 * 60.0 / clock.bpm, abs=1e-6)
    # our mapping agrees with Link's own reading of its timeline (within 2 ms of beats)
    # (the two readings are bracketed: a preemption between them widens the bound, not the error)
    before = time.monotonic()
    direct = clock._link.beat
    after = time.monotonic()
    slack_sec = 0.002 + (after - before) / 2
    assert abs(clock.session_beat((before + after) / 2) - direct) < slack_sec * clock.bpm / 60.0 + 1e-3
    clock.stop()
    assert wait_for(lambda: not clock.is_playing)
    frozen = clock.beat_at(time.monotonic())
    time.sleep(0.05)
    # a Link app elsewhere on this host (another test run?) joins the session and can restart
    # the shared transport: say so if the position moved
    assert clock.beat_at(time.monotonic()) == frozen, f"moved while stopped; {clock.peers} Link peer(s)"
    with pytest.raises(ValueError):
        clock.set_tempo(1000.0)


class Peer:
    """tests/bridge/clock/link_peer.py in a subprocess; `state` is its last printed line."""

    def __init__(self, bpm: float) -> None:
        self.proc = subprocess.Popen([sys.executable, str(PEER), str(bpm)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.state = (0, 0.0, 0)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            peers, tempo, playing, _beat = line.split()
            self.state = (int(peers), float(tempo), int(playing))

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        try:
            self.send("quit")
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()
            self.proc.wait()


def test_second_process_peer_changes_tempo_and_transport(clock):
    peer = Peer(130.0)
    try:
        assert wait_for(lambda: clock.peers >= 1 and peer.state[0] >= 1, 10.0), "peers never met"
        peer.send("tempo 97")
        assert wait_for(lambda: abs(clock.bpm - 97.0) < 0.01), f"bpm stayed {clock.bpm}"
        clock.set_tempo(123.0)  # we propose, the peer follows
        assert wait_for(lambda: abs(peer.state[1] - 123.0) < 0.01), f"peer at {peer.state}"
        peer.send("play")  # start/stop sync: the peer starts, we start
        assert wait_for(lambda: clock.is_playing)
        peer.send("stop")
        assert wait_for(lambda: not clock.is_playing)
        clock.start()
        assert wait_for(lambda: peer.state[2] == 1), "our start did not reach the peer"
        with_peer = clock.peers
    finally:
        peer.close()
    assert wait_for(lambda: clock.peers < with_peer, 10.0), "the peer's leaving was not seen"


def test_engine_on_link_follows_a_peer_and_echoes_over_osc():
    """Engine (sync=link) + OSC output: a peer process sets 97 BPM; /tempo 97 comes out."""
    from engine_fakes import FakeModel
    from test_osc_udp import Receiver

    from bridge.engine import Engine
    from bridge.osc import OscServer
    from bridge.settings import Settings
    from tests.rigs.midi_fakes import FakeMidiIO

    rx = Receiver()
    engine = Engine(Settings(sync="link", bpm=120.0), model_loader=lambda _n: FakeModel(),
                    midi=FakeMidiIO(), auto_sample=False)
    server = OscServer(engine, "127.0.0.1", 0, "127.0.0.1", rx.port)
    engine.start()
    server.start()
    peer = Peer(120.0)
    try:
        assert wait_for(lambda: engine.snapshot().peers >= 1, 10.0), "no Link peer seen"
        assert wait_for(lambda: any(a == "/groovebridge/peers" and v[0] >= 1 for a, v in list(rx.messages)))
        peer.send("tempo 97")
        assert wait_for(lambda: abs(engine.snapshot().bpm - 97.0) < 0.01)
        echoed = rx.wait_for("/groovebridge/tempo", [pytest.approx(97.0, abs=0.01)], timeout=5.0)
        assert echoed[0] == pytest.approx(97.0, abs=0.01)
        assert engine.snapshot().sync_source == "link"
    finally:
        peer.close()
        server.close()
        engine.close()
        rx.close()


def test_link_health_reports_a_real_phase_error():
    """The phase error is our timeline (a snapshot of Link's, extrapolated) against Link's own
    readings, not a constant 0: positive (a reading takes time), small at rest, and it grows
    when the snapshot is wrong (here: moved 5 ms off Link's timeline by hand)."""
    clock = LinkClock(bpm=110.0, peer_wait_sec=0.0)
    try:
        check_phase_error(clock)
    finally:
        clock.close()


def check_phase_error(clock: LinkClock) -> None:
    from dataclasses import replace

    assert wait_for(lambda: len(clock._phase_errors) >= 10)
    state, err, _ = clock.health()
    assert 0.0 < err < 2.0 and state == "locked"
    assert err == clock.phase_error_ms
    for _ in range(3):
        s = clock._snap
        clock._snap = replace(s, beat=s.beat + 0.005 * s.bpm / 60.0)  # 5 ms ahead of Link
        time.sleep(clock.poll_sec * 0.6)
        if clock.phase_error_ms > 4.0:
            break
    assert clock.phase_error_ms > 4.0
    assert clock.health()[0] == "settling" and "off Link" in clock.health()[2]
