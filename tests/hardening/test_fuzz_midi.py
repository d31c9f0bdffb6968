"""Fuzzing the MIDI reader (``models.midi.smf``) and its groove conversion (``models.midi.files``).

The oracle for every input: a ``SmfError`` / ``MidiFileError`` with a one-line reason (and a
known ``reason`` code), or a valid ``MidiRead`` (whole 16-step bars, at most ``MAX_BARS``,
hits 0/1, velocities in [0, 1], offsets in [-1, 1], all finite). Never another exception,
never a hang (a per-example hypothesis deadline plus a pytest-timeout per test), never runaway
memory (tracemalloc peak and max-RSS growth bounded for hostile files).

Inputs: random mutations of real Groove MIDI Dataset files; structurally generated hostile
files (wrong chunk lengths, running status abuse, huge delta times, sysex/meta with bad
lengths, notes with no note-off, odd headers); and fixed cases (every truncation point of a
real file, thousands of tracks, zero PPQ). The default run keeps ``max_examples`` small
(~10-20 s in all); ``GROOVEBRIDGE_FUZZ_EXAMPLES=N`` raises every hypothesis test to N examples
(``scripts/fuzz.sh``). ``fuzz/atheris_midi.py`` is the coverage-guided companion.
"""

from __future__ import annotations

import os
import resource
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.drum_maps import ROLAND
from models.midi.files import MAX_BARS, MidiFileError, MidiRead, events_to_groove, read_midi
from models.midi.smf import SmfError, parse_smf
from tests.hardening.helpers import END_OF_TRACK, smf, varlen
from tests.models.mido_reference import mido_events

FUZZ_EXAMPLES = int(os.environ.get("GROOVEBRIDGE_FUZZ_EXAMPLES", "0"))
TIMEOUT_SEC = max(120, FUZZ_EXAMPLES // 20)  # hang guard per test (pytest-timeout)
REASONS = {"corrupt", "no_drum_notes", "time_signature", "too_long"}
SEED_FILES = 8  # the smallest GMD files, as mutation seeds (fast to parse)


def fuzz_settings(default_examples: int) -> settings:
    return settings(
        max_examples=FUZZ_EXAMPLES or default_examples,
        deadline=5000,  # ms per example: a slow path is a finding, a hang also trips the timeout
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large],
        derandomize=not FUZZ_EXAMPLES,  # the default run is reproducible; long runs explore
    )


def check_outcome(data: bytes) -> str:
    """Parse + convert ``data``; assert the oracle; return the outcome ("ok" or a reason)."""
    try:
        ev = parse_smf(data)
    except SmfError as e:
        _assert_one_line(e)
        return "corrupt"
    assert ev.ticks_per_beat > 0 and ev.notes.ndim == 2 and ev.notes.shape[1] == 4
    try:
        read = events_to_groove(ev, ROLAND)
    except MidiFileError as e:
        _assert_one_line(e)
        assert e.reason in REASONS, e.reason
        return e.reason
    _assert_valid(read)
    return "ok"


def _assert_one_line(e: Exception) -> None:
    text = str(e)
    assert text and "\n" not in text and len(text) < 500, text


def _assert_valid(read: MidiRead) -> None:
    g = read.groove
    assert g.hits.shape == g.velocities.shape == g.offsets.shape
    t = g.hits.shape[0]
    assert g.hits.shape[1] == 9 and t > 0 and t % 16 == 0 and t <= MAX_BARS * 16
    assert set(np.unique(g.hits).tolist()) <= {0.0, 1.0}
    for arr in (g.velocities, g.offsets):
        assert np.isfinite(arr).all()
    assert g.velocities.min() >= 0.0 and g.velocities.max() <= 1.0
    assert np.abs(g.offsets).max() <= 1.0 + 1e-6
    assert g.hits.sum() >= 1 and read.num_notes >= g.hits.sum()
    assert np.isfinite(read.bpm) and read.bpm > 0


# ---- seeds -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seeds(gmd_dir: Path) -> list[bytes]:
    files = sorted(gmd_dir.rglob("*.mid"), key=lambda p: (p.stat().st_size, p.name))[:SEED_FILES]
    out = [p.read_bytes() for p in files]
    assert all(check_outcome(b) in ("ok", "time_signature") for b in out)  # real files are fine
    return out


