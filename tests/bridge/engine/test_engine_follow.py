"""Follow mode in the live engine (bridge.engine.follow), no JACK: notes played into the
engine's input path (FakeMidiIO.inject, in real time), the real shipped default model (drums
source) and Drumify model (rhythm source). The pattern changes at bar lines only, moves towards
the played groove, silence and amount 0 keep it, generation runs on the worker, a generation
not ready for its bar is skipped and counted; the settings and their one-line errors."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from engine_fakes import KICK, FakeModel, groove_of, wait_for
from test_engine_drumify import matches, played_beats

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.engine.follow import repeat_to
from bridge.play.player import PlayedNote
from bridge.settings import Settings, SettingsError, load_settings
from models.groove import Groove
from tests.rigs.midi_fakes import FakeMidiIO

BPM = 240.0  # a bar lasts 1 s
LOW_TOM, CRASH = 4, 7
# one bar played on GM pitches, channel 10: (step, pitch, velocity)
BAR = [(0, 36, 110), (8, 36, 105), (4, 38, 100), (12, 38, 100)] + [(s, 42, 80) for s in range(0, 16, 2)]
PLAYED = groove_of([(b * 16 + s, {36: 0, 38: 1, 42: 2}[p], v, 0.0) for b in range(4) for s, p, v in BAR], bpm=BPM)
START = groove_of([(s, LOW_TOM, 90, 0.0) for s in range(1, 64, 3)] + [(0, CRASH, 120, 0.0)], bpm=BPM)


@pytest.fixture(scope="module")
def models():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from models.generate import load_model

    return load_model(None), load_model("drumify")  # shipped in the package: no network


class Recorder:
    """Engine events with the clock beat they came at; the player's swaps (bar, groove)."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.lock = engine, threading.Lock()
        self.patterns: list[tuple[float, Groove, str]] = []
        self.notes: list[PlayedNote] = []
        self.errors: list[str] = []
        self.swaps: list[tuple[int, Groove, str]] = []

    def __call__(self, event: str, payload: object) -> None:
        clock = self.engine._clock
        with self.lock:
            if event == "pattern":
                self.patterns.append((clock.beat_at(clock.now_sec()), payload["pattern"], payload["source"]))
            elif event == "note" and isinstance(payload, PlayedNote):
                self.notes.append(payload)
            elif event == "error":
                self.errors.append(str(payload))

    def on_swap(self, compiled, bar: int) -> None:  # scheduler thread
        self.swaps.append((bar, compiled.groove, compiled.source))

    def follows(self) -> list[tuple[float, Groove, str]]:
        with self.lock:
            return [p for p in self.patterns if p[2].startswith("follow")]


def make_engine(loader, **follow) -> tuple[Engine, FakeMidiIO, Recorder]:
    settings = load_settings(None, env={}, bpm=BPM, **follow)
    midi = FakeMidiIO()
    engine = Engine(settings, model_loader=loader, midi=midi, clock=InternalClock(BPM), auto_sample=False)
    rec = Recorder(engine)
    engine.subscribe(rec)
    engine.start()
    wait_for(lambda: engine.snapshot().model_state == "ready", timeout_sec=60, what="model ready")
    engine.player.on_swap = rec.on_swap
    return engine, midi, rec


def play_bars(engine: Engine, midi: FakeMidiIO, bars: range, cells, status: int = 0x99) -> None:
    """Inject ``cells`` (step, pitch, velocity) in each of ``bars``, each at its time (real time)."""
    clock = engine._clock
    for bar in bars:
        for step, pitch, vel in sorted(cells):
            t = clock.time_at_beat(bar * 4 + step / 4)
            time.sleep(max(0.0, t - time.monotonic()))
            midi.inject([status, pitch, vel], t)


def wait_beat(engine: Engine, beat: float) -> None:
    clock = engine._clock
    time.sleep(max(0.0, clock.time_at_beat(beat) - time.monotonic()))


def f1(a: Groove, b: Groove) -> float:
    x, y = a.hits > 0.5, b.hits > 0.5
    tp = float((x & y).sum())
    return 2 * tp / max(1.0, float(x.sum() + y.sum()))


