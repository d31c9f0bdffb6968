"""Benchmark: MIDI-clock follow phase and tempo error after lock (target: phase p99 under 2 ms).

Runs, each with a baseline in the same process:
* synthetic: exact 24 PPQN ticks with uniform +-``--jitter_ms`` arrival jitter;
* synthetic, quantised: the ticks delivered as JACK does with a ``-p``-frame period (each at
  the end of the period it was sent in, 48 kHz, plus a small random wake-up delay), with a
  tempo change (``--bpm`` -> ``--bpm2``) half-way; "follow" = beats after the change until the
  phase error is back within 2 ms of its mean (or the steady p99, if larger) and the tempo
  within 0.5 BPM, for good;
* JACK loopback: ``MidiClockSender`` (InternalClock at ``--bpm``) -> a JACK MIDI port ->
  ``MidiClockFollower`` behind a virtual JACK input, on a private dummy JACK server
  (``benchmarks/jack_bench.jack_server``) with period ``-p`` frames (default 32, 0.67 ms at
  48 kHz; ``-p 0`` uses the JACK server already running).

Phase error = predicted time - true time of the master's next tick ("tick") and next beat
("beat", what a scheduler looking ahead needs), where true times come from the sender's own
clock. Predictions are made as each tick arrives, from the ticks before it, once the
follower reports lock. Baseline: the naive estimate (count the ticks received, extrapolate
the last interval). The constant part (``mean``, transport latency: about half a period
plus a period with JACK) is what the latency setting compensates; ``p99 |e-mean|`` is the
jitter it cannot. Tempo error = |follower bpm - true bpm| at each tick after lock.

    .venv/bin/python benchmarks/bench_clock_follow.py [-p 32] [--bpm 120] [--bpm2 132] [--seconds 20]
        [--input both|poll|callback]   (JACK loopback read by the engine's polled reader,
        the previous rtmidi callback, or both in turn: the default)
    .venv/bin/python benchmarks/bench_clock_follow.py --faults [--bpm 138] [--periods 32,256]
        [--modes sync,async] [--masters frames,rtmidi] [--jack no-rt]   (the fault table:
        benchmarks/clock_fault_table.py; both masters by default, the DAW-like one first)

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.clock.midi_in import CLOCK, PPQN, START, MidiClockFollower  # noqa: E402
from tests.rigs.clock_streams import quantised_arrivals  # noqa: E402

NAMES = ("follower tick", "naive tick", "follower beat", "naive beat")


class Probe:
    """Feeds a follower; before each tick, records its predictions and the naive baseline's.

    Both predict the master's next tick and next beat (from the true beat at the arrival
    instant), so lost or delayed ticks count against whichever estimator miscounts them.
    Rows: (arrival time, the four errors in ms, follower tempo error in BPM).
    """

    def __init__(self, follower: MidiClockFollower, true_beat_at: Callable[[float], float],
                 true_time_at: Callable[[float], float], true_bpm_at: Callable[[float], float]) -> None:
        self.f = follower
        self.true_beat_at = true_beat_at
        self.true_time_at = true_time_at
        self.true_bpm_at = true_bpm_at
        self.count = -1  # naive: ticks received since Start
        self.times: list[float] = []
        self.rows: list[tuple[float, ...]] = []

    def feed(self, t_sec: float, msg: list[int]) -> None:
        f = self.f
        if msg[0] == CLOCK and self.count >= 1 and f.locked and f.is_playing:
            last, prev = self.times[-1], self.times[-2]
            interval = last - prev
            b_now = self.true_beat_at(t_sec)
            row = [t_sec]
            for beat in ((math.floor(b_now * PPQN + 1e-9) + 1) / PPQN, math.floor(b_now + 1e-9) + 1.0):
                truth = self.true_time_at(beat)
                naive = last + (beat * PPQN - self.count) * interval
                row += [(f.time_at_beat(beat) - truth) * 1000, (naive - truth) * 1000]
            row.append(f.bpm - self.true_bpm_at(t_sec))
            self.rows.append(tuple(row))
        f.feed(t_sec, msg)
        if msg[0] == START:
            self.count = -1
            self.times.clear()
        elif msg[0] == CLOCK:
            self.count += 1
            self.times.append(t_sec)


def stats(e: np.ndarray) -> dict[str, float]:
    if e.size == 0:
        return {"mean_ms": math.nan, "p50_dev_ms": math.nan, "p99_dev_ms": math.nan,
                "max_dev_ms": math.nan, "p99_abs_ms": math.nan, "n": 0}
    mean = float(np.mean(e))
    dev = np.abs(e - mean)
    return {"mean_ms": mean, "p50_dev_ms": float(np.percentile(dev, 50)),
            "p99_dev_ms": float(np.percentile(dev, 99)), "max_dev_ms": float(dev.max()),
            "p99_abs_ms": float(np.percentile(np.abs(e), 99)), "n": int(e.size)}


def analyse(probe: Probe, t_change: float | None, bpm2: float) -> dict:
    """Steady-state errors (after lock, before the change) and how fast the change was followed."""
    rows = np.array(probe.rows, float).reshape(-1, 6)
    steady = rows if t_change is None else rows[rows[:, 0] < t_change]
    out: dict = {name: stats(steady[:, 1 + i]) for i, name in enumerate(NAMES)}
    bpm_err = np.abs(steady[:, 5])
    out["tempo"] = {"p50_bpm": float(np.percentile(bpm_err, 50)) if bpm_err.size else math.nan,
                    "p99_bpm": float(np.percentile(bpm_err, 99)) if bpm_err.size else math.nan}
    if t_change is not None and rows.size and out["follower beat"]["n"]:  # (never locked before: no figure)
        post = rows[rows[:, 0] >= t_change]
        beat = out["follower beat"]
        limit = max(2.0, beat["p99_dev_ms"])
        bad = (np.abs(post[:, 3] - beat["mean_ms"]) > limit) | (np.abs(post[:, 5]) > 0.5)
        follow_sec = float(post[np.nonzero(bad)[0][-1], 0] - t_change) if bad.any() else 0.0
        settled = post[post[:, 0] >= t_change + follow_sec + 1e-9]
        out["change"] = {"follow_beats": follow_sec * bpm2 / 60.0,
                         "after_p99_dev_ms": float(np.percentile(np.abs(settled[:, 3] - beat["mean_ms"]), 99))
                         if settled.size else math.nan,
                         "after_p99_bpm": float(np.percentile(np.abs(settled[:, 5]), 99)) if settled.size else math.nan}
    return out


def synthetic(bpm: float, seconds: float, jitter_ms: float) -> dict:
    rng = random.Random(7)
    period = 60.0 / (bpm * PPQN)
    t0 = 1000.0
    now = [t0]
    probe = Probe(MidiClockFollower(now=lambda: now[0]), lambda t: (t - t0) / (period * PPQN),
                  lambda beat: t0 + beat * period * PPQN, lambda t: bpm)
    probe.feed(t0 - 0.001, [START])
    for k in range(int(seconds / period)):
        now[0] = t0 + k * period + rng.uniform(-jitter_ms, jitter_ms) / 1000.0
        probe.feed(now[0], [CLOCK])
    return analyse(probe, None, bpm)


def quantised(bpm: float, bpm2: float, seconds: float, period_frames: int, hint: bool = False) -> dict:
    """Ticks delivered on JACK period boundaries (+ 0-0.3 ms wake-up), tempo change half-way."""
    rng = np.random.default_rng(7)
    t0, t_change = 1000.0, 1000.0 + seconds / 2
    spt1, spt2 = 60.0 / (bpm * PPQN), 60.0 / (bpm2 * PPQN)
    k_change = math.ceil(seconds / 2 / spt1)
    t_change = t0 + k_change * spt1
    n = k_change + int(seconds / 2 / spt2)
    k = np.arange(n)
    sent = np.where(k < k_change, t0 + k * spt1, t_change + (k - k_change) * spt2)
    q_sec = period_frames / 48000.0
    arrivals = quantised_arrivals(sent, q_sec, rng.uniform(0, q_sec), rng.uniform(0, 0.0003, n))

    def beat_at(t: float) -> float:
        return (t - t0) / (spt1 * PPQN) if t < t_change else k_change / PPQN + (t - t_change) / (spt2 * PPQN)

    def time_at(beat: float) -> float:
        kk = beat * PPQN
        return t0 + kk * spt1 if kk < k_change else t_change + (kk - k_change) * spt2

    now = [t0]
    follower = MidiClockFollower(now=lambda: now[0], delivery_period_ms=q_sec * 1000 if hint else 0.0)
    probe = Probe(follower, beat_at, time_at, lambda t: bpm if t < t_change else bpm2)
    probe.feed(t0 - 0.001, [START])
    for t in arrivals:
        now[0] = float(t)
        probe.feed(now[0], [CLOCK])
    out = analyse(probe, t_change, bpm2)
    out["counts"] = {"tempo_changes": follower.tempo_changes, "resyncs": follower.resyncs}
    return out


def jack_loopback(bpm: float, bpm2: float, seconds: float, trace: str = "", input_mode: str = "poll") -> dict:
    """``input_mode``: "poll" (the engine's reader, ``bridge.midi.input.PolledInput``: times
    from JACK's delta times) or "callback" (the previous rtmidi callback, time read in it)."""
    import rtmidi

    from bridge.clock.base import InternalClock
    from bridge.clock.midi_in import MidiClockSender
    from bridge.midi.input import PolledInput, new_midi_in

    follower = MidiClockFollower()
    clock = InternalClock(bpm)
    t_change = [math.inf]
    probe = Probe(follower, clock.beat_at, clock.time_at_beat,
                  lambda t: bpm if t < t_change[0] else bpm2)
    tag = str(os.getpid())
    midi_in = new_midi_in(rtmidi, rtmidi.API_UNIX_JACK, f"gbbenchfollow{tag}")
    midi_in.open_virtual_port("in")
    arrivals: list[tuple[float, list[int]]] = []

    def on_event(message: list[int], t: float) -> None:
        arrivals.append((t, message))
        probe.feed(t, message)

    reader = None
    if input_mode == "callback":
        midi_in.set_callback(lambda event, _data=None: on_event(event[0], time.monotonic()))
    else:
        reader = PolledInput(midi_in, on_event)
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=f"gbbenchsend{tag}")
    out.open_virtual_port("out")
    # connect by exact names (port indices shift while other clients come and go)
    subprocess.run(["jack_connect", f"gbbenchsend{tag}:out", f"gbbenchfollow{tag}:in"],
                   check=True, capture_output=True, timeout=10)
    sender = MidiClockSender(clock, out.send_message)
    clock.start(at_sec=clock.now_sec() + 0.05)
    sender.start()
    time.sleep(seconds / 2)
    if bpm2 != bpm:  # at a tick: the ticks before it keep their times in the new anchor
        beat = clock.beat_at(clock.now_sec())
        next_tick = (math.floor(beat * PPQN) + 1) / PPQN
        time.sleep(max(0.0, clock.time_at_beat(next_tick) - clock.now_sec() - 0.0005))
        t_change[0] = clock.time_at_beat(next_tick)
        clock.set_tempo(bpm2)  # phase-continuous at this instant
    time.sleep(seconds / 2)
    sender.close()
    time.sleep(0.05)
    if reader is not None:
        reader.close()
    else:
        midi_in.cancel_callback()
    midi_in.close_port()
    out.close_port()
    midi_in.delete()
    out.delete()
    print(f"JACK follower ({input_mode}): {follower.ticks_received} ticks, {follower.lost_ticks} lost on the way, "
          f"{follower.tempo_changes} tempo changes, {follower.resyncs} resyncs, "
          f"tick jitter {follower.jitter_ms:.3f} ms, noise band +-{follower.band_ms:.2f} ms")
    if trace:
        a = clock._anchor
        Path(trace).write_text(json.dumps({"arrivals": arrivals, "anchor": [a.t_sec, a.beat, a.bpm]}))
    result = analyse(probe, t_change[0] if bpm2 != bpm else None, bpm2)
    result["counts"] = {"tempo_changes": follower.tempo_changes, "resyncs": follower.resyncs}
    return result


