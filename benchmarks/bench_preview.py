"""Preview sound figures: latency note -> audio, synth CPU at 174 BPM, render speed, MIDI timing.

* ``latency`` (also gives the CPU figure): a private JACK server (dummy backend, 48 kHz,
  ``--period`` 256, JACK2's default asynchronous mode as users run it), the engine playing a
  real Groove MIDI Dataset take at 174 BPM for ``--bars`` bars with the preview on JACK audio
  ports, recorded by a second client process (tests/bridge/audio_recorder.py). For each hit
  with no other within 30 ms before / 25 ms after, the onset is found from the recording's
  energy (tests/bridge/audio_onsets.py) less the kit sample's own attack; latency = onset -
  the note's due time at the MIDI output (its beat's time less the latency offset). Jitter =
  |latency - median|. CPU: thread CPU time inside the audio callback / wall time (% of one
  core), and the engine process's CPU time with and without the preview over the same bars.
* ``render``: ``groovebridge render``'s core on a GMD take, N loops: x real time.
* ``playback``: benchmarks/bench_playback_timing.py as it is, run twice in this process:
  without the preview and with one attached to its engine as serve and the app attach it
  (``bridge.audio.preview_proc``: the audio in a child process; JACK audio ports on its server).

    .venv/bin/python benchmarks/bench_preview.py [latency|render|playback|all] [--bars 32] [--period 256]
        [--playback-period 32]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from jack_bench import ROOT, jack_server, stats_ms

sys.path.insert(0, str(ROOT / "tests" / "bridge"))
from audio_onsets import attack_table, envelope, isolated, onset_near  # noqa: E402

from bridge.audio.preview import Preview  # noqa: E402
from bridge.audio.preview_proc import PreviewProcess  # noqa: E402
from bridge.audio.render import render_groove  # noqa: E402
from bridge.clock.base import InternalClock  # noqa: E402
from bridge.engine import Engine  # noqa: E402
from bridge.play.player import PlayedNote  # noqa: E402
from bridge.settings import Settings  # noqa: E402
from models.midi.files import read_midi  # noqa: E402
from models.synth import SAMPLE_RATE, DrumSynth, find_soundfont, load_kit  # noqa: E402

TAKE = Path("/work/shared/data/groove-midi/groove/drummer1/session1/1_funk_80_beat_4-4.mid")
RECORDER = ROOT / "tests" / "bridge" / "audio_recorder.py"
BPM = 174.0


class _NoModel:
    name = "none"


def _engine(settings: Settings) -> Engine:
    from bridge.midi.ports import MidiIO, resolve_api

    midi = MidiIO(resolve_api("jack"), input_port="none", output_port="")
    return Engine(settings, model_loader=lambda name: _NoModel(), midi=midi, clock=InternalClock(settings.bpm),
                  auto_sample=False)


def _cpu_phase(bars: int, preview_on: bool, period: int) -> dict[str, float]:
    """Process CPU seconds per wall second while the engine plays ``bars`` bars (preview on/off)."""
    groove = read_midi(TAKE).groove.window(0, 4)
    with jack_server(period, "auto"):
        engine = _engine(Settings(bpm=BPM, osc_enabled=False))
        engine.start()
        preview = Preview(None, backend="jack").attach(engine) if preview_on else None
        try:
            engine.set_pattern(groove, "bench")
            engine.play()
            time.sleep(0.5)
            c0, w0 = time.process_time(), time.monotonic()
            time.sleep(bars * 4 * 60.0 / BPM)
            cpu, wall = time.process_time() - c0, time.monotonic() - w0
            engine.stop()
        finally:
            if preview is not None:
                preview.close()
            engine.close()
    return {"cpu_pct_of_one_core": 100.0 * cpu / wall}


def bench_latency(bars: int, period: int) -> dict[str, object]:
    groove = read_midi(TAKE).groove.window(0, 4)
    with tempfile.TemporaryDirectory() as tmp, jack_server(period, "auto") as jack_rt:
        rec_path = Path(tmp) / "rec.npz"
        seconds = bars * 4 * 60.0 / BPM + 2.0
        rec = subprocess.Popen([sys.executable, str(RECORDER), str(rec_path), f"{seconds:.2f}"],
                               stdout=subprocess.PIPE, text=True)
        assert rec.stdout is not None and rec.stdout.readline().strip() == "ready"
        engine = _engine(Settings(bpm=BPM, osc_enabled=False, latency_ms=10.0))
        notes: list[tuple[PlayedNote, float]] = []
        engine.note_sinks.append(lambda note, due: notes.append((note, due)))
        engine.start()
        preview = Preview(None, backend="jack")
        callback_cpu = [0.0]
        render = preview._render

        def timed(frames: int, start: float, out: np.ndarray) -> None:
            t0 = time.thread_time()
            render(frames, start, out)
            callback_cpu[0] += time.thread_time() - t0

        assert preview.out is not None
        preview.out._render = timed  # type: ignore[union-attr]
        preview.attach(engine)
        try:
            assert rec.stdout.readline().strip() == "recording"
            engine.set_pattern(groove, "bench")
            time.sleep(0.2)
            w0 = time.monotonic()
            cpu0 = callback_cpu[0]
            engine.play()
            time.sleep(bars * 4 * 60.0 / BPM + 0.3)
            engine.stop()
            wall = time.monotonic() - w0
            cpu = callback_cpu[0] - cpu0
            rec.wait(60)
        finally:
            preview.close()
            engine.close()
        data = np.load(rec_path)
    audio, block_sec = data["audio"], data["block_sec"]
    period_sec = period / SAMPLE_RATE

    def rec_time(t_sec: float) -> float:
        i = int(np.searchsorted(block_sec, t_sec)) - 1
        return i * period_sec + (t_sec - block_sec[i])

    env = envelope(audio)
    kit = preview.kit
    attack = attack_table(lambda frames, at, pitch, vel: DrumSynth(kit).render(frames, [(at, pitch, vel)]))  # type: ignore[arg-type]
    due = sorted(notes, key=lambda x: x[1])
    times = [d for _, d in due]
    latencies = []
    for i in isolated(times):
        note, d = due[i]
        t = rec_time(d)
        if not 0.05 < t < len(audio) / SAMPLE_RATE - 0.05:
            continue
        onset = onset_near(env, t + preview.delay_sec, before_sec=0.02)
        if onset is not None:
            latencies.append(onset - attack(note.pitch, note.velocity) - t)
    lat = np.array(latencies)
    return {
        "period_frames": period, "jack_realtime": jack_rt, "bars": bars, "bpm": BPM, "notes": len(notes),
        "measured": len(lat), "late_notes": preview.late_notes,
        "clock_fallbacks": getattr(preview.out, "clock_fallbacks", 0) if preview.out else 0,
        "delay_ms": preview.delay_sec * 1000.0, "latency": stats_ms(lat),
        "jitter": stats_ms(np.abs(lat - np.median(lat))) if len(lat) else {},
        "callback_cpu_pct_of_one_core": 100.0 * cpu / wall,
    }


def bench_render(loops: int = 10) -> dict[str, object]:
    kit = load_kit(find_soundfont())  # type: ignore[arg-type]
    read = read_midi(TAKE)
    runs = [render_groove(read.groove, kit, loops=loops, bpm=read.bpm) for _ in range(3)]
    best = min(runs, key=lambda r: r.render_sec)
    return {"take": TAKE.name, "loops": loops, "audio_sec": best.loop_sec, "render_sec": best.render_sec,
            "x_real_time": best.speed_x, "hits": len(best.notes)}


def _preview_engine(previews: list[PreviewProcess]) -> type[Engine]:
    """The engine class with a preview (JACK audio) attached once it has started."""

    class PreviewEngine(Engine):
        def start(self) -> None:
            super().start()
            previews.append(PreviewProcess(None, backend="jack").attach(self))  # as serve and the app run it

        def close(self) -> None:
            for p in previews:
                p.close()
            super().close()

    return PreviewEngine


def bench_playback(bars: int, period: int) -> dict[str, object]:
    import contextlib
    import io

    import bench_playback_timing as bpt

    results: dict[str, dict[str, object]] = {}
    for name, on in (("without", False), ("with", True)):
        previews: list[PreviewProcess] = []
        bpt.Engine = _preview_engine(previews) if on else Engine  # type: ignore[misc]
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            bpt.main(["--bars", str(bars), "--period", str(period)])
        lines = buf.getvalue().splitlines()
        print("\n".join(f"  [{name} preview] {line}" for line in lines[:-1]), flush=True)
        results[name] = json.loads(lines[-1])
        if previews:
            results[name]["preview_notes"] = previews[0]._status.get("notes_played")
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="?", default="all", choices=("latency", "render", "playback", "all"))
    ap.add_argument("--bars", type=int, default=32)
    ap.add_argument("--period", type=int, default=256, help="JACK period of the latency run (frames)")
    ap.add_argument("--playback-period", type=int, default=32, help="JACK period of the playback runs (its default)")
    args = ap.parse_args(argv)
    if find_soundfont() is None or not TAKE.exists():
        print("bench_preview: needs a GM SoundFont (fluid-soundfont-gm) and the Groove MIDI Dataset", file=sys.stderr)
        return 1
    report: dict[str, object] = {"bench": "preview"}
    if args.what in ("render", "all"):
        r = bench_render()
        report["render"] = r
        print(f"render: {r['take']} x{r['loops']} loops = {r['audio_sec']:.1f} s of audio in {r['render_sec'] * 1000:.0f} ms: "
              f"{r['x_real_time']:.0f}x real time", flush=True)
    if args.what in ("latency", "all"):
        r = bench_latency(args.bars, args.period)
        report["latency"] = r
        lat, jit = r["latency"], r["jitter"]
        print(f"preview latency, JACK dummy period {args.period} ({args.period / 48:.2f} ms), {r['bars']} bars at {BPM:g} BPM, "
              f"{r['measured']} of {r['notes']} notes measured: note due time -> audio p50 {lat['p50']:.2f} ms, "  # type: ignore[index]
              f"p99 {lat['p99']:.2f}, max {lat['max']:.2f}; jitter p99 {jit['p99']:.3f} ms; late notes {r['late_notes']}; "  # type: ignore[index]
              f"JACK clock fallbacks {r['clock_fallbacks']}; audio callback CPU {r['callback_cpu_pct_of_one_core']:.2f} % of one core",
              flush=True)
        off, on = _cpu_phase(args.bars // 2, False, args.period), _cpu_phase(args.bars // 2, True, args.period)
        report["process_cpu"] = {"without": off, "with": on}
        print(f"engine process CPU at {BPM:g} BPM: {off['cpu_pct_of_one_core']:.1f} % of one core without the preview, "
              f"{on['cpu_pct_of_one_core']:.1f} % with it", flush=True)
    if args.what in ("playback", "all"):
        r = bench_playback(args.bars, args.playback_period)
        report["playback"] = r
        for phase in ("baseline", "generating"):
            a, b = r["without"][phase], r["with"][phase]  # type: ignore[index]
            print(f"MIDI playback (JACK period {args.playback_period}) {phase}: jitter p99 {a['jitter']['p99']:.3f} -> {b['jitter']['p99']:.3f} ms with the preview "
                  f"({b['jitter']['p99'] / max(a['jitter']['p99'], 1e-9):.2f}x), abs p99 {a['abs']['p99']:.3f} -> "
                  f"{b['abs']['p99']:.3f} ms, lost {a['lost']} -> {b['lost']}", flush=True)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
