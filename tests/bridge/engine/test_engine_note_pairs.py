"""Every note-on the live engine sends gets its note-off, through follow mode's pattern swaps at
bar lines, mutes, an output drum-map change while notes sound, stop (All Notes Off after the
releases) and a second run stopped by close. Real engine threads and clock, a recording port
(``FakeMidiIO``), the deterministic ``FakeModel`` (the player alone: tests/bridge/play's property test)."""

from __future__ import annotations

import time

from engine_fakes import FakeModel, wait_for
from test_engine_follow import BAR, START, make_engine, play_bars, wait_beat

ALL_NOTES_OFF = 123


def note_pairs(events: list[tuple[float, tuple[int, ...]]]) -> tuple[int, set[tuple[int, int]], int]:
    """(note-ons, what sounds at the end, note-ons of a sounding note) per (channel, pitch)."""
    sounding: set[tuple[int, int]] = set()
    ons = restruck = 0
    for _, m in events:
        if len(m) != 3 or m[0] & 0xE0 != 0x80:
            continue
        key = (m[0] & 0x0F, m[1])
        if m[0] & 0xF0 == 0x90 and m[2] > 0:
            ons += 1
            restruck += key in sounding
            sounding.add(key)
        else:
            sounding.discard(key)
    return ons, sounding, restruck


def test_every_note_on_is_released_through_follow_swaps_mutes_maps_stop_and_close() -> None:
    engine, midi, rec = make_engine(lambda name: FakeModel(), follow_enabled=True, follow_amount=1.0)
    try:
        engine.set_pattern(START, "edit")
        engine.play()
        wait_for(lambda: engine.snapshot().playing, what="playing")
        play_bars(engine, midi, range(0, 2), BAR)
        engine.set_mute(4, True)  # the low tom of START, while it plays
        play_bars(engine, midi, range(2, 4), BAR)
        engine.set_drum_maps(output="roland")
        engine.set_mute(4, False)
        wait_beat(engine, 4 * 5 + 1.3)  # mid-bar, notes sounding
        assert engine.snapshot().follow_updates >= 2 and len(rec.swaps) >= 2  # follow swapped patterns
        engine.stop()
        wait_for(lambda: not engine.player.running, what="stopped")
        time.sleep(0.05)
        events = list(midi.events)
        ons, sounding, restruck = note_pairs(events)
        assert ons > 20 and sounding == set() and restruck == 0
        last_on = max(i for i, (_, m) in enumerate(events) if m[0] & 0xF0 == 0x90)
        assert any(m[0] & 0xF0 == 0xB0 and m[1] == ALL_NOTES_OFF for _, m in events[last_on:])
        midi.clear()
        engine.play()  # a second run, ended by close while notes sound
        wait_for(lambda: engine.player.sounding > 0, timeout_sec=5, what="a sounding note")
    finally:
        engine.close()
    ons, sounding, restruck = note_pairs(list(midi.events))
    assert ons > 0 and sounding == set() and restruck == 0
    assert midi.events[-1][1][0] & 0xF0 == 0xB0 and midi.events[-1][1][1] == ALL_NOTES_OFF
