"""Soak: long playback at 174 BPM with a morph every bar and OSC traffic; drift, growth, stuck notes.

Starts a private JACK server (``jack_bench.jack_server``), the engine with the shipped model
(``models.generate.load_model("default")``; a random-weight GrooVAE when none is installed),
GrooveBridge Out -> a receiver in a second process that timestamps every note-on and note-off,
and a real OSC server on 127.0.0.1 fed by a client thread (``--osc-rate`` messages/s: queries,
pings, temperature). Every bar the A->B morph position moves (the model decodes a new
pattern, swapped in at the next bar line). Reported:

* drift: error of each note's arrival against the clock (arrival - ``time_at_beat(beat)``),
  a linear fit of error vs time -> slope in ms/min, plus p50/p99/max of |error|;
* RSS and thread count (``/proc/self/status``) sampled every minute: growth first -> last;
* stuck notes: pitches whose last event at the receiver is a note-on after the stop; also,
  per pitch, note-ons minus note-offs received (not 0 = an event lost on the way).

    .venv/bin/python benchmarks/bench_soak.py [--minutes 30] [--osc-rate 50] [--jack auto|rt|no-rt]
"""

from __future__ import annotations

import argparse
import array
import json
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np
from jack_bench import jack_server, load_bench_model, stats_ms

from bridge.clock import InternalClock
from bridge.engine import Engine
from bridge.midi_ports import OUT_PORT_NAME, MidiIO, resolve_api
from bridge.osc import OscServer
from bridge.scheduler import PlayedNote
from bridge.settings import Settings

BPM = 174.0

NOTE_RECEIVER = r"""
import array, json, sys, time, rtmidi
port = sys.argv[1]
mi = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="soak-receiver")
mi.ignore_types(sysex=True, timing=True, active_sense=True)
ts, kinds, pitches, vels = array.array("d"), array.array("b"), array.array("B"), array.array("B")
def cb(ev, _data):
    t = time.monotonic()
    m = ev[0]
    if len(m) == 3 and m[0] & 0xE0 == 0x80:  # note-on / note-off
        on = m[0] & 0xF0 == 0x90 and m[2] > 0
        ts.append(t); kinds.append(1 if on else 0); pitches.append(m[1]); vels.append(m[2])
names = mi.get_ports()
idx = next(i for i, n in enumerate(names) if port in n)
mi.set_callback(cb)
mi.open_port(idx)
print("ready", flush=True)
sys.stdin.readline()
time.sleep(0.3)
print(json.dumps([list(ts), list(kinds), list(pitches), list(vels)]), flush=True)
"""


class NoteReceiver:
    """A second process reading ``port``: (time, on?, pitch, velocity) for notes on and off."""

    def __init__(self, port: str = OUT_PORT_NAME) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", NOTE_RECEIVER, port],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"receiver did not start: {line!r}")

    def finish(self) -> dict[str, np.ndarray]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        t, kind, pitch, vel = json.loads(self.proc.stdout.readline())
        self.proc.wait(5)
        return {"t": np.array(t), "on": np.array(kind, bool), "pitch": np.array(pitch, int), "vel": np.array(vel, int)}


class NoteLog:
    """Played notes (engine "note" events) in compact arrays: the log must not be the growth."""

    def __init__(self) -> None:
        self.beat = array.array("d")
        self.pitch = array.array("B")
        self.vel = array.array("B")

    def __call__(self, event: str, payload: Any) -> None:
        if event == "note" and isinstance(payload, PlayedNote):
            self.beat.append(payload.beat)
            self.pitch.append(payload.pitch)
            self.vel.append(payload.velocity)


def proc_status() -> dict[str, float]:
    """RSS (MiB) and OS thread count of this process."""
    out = {"rss_mib": float("nan"), "threads": float("nan")}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss_mib"] = int(line.split()[1]) / 1024.0
                elif line.startswith("Threads:"):
                    out["threads"] = float(line.split()[1])
    except OSError:
        pass
    return out


