"""A benchmark stopped by SIGTERM or SIGINT (``timeout``, Ctrl-C) stops its private jackd
(``benchmarks/jack_bench.jack_server`` turns the signals into SystemExit)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
from jack_bench import jack_server
try:
    with jack_server(256, "no-rt"):
        print(os.environ["JACK_DEFAULT_SERVER"], flush=True)
        while True:
            time.sleep(0.05)
finally:
    print("cleanup ran", flush=True)
"""


def _jackd_running(name: str) -> bool:
    out = subprocess.run(["pgrep", "-f", f"jackd -n {name} "], capture_output=True, text=True).stdout
    return bool(out.strip())


@pytest.mark.jack
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_benchmarks_private_jack_server(sig: int) -> None:
    if shutil.which("jackd") is None or shutil.which("pgrep") is None:
        pytest.skip("jackd or pgrep missing")
    proc = subprocess.Popen([sys.executable, "-c", BENCH, str(ROOT / "benchmarks")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        name = proc.stdout.readline().strip()
        if not name:
            pytest.skip(f"private jackd did not start: {proc.stderr.read() if proc.stderr else ''}")
        assert _jackd_running(name)
        proc.send_signal(sig)
        rest = proc.communicate(timeout=15)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "cleanup ran" in rest
    assert proc.returncode == 128 + sig
    deadline = time.monotonic() + 5
    while _jackd_running(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _jackd_running(name)
