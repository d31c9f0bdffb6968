"""TFRecord files without TensorFlow: read and write the record framing with its CRCs.

A TFRecord file is a sequence of records, each framed as::

    uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes
    length bytes of data          | uint32 masked CRC-32C of the data

The CRC-32C and its TensorFlow "masked" form are the ones the checkpoint reader uses
(``models.data.crc32c``). Uncompressed files only (Magenta's ``convert_dir_to_note_sequences``
writes those); a GZIP/ZLIB-compressed file is recognised and refused with a clear line.
Every problem (truncated record, CRC mismatch, not a TFRecord at all) raises
``TFRecordError`` with a one-line message naming the record and byte offset.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from models.atomic_io import atomic_write
from models.data.crc32c import crc32c, mask

SUFFIXES = (".tfrecord", ".tfrecords")
MAX_RECORD_BYTES = 256 * 1024 * 1024
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


class TFRecordError(ValueError):
    """A TFRecord file cannot be read (one-line reason)."""


def is_tfrecord_path(path: str | Path) -> bool:
    """``x.tfrecord``, ``x.tfrecords`` and sharded ``x.tfrecord-00000-of-00010`` names."""
    name = Path(path).name.lower()
    return name.endswith(SUFFIXES) or ".tfrecord-" in name


def frame(data: bytes) -> bytes:
    """One record, framed."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", mask(crc32c(length))) + data + _FOOTER.pack(mask(crc32c(data)))


def iter_records(
    data: bytes | memoryview, name: str = "file", first_index: int = 0, offset: int = 0
) -> Iterator[bytes]:
    """The records of a whole TFRecord file's bytes (or of a piece of it that starts with
    record ``first_index`` at byte ``offset`` of the file), CRC-checked, in order."""
    buf = memoryview(data)
    pos = 0
    index = first_index
    while pos < len(buf):
        where = f"{name}: record {index + 1} at byte {offset + pos}"
        if pos + _HEADER.size > len(buf):
            raise TFRecordError(f"{where}: truncated (the file ends inside a record header)")
        length, length_crc = _HEADER.unpack_from(buf, pos)
        if mask(crc32c(buf[pos : pos + 8])) != length_crc:
            if index == 0:
                raise TFRecordError(f"{name}: {_not_a_tfrecord(bytes(buf[:4]))}")
            raise TFRecordError(f"{where}: length checksum mismatch (corrupted file)")
        if length > MAX_RECORD_BYTES:
            raise TFRecordError(f"{where}: record of {length} bytes is larger than allowed")
        start = pos + _HEADER.size
        end = start + length
        if end + _FOOTER.size > len(buf):
            raise TFRecordError(
                f"{where}: truncated ({length} bytes announced, the file ends after "
                f"{max(0, len(buf) - start)})"
            )
        (data_crc,) = _FOOTER.unpack_from(buf, end)
        record = bytes(buf[start:end])
        if mask(crc32c(record)) != data_crc:
            raise TFRecordError(f"{where}: data checksum mismatch (corrupted file)")
        yield record
        pos = end + _FOOTER.size
        index += 1


def _not_a_tfrecord(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        return "a GZIP-compressed TFRecord is not supported; gunzip it first"
    if head[:1] == b"\x78":
        return "looks ZLIB-compressed; only uncompressed TFRecord files are supported"
    if head[:4] == b"MThd":
        return "is a MIDI file, not a TFRecord (use --input_dir for a MIDI folder)"
    return "not a TFRecord file (the first record's length checksum does not match)"


def iter_file_records(path: str | Path) -> Iterator[bytes]:
    """The records of a file, read one at a time (a large file is never held whole); OS
    errors become ``TFRecordError`` too."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            pos = 0
            index = 0
            while head := fh.read(_HEADER.size):
                chunk = head
                if len(head) == _HEADER.size:
                    length, length_crc = _HEADER.unpack(head)
                    if mask(crc32c(head[:8])) == length_crc and length <= MAX_RECORD_BYTES:
                        chunk += fh.read(length + _FOOTER.size)
                # One framed record, or the damaged rest that the byte parser then names.
                yield from iter_records(chunk, p.name, index, pos)
                pos += len(chunk)
                index += 1
    except FileNotFoundError:
        raise TFRecordError(f"file not found: {p}") from None
    except IsADirectoryError:
        raise TFRecordError(f"{p} is a folder, not a TFRecord file") from None
    except OSError as e:
        raise TFRecordError(f"cannot read {p} ({e.strerror or e})") from None


def read_records(path: str | Path) -> list[bytes]:
    """All records of a file (``iter_file_records``)."""
    return list(iter_file_records(path))


def write_records(path: str | Path, records: Iterable[bytes]) -> int:
    """Write records atomically (temp file in the folder + os.replace); returns the count."""
    count = 0
    with atomic_write(Path(path)) as fh:
        for record in records:
            fh.write(frame(record))
            count += 1
    return count
