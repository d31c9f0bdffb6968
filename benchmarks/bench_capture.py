"""Capture timing error: a groove played into GrooveBridge In (JACK) vs what the engine heard.

Starts its own JACK server (dummy backend, 32-frame period; ``jackd -R`` where allowed, else
``--no-realtime``; ``--jack`` forces either). A second process plays 4 bars of a
real Groove MIDI Dataset groove (a made-up one when the dataset is absent) at 120 BPM into
GrooveBridge In while the engine's "record next 4 bars" runs; the player reports when it really
sent each note and, from a second client of its own on the same port, when JACK delivered it.
Figures: arrival-time error of each captured hit (engine timestamp - send time, ms; includes
JACK's own delivery delay), the captured groove's offset error (units of half a 16th: 0.05 =
3.1 ms at 120 BPM), and the engine's error against JACK's delivery time (ms), at rest and
while the model re-generates every bar; ratio against the rest run.
Target: p99 < 1 ms.

    .venv/bin/python benchmarks/bench_capture.py [--jack auto|rt|no-rt]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import numpy as np
from jack_bench import ROOT, Sender, jack_server, load_bench_model, stats_ms

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.midi.ports import IN_PORT_NAME
from bridge.settings import Settings
from models.drum_maps import ROLAND
from models.groove import Groove

BPM = 120.0
GMD_FILE = ROOT.parent / "shared/data/groove-midi/groove/drummer1/session1/102_funk_95_beat_4-4.mid"


def bench_groove() -> tuple[Groove, str]:
    if GMD_FILE.is_file():
        from models.midi.files import load_groove_window

        g, _ = load_groove_window(GMD_FILE, window=1, drum_map="roland")
        return g, f"GMD {GMD_FILE.name} bars 5-8"
    rng = np.random.default_rng(3)
    h = (rng.random((64, 9)) < 0.15).astype(np.float32)
    return Groove(h, h * rng.uniform(0.2, 1, (64, 9)), h * rng.uniform(-0.9, 0.9, (64, 9)), BPM), "made-up"


def run_phase(engine: Engine, clock: InternalClock, groove: Groove, generate: bool) -> dict[str, object]:
    events: list[tuple[str, object]] = []
    unsubscribe = engine.subscribe(lambda e, p: events.append((e, p)) if e == "capture" else None)
    sender = Sender(IN_PORT_NAME, monitor=True)
    engine.play()
    time.sleep(0.2)
    engine.capture("A", "next")
    while not events:
        time.sleep(0.01)
    start_beat = (events[0][1]["start_bar"] - 1) * 4.0  # type: ignore[index]
    notes = groove.to_events()
    plan = [(clock.time_at_beat(start_beat + n.start_beats), [0x99, ROLAND.output_pitch(n.drum_class), n.velocity])
            for n in notes]
    stop = threading.Event()
    gens = [0]

    def generator() -> None:
        while not stop.wait(clock.time_at_beat((int(clock.beat_at(clock.now_sec()) // 4) + 1) * 4) - clock.now_sec() + 0.05):
            engine.sample(4)
            gens[0] += 1

    thread = threading.Thread(target=generator, daemon=True)
    if generate:
        thread.start()
    sent = np.array(sender.play(plan))
    stop.set()
    while not any(p.get("state") == "done" for _, p in events):  # type: ignore[union-attr]
        time.sleep(0.01)
    heard = [h for h in engine.capture_buffer.hits() if h.beat >= start_beat - 0.2]
    origin_sec = clock.time_at_beat(0.0)  # while it runs: a stopped clock extrapolates from now
    engine.stop()
    unsubscribe()
    time.sleep(0.2)
    got = engine.snapshot().slots["A"]
    # Pair each sent note with the heard hit of the same pitch and velocity nearest in time (a
    # JACK client without real-time priority can miss a cycle and lose its notes).
    used: set[int] = set()
    err_list: list[float] = []
    jack_list: list[float] = []  # engine time (refined, as the capture uses it) - JACK delivery
    refine = engine.capture_buffer.refine or (lambda t: t)
    delivered = sender.delivered if len(sender.delivered) == len(sent) else [float("nan")] * len(sent)
    for t_sent, t_jack, (_t, msg) in zip(sent, delivered, plan, strict=True):
        cands = [j for j, h in enumerate(heard) if j not in used and (h.pitch, h.velocity) == (msg[1], msg[2])
                 and abs(h.t_sec - t_sent) < 0.05]
        if cands:
            j = min(cands, key=lambda j: abs(heard[j].t_sec - t_sent))
            used.add(j)
            err_list.append(heard[j].t_sec - t_sent)
            jack_list.append(refine(heard[j].t_sec) - t_jack)
    err = np.array(err_list)
    same = len(err_list) == len(sent) == len(heard)
    played_off = groove.offsets.copy()
    for note, t_sent in zip(notes, sent, strict=True):
        pos_steps = ((t_sent - origin_sec) * BPM / 60.0 - start_beat) * 4
        s = int(np.floor(note.start_beats * 4 + 0.5))
        played_off[s, note.drum_class] = 2.0 * (s - pos_steps)
    assert isinstance(got, Groove)
    mask = groove.hits > 0.5
    off_err = np.abs(got.offsets - played_off)[mask]
    return {
        "hits_sent": len(sent), "hits_heard": len(heard), "pitches_velocities_match": same,
        "groove_hits_equal": bool(np.array_equal(got.hits, groove.hits)), "generations": gens[0],
        "arrival_ms": stats_ms(np.abs(err)), "vs_jack_delivery_ms": stats_ms(np.abs(np.array(jack_list))),
        "offset_err_units": {
            "p50": float(np.percentile(off_err, 50)), "p99": float(np.percentile(off_err, 99)), "max": float(off_err.max())},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--period", type=int, default=32)
    ap.add_argument("--jack", choices=("auto", "rt", "no-rt"), default="auto",
                    help="private jackd: real-time (-R) where allowed, or forced either way")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    model, model_desc = load_bench_model()
    groove, groove_desc = bench_groove()
    with jack_server(args.period, args.jack) as jack_rt:
        clock = InternalClock(BPM)
        engine = Engine(Settings(bpm=BPM, midi_api="jack", midi_output="none", input_drum_map="roland"),
                        model_loader=lambda name: model, clock=clock, auto_sample=False)
        engine.start()
        while engine.snapshot().model_state == "loading":
            time.sleep(0.05)
        try:
            rest = run_phase(engine, clock, groove, generate=False)
            busy = run_phase(engine, clock, groove, generate=True)
        finally:
            engine.close()
    print(f"capture timing: {groove_desc}, 4 bars at {BPM:g} BPM into {IN_PORT_NAME}, JACK period {args.period} "
          f"frames, jackd {'-R' if jack_rt else '--no-realtime'}, model {model_desc}")
    print(f"{'phase':<12} {'sent':>5} {'heard':>5} {'same':>5} {'hits=':>5} {'gens':>4} | {'err p50':>8} {'err p99':>8} "
          f"{'err max':>8} (ms) | {'off p50':>7} {'off p99':>7} {'off max':>7} (1/2 16th) | vs JACK delivery "
          f"{'p50':>6} {'p99':>6} {'max':>6} (ms)")
    for name, r in (("rest", rest), ("generating", busy)):
        a, o, j = r["arrival_ms"], r["offset_err_units"], r["vs_jack_delivery_ms"]  # type: ignore[index]
        print(f"{name:<12} {r['hits_sent']:>5} {r['hits_heard']:>5} {str(r['pitches_velocities_match']):>5} "
              f"{str(r['groove_hits_equal']):>5} {r['generations']:>4} | {a['p50']:8.3f} {a['p99']:8.3f} {a['max']:8.3f}      "
              f"| {o['p50']:7.4f} {o['p99']:7.4f} {o['max']:7.4f}            | "
              f"{j['p50']:6.3f} {j['p99']:6.3f} {j['max']:6.3f}")
    ratio = busy["arrival_ms"]["p99"] / rest["arrival_ms"]["p99"]  # type: ignore[index]
    print(f"ratio generating/rest p99: {ratio:.2f}x; target p99 < 1 ms: "
          f"{'met' if busy['arrival_ms']['p99'] < 1.0 else 'NOT met'}")  # type: ignore[index]
    print(json.dumps({"bench": "capture", "bpm": BPM, "period_frames": args.period, "jack_realtime": jack_rt,
                      "groove": groove_desc, "model": model_desc, "rest": rest, "generating": busy,
                      "ratio_p99": ratio}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