def test_follow_drums_moves_towards_the_played_groove_at_bar_lines_only(models) -> None:
    default, drumify = models
    threads: list[str] = []
    encoded: list[int] = []  # sequences per encode call
    original, original_encode = default.decode, default.encode

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    def encode_spy(grooves):
        encoded.append(len(grooves))
        return original_encode(grooves)

    default.decode, default.encode = spy, encode_spy
    engine, midi, rec = make_engine(lambda name: drumify if name == "drumify" else default, follow_enabled=True,
                                    follow_every=1, follow_bars=1, follow_amount=0.5, follow_temperature=0.5)
    try:
        engine.set_pattern(START, "edit")
        wait_for(lambda: engine.snapshot().pattern_source == "edit", what="start pattern")
        encoded.clear()  # (loading the model timed an encode)
        engine.play()
        wait_for(lambda: engine.snapshot().playing, what="playing")
        play_bars(engine, midi, range(1, 7), BAR)  # bar 0 silent; bars 1-6 played; then silence
        wait_beat(engine, 34.5)  # the bar-8 trigger (window: bar 7, silent) has passed
        snap = engine.snapshot()
        follows = rec.follows()
        assert snap.follow_updates == len(follows) >= 4, (snap.follow_updates, snap.follow_late)
        assert snap.follow_updates + snap.follow_late <= 6
        assert all(beat >= 8.0 for beat, _g, _s in follows)  # bar 0 was silent: bar line 1 kept the pattern
        assert all(beat < 32.0 for beat, _g, _s in follows)  # bar 7 silent: bar line 8 kept it
        assert snap.pattern is follows[-1][1] and snap.pattern_source == "follow drums"
        # One encode a bar: the playing pattern's latent is kept from the follow job that
        # decoded it (only the first job also encodes the edited start pattern).
        assert sum(encoded) <= snap.follow_updates + snap.follow_late + 1, (encoded, snap.follow_updates)

        # Each follow pattern was handed over mid-bar and swapped in at the next bar line.
        swaps = [(bar, g) for bar, g, source in rec.swaps if source == "follow drums"]
        assert [g for _bar, g in swaps] == [g for _b, g, _s in follows]
        for (bar, _g), (beat, _p, _s) in zip(swaps, follows, strict=True):
            assert bar == math.floor(beat / 4) + 1, (bar, beat)
        # ... and what was heard from each of those bar lines is that pattern.
        bounds = [bar * 4 for bar, _g in swaps] + [34.0]
        for (_bar, groove), lo, hi in zip(swaps, bounds, bounds[1:], strict=False):
            heard = [n for n in rec.notes if lo - 0.25 <= n.beat < hi - 0.25]
            assert all(matches(n, played_beats(groove), 16.0) for n in heard), lo

        # It moved towards the played groove: nearer in the latent space, more hits in common.
        z_played, z_start, z_now = default.encode([PLAYED, START, snap.pattern])
        assert np.linalg.norm(z_now - z_played) < 0.7 * np.linalg.norm(z_start - z_played)
        assert f1(snap.pattern, PLAYED) > f1(START, PLAYED) + 0.3, (f1(snap.pattern, PLAYED), f1(START, PLAYED))

        # Amount 0 keeps the pattern however much is played.
        engine.set_follow_amount(0.0)
        wait_for(lambda: engine.snapshot().follow_amount == 0.0, what="amount 0")
        kept = engine.snapshot().pattern
        play_bars(engine, midi, range(9, 11), BAR)
        wait_beat(engine, 44.5)
        assert engine.snapshot().pattern is kept and len(rec.follows()) == len(follows)
        assert threads and set(threads) == {"groovebridge-generation"}  # never the control/scheduler thread
        assert not rec.errors
    finally:
        del default.decode, default.encode
        engine.close()


def test_follow_rhythm_source_drumifies_the_played_taps(models) -> None:
    default, drumify = models
    engine, midi, rec = make_engine(lambda name: drumify if name == "drumify" else default, follow_enabled=True,
                                    follow_source="rhythm", follow_every=2, follow_bars=2, follow_amount=1.0,
                                    input_mode="rhythm")
    try:
        engine.set_pattern(groove_of([(s, KICK, 100, 0.0) for s in range(0, 64, 4)], bpm=BPM), "edit")
        engine.play()
        wait_for(lambda: engine.snapshot().playing, what="playing")
        # 8th notes with two pushes a bar (test_engine_drumify's rhythm), on any pitches
        taps = [(s, 40 + s % 5 * 9, 90 + s % 3 * 10) for s in sorted(set(range(0, 16, 2)) | {3, 7})]
        play_bars(engine, midi, range(0, 2), taps, status=0x90)
        wait_for(lambda: engine.snapshot().pattern_source == "follow rhythm", timeout_sec=5, what="drumified")
        out = engine.snapshot().pattern
        assert int(out.hits.any(axis=0).sum()) >= 3  # drums, not one tapped voice
        played = repeat_to(engine.capture_buffer.window(0.0, 2, bpm=BPM), 64).hits.any(axis=1)
        assert (played & out.hits.any(axis=1)).sum() / played.sum() >= 0.6  # the rhythm is kept
        wait_for(lambda: any(s == "follow rhythm" for _b, _g, s in rec.swaps), timeout_sec=3, what="the swap")
        assert 8.0 <= rec.follows()[0][0] < 12.0  # triggered at bar line 2 (every 2 bars, window bars 0-1)
        assert [b for b, _g, s in rec.swaps if s == "follow rhythm"][0] == 3  # played from the next bar line
        assert not rec.errors
    finally:
        engine.close()


