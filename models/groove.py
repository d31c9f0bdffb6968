"""The groove representation: hits, velocities and micro-timing on a 16th-note grid.

numpy only (no torch, no mido), so the live engine can quantise input without a network.

A ``Groove`` holds three (T, 9) float32 arrays, T a multiple of 16 (one bar of 4/4):
* ``hits``        1.0 where a drum class is struck at a step, else 0.0
* ``velocities``  MIDI velocity / 127 of that hit (0 where no hit)
* ``offsets``     2 * (grid time - played time) / step length, in (-1, 1]: positive = early

Its tensor form is (T, 27) = [hits | velocities | offsets], the layout GrooVAE reads and
writes. Times here are in beats (quarter notes), never seconds, so tempo maps do not matter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from models.drum_maps import NUM_CLASSES

STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16
BEATS_PER_BAR = 4
FEATURES = 3 * NUM_CLASSES  # 27
EARLY_BEATS = 0.5 / STEPS_PER_QUARTER  # an offset of +1 plays half a 16th early: the earliest a hit starts
MIDI_VELOCITY_MAX = 127


def midi_velocities(hits: np.ndarray, velocities: np.ndarray, min_velocity: int = 1) -> np.ndarray:
    """(T, 9) int16 MIDI velocities of a groove's cells: round(v * 127) clipped to
    ``min_velocity``-127 where a hit plays (hit > 0.5), 0 elsewhere. ``min_velocity=1`` keeps a
    hit audible (a note-on with velocity 0 is a note-off on the wire)."""
    vel = np.clip(np.rint(np.asarray(velocities, np.float64) * MIDI_VELOCITY_MAX), min_velocity, MIDI_VELOCITY_MAX)
    return np.where(np.asarray(hits) > 0.5, vel, 0).astype(np.int16)


def blend_humanized(original: Groove, humanized: Groove, amount: float) -> Groove:
    """Keep the original's hits; move velocities and offsets ``amount`` (0-1) of the way to
    the humanized groove's. Where that groove dropped a hit, its velocity/offset are taken
    as unchanged; a kept hit stays audible (velocity at least 1/127)."""
    amount = float(np.clip(amount, 0.0, 1.0))
    hits = original.hits
    model_hit = humanized.hits > 0.5
    vel_target = np.where(model_hit, humanized.velocities, original.velocities)
    off_target = np.where(model_hit, humanized.offsets, original.offsets)
    vel = (original.velocities + amount * (vel_target - original.velocities)) * hits
    off = (original.offsets + amount * (off_target - original.offsets)) * hits
    vel = np.where(hits > 0.5, np.maximum(vel, 1.0 / MIDI_VELOCITY_MAX), 0.0)
    return Groove(hits, vel.astype(np.float32), off.astype(np.float32), original.bpm)


@dataclass(frozen=True)
class DrumHit:
    """One played note, already mapped to a class. ``beat`` counts quarter notes from 0."""

    beat: float
    drum_class: int
    velocity: int  # MIDI 0-127


@dataclass(frozen=True)
class NoteEvent:
    """One note to play or write: start and length in beats, class, MIDI velocity."""

    start_beats: float
    drum_class: int
    velocity: int
    duration_beats: float = 1.0 / STEPS_PER_QUARTER


@dataclass(frozen=True, eq=False)
class Groove:
    hits: np.ndarray  # (T, 9)
    velocities: np.ndarray  # (T, 9)
    offsets: np.ndarray  # (T, 9)
    bpm: float = 120.0  # tempo the groove was played at (for ms figures and default playback)

    def __post_init__(self) -> None:
        shapes = {self.hits.shape, self.velocities.shape, self.offsets.shape}
        if len(shapes) != 1 or self.hits.ndim != 2 or self.hits.shape[1] != NUM_CLASSES:
            raise ValueError(f"groove arrays must share a (T, {NUM_CLASSES}) shape, got {shapes}")
        for name in ("hits", "velocities", "offsets"):
            # A private copy: freezing the caller's own array in place would surprise them.
            arr = np.array(getattr(self, name), dtype=np.float32, order="C", copy=True)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def empty(cls, num_steps: int = 4 * STEPS_PER_BAR, bpm: float = 120.0) -> Groove:
        z = np.zeros((num_steps, NUM_CLASSES), np.float32)
        return cls(z, z.copy(), z.copy(), bpm)

    @classmethod
    def from_tensor(cls, tensor: np.ndarray, bpm: float = 120.0) -> Groove:
        """From a (T, 27) array [hits | velocities | offsets]. Hits are binarised at 0.5."""
        t = np.asarray(tensor, dtype=np.float32)
        if t.ndim != 2 or t.shape[1] != FEATURES:
            raise ValueError(f"groove tensor must be (T, {FEATURES}), got {t.shape}")
        hits = (t[:, :NUM_CLASSES] > 0.5).astype(np.float32)
        vel = np.clip(t[:, NUM_CLASSES : 2 * NUM_CLASSES], 0.0, 1.0) * hits
        off = np.clip(t[:, 2 * NUM_CLASSES :], -1.0, 1.0) * hits
        return cls(hits, vel, off, bpm)

    def to_tensor(self) -> np.ndarray:
        """(T, 27) float32 [hits | velocities | offsets]."""
        return np.concatenate([self.hits, self.velocities, self.offsets], axis=1)

    # ---- shape ------------------------------------------------------------------------------
    @property
    def num_steps(self) -> int:
        return int(self.hits.shape[0])

    @property
    def num_bars(self) -> int:
        return self.num_steps // STEPS_PER_BAR

    @property
    def num_hits(self) -> int:
        return int(self.hits.sum())

    def window(self, start_bar: int, num_bars: int = 4) -> Groove:
        a, b = start_bar * STEPS_PER_BAR, (start_bar + num_bars) * STEPS_PER_BAR
        if a < 0 or b > self.num_steps:
            raise ValueError(f"bars {start_bar}..{start_bar + num_bars} outside a {self.num_bars}-bar groove")
        return Groove(self.hits[a:b], self.velocities[a:b], self.offsets[a:b], self.bpm)

    def fit_steps(self, num_steps: int) -> Groove:
        """This groove cut or zero-padded to ``num_steps`` (captured/loaded material vs a model)."""
        if self.num_steps == num_steps:
            return self
        if self.num_steps > num_steps:
            return Groove(self.hits[:num_steps], self.velocities[:num_steps], self.offsets[:num_steps], self.bpm)
        pad = np.zeros((num_steps - self.num_steps, NUM_CLASSES), np.float32)
        hits, velocities, offsets = (np.vstack([a, pad]) for a in (self.hits, self.velocities, self.offsets))
        return Groove(hits, velocities, offsets, self.bpm)

    def with_changes(self, **kw: object) -> Groove:
        d = {"hits": self.hits, "velocities": self.velocities, "offsets": self.offsets, "bpm": self.bpm}
        d.update(kw)
        return Groove(**d)  # type: ignore[arg-type]

    def allclose(self, other: Groove, atol: float = 1e-6) -> bool:
        return self.hits.shape == other.hits.shape and bool(
            np.allclose(self.to_tensor(), other.to_tensor(), atol=atol)
        )

    # ---- back to notes -------------------------------------------------------------------------
    def notes(self, min_velocity: int = 1) -> list[tuple[int, int, float, int]]:
        """``(step, class, early, velocity)`` of every hit in step order: ``early`` in 16ths
        (offset / 2 clipped to +-0.5; the note starts at ``step - early``), ``velocity`` MIDI
        (``midi_velocities``). The one groove -> MIDI conversion: notes to write, the live
        player's compiled pattern and the OSC pattern all come from it."""
        steps, classes = np.nonzero(self.hits > 0.5)
        vel = midi_velocities(self.hits, self.velocities, min_velocity)
        return [
            (s, k, float(np.clip(self.offsets[s, k] / 2.0, -0.5, 0.5)), int(vel[s, k]))
            for s, k in zip(steps.tolist(), classes.tolist(), strict=True)
        ]

    def to_events(self) -> list[NoteEvent]:
        """Notes of this groove, sorted by start (beats from the groove's step 0).

        hit > 0.5 plays; velocity round(v*127); start = (step - offset/2) 16ths, so early hits of
        step 0 start before beat 0 (negative). Each note lasts one 16th.
        """
        events = [NoteEvent((s - off) / STEPS_PER_QUARTER, k, vel) for s, k, off, vel in self.notes(min_velocity=0)]
        events.sort(key=lambda e: (e.start_beats, e.drum_class))
        return events


