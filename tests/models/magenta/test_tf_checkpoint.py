"""The TF V2 checkpoint reader against checkpoints written by TensorFlow's own Saver.

Fixtures in tests/fixtures/magenta/ were made by scripts/make_magenta_fixtures.py in a
throwaway venv with tensorflow-cpu 2.21 (tf.compat.v1.train.Saver, Magenta's variable names,
Adam slots, beta powers, global_step); see the README.md there. No TensorFlow is needed here.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from models.data.crc32c import _raw_update, crc32c, mask, unmask
from models.magenta.importer import expected_shapes, is_optimizer_state
from models.magenta.js import read_magenta_js
from models.magenta.tf_checkpoint import FOOTER_BYTES, TFCheckpoint, TFCheckpointError, read_table
from models.net.config import get_config

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "magenta"
SMALL = FIXTURES / "small_4bar"
SMALL_PREFIX = SMALL / "model.ckpt-1234"
FULL = FIXTURES / "groovae_4bar_full"


def _copy_small(tmp_path: Path) -> Path:
    dest = tmp_path / "small_4bar"
    shutil.copytree(SMALL, dest)
    return dest / "model.ckpt-1234"


# ---------------------------------------------------------------- crc32c


def test_crc32c_known_values() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4: 32 bytes of zeros
    assert crc32c(b"\xff" * 32) == 0x62A8AB43  # RFC 3720 B.4: 32 bytes of 0xff


@pytest.mark.parametrize("n", [65536, 300_001, 1 << 20])
def test_crc32c_lane_path_equals_bytewise(n: int) -> None:
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    assert crc32c(data) == _raw_update(0xFFFFFFFF, data) ^ 0xFFFFFFFF
    assert crc32c(data[1000:], crc32c(data[:1000])) == crc32c(data)


def test_mask_roundtrip() -> None:
    for v in (0, 1, 0xE3069283, 0xFFFFFFFF):
        assert unmask(mask(v)) == v
    assert mask(0) != 0


# ---------------------------------------------------------------- real TF files


def test_reads_small_checkpoint_written_by_tf_saver() -> None:
    ckpt = TFCheckpoint(SMALL_PREFIX)
    assert ckpt.num_shards == 1
    names = set(ckpt.entries)
    config = get_config("groovae_tiny")  # only the names matter here
    for name in expected_shapes(config):
        assert name in names
    optimizer = sorted(n for n in names if is_optimizer_state(n))
    assert "global_step" in optimizer and "beta1_power" in optimizer and "beta2_power" in optimizer
    assert len([n for n in optimizer if n.endswith("/Adam_1")]) == 16
    assert len(names) == 16 * 3 + 3
    assert int(ckpt.read("global_step")) == 1234
    assert ckpt.entries["global_step"].dtype_name == "int64"
    # one Adam step: beta1_power = 0.9 ** 2 after the step
    assert float(ckpt.read("beta1_power")) == pytest.approx(0.81, rel=1e-6)
    assert ckpt.read("encoder/mu/kernel").shape == (32, 8)


def test_tf_values_equal_the_magenta_js_copy() -> None:
    """The TF bundle and the magenta.js shards hold the same tensors (two independent writers)."""
    ckpt = TFCheckpoint(SMALL / "model.ckpt-1234.index")
    js = read_magenta_js(FIXTURES / "small_4bar_js")
    assert len(js) == 16
    for name, value in js.items():
        np.testing.assert_array_equal(ckpt.read(name), value)


def test_full_size_groovae_4bar_index() -> None:
    ckpt = TFCheckpoint(FULL / "model.ckpt-0")
    info = json.loads((FULL / "data_info.json").read_text())
    shapes = ckpt.shapes()
    expected = expected_shapes(get_config("groovae_4bar"))
    for name, shape in expected.items():
        assert shapes[name] == shape, name
    assert (
        sum(int(np.prod(s)) for s in expected.values()) == info["trainable_parameters"] == 4_085_019
    )
    assert len(shapes) == 3 * len(expected) + 3
    spans = sorted((e.offset, e.size) for e in ckpt.entries.values())
    pos = 0
    for offset, size in spans:  # contiguous, non-overlapping, as the Saver lays them out
        assert offset == pos
        pos += size
    assert pos == info["data_bytes"]
    with pytest.raises(TFCheckpointError, match="data file not found"):
        ckpt.read("encoder/mu/kernel")


# ---------------------------------------------------------------- corrupted input


def test_bad_magic(tmp_path: Path) -> None:
    prefix = _copy_small(tmp_path)
    index = prefix.with_name(prefix.name + ".index")
    data = bytearray(index.read_bytes())
    data[-1] ^= 0xFF
    index.write_bytes(bytes(data))
    with pytest.raises(TFCheckpointError, match="bad magic number"):
        TFCheckpoint(prefix)


@pytest.mark.parametrize("where", [0.1, 0.5, 0.8])
def test_flipped_index_byte_fails_crc(tmp_path: Path, where: float) -> None:
    prefix = _copy_small(tmp_path)
    index = prefix.with_name(prefix.name + ".index")
    data = bytearray(index.read_bytes())
    pos = int((len(data) - FOOTER_BYTES) * where)
    data[pos] ^= 0x10
    index.write_bytes(bytes(data))
    with pytest.raises(TFCheckpointError) as e:
        TFCheckpoint(prefix)
    assert "model.ckpt-1234.index" in str(e.value) and "\n" not in str(e.value)


def test_truncated_and_empty_index(tmp_path: Path) -> None:
    prefix = _copy_small(tmp_path)
    index = prefix.with_name(prefix.name + ".index")
    raw = index.read_bytes()
    index.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(TFCheckpointError):
        TFCheckpoint(prefix)
    index.write_bytes(b"")
    with pytest.raises(TFCheckpointError, match="too short"):
        TFCheckpoint(prefix)


def test_snappy_block_is_refused_clearly(tmp_path: Path) -> None:
    """Mark the first data block as snappy-compressed (with a valid CRC): clear refusal."""
    prefix = _copy_small(tmp_path)
    index = prefix.with_name(prefix.name + ".index")
    data = bytearray(index.read_bytes())
    # the first block starts at 0; find its size from the index block's first handle
    entries = read_table(bytes(data))
    assert entries[0][0] == b""  # the BundleHeaderProto sits under the empty key
    from models.magenta.tf_checkpoint import _block_entries, _block_handle, _read_block

    _, _, pos = _block_handle(bytes(data[-FOOTER_BYTES:]), 0)
    index_offset, index_size, _ = _block_handle(bytes(data[-FOOTER_BYTES:]), pos)
    index_block = _read_block(bytes(data), index_offset, index_size, "index")
    offset, size, _ = _block_handle(_block_entries(index_block, "index")[0][1], 0)
    data[offset + size] = 1
    data[offset + size + 1 : offset + size + 5] = struct.pack(
        "<I", mask(crc32c(bytes(data[offset : offset + size + 1])))
    )
    index.write_bytes(bytes(data))
    with pytest.raises(TFCheckpointError, match="snappy"):
        TFCheckpoint(prefix)


def test_truncated_data_shard(tmp_path: Path) -> None:
    prefix = _copy_small(tmp_path)
    shard = prefix.with_name(prefix.name + ".data-00000-of-00001")
    raw = shard.read_bytes()
    shard.write_bytes(raw[: len(raw) // 2])
    ckpt = TFCheckpoint(prefix)  # the index alone is fine
    ckpt.read("beta1_power")  # early tensors are still there
    with pytest.raises(TFCheckpointError, match="truncated"):
        ckpt.read("encoder/sigma/kernel")


def test_flipped_data_byte_fails_tensor_crc(tmp_path: Path) -> None:
    prefix = _copy_small(tmp_path)
    ckpt = TFCheckpoint(prefix)
    entry = ckpt.entries["encoder/mu/kernel"]
    shard = ckpt.shard_path(0)
    raw = bytearray(shard.read_bytes())
    raw[entry.offset + 17] ^= 0x01
    shard.write_bytes(bytes(raw))
    with pytest.raises(TFCheckpointError, match="checksum mismatch in tensor encoder/mu/kernel"):
        ckpt.read("encoder/mu/kernel")


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(TFCheckpointError, match="index not found"):
        TFCheckpoint(tmp_path / "model.ckpt-5")
