"""Benchmark: the issue-22 stage scenario. `groovebridge serve --sync midi` over JACK, a master
in a second process (benchmarks/clock_fault_sender.py: Start and 24 PPQN clock, no faults
injected: the JACK mode brings its own) plays 8 bars of a GMD groove into GrooveBridge In at
138 BPM; over OSC we capture slot A (bars 1-4) and B (bars 5-8), sample, morph A->B for 16
bars, then stop. Measured: the engine's phase against the master's clock per 4-bar block
(every note heard at GrooveBridge Out against the master's ideal time of the beat the engine
meant it for, /groovebridge/note), and whether each capture holds every played hit.

Where a missing hit was lost (issue 22) is said per run and per hit (``capture_trace``): serve
runs under ``serve_input_trace.py`` (the ordinary CLI plus a trace of every raw input event,
the echo filter's verdicts, the beat each note got and the capture windows), the master logs
what it sent, ``jack_midi_dump`` reads the master's port alongside GrooveBridge In (a second,
independent reader), and jackd's own log (stamped as read) says which clients were late for
a cycle. A hit is then "lost before any reader" (neither reader got it: JACK / the master's
client), "lost at GrooveBridge's JACK input" (the dump got it, GrooveBridge's reader never
handed it on), or lost in our code (echo filter, capture buffer, window maths). The same split
over all played notes, and how often jackd reported GrooveBridge In late around a note it lost
against around one it read, follow. ``GBSCENARIO_KEEP=DIR`` keeps each run's raw evidence.

    .venv/bin/python benchmarks/bench_sync_scenario.py [--mode async|sync] [-p 32] [--jack no-rt] [--runs 2]

Prints a line per run and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from capture_trace import DumpReader, JackLog, PlayedHit, delivery, explain, read_trace, summary  # noqa: E402
from jack_bench import exit_on_signals  # noqa: E402

from bridge.clock.midi_in import PPQN  # noqa: E402
from bridge.midi.ports import jack_port_names  # noqa: E402
from bridge.osc import decode_pattern  # noqa: E402
from models.drum_maps import ROLAND  # noqa: E402
from tests.rigs.jack_server import JackUnavailable, private_jack_server  # noqa: E402
from tests.rigs.osc_peer import OscPeer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GMD = Path("/work/shared/data/groove-midi/groove/drummer1/session1/102_funk_95_beat_4-4.mid")
BPM = 138.0
LEAD_BARS = 2  # clock before the groove (the follower locks)


class Osc(OscPeer):
    """Our OSC side: a socket that sends to serve and receives its output (and replies)."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, str, list]] = []
        super().__init__()

    def on_message(self, t: float, address: str, args: list) -> None:
        self.messages.append((t, address, args))

    def send(self, port: int, address: str, *args) -> None:
        super().send(port, "/groovebridge" + address, *args)

    def last(self, address: str):
        found = [a for _t, addr, a in self.messages if addr == "/groovebridge" + address]
        return found[-1] if found else None


def groove_bars(bars: int):
    from models.midi.files import load_groove_window

    first, _ = load_groove_window(GMD, window=1, drum_map="roland")
    second, _ = load_groove_window(GMD, window=2, drum_map="roland") if bars > 4 else (None, None)
    return first, second


def played_hits(g1, g2) -> tuple[list[PlayedHit], list[list]]:  # type: ignore[no-untyped-def]
    """The master's notes: groove A from bar LEAD_BARS + 1, B 4 bars later, in send order; each
    as a PlayedHit (its slot, step, class) and as a plan note [beat, bytes]."""
    timed = sorted(((first + (step - early) / 4.0, slot, step, cls, vel)
                    for slot, groove, first in (("a", g1, LEAD_BARS * 4), ("b", g2, (LEAD_BARS + 4) * 4))
                    for step, cls, early, vel in groove.notes(min_velocity=0)), key=lambda n: n[0])
    hits = [PlayedHit(slot, step, cls, (0x99, ROLAND.output_pitch(cls), vel), i)
            for i, (_b, slot, step, cls, vel) in enumerate(timed)]
    return hits, [[beat, list(hit.message)] for (beat, *_), hit in zip(timed, hits, strict=True)]


