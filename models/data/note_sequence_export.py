"""Write Magenta's data files: a MIDI folder (or a NoteSequence TFRecord) -> a TFRecord of
NoteSequence protocol buffers, as ``convert_dir_to_note_sequences`` writes them (``filename``
relative to the folder, ``collection_name`` = the folder's name, Magenta's ``id``), holding
the drum notes only (``models.data.note_sequence`` rules; other instruments are counted).

Unlike the dataset, nothing is quantized or cut: every drum note keeps its exact time and
pitch, all time signatures and tempos are kept, so Magenta (``music_vae_train
--examples_path``) or GrooveBridge can read the file back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.data.io import DatasetError
from models.data.note_sequence import (
    NoteSequenceError,
    events_to_sequence,
    parse_sequence,
    sequence_to_events,
)
from models.data.sources import ProgressCallback, find_midi_files, sequence_name
from models.data.tfrecord import TFRecordError, is_tfrecord_path, read_records, write_records
from models.midi.files import MidiFileError, channel_list, parse_midi


@dataclass
class ExportReport:
    input: str
    output_file: str
    files_found: int = 0
    sequences: int = 0
    drum_notes: int = 0
    other_notes: int = 0  # notes of other channels / instruments, skipped
    skipped_files: list[tuple[str, str, str]] = field(default_factory=list)  # path, reason, message
    seconds: float = 0.0

    def format_table(self, max_listed: int = 20) -> str:
        lines = [
            f"input      {self.input}",
            f"output     {self.output_file} (NoteSequence TFRecord)",
            f"sequences  {self.sequences} written of {self.files_found} found, "
            f"{self.drum_notes} drum notes, {self.seconds:.2f} s",
        ]
        if self.other_notes:
            lines.append(f"skipped    {self.other_notes} note(s) of other instruments")
        if self.skipped_files:
            lines.append(f"skipped    {len(self.skipped_files)} file(s):")
            for path, reason, msg in self.skipped_files[:max_listed]:
                lines.append(f"  {path}: {reason}: {msg}")
            if len(self.skipped_files) > max_listed:
                lines.append(f"  ... and {len(self.skipped_files) - max_listed} more")
        return "\n".join(lines)


def export_note_sequences(
    source: str | Path,
    output_file: str | Path,
    recursive: bool = True,
    channels: int | Sequence[int] | None = None,
    progress: ProgressCallback | None = None,
) -> ExportReport:
    """Write ``output_file`` (atomically); ``DatasetError`` for user mistakes."""
    t0 = time.perf_counter()
    src, out = Path(source), Path(output_file)
    if not out.parent.is_dir():
        raise DatasetError(f"output folder does not exist: {out.parent}")
    try:
        chans = channel_list(
            list(channels) if channels is not None and not isinstance(channels, int) else channels
        )
    except MidiFileError as e:
        raise DatasetError(str(e)) from None
    report = ExportReport(str(src), str(out))
    if src.is_file() and is_tfrecord_path(src):
        if chans is not None:
            raise DatasetError("--channel does not apply to a .tfrecord input (its drums are is_drum)")
        try:
            records = read_records(src)
        except TFRecordError as e:
            raise DatasetError(str(e)) from None
        sequences = _from_tfrecord(records, report, progress)
    elif src.is_dir():
        rel_paths = find_midi_files(src, recursive)
        if not rel_paths:
            where = "in or under" if recursive else "directly in"
            raise DatasetError(f"no MIDI files (.mid, .midi) {where} {src}")
        sequences = _from_folder(src, rel_paths, chans, report, progress)
    else:
        raise DatasetError(f"input not found: {src} (a MIDI folder or a .tfrecord file)")
    write_records(out, sequences)
    report.seconds = time.perf_counter() - t0
    return report


def _from_folder(
    root: Path,
    rel_paths: list[str],
    chans: tuple[int, ...] | None,
    report: ExportReport,
    progress: ProgressCallback | None,
) -> Iterator[bytes]:
    report.files_found = len(rel_paths)
    for i, rel in enumerate(rel_paths):
        if progress and (i % 32 == 0):
            progress(i, len(rel_paths))
        try:
            ev = parse_midi(root / rel)
        except MidiFileError as e:
            report.skipped_files.append((rel, e.reason, str(e)))
            continue
        seq, other = events_to_sequence(ev, rel, root.resolve().name, chans)
        report.other_notes += other
        if not len(seq.notes):
            report.skipped_files.append((rel, "no_drum_notes", _no_drums(chans, other)))
            continue
        report.sequences += 1
        report.drum_notes += len(seq.notes)
        yield seq.SerializeToString()
    if progress:
        progress(len(rel_paths), len(rel_paths))


def _from_tfrecord(
    records: list[bytes], report: ExportReport, progress: ProgressCallback | None
) -> Iterator[bytes]:
    report.files_found = len(records)
    taken: set[str] = set()
    for i, record in enumerate(records):
        try:
            orig = parse_sequence(record)
            ev, other = sequence_to_events(orig)
        except NoteSequenceError as e:
            report.skipped_files.append((sequence_name(None, i, taken), "corrupt", str(e)))
            continue
        name = sequence_name(orig, i, taken)
        report.other_notes += other
        if not len(ev.notes):
            skipped = f" ({other} note(s) of other instruments)" if other else ""
            report.skipped_files.append((name, "no_drum_notes", f"no drum notes (is_drum){skipped}"))
            continue
        seq, _ = events_to_sequence(ev, orig.filename, orig.collection_name)
        seq.id = orig.id or seq.id
        report.sequences += 1
        report.drum_notes += len(seq.notes)
        yield seq.SerializeToString()
        if progress and (i % 64 == 63 or i + 1 == len(records)):
            progress(i + 1, len(records))


def _no_drums(chans: tuple[int, ...] | None, other: int) -> str:
    where = ", ".join(str(c + 1) for c in chans) if chans else "10"
    return f"no drum notes on MIDI channel(s) {where}" + (
        f" ({other} note(s) on other channels)" if other else ""
    )
