"""JACK2's server registry: read it, and free the slots of servers that died without cleanup.

JACK2 (``common/shm.c``, ``common/shm.h``) keeps one registry for the machine in POSIX shared
memory, ``/dev/shm/jack-shm-registry``. Its header holds ``MAX_SERVERS`` = 8 server slots::

    struct jack_shm_header {          /* offset */
        uint32_t magic;               /*  0: 0x4a41434b "JACK" */
        uint16_t protocol;            /*  4 */
        jack_shmtype_t type;          /*  8: enum (int) */
        int32_t size, hdr_len, entry_len;  /* 12, 16, 20 */
        struct { pid_t pid; char name[JACK_SERVER_NAME_SIZE + 1]; } server[8];  /* 24, 264 each */
    };

A slot's name is ``jack-<uid>:<server name>:``. ``jack_register_server`` frees a slot whose
pid is dead only when a server of *the same name* starts, and a server killed without cleanup
(SIGKILL, a crash) keeps its slot; our private servers all have different names
(``<prefix>-<pid>-<n>``), so 8 leaked slots meant "Too many servers already active" for every
jackd on the machine. ``reclaim_dead_servers`` does what JACK itself does for a same-name slot,
for every slot of this user whose pid no longer exists: under the registry's own lock (the
System V semaphore with key 0x282929, taken with ``SEM_UNDO`` as JACK takes it, so a process
killed while holding it gives it back), the slot is zeroed. A live pid (``kill(pid, 0)``
succeeds, or fails with EPERM, and it is no zombie) is never touched. Limitation, as for JACK: a server in another
PID namespace sharing this /dev/shm looks dead from here. Linux only; elsewhere a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import struct
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

REGISTRY_PATH = Path("/dev/shm/jack-shm-registry")
JACK_SHM_MAGIC = 0x4A41434B
JACK_SEMAPHORE_KEY = 0x282929
MAX_SERVERS = 8
SERVER_NAME_SIZE = 256 + 1  # JACK_SERVER_NAME_SIZE + 1
SLOT_LEN = 4 + SERVER_NAME_SIZE + 3  # pid_t, the name, padding to pid_t's alignment: 264
SERVERS_OFFSET = 24
HEADER_LEN = SERVERS_OFFSET + MAX_SERVERS * SLOT_LEN  # 2136: the registry's own hdr_len
SEM_UNDO = 0x1000  # Linux


@dataclass(frozen=True)
class ServerSlot:
    index: int
    pid: int
    name: str  # as stored: "jack-<uid>:<server name>:"

    @property
    def alive(self) -> bool:
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    try:  # a zombie (killed, not yet reaped by its parent) is dead too
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2 :].split(" ", 1)[0] not in ("Z", "X")
    except (OSError, ValueError):
        return True


class _SemBuf(ctypes.Structure):
    _fields_ = [("sem_num", ctypes.c_ushort), ("sem_op", ctypes.c_short), ("sem_flg", ctypes.c_short)]


@contextmanager
def registry_lock() -> Iterator[None]:
    """JACK's registry lock (``jack_shm_lock_registry``): semaphore 0x282929, -1 / +1 with
    SEM_UNDO. Raises OSError if the semaphore cannot be used (then nothing is touched)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    semid = libc.semget(JACK_SEMAPHORE_KEY, 0, 0)
    if semid == -1:
        raise OSError(ctypes.get_errno(), "JACK's registry semaphore is missing")
    if libc.semop(semid, ctypes.byref(_SemBuf(0, -1, SEM_UNDO)), 1) == -1:
        raise OSError(ctypes.get_errno(), "semop on JACK's registry semaphore failed")
    try:
        yield
    finally:
        libc.semop(semid, ctypes.byref(_SemBuf(0, 1, SEM_UNDO)), 1)


def _check_header(buf: bytes | mmap.mmap) -> bool:
    if len(buf) < HEADER_LEN:
        return False
    magic = struct.unpack_from("<I", buf, 0)[0]
    hdr_len = struct.unpack_from("<i", buf, 16)[0]
    return magic == JACK_SHM_MAGIC and hdr_len == HEADER_LEN


def _slots(buf: bytes | mmap.mmap) -> list[ServerSlot]:
    out = []
    for i in range(MAX_SERVERS):
        off = SERVERS_OFFSET + i * SLOT_LEN
        pid = struct.unpack_from("<i", buf, off)[0]
        raw = bytes(buf[off + 4 : off + 4 + SERVER_NAME_SIZE])
        out.append(ServerSlot(i, pid, raw.split(b"\0", 1)[0].decode("utf-8", "replace")))
    return out


def read_server_slots(path: Path = REGISTRY_PATH) -> list[ServerSlot]:
    """The registry's used server slots (empty when there is no registry or it is not JACK2's layout)."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    if not _check_header(data):
        return []
    return [s for s in _slots(data) if s.pid != 0]


def reclaim_dead_servers(path: Path = REGISTRY_PATH, uid: int | None = None,
                         lock: Callable[[], AbstractContextManager[None]] = registry_lock) -> list[ServerSlot]:
    """Zero the slots of this user's servers whose pid is gone; returns the slots freed.
    Does nothing (returns []) when there is no registry, its layout is not the one above, or
    the lock cannot be taken."""
    if not hasattr(os, "getuid") or not path.exists():
        return []
    prefix = f"jack-{os.getuid() if uid is None else uid}:"
    if not any(s.name.startswith(prefix) and not s.alive for s in read_server_slots(path)):
        return []
    freed: list[ServerSlot] = []
    try:
        with open(path, "r+b") as f, mmap.mmap(f.fileno(), HEADER_LEN) as buf, lock():
            if not _check_header(buf):
                return []
            for slot in _slots(buf):
                if slot.pid != 0 and slot.name.startswith(prefix) and not slot.alive:
                    off = SERVERS_OFFSET + slot.index * SLOT_LEN
                    buf[off : off + SLOT_LEN] = bytes(SLOT_LEN)  # as JACK's memset of the slot
                    freed.append(slot)
            buf.flush()
    except (OSError, ValueError):
        return freed
    return freed
