"""Magenta's NoteSequence protocol buffer without TensorFlow, note_seq or protoc.

The message is declared here, in code, as a ``FileDescriptorProto`` with the field numbers
of Magenta's ``note_seq/protobuf/music.proto`` (package ``magenta``), in a private descriptor
pool, and compiled by the protobuf library at import. Only the fields GrooveBridge uses are
declared; every other field of a file Magenta wrote (key signatures, control changes, source
info, ...) is kept as an unknown field by protobuf and ignored.

Conversions (``sequence_to_events`` / ``events_to_sequence``) go through ``SmfEvents``, so a
NoteSequence becomes a groove by exactly the rules of a MIDI file (``models.midi.files``):

* Drum notes are those with ``is_drum`` (Magenta sets it for notes on MIDI channel 10);
  they are read as channel-10 notes. Other instruments' notes are counted and skipped.
* Times in seconds become ticks at the sequence's ``ticks_per_quarter`` (220, pretty_midi's
  default, when 0) through its tempo map (120 qpm before the first tempo), so a MIDI file ->
  NoteSequence -> groove gives the same grid as the MIDI file itself.
* ``total_time`` is the end of the sequence (Magenta.js's reading: it may pad past the last
  note); our writer stores the MIDI file's end of track there so loop-exact clips stay exact.
* Written notes are ``is_drum``, program 0, instrument 0, and one 16th long (clipped at the
  end of the file): drum hits have no meaningful length and GrooVAE reads onsets only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from models.midi.smf import SmfEvents

DEFAULT_TICKS_PER_QUARTER = 220  # music.proto: "A default of 220 is assumed" (pretty_midi)
DRUM_CHANNEL = 9
MAX_SECONDS = 24 * 3600.0  # later times (or non-finite ones) are hostile or broken
QPM_RANGE = (1.0, 2000.0)
_F = descriptor_pb2.FieldDescriptorProto

# (name, number, type, label, message type) per message; numbers from Magenta's music.proto.
_MESSAGES: dict[str, list[tuple[str, int, int, int, str]]] = {
    "NoteSequence": [
        ("id", 1, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""),
        ("filename", 2, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""),
        ("collection_name", 3, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""),
        ("ticks_per_quarter", 4, _F.TYPE_INT32, _F.LABEL_OPTIONAL, ""),
        ("time_signatures", 5, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "TimeSignature"),
        ("tempos", 7, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "Tempo"),
        ("notes", 8, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "Note"),
        ("total_time", 9, _F.TYPE_DOUBLE, _F.LABEL_OPTIONAL, ""),
        ("reference_number", 18, _F.TYPE_INT64, _F.LABEL_OPTIONAL, ""),
    ],
    "Note": [
        ("pitch", 1, _F.TYPE_INT32, _F.LABEL_OPTIONAL, ""),
        ("velocity", 2, _F.TYPE_INT32, _F.LABEL_OPTIONAL, ""),
        ("start_time", 3, _F.TYPE_DOUBLE, _F.LABEL_OPTIONAL, ""),
        ("end_time", 4, _F.TYPE_DOUBLE, _F.LABEL_OPTIONAL, ""),
        ("instrument", 7, _F.TYPE_INT32, _F.LABEL_OPTIONAL, ""),
        ("program", 8, _F.TYPE_INT32, _F.LABEL_OPTIONAL, ""),
        ("is_drum", 9, _F.TYPE_BOOL, _F.LABEL_OPTIONAL, ""),
    ],
    "TimeSignature": [
        ("time", 1, _F.TYPE_DOUBLE, _F.LABEL_OPTIONAL, ""),
        ("numerator", 2, _F.TYPE_INT32, _F.LABEL_OPTIONAL, ""),
        ("denominator", 3, _F.TYPE_INT32, _F.LABEL_OPTIONAL, ""),
    ],
    "Tempo": [
        ("time", 1, _F.TYPE_DOUBLE, _F.LABEL_OPTIONAL, ""),
        ("qpm", 2, _F.TYPE_DOUBLE, _F.LABEL_OPTIONAL, ""),
    ],
}


def _build() -> Any:
    fd = descriptor_pb2.FileDescriptorProto(
        name="groovebridge/note_sequence_subset.proto", package="magenta", syntax="proto3"
    )
    top = fd.message_type.add(name="NoteSequence")
    for nested in ("Note", "TimeSignature", "Tempo"):
        top.nested_type.add(name=nested)
    by_name = {"NoteSequence": top, **{m.name: m for m in top.nested_type}}
    for msg_name, fields in _MESSAGES.items():
        for name, number, ftype, label, type_name in fields:
            f = by_name[msg_name].field.add(name=name, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = f".magenta.NoteSequence.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("magenta.NoteSequence"))


NoteSequence = _build()


class NoteSequenceError(ValueError):
    """A record is not a usable NoteSequence (one-line reason)."""


def parse_sequence(record: bytes) -> Any:
    seq = NoteSequence()
    try:
        seq.ParseFromString(record)
    except Exception as e:  # noqa: BLE001 - protobuf raises DecodeError and friends
        raise NoteSequenceError(f"not a NoteSequence ({type(e).__name__}: {e})") from None
    return seq


def sequence_id(filename: str, collection: str) -> str:
    """Magenta's ``note_sequence_io.generate_note_sequence_id`` for a MIDI source."""
    digest = hashlib.sha1(filename.encode("utf-8")).hexdigest()
    return f"/id/midi/{collection}/{digest}"