def run(jack_log: JackLog) -> dict:
    import rtmidi

    g1, g2 = groove_bars(8)
    hits, notes = played_hits(g1, g2)
    total_bars = LEAD_BARS + 8 + 1 + 16 + 1
    plan = {"client": "gbscenario-master", "bpm": BPM, "ticks": total_bars * 4 * PPQN, "lead_sec": 0.5, "notes": notes}
    osc = Osc()
    env = dict(os.environ, GROOVEBRIDGE_MIDI_API="jack", GROOVEBRIDGE_OSC_OUT_PORT=str(osc.port))
    osc_port = 9300 + os.getpid() % 500
    trace_path = Path(tempfile.mkstemp(prefix="gbscenario-trace-", suffix=".jsonl")[1])
    serve = subprocess.Popen([sys.executable, str(Path(__file__).with_name("serve_input_trace.py")), "serve", "--sync", "midi",
                              "--osc-port", str(osc_port), "--status-interval", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                             env=dict(env, GROOVEBRIDGE_INPUT_DRUM_MAP="roland", GROOVEBRIDGE_INPUT_TRACE=str(trace_path)))
    dump = DumpReader("gbscenario-dump") if DumpReader.available() else None
    rx = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="gbscenario-rx")
    heard: list[tuple[float, int]] = []
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(plan, fh)
    sender = subprocess.Popen([sys.executable, str(Path(__file__).with_name("clock_fault_sender.py")), fh.name],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert serve.stdout is not None and sender.stdout is not None and sender.stdin is not None
        line = serve.stdout.readline()
        if "GrooveBridge serving" not in line:
            raise SystemExit(f"serve did not start: {line}{serve.stderr.read() if serve.poll() is not None else ''}")
        ours_in, ours_out = jack_port_names()
        deadline = time.monotonic() + 30
        while osc.last("/model/state") != ["ready"] and time.monotonic() < deadline:
            osc.send(osc_port, "/query/model", osc.port)
            time.sleep(0.3)
        names = rx.get_ports()
        rx.set_callback(lambda ev, _d: heard.append((time.monotonic(), ev[0][1])) if ev[0][0] == 0x99 and ev[0][2] else None)
        rx.open_port(next(i for i, n in enumerate(names) if n == ours_out))
        assert sender.stdout.readline().strip() == "ready"
        subprocess.run(["jack_connect", "gbscenario-master:out", ours_in], check=True, timeout=10)
        if dump is not None:  # a second, independent reader of the sender's port
            dump.connect("gbscenario-master:out")
        t_go = time.monotonic()
        sender.stdin.write("go\n")
        sender.stdin.flush()
        spb = 60.0 / BPM
        beat0 = t_go + 0.5  # the master's beat 0 (lead_sec), near enough to schedule our OSC
        def at(beat: float) -> None:
            time.sleep(max(0.0, beat0 + beat * spb - time.monotonic()))
        at((LEAD_BARS + 4) * 4 + 0.5)
        osc.send(osc_port, "/capture/a", 1.0, "last")
        at((LEAD_BARS + 8) * 4 + 0.5)
        osc.send(osc_port, "/capture/b", 1.0, "last")
        osc.send(osc_port, "/sample", 4)
        for i in range(16):  # morph A -> B over 16 bars
            at((LEAD_BARS + 9 + i) * 4 + 0.2)
            osc.send(osc_port, "/interpolate", i / 15.0)
        at((LEAD_BARS + 9 + 16) * 4 + 0.2)
        osc.send(osc_port, "/stop", 1.0)
        t_stop = time.monotonic()
        for slot in ("a", "b"):
            osc.send(osc_port, "/query/slot", slot, osc.port)
        sender_report = json.loads(sender.stdout.readline())
        ideal = np.array(sender_report["ideal"])
        time.sleep(0.3)
    finally:
        if sender.poll() is None:
            sender.kill()
        serve.terminate()
        serve_err = ""
        try:
            serve_err = serve.communicate(timeout=20)[1] or ""
        except subprocess.TimeoutExpired:
            serve.kill()
        rx.delete()
        os.unlink(fh.name)
        dumped = dump.finish() if dump is not None else None
        trace = read_trace(trace_path)
        if os.environ.get("GBSCENARIO_KEEP"):  # keep the raw evidence: trace, dump, send log
            keep = Path(os.environ["GBSCENARIO_KEEP"]) / f"run-{time.time():.0f}"
            keep.mkdir(parents=True, exist_ok=True)
            trace_path.replace(keep / "trace.jsonl")
            (keep / "dump.json").write_text(json.dumps(dumped))
            (keep / "sender.json").write_text(json.dumps(sender_report))
            (keep / "jackd.json").write_text(json.dumps(list(jack_log.lines)))
            (keep / "captures.json").write_text(json.dumps({k: osc.last(f"/slot/{k}/pattern") for k in "ab"}, default=bytes.hex))
        else:
            trace_path.unlink()
    # phase: every note the engine played (its beat) against when it was heard
    played = [(t, a) for t, addr, a in osc.messages if addr == "/groovebridge/note"]
    errors: list[tuple[float, float]] = []
    for _t, (_cls, pitch, _vel, beat) in played:
        want = float(np.interp(beat * PPQN, np.arange(ideal.size), ideal))
        near = [t for t, p in heard if p == pitch and abs(t - want) < 0.06]
        if near:
            errors.append((beat, (min(near, key=lambda t: abs(t - want)) - want) * 1000.0))
    e = np.array(errors).reshape(-1, 2)
    blocks = {}
    for b0 in range(0, int(e[:, 0].max()) + 1 if e.size else 0, 16):
        sel = (e[:, 0] >= b0) & (e[:, 0] < b0 + 16)
        if sel.any():
            blocks[b0 // 16] = float(np.median(e[sel, 1]))
    after_stop = sum(1 for t, _p in heard if t > t_stop + 0.1)
    captures = {}
    missing: dict[str, set[tuple[int, int]]] = {}
    for slot, groove in (("a", g1), ("b", g2)):
        reply = osc.last(f"/slot/{slot}/pattern")
        if reply is None or reply[0] == 0:
            captures[slot] = "empty"
            continue
        vel, _off = decode_pattern(reply)
        got = vel > 0
        want = groove.hits > 0.5
        captures[slot] = f"{int((got & want).sum())}/{int(want.sum())} hits, {int((got & ~want).sum())} extra"
        missing[slot] = {(int(st), int(k)) for st, k in zip(*np.nonzero(want & ~got), strict=True)}
    windows = dict(zip(("a", "b"), ((w[0], w[2]) for w in trace["window"]), strict=False))
    lost = explain(hits, missing, sender_report["sent"], dumped, trace, windows)
    for m in lost:
        if "sent_t" in m:
            m["jackd_late_clients"] = jack_log.late_clients(m["sent_t"])  # late for the cycle of its send
    return {"blocks_ms": blocks, "notes": int(e.shape[0]), "played": len(played), "max_abs_ms": float(np.abs(e[:, 1]).max()) if e.size else float("nan"),
            "captures": captures, "notes_after_stop": after_stop, "missing_hits": lost, "lost_where": summary(lost),
            "send_errors": sender_report.get("send_errors", []),
            "delivery": delivery(hits, sender_report["sent"], dumped, trace, list(jack_log.lines)),
            "echo_filter": {v: sum(1 for row in trace["echo"] if row[2] == v) for v in ("dropped", "kept")},
            "jack_client_xruns": jack_log.client_xruns(t_go, t_stop),
            # rtmidi's JACK input prints this when its queue (QUEUE_SIZE events) is full: none expected
            "rtmidi_queue_full": serve_err.count("queue limit reached"),
            "load": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("async", "sync"), default="async")
    p.add_argument("-p", "--period", type=int, default=32)
    p.add_argument("--jack", choices=("auto", "rt", "no-rt"), default="no-rt")
    p.add_argument("--runs", type=int, default=2)
    args = p.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="gbscenario-jack-") as log_dir, ExitStack() as stack:
        stack.enter_context(exit_on_signals())
        try:
            server = stack.enter_context(private_jack_server("gbscenario", args.period, args.jack,
                                                             sync=args.mode == "sync", log_dir=Path(log_dir)))
        except JackUnavailable as e:
            raise SystemExit(str(e)) from None
        os.environ["GROOVEBRIDGE_MIDI_API"] = "jack"
        realtime = server.realtime
        jack_log = JackLog(server.log_path)
        stack.callback(jack_log.close)
        for i in range(args.runs):
            r = run(jack_log)
            results.append(r)
            blocks = ", ".join(f"{v:+.2f}" for v in r["blocks_ms"].values())
            print(f"run {i + 1} (JACK p{args.period} {args.mode} {'-R' if realtime else '--no-realtime'}, {BPM:g} BPM): "
                  f"phase per 4-bar block [{blocks}] ms (median of the notes heard in each), max |e| {r['max_abs_ms']:.2f} ms, "
                  f"{r['notes']}/{r['played']} notes matched; captures A {r['captures'].get('a')}, B {r['captures'].get('b')}; "
                  f"{r['notes_after_stop']} note-ons after /stop; missing hits lost: {r['lost_where'] or 'none'}; "
                  f"load {r['load'][0]:.2f}", flush=True)
            d = r["delivery"]
            print(f"    all {d['played']} played notes: sent {d['sent']}, read by GrooveBridge {d['read_by_groovebridge']}, "
                  f"by jack_midi_dump {d['read_by_jack_midi_dump']}; lost before any reader {d['lost_before_any_reader']}, "
                  f"at GrooveBridge only {d['lost_at_groovebridge_only']}, at jack_midi_dump only {d['lost_at_jack_midi_dump_only']}; "
                  f"{d['read_late']} read over 10 ms after the send (max {d['read_latency_max_ms']:.0f} ms); "
                  f"jackd reported GrooveBridge In late for the cycle of {d['client_late_when_lost']} notes it lost "
                  f"({d['client_late_when_read']} of those it read); echo filter {r['echo_filter']}; "
                  f"rtmidi queue full {r['rtmidi_queue_full']}x; send errors {len(r['send_errors'])}", flush=True)
            print(f"    jackd: clients late for a cycle {r['jack_client_xruns'] or 'none'}", flush=True)
            for m in r["missing_hits"]:
                late = f"; jackd: late for its cycle {', '.join(m['jackd_late_clients']) or 'nobody'}" if "sent_t" in m else ""
                print(f"    missing: slot {m['slot'].upper()} step {m['step']} class {m['class']} {m['message']}: {m['lost']}{late}",
                      flush=True)
    print(json.dumps({"bench": "sync_scenario", "mode": args.mode, "period": args.period, "runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
