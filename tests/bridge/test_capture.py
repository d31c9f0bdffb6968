"""CaptureBuffer: channel filter, input drum map, windows, early/late hits, record-next timing."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.capture import CaptureBuffer, next_recording
from models.drum_maps import GM, ROLAND


def cells(g) -> set[tuple[int, int]]:
    return {(int(s), int(k)) for s, k in zip(*np.nonzero(g.hits), strict=True)}


def test_window_quantises_with_offsets_and_velocities() -> None:
    buf = CaptureBuffer(GM)
    buf.add([0x99, 36, 100], 1.0, 16.0)
    buf.add([0x99, 38, 80], 1.1, 17.0 - 0.03)  # early by 0.12 of a 16th
    buf.add([0x99, 42, 50], 1.2, 18.0 + 0.05)  # late by 0.2 of a 16th
    buf.add([0x99, 36, 90], 1.3, 16.0 - 0.1)  # early hit of the window's first downbeat
    g = buf.window(16.0, bpm=97.0)
    assert g.num_steps == 64 and g.bpm == 97.0
    assert cells(g) == {(0, 0), (4, 1), (8, 2)}
    assert g.velocities[0, 0] == pytest.approx(100 / 127)  # the louder of the two step-0 kicks
    assert g.offsets[4, 1] == pytest.approx(0.24, abs=1e-6)
    assert g.offsets[8, 2] == pytest.approx(-0.4, abs=1e-6)


def test_last_bars_takes_the_four_complete_bars_before_now() -> None:
    buf = CaptureBuffer(GM)
    for beat in (3.0, 4.0, 19.0, 19.9):  # bar 1 (outside), bars 2-5, then bar 6's early downbeat
        buf.add([0x90, 36, 100], beat, beat)
    g = buf.last_bars(now_beat=21.5)  # bars 2..5 = beats 4..20
    assert cells(g) == {(0, 0), (60, 0)}


def test_channel_filter_map_and_note_off() -> None:
    buf = CaptureBuffer(ROLAND, channels=(10,))
    assert buf.add([0x99, 36, 100], 0.0, 0.0) is not None
    assert buf.add([0x90, 36, 100], 0.0, 0.25) is None  # channel 1 filtered
    assert buf.add([0x99, 36, 0], 0.0, 0.5) is None  # velocity 0 = note-off
    assert buf.add([0x89, 36, 64], 0.0, 0.5) is None
    assert buf.add([0x99, 99, 64], 0.0, 0.5) is None  # unknown pitch
    hit = buf.add([0x99, 22, 64], 0.0, 0.75)  # Roland hi-hat edge -> closed hi-hat
    assert hit is not None and hit.drum_class == 2
    assert len(buf.hits()) == 2


def test_old_hits_age_out() -> None:
    buf = CaptureBuffer(GM, max_age_sec=10.0)
    buf.add([0x99, 36, 100], 0.0, 0.0)
    buf.add([0x99, 36, 100], 11.0, 22.0)
    assert [h.t_sec for h in buf.hits()] == [11.0]


def test_next_recording_starts_at_the_next_bar_after_the_count_in() -> None:
    rec = next_recording("B", now_beat=5.3, count_in_bars=1)
    assert (rec.slot, rec.start_beat, rec.end_beat) == ("B", 12.0, 28.0)
    assert rec.done_beat == pytest.approx(28.125)
    assert next_recording("A", now_beat=8.0).start_beat == 12.0
