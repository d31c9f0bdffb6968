"""A small, fast Standard MIDI File reader for the events a drum groove needs.

mido builds one Python object per message, which dominates preprocessing time (the Groove
MIDI Dataset has ~1.4 M messages, most of them hi-hat pedal CCs). This reader walks the raw
bytes once and keeps only what GrooveBridge uses: note-ons (velocity > 0; a velocity-0
note-on is a note-off, as in mido), tempo, time-signature and marker meta events. Everything
else is skipped by length. ``tests/models/midi/test_midi_files.py`` checks it against mido on every
GMD file.

Malformed or hostile input (truncated chunks, bad lengths, zero or SMPTE division, over-long
delta times, running status without a status byte, files over ``MAX_FILE_BYTES``) raises
``SmfError`` with a one-line reason; no other exception escapes ``parse_smf``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_FILE_BYTES = 64 * 1024 * 1024
MARKER_META = 0x06
TEMPO_META = 0x51
TIME_SIGNATURE_META = 0x58
END_OF_TRACK_META = 0x2F


class SmfError(ValueError):
    """The bytes are not a usable Standard MIDI File (one-line reason)."""


@dataclass(frozen=True)
class SmfEvents:
    """What ``parse_smf`` keeps. Ticks are absolute, merged over all tracks."""

    format: int
    ticks_per_beat: int
    num_tracks: int
    notes: np.ndarray  # (N, 4) int64 [tick, channel 0-15, pitch, velocity], sorted by tick (stable)
    tempos: tuple[tuple[int, int], ...]  # (tick, microseconds per beat), sorted by tick
    time_signatures: tuple[tuple[int, int, int], ...]  # (tick, numerator, denominator)
    markers: tuple[tuple[int, str], ...]  # (tick, text) of marker meta events
    end_tick: int = 0  # tick of the latest end-of-track (or last event) over all tracks


def read_smf(path: str | Path) -> SmfEvents:
    """Read and parse a file; OS errors and oversize files become ``SmfError`` too."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SmfError(
                f"file is {size} bytes, more than the {MAX_FILE_BYTES} a MIDI file may have here"
            )
        data = p.read_bytes()
    except FileNotFoundError:
        raise SmfError(f"file not found: {p}") from None
    except IsADirectoryError:
        raise SmfError("is a directory, not a MIDI file") from None
    except OSError as e:
        raise SmfError(f"cannot read file ({e.strerror or e})") from None
    return parse_smf(data)


def parse_smf(data: bytes) -> SmfEvents:
    try:
        return _parse(data)
    except SmfError:
        raise
    except IndexError:
        raise SmfError("truncated MIDI data (an event runs past the end of its track)") from None
    except (ValueError, OverflowError, UnicodeError) as e:  # pragma: no cover - defensive
        raise SmfError(f"malformed MIDI data ({e})") from None


def _parse(data: bytes) -> SmfEvents:
    if len(data) < 14 or data[:4] != b"MThd":
        if data[:4] == b"RIFF":
            raise SmfError("RIFF MIDI (.rmi) is not supported; export a plain .mid file")
        raise SmfError("not a MIDI file (no MThd header)")
    header_len = int.from_bytes(data[4:8], "big")
    if header_len < 6 or 8 + header_len > len(data):
        raise SmfError(f"bad MIDI header length {header_len}")
    fmt = int.from_bytes(data[8:10], "big")
    num_tracks = int.from_bytes(data[10:12], "big")
    division = int.from_bytes(data[12:14], "big")
    if fmt > 2:
        raise SmfError(f"unknown MIDI file format {fmt}")
    if division & 0x8000:
        raise SmfError("SMPTE time division is not supported (needs ticks per beat)")
    if division == 0:
        raise SmfError("zero ticks per beat in the MIDI header")
    pos = 8 + header_len
    tracks_read = 0
    end_tick = 0
    note_lists: list[list[tuple[int, int, int, int]]] = []
    tempos: list[tuple[int, int]] = []
    sigs: list[tuple[int, int, int]] = []
    markers: list[tuple[int, str]] = []
    while tracks_read < num_tracks:
        if pos + 8 > len(data):
            raise SmfError(f"truncated: header announces {num_tracks} tracks, found {tracks_read}")
        chunk_id = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        start = pos + 8
        if start + length > len(data):
            raise SmfError(
                f"truncated: chunk of {length} bytes at byte {pos} runs past the end of the file"
            )
        pos = start + length
        if chunk_id != b"MTrk":
            continue  # unknown chunks are skipped, as the SMF spec says
        notes: list[tuple[int, int, int, int]] = []
        end_tick = max(end_tick, _parse_track(data[start:pos], notes, tempos, sigs, markers))
        note_lists.append(notes)
        tracks_read += 1
    flat = [n for lst in note_lists for n in lst]
    arr = np.array(flat, dtype=np.int64).reshape(-1, 4)
    if len(arr):
        arr[:, 1] &= 0x0F  # status byte -> channel
        if len(note_lists) > 1:
            arr = arr[np.argsort(arr[:, 0], kind="stable")]
    tempos.sort(key=lambda t: t[0])
    sigs.sort(key=lambda t: t[0])
    markers.sort(key=lambda t: t[0])
    return SmfEvents(
        fmt, division, tracks_read, arr, tuple(tempos), tuple(sigs), tuple(markers), end_tick
    )