def _check_times(what: str, times: list[float]) -> None:
    bad = [t for t in times if not 0.0 <= t <= MAX_SECONDS]  # also catches NaN
    if bad:
        raise NoteSequenceError(f"{what} at {bad[0]!r} s is outside 0..{MAX_SECONDS:g} s")


def _tempo_map(seq: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start seconds, start beats, qpm) of each tempo segment, sorted; 120 qpm from 0."""
    _check_times("a tempo", [t.time for t in seq.tempos])
    odd = [t.qpm for t in seq.tempos if not QPM_RANGE[0] <= t.qpm <= QPM_RANGE[1]]
    if odd:
        raise NoteSequenceError(f"tempo {odd[0]!r} qpm is outside {QPM_RANGE[0]:g}-{QPM_RANGE[1]:g}")
    tempos = sorted(((t.time, t.qpm) for t in seq.tempos), key=lambda x: x[0])
    if not tempos or tempos[0][0] > 0:
        tempos.insert(0, (0.0, 120.0))
    secs = np.array([t for t, _ in tempos], np.float64)
    qpm = np.array([q for _, q in tempos], np.float64)
    beats = np.concatenate([[0.0], np.cumsum(np.diff(secs) * qpm[:-1] / 60.0)])
    return secs, beats, qpm


def _to_ticks(times: np.ndarray, tempo: tuple[np.ndarray, ...], tpq: int) -> np.ndarray:
    secs, beats, qpm = tempo
    i = np.clip(np.searchsorted(secs, times, side="right") - 1, 0, None)
    return np.rint((beats[i] + (times - secs[i]) * qpm[i] / 60.0) * tpq).astype(np.int64)


def sequence_to_events(seq: Any) -> tuple[SmfEvents, int]:
    """A NoteSequence as channel-10 ``SmfEvents`` of its drum notes; and the count of other
    instruments' notes skipped."""
    tpq = int(seq.ticks_per_quarter) or DEFAULT_TICKS_PER_QUARTER
    if tpq < 0:
        raise NoteSequenceError(f"ticks_per_quarter {tpq} is negative")
    if tpq > 1_000_000:
        raise NoteSequenceError(f"ticks_per_quarter {tpq} is implausibly large")
    tempo = _tempo_map(seq)
    drums = [n for n in seq.notes if n.is_drum]
    other = len(seq.notes) - len(drums)
    start = np.array([n.start_time for n in drums], np.float64)
    _check_times("a drum note", start.tolist())
    _check_times("a time signature", [s.time for s in seq.time_signatures])
    bad = [n.pitch for n in drums if not 0 <= n.pitch <= 127]
    if bad:
        raise NoteSequenceError(f"drum note pitch {bad[0]} is outside MIDI's 0-127")
    notes = np.zeros((len(drums), 4), np.int64)
    if len(drums):
        notes[:, 0] = _to_ticks(start, tempo, tpq)
        notes[:, 1] = DRUM_CHANNEL
        notes[:, 2] = [n.pitch for n in drums]
        notes[:, 3] = np.clip([n.velocity for n in drums], 0, 127)
        notes = notes[notes[:, 3] > 0]  # a velocity-0 note is no hit (as a MIDI note-off)
        notes = notes[np.argsort(notes[:, 0], kind="stable")]
    tempos = tuple(
        (int(t), int(round(60_000_000.0 / q)))
        for t, q in zip(_to_ticks(tempo[0], tempo, tpq).tolist(), tempo[2].tolist(), strict=True)
    )
    if len(seq.tempos) == 0:
        tempos = ()
    sigs = sorted(
        (int(_to_ticks(np.array([s.time]), tempo, tpq)[0]), int(s.numerator), int(s.denominator))
        for s in seq.time_signatures
    )
    if any(not (0 < n <= 255 and 0 < d <= 128) for _, n, d in sigs):
        raise NoteSequenceError("a time signature's numerator or denominator is out of range")
    total = float(seq.total_time)
    total = total if 0.0 <= total <= MAX_SECONDS else 0.0  # only a length hint: ignore junk
    end_tick = int(_to_ticks(np.array([total]), tempo, tpq)[0])
    if len(notes):
        end_tick = max(end_tick, int(notes[-1, 0]))
    ev = SmfEvents(1, tpq, 1, notes, tempos, tuple(sigs), (), end_tick)
    return ev, other


