"""OSC flood while playing: playback timing at a JACK receiver with and without 10,000 msg/s.

Starts a private JACK server, the engine (shipped model, or random weights when none is
installed; the micro-timed 16ths pattern of bench_playback_timing at 120 BPM), GrooveBridge Out -> a receiver process that
timestamps note-ons and note-offs, and the real OSC server on 127.0.0.1. Phases of
``--seconds`` each, in the same process: baseline (no OSC), then the flood (a second process
sends ``--rate`` datagrams/s: valid commands that do not touch timing, queries, pings,
unknown addresses, wrong type tags, garbage bytes, 10-message bundles) with the OSC intake's
quiet gate off ("flood-nogate": batches, pre-filter, coalescing only) and on ("flood", the
default server). Reported: |error| and jitter p50/p99/max of note arrival vs the clock, lost
notes, stuck notes, RSS and thread count before/after each flood, messages sent/handled/
rejected/coalesced, the CPU share of the OSC receive thread, and whether the server still
answers ``/query/state`` afterwards. Ratios against the baseline.

    .venv/bin/python benchmarks/bench_osc_flood.py [--seconds 30] [--rate 10000] [--jack auto|rt|no-rt]
        [--phases baseline,flood-nogate,flood]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
from bench_playback_timing import micro_groove
from jack_bench import jack_server, load_bench_model, stats_ms
from note_streams import NoteLog, NoteReceiver, match_notes, proc_status, stuck_notes
from pythonosc.osc_message_builder import build_msg

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.midi.ports import MidiIO, resolve_api
from bridge.osc import OscServer
from bridge.settings import Settings

BPM = 120.0

FLOODER = r"""
import json, socket, struct, sys, time
from pythonosc.osc_message_builder import build_msg
port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
P = "/groovebridge"
def bundle(msgs):
    out = b"#bundle\0" + struct.pack(">Q", 1)
    for m in msgs:
        out += struct.pack(">i", len(m)) + m
    return out
mix = [build_msg(P + "/temperature", [0.9]).dgram, build_msg(P + "/query/state", []).dgram,
       build_msg(P + "/ping", []).dgram, build_msg(P + "/variations/count", [4]).dgram,
       build_msg(P + "/mute/ride", [0]).dgram, build_msg(P + "/no/such/address", [1, 2.0, "x"]).dgram,
       b"/groovebridge/tempo\0\0\0\0,zq\0\0\0\0\0", b"\xde\xad\xbe\xef" * 8,
       bundle([build_msg(P + "/temperature/norm", [0.4]).dgram] * 10), build_msg(P + "/latency", ["x"]).dgram]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setblocking(False)
print("ready", flush=True)
sys.stdin.readline()
sent = dropped = 0
t0 = time.monotonic()
end = t0 + seconds
while (now := time.monotonic()) < end:
    due = int((now - t0) * rate)
    while sent + dropped < due:
        try:
            sock.sendto(mix[(sent + dropped) % len(mix)], ("127.0.0.1", port))
            sent += 1
        except BlockingIOError:
            dropped += 1
    time.sleep(0.002)