_mutation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 16)),
    st.tuples(st.just("length"), st.integers(0, 10**6), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("splice"), st.integers(0, 10**6), st.integers(0, 10**6)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
)


def mutate(raw: bytes, ops: list[tuple]) -> bytes:
    b = bytearray(raw)
    for kind, pos, arg in ops:
        if not b:
            break
        i = pos % len(b)
        if kind == "set":
            b[i] = arg
        elif kind == "insert":
            b[i:i] = arg
        elif kind == "delete":
            del b[i : i + arg]
        elif kind == "length":  # overwrite 4 bytes, e.g. a chunk length
            b[i : i + 4] = arg.to_bytes(4, "big")
        elif kind == "splice":  # duplicate a stretch elsewhere (repeated events, chunks)
            j = arg % len(b)
            b[i:i] = b[j : j + 64]
        else:
            del b[i:]
    return bytes(b)


@pytest.mark.timeout(TIMEOUT_SEC)
@fuzz_settings(400)
@given(which=st.integers(0, SEED_FILES - 1), ops=st.lists(_mutation, min_size=1, max_size=6))
def test_mutated_real_gmd_files(seeds: list[bytes], which: int, ops: list[tuple]) -> None:
    check_outcome(mutate(seeds[which % len(seeds)], ops))


# ---- structurally hostile files ------------------------------------------------------------------
_delta = st.one_of(st.integers(0, 200), st.integers(0, 0x0FFFFFFF), st.just(0x0FFFFFFF))
_byte7 = st.integers(0, 127)
_pitch = st.one_of(st.sampled_from([36, 38, 42, 46, 51, 49, 45, 48, 50, 22, 26]), _byte7)
_velocity = st.one_of(st.integers(1, 127), st.just(0))  # 0: a note-off
_valid_event = st.one_of(
    st.tuples(st.sampled_from([0x80, 0x90, 0xA0, 0xB0, 0xE0]), st.integers(0, 15), _byte7, _byte7)
    .map(lambda t: bytes([t[0] | t[1], t[2], t[3]])),
    st.tuples(st.sampled_from([0xC0, 0xD0]), st.integers(0, 15), _byte7)
    .map(lambda t: bytes([t[0] | t[1], t[2]])),
    st.tuples(_pitch, _velocity).map(lambda t: bytes([0x99, *t])),  # drums
    st.tuples(_pitch, _velocity).map(bytes),  # running status
    st.tuples(_pitch, _velocity).map(bytes),
    st.tuples(st.sampled_from([1, 3, 5, 0x7F]), st.binary(max_size=8))
    .map(lambda t: b"\xff" + bytes([t[0]]) + varlen(len(t[1])) + t[1]),  # text-like meta
    st.integers(1, 0xFFFFFF).map(lambda us: b"\xff\x51\x03" + us.to_bytes(3, "big")),  # tempo
    st.sampled_from([(4, 2), (2, 1), (8, 3), (3, 2)])
    .map(lambda t: b"\xff\x58\x04" + bytes([t[0], t[1], 24, 8])),  # time signatures
    st.lists(_byte7, max_size=6).map(bytes)
    .map(lambda d: b"\xf0" + varlen(len(d) + 1) + d + b"\xf7"),  # sysex
    st.just(b"\xff\x06\x13groovebridge:origin"),
)
_broken_event = st.one_of(
    st.tuples(st.integers(0x80, 0xEF), st.integers(0, 255), st.integers(0, 255)).map(bytes),
    st.tuples(st.integers(0, 127), st.integers(0, 2**28 - 1), st.binary(max_size=4))
    .map(lambda t: b"\xff" + bytes([t[0]]) + varlen(t[1]) + t[2]),  # meta with a wrong length
    st.tuples(st.sampled_from([0xF0, 0xF7]), st.integers(0, 2**28 - 1), st.binary(max_size=4))
    .map(lambda t: bytes([t[0]]) + varlen(t[1]) + t[2]),  # sysex with a wrong length
    st.sampled_from([b"\xf1", b"\xf8", b"\xfe", b"\xff", b"\xff\x51\x03\x00\x00\x00",
                     b"\xff\x58\x04\x04\x09\x18\x08", b"\x80\x80\x80\x80\x80"]),
)


