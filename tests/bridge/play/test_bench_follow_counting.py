"""How ``benchmarks/bench_follow.py`` counts stuck notes: from the stream the engine sent (a
pitch whose last event is a note-on, or struck again while sounding), with each receiver
aligned against it. Its old count (note-ons minus note-offs per pitch at the receiver) called an
event lost on the way a stuck note."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from bench_follow import note_report  # noqa: E402

HAT, KICK = 42, 36


def stream(*events: tuple[bool, int]) -> dict[str, np.ndarray]:
    return {"t": np.arange(len(events), dtype=float), "on": np.array([e[0] for e in events], bool),
            "pitch": np.array([e[1] for e in events], int), "vel": np.array([100 if e[0] else 0 for e in events], int)}


def old_count(rx: dict[str, np.ndarray]) -> int:
    """bench_follow's count before: per pitch note-ons minus note-offs, the positive ones summed."""
    balance: dict[int, int] = {}
    for on, pitch in zip(rx["on"].tolist(), rx["pitch"].tolist(), strict=True):
        balance[pitch] = balance.get(pitch, 0) + (1 if on else -1)
    return sum(max(0, v) for v in balance.values())


SENT = stream((True, HAT), (False, HAT), (True, KICK), (True, HAT), (False, KICK), (False, HAT),
              (True, HAT), (False, HAT))


def test_a_note_off_lost_on_the_way_is_no_stuck_note_of_the_engine() -> None:
    got = stream(*[(bool(on), int(p)) for i, (on, p) in enumerate(zip(SENT["on"], SENT["pitch"], strict=True)) if i != 1])
    assert old_count(got) == 1  # what the bench reported before: "stuck 1"
    report = note_report(SENT, {"python_receiver": got})
    assert report["stuck_sent"] == {} and report["hung_sent"] == 0
    rx = report["receivers"]["python_receiver"]
    assert rx["missing"] == 1 and rx["missing_by"] == {"off 42": 1} and rx["extra"] == 0 and rx["stuck"] == {}


def test_a_note_on_read_twice_is_a_receiver_misread() -> None:
    events = [(bool(on), int(p)) for on, p in zip(SENT["on"], SENT["pitch"], strict=True)]
    got = stream(*events[:3], (True, KICK), *events[3:])  # the kick's note-on read twice
    assert old_count(got) == 1
    report = note_report(SENT, {"jack_midi_dump": got})
    assert report["stuck_sent"] == {} and report["receivers"]["jack_midi_dump"]["extra_by"] == {"on 36": 1}


def test_the_engine_leaving_a_note_on_or_striking_a_sounding_pitch_is_counted() -> None:
    sent = stream((True, HAT), (True, HAT), (False, HAT), (True, KICK))  # hat struck twice; kick never released
    report = note_report(sent, {"python_receiver": sent})
    assert report["stuck_sent"] == {KICK: 1} and report["hung_sent"] == 1
    assert report["receivers"]["python_receiver"]["stuck"] == {KICK: 1}


def test_an_event_missing_at_both_receivers_was_lost_upstream_of_them() -> None:
    events = [(bool(on), int(p)) for on, p in zip(SENT["on"], SENT["pitch"], strict=True)]
    no_kick_off = stream(*[e for i, e in enumerate(events) if i != 4])  # (off, KICK) lost
    no_hat_off = stream(*[e for i, e in enumerate(events) if i != 1])
    both = note_report(SENT, {"python_receiver": no_kick_off, "jack_midi_dump": no_kick_off})
    assert both["lost_at_all_receivers"] == {"off 36": 1} and both["stuck_sent"] == {}
    apart = note_report(SENT, {"python_receiver": no_kick_off, "jack_midi_dump": no_hat_off})
    assert apart["lost_at_all_receivers"] == {}
    assert note_report(SENT, {"python_receiver": no_kick_off})["lost_at_all_receivers"] is None
