"""Ableton Link etiquette (issue 22), against a second-process Link peer with start/stop sync
(tests/bridge/clock/link_peer.py, as a DAW has it): launching GrooveBridge never starts the
session, quitting never stops it, our stop only silences us, our play joins a playing
session at a bar line, and a session's tempo change reaches the engine without a poll."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_fakes import KICK, Events, FakeModel, groove_of, wait_for
from test_link import Peer

from bridge.clock.link import LinkClock
from bridge.engine import Engine
from bridge.play.player import PlayedNote
from bridge.settings import Settings
from tests.rigs.midi_fakes import FakeMidiIO

ROOT = Path(__file__).resolve().parents[3]
BEAT_KICKS = groove_of([(s, KICK, 100, 0.0) for s in range(0, 64, 4)])


def played(events: Events) -> list[PlayedNote]:
    return [n for n in events.of("note") if isinstance(n, PlayedNote)]


def watch_peer(peer: Peer, seconds: float) -> list[int]:
    """The peer's transport (0/1) sampled every 20 ms for ``seconds``."""
    seen, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        seen.append(peer.state[2])
        time.sleep(0.02)
    return seen


@pytest.mark.slow
def test_serve_launch_leaves_the_session_stopped_and_quit_leaves_it_playing(tiny_checkpoint: Path) -> None:
    peer = Peer(118.0)
    env = dict(os.environ, GROOVEBRIDGE_OSC_PORT="0")
    cmd = [sys.executable, "-m", "groovebridge.cli", "serve", "--sync", "link", "--model", str(tiny_checkpoint),
           "--input", "none", "--output", "none", "--status-interval", "0.1"]
    serve = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        assert serve.stdout is not None
        first = serve.stdout.readline()
        assert "GrooveBridge serving" in first, first
        wait_for(lambda: peer.state[0] >= 1, 10.0, "serve joined the Link session")
        assert 1 not in watch_peer(peer, 2.5), "launching GrooveBridge started the session's transport"
        peer.send("play")
        wait_for(lambda: peer.state[2] == 1, 5.0, "the peer plays")
        time.sleep(0.5)
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=20)
        assert serve.returncode == 0, err
        assert 0 not in watch_peer(peer, 1.5), "quitting GrooveBridge stopped the session's transport"
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        peer.close()


def test_engine_follows_the_session_stop_silences_only_us_play_joins_at_a_bar():
    peer = Peer(150.0)
    midi = FakeMidiIO()
    engine = Engine(Settings(sync="link", bpm=150.0), model_loader=lambda _n: FakeModel(), midi=midi, auto_sample=False)
    events = Events()
    engine.subscribe(events)
    engine.start()
    try:
        engine.set_pattern(BEAT_KICKS)
        wait_for(lambda: engine.snapshot().peers >= 1 and peer.state[0] >= 1, 10.0, "peers met")
        assert 1 not in watch_peer(peer, 0.5)  # joining started nothing
        assert played(events) == []
        peer.send("play")  # the session starts: we play
        wait_for(lambda: len(played(events)) >= 3, 8.0, "notes once the session plays")
        assert engine.snapshot().sync_health["state"] == "locked"
        engine.stop()  # silences us, not the session
        wait_for(lambda: not engine.snapshot().playing, 2.0, "stopped")
        n = len(played(events))
        assert 0 not in watch_peer(peer, 1.0), "our stop stopped the session"
        assert len(played(events)) == n  # silent while the session plays on
        engine.play()  # joins the playing session at its next bar line
        wait_for(lambda: len(played(events)) > n, 5.0, "notes after play")
        assert played(events)[n].beat % 4 == 0
        peer.send("tempo 97")  # the session's tempo reaches the engine (on_change, no poll)
        wait_for(lambda: abs(engine.snapshot().bpm - 97.0) < 0.01, 5.0, "tempo 97")
        wait_for(lambda: any(abs(b - 97.0) < 0.01 for b in events.of("tempo")), 2.0, "a tempo event")
        engine.close()
        assert 0 not in watch_peer(peer, 1.0), "closing GrooveBridge stopped the session"
    finally:
        engine.close()
        peer.close()


def test_play_right_after_joining_waits_for_peers_and_joins_a_playing_session():
    peer = Peer(131.0)
    try:
        peer.send("play")  # the session already plays before we join
        wait_for(lambda: peer.state[2] == 1, 5.0, "peer playing")
        clock = LinkClock(120.0)
        try:
            changes: list[float] = []
            clock.on_change = lambda: changes.append(clock.bpm)
            clock.start()  # the user presses play at once, before any peer is known
            wait_for(lambda: clock.peers >= 1 and clock.is_playing, 10.0, "joined the playing session")
            wait_for(lambda: abs(clock.bpm - peer.state[1]) < 0.01, 5.0, "one session tempo")
            assert changes  # tempo / peers / transport changes were announced
            assert peer.state[2] == 1
        finally:
            clock.close()
        assert 0 not in watch_peer(peer, 0.5)
    finally:
        peer.close()


def test_start_alone_waits_briefly_for_peers_then_starts():
    clock = LinkClock(120.0, peer_wait_sec=1.0)
    try:
        if clock.peers:
            pytest.skip("another Link app runs on this host")
        state, err, _detail = clock.health()
        assert state == "settling" and 0.0 < err < 2.0  # (looking for peers; a real phase error figure)
        clock.start()
        time.sleep(0.3)
        assert not clock.is_playing or clock.peers  # still waiting for a peer
        wait_for(lambda: clock.is_playing, 5.0, "started after the wait")
        assert clock.health()[0] == "locked"
    finally:
        clock.close()
