"""Read TensorFlow V2 checkpoints (``<prefix>.index`` + ``<prefix>.data-NNNNN-of-MMMMM``).

No TensorFlow or protobuf dependency. The ``.index`` file is a LevelDB-style sorted table:
data blocks of prefix-compressed key/value entries, an index block pointing at them and a
48-byte footer ending in a magic number; every block is followed by a type byte
(0 = raw, 1 = snappy) and a masked CRC-32C. Under the empty key lies a
``BundleHeaderProto``; every other key is a tensor name whose value is a
``BundleEntryProto`` (dtype, shape, shard, offset, size, masked CRC-32C of the bytes).
Tensor bytes are read lazily from the shards and their CRC is checked.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.data.crc32c import crc32c, unmask

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_BYTES = 48
BLOCK_TRAILER_BYTES = 5

# tensorflow/core/framework/types.proto -> numpy (little-endian)
DTYPES: dict[int, tuple[str, np.dtype]] = {
    1: ("float32", np.dtype("<f4")),
    2: ("float64", np.dtype("<f8")),
    3: ("int32", np.dtype("<i4")),
    4: ("uint8", np.dtype("u1")),
    5: ("int16", np.dtype("<i2")),
    6: ("int8", np.dtype("i1")),
    9: ("int64", np.dtype("<i8")),
    10: ("bool", np.dtype("?")),
    17: ("uint16", np.dtype("<u2")),
    19: ("float16", np.dtype("<f2")),
    22: ("uint32", np.dtype("<u4")),
    23: ("uint64", np.dtype("<u8")),
}
DT_STRING = 7


class TFCheckpointError(Exception):
    """An unreadable or inconsistent checkpoint; the message is one line for the user."""


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lives: dtype code, shape, shard number, byte range, masked CRC."""

    name: str
    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    masked_crc32c: int | None
    sliced: bool = False

    @property
    def dtype_name(self) -> str:
        if self.dtype == DT_STRING:
            return "string"
        return DTYPES[self.dtype][0] if self.dtype in DTYPES else f"dtype#{self.dtype}"


# ---------------------------------------------------------------- protobuf wire format


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise TFCheckpointError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise TFCheckpointError("varint too long")


def parse_message(buf: bytes) -> dict[int, list[int | bytes]]:
    """Decode one protobuf message into {field number: [values]} (ints or raw bytes)."""
    fields: dict[int, list[int | bytes]] = {}
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > len(buf):
                raise TFCheckpointError("truncated fixed64")
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise TFCheckpointError("truncated length-delimited field")
            value = bytes(buf[pos : pos + length])
            pos += length
        elif wire == 5:
            if pos + 4 > len(buf):
                raise TFCheckpointError("truncated fixed32")
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise TFCheckpointError(f"unsupported protobuf wire type {wire}")
        if number == 0:
            raise TFCheckpointError("protobuf field number 0")
        fields.setdefault(number, []).append(value)
    return fields


def _first_int(fields: dict[int, list[int | bytes]], number: int, default: int = 0) -> int:
    values = fields.get(number)
    if not values:
        return default
    value = values[-1]
    if not isinstance(value, int):
        raise TFCheckpointError(f"protobuf field {number} is not an integer")
    return value


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    fields = parse_message(buf)
    if _first_int(fields, 3):
        raise TFCheckpointError("tensor of unknown rank")
    dims = []
    for dim in fields.get(2, []):
        if not isinstance(dim, bytes):
            raise TFCheckpointError("bad TensorShapeProto")
        dims.append(_signed64(_first_int(parse_message(dim), 1)))
    if any(d < 0 for d in dims):
        raise TFCheckpointError("tensor with unknown dimension")
    return tuple(dims)


def _parse_entry(name: str, buf: bytes) -> TensorEntry:
    fields = parse_message(buf)
    shape_raw = fields.get(2, [b""])[-1]
    if not isinstance(shape_raw, bytes):
        raise TFCheckpointError(f"bad shape of {name!r}")
    crc = fields.get(6)
    return TensorEntry(
        name=name,
        dtype=_first_int(fields, 1),
        shape=_parse_shape(shape_raw),
        shard_id=_first_int(fields, 3),
        offset=_signed64(_first_int(fields, 4)),
        size=_signed64(_first_int(fields, 5)),
        masked_crc32c=int(crc[-1]) if crc else None,  # type: ignore[arg-type]
        sliced=bool(fields.get(7)),
    )


# ---------------------------------------------------------------- sorted table (.index)


def _block_handle(buf: bytes, pos: int) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def _read_block(data: bytes, offset: int, size: int, what: str) -> bytes:
    end = offset + size + BLOCK_TRAILER_BYTES
    if offset < 0 or end > len(data):
        raise TFCheckpointError(f"{what} block lies outside the file (truncated index?)")
    contents = data[offset : offset + size]
    kind = data[offset + size]
    stored = struct.unpack_from("<I", data, offset + size + 1)[0]
    if crc32c(data[offset : offset + size + 1]) != unmask(stored):
        raise TFCheckpointError(f"{what} block checksum mismatch (corrupted index)")
    if kind == 0:
        return contents
    if kind == 1:
        raise TFCheckpointError(
            "index uses snappy-compressed blocks, which this reader does not support"
        )
    raise TFCheckpointError(f"{what} block has unknown compression type {kind}")