def test_a_generation_not_ready_for_its_bar_is_skipped_and_counted() -> None:
    slow = FakeModel(decode_delay_sec=1.3)  # longer than a bar at 240 BPM
    engine, midi, rec = make_engine(lambda name: slow, follow_enabled=True, follow_amount=1.0)
    try:
        engine.set_pattern(START, "edit")
        engine.play()
        wait_for(lambda: engine.snapshot().playing, what="playing")
        play_bars(engine, midi, range(0, 5), BAR)
        wait_for(lambda: engine.snapshot().follow_late >= 3, timeout_sec=5, what="late generations counted")
        assert rec.follows() == [] and engine.snapshot().pattern_source == "edit"  # never played late
        assert engine.snapshot().follow_updates == 0 and not rec.errors
    finally:
        engine.close()


def test_follow_settings_validation_and_errors() -> None:
    s = Settings()
    assert (s.follow_enabled, s.follow_source, s.follow_every, s.follow_bars, s.follow_amount) == (False, "drums", 1, 4, 0.5)
    env = {"GROOVEBRIDGE_FOLLOW_SOURCE": "rhythm", "GROOVEBRIDGE_FOLLOW_EVERY": "2", "GROOVEBRIDGE_FOLLOW_ENABLED": "on"}
    loaded = load_settings(None, env=env)
    assert (loaded.follow_source, loaded.follow_every, loaded.follow_enabled) == ("rhythm", 2, True)
    for bad, text in ((dict(follow_every=3), "follow_every"), (dict(follow_bars=8), "follow_bars"),
                      (dict(follow_source="piano"), "follow_source"), (dict(follow_amount=1.5), "follow_amount"),
                      (dict(follow_temperature=0.0), "follow_temperature")):
        with pytest.raises(SettingsError, match=text):
            Settings(**bad)

    engine, _midi, rec = make_engine(lambda name: FakeModel())
    try:
        snap = engine.snapshot()
        assert (snap.follow, snap.follow_every, snap.follow_late, snap.follow_updates) == (False, 1, 0, 0)
        engine.set_follow(True)
        engine.set_follow_source(" Rhythm")
        engine.set_follow_every(4)
        engine.set_follow_bars(2.0)
        engine.set_follow_amount(0.25)
        engine.set_follow_temperature(0.7)
        wait_for(lambda: engine.snapshot().follow_temperature == 0.7, what="settings")
        snap = engine.snapshot()
        assert (snap.follow, snap.follow_source, snap.follow_every, snap.follow_bars, snap.follow_amount) == (
            True, "rhythm", 4, 2, 0.25)
        for call in (lambda: engine.set_follow_every(3), lambda: engine.set_follow_bars("x"),
                     lambda: engine.set_follow_amount(1.5), lambda: engine.set_follow_source("piano"),
                     lambda: engine.set_follow_temperature(0), lambda: engine.set_follow("maybe")):
            call()
        wait_for(lambda: len(rec.errors) == 6, what="six errors")
        assert all(m and "\n" not in m for m in rec.errors)
        assert "follow every 3 must be 1, 2 or 4 bars" in rec.errors[0] and "follow bars 'x'" in rec.errors[1]
        assert "amount 1.5" in rec.errors[2] and "'piano' is not drums or rhythm" in rec.errors[3]
        assert engine.snapshot().follow_every == 4 and engine.snapshot().follow_source == "rhythm"  # unchanged
    finally:
        engine.close()


def test_repeat_to_fills_four_bars() -> None:
    one = groove_of([(0, KICK, 100, 0.0), (6, 1, 90, 0.1)], num_steps=16)
    four = repeat_to(one, 64)
    assert four.num_steps == 64 and sorted(zip(*np.nonzero(four.hits), strict=True)) == [
        (s + d, k) for s in (0, 16, 32, 48) for d, k in ((0, 0), (6, 1))]
    assert four.offsets[38, 1] == pytest.approx(0.1)
