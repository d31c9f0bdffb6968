"""A private JACK server (dummy backend, small period) for MIDI integration tests.

A server of our own, named ``groovebridge-test-<pid>``, keeps the period small (32 frames =
0.67 ms at 48 kHz: JACK delivers MIDI once per period) whatever server the machine runs, and
keeps these tests apart from other clients. It runs real-time (``-R``) where allowed: without
it, a client that misses a 0.67 ms cycle on a busy machine loses that cycle's MIDI. Clients in this process reach it through
``JACK_DEFAULT_SERVER``. Skips when jackd is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest


def _start(name: str, period_frames: int, realtime: bool, env: dict[str, str]) -> subprocess.Popen[bytes] | None:
    mode = ["-R", "-P", "70"] if realtime else ["--no-realtime"]
    proc = subprocess.Popen(
        ["jackd", "-n", name, *mode, "-d", "dummy", "-r", "48000", "-p", str(period_frames)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    client_env = dict(env, JACK_DEFAULT_SERVER=name)
    deadline = time.monotonic() + 30.0  # a loaded CI machine can take seconds to start it
    while time.monotonic() < deadline:
        if subprocess.run(["jack_lsp"], env=client_env, capture_output=True).returncode == 0:
            return proc
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    return None


@dataclass(frozen=True)
class JackServer:
    name: str
    realtime: bool  # jackd -R: its threads (and our clients' process threads) run SCHED_FIFO


@contextmanager
def private_jack_server(period_frames: int = 32) -> Iterator[JackServer]:
    """Real-time (-R) where the OS allows it, else --no-realtime; skips without jackd."""
    if shutil.which("jackd") is None or shutil.which("jack_lsp") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2): JACK MIDI tests skipped")
    env = dict(os.environ, JACK_NO_START_SERVER="1")
    name = f"groovebridge-test-{os.getpid()}"
    realtime = True
    proc = _start(name + "-rt", period_frames, True, env)
    if proc is None:
        realtime = False
        proc = _start(name, period_frames, False, env)
    else:
        name += "-rt"
    if proc is None:
        pytest.skip("jackd did not start (dummy backend)")
    old = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_START_SERVER"] = "1"
    try:
        yield JackServer(name, realtime)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
