"""JACK2's server registry (``tests/rigs/jack_registry.py``): dead servers' slots are freed, live
ones and other users' are not, and private servers killed without cleanup (SIGKILL) no longer use
up JACK's 8 server slots."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.rigs.jack_registry import (
    HEADER_LEN,
    JACK_SHM_MAGIC,
    MAX_SERVERS,
    SERVERS_OFFSET,
    SLOT_LEN,
    read_server_slots,
    reclaim_dead_servers,
)
from tests.rigs.jack_server import JackUnavailable, private_jack_server


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_registry(path: Path, slots: dict[int, tuple[int, str]]) -> None:
    """A registry in JACK2's layout (header + 8 server slots + the segment table's room)."""
    data = bytearray(HEADER_LEN + 268 * 4)
    struct.pack_into("<IHxxiiii", data, 0, JACK_SHM_MAGIC, 0, 1, len(data), HEADER_LEN, 268)
    for i, (pid, name) in slots.items():
        off = SERVERS_OFFSET + i * SLOT_LEN
        struct.pack_into("<i", data, off, pid)
        data[off + 4 : off + 4 + len(name)] = name.encode()
    path.write_bytes(bytes(data))


def test_dead_slots_of_this_user_are_freed_and_nothing_else(tmp_path: Path) -> None:
    reg, uid, gone = tmp_path / "jack-shm-registry", os.getuid(), dead_pid()
    write_registry(reg, {
        0: (os.getpid(), f"jack-{uid}:alive-1:"),  # a live server of ours
        2: (gone, f"jack-{uid}:leaked-7-1-rt:"),  # ours, killed without cleanup
        5: (gone, f"jack-{uid + 1}:theirs-3-1:"),  # another user's: theirs to reclaim
        7: (gone, f"jack-{uid}:leaked-8-1:"),
    })
    before = reg.read_bytes()
    freed = reclaim_dead_servers(reg, lock=contextlib.nullcontext)
    assert sorted(s.index for s in freed) == [2, 7]
    assert [(s.index, s.name) for s in read_server_slots(reg)] == [
        (0, f"jack-{uid}:alive-1:"), (5, f"jack-{uid + 1}:theirs-3-1:")]
    after = reg.read_bytes()
    for i in (2, 7):  # the whole slot zeroed, as JACK's memset does
        assert after[SERVERS_OFFSET + i * SLOT_LEN : SERVERS_OFFSET + (i + 1) * SLOT_LEN] == bytes(SLOT_LEN)
    assert after[:SERVERS_OFFSET] == before[:SERVERS_OFFSET] and after[HEADER_LEN:] == before[HEADER_LEN:]
    assert reclaim_dead_servers(reg, lock=contextlib.nullcontext) == []


def test_a_registry_of_another_layout_is_left_alone(tmp_path: Path) -> None:
    reg = tmp_path / "jack-shm-registry"
    write_registry(reg, {1: (dead_pid(), f"jack-{os.getuid()}:x-1-1:")})
    data = bytearray(reg.read_bytes())
    struct.pack_into("<i", data, 16, HEADER_LEN + 8)  # hdr_len of another JACK version
    reg.write_bytes(bytes(data))
    assert read_server_slots(reg) == [] and reclaim_dead_servers(reg, lock=contextlib.nullcontext) == []
    assert reg.read_bytes() == bytes(data)
    assert reclaim_dead_servers(tmp_path / "missing", lock=contextlib.nullcontext) == []


@pytest.mark.jack
def test_more_private_servers_than_jack_has_slots_after_each_was_killed() -> None:
    """Every private server is SIGKILLed (its slot leaks: it stays in the registry with a dead
    pid); 10 > 8 of them in turn still start. On the old code the 8th start at the latest failed
    with "Too many servers already active" (fewer when other servers hold slots)."""
    if shutil.which("jackd") is None or shutil.which("jack_lsp") is None:
        pytest.skip("jackd is not installed")
    prefix = f"jack-{os.getuid()}:gbtest-leak-"
    for i in range(MAX_SERVERS + 2):
        try:
            with private_jack_server("gbtest-leak", 256, mode="no-rt") as server:
                slot = next(s for s in read_server_slots() if s.name == f"jack-{os.getuid()}:{server.name}:")
                os.kill(slot.pid, signal.SIGKILL)
                deadline = time.monotonic() + 5
                while slot.alive and time.monotonic() < deadline:
                    time.sleep(0.02)
                leaked = [s for s in read_server_slots() if s.name == slot.name]
                assert leaked and not leaked[0].alive, "the killed server's slot should have leaked"
        except JackUnavailable as e:
            if i == 0:
                pytest.skip(str(e))
            raise AssertionError(f"start {i + 1} failed after {i} servers were killed: {e}") from None
    reclaim_dead_servers()
    assert not [s for s in read_server_slots() if s.name.startswith(prefix)]
