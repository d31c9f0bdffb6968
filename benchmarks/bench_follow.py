"""Follow mode under load: a drummer plays into GrooveBridge In while the engine re-generates
the pattern from the played input at every bar line, and a receiver times what comes out.

Starts its own JACK server (dummy backend, 48 kHz, ``--period`` frames, default 32). A second
process plays a Groove MIDI Dataset groove, looped, into "GrooveBridge In" at ``--bpm`` (174) for
``--seconds`` (300); the engine (internal clock, follow on: every bar, the last 4 bars, drums
source, amount 0.5, the shipped default model) plays to "GrooveBridge Out", read by a receiver
in a third process. Reported: playback jitter at the receiver (|error - median error|, ms),
notes lost, generation time per bar (the model's encode + decode calls of each follow job),
bars answered in time vs generations skipped as late (``follow_late``), and stuck notes.

Stuck notes are judged as in ``bench_soak``: a pitch whose last event after the stop is a
note-on (``note_streams.stuck_notes``), in three views of the same stream: what the engine
handed to its MIDI port (``SentLog``), what the Python receiver got, and with ``--dump`` what ``jack_midi_dump`` (a C client) got; each receiver is aligned
against the sent stream (events missing / never sent). A note stuck at a receiver but not in
the sent stream is an event lost on the measurement path, not a stuck note of the engine.
(Before: note-ons minus note-offs per pitch at the receiver, which counted one lost note-off
as a stuck note even when the pitch was struck and released again later.) Events missing at both
receivers were lost after the engine handed them to its port (in its JACK client or JACK:
asynchronous mode on a loaded machine), one receiver's alone on its side. Also counted in the
sent stream: a note-on of a pitch that still sounds (no note-off since its last note-on), a
note hung for a while even if a later note-off ends it.
Targets: jitter p99 <= 0.5 ms, generation <= 10 ms per bar on 2 cores, every bar answered in
time, no stuck notes (sent by the engine).

    .venv/bin/python benchmarks/bench_follow.py [--seconds 300] [--bpm 174] [--period 32] [--dump] [--sync] [--full-encoder]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_playback_timing import TimedMidi
from jack_bench import Sender, jack_server, load_bench_model, match_arrivals, stats_ms
from note_streams import DumpReceiver, NoteReceiver, SentLog, align_streams, stuck_notes

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.midi.ports import IN_PORT_NAME, OUT_PORT_NAME, resolve_api
from bridge.play.player import PlayedNote
from bridge.settings import Settings
from models.drum_maps import ROLAND

GMD_FILE = Path(__file__).resolve().parents[2] / "shared/data/groove-midi/groove/drummer1/session1/102_funk_95_beat_4-4.mid"


def _timed(fn: Any, record: list[tuple[float, float, float]], lock: threading.Lock) -> Any:
    """fn, recording (start, wall seconds, this thread's CPU seconds) of each call."""

    def timed(*a: Any, **kw: Any) -> Any:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn(*a, **kw)
        finally:
            with lock:
                record.append((t0, time.perf_counter() - t0, time.thread_time() - c0))

    return timed


class TimedModel:
    """The model, with wall and thread CPU time of each encode / decode / drumify call recorded,
    and of the native kernels' calls inside them (``kernel_calls``: the C code, run without the
    GIL): wall - CPU is time the generation thread was runnable but not running (another thread
    or process on its core, or waiting for the GIL); model - kernel is the Python / torch around."""

    def __init__(self, model: Any, rt_priority: int = 0) -> None:
        self._model = model
        self.rt_priority = rt_priority
        self.calls: list[tuple[float, float, float]] = []  # (start, seconds, CPU seconds)
        self.kernel_calls: list[tuple[float, float, float]] = []
        self._lock = threading.Lock()
        fast, quick = getattr(model, "fast", None), getattr(model, "quick_encoder", None)
        for native, method in ((getattr(fast, "native_encoder", None), "final_states"),
                               (getattr(quick, "native", None), "final_states"),  # the follow encoder's
                               (getattr(fast, "native", None), "decode")):
            if native is not None:  # instance attributes shadow the methods
                setattr(native, method, _timed(getattr(native, method), self.kernel_calls, self._lock))

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._model, name)
        if not name.startswith(("encode", "decode", "drumify")):  # (encode_quick too: every model call)
            return attr
        timed = _timed(attr, self.calls, self._lock)
        if not self.rt_priority:
            return timed

        def raised(*a: Any, **kw: Any) -> Any:  # SCHED_FIFO for this call (the calling thread only)
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.rt_priority))
            except OSError:
                pass
            try:
                return timed(*a, **kw)
            finally:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))

        return raised


