"""The oracle for the fast SMF reader: a file's notes, tempos and time signatures as mido reads them."""

from __future__ import annotations

import io

import mido


def mido_events(data: bytes) -> tuple[mido.MidiFile, list, list, list]:
    """(the mido file, notes (tick, channel, pitch, velocity), tempos (tick, us per beat), time
    signatures (tick, numerator, denominator)), merged over tracks like ``models.midi.smf``: sorted by
    tick, track order kept on ties."""
    mid = mido.MidiFile(file=io.BytesIO(data))
    notes, tempos, sigs = [], [], []
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                notes.append((tick, msg.channel, msg.note, msg.velocity))
            elif msg.type == "set_tempo":
                tempos.append((tick, msg.tempo))
            elif msg.type == "time_signature":
                sigs.append((tick, msg.numerator, msg.denominator))
    key = lambda e: e[0]  # noqa: E731 - stable sort by tick
    return mid, sorted(notes, key=key), sorted(tempos, key=key), sorted(sigs, key=key)
