"""MIDI input integrity under load: a dense known stream into GrooveBridge In, checked event by event.

Starts its own JACK server (dummy backend, ``--period`` frames, ``jackd -R`` where allowed).
For each input mode (``--modes``, default the old rtmidi callback, then the polled reader
of ``bridge.midi.input``), an engine plays (InternalClock, 120 BPM) while a thread re-generates
with the model back to back, and a second process writes ``--rate`` events/s for
``--seconds`` into GrooveBridge In: note-ons and note-offs on channel 10 whose pitch and
velocity follow the event's index, with a MIDI clock byte (0xF8) every 8th event. Every
message the engine's input hands to its consumer is recorded (then passed on: clock to the
clock, notes to the capture buffer) and aligned with the sent stream: intact, wrong (an event
with bytes that were never sent at that place: a misread), missing. Also: the reader thread's
CPU (poll mode), the process CPU, and generations done. Ratio: each mode's wrong + missing
count against the first mode's.

    .venv/bin/python benchmarks/bench_midi_input.py [--rate 3600] [--seconds 10] [--period 32]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import threading
import time

from jack_bench import jack_server, load_bench_model

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.midi.ports import IN_PORT_NAME
from bridge.settings import Settings

SENDER = r"""
import sys, time, rtmidi
port, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
mo = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="input-sender")
idx = next(i for i, n in enumerate(mo.get_ports()) if port in n)
mo.open_port(idx)
print("ready", flush=True)
sys.stdin.readline()
n, burst = int(rate * seconds), 4
t0 = time.monotonic()
for k in range(0, n, burst):
    while time.monotonic() < t0 + k / rate:
        time.sleep(0.0002)
    for j in range(k, min(n, k + burst)):
        mo.send_message(message(j))
time.sleep(0.3)
print(n, flush=True)
"""


def message(k: int) -> list[int]:
    """The k-th event of the stream (a pure function of k, so the sender needs no plan)."""
    if k % 8 == 7:
        return [0xF8]
    pitch = 35 + (k // 2) % 47
    return [0x99 if k % 2 == 0 else 0x89, pitch, 1 + (k * 37) % 127]


def align(sent: list[tuple[int, ...]], got: list[tuple[int, ...]], lookahead: int = 512) -> dict[str, int]:
    """In-order alignment: each received event is matched with the first equal sent event at
    or after the last match (within ``lookahead``); the sent ones skipped are missing (lost, or
    replaced by a misread); a received event without a match is wrong (bytes never sent there)."""
    i = intact = missing = wrong = 0
    for g in got:
        k = next((k for k in range(i, min(len(sent), i + lookahead)) if sent[k] == g), None)
        if k is None:
            wrong += 1
            continue
        missing += k - i
        intact += 1
        i = k + 1
    missing += len(sent) - i
    return {"sent": len(sent), "got": len(got), "intact": intact, "wrong": wrong, "missing": missing}


def thread_cpu_sec(native_id: int | None) -> float:
    if native_id is None:
        return 0.0
    try:
        with open(f"/proc/self/task/{native_id}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def run_mode(mode: str, model: object, rate: float, seconds: float) -> dict[str, object]:
    os.environ["GROOVEBRIDGE_MIDI_INPUT"] = mode
    clock = InternalClock(120.0)
    engine = Engine(Settings(bpm=120.0, midi_api="jack", midi_output="none"), model_loader=lambda name: model,
                    clock=clock, auto_sample=False)
    engine.start()
    got: list[tuple[int, ...]] = []
    try:
        while engine.snapshot().model_state == "loading":
            time.sleep(0.05)
        midi = engine._midi
        consumer = engine._on_midi_in
        midi.set_callback(lambda m, t: (got.append(tuple(m)), consumer(m, t)))
        reader = getattr(midi, "_reader", None)
        tid = reader._thread.native_id if reader is not None else None
        engine.play()
        stop = threading.Event()
        gens = [0]

        def generate() -> None:
            while not stop.wait(0.02):
                engine.sample(4)
                gens[0] += 1

        gen = threading.Thread(target=generate, daemon=True)
        gen.start()
        code = SENDER.replace("print(\"ready\"", inspect.getsource(message) + "print(\"ready\"", 1)
        sender = subprocess.Popen([sys.executable, "-c", code, IN_PORT_NAME, str(rate), str(seconds)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert sender.stdin is not None and sender.stdout is not None
        if sender.stdout.readline().strip() != "ready":
            raise SystemExit("sender did not start")
        time.sleep(0.5)
        cpu0, rcpu0, w0 = time.process_time(), thread_cpu_sec(tid), time.monotonic()
        sender.stdin.write("\n")
        sender.stdin.flush()
        n = int(sender.stdout.readline())
        sender.wait(5)
        wall = time.monotonic() - w0
        cpu, rcpu = time.process_time() - cpu0, thread_cpu_sec(tid) - rcpu0
        stop.set()
        gen.join(10)
        time.sleep(0.2)
    finally:
        engine.close()
    result = align([tuple(message(k)) for k in range(n)], got)
    result.update(mode=mode, generations=gens[0], process_cpu_pct=round(100 * cpu / wall, 1),
                  reader_cpu_pct=round(100 * rcpu / wall, 2) if tid else None,
                  captured_hits=len(engine.capture_buffer.hits()))
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=3600.0, help="events per second sent")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--period", type=int, default=32)
    ap.add_argument("--modes", default="callback,poll")
    ap.add_argument("--repeat", type=int, default=1, help="runs per mode (interleaved)")
    ap.add_argument("--jack", choices=("auto", "rt", "no-rt"), default="auto")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    model, model_desc = load_bench_model()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    rows = []
    with jack_server(args.period, args.jack) as jack_rt:
        for _ in range(args.repeat):
            rows += [run_mode(m, model, args.rate, args.seconds) for m in modes]
    load = os.getloadavg()
    print(f"MIDI input integrity: {args.rate:g} events/s for {args.seconds:g} s into {IN_PORT_NAME} while playing "
          f"and generating ({model_desc}); JACK period {args.period}, jackd {'-R' if jack_rt else '--no-realtime'}; "
          f"load {load[0]:.2f}")
    print(f"{'mode':<9}{'sent':>7}{'got':>7}{'intact':>7}{'wrong':>6}{'missing':>8}{'gens':>5}{'proc cpu%':>10}"
          f"{'reader cpu%':>12}{'bad ratio':>10}")
    base = rows[0]["wrong"] + rows[0]["missing"]  # type: ignore[operator]
    for r in rows:
        bad = r["wrong"] + r["missing"]  # type: ignore[operator]
        ratio = bad / base if base else float("nan")
        r["bad_ratio"] = ratio
        print(f"{r['mode']:<9}{r['sent']:>7}{r['got']:>7}{r['intact']:>7}{r['wrong']:>6}{r['missing']:>8}"
              f"{r['generations']:>5}{r['process_cpu_pct']:>10}{str(r['reader_cpu_pct']):>12}{ratio:>10.2f}")
    print(json.dumps({"bench": "midi_input", "rate": args.rate, "seconds": args.seconds, "period": args.period,
                      "jack_realtime": jack_rt, "model": model_desc, "load1": load[0], "runs": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