def _tick_sec(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far: this process by thread (Python thread names; libjack's threads by
    their OS name), the given processes, and the whole machine ("machine busy")."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        name = names.get(int(task.name), f"os:{comm}")
        out[name] = out.get(name, 0.0) + _tick_sec(stat[stat.rindex(")") + 2 :].split())
    for label, pid in pids.items():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            out[label] = _tick_sec(stat[stat.rindex(")") + 2 :].split())
        except OSError:
            pass
    cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    out["machine busy"] = (sum(cpu) - cpu[3] - cpu[4]) / os.sysconf("SC_CLK_TCK")
    return out


def jackd_pid() -> int:
    name = os.environ.get("JACK_DEFAULT_SERVER", "")
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"jackd") and name.encode() in cmd:
                return int(proc.name)
    return -1


def follow_job_alone(model: Any, groove: Any, repeats: int) -> dict[str, float]:
    """The follow job's model calls (encode 4 bars as the engine does, by the follow encoder where
    the model ships one; slerp, decode) on this thread, nothing else running in this process:
    median wall ms and CPU ms, for the ratio to the figure in the engine."""
    from models.latent import slerp

    played, current = groove.window(0, 4), groove.window(4, 4) if groove.num_bars >= 8 else groove.window(0, 4)
    z_current = model.encode([current])[0]
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.thread_time()
        target = model.encode_quick([played])[0]
        model.decode(slerp(z_current, target, 0.5)[None, :], temperature=1.0, seed=4321)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.thread_time() - c0)
    return {"wall_ms": float(np.median(walls) * 1e3), "cpu_ms": float(np.median(cpus) * 1e3)}


def restruck_unreleased(events: dict[str, np.ndarray]) -> int:
    """Note-ons of a pitch whose previous note-on has had no note-off yet (a hung note)."""
    sounding: set[int] = set()
    hung = 0
    for on, pitch in zip(events["on"].tolist(), events["pitch"].tolist(), strict=True):
        if on:
            hung += pitch in sounding
            sounding.add(pitch)
        else:
            sounding.discard(pitch)
    return hung