def _block_entries(block: bytes, what: str) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise TFCheckpointError(f"{what} block too short")
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * num_restarts
    if limit < 0:
        raise TFCheckpointError(f"{what} block has a bad restart array")
    entries: list[tuple[bytes, bytes]] = []
    pos = 0
    key = b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + non_shared + value_len > limit:
            raise TFCheckpointError(f"{what} block entry is corrupted")
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos : pos + value_len]))
        pos += value_len
    return entries


def read_table(data: bytes) -> list[tuple[bytes, bytes]]:
    """All (key, value) pairs of a LevelDB/TensorFlow sorted table, in key order."""
    if len(data) < FOOTER_BYTES:
        raise TFCheckpointError("index file too short to be a TensorFlow checkpoint index")
    footer = data[-FOOTER_BYTES:]
    magic = struct.unpack_from("<Q", footer, FOOTER_BYTES - 8)[0]
    if magic != TABLE_MAGIC:
        raise TFCheckpointError("not a TensorFlow checkpoint index (bad magic number)")
    _, _, pos = _block_handle(footer, 0)  # metaindex handle (unused by TensorFlow)
    index_offset, index_size, _ = _block_handle(footer, pos)
    index_block = _read_block(data, index_offset, index_size, "index")
    entries: list[tuple[bytes, bytes]] = []
    for _, handle in _block_entries(index_block, "index"):
        offset, size, _ = _block_handle(handle, 0)
        entries += _block_entries(_read_block(data, offset, size, "data"), "data")
    keys = [k for k, _ in entries]
    if keys != sorted(keys) or len(set(keys)) != len(keys):
        raise TFCheckpointError("index keys are out of order (corrupted index)")
    return entries


# ---------------------------------------------------------------- checkpoint bundle


def resolve_prefix(path: str | Path) -> Path:
    """``model.ckpt-5``, ``model.ckpt-5.index`` or ``model.ckpt-5.data-…`` -> the prefix."""
    p = Path(path)
    name = p.name
    if name.endswith(".index"):
        return p.with_name(name[: -len(".index")])
    if ".data-" in name:
        return p.with_name(name.split(".data-")[0])
    return p


class TFCheckpoint:
    """A V2 checkpoint bundle: ``entries`` by name, ``read(name)`` -> numpy array."""

    def __init__(self, prefix: str | Path) -> None:
        self.prefix = resolve_prefix(prefix)
        index_path = self.prefix.with_name(self.prefix.name + ".index")
        try:
            data = index_path.read_bytes()
        except FileNotFoundError:
            raise TFCheckpointError(f"checkpoint index not found: {index_path}") from None
        except OSError as e:
            raise TFCheckpointError(f"cannot read {index_path}: {e.strerror}") from None
        self.entries: dict[str, TensorEntry] = {}
        self.num_shards = 1
        try:
            table = read_table(data)
            for key, value in table:
                if key == b"":
                    header = parse_message(value)
                    self.num_shards = _first_int(header, 1, 1)
                    if _first_int(header, 2) != 0:
                        raise TFCheckpointError("big-endian checkpoints are not supported")
                    continue
                name = key.decode("utf-8")
                self.entries[name] = _parse_entry(name, value)
        except TFCheckpointError as e:
            raise TFCheckpointError(f"{index_path.name}: {e}") from None
        except UnicodeDecodeError:
            raise TFCheckpointError(f"{index_path.name}: tensor name is not UTF-8") from None
        if not self.entries:
            raise TFCheckpointError(f"{index_path.name}: the checkpoint holds no tensors")

    def shard_path(self, shard_id: int) -> Path:
        return self.prefix.with_name(
            f"{self.prefix.name}.data-{shard_id:05d}-of-{self.num_shards:05d}"
        )

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: e.shape for name, e in self.entries.items()}

    def read(self, name: str) -> np.ndarray:
        """The tensor ``name`` as a numpy array (CRC-checked)."""
        entry = self.entries.get(name)
        if entry is None:
            raise TFCheckpointError(f"no tensor named {name!r} in the checkpoint")
        if entry.sliced:
            raise TFCheckpointError(f"{name}: partitioned (sliced) variables are not supported")
        if entry.dtype not in DTYPES:
            raise TFCheckpointError(f"{name}: unsupported dtype {entry.dtype_name}")
        dtype = DTYPES[entry.dtype][1]
        count = int(np.prod(entry.shape, dtype=np.int64))
        if count * dtype.itemsize != entry.size:
            raise TFCheckpointError(
                f"{name}: size {entry.size} bytes does not match shape {list(entry.shape)}"
            )
        if not 0 <= entry.shard_id < self.num_shards:
            raise TFCheckpointError(f"{name}: shard {entry.shard_id} out of range")
        path = self.shard_path(entry.shard_id)
        try:
            with path.open("rb") as f:
                f.seek(entry.offset)
                raw = f.read(entry.size)
        except FileNotFoundError:
            raise TFCheckpointError(f"checkpoint data file not found: {path.name}") from None
        except OSError as e:
            raise TFCheckpointError(f"cannot read {path.name}: {e.strerror}") from None
        if len(raw) != entry.size:
            raise TFCheckpointError(
                f"{path.name} is truncated: {name} needs bytes {entry.offset}.."
                f"{entry.offset + entry.size}, file ends early"
            )
        if entry.masked_crc32c is not None and crc32c(raw) != unmask(entry.masked_crc32c):
            raise TFCheckpointError(f"{path.name}: checksum mismatch in tensor {name}")
        return np.frombuffer(raw, dtype=dtype).reshape(entry.shape).copy()
