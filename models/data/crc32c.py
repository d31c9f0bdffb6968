"""CRC-32C (Castagnoli) in numpy, plus TensorFlow's "masked" form, for checkpoint checks.

No compiled dependency: long buffers are split into many equal lanes that are stepped
together one byte at a time (a table lookup vectorised over lanes), then the lane CRCs are
joined with the linear "shift by n zero bytes" operator. About 0.1 s for 16 MB.
"""

from __future__ import annotations

import numpy as np

_POLY_REFLECTED = 0x82F63B78
_MASK_DELTA = 0xA282EAD8
_LANE_MIN_BYTES = 1 << 16  # below this a plain per-byte loop over numpy is fine


def _make_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY_REFLECTED if c & 1 else c >> 1
        table[n] = c
    return table


_TABLE = _make_table()
_TABLE_LIST = [int(v) for v in _TABLE]


def _raw_update(reg: int, data: bytes | memoryview) -> int:
    """Reflected CRC register update without pre/post inversion (pure Python, short data)."""
    table = _TABLE_LIST
    for byte in bytes(data):
        reg = (reg >> 8) ^ table[(reg ^ byte) & 0xFF]
    return reg


def _lane_registers(arr: np.ndarray, lanes: int, lane_len: int) -> np.ndarray:
    """Registers (init 0) of ``lanes`` consecutive chunks of ``lane_len`` bytes each."""
    block = arr[: lanes * lane_len].reshape(lanes, lane_len)
    reg = np.zeros(lanes, dtype=np.uint32)
    table = _TABLE
    for j in range(lane_len):
        reg = (reg >> np.uint32(8)) ^ table[(reg ^ block[:, j]) & np.uint32(0xFF)]
    return reg


def _zero_shift_tables(nbytes: int) -> list[list[int]]:
    """Four 256-entry tables T_k so that shift(reg) = XOR_k T_k[byte k of reg].

    shift(reg) is the register after feeding ``nbytes`` zero bytes (a linear map).
    """
    basis = np.array([1 << b for b in range(32)], dtype=np.uint32)
    reg = basis.copy()
    table = _TABLE
    for _ in range(nbytes):
        reg = (reg >> np.uint32(8)) ^ table[reg & np.uint32(0xFF)]
    images = [int(v) for v in reg]
    tables: list[list[int]] = []
    for k in range(4):
        t = [0] * 256
        for value in range(256):
            acc = 0
            for bit in range(8):
                if value >> bit & 1:
                    acc ^= images[8 * k + bit]
            t[value] = acc
        tables.append(t)
    return tables


def crc32c(data: bytes | bytearray | memoryview | np.ndarray, crc: int = 0) -> int:
    """CRC-32C of ``data``, continuing from a previous ``crc`` (0 to start)."""
    buf = memoryview(data).cast("B") if not isinstance(data, np.ndarray) else data
    arr = np.frombuffer(buf, dtype=np.uint8) if not isinstance(buf, np.ndarray) else buf
    arr = arr.reshape(-1).view(np.uint8)
    reg = (crc ^ 0xFFFFFFFF) & 0xFFFFFFFF
    n = arr.size
    if n < _LANE_MIN_BYTES:
        return _raw_update(reg, arr.tobytes()) ^ 0xFFFFFFFF
    lane_len = max(256, int(np.sqrt(n)) // 4)
    lanes = n // lane_len
    regs = _lane_registers(arr, lanes, lane_len)
    t0, t1, t2, t3 = _zero_shift_tables(lane_len)
    for lane_reg in regs.tolist():
        reg = (
            t0[reg & 0xFF] ^ t1[(reg >> 8) & 0xFF] ^ t2[(reg >> 16) & 0xFF] ^ t3[reg >> 24]
        ) ^ lane_reg
    reg = _raw_update(reg, arr[lanes * lane_len :].tobytes())
    return reg ^ 0xFFFFFFFF


def mask(crc: int) -> int:
    """TensorFlow/LevelDB masked CRC (stored in files so CRCs of CRCs stay distinct)."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def unmask(masked: int) -> int:
    """Inverse of :func:`mask`."""
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF
