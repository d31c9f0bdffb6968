"""Where preprocessing reads grooves from: a MIDI folder (worker processes) or a NoteSequence
TFRecord file (Magenta's ``convert_dir_to_note_sequences`` output, read in this process).

Every source becomes ``SmfEvents`` and then groove *parts* by the same rules: a file that is
4/4 throughout is one part; a file whose time signature changes gives one part per 4/4
stretch (``models.midi.meter``) plus the list of what was not kept and why. Results per source:
``("ok", rel, parts, unknown_pitches, not_kept)`` with parts ``(hits, velocities, offsets,
bpm, origin_beat, first_bar)``, or ``("skip", rel, reason, message)``.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from models.data.io import DatasetError, stays_inside
from models.drum_maps import DrumMap
from models.midi.files import MidiFileError, MidiRead, events_to_groove, parse_midi
from models.midi.meter import split_four_four
from models.midi.smf import SmfEvents

MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")
CHUNK_FILES = 32
ProgressCallback = Callable[[int, int], None]  # (files done, files total)


def find_midi_files(input_dir: Path, recursive: bool) -> list[str]:
    """Relative ``/``-paths of the MIDI files, sorted."""
    pattern = input_dir.rglob("*") if recursive else input_dir.glob("*")
    found = [p for p in pattern if p.suffix.lower() in MIDI_SUFFIXES and p.is_file()]
    return sorted(p.relative_to(input_dir).as_posix() for p in found)


def _part(read: MidiRead, origin_beat: float, first_bar: int) -> tuple:
    g = read.groove
    return (
        g.hits.astype(np.uint8),
        np.rint(g.velocities * 127.0).astype(np.uint8),
        g.offsets,
        read.bpm,
        origin_beat,
        first_bar,
    )


def groove_parts(
    ev: SmfEvents, dmap: DrumMap, channels: tuple[int, ...] | None
) -> tuple[list[tuple], dict[int, int], list[str]]:
    """(parts, unknown pitches, not kept) of one file's events; ``MidiFileError`` when
    nothing of it can be used."""
    split = split_four_four(ev)
    if split is None:
        read = events_to_groove(ev, dmap, channels)
        return [_part(read, 0.0, 1)], read.unknown_pitches, []
    parts: list[tuple] = []
    unknown: Counter[int] = Counter()
    not_kept = list(split.dropped)
    errors: list[MidiFileError] = []
    for p in split.parts:
        try:
            read = events_to_groove(p.events, dmap, channels)
        except MidiFileError as e:
            where = (
                f"bars {p.first_bar}-{p.first_bar + p.num_bars - 1}"
                if p.num_bars
                else f"bars from {p.first_bar}"
            )
            not_kept.append(f"{where} (4/4: {e})")
            errors.append(e)
            continue
        parts.append(_part(read, p.origin_beat, p.first_bar))
        unknown.update(read.unknown_pitches)
    if not parts:
        if errors:
            raise MidiFileError(f"{errors[0]} in any 4/4 part", errors[0].reason)
        sigs = list(dict.fromkeys(split.signatures))
        more = f"; ... and {len(not_kept) - 3} more" if len(not_kept) > 3 else ""
        raise MidiFileError(
            f"no 4/4 bars (signatures {', '.join(sigs[:6])}{', ...' if len(sigs) > 6 else ''}): "
            f"{'; '.join(not_kept[:3])}{more}",
            "time_signature",
        )
    not_kept.sort(key=_bar_of)
    return parts, dict(unknown), not_kept


def _bar_of(text: str) -> int:
    digits = "".join(c if c.isdigit() else " " for c in text).split()
    return int(digits[0]) if digits else 0


def read_events(rel: str, ev: SmfEvents, dmap: DrumMap, channels: tuple[int, ...] | None) -> tuple:
    try:
        parts, unknown, not_kept = groove_parts(ev, dmap, channels)
    except MidiFileError as e:
        return ("skip", rel, e.reason, str(e))
    except Exception as e:  # noqa: BLE001 - a hostile file must never stop the run
        return ("skip", rel, "internal_error", f"{type(e).__name__}: {e}")
    return ("ok", rel, parts, unknown, not_kept)


# ---- a MIDI folder, in worker processes ----------------------------------------------------
def _read_chunk(
    root: str,
    rel_paths: list[str],
    map_name: str,
    map_classes: tuple[tuple[int, ...], ...],
    channels: tuple[int, ...] | None,
) -> list[tuple]:
    dmap = DrumMap(map_name, map_classes)
    out: list[tuple] = []
    for rel in rel_paths:
        try:
            ev = parse_midi(os.path.join(root, rel))
        except MidiFileError as e:
            out.append(("skip", rel, e.reason, str(e)))
            continue
        out.append(read_events(rel, ev, dmap, channels))
    return out


def read_midi_folder(
    root: str,
    rel_paths: list[str],
    dmap: DrumMap,
    channels: tuple[int, ...] | None,
    workers: int,
    progress: ProgressCallback | None,
) -> dict[str, tuple]:
    total = len(rel_paths)
    chunks = [rel_paths[i : i + CHUNK_FILES] for i in range(0, total, CHUNK_FILES)]
    results: dict[str, tuple] = {}
    done = 0
    if progress:
        progress(0, total)

    def read_here(paths: list[str]) -> None:
        nonlocal done
        for i in range(0, len(paths), CHUNK_FILES):
            chunk = paths[i : i + CHUNK_FILES]
            for r in _read_chunk(root, chunk, dmap.name, dmap.classes, channels):
                results[r[1]] = r
            done += len(chunk)
            if progress:
                progress(done, total)

    if workers <= 1 or len(chunks) <= 1:
        read_here(list(rel_paths))
        return results
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context()) as pool:
            futures = [
                pool.submit(_read_chunk, root, c, dmap.name, dmap.classes, channels) for c in chunks
            ]
            for fut in as_completed(futures):
                chunk_results = fut.result()
                for r in chunk_results:
                    results[r[1]] = r
                done += len(chunk_results)
                if progress:
                    progress(done, total)
    except BrokenProcessPool:
        # Workers could not start (e.g. spawn from a script without a __main__ guard): finish
        # the remaining files in this process rather than failing the run.
        read_here([rel for rel in rel_paths if rel not in results])
    return results


def _mp_context() -> multiprocessing.context.BaseContext:
    """fork (fast, no re-import) when this process runs no other Python thread; else spawn,
    which is safe next to threads (the GUI, a trainer)."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


