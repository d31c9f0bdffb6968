"""Follow mode over real JACK MIDI (private dummy-backend server, 32-frame period): a second
process (scripts/midi_player.py) plays drums into GrooveBridge In; with follow on every bar the
pattern heard at GrooveBridge Out (another JACK client) changes at a bar line only, never mid-bar.
The tests' deterministic model: decode gives as many closed hats as the encoded groove had hits."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from engine_fakes import HAT, wait_for
from test_engine_follow import BAR, START
from test_midi_jack import PLAYER, Receiver, jack, jack_engine  # noqa: F401 - jack: the fixture

from bridge.midi.ports import IN_PORT_NAME, OUT_PORT_NAME

pytest.importorskip("rtmidi")
pytestmark = pytest.mark.jack


def test_follow_changes_the_pattern_heard_at_bar_lines_only(jack) -> None:  # noqa: F811
    engine, events = jack_engine(bpm=240.0, follow_enabled=True, follow_amount=1.0, follow_bars=1)
    wait_for(lambda: engine.snapshot().model_state == "ready", what="model ready")
    swaps: list[int] = []
    engine.player.on_swap = lambda compiled, bar: swaps.append(bar) if compiled.source == "follow drums" else None
    rx = Receiver(OUT_PORT_NAME)
    proc = subprocess.Popen([sys.executable, str(PLAYER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps({"port": IN_PORT_NAME, "monitor": False}) + "\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ready"
        engine.set_pattern(START, "edit")
        wait_for(lambda: engine.snapshot().pattern_source == "edit", what="start pattern")
        engine.play()
        wait_for(lambda: engine.snapshot().playing, what="playing")
        clock = engine._clock
        plan = [(clock.time_at_beat(bar * 4 + step / 4), [0x99, pitch, vel])
                for bar in (2, 3) for step, pitch, vel in sorted(BAR)]
        proc.stdin.write(json.dumps(plan) + "\n")
        proc.stdin.flush()
        json.loads(proc.stdout.readline())  # played
        wait_for(lambda: swaps, timeout_sec=5, what="a follow pattern swapped in")
        end_beat = swaps[0] * 4 + 8  # two bars of it
        wait_for(lambda: clock.beat_at(clock.now_sec()) > end_beat + 0.5, timeout_sec=5, what="two bars heard")
        assert engine.snapshot().pattern_source == "follow drums" and engine.snapshot().follow_late == 0

        hat = engine.player.out_pitches[HAT]
        bars: dict[int, set[int]] = {}
        for t, m in list(rx.messages):
            if m[0] == 0x99 and m[2] > 0:
                bars.setdefault(math.floor((clock.beat_at(t) + 0.06) / 4), set()).add(m[1])
        played_bars = sorted(b for b in bars if b < end_beat / 4)
        new = [b for b in played_bars if bars[b] == {hat}]  # the follow pattern: hats only
        old = [b for b in played_bars if hat not in bars[b]]  # START: toms and a crash, no hat
        assert sorted(new + old) == played_bars, bars  # no bar mixes the two: no change mid-bar
        assert old and new and max(old) < min(new) == swaps[0], (old, new, swaps)  # from that bar line on
        assert swaps[0] == 4  # bar 2 played, generated after bar line 3, heard from the next one
    finally:
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        rx.close()
        engine.close()