@st.composite
def _track(draw: st.DrawFn, dirty: bool) -> bytes:
    """Valid events (running status included); in a dirty file, maybe 1-3 broken ones."""
    events = draw(st.lists(st.tuples(_delta, _valid_event), max_size=40))
    status = 0  # running status needs a channel status with two data bytes before it
    for i, (delta, ev) in enumerate(events):
        if ev[0] < 0x80 and (not status or status & 0xF0 in (0xC0, 0xD0)):
            ev = b"\x99" + ev
            events[i] = (delta, ev)
        if 0x80 <= ev[0] < 0xF0:
            status = ev[0]
        elif ev[0] in (0xF0, 0xF7):  # a sysex cancels running status (SMF spec; mido would
            status = 0  # read the next data bytes as sysex)
    if dirty and draw(st.booleans()):
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(events)))
            events.insert(i, (draw(_delta), draw(_broken_event)))
    return b"".join(varlen(d) + e for d, e in events)


@st.composite
def clean_files(draw: st.DrawFn) -> bytes:
    """Well-formed files of valid events only (the differential test against mido)."""
    tracks = draw(st.lists(_track(False), min_size=1, max_size=4))
    tracks[0] = b"\x00\x99\x24\x64" + tracks[0]  # at least one kick
    return smf([t + END_OF_TRACK for t in tracks], fmt=draw(st.sampled_from([1, 0])),
               ppq=draw(st.sampled_from([96, 1, 480, 0x7FFF])))


@st.composite
def hostile_files(draw: st.DrawFn) -> bytes:
    dirty = draw(st.integers(0, 2)) == 0  # a third of the files hold broken events
    tracks = draw(st.lists(_track(dirty), min_size=0, max_size=5))
    tracks = [t + END_OF_TRACK if draw(st.booleans()) else t for t in tracks]
    odd_header = draw(st.integers(0, 3)) == 0  # a quarter of the files: odd header fields
    data = smf(
        tracks,
        fmt=draw(st.sampled_from([1, 0, 2, 3, 0xFFFF] if odd_header else [1, 0])),
        ppq=draw(st.one_of(st.sampled_from([96, 1, 480, 0x7FFF, 0, 0x8000, 0xE728]),
                           st.integers(0, 0xFFFF)) if odd_header else st.sampled_from([96, 1, 480])),
        num_tracks=draw(st.one_of(st.none(), st.integers(0, 0xFFFF))) if odd_header else None,
    )
    if draw(st.integers(0, 4)) == 0:  # a wrong length in the header or a track chunk
        fields = [4] + [18 + 8 * i + sum(len(t) for t in tracks[:i]) for i in range(len(tracks))]
        pos = draw(st.sampled_from(fields))
        length = int.from_bytes(data[pos : pos + 4], "big")
        wrong = draw(st.one_of(st.integers(-8, 8).map(lambda d: max(0, length + d)),
                               st.integers(0, 2**32 - 1)))
        data = data[:pos] + wrong.to_bytes(4, "big") + data[pos + 4 :]
    return data


@pytest.mark.timeout(TIMEOUT_SEC)
@fuzz_settings(600)
@given(data=hostile_files())
def test_structurally_hostile_files(data: bytes) -> None:
    check_outcome(data)


@pytest.mark.timeout(TIMEOUT_SEC)
@fuzz_settings(150)
@given(deltas=st.lists(st.integers(0, 0x0FFFFFFF), min_size=1, max_size=200),
       ppq=st.integers(1, 0x7FFF))
def test_huge_delta_times_stay_bounded(deltas: list[int], ppq: int) -> None:
    """Notes spaced by up to 2**28 ticks: too_long or a groove of at most MAX_BARS bars."""
    body = b"".join(varlen(d) + b"\x99\x24\x64" for d in deltas)
    check_outcome(smf([body + varlen(0x0FFFFFFF) + b"\xff\x2f\x00"], ppq=ppq))


@pytest.mark.timeout(TIMEOUT_SEC)
@fuzz_settings(300)
@given(data=clean_files())
def test_well_formed_files_read_exactly_as_mido_reads_them(data: bytes) -> None:
    """Differential oracle: running status, huge deltas, sysex, metas, many tracks."""
    ev = parse_smf(data)
    _, notes, tempos, sigs = mido_events(data)
    assert [tuple(n) for n in ev.notes.tolist()] == notes
    assert list(ev.tempos) == tempos
    assert list(ev.time_signatures) == sigs
    check_outcome(data)