def events_to_sequence(
    ev: SmfEvents,
    filename: str,
    collection: str,
    channels: Sequence[int] | None = None,
) -> tuple[Any, int]:
    """MIDI events -> a NoteSequence of the notes on the drum ``channels`` (zero-based; None =
    channel 10) as Magenta's converter would store them; and the count of other notes skipped."""
    chans = (DRUM_CHANNEL,) if channels is None else tuple(channels)
    tpq = ev.ticks_per_beat
    seq = NoteSequence(
        id=sequence_id(filename, collection),
        filename=filename,
        collection_name=collection,
        ticks_per_quarter=tpq,
    )
    # Tempo map in ticks -> seconds (120 bpm before the first tempo event, as SMF says).
    tempos = list(ev.tempos) if ev.tempos and ev.tempos[0][0] == 0 else [(0, 500_000), *ev.tempos]
    t_ticks = np.array([t for t, _ in tempos], np.float64)
    t_us = np.array([us for _, us in tempos], np.float64)
    t_secs = np.concatenate([[0.0], np.cumsum(np.diff(t_ticks) * t_us[:-1] / tpq / 1e6)])

    def seconds(ticks: np.ndarray) -> np.ndarray:
        i = np.clip(np.searchsorted(t_ticks, ticks, side="right") - 1, 0, None)
        return t_secs[i] + (ticks - t_ticks[i]) * t_us[i] / tpq / 1e6

    for t, us in ev.tempos:
        seq.tempos.add(time=float(seconds(np.array([t], np.float64))[0]), qpm=60_000_000.0 / us)
    for t, n, d in ev.time_signatures:
        seq.time_signatures.add(
            time=float(seconds(np.array([t], np.float64))[0]), numerator=n, denominator=d
        )
    mask = np.isin(ev.notes[:, 1], chans) if len(ev.notes) else np.zeros(0, bool)
    drums = ev.notes[mask]
    end_tick = max(ev.end_tick, int(drums[:, 0].max()) if len(drums) else 0)
    starts = seconds(drums[:, 0].astype(np.float64))
    ends = seconds(np.minimum(drums[:, 0] + tpq // 4, end_tick).astype(np.float64))
    for (_, _, pitch, vel), s, e in zip(drums.tolist(), starts.tolist(), ends.tolist(), strict=True):
        seq.notes.add(
            pitch=pitch, velocity=vel, start_time=s, end_time=e, instrument=0, program=0,
            is_drum=True,
        )
    seq.total_time = float(seconds(np.array([end_tick], np.float64))[0])
    return seq, int(len(ev.notes) - len(drums))
