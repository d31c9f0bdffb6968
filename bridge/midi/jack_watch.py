"""Notices when the JACK server under our MIDI ports stops (or restarts), and when it is back.

python-rtmidi gives no sign when the JACK server goes away: its ports stay "open", sends go
nowhere, and after the server restarts, closing such a port crashes the process (SIGSEGV in
``close_port``, seen with jackd2 1.9 and python-rtmidi 1.5). So ``bridge.midi.ports`` keeps one
small JACK client of its own (no ports, no process callback) through libjack (ctypes) with a
``jack_on_shutdown`` callback: when the server ends, the callback sets ``lost``; the engine's
1-second poll then drops its rtmidi handles without closing them (they are kept referenced
in ``ORPHANS``, never freed) and tries ``reconnect()`` each poll until a server answers.

No server when the engine starts: ``JackWatch.open(wait=True)`` returns a watch that is
``lost`` from the start, so the same ``reconnect()`` path opens the ports once a server answers.
Without libjack (not Linux, no JACK) ``JackWatch.open()`` returns None and nothing changes.

``JackWatch.timing_warning()``: one line when the server can drop MIDI on a busy machine, i.e.
runs without real-time scheduling (``jack_is_realtime``) in JACK2's default asynchronous mode:
its own threads and its clients' then wake late, and an asynchronous server drops the events
of a cycle a reader is late for (clock ticks, played hits: measured, issue 22). Whether the
server is synchronous (``-S``) is not in JACK's API; it is read from the jackd command line of
the server's name (``server_is_synchronous``: /proc on Linux; None where no jackd is found,
e.g. PipeWire's JACK, and then nothing is said about the mode).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from pathlib import Path
from typing import Any

JACK_NO_START_SERVER = 0x01
CLIENT_NAME = b"GrooveBridge watch"
ORPHANS: list[Any] = []  # handles of a dead JACK server: never closed, never freed
_CALLBACKS: list[Any] = []  # every shutdown callback given to libjack stays alive for good

_SHUTDOWN = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_lib: Any = None


def _libjack() -> Any:
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("jack") or "libjack.so.0"
        lib = ctypes.CDLL(name)
        lib.jack_client_open.restype = ctypes.c_void_p
        lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        lib.jack_on_shutdown.argtypes = [ctypes.c_void_p, _SHUTDOWN, ctypes.c_void_p]
        lib.jack_activate.argtypes = [ctypes.c_void_p]
        lib.jack_client_close.argtypes = [ctypes.c_void_p]
        lib.jack_is_realtime.argtypes = [ctypes.c_void_p]
        lib.jack_is_realtime.restype = ctypes.c_int
        _lib = lib
    return _lib


class JackWatch:
    """One port-less JACK client; ``lost`` is set when the server shuts it down."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib
        self._client: int | None = None
        self._callback = _SHUTDOWN(self._on_shutdown)
        _CALLBACKS.append(self._callback)  # libjack may call it as long as the client exists
        self._lost = threading.Event()
        self.generation = 0  # how many times a server came back

    @classmethod
    def open(cls, wait: bool = False) -> JackWatch | None:
        """A watch on the running server, or None (no libjack, or no server answers). With
        ``wait``, no server gives a watch that is ``lost`` until ``reconnect()`` finds one."""
        try:
            watch = cls(_libjack())
        except (OSError, AttributeError):
            return None
        if watch._connect():
            return watch
        if wait:
            watch._lost.set()
            return watch
        return None

    def _connect(self) -> bool:
        status = ctypes.c_int(0)
        client = self._lib.jack_client_open(CLIENT_NAME, JACK_NO_START_SERVER, ctypes.byref(status))
        if not client:
            return False
        self._lib.jack_on_shutdown(client, self._callback, None)
        if self._lib.jack_activate(client) != 0:
            self._lib.jack_client_close(client)
            return False
        self._client = client
        self._lost.clear()
        return True

    def _on_shutdown(self, _arg: Any) -> None:  # a JACK thread: set a flag, no more
        self._lost.set()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def reconnect(self) -> bool:
        """After ``lost``: True once a server answers again (the dead client is left as is)."""
        if not self.lost:
            return True
        if self._client is not None:
            ORPHANS.append(self._client)  # closing a client of a dead server is not safe
            self._client = None
        if self._connect():
            self.generation += 1
            return True
        return False

    def realtime(self) -> bool | None:
        """Whether the server runs its cycle with real-time scheduling (None: not connected)."""
        if self._client is None or self.lost:
            return None
        return bool(self._lib.jack_is_realtime(self._client))

    def timing_warning(self) -> str | None:
        """One line when this server can drop MIDI events on a busy machine (module doc)."""
        return timing_warning(self.realtime(), server_is_synchronous())

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and not self.lost:
            self._lib.jack_client_close(client)


def jackd_options(argv: list[str]) -> tuple[str, bool]:
    """(server name, synchronous) from a jackd command line's server options (before ``-d``)."""
    name, sync, i = "default", False, 1
    while i < len(argv) and argv[i] not in ("-d", "--driver") and not argv[i].startswith("--driver="):
        arg = argv[i]
        if arg in ("-n", "--name") and i + 1 < len(argv):
            name, i = argv[i + 1], i + 1
        elif arg.startswith("--name="):
            name = arg.split("=", 1)[1]
        elif arg.startswith("-n") and len(arg) > 2 and not arg.startswith("--"):
            name = arg[2:]
        elif arg in ("-S", "--sync"):
            sync = True
        i += 1
    return name, sync


def server_is_synchronous(server: str | None = None, proc: Path = Path("/proc")) -> bool | None:
    """Whether the jackd serving ``server`` (default: $JACK_DEFAULT_SERVER or "default") was
    started with ``-S``; None when no such jackd process is found."""
    server = server or os.environ.get("JACK_DEFAULT_SERVER") or "default"
    try:
        entries = list(proc.iterdir())
    except OSError:
        return None
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        if not args or os.path.basename(args[0]) not in ("jackd", "jackdmp"):
            continue
        name, sync = jackd_options(args)
        if name == server:
            return sync
    return None


def timing_warning(realtime: bool | None, synchronous: bool | None) -> str | None:
    """The line for a server that can drop MIDI (pure; see the module doc), or None."""
    if realtime is not False or synchronous is True:
        return None
    mode = "in asynchronous mode " if synchronous is False else ""
    return ("JACK runs without real-time scheduling " + mode + "(no -R): on a busy machine it drops MIDI "
            "events (clock ticks, played hits); restart jackd with -R, or with -S (synchronous mode) "
            "where real-time is not allowed")
