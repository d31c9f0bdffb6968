"""A private JACK server (dummy backend, small period) for MIDI integration tests.

A thin wrapper over ``tests.rigs.jack_server`` (shared with the benchmarks): a server of our
own, named ``groovebridge-test-<pid>-<n>[-rt]``, keeps the period small (32 frames = 0.67 ms at
48 kHz: JACK delivers MIDI once per period) or as a test asks, whatever server the machine
runs, and keeps these tests apart from other clients. It runs real-time (``-R``) where
allowed: without it, a client that misses a 0.67 ms cycle on a busy machine loses that
cycle's MIDI. It runs in JACK2's synchronous mode (``-S``): in the default asynchronous mode
a late receiver can read the sender's buffer while the next cycle is written into it, and
these tests compare streams byte for byte (see ``tests/rigs/jack_server.py``). Start-up may take
up to 30 s on a loaded machine. Skips when jackd is not installed or does not start.
jackd's output goes to ``<tmp>/groovebridge-jack-logs/<name>.log``; ``tests/conftest.py``
adds the tail of the newest one to the report of a failed ``jack`` test. Logs older than a
week are removed when a test process starts its first server.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.rigs.jack_server import JackServer, JackUnavailable, start_jackd
from tests.rigs.jack_server import private_jack_server as _server

__all__ = ["JackServer", "LOG_DIR", "logs", "private_jack_server", "_start"]

LOG_DIR = Path(tempfile.gettempdir()) / "groovebridge-jack-logs"
logs: list[Path] = []  # the logs of the servers this process started, oldest first
LOG_MAX_AGE_SEC = 7 * 24 * 3600


def prune_logs(folder: Path = LOG_DIR, max_age_sec: float = LOG_MAX_AGE_SEC) -> int:
    """Remove the ``*.log`` files in ``folder`` not written for ``max_age_sec``; how many went."""
    cutoff, removed = time.time() - max_age_sec, 0
    for log in folder.glob("*.log"):
        try:
            if log.stat().st_mtime < cutoff:
                log.unlink()
                removed += 1
        except OSError:  # another test process removed or is writing it
            continue
    return removed


def _start(name: str, period_frames: int, realtime: bool, env: dict[str, str]):
    """Start one jackd and wait for it (30 s); None if it did not come up."""
    return start_jackd(name, period_frames, realtime, env, sync=True)


@contextmanager
def private_jack_server(period_frames: int = 32) -> Iterator[JackServer]:
    """Real-time (-R) where the OS allows it, else --no-realtime; skips without jackd."""
    if not logs:
        prune_logs()
    with ExitStack() as stack:
        try:
            server = stack.enter_context(_server("groovebridge-test", period_frames, sync=True, log_dir=LOG_DIR))
        except JackUnavailable as e:
            pytest.skip(f"{e}: JACK MIDI tests skipped")
        if server.log_path is not None:
            logs.append(server.log_path)
        yield server