def quantize(hits: Iterable[DrumHit], num_steps: int | None = None, bpm: float = 120.0) -> Groove:
    """Quantise played hits (beats from the pattern start) onto the 16th grid.

    Step = round-half-up(beat * 4); per step and class the loudest note is kept (the first on
    ties); offset = 2 * (step - beat * 4), positive when played early. With ``num_steps`` None the
    grid ends at the end of the bar holding the last hit; otherwise hits outside are ignored.
    """
    hit_list = list(hits)
    if num_steps is None:
        last = max((int(np.floor(h.beat * STEPS_PER_QUARTER + 0.5)) for h in hit_list), default=-1)
        bars = (last + 1 + STEPS_PER_BAR - 1) // STEPS_PER_BAR if last >= 0 else 0
        num_steps = bars * STEPS_PER_BAR
    h = np.zeros((num_steps, NUM_CLASSES), np.float32)
    v = np.zeros_like(h)
    o = np.zeros_like(h)
    best = np.full((num_steps, NUM_CLASSES), -1, np.int32)
    for hit in hit_list:
        pos = hit.beat * STEPS_PER_QUARTER
        s = int(np.floor(pos + 0.5))
        if not 0 <= s < num_steps:
            continue
        k = hit.drum_class
        if hit.velocity > best[s, k]:
            best[s, k] = hit.velocity
            h[s, k] = 1.0
            v[s, k] = hit.velocity / 127.0
            o[s, k] = 2.0 * (s - pos)
    return Groove(h, v, o, bpm)


