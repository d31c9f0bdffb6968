"""The private JACK server of tests and benchmarks (``tests/rigs/jack_server.py``): each server of a
process gets its own name, jackd's output goes to a log, and a failed ``jack`` test's report
ends with that log's tail (``tests/conftest.py``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jack_helpers
import pytest

from tests.rigs.jack_server import JackUnavailable, private_jack_server

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.jack


def test_each_server_gets_its_own_name_and_log(tmp_path: Path) -> None:
    names = []
    for _ in range(2):
        try:
            with private_jack_server("gbtest-log", 256, mode="no-rt", log_dir=tmp_path) as server:
                names.append(server.name)
                assert server.log_path == tmp_path / f"{server.name}.log"
        except JackUnavailable as e:
            pytest.skip(str(e))
    assert names[0] != names[1] and all(n.startswith("gbtest-log-") for n in names)
    for name in names:
        text = (tmp_path / f"{name}.log").read_text()
        first = text.splitlines()[0]
        assert first.startswith("--- ") and f"jackd -n {name} --no-realtime -d dummy" in first
        assert "-p 256" in first and len(text.splitlines()) > 1  # jackd's own banner follows


FAILING = r"""
import sys
import pytest
sys.path.insert(0, {bridge!r})
from jack_helpers import private_jack_server

@pytest.mark.jack
def test_fails_with_a_server():
    with private_jack_server(256):
        assert False, "on purpose"

def test_fails_without_the_marker():
    assert False, "also on purpose"
"""


def test_a_failed_jack_test_reports_the_servers_log(tmp_path: Path) -> None:
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed")
    shutil.copy(HERE.parent / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_x.py").write_text(FAILING.format(bridge=str(HERE.parent / "bridge")))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_x.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(HERE.parents[1])})
    assert "2 failed" in out.stdout, out.stdout[-2000:]
    sections = out.stdout.split("_ test_fails_without_the_marker _")
    assert "jackd log" in sections[0] and "jackd -n groovebridge-test-" in sections[0]
    assert "jackd log" not in sections[1]


def test_old_logs_are_pruned_and_recent_ones_kept(tmp_path: Path) -> None:
    old, new, other = tmp_path / "a-1-1.log", tmp_path / "a-2-1.log", tmp_path / "notes.txt"
    for f in (old, new, other):
        f.write_text("x")
    week_ago = time.time() - jack_helpers.LOG_MAX_AGE_SEC - 60
    os.utime(old, (week_ago, week_ago))
    os.utime(other, (week_ago, week_ago))
    assert jack_helpers.prune_logs(tmp_path) == 1
    assert not old.exists() and new.exists() and other.exists()