print(json.dumps({"sent": sent, "send_dropped": dropped, "elapsed_sec": time.monotonic() - t0}), flush=True)
"""


def query_answers(port: int, timeout_sec: float = 10.0) -> bool:
    """Does the server answer /query/state (re-sent every 0.5 s: UDP may drop under load)?"""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    end = time.monotonic() + timeout_sec
    try:
        while time.monotonic() < end:
            sock.sendto(build_msg("/groovebridge/query/state", []).dgram, ("127.0.0.1", port))
            sock.settimeout(0.5)
            try:
                while True:
                    data, _ = sock.recvfrom(65536)
                    if data.startswith(b"/groovebridge/position"):
                        return True
            except TimeoutError:
                continue
        return False
    finally:
        sock.close()


def thread_cpu_sec(name: str) -> float:
    """CPU seconds (user + system) used so far by this process's thread called ``name``."""
    for t in threading.enumerate():
        if t.name == name and t.native_id is not None:
            try:
                with open(f"/proc/self/task/{t.native_id}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except OSError:
                return float("nan")
    return float("nan")


def run_phase(engine: Engine, clock: InternalClock, seconds: float, osc: OscServer | None, rate: float) -> dict:
    log = NoteLog()
    unsubscribe = engine.subscribe(log)
    rx = NoteReceiver()
    flooder = None
    if osc is not None:
        flooder = subprocess.Popen([sys.executable, "-c", FLOODER, str(osc.address[1]), str(rate), str(seconds)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert flooder.stdin is not None and flooder.stdout is not None
        assert flooder.stdout.readline().strip() == "ready"
    before = proc_status()
    handled0, rejected0, bad0 = (osc.control.handled, osc.control.rejected, osc.bad_packets) if osc else (0, 0, 0)
    coalesced0, cpu0 = (osc.coalesced if osc else 0), thread_cpu_sec("osc-in")
    engine.play()
    time.sleep(0.3)
    if flooder is not None:
        flooder.stdin.write("\n")  # type: ignore[union-attr]
        flooder.stdin.flush()  # type: ignore[union-attr]
    time.sleep(seconds)
    flood = json.loads(flooder.stdout.readline()) if flooder is not None else {}  # type: ignore[union-attr]
    cpu_share = (thread_cpu_sec("osc-in") - cpu0) / seconds
    if flooder is not None:
        flooder.wait(5)
    answers = query_answers(osc.address[1]) if osc is not None else True
    after = proc_status()
    origin_sec = clock.time_at_beat(0.0)
    engine.stop()
    time.sleep(0.4)
    unsubscribe()
    arrivals = rx.finish()
    intended, arrived, lost = match_notes(log, arrivals, origin_sec, BPM)
    err = arrived - intended
    out = {
        "played": len(log.beat), "matched": int(len(err)), "lost": lost, "stuck": stuck_notes(arrivals),
        "abs": stats_ms(np.abs(err)), "jitter": stats_ms(np.abs(err - np.median(err))) if len(err) else stats_ms(err),
        "rss_mib_before": before["rss_mib"], "rss_mib_after": after["rss_mib"],
        "threads_before": before["threads"], "threads_after": after["threads"], "answers_query": answers,
    }
    if osc is not None:
        out.update(flood)
        out["handled"] = osc.control.handled - handled0
        out["rejected"] = osc.control.rejected - rejected0
        out["bad_packets"] = osc.bad_packets - bad0
        out["coalesced"] = osc.coalesced - coalesced0
        out["osc_in_cpu_share"] = cpu_share
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=10000.0, help="OSC datagrams/s during the flood")
    ap.add_argument("--jack", choices=("auto", "rt", "no-rt"), default="auto")
    ap.add_argument("--phases", default="baseline,flood-nogate,flood",
                    help="comma-separated: baseline, flood-nogate, flood (the first must be baseline)")
    args = ap.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if not phases or phases[0] != "baseline" or not set(phases) <= {"baseline", "flood-nogate", "flood"}:
        raise SystemExit("--phases: baseline first, then flood-nogate and/or flood")
    import torch

    logging.getLogger("bridge.osc").setLevel(logging.ERROR)  # the flood's rejections, once a second each
    torch.set_num_threads(1)
    model, model_desc = load_bench_model()
    results: dict[str, dict] = {}
    with jack_server(32, args.jack) as jack_rt:
        midi = MidiIO(resolve_api("jack"), input_port="none", output_port="")
        clock = InternalClock(BPM)
        engine = Engine(Settings(bpm=BPM), model_loader=lambda name: model, midi=midi, clock=clock, auto_sample=False)
        engine.start()
        osc = OscServer(engine, "127.0.0.1", 0, out_port=0)
        try:
            while engine.snapshot().model_state == "loading":
                time.sleep(0.05)
            engine.set_pattern(micro_groove(), "bench")  # 16ths with micro-timing, early and late
            osc.start()
            time.sleep(0.3)
            for phase in phases:
                osc.set_quiet_gate(phase != "flood-nogate")
                results[phase] = run_phase(engine, clock, args.seconds, None if phase == "baseline" else osc, args.rate)
        finally:
            osc.close()
            engine.close()
    base = results["baseline"]
    print(f"OSC flood: {args.seconds:g} s per phase at {BPM:g} BPM, model {model_desc}, "
          f"jackd {'-R' if jack_rt else '--no-realtime'}, target {args.rate:g} datagrams/s")
    print(f"{'phase':<13} {'notes':>6} {'lost':>5} {'stuck':>5} | {'abs p50':>8} {'abs p99':>8} {'abs max':>8} | "
          f"{'jit p99':>8} {'ratio':>6} | {'RSS MiB before->after':>22} | {'threads':>9} | {'osc-in CPU':>10}")
    ratios: dict[str, dict[str, float]] = {}
    for name, r in results.items():
        a, j = r["abs"], r["jitter"]
        ratios[name] = {k: r[k]["p99"] / base[k]["p99"] if base[k]["p99"] else float("nan") for k in ("abs", "jitter")}
        cpu = f"{r['osc_in_cpu_share'] * 100:9.0f}%" if "osc_in_cpu_share" in r else f"{'-':>10}"
        print(f"{name:<13} {r['matched']:>6} {r['lost']:>5} {len(r['stuck']):>5} | {a['p50']:8.3f} {a['p99']:8.3f} "
              f"{a['max']:8.3f} | {j['p99']:8.3f} {ratios[name]['jitter']:5.2f}x | {r['rss_mib_before']:10.1f} -> "
              f"{r['rss_mib_after']:7.1f} | {r['threads_before']:.0f} -> {r['threads_after']:.0f} | {cpu}")
    ok = True
    for name, r in results.items():
        if name == "baseline":
            continue
        rate_sent = r.get("sent", 0) / max(r.get("elapsed_sec", 1.0), 1e-9)
        r["rate_sent"], r["rate_handled"] = rate_sent, r.get("handled", 0) / args.seconds
        print(f"{name}: {r.get('sent', 0)} datagrams sent ({rate_sent:.0f}/s), {r.get('handled', 0)} messages "
              f"handled ({r['rate_handled']:.0f}/s), {r.get('coalesced', 0)} coalesced, {r.get('rejected', 0)} rejected, "
              f"{r.get('bad_packets', 0)} bad packets; answers /query/state after: {r['answers_query']}; "
              f"RSS {r['rss_mib_after'] - r['rss_mib_before']:+.1f} MiB, threads {r['threads_after'] - r['threads_before']:+.0f}")
        ok = ok and r["answers_query"] and not r["stuck"]
    print(json.dumps({"bench": "osc_flood", "seconds": args.seconds, "rate": args.rate, "bpm": BPM, "model": model_desc,
                      "jack_realtime": jack_rt, "phases": results, "ratio_p99": ratios}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