def note_report(sent: dict[str, np.ndarray], received: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """Stuck notes in the stream the engine sent (the verdict: pitches whose last event is a
    note-on; note-ons of a pitch still sounding), and each receiver's stream against it."""
    views = {name: align_streams(sent, got) for name, got in received.items()}
    missing = [v["missing_by"] for v in views.values()]
    upstream = {k: min(m.get(k, 0) for m in missing) for k in (missing[0] if missing else {})}
    return {"stuck_sent": stuck_notes(sent), "hung_sent": restruck_unreleased(sent), "receivers": views,
            # missing at every receiver: lost after the engine handed it to its port (its JACK
            # client or JACK itself), not by one receiver (with a single receiver: unknown)
            "lost_at_all_receivers": {k: v for k, v in upstream.items() if v} if len(views) > 1 else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--bpm", type=float, default=174.0)
    ap.add_argument("--period", type=int, default=32)
    ap.add_argument("--jack", choices=("auto", "rt", "no-rt"), default="auto")
    ap.add_argument("--gen-rt-priority", type=int, default=0,
                    help="run the model calls of the generation thread SCHED_FIFO at this priority (an "
                         "experiment for the engine: below the scheduler's 10 and JACK's 70; 0 = off)")
    ap.add_argument("--sync", action="store_true", help="JACK2's synchronous mode (jackd -S): a cycle waits for "
                    "every client, so a late client delays events instead of losing them")
    ap.add_argument("--dump", action="store_true", help="also read GrooveBridge Out with jack_midi_dump (C)")
    ap.add_argument("--full-encoder", action="store_true",
                    help="encode the played window with the full encoder, not the model's follow encoder (the baseline)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from models.midi.files import read_midi

    base, model_desc = load_bench_model()
    if args.full_encoder:
        base.quick_encoder = None  # encode_quick is then encode
    groove = read_midi(GMD_FILE).groove
    groove = groove.window(0, 4 * (groove.num_bars // 4))
    alone = follow_job_alone(base, groove, 30)
    model = TimedModel(base, args.gen_rt_priority)
    loop_beats = groove.num_steps / 4
    with jack_server(args.period, args.jack, sync=args.sync) as jack_rt:
        midi = SentLog(TimedMidi(resolve_api("jack"), input_port="", output_port=""))
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
        rx = NoteReceiver(OUT_PORT_NAME)
        dump = DumpReceiver(OUT_PORT_NAME) if args.dump and DumpReceiver.available() else None
        sender = Sender(IN_PORT_NAME)
        pids = {"sender process": sender.proc.pid, "receiver process": rx.proc.pid, "jackd": jackd_pid()}
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
        cpu0, wall0, children0 = cpu_snapshot(pids), time.perf_counter(), os.times()
        sender.play(plan)
        time.sleep(2 * 240.0 / args.bpm)  # two more bars: the last answers
        cpu1, wall, children1 = cpu_snapshot(pids), time.perf_counter() - wall0, os.times()
        cpu1["sender process"] = cpu0.get("sender process", 0.0) + (  # it has exited: its time is ours now
            children1.children_user + children1.children_system - children0.children_user - children0.children_system)
        origin_sec = clock.time_at_beat(0.0)
        snap = engine.snapshot()
        t_stop = time.monotonic()
        engine.stop()  # queued: the control thread stops the clock, the scheduler then releases what sounds
        while engine.player is not None and engine.player.running and time.monotonic() - t_stop < 10.0:
            time.sleep(0.005)
        stop_ms = (time.monotonic() - t_stop) * 1000.0
        time.sleep(0.5)  # the receivers read the last note-offs (they drain 0.3 s more after being told)
        raw = rx.finish()  # every message, offs included (stuck notes)
        dumped = dump.finish() if dump is not None else None
        engine.close()
    on = raw["on"]
    arrivals = list(zip(raw["t"][on].tolist(), raw["pitch"][on].tolist(), raw["vel"][on].tolist(), strict=True))
    sent_ev = midi.events()
    report = note_report(sent_ev, {"python_receiver": raw} | ({"jack_midi_dump": dumped} if dumped is not None else {}))
    stuck_sent, hung_sent, views = report["stuck_sent"], report["hung_sent"], report["receivers"]
    lost_all = report["lost_at_all_receivers"]
    stuck = len(stuck_sent)
    played = [n for n in notes if origin_sec + n.beat * 60.0 / args.bpm > plan[0][0] - 1]
    intended = [(origin_sec + p.beat * 60.0 / args.bpm, p.pitch, p.velocity) for p in played]
    pairs = match_arrivals(intended, arrivals)
    err = np.array([arrivals[j][0] - intended[i][0] for i, j in pairs])
    jitter = stats_ms(np.abs(err - np.median(err))) if len(err) else stats_ms(np.array([]))
    bars = int(beats // 4)
    per_call = np.array([c[1] for c in model.calls])
    gen_ms = float(per_call.sum() * 1000 / max(snap.follow_updates, 1))
    per_bar = max(snap.follow_updates, 1)
    # CPU while playing, as a share of one core (the machine has os.cpu_count() of them)
    cpu_share = {k: (cpu1[k] - cpu0.get(k, 0.0)) / wall for k in cpu1 if cpu1[k] - cpu0.get(k, 0.0) > 0}
    ours = sum(v for k, v in cpu_share.items() if k != "machine busy")
    cpu_share["rest of the machine"] = cpu_share.get("machine busy", 0.0) - ours
    split = {  # ms per bar: the model calls' wall / CPU time, and of the native kernels inside them
        "model_wall": gen_ms, "model_cpu": float(sum(c[2] for c in model.calls) * 1000 / per_bar),
        "kernel_wall": float(sum(c[1] for c in model.kernel_calls) * 1000 / per_bar),
        "kernel_cpu": float(sum(c[2] for c in model.kernel_calls) * 1000 / per_bar),
    }
    result = {
        "bench": "follow", "bpm": args.bpm, "seconds": args.seconds, "period_frames": args.period,
        "jack_realtime": jack_rt, "jack_sync": args.sync, "model": model_desc, "bars_played": bars, "follow_updates": snap.follow_updates,
        "follow_late": snap.follow_late, "notes_played": len(played), "notes_heard": len(pairs),
        "notes_lost": len(played) - len(pairs), "jitter_ms": jitter, "generation_ms_per_bar": gen_ms,
        "model_call_ms": stats_ms(per_call), "stuck_notes": stuck, "stuck_sent": stuck_sent, "hung_sent": hung_sent, "stop_ms": stop_ms, "lost_at_all_receivers": lost_all,
        "receivers": {k: {n: v[n] for n in ("ons", "offs", "missing", "extra", "missing_by", "extra_by", "stuck")}
                      for k, v in views.items()}, "per_bar_ms": split,
        "follow_job_alone_ms": alone, "cpu_share": cpu_share, "gen_rt_priority": args.gen_rt_priority,
        "follow_encoder": bool(getattr(base, "has_quick_encoder", False)), "native_weights": getattr(getattr(base.fast, "native", None), "weights", None),
    }
    print(f"follow at {args.bpm:g} BPM for {args.seconds:g} s, JACK period {args.period} frames "
          f"(jackd {'-R' if jack_rt else '--no-realtime'}{' -S' if args.sync else ''}), input {GMD_FILE.name}, model {model_desc}")
    print(f"bars {bars}, follow updates {snap.follow_updates}, late (skipped) {snap.follow_late}, "
          f"generation {gen_ms:.1f} ms per bar; notes {len(pairs)}/{len(played)} heard, stuck (sent) {stuck}; "
          f"jitter p50 {jitter['p50']:.3f} p99 {jitter['p99']:.3f} max {jitter['max']:.3f} ms")
    print(f"per bar: model calls {split['model_wall']:.1f} ms wall / {split['model_cpu']:.1f} ms CPU of the generation "
          f"thread; native kernels inside {split['kernel_wall']:.1f} wall / {split['kernel_cpu']:.1f} CPU; the same job "
          f"alone in this process before the run: {alone['wall_ms']:.1f} ms wall / {alone['cpu_ms']:.1f} ms CPU "
          f"(native weights: {result['native_weights']}; model calls SCHED_FIFO {args.gen_rt_priority or 'off'})")
    print(f"engine sent {int(sent_ev['on'].sum())} note-ons, {int((~sent_ev['on']).sum())} note-offs; "
          f"sounding at the end: {stuck_sent or 'none'}; struck again without a note-off: {hung_sent}; "
          f"player stopped {stop_ms:.0f} ms after engine.stop()")
    for name, v in views.items():
        print(f"  {name:<16} got {v['ons']} on / {v['offs']} off; vs sent: {v['missing']} missing "
              f"{v['missing_by'] or ''}, {v['extra']} never sent {v['extra_by'] or ''}; stuck {v['stuck'] or 'none'}")
    if lost_all is not None:
        print(f"  missing at both receivers (lost after the engine's port got it: in JACK): {lost_all or 'none'}")
    print(f"CPU while playing, in cores (of {os.cpu_count()}): " + ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(cpu_share.items(), key=lambda kv: -kv[1])))
    print(f"targets: jitter p99 <= 0.5 ms {'met' if jitter['p99'] <= 0.5 else 'NOT met'}; generation <= 10 ms per bar "
          f"{'met' if gen_ms <= 10 else 'NOT met'}; every bar in time {'met' if snap.follow_late == 0 else 'NOT met'}; "
          f"no stuck notes {'met' if stuck == 0 else 'NOT met'}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
