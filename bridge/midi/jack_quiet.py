"""libjack's own stderr lines, routed to our log instead (trial finding 7).

libjack prints to stderr whatever it has to say: while no JACK server runs, every probe that
tries to open a client (our port watch, rtmidi's ports, the C frame reader, the preview's
audio client) prints about five lines ("Cannot connect to server socket", "jack server is not
running or cannot be started", "JackShmReadWritePtr::~JackShmReadWritePtr - Init not done ...")
and the engine probes once a second: a thousand lines in four minutes, burying our own
one-line reports. ``quiet_libjack()`` points libjack's error and info functions (process-wide:
one libjack is loaded per process, shared by ctypes, rtmidi and JACK-Client) at a handler that
logs them at debug level (``bridge.midi.libjack``; ``--verbose`` style logging still shows
them). What the user needs to know is said by the engine itself ("no JACK server is running:
MIDI ports will open as soon as one starts ...").

Without libjack it does nothing. Safe to call any number of times.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from typing import Any

log = logging.getLogger("bridge.midi.libjack")

_MESSAGE = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
_lock = threading.Lock()
_handlers: list[Any] = []  # the C callbacks stay alive for good (libjack keeps their address)
_quiet = False


def _to_log(message: bytes | None) -> None:
    try:
        log.debug("libjack: %s", (message or b"").decode("utf-8", "replace"))
    except Exception:  # noqa: BLE001 - never raise into libjack
        pass


def quiet_libjack() -> bool:
    """Route libjack's error and info output to the debug log; False where no libjack loads."""
    global _quiet
    with _lock:
        if _quiet:
            return True
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
            set_error, set_info = lib.jack_set_error_function, lib.jack_set_info_function
        except (OSError, AttributeError):
            return False
        handler = _MESSAGE(_to_log)
        _handlers.append(handler)
        set_error.argtypes = [_MESSAGE]
        set_info.argtypes = [_MESSAGE]
        set_error(handler)
        set_info(handler)
        _quiet = True
        return True


def reset_after_jack_client() -> None:
    """JACK-Client's ``set_error_function(None)`` puts libjack's printer back: quiet it again."""
    global _quiet
    with _lock:
        _quiet = False
    quiet_libjack()
