"""Benchmark: the issue-22 stage scenario. `groovebridge serve --sync midi` over JACK, a master
in a second process (benchmarks/clock_fault_sender.py: Start and 24 PPQN clock, no faults
injected: the JACK mode brings its own) plays 8 bars of a GMD groove into GrooveBridge In at
138 BPM; over OSC we capture slot A (bars 1-4) and B (bars 5-8), sample, morph A->B for 16
bars, then stop. Measured: the engine's phase against the master's clock per 4-bar block
(every note heard at GrooveBridge Out against the master's ideal time of the beat the engine
meant it for, /groovebridge/note), and whether each capture holds every played hit.

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
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jack_bench import jack_server  # noqa: E402

from bridge.clock.midi_in import PPQN  # noqa: E402
from bridge.midi.ports import jack_port_names  # noqa: E402
from bridge.osc import decode_pattern  # noqa: E402
from models.drum_maps import ROLAND  # noqa: E402
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


def run(mode_sync: bool, period: int, jack_mode: str) -> dict:
    import rtmidi

    g1, g2 = groove_bars(8)
    notes = [[LEAD_BARS * 4 + ev.start_beats, [0x99, ROLAND.output_pitch(ev.drum_class), ev.velocity]] for ev in g1.to_events()]
    notes += [[(LEAD_BARS + 4) * 4 + ev.start_beats, [0x99, ROLAND.output_pitch(ev.drum_class), ev.velocity]]
              for ev in g2.to_events()]
    total_bars = LEAD_BARS + 8 + 1 + 16 + 1
    plan = {"client": "gbscenario-master", "bpm": BPM, "ticks": total_bars * 4 * PPQN, "lead_sec": 0.5, "notes": notes}
    osc = Osc()
    env = dict(os.environ, GROOVEBRIDGE_MIDI_API="jack", GROOVEBRIDGE_OSC_OUT_PORT=str(osc.port))
    osc_port = 9300 + os.getpid() % 500
    serve = subprocess.Popen([sys.executable, "-m", "groovebridge.cli", "serve", "--sync", "midi", "--osc-port", str(osc_port),
                              "--status-interval", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                             env=dict(env, GROOVEBRIDGE_INPUT_DRUM_MAP="roland"))
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
        ideal = np.array(json.loads(sender.stdout.readline())["ideal"])
        time.sleep(0.3)
    finally:
        if sender.poll() is None:
            sender.kill()
        serve.terminate()
        try:
            serve.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            serve.kill()
        rx.delete()
        os.unlink(fh.name)
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
    for slot, groove in (("a", g1), ("b", g2)):
        reply = osc.last(f"/slot/{slot}/pattern")
        if reply is None or reply[0] == 0:
            captures[slot] = "empty"
            continue
        vel, _off = decode_pattern(reply)
        got = vel > 0
        want = groove.hits > 0.5
        captures[slot] = f"{int((got & want).sum())}/{int(want.sum())} hits, {int((got & ~want).sum())} extra"
    return {"blocks_ms": blocks, "notes": int(e.shape[0]), "played": len(played), "max_abs_ms": float(np.abs(e[:, 1]).max()) if e.size else float("nan"),
            "captures": captures, "notes_after_stop": after_stop}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("async", "sync"), default="async")
    p.add_argument("-p", "--period", type=int, default=32)
    p.add_argument("--jack", choices=("auto", "rt", "no-rt"), default="no-rt")
    p.add_argument("--runs", type=int, default=2)
    args = p.parse_args(argv)
    results = []
    with jack_server(args.period, args.jack, sync=args.mode == "sync") as realtime:
        for i in range(args.runs):
            r = run(args.mode == "sync", args.period, args.jack)
            results.append(r)
            blocks = ", ".join(f"{v:+.2f}" for v in r["blocks_ms"].values())
            print(f"run {i + 1} (JACK p{args.period} {args.mode} {'-R' if realtime else '--no-realtime'}, {BPM:g} BPM): "
                  f"phase per 4-bar block [{blocks}] ms (median of the notes heard in each), max |e| {r['max_abs_ms']:.2f} ms, "
                  f"{r['notes']}/{r['played']} notes matched; captures A {r['captures'].get('a')}, B {r['captures'].get('b')}; "
                  f"{r['notes_after_stop']} note-ons after /stop", flush=True)
    print(json.dumps({"bench": "sync_scenario", "mode": args.mode, "period": args.period, "runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
