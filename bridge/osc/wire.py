"""OSC bytes on the wire, fast paths for the live server: message encoding, address peeking.

``encode_message`` makes the same bytes as python-osc's ``build_msg`` for the argument types
the server sends (int32, float32, string, blob) in about a quarter of the time, and hands
anything else to python-osc. ``message_address`` reads a raw message's address without
parsing it, so unknown addresses are dropped before any parsing (``bridge.osc.intake``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from pythonosc.osc_message_builder import build_msg

_INT32 = struct.Struct(">i")
_FLOAT32 = struct.Struct(">f")


def _osc_string(raw: bytes) -> bytes:
    return raw + b"\0" * (4 - len(raw) % 4)


def encode_message(address: str, args: Sequence[Any]) -> bytes:
    """One OSC message as bytes, as python-osc's ``build_msg`` makes it, about 4x faster for
    the argument types we send (int32, float, str, bytes); other types go to python-osc."""
    tags, body = [","], []
    try:
        for a in args:
            kind = type(a)
            if kind is float:
                tags.append("f")
                body.append(_FLOAT32.pack(a))
            elif kind is int and a.bit_length() <= 31:  # python-osc's rule: else int64
                tags.append("i")
                body.append(_INT32.pack(a))
            elif kind is str:
                tags.append("s")
                body.append(_osc_string(a.encode("utf-8")))
            elif kind is bytes:
                tags.append("b")
                body.append(_INT32.pack(len(a)) + a + b"\0" * (-len(a) % 4))
            else:
                return build_msg(address, args).dgram
        return _osc_string(address.encode("utf-8")) + _osc_string("".join(tags).encode()) + b"".join(body)
    except (struct.error, OverflowError):
        return build_msg(address, args).dgram


def message_address(data: bytes) -> str | None:
    """The address of a raw OSC message (None when the bytes are not an OSC message)."""
    end = data.find(b"\0")
    if end <= 0:
        return None
    try:
        return data[:end].decode("ascii")
    except UnicodeDecodeError:
        return None
