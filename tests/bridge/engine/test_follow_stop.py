"""Follow mode when the player stops or starts (trial finding 3: after the player stopped, the
"rhythm" follow thinned the pattern bar by bar, 82 hits -> 7, because windows ending in silence
were still drumified). A window that ends in silence keeps the pattern; bars before the player
started are left out. Exact rules on quantised windows, then the live engine with the real
shipped models and notes injected in real time (both sources)."""

from __future__ import annotations

import pytest
from engine_fakes import groove_of, wait_for
from test_engine_follow import BPM, PLAYED, make_engine, play_bars, wait_beat

from bridge.engine.follow import longest_gap, played_part

SIXTEENTHS = [(b * 16 + s, 2, 90, 0.0) for b in range(4) for s in range(0, 16, 2)]  # 8ths, 4 bars


def test_a_fully_played_window_is_followed_whole() -> None:
    window = groove_of(SIXTEENTHS, bpm=BPM)
    assert played_part(window, longest_gap(window)) is window


def test_a_window_ending_in_silence_is_a_stop() -> None:
    stopped = groove_of([c for c in SIXTEENTHS if c[0] < 52], bpm=BPM)  # stopped at beat 2 of bar 4
    assert played_part(stopped, longest_gap(stopped)) is None
    half = groove_of([c for c in SIXTEENTHS if c[0] < 58], bpm=BPM)  # the last half bar minus one 16th: playing
    assert played_part(half, longest_gap(half)) is half


def test_a_sparse_player_is_not_taken_for_a_stop() -> None:
    whole_notes = groove_of([(b * 16, 0, 100, 0.0) for b in range(4)], bpm=BPM)  # one kick a bar
    assert played_part(whole_notes, longest_gap(whole_notes)) is whole_notes
    one_bar = groove_of([(0, 0, 100, 0.0)], num_steps=16, bpm=BPM)  # 1-bar window, the gap read over 4 bars
    assert played_part(one_bar, longest_gap(whole_notes)) is one_bar
    assert played_part(one_bar, 0) is None  # with no history, a lone hit then 15 silent steps is a stop


def test_bars_before_the_player_started_are_left_out() -> None:
    started = groove_of([c for c in SIXTEENTHS if c[0] >= 32], bpm=BPM)  # bars 3-4 played
    part = played_part(started, longest_gap(started))
    assert part is not None and part.num_steps == 32 and part.num_hits == started.num_hits
    late_in_bar = groove_of([c for c in SIXTEENTHS if c[0] >= 28], bpm=BPM)  # from the last 8th of bar 2 on
    assert played_part(late_in_bar, longest_gap(late_in_bar)).num_steps == 32  # bar 2 mostly silent: left out
    assert played_part(groove_of([], bpm=BPM), 0) is None


@pytest.fixture(scope="module")
def models():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from models.generate import load_model

    return load_model(None), load_model("drumify")


@pytest.mark.parametrize("source", ["rhythm", "drums"])
def test_live_follow_keeps_the_pattern_once_the_player_stops(models, source: str) -> None:
    default, drumify = models
    engine, midi, rec = make_engine(lambda name: drumify if name == "drumify" else default, follow_enabled=True,
                                    follow_source=source, follow_every=1, follow_bars=4, follow_amount=1.0,
                                    input_mode="rhythm" if source == "rhythm" else "drums")
    try:
        engine.play()
        wait_for(lambda: engine.snapshot().playing, what="playing")
        bar = [(int(s) % 16, {0: 36, 1: 38, 2: 42}[int(k)], 100) for s, k in zip(*PLAYED.hits[:16].nonzero(), strict=True)]
        play_bars(engine, midi, range(0, 4), bar)  # bars 0-3 played in full
        play_bars(engine, midi, range(4, 5), [c for c in bar if c[0] < 4])  # bar 4: the first beat, then stop
        wait_beat(engine, 8 * 4 + 1.0)  # bar lines 5-8 (windows ending in silence) have passed
        follows = rec.follows()
        assert follows, (engine.snapshot().follow_late, rec.errors)
        assert all(beat < 20.0 for beat, _g, _s in follows), [round(b, 2) for b, _g, _s in follows]  # old code: 5, 6, 7, 8 too
        last = follows[-1][1]
        assert engine.snapshot().pattern is last and last.num_hits >= 10  # the pattern stays as the player left it
        assert not rec.errors
    finally:
        engine.close()
