"""Follow mode under load: a drummer plays into GrooveBridge In while the engine re-generates
the pattern from the played input at every bar line, and a receiver times what comes out.

Starts its own JACK server (dummy backend, 48 kHz, ``--period`` frames, default 32). A second
process plays a Groove MIDI Dataset groove, looped, into "GrooveBridge In" at ``--bpm`` (174) for
``--seconds`` (300); the engine (internal clock, follow on: every bar, the last 4 bars, drums
source, amount 0.5, the shipped default model) plays to "GrooveBridge Out", read by a receiver
in a third process. Reported: playback jitter at the receiver (|error - median error|, ms),
notes lost, generation time per bar (the model's encode + decode calls of each follow job),
bars answered in time vs generations skipped as late (``follow_late``), and notes left hanging
(note-ons without a note-off at the receiver after stop). Targets: jitter p99 <= 0.5 ms,
generation <= 10 ms per bar on 2 cores, every bar answered in time, no stuck notes.

    .venv/bin/python benchmarks/bench_follow.py [--seconds 300] [--bpm 174] [--period 32]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_playback_timing import TimedMidi
from jack_bench import Receiver, Sender, jack_server, load_bench_model, match_arrivals, stats_ms

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.midi.ports import IN_PORT_NAME, OUT_PORT_NAME, resolve_api
from bridge.play.player import PlayedNote
from bridge.settings import Settings
from models.drum_maps import ROLAND

GMD_FILE = Path(__file__).resolve().parents[2] / "shared/data/groove-midi/groove/drummer1/session1/102_funk_95_beat_4-4.mid"


class TimedModel:
    """The model, with the wall time of each encode / decode / drumify call recorded."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.calls: list[tuple[float, float]] = []  # (start, seconds)
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._model, name)
        if name not in ("encode", "decode", "drumify"):
            return attr

        def timed(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return attr(*a, **kw)
            finally:
                with self._lock:
                    self.calls.append((t0, time.perf_counter() - t0))

        return timed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--bpm", type=float, default=174.0)
    ap.add_argument("--period", type=int, default=32)
    ap.add_argument("--jack", choices=("auto", "rt", "no-rt"), default="auto")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from models.midi.files import read_midi

    base, model_desc = load_bench_model()
    model = TimedModel(base)
    groove = read_midi(GMD_FILE).groove
    groove = groove.window(0, 4 * (groove.num_bars // 4))
    loop_beats = groove.num_steps / 4
    with jack_server(args.period, args.jack) as jack_rt:
        midi = TimedMidi(resolve_api("jack"), input_port="", output_port="")
        clock = InternalClock(args.bpm)
        settings = Settings(bpm=args.bpm, input_drum_map="roland", follow_enabled=True, follow_every=1,
                            follow_bars=4, follow_source="drums", follow_amount=0.5, switch_interval_ms=0.5,
                            realtime_priority=10)
        engine = Engine(settings, model_loader=lambda name: model, midi=midi, clock=clock, auto_sample=False)
        notes: list[PlayedNote] = []
        engine.subscribe(lambda e, p: notes.append(p) if e == "note" and isinstance(p, PlayedNote) else None)
        engine.start()
        while engine.snapshot().model_state == "loading":
            time.sleep(0.05)
        engine.set_pattern(groove.window(0, 4), "start")
        rx = Receiver(OUT_PORT_NAME)
        sender = Sender(IN_PORT_NAME)
        engine.play()
        time.sleep(0.5)
        start_beat = (int(clock.beat_at(clock.now_sec()) // 4) + 1) * 4.0
        beats = args.seconds * args.bpm / 60.0
        events = groove.to_events()
        plan = []
        for k in range(int(beats // loop_beats) + 1):
            for n in events:
                b = start_beat + k * loop_beats + n.start_beats
                if b < start_beat + beats:
                    plan.append((clock.time_at_beat(b), [0x99, ROLAND.output_pitch(n.drum_class), n.velocity]))
        plan.sort(key=lambda x: x[0])
        sender.play(plan)
        time.sleep(2 * 240.0 / args.bpm)  # two more bars: the last answers
        origin_sec = clock.time_at_beat(0.0)
        snap = engine.snapshot()
        engine.stop()
        time.sleep(0.5)
        raw = rx._rx.finish()  # every message, offs included (stuck notes)
        engine.close()
    on = raw["on"]
    arrivals = list(zip(raw["t"][on].tolist(), raw["pitch"][on].tolist(), raw["vel"][on].tolist(), strict=True))
    balance: dict[int, int] = {}
    for is_on, pitch in zip(raw["on"].tolist(), raw["pitch"].tolist(), strict=True):
        balance[pitch] = balance.get(pitch, 0) + (1 if is_on else -1)
    stuck = sum(max(0, v) for v in balance.values())
    played = [n for n in notes if origin_sec + n.beat * 60.0 / args.bpm > plan[0][0] - 1]
    intended = [(origin_sec + p.beat * 60.0 / args.bpm, p.pitch, p.velocity) for p in played]
    pairs = match_arrivals(intended, arrivals)
    err = np.array([arrivals[j][0] - intended[i][0] for i, j in pairs])
    jitter = stats_ms(np.abs(err - np.median(err))) if len(err) else stats_ms(np.array([]))
    bars = int(beats // 4)
    per_call = np.array([c[1] for c in model.calls])
    gen_ms = float(per_call.sum() * 1000 / max(snap.follow_updates, 1))
    result = {
        "bench": "follow", "bpm": args.bpm, "seconds": args.seconds, "period_frames": args.period,
        "jack_realtime": jack_rt, "model": model_desc, "bars_played": bars, "follow_updates": snap.follow_updates,
        "follow_late": snap.follow_late, "notes_played": len(played), "notes_heard": len(pairs),
        "notes_lost": len(played) - len(pairs), "jitter_ms": jitter, "generation_ms_per_bar": gen_ms,
        "model_call_ms": stats_ms(per_call), "stuck_notes": stuck,
    }
    print(f"follow at {args.bpm:g} BPM for {args.seconds:g} s, JACK period {args.period} frames "
          f"(jackd {'-R' if jack_rt else '--no-realtime'}), input {GMD_FILE.name}, model {model_desc}")
    print(f"bars {bars}, follow updates {snap.follow_updates}, late (skipped) {snap.follow_late}, "
          f"generation {gen_ms:.1f} ms per bar; notes {len(pairs)}/{len(played)} heard, stuck {stuck}; "
          f"jitter p50 {jitter['p50']:.3f} p99 {jitter['p99']:.3f} max {jitter['max']:.3f} ms")
    print(f"targets: jitter p99 <= 0.5 ms {'met' if jitter['p99'] <= 0.5 else 'NOT met'}; generation <= 10 ms per bar "
          f"{'met' if gen_ms <= 10 else 'NOT met'}; every bar in time {'met' if snap.follow_late == 0 else 'NOT met'}; "
          f"no stuck notes {'met' if stuck == 0 else 'NOT met'}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