# ---- fixed hostile cases -------------------------------------------------------------------------
def _peaks(fn) -> tuple[int, int]:
    """(tracemalloc peak bytes, max-RSS growth KiB) while running ``fn``."""
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0


def test_huge_delta_file_memory_is_bounded() -> None:
    """A 40 KB file of 10,000 notes 2**28 ticks apart (ppq 1): refused as too_long without
    building its ~10**12-step grid. The end-of-track variant (one note, then a 2**28-tick
    silence, many times over) is capped at MAX_BARS bars."""
    far_notes = smf([b"".join(b"\xff\xff\xff\x7f\x99\x24\x64" for _ in range(10_000))], ppq=1)
    assert check_outcome(far_notes) == "too_long"
    peak, rss = _peaks(lambda: check_outcome(far_notes))
    assert peak < 32 * 2**20 and rss < 100_000, (peak, rss)
    long_silence = smf([b"\x00\x99\x24\x64" + b"\xff\xff\xff\x7f\xff\x01\x00" * 1000 + END_OF_TRACK],
                       ppq=1)
    ev = parse_smf(long_silence)
    read = events_to_groove(ev, ROLAND)
    assert read.groove.num_bars == MAX_BARS and read.groove.hits.sum() == 1
    peak, rss = _peaks(lambda: events_to_groove(parse_smf(long_silence), ROLAND))
    assert peak < 64 * 2**20 and rss < 200_000, (peak, rss)


def test_every_truncation_of_a_real_file(seeds: list[bytes]) -> None:
    raw = seeds[0]
    outcomes = {check_outcome(raw[:cut]) for cut in range(0, len(raw), max(1, len(raw) // 1500))}
    assert "corrupt" in outcomes


def test_thousands_of_tracks(tmp_path: Path) -> None:
    """5,000 one-note tracks merge into one groove; a header that promises 65,535 tracks but
    holds 3 is a truncation error; 65,535 empty tracks are 'no notes'."""
    many = smf([varlen(i * 24) + bytes([0x99, 36 + i % 8, 100]) + END_OF_TRACK for i in range(5000)])
    path = tmp_path / "many.mid"
    path.write_bytes(many)
    read = read_midi(path)
    assert read.groove.hits.sum() > 0
    assert read.num_notes + sum(read.unknown_pitches.values()) == 5000
    promised = smf([END_OF_TRACK] * 3, num_tracks=0xFFFF)
    with pytest.raises(SmfError, match="announces 65535 tracks, found 3"):
        parse_smf(promised)
    assert check_outcome(smf([END_OF_TRACK] * 0xFFFF)) == "no_drum_notes"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (smf([b"\x00\x99\x24\x64" + END_OF_TRACK], ppq=0), "zero ticks per beat"),
        (smf([b"\x00\x24\x64" + END_OF_TRACK]), "running status without a preceding status byte"),
        (smf([b"\x00\x99\xa4\x64" + END_OF_TRACK]), "note data byte above 127"),
        (smf([b"\x00\xf1\x00" + END_OF_TRACK]), "unexpected status byte 0xF1"),
        (smf([b"\x00\xff\x51\x03\x00\x00\x00" + END_OF_TRACK]), "zero microseconds per beat"),
        (smf([b"\x00\xff\x58\x04\x04\x09\x18\x08" + END_OF_TRACK]), "not a note value"),
        (smf([b"\x00\xff\x01\x7f\x41"]), "truncated meta event"),
        (smf([b"\x00\xf0\x8f\xff\xff\x7f\x00"]), "truncated MIDI data"),
        (smf([b"\x00\x99\x24"]), "truncated"),
    ],
)
def test_hostile_details_give_their_reason(data: bytes, message: str) -> None:
    with pytest.raises(SmfError, match=message):
        parse_smf(data)


def test_notes_without_note_off_and_running_status_are_read() -> None:
    """Note-ons only (no note-off ever), in running status, are the normal drum case."""
    body = b"\x00\x99\x24\x64" + b"".join(b"\x18\x26\x50" for _ in range(63)) + END_OF_TRACK
    read = events_to_groove(parse_smf(smf([body], ppq=96)), ROLAND)
    assert read.num_notes == 64 and read.groove.hits.sum() == 64