def fault_table(bpm: float, periods: list[int], modes: list[str], jack_mode: str, masters: tuple[str, ...] | list[str] = ("rtmidi",),
                reader: str = "auto") -> int:
    """Per JACK period, mode and master: each fault's largest phase error after it, the beats
    until it stays under 1 ms, false slips; the ramp 60 -> 180 BPM in 8 bars; one JSON line.
    Master "rtmidi" writes every message at its period's first frame (python-rtmidi's output),
    "frames" on its own frame (as a DAW on JACK does); the reader is the engine's
    (bridge.midi.jack_frames where it builds, unless GROOVEBRIDGE_MIDI_FRAMES=0) unless ``reader`` says."""
    from clock_fault_table import fault_rows, ramp_rows
    from jack_bench import jack_server

    summary: dict[str, object] = {}
    for period, mode, master in ((p, m, s) for p in periods for m in modes for s in masters):
        frames = master == "frames"
        with jack_server(period, jack_mode, sync=mode == "sync") as realtime:
            faults, ramp = fault_rows(bpm, frames=frames, reader_kind=reader), ramp_rows(frames=frames, reader_kind=reader)
        where = (f"JACK p{period} {'-S' if mode == 'sync' else 'async'} {'-R' if realtime else '--no-realtime'}, "
                 f"master {master}, reader {faults['reader']}")
        print(f"\n{where}, {bpm:g} BPM: latency {faults['latency_ms']:.2f} ms (removed); "
              f"{faults['ticks']} ticks, {faults['duplicates']} duplicates and {faults['lost']} lost recognised, "
              f"{faults['tempo_changes']} tempo changes, {faults['resyncs']} resyncs; "
              f"phase p99 {faults['phase_p99_ms']:.3f} ms (next beat), {faults['tick_p99_ms']:.3f} ms (next tick)")
        print(f"  {'fault':<22}{'max |e| ms':>12}{'settle beats':>14}{'false slips':>13}  slips")
        for row in faults["table"]:
            print(f"  {row['fault']:<22}{row['max_ms']:>12.3f}{row['settle_beats']:>14.2f}{row['false_slips']:>13d}  {row['slips']}")
        print(f"  {'ramp 60->180, 8 bars':<22}{ramp['phase_max_ms']:>12.3f}  phase p99 {ramp['phase_p99_ms']:.3f} ms "
              f"(next tick), {ramp['bpm_end']:.2f} BPM at the end, {ramp['slips']} slips")
        key = f"p{period}_{mode}" + ("_frames" if frames else "")
        summary[key] = {"table": [{k: row[k] for k in ("fault", "max_ms", "settle_beats", "false_slips")}
                                  for row in faults["table"]],
                        "phase_p99_ms": round(faults["phase_p99_ms"], 4), "ramp_p99_ms": round(ramp["phase_p99_ms"], 4),
                        "realtime": realtime}
    print(json.dumps({"bench": "clock_follow_faults", "bpm": bpm, **summary}))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bpm", type=float, default=120.0)
    p.add_argument("--bpm2", type=float, default=None, help="tempo after the change half-way (default bpm * 1.1)")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--jitter_ms", type=float, default=1.0)
    p.add_argument("-p", "--period", type=int, default=32, help="JACK period in frames; 0 = the running server")
    p.add_argument("--jack", choices=("auto", "rt", "no-rt"), default="auto", help="private server mode")
    p.add_argument("--no-jack", action="store_true", help="synthetic runs only")
    p.add_argument("--input", choices=("poll", "callback", "both"), default="both",
                   help="JACK loopback input: polled reader (the engine's), the old callback, or both in turn")
    p.add_argument("--trace", default="", help="write the JACK arrivals (time, message) as JSON here")
    p.add_argument("--faults", action="store_true",
                   help="the fault table instead: a second-process master injects faults over JACK periods "
                        "--periods, synchronous (-S) and asynchronous (benchmarks/clock_fault_table.py)")
    p.add_argument("--periods", default="32,256", help="JACK periods (frames) for --faults")
    p.add_argument("--modes", default="sync,async", help="JACK modes for --faults")
    p.add_argument("--masters", default="frames,rtmidi", help="for --faults: frames (each message on its own "
                   "frame, as a DAW on JACK or a2jmidid places it), rtmidi (every message at its period's first "
                   "frame: python-rtmidi's output, a worst case), or both (the default)")
    p.add_argument("--reader", choices=("auto", "frames", "rtmidi"), default="auto",
                   help="for --faults: GrooveBridge's JACK input (auto: the engine's: the frame reader unless GROOVEBRIDGE_MIDI_FRAMES=0)")
    args = p.parse_args(argv)
    if args.faults:
        return fault_table(args.bpm, [int(x) for x in args.periods.split(",")], args.modes.split(","), args.jack,
                           args.masters.split(","), args.reader)
    bpm2 = args.bpm2 if args.bpm2 is not None else round(args.bpm * 1.1, 3)
    results: dict[str, dict] = {}
    results[f"synthetic +-{args.jitter_ms:g} ms"] = synthetic(args.bpm, max(args.seconds, 30.0), args.jitter_ms)
    if args.period > 0:
        results[f"quantised p{args.period}"] = quantised(args.bpm, bpm2, max(args.seconds, 30.0), args.period, False)
    where = "none"
    modes = ("callback", "poll") if args.input == "both" else (args.input,)
    if not args.no_jack:
        from jack_bench import jack_server

        if args.period > 0:
            with jack_server(args.period, args.jack) as realtime:
                where = f"private JACK{' -R' if realtime else ' --no-realtime'}, period {args.period}"
                for mode in modes:
                    results[f"JACK {mode}"] = jack_loopback(args.bpm, bpm2, args.seconds, args.trace, mode)
        elif subprocess.run(["jack_lsp"], capture_output=True, timeout=5).returncode == 0:
            where = "running JACK server"
            for mode in modes:
                results[f"JACK {mode}"] = jack_loopback(args.bpm, bpm2, args.seconds, args.trace, mode)
        else:
            print("bench_clock_follow: no JACK server: JACK loopback skipped", file=sys.stderr)
    print(f"MIDI clock follow at {args.bpm:g} BPM (change to {bpm2:g} half-way in the quantised and JACK runs); "
          f"JACK: {where}; errors in ms after lock, before the change; {os.cpu_count()} CPU(s)")
    print(f"{'run':<26}{'estimator':<15}{'mean':>8}{'p50|e-m|':>10}{'p99|e-m|':>10}{'max|e-m|':>10}"
          f"{'p99|e|':>9}{'naive/ours':>11}")
    summary: dict[str, float] = {}
    for run, table in results.items():
        key = "_".join(run.split()[:2]).lower() if run.startswith("JACK") else run.split()[0].lower()
        for name in NAMES:
            s = table[name]
            base = table["naive " + name.split()[1]]
            ratio = base["p99_dev_ms"] / s["p99_dev_ms"] if s["p99_dev_ms"] > 0 else float("inf")
            print(f"{run:<26}{name:<15}{s['mean_ms']:>8.3f}{s['p50_dev_ms']:>10.3f}{s['p99_dev_ms']:>10.3f}"
                  f"{s['max_dev_ms']:>10.3f}{s['p99_abs_ms']:>9.3f}{ratio:>11.1f}")
            summary[f"{key}_{name.replace(' ', '_')}_p99_dev_ms"] = round(s["p99_dev_ms"], 4)
            summary[f"{key}_{name.replace(' ', '_')}_mean_ms"] = round(s["mean_ms"], 4)
        tempo = table["tempo"]
        line = f"{run:<26}tempo error after lock: p50 {tempo['p50_bpm']:.4f} BPM, p99 {tempo['p99_bpm']:.4f} BPM"
        summary[f"{key}_tempo_p99_bpm"] = round(tempo["p99_bpm"], 5)
        if "change" in table:
            c = table["change"]
            line += (f"; change followed in {c['follow_beats']:.2f} beats, then beat p99 {c['after_p99_dev_ms']:.3f} ms, "
                     f"tempo p99 {c['after_p99_bpm']:.4f} BPM")
            summary[f"{key}_follow_beats"] = round(c["follow_beats"], 3)
        if "counts" in table:
            line += f"; tempo changes {table['counts']['tempo_changes']}, resyncs {table['counts']['resyncs']}"
            summary[f"{key}_tempo_changes"] = table["counts"]["tempo_changes"]
        print(line)
    print(json.dumps({"bench": "clock_follow", "bpm": args.bpm, "bpm2": bpm2, "seconds": args.seconds,
                      "period_frames": args.period, "jack": where, **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