# ---- a NoteSequence TFRecord file ----------------------------------------------------------
def sequence_name(seq: object, index: int, taken: set[str]) -> str:
    """The sequence's ``filename`` when it is a safe relative path, else its record number;
    made unique (``#2``, ``#3``) when several sequences share one."""
    name = str(getattr(seq, "filename", "")).replace("\\", "/")
    if not name or not stays_inside(name):
        name = f"record-{index + 1:06d}"
    base, k = name, 1
    while name in taken:
        k += 1
        name = f"{base}#{k}"
    taken.add(name)
    return name


def read_tfrecord(
    path: Path, dmap: DrumMap, progress: ProgressCallback | None
) -> tuple[list[str], dict[str, tuple], int]:
    """(names in record order, results, notes of other instruments skipped)."""
    from models.data.note_sequence import NoteSequenceError, parse_sequence, sequence_to_events
    from models.data.tfrecord import TFRecordError, read_records

    try:
        records = read_records(path)
    except TFRecordError as e:
        raise DatasetError(str(e)) from None
    if not records:
        raise DatasetError(f"{path} holds no records")
    names: list[str] = []
    results: dict[str, tuple] = {}
    taken: set[str] = set()
    other = 0
    for i, record in enumerate(records):
        try:
            seq = parse_sequence(record)
            name = sequence_name(seq, i, taken)
            ev, skipped = sequence_to_events(seq)
        except NoteSequenceError as e:
            name = sequence_name(None, i, taken)
            results[name] = ("skip", name, "corrupt", f"record {i + 1}: {e}")
            names.append(name)
            continue
        other += skipped
        names.append(name)
        if not len(ev.notes):
            what = f"; {skipped} note(s) of other instruments skipped" if skipped else ""
            results[name] = ("skip", name, "no_drum_notes", f"no drum notes (is_drum){what}")
        else:
            results[name] = read_events(name, ev, dmap, None)
        if progress and (i % 64 == 63 or i + 1 == len(records)):
            progress(i + 1, len(records))
    return names, results, other