def match_notes(log: NoteLog, rx: dict[str, np.ndarray], origin_sec: float, bpm: float, window_sec: float = 0.05
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """(intended times, arrival times, unmatched played) pairing each played note with the arrival
    of the same pitch and velocity nearest its intended time (within ``window_sec``)."""
    ons = np.flatnonzero(rx["on"])
    by_key: dict[tuple[int, int], list[int]] = {}
    for j in ons:
        by_key.setdefault((int(rx["pitch"][j]), int(rx["vel"][j])), []).append(int(j))
    cursor = dict.fromkeys(by_key, 0)
    intended, arrived, lost = [], [], 0
    for beat, pitch, vel in zip(log.beat, log.pitch, log.vel, strict=True):
        t_int = origin_sec + beat * 60.0 / bpm
        cands = by_key.get((pitch, vel), [])
        i = cursor.get((pitch, vel), 0)
        while i < len(cands) and rx["t"][cands[i]] < t_int - window_sec:
            i += 1
        cursor[(pitch, vel)] = i
        if i < len(cands) and abs(rx["t"][cands[i]] - t_int) < window_sec:
            intended.append(t_int)
            arrived.append(rx["t"][cands[i]])
            cursor[(pitch, vel)] = i + 1
        else:
            lost += 1
    return np.array(intended), np.array(arrived), lost


def stuck_notes(rx: dict[str, np.ndarray]) -> dict[int, int]:
    """Pitches still sounding at the end (their last event was a note-on): pitch -> 1."""
    last: dict[int, bool] = {}
    for on, pitch in zip(rx["on"], rx["pitch"], strict=True):
        last[int(pitch)] = bool(on)
    return {p: 1 for p, on in last.items() if on}


def unbalanced_notes(rx: dict[str, np.ndarray]) -> dict[int, int]:
    """Per pitch: note-ons minus note-offs received, where not 0 (an event lost on the way)."""
    count: dict[int, int] = {}
    for on, pitch in zip(rx["on"], rx["pitch"], strict=True):
        count[int(pitch)] = count.get(int(pitch), 0) + (1 if on else -1)
    return {p: c for p, c in count.items() if c}


def osc_client(port: int, rate_hz: float, stop: threading.Event, sent: list[int]) -> None:
    """A controller: queries, pings and temperature moves at ``rate_hz`` messages/s."""
    from pythonosc.osc_message_builder import build_msg

    msgs = [build_msg("/groovebridge/query/state", []).dgram, build_msg("/groovebridge/ping", []).dgram,
            build_msg("/groovebridge/temperature", [0.9]).dgram, build_msg("/groovebridge/query/position", []).dgram]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    i = 0
    next_t = time.monotonic()
    while not stop.is_set():
        try:
            sock.sendto(msgs[i % len(msgs)], ("127.0.0.1", port))
            sent[0] += 1
        except OSError:
            pass
        try:
            while True:
                sock.recv(65536)  # drain the replies
        except OSError:
            pass
        i += 1
        next_t += 1.0 / rate_hz
        stop.wait(max(0.0, next_t - time.monotonic()))
    sock.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--osc-rate", type=float, default=50.0, help="OSC messages/s from the controller")
    ap.add_argument("--sample-sec", type=float, default=60.0, help="RSS/thread sampling interval")
    ap.add_argument("--jack", choices=("auto", "rt", "no-rt"), default="auto")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    model, model_desc = load_bench_model()
    with jack_server(32, args.jack) as jack_rt:
        midi = MidiIO(resolve_api("jack"), input_port="none", output_port="")
        clock = InternalClock(BPM)
        engine = Engine(Settings(bpm=BPM), model_loader=lambda name: model, midi=midi, clock=clock, auto_sample=False)
        log = NoteLog()
        engine.subscribe(log)
        engine.start()
        osc = OscServer(engine, "127.0.0.1", 0, out_port=0)
        osc.start()
        samples: list[dict[str, float]] = []
        stop = threading.Event()
        sent = [0]
        morphs = 0
        errors: list[str] = []
        engine.subscribe(lambda e, p: errors.append(str(p)) if e == "error" else None)
        try:
            while engine.snapshot().model_state == "loading":
                time.sleep(0.05)
            a, b = model.sample(2, temperature=1.0, seed=3)
            engine.load_slot("A", a.with_changes(bpm=BPM))
            engine.load_slot("B", b.with_changes(bpm=BPM))
            engine.set_interpolation(0.0)
            time.sleep(0.5)
            rx = NoteReceiver()
            client = threading.Thread(target=osc_client, args=(osc.address[1], args.osc_rate, stop, sent), daemon=True)
            client.start()
            engine.play()
            t0 = time.monotonic()
            end = t0 + args.minutes * 60.0
            next_sample = t0
            last_bar = -1
            while time.monotonic() < end:
                now = time.monotonic()
                if now >= next_sample:
                    samples.append({"t_min": (now - t0) / 60.0, **proc_status(),
                                    "py_threads": float(threading.active_count())})
                    next_sample += args.sample_sec
                bar = int(clock.beat_at(clock.now_sec()) // 4)
                if bar != last_bar and clock.beat_at(clock.now_sec()) >= 0:
                    last_bar = bar
                    engine.set_interpolation((bar % 9) / 8.0)  # a new pattern for the next bar
                    morphs += 1
                time.sleep(0.02)
            samples.append({"t_min": (time.monotonic() - t0) / 60.0, **proc_status(),
                            "py_threads": float(threading.active_count())})
            stop.set()
            client.join(2.0)
            origin_sec = clock.time_at_beat(0.0)  # while it runs: a stopped clock extrapolates from now
            engine.stop()
            time.sleep(0.5)
            arrivals = rx.finish()
            alive = osc.control.handled
        finally:
            osc.close()
            engine.close()
    intended, arrived, lost = match_notes(log, arrivals, origin_sec, BPM)
    err_ms = (arrived - intended) * 1000.0
    t_min = (intended - intended[0]) / 60.0 if len(intended) else np.array([])
    slope = float(np.polyfit(t_min, err_ms, 1)[0]) if len(err_ms) > 10 else float("nan")
    stuck = stuck_notes(arrivals)
    unbalanced = unbalanced_notes(arrivals)
    ons, offs = int(arrivals["on"].sum()), int((~arrivals["on"]).sum())
    first, last = samples[0], samples[-1]
    # first sample is taken after the model and threads are up; growth is measured from it
    growth = {"rss_mib": last["rss_mib"] - first["rss_mib"], "threads": last["threads"] - first["threads"]}
    result = {
        "bench": "soak", "minutes": args.minutes, "bpm": BPM, "model": model_desc, "jack_realtime": jack_rt,
        "notes_played": len(log.beat), "notes_matched": int(len(err_ms)), "lost": lost,
        "note_ons_rx": ons, "note_offs_rx": offs, "stuck": stuck, "unbalanced": unbalanced, "morphs": morphs,
        "osc_sent": sent[0], "osc_handled": alive, "engine_errors": len(errors),
        "drift_slope_ms_per_min": slope, "abs_error": stats_ms(np.abs(err_ms) / 1000.0),
        "median_latency_ms": float(np.median(err_ms)) if len(err_ms) else float("nan"),
        "samples": samples, "growth": growth,
    }
    print(f"soak: {args.minutes:g} min at {BPM:g} BPM, model {model_desc}, jackd {'-R' if jack_rt else '--no-realtime'}, "
          f"{morphs} morphs, {sent[0]} OSC messages ({alive} handled)")
    print(f"{'t (min)':>8} {'RSS MiB':>9} {'threads':>8} {'py thr':>7}")
    for s in samples:
        print(f"{s['t_min']:8.2f} {s['rss_mib']:9.1f} {s['threads']:8.0f} {s['py_threads']:7.0f}")
    a = result["abs_error"]
    print(f"notes: {len(log.beat)} played, {len(err_ms)} matched, {lost} lost; receiver {ons} on / {offs} off; "
          f"stuck (sounding at the end): {stuck or 'none'}; on/off count differs: {unbalanced or 'none'}")
    print(f"timing vs clock: drift {slope:+.4f} ms/min (linear fit), |error| p50 {a['p50']:.3f} p99 {a['p99']:.3f} "
          f"max {a['max']:.3f} ms; median latency {result['median_latency_ms']:.3f} ms")
    print(f"growth first->last sample: RSS {growth['rss_mib']:+.1f} MiB ({growth['rss_mib'] / first['rss_mib'] * 100:+.1f}%), "
          f"threads {growth['threads']:+.0f}")
    print(json.dumps(result))
    return 0 if not stuck else 1


if __name__ == "__main__":
    sys.exit(main())
