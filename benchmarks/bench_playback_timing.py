"""Timing error of played notes at a JACK receiver, at rest and while the model re-generates.

Starts its own JACK server, dummy backend, 48 kHz, 32-frame period (0.67 ms): ``jackd -R``
where the OS allows real-time threads, else ``--no-realtime`` (``--jack`` forces either; without
real time a busy machine makes JACK clients miss cycles and lose notes). It runs the
engine (internal clock, 120 BPM, a groove with micro-timing; GrooveBridge Out -> a receiver
in a second process that timestamps arrivals with ``time.monotonic()``) for ``--bars`` bars
twice: baseline (no generation) and with the model re-generating every bar (alternately
sample and an A->B morph at a new position; every result swaps in at the next bar line).

Reported per phase, in ms: absolute error (arrival - intended time), jitter (|error - median
error|: the constant latency removed), and the scheduler's own send error (send_message
return - intended, measured in the engine process). Ratios against the baseline.
Target: jitter p99 < 1 ms.

    .venv/bin/python benchmarks/bench_playback_timing.py [--bars 32] [--jack auto|rt|no-rt]
        [--rt-priority 10] [--switch-interval-ms 0.5]   (0 and 5: the engine's mitigations off)
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import numpy as np
from jack_bench import Receiver, jack_server, load_bench_model, match_arrivals, stats_ms

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.midi.ports import OUT_PORT_NAME, MidiIO, resolve_api
from bridge.play.player import PlayedNote
from bridge.settings import Settings
from models.groove import Groove

BPM = 120.0


def micro_groove() -> Groove:
    """Kick/snare/hats in 16ths with velocities and offsets up to +-0.9 (early and late)."""
    rng = np.random.default_rng(7)
    g = Groove.empty(64)
    h, v, o = g.hits.copy(), g.velocities.copy(), g.offsets.copy()
    for s in range(64):
        for k, prob in ((0, 0.3 if s % 4 else 1.0), (1, 1.0 if s % 8 == 4 else 0.1), (2, 0.8)):
            if rng.random() < prob:
                h[s, k] = 1
                v[s, k] = rng.uniform(0.3, 1.0)
                o[s, k] = rng.uniform(-0.9, 0.9)
    return Groove(h, v, o, BPM)


class TimedMidi(MidiIO):
    """Our real JACK ports, also recording when each note-on's send_message returned."""

    def __init__(self, *a: object, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self.sent: list[float] = []

    def send_message(self, message: list[int] | bytes) -> None:
        super().send_message(message)
        if message[0] & 0xF0 == 0x90 and message[2] > 0:
            self.sent.append(time.monotonic())


def run_phase(engine: Engine, midi: TimedMidi, clock: InternalClock, bars: int, generate: bool) -> dict[str, object]:
    notes: list[PlayedNote] = []
    unsubscribe = engine.subscribe(lambda e, p: notes.append(p) if e == "note" else None)
    rx = Receiver(OUT_PORT_NAME)
    midi.sent.clear()
    engine.set_pattern(micro_groove(), "bench")
    engine.play()
    time.sleep(0.3)
    start_beat = clock.beat_at(clock.now_sec())
    stop = threading.Event()
    gens = [0]

    def generator() -> None:
        i = 0
        while not stop.is_set():
            beat = clock.beat_at(clock.now_sec())
            next_bar = (int(beat // 4) + 1) * 4
            stop.wait(max(0.0, clock.time_at_beat(next_bar) - clock.now_sec()) + 0.05)
            if stop.is_set():
                return
            if i % 2 == 0:
                engine.sample(4)
            else:
                engine.set_interpolation((i * 0.137) % 1.0)
            gens[0] += 1
            i += 1

    thread = threading.Thread(target=generator, daemon=True)
    if generate:
        thread.start()
    end_t = clock.time_at_beat(start_beat + bars * 4)
    while clock.now_sec() < end_t:
        time.sleep(0.05)
    stop.set()
    if generate:
        thread.join()
    origin_sec = clock.time_at_beat(0.0)  # while it runs: a stopped clock extrapolates from now
    engine.stop()
    time.sleep(0.3)
    unsubscribe()
    arrivals = rx.finish()
    played = [n for n in notes if isinstance(n, PlayedNote)]
    pairs = match_arrivals([(origin_sec + p.beat * 60.0 / BPM, p.pitch, p.velocity) for p in played], arrivals)
    n = len(pairs)
    intended = np.array([origin_sec + played[i].beat * 60.0 / BPM for i, _ in pairs])
    err = np.array([arrivals[j][0] for _, j in pairs]) - intended
    sent = np.array(midi.sent)
    send_err = (sent[[i for i, _ in pairs]] - intended) if len(sent) == len(played) else np.array([np.nan])
    lost = len(played) - n
    extra = len(arrivals) - n
    return {
        "notes": n, "played": len(played), "lost": lost, "unexpected": extra, "generations": gens[0],
        "abs": stats_ms(np.abs(err)), "jitter": stats_ms(np.abs(err - np.median(err))),
        "median_latency_ms": float(np.median(err) * 1000), "send": stats_ms(np.abs(send_err)),
        "send_late_max_ms": float(send_err.max() * 1000) if n else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bars", type=int, default=32)
    ap.add_argument("--period", type=int, default=32, help="JACK period in frames (48 kHz)")
    ap.add_argument("--switch-interval-ms", type=float, default=0.5, help="GIL switch interval (Python's default: 5)")
    ap.add_argument("--rt-priority", type=int, default=10, help="SCHED_FIFO priority of the scheduler thread (0 = off)")
    ap.add_argument("--jack", choices=("auto", "rt", "no-rt"), default="auto",
                    help="private jackd: real-time (-R) where allowed, or forced either way")
    ap.add_argument("--spin-ms", type=float, default=1.5, help="scheduler busy-wait before each event")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    model, model_desc = load_bench_model()
    with jack_server(args.period, args.jack) as jack_rt:
        midi = TimedMidi(resolve_api("jack"), input_port="none", output_port="")
        clock = InternalClock(BPM)
        settings = Settings(bpm=BPM, switch_interval_ms=args.switch_interval_ms, realtime_priority=args.rt_priority)
        engine = Engine(settings, model_loader=lambda name: model, midi=midi, clock=clock,
                        auto_sample=False, spin_sec=args.spin_ms / 1000.0)
        engine.start()
        while engine.snapshot().model_state == "loading":
            time.sleep(0.05)
        time.sleep(0.1)
        rt = engine.scheduler is not None and engine.scheduler.realtime
        engine.load_slot("A", micro_groove())
        engine.load_slot("B", micro_groove().with_changes(offsets=np.zeros((64, 9), np.float32)))
        try:
            base = run_phase(engine, midi, clock, args.bars, generate=False)
            gen = run_phase(engine, midi, clock, args.bars, generate=True)
        finally:
            engine.close()
    print(f"playback timing at a JACK receiver: {args.bars} bars at {BPM:g} BPM, JACK period {args.period} "
          f"frames, model {model_desc}, switch interval {sys.getswitchinterval() * 1000:g} ms, spin {args.spin_ms:g} ms, "
          f"scheduler SCHED_FIFO: {'yes' if rt else 'no'}, jackd {'-R' if jack_rt else '--no-realtime'}")
    print(f"{'phase':<12} {'notes':>6} {'lost':>5} {'gens':>5} | {'abs p50':>8} {'abs p99':>8} {'abs max':>8} | "
          f"{'jit p50':>8} {'jit p99':>8} {'jit max':>8} | {'send p99':>8} {'send max':>8}  (ms)")
    for name, r in (("baseline", base), ("generating", gen)):
        a, j, s = r["abs"], r["jitter"], r["send"]  # type: ignore[index]
        print(f"{name:<12} {r['notes']:>6} {r['lost']:>5} {r['generations']:>5} | {a['p50']:8.3f} {a['p99']:8.3f} "
              f"{a['max']:8.3f} | {j['p50']:8.3f} {j['p99']:8.3f} {j['max']:8.3f} | {s['p99']:8.3f} {s['max']:8.3f}")
    ratio = {k: gen[k]["p99"] / base[k]["p99"] if base[k]["p99"] else float("nan") for k in ("abs", "jitter", "send")}  # type: ignore[index]
    print(f"ratio generating/baseline p99: abs {ratio['abs']:.2f}x, jitter {ratio['jitter']:.2f}x, send {ratio['send']:.2f}x; "
          f"target jitter p99 < 1 ms: {'met' if gen['jitter']['p99'] < 1.0 else 'NOT met'}")  # type: ignore[index]
    print(json.dumps({"bench": "playback_timing", "bars": args.bars, "bpm": BPM, "period_frames": args.period,
                      "model": model_desc, "switch_interval_ms": sys.getswitchinterval() * 1000,
                      "spin_ms": args.spin_ms, "sched_fifo": rt, "jack_realtime": jack_rt, "baseline": base, "generating": gen, "ratio_p99": ratio}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
