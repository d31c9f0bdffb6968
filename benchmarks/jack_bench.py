"""Shared pieces of the JACK MIDI benchmarks: a private JACK server, a receiver process,
a model for generation load, statistics. Not a benchmark itself (no ``bench_`` prefix)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@contextmanager
def jack_server(period_frames: int = 32, mode: str = "auto", sync: bool = False) -> Iterator[bool]:
    """A private JACK server (``tests.rigs.jack_server``: dummy backend, 48 kHz, ``period_frames``)
    for this run; yields whether it is real-time. ``mode``: "rt" (``jackd -R -P 70``: JACK's
    threads, our clients' process threads included, run SCHED_FIFO), "no-rt"
    (``--no-realtime``), "auto" (rt where the OS allows it, else no-rt); ``sync``: JACK2's
    synchronous mode (``-S``), else its default asynchronous mode. Exits with one line
    when jackd is missing or does not start.

    SIGTERM and SIGINT (``timeout``, Ctrl-C, a killed shell) raise SystemExit while the server
    is open, so ``finally`` blocks and this context's exit run and the server is stopped:
    by default SIGTERM ends Python at once and left the private jackd running."""
    from tests.rigs.jack_server import JackUnavailable, private_jack_server

    with ExitStack() as stack:
        stack.enter_context(exit_on_signals())
        try:
            server = stack.enter_context(private_jack_server("groovebridge-bench", period_frames, mode, sync=sync))
        except JackUnavailable as e:
            raise SystemExit(str(e)) from None
        os.environ["GROOVEBRIDGE_MIDI_API"] = "jack"
        yield server.realtime


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def exit_on_signals(signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[None]:
    """Within the block, ``signums`` raise SystemExit(128 + signal) in the main thread (so
    cleanup runs); the previous handlers come back after. No-op outside the main thread."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _raise_exit) for s in signums}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


class Receiver:
    """Note-ons read by a second process: (time, pitch, velocity). Polled, with JACK's own
    timestamps (``note_streams.NoteReceiver``; an rtmidi callback misreads events under load)."""

    def __init__(self, port: str) -> None:
        from note_streams import NoteReceiver  # imports this module: load it lazily

        self._rx = NoteReceiver(port)

    def finish(self) -> list[tuple[float, int, int]]:
        d = self._rx.finish()
        on = d["on"]
        return list(zip(d["t"][on].tolist(), d["pitch"][on].tolist(), d["vel"][on].tolist(), strict=True))


def load_bench_model() -> tuple[Any, str]:
    """The shipped model if installed, else a groovae_4bar-sized GrooVAE with random weights."""
    import torch

    from models.generate import GrooveModel, load_model

    try:
        return load_model("default"), "default (trained)"
    except Exception:
        from models.net.config import get_config
        from models.net.vae import GrooVAE

        torch.manual_seed(0)
        return GrooveModel(GrooVAE(get_config("groovae_4bar")), name="groovae_4bar-random"), "groovae_4bar, random weights"


def stats_ms(errors_sec: np.ndarray) -> dict[str, float]:
    e = np.asarray(errors_sec) * 1000.0
    if e.size == 0:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {
        "n": int(e.size),
        "p50": float(np.percentile(e, 50)),
        "p99": float(np.percentile(e, 99)),
        "max": float(np.max(e)),
    }


class Sender:
    """A second process that plays ``(t_sec, message)`` pairs into ``port`` and reports when
    each was really sent (its own lateness is then not counted against the capture) and, with
    ``monitor``, when JACK delivered it (a client of its own on the same port)."""

    def __init__(self, port: str, monitor: bool = False) -> None:
        self.monitor = monitor
        self.delivered: list[float] = []  # with monitor: when JACK delivered each message
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "midi_player.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"port": port, "monitor": monitor}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"sender did not start: {line!r}")

    def play(self, plan: list[tuple[float, list[int]]]) -> list[float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(plan) + "\n")
        self.proc.stdin.flush()
        sent = json.loads(self.proc.stdout.readline())
        if self.monitor:
            self.delivered = list(json.loads(self.proc.stdout.readline()))
        self.proc.wait(5)
        return list(sent)


def match_arrivals(intended: list[tuple[float, int, int]], arrivals: list[tuple[float, int, int]],
                   window_sec: float = 0.05) -> list[tuple[int, int]]:
    """Pairs (i, j): each intended note (time, pitch, velocity) with the arrival of the same pitch
    and velocity nearest its intended time, within ``window_sec``. A JACK client that misses a
    cycle (no real-time priority) loses that cycle's events, so arrival order alone would pair
    the wrong notes."""
    by_key: dict[tuple[int, int], list[int]] = {}
    for j, (_t, pitch, vel) in enumerate(arrivals):
        by_key.setdefault((pitch, vel), []).append(j)
    used: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for i, (t_int, pitch, vel) in enumerate(intended):
        cands = [j for j in by_key.get((pitch, vel), []) if j not in used and abs(arrivals[j][0] - t_int) < window_sec]
        if cands:
            j = min(cands, key=lambda j: abs(arrivals[j][0] - t_int))
            used.add(j)
            pairs.append((i, j))
    return pairs
