"""Soak: long playback at 174 BPM with a morph every bar and OSC traffic; drift, growth, stuck notes.

Starts a private JACK server (``jack_bench.jack_server``), the engine with the shipped model
(``models.generate.load_model("default")``; a random-weight GrooVAE when none is installed),
GrooveBridge Out -> a receiver in a second process that timestamps every note-on and note-off
(python-rtmidi polled, not a callback: see ``NOTE_RECEIVER``), and a real OSC server on 127.0.0.1 fed by a client thread (``--osc-rate`` messages/s: queries,
pings, temperature). Every bar the A->B morph position moves (the model decodes a new
pattern, swapped in at the next bar line). Reported:

* drift: error of each note's arrival against the clock (arrival - ``time_at_beat(beat)``),
  a linear fit of error vs time -> slope in ms/min, plus p50/p99/max of |error|;
* RSS and thread count (``/proc/self/status``) sampled every minute: growth first -> last;
* stuck notes: pitches whose last event at the receiver is a note-on after the stop; also,
  per pitch, note-ons minus note-offs received (not 0 = an event lost on the way);
* where a discrepancy comes from, three views of the same stream: what the engine sent
  (``SentLog``: every message handed to the MIDI port, recorded on the scheduler thread),
  what the Python rtmidi receiver got, and what ``jack_midi_dump`` (a C JACK client that only
  copies events into a ring buffer in its process callback; when installed) got. Each
  receiver is aligned against the sent stream: events missing, and events that were never
  sent (a misread). Notes balanced in the sent stream but not at one receiver = the
  measurement path, not the engine.

    .venv/bin/python benchmarks/bench_soak.py [--minutes 30] [--osc-rate 50] [--jack auto|rt|no-rt]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time

import numpy as np
from jack_bench import jack_server, load_bench_model, stats_ms
from note_streams import (
    DumpReceiver,
    NoteLog,
    NoteReceiver,
    SentLog,
    align_streams,
    match_notes,
    proc_status,
    stuck_notes,
    unbalanced_notes,
)

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.midi.ports import MidiIO, resolve_api
from bridge.osc import OscServer
from bridge.settings import Settings

BPM = 174.0

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
    ap.add_argument("--streams", metavar="NPZ", help="save the sent and received note streams here (numpy .npz)")
    ap.add_argument("--no-dump", dest="dump", action="store_false",
                    help="no jack_midi_dump receiver (the C check on the Python receiver)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    model, model_desc = load_bench_model()
    with jack_server(32, args.jack) as jack_rt:
        midi = SentLog(MidiIO(resolve_api("jack"), input_port="none", output_port=""))
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
            dump = DumpReceiver() if args.dump and DumpReceiver.available() else None
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
            dumped = dump.finish() if dump is not None else None
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
    sent_ev = midi.events()
    midi_sent = {"ons": int(sent_ev["on"].sum()), "offs": int((~sent_ev["on"]).sum()),
            "unbalanced": unbalanced_notes(sent_ev), "stuck": stuck_notes(sent_ev)}
    views = {"python_receiver": align_streams(sent_ev, arrivals)}
    if args.streams:
        streams = {f"sent_{k}": v for k, v in sent_ev.items()} | {f"python_{k}": v for k, v in arrivals.items()}
        if dumped is not None:
            streams |= {f"dump_{k}": v for k, v in dumped.items()}
        np.savez(args.streams, **streams)
    if dumped is not None:
        views["jack_midi_dump"] = align_streams(sent_ev, dumped)
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
        "receiver_offset_spread_ms": rx.offset_spread_ms,
        "samples": samples, "growth": growth, "sent": midi_sent, "receivers": views,
    }
    print(f"soak: {args.minutes:g} min at {BPM:g} BPM, model {model_desc}, jackd {'-R' if jack_rt else '--no-realtime'}, "
          f"{morphs} morphs, {sent[0]} OSC messages ({alive} handled)")
    print(f"{'t (min)':>8} {'RSS MiB':>9} {'threads':>8} {'py thr':>7}")
    for s in samples:
        print(f"{s['t_min']:8.2f} {s['rss_mib']:9.1f} {s['threads']:8.0f} {s['py_threads']:7.0f}")
    a = result["abs_error"]
    print(f"notes: {len(log.beat)} played, {len(err_ms)} matched at the Python receiver within 50 ms of their time, "
          f"{lost} not (missing, or later than 50 ms); receiver {ons} on / {offs} off; "
          f"stuck (sounding at the end): {stuck or 'none'}; on/off count differs: {unbalanced or 'none'}")
    print(f"engine sent: {midi_sent['ons']} note-ons, {midi_sent['offs']} note-offs; per pitch on-off not 0: "
          f"{midi_sent['unbalanced'] or 'none'}; sounding at the end: {midi_sent['stuck'] or 'none'}")
    for name, v in views.items():
        print(f"  {name:<16} got {v['ons']} on / {v['offs']} off; vs sent: {v['missing']} missing "
              f"{v['missing_by'] or ''}, {v['extra']} never sent {v['extra_by'] or ''}; "
              f"stuck {v['stuck'] or 'none'}")
    print(f"timing vs clock: drift {slope:+.4f} ms/min (linear fit), |error| p50 {a['p50']:.3f} p99 {a['p99']:.3f} "
          f"max {a['max']:.3f} ms; median latency {result['median_latency_ms']:.3f} ms; receiver clock offset "
          f"moved {rx.offset_spread_ms:.3f} ms over the run")
    print(f"growth first->last sample: RSS {growth['rss_mib']:+.1f} MiB ({growth['rss_mib'] / first['rss_mib'] * 100:+.1f}%), "
          f"threads {growth['threads']:+.0f}")
    print(json.dumps(result))
    clean = not midi_sent["unbalanced"] and not midi_sent["stuck"]
    if "jack_midi_dump" in views:
        clean = clean and not views["jack_midi_dump"]["missing"] and not views["jack_midi_dump"]["extra"]
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
