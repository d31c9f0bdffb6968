"""libjack's own stderr lines, routed to our log instead (trial finding 7).

libjack prints to stderr whatever it has to say: while no JACK server runs, every probe that
tries to open a client (our port watch, rtmidi's ports, the C frame reader, the preview's
audio client) prints about five lines ("Cannot connect to server socket", "jack server is not
running or cannot be started", "JackShmReadWritePtr::~JackShmReadWritePtr - Init not done ...")
and the engine probes once a second: a thousand lines in four minutes, burying our own
one-line reports. ``quiet_libjack()`` points libjack's error and info functions (process-wide
settings of each loaded libjack: the system's, shared by ctypes, the C frame reader and
JACK-Client, and python-rtmidi's own copy) at a handler that
logs them at debug level (``bridge.midi.libjack``). python-rtmidi's wheel carries a libjack
of its own (its own printer): every libjack loaded in the process is quieted. What the user needs to know is said by the engine itself ("no JACK server is running:
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
_handler: Any = None  # the one C callback, alive for good (libjack keeps its address)
_quieted: set[str] = set()  # the libjack copies whose printer is ours


def _to_log(message: bytes | None) -> None:
    try:
        log.debug("libjack: %s", (message or b"").decode("utf-8", "replace"))
    except Exception:  # noqa: BLE001 - never raise into libjack
        pass


def loaded_libjacks() -> list[str]:
    """Every libjack loaded in this process: the system's, and the copy python-rtmidi's wheel
    ships inside itself (``python_rtmidi.libs/libjack-<hash>.so``, a library of its own, with
    its own printer). Linux: read from /proc/self/maps; elsewhere the system's only."""
    found = [ctypes.util.find_library("jack") or "libjack.so.0"]
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
                if "/libjack" in path and ".so" in path and path not in found:
                    found.append(path)
    except OSError:
        pass
    return found


def quiet_libjack() -> bool:
    """Route libjack's error and info output to the debug log, in every libjack loaded (python-
    rtmidi is imported first: its own copy is loaded then); False where no libjack loads."""
    global _handler
    try:
        import rtmidi  # noqa: F401 - loads python-rtmidi's own libjack, quieted below too
    except ImportError:
        pass
    with _lock:
        if _handler is None:
            _handler = _MESSAGE(_to_log)
        any_lib = False
        for path in loaded_libjacks():
            if path in _quieted:
                any_lib = True
                continue
            try:
                lib = ctypes.CDLL(path)
                set_error, set_info = lib.jack_set_error_function, lib.jack_set_info_function
            except (OSError, AttributeError):
                continue
            set_error.argtypes = [_MESSAGE]
            set_info.argtypes = [_MESSAGE]
            set_error(_handler)
            set_info(_handler)
            _quieted.add(path)
            any_lib = True
        return any_lib


def reset_after_jack_client() -> None:
    """JACK-Client's ``set_error_function(None)`` puts the system libjack's printer back: quiet
    it again."""
    with _lock:
        _quieted.discard(ctypes.util.find_library("jack") or "libjack.so.0")
    quiet_libjack()
