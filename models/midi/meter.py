"""The 4/4 parts of a file whose time signature changes.

GrooVAE windows are whole 16-step bars. A file that is 4/4 (any num/den with num == den: 16
sixteenths per bar) throughout is read whole, as before. A file whose signature changes keeps
its 4/4 *stretches*: from each 4/4 time-signature event (bar lines counted from that event)
up to the next change, whole bars only. Each stretch becomes its own ``SmfEvents`` (ticks from
the stretch's first bar line, the tempo in effect there at tick 0, later tempos shifted) that
the ordinary reader turns into a groove; bars in other signatures and a partial 4/4 bar cut
short by a change are listed as not kept, with the reason.

A note belongs to the stretch whose 16th grid it rounds onto (round half up, as everywhere), so
a hit played a little early into the first downbeat of a 4/4 stretch is that downbeat. Before
the first time-signature event a file is 4/4 (the SMF default). Bar numbers in the report
are the file's own (1-based, counting every signature's bars; a partial bar counts as one).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, replace

import numpy as np

from models.groove import STEPS_PER_BAR, STEPS_PER_QUARTER
from models.midi.smf import SmfEvents


@dataclass(frozen=True)
class MeterPart:
    """One 4/4 stretch as its own events, and where it lies in the source file."""

    events: SmfEvents
    origin_beat: float  # quarter notes from the file's tick 0 to the stretch's first bar line
    first_bar: int  # the file's bar number (1-based) of that bar line
    num_bars: int | None  # whole bars of a closed stretch; None for the last, open one


@dataclass(frozen=True)
class MeterSplit:
    parts: list[MeterPart]
    dropped: list[str]  # "bars 9-12 (3/4: bars are not 16 steps)", ...
    signatures: list[str]  # "4/4", "3/4", ... in file order (for the report)


def is_four_four(num: int, den: int) -> bool:
    """16 sixteenths per bar: 4 * (4 / den) * num == 16."""
    return num == den


def _bars_text(first: int, count: int) -> str:
    return f"bar {first}" if count == 1 else f"bars {first}-{first + count - 1}"


def split_four_four(ev: SmfEvents) -> MeterSplit | None:
    """None when every bar of the file is 16 steps (read it whole); else its 4/4 parts."""
    if all(is_four_four(n, d) for _, n, d in ev.time_signatures):
        return None
    tpb = ev.ticks_per_beat
    sigs: dict[int, tuple[int, int]] = {}
    for tick, n, d in ev.time_signatures:  # several at one tick: the last one holds
        sigs[tick] = (n, d)
    if 0 not in sigs:
        sigs[0] = (4, 4)
    ticks = sorted(sigs)
    last_note = int(ev.notes[:, 0].max()) + 1 if len(ev.notes) else 0
    file_end = max(ev.end_tick, last_note)
    # Segments of one signature each: (start tick, end tick or None, num, den).
    segments = [
        (t, ticks[i + 1] if i + 1 < len(ticks) else None, *sigs[t]) for i, t in enumerate(ticks)
    ]
    # A 4/4 event on a bar line of the 4/4 stretch before it continues that stretch.
    merged: list[list] = []
    for start, end, n, d in segments:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and is_four_four(n, d)
            and is_four_four(prev[2], prev[3])
            and (start - prev[0]) % (4 * tpb) == 0
        ):
            prev[1] = end
        else:
            merged.append([start, end, n, d])
    parts: list[MeterPart] = []
    dropped: list[str] = []
    bar = 1
    for start, end, n, d in merged:
        stop = file_end if end is None else end
        if n <= 0 or d <= 0:  # a malformed 0/4 signature: its stretch counts as one bar
            if stop > start:
                dropped.append(f"bar {bar} ({n}/{d}: not a time signature)")
                bar += 1
            continue
        bar_ticks = 4 * tpb * n / d
        bars_here = max(0, math.ceil((stop - start) / bar_ticks)) if stop > start else 0
        if not is_four_four(n, d):
            if bars_here:
                dropped.append(f"{_bars_text(bar, bars_here)} ({n}/{d}: bars are not 16 steps)")
            bar += bars_here
            continue
        whole = None if end is None else int((end - start) // (4 * tpb))
        if whole is None or whole > 0:
            parts.append(MeterPart(_sub_events(ev, start, end, whole), start / tpb, bar, whole))
        if whole is not None and whole < bars_here:
            beats = ((end - start) - whole * 4 * tpb) / tpb
            dropped.append(
                f"bar {bar + whole} (a 4/4 bar cut short after {beats:g} beat(s) by a change)"
            )
        bar += bars_here
    labels = [f"{n}/{d}" for _, _, n, d in merged]
    return MeterSplit(parts, dropped, labels)


def _sub_events(ev: SmfEvents, start: int, end: int | None, whole_bars: int | None) -> SmfEvents:
    """The notes (ticks from ``start``) that round onto the stretch's 16th grid."""
    tpb = ev.ticks_per_beat
    notes = ev.notes  # sorted by tick: slice the candidates, then test their rounding
    if len(notes):
        ticks = notes[:, 0]
        lo = int(np.searchsorted(ticks, start - tpb, side="left"))
        hi = len(notes) if end is None else int(np.searchsorted(ticks, end, side="left"))
        notes = notes[lo:hi]
        steps = np.floor((notes[:, 0] - start) / tpb * STEPS_PER_QUARTER + 0.5)
        keep = steps >= 0
        if whole_bars is not None:
            keep &= steps < whole_bars * STEPS_PER_BAR
        notes = notes[keep].copy()
        notes[:, 0] -= start
    tempo_ticks = [t for t, _ in ev.tempos]
    i0 = bisect.bisect_right(tempo_ticks, start)
    i1 = len(tempo_ticks) if end is None else bisect.bisect_left(tempo_ticks, end)
    # SMF: 120 bpm before any tempo event.
    tempos = [(0, ev.tempos[i0 - 1][1] if i0 else 500_000)] + [
        (t - start, us) for t, us in ev.tempos[i0:i1]
    ]
    end_tick = ev.end_tick - start if whole_bars is None else whole_bars * 4 * tpb
    return replace(
        ev,
        notes=notes,
        tempos=tuple(tempos),
        time_signatures=((0, 4, 4),),
        markers=(),
        end_tick=max(0, end_tick),
    )