def _parse_track(
    trk: bytes,
    notes: list[tuple[int, int, int, int]],
    tempos: list[tuple[int, int]],
    sigs: list[tuple[int, int, int]],
    markers: list[tuple[int, str]],
) -> int:
    """One MTrk chunk; returns its end tick. Hot loop: keep it flat (every branch here costs GMD-wide seconds)."""
    n = len(trk)
    pos = 0
    tick = 0
    status = 0
    append = notes.append
    while pos < n:
        b = trk[pos]
        pos += 1
        if b < 0x80:
            tick += b
        else:
            delta = b & 0x7F
            for _ in range(3):
                b = trk[pos]
                pos += 1
                delta = (delta << 7) | (b & 0x7F)
                if b < 0x80:
                    break
            else:
                raise SmfError("bad delta time (longer than 4 bytes)")
            tick += delta
        b = trk[pos]
        if b >= 0xF0:
            pos += 1
            if b == 0xFF:
                meta_type = trk[pos]
                pos += 1
                length, pos = _varlen(trk, pos)
                end = pos + length
                if end > n:
                    raise SmfError("truncated meta event")
                if meta_type == END_OF_TRACK_META:
                    return tick
                if meta_type == TEMPO_META and length >= 3:
                    usec = int.from_bytes(trk[pos : pos + 3], "big")
                    if usec == 0:
                        raise SmfError("tempo event with zero microseconds per beat")
                    tempos.append((tick, usec))
                elif meta_type == TIME_SIGNATURE_META and length >= 2:
                    if trk[pos + 1] > 7:
                        raise SmfError(
                            f"time signature denominator 2**{trk[pos + 1]} is not a note value"
                        )
                    sigs.append((tick, trk[pos], 1 << trk[pos + 1]))
                elif meta_type == MARKER_META:
                    markers.append((tick, trk[pos:end].decode("latin-1")))
                pos = end
            elif b == 0xF0 or b == 0xF7:
                length, pos = _varlen(trk, pos)
                pos += length
            else:
                raise SmfError(f"unexpected status byte 0x{b:02X} in a track")
            continue
        if b >= 0x80:
            status = b
            pos += 1
        elif not status:
            raise SmfError("running status without a preceding status byte")
        hi = status & 0xF0
        if hi == 0x90:
            pitch = trk[pos]
            vel = trk[pos + 1]
            if (pitch | vel) & 0x80:
                raise SmfError("note data byte above 127")
            if vel:
                append((tick, status, pitch, vel))
            pos += 2
        elif hi == 0xC0 or hi == 0xD0:
            pos += 1
        else:
            pos += 2
    if pos > n:
        raise SmfError("truncated MIDI data (last event runs past the end of its track)")
    return tick


def _varlen(buf: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for _ in range(4):
        b = buf[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, pos
    raise SmfError("bad variable-length quantity (longer than 4 bytes)")