def quantize_arrays(
    beats: np.ndarray, classes: np.ndarray, velocities: np.ndarray, num_steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised ``quantize`` for whole files: returns (hits, velocities, offsets), (num_steps, 9).

    Same rules: round-half-up steps, loudest note per cell (first on ties), offsets 2*(s - 4*beat).
    """
    pos = np.asarray(beats, np.float64) * STEPS_PER_QUARTER
    steps = np.floor(pos + 0.5).astype(np.int64)
    keep = (steps >= 0) & (steps < num_steps)
    pos, steps = pos[keep], steps[keep]
    cls = np.asarray(classes, np.int64)[keep]
    vel = np.asarray(velocities, np.int64)[keep]
    cell = steps * NUM_CLASSES + cls
    # Sort by cell, then loudest first, then original order: the first row per cell wins.
    order = np.lexsort((np.arange(len(cell)), -vel, cell))
    cell_s = cell[order]
    first = np.ones(len(cell_s), bool)
    first[1:] = cell_s[1:] != cell_s[:-1]
    win = order[first]
    h = np.zeros(num_steps * NUM_CLASSES, np.float32)
    v = np.zeros_like(h)
    o = np.zeros_like(h)
    h[cell[win]] = 1.0
    v[cell[win]] = vel[win] / 127.0
    o[cell[win]] = 2.0 * (steps[win] - pos[win])
    shape = (num_steps, NUM_CLASSES)
    return h.reshape(shape), v.reshape(shape), o.reshape(shape)


def bar_is_empty(groove: Groove, bar: int) -> bool:
    return not groove.hits[bar * STEPS_PER_BAR : (bar + 1) * STEPS_PER_BAR].any()
