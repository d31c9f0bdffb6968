"""A private JACK server (dummy backend) for tests and benchmarks: start, wait, stop.

One implementation for ``tests/bridge/jack_helpers.py`` (skips a test when JACK is
missing) and ``benchmarks/jack_bench.py`` (exits with a message). A server of our own keeps
the period what the run asks for (JACK delivers MIDI once per period: 32 frames = 0.67 ms,
256 = 5.3 ms at 48 kHz) whatever server the machine runs, and keeps runs apart from other
clients. ``mode``: "rt" (``jackd -R -P 70``: JACK's threads, our clients' process threads
included, run SCHED_FIFO), "no-rt" (``--no-realtime``), "auto" (rt where the OS allows it,
else no-rt). ``sync=True`` adds ``-S``, JACK2's synchronous mode: a cycle does not start before
every client has finished the last one. In the default asynchronous mode a receiver that runs
late on a busy machine reads its input port, which is the sender's own buffer (zero copy),
while the sender may already be writing the next cycle into it: the dense stream of
``tests/bridge/midi/test_midi_input.py`` arrived with an event twice and extra, shifted events in
3 of 15 runs asynchronous, 0 of 35 with ``-S``. Tests that compare streams byte for byte use
it; benchmarks keep the asynchronous default that users run. ``-S`` comes with ``-t 200``: by
default JACK2 waits only ~4 periods (2.7 ms at 32 frames) for a late client before it gives up
on the cycle ("ProcessWriteSlaves error, engine may now behave abnormally!!" in its log), and a
python-rtmidi callback client waits for the GIL in JACK's process thread, so a busy test process
broke the graph and lost notes (the intermittent CI failures of session 11). With a 200 ms client
timeout a late client delays the cycle instead; a client that vanishes without closing (SIGKILL)
stalls the server for 10 x 200 ms, so test clients close theirs. Clients in this process reach it
through ``JACK_DEFAULT_SERVER`` (set while the context is open, restored after). Each server of
a process gets its own name (``<prefix>-<pid>-<n>[-rt]``), so a server never meets what the last
one of the same name left behind. A jackd killed without cleanup keeps its slot in JACK's
machine-wide registry of 8 servers, and JACK frees a dead slot only for a server of the same
name: ``start_jackd`` first frees this user's slots whose server pid is gone
(``tests.rigs.jack_registry``), so leaked slots never add up to "Too many servers already
active". ``log_dir``: jackd's own output (xruns, clients it timed out
or zombified) goes to ``<log_dir>/<name>.log`` instead of nowhere, so a failing run can be read
after the fact. Nothing here imports rtmidi.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.rigs.jack_registry import reclaim_dead_servers

START_TIMEOUT_SEC = 30.0  # a loaded CI machine can take seconds to start jackd
SAMPLE_RATE = 48000
MODES = ("auto", "rt", "no-rt")
SYNC_CLIENT_TIMEOUT_MS = 200  # see the module's docstring
_serial = itertools.count(1)  # servers started by this process: each gets its own name


class JackUnavailable(RuntimeError):
    """jackd is not installed or did not start; the message is one line."""


@dataclass(frozen=True)
class JackServer:
    name: str
    realtime: bool  # jackd -R: its threads (and our clients' process threads) run SCHED_FIFO
    period_frames: int
    log_path: Path | None = None  # jackd's stdout and stderr, when a log_dir was given

    @property
    def period_ms(self) -> float:
        return self.period_frames * 1000.0 / SAMPLE_RATE


def start_jackd(name: str, period_frames: int, realtime: bool, env: Mapping[str, str] | None = None,
                timeout_sec: float = START_TIMEOUT_SEC, sync: bool = False,
                log_path: Path | None = None) -> subprocess.Popen[bytes] | None:
    """Start ``jackd -n name`` (dummy backend, 48 kHz) and wait until it answers; None if not.
    ``log_path``: append jackd's output there (after a line with the time and the command).
    Slots of JACK's server registry left by dead servers of this user are freed first."""
    reclaim_dead_servers()
    env = dict(os.environ if env is None else env, JACK_NO_START_SERVER="1")
    mode = ["-R", "-P", "70"] if realtime else ["--no-realtime"]
    if sync:
        mode += ["-S", "-t", str(SYNC_CLIENT_TIMEOUT_MS)]
    cmd = ["jackd", "-n", name, *mode, "-d", "dummy", "-r", str(SAMPLE_RATE), "-p", str(period_frames)]
    if log_path is None:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    else:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:  # the child keeps its own descriptor
            log.write(f"--- {time.strftime('%H:%M:%S')} {' '.join(cmd)}\n".encode())
            log.flush()
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    client_env = dict(env, JACK_DEFAULT_SERVER=name)
    deadline = time.monotonic() + timeout_sec
    while time.monotonic() < deadline:
        if subprocess.run(["jack_lsp"], env=client_env, capture_output=True).returncode == 0:
            return proc
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    stop_jackd(proc)
    return None


def stop_jackd(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean exit frees its slot in JACK's server registry), SIGKILL after 5 s."""
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def private_jack_server(prefix: str = "groovebridge", period_frames: int = 32, mode: str = "auto",
                        timeout_sec: float = START_TIMEOUT_SEC, sync: bool = False,
                        log_dir: Path | None = None) -> Iterator[JackServer]:
    """A server named ``<prefix>-<pid>-<n>[-rt]`` for the ``with`` block; raises JackUnavailable."""
    if mode not in MODES:
        raise ValueError(f"JACK mode {mode!r}: use one of {', '.join(MODES)}")
    if shutil.which("jackd") is None or shutil.which("jack_lsp") is None:
        raise JackUnavailable("jackd is not installed (apt-get install jackd2)")
    base = f"{prefix}-{os.getpid()}-{next(_serial)}"

    def log_of(name: str) -> Path | None:
        return None if log_dir is None else Path(log_dir) / f"{name}.log"

    def start(name: str, realtime: bool) -> subprocess.Popen[bytes] | None:
        return start_jackd(name, period_frames, realtime, timeout_sec=timeout_sec, sync=sync, log_path=log_of(name))

    proc, name, realtime = None, base, False
    if mode in ("auto", "rt"):
        name, realtime = base + "-rt", True
        proc = start(name, True)
    if proc is None and mode in ("auto", "no-rt"):
        name, realtime = base, False
        proc = start(name, False)
    if proc is None:
        raise JackUnavailable(f"jackd did not start (dummy backend, {mode}, period {period_frames})")
    keys = ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")
    old = {k: os.environ.get(k) for k in keys}
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_START_SERVER"] = "1"
    try:
        yield JackServer(name, realtime, period_frames, log_of(name))
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        stop_jackd(proc)
