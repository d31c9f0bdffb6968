"""Benchmark: MIDI-clock follow phase error after lock (target: p99 under 2 ms).

Two runs, each with a baseline in the same process:
* synthetic: exact 24 PPQN ticks with uniform +-``--jitter_ms`` arrival jitter;
* JACK loopback: ``MidiClockSender`` (InternalClock at ``--bpm``) -> a JACK MIDI port ->
  ``MidiClockFollower`` behind a virtual JACK input. A private dummy JACK server with period
  ``--period`` frames (default 32, 0.67 ms at 48 kHz) is started for it when ``jackd`` exists;
  ``--period 0`` uses the JACK server already running.

Phase error = predicted time - true time of the master's next tick ("tick") and next beat
("beat", what a scheduler looking ahead needs), where true times come from the sender's own
clock. Predictions are made as each tick arrives, from the ticks before it. Baseline: the
naive estimate (count the ticks received, extrapolate the last interval). The constant part (``mean``, transport latency) is what the
latency setting compensates; ``p99 |e-mean|`` is the jitter it cannot.

    .venv/bin/python benchmarks/bench_clock_follow.py [--bpm 120] [--seconds 20] [--period 32]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.midi_clock import CLOCK, PPQN, START, MidiClockFollower  # noqa: E402


class Probe:
    """Feeds a follower; before each tick, records its predictions and the naive baseline's.

    Both predict the master's next tick and next beat (from the true beat at the arrival
    instant), so lost or delayed ticks count against whichever estimator miscounts them.
    """

    def __init__(self, follower: MidiClockFollower, true_beat_at, true_time_at) -> None:
        self.f = follower
        self.true_beat_at = true_beat_at
        self.true_time_at = true_time_at
        self.count = -1  # naive: ticks received since Start
        self.times: list[float] = []
        self.errors: dict[str, list[float]] = {
            "follower tick": [], "naive tick": [], "follower beat": [], "naive beat": []}

    def feed(self, t_sec: float, msg: list[int]) -> None:
        f = self.f
        if msg[0] == CLOCK and self.count >= 1 and f.locked and f.is_playing:
            last, prev = self.times[-1], self.times[-2]
            interval = last - prev
            b_now = self.true_beat_at(t_sec)
            targets = {"tick": (math.floor(b_now * PPQN + 1e-9) + 1) / PPQN,
                       "beat": math.floor(b_now + 1e-9) + 1.0}
            for what, beat in targets.items():
                truth = self.true_time_at(beat)
                naive = last + (beat * PPQN - self.count) * interval
                self.errors["follower " + what].append((f.time_at_beat(beat) - truth) * 1000)
                self.errors["naive " + what].append((naive - truth) * 1000)
        f.feed(t_sec, msg)
        if msg[0] == START:
            self.count = -1
            self.times.clear()
        elif msg[0] == CLOCK:
            self.count += 1
            self.times.append(t_sec)

    def errors_ms(self) -> dict[str, np.ndarray]:
        return {k: np.array(v) for k, v in self.errors.items()}


def stats(e: np.ndarray) -> dict[str, float]:
    mean = float(np.mean(e))
    dev = np.abs(e - mean)
    return {"mean_ms": mean, "p50_dev_ms": float(np.percentile(dev, 50)),
            "p99_dev_ms": float(np.percentile(dev, 99)), "max_dev_ms": float(dev.max()),
            "p99_abs_ms": float(np.percentile(np.abs(e), 99)), "n": int(e.size)}


def synthetic(bpm: float, seconds: float, jitter_ms: float) -> dict[str, dict[str, float]]:
    rng = random.Random(7)
    period = 60.0 / (bpm * PPQN)
    t0 = 1000.0
    now = [t0]
    probe = Probe(MidiClockFollower(now=lambda: now[0]), lambda t: (t - t0) / (period * PPQN),
                  lambda beat: t0 + beat * period * PPQN)
    probe.feed(t0 - 0.001, [START])
    for k in range(int(seconds / period)):
        now[0] = t0 + k * period + rng.uniform(-jitter_ms, jitter_ms) / 1000.0
        probe.feed(now[0], [CLOCK])
    return {name: stats(e) for name, e in probe.errors_ms().items()}


def _jack_ok(env: dict[str, str]) -> bool:
    return subprocess.run(["jack_lsp"], env=env, capture_output=True, timeout=5).returncode == 0


def start_private_jack(period: int) -> subprocess.Popen | None:
    if period <= 0 or shutil.which("jackd") is None:
        return None
    name = f"gbbench{os.getpid()}"
    proc = subprocess.Popen(["jackd", "-n", name, "--no-realtime", "-d", "dummy", "-r", "48000",
                             "-p", str(period)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, JACK_DEFAULT_SERVER=name)
    for _ in range(50):
        if _jack_ok(env):
            os.environ["JACK_DEFAULT_SERVER"] = name
            return proc
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    return None


def jack_loopback(bpm: float, seconds: float, trace: str = "") -> dict[str, dict[str, float]]:
    import rtmidi

    from bridge.clock import InternalClock
    from bridge.midi_clock import MidiClockSender

    follower = MidiClockFollower()
    clock = InternalClock(bpm)
    probe = Probe(follower, clock.beat_at, clock.time_at_beat)
    tag = str(os.getpid())
    midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=f"gbbenchfollow{tag}")
    midi_in.ignore_types(sysex=True, timing=False, active_sense=True)
    midi_in.open_virtual_port("in")
    arrivals: list[tuple[float, list[int]]] = []

    def on_message(event: tuple[list[int], float], _data: object = None) -> None:
        t = time.monotonic()
        arrivals.append((t, event[0]))
        probe.feed(t, event[0])

    midi_in.set_callback(on_message)
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=f"gbbenchsend{tag}")
    out.open_virtual_port("out")
    # connect by exact names (port indices shift while other clients come and go)
    subprocess.run(["jack_connect", f"gbbenchsend{tag}:out", f"gbbenchfollow{tag}:in"],
                   check=True, capture_output=True, timeout=10)
    sender = MidiClockSender(clock, out.send_message)
    clock.start(at_sec=clock.now_sec() + 0.05)
    sender.start()
    time.sleep(seconds)
    sender.close()
    time.sleep(0.05)
    midi_in.cancel_callback()
    midi_in.close_port()
    out.close_port()
    midi_in.delete()
    out.delete()
    print(f"JACK follower: {follower.ticks_received} ticks, {follower.lost_ticks} lost on the way, "
          f"{follower.tempo_changes} tempo re-fits, tick jitter {follower.jitter_ms:.3f} ms")
    if trace:
        a = clock._anchor
        Path(trace).write_text(json.dumps({"arrivals": arrivals, "anchor": [a.t_sec, a.beat, a.bpm]}))
    return {name: stats(e) for name, e in probe.errors_ms().items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bpm", type=float, default=120.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--jitter_ms", type=float, default=1.0)
    p.add_argument("--period", type=int, default=32, help="private JACK period; 0 = running server")
    p.add_argument("--trace", default="", help="write the JACK arrivals (time, message) as JSON here")
    args = p.parse_args(argv)
    results: dict[str, dict[str, dict[str, float]]] = {}
    results[f"synthetic +-{args.jitter_ms:g} ms"] = synthetic(args.bpm, max(args.seconds, 30.0), args.jitter_ms)
    jackd = start_private_jack(args.period)
    where = f"private JACK, period {args.period}" if jackd else "running JACK server"
    try:
        if jackd is None and not _jack_ok(dict(os.environ)):
            print("bench_clock_follow: no JACK server: JACK loopback skipped", file=sys.stderr)
        else:
            results[f"JACK loopback ({where})"] = jack_loopback(args.bpm, args.seconds, args.trace)
    finally:
        if jackd is not None:
            jackd.terminate()
            jackd.wait(timeout=5)
    print(f"MIDI clock follow at {args.bpm:g} BPM; errors in ms after lock; {os.cpu_count()} CPU(s)")
    print(f"{'run':<40}{'estimator':<16}{'mean':>8}{'p50|e-m|':>10}{'p99|e-m|':>10}{'max|e-m|':>10}"
          f"{'p99|e|':>9}{'naive/ours':>11}")
    summary: dict[str, float] = {}
    for run, table in results.items():
        for name, s in table.items():
            base = table["naive " + name.split()[1]]
            ratio = base["p99_dev_ms"] / s["p99_dev_ms"] if s["p99_dev_ms"] > 0 else float("inf")
            print(f"{run:<40}{name:<16}{s['mean_ms']:>8.3f}{s['p50_dev_ms']:>10.3f}{s['p99_dev_ms']:>10.3f}"
                  f"{s['max_dev_ms']:>10.3f}{s['p99_abs_ms']:>9.3f}{ratio:>11.1f}")
            key = run.split()[0].lower()
            summary[f"{key}_{name.replace(' ', '_')}_p99_dev_ms"] = round(s["p99_dev_ms"], 4)
            summary[f"{key}_{name.replace(' ', '_')}_mean_ms"] = round(s["mean_ms"], 4)
    print(json.dumps({"bench": "clock_follow", "bpm": args.bpm, "seconds": args.seconds,
                      "jack": where, **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
