"""Desktop app start-up: time to window shown and time to model ready, vs an empty window.

Measured in one process, in this order:
* baseline      an empty ``QMainWindow`` (same size) shown and painted (Qt already imported)
* window shown  ``gui.app.launch``: importing the app's modules, building every panel, showing
                and painting the main window (the engine is not waited for)
* engine up     the engine built and started on its background thread, attached to the window
* model ready   the engine's snapshot says ``model_state == "ready"``
* cold start    a fresh ``python`` process (interpreter, PyQt, app) until the window is painted,
                against a fresh process showing an empty ``QMainWindow`` (second baseline)
Each figure also as a ratio to the baseline. The model is the shipped default (``--model
default``) or a tiny random-weight model (``--model tiny``, when none is shipped yet). Runs
offscreen unless a display is set.

Then, as a musician meets it (``--launches N``, default 5; skipped with 0): the real app
(``gui.app.launch``, the shipped default model, the real MIDI backend) started N times in fresh
processes on a real X server (Xvfb, started for the run when no display is set) with a JACK
server (a private one, dummy backend, when jackd is installed), from the process' spawn:
window shown, first pattern drawn (in the grid), in the engine (seen from a thread of its own),
engine attached, model loading, model ready, first pattern shown (the engine's, in the grid); once on
a first launch (nothing saved: a starter groove, then the model's own sample), a first launch that
starts the transport as soon as the engine is attached (to the first note sent), and once with the
last session's pattern saved (the app shows it
before the model is up). And where the model's time goes, in a fresh process: importing torch,
``load_model`` (and whether it imported ``torch._dynamo``), the first sample. Prints tables and
one JSON line.

    .venv/bin/python benchmarks/bench_startup.py [--model default|tiny] [--repeats 5] [--launches 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GROOVEBRIDGE_CONFIG_DIR", tempfile.mkdtemp(prefix="gb-bench-config-"))
os.environ.setdefault("GROOVEBRIDGE_OSC_ENABLED", "0")

from PyQt6.QtCore import QEvent, QObject  # noqa: E402
from PyQt6.QtWidgets import QApplication, QMainWindow  # noqa: E402


class PaintWatch(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.painted = False

    def eventFilter(self, obj: QObject | None, event: QEvent | None) -> bool:
        if event is not None and event.type() == QEvent.Type.Paint:
            self.painted = True
        return False


def wait(app: QApplication, cond, timeout_sec: float = 120.0) -> float:
    t0 = time.perf_counter()
    while not cond():
        app.processEvents()
        if time.perf_counter() - t0 > timeout_sec:
            raise TimeoutError("timed out")
        time.sleep(0.0005)
    return time.perf_counter()


def show_and_paint(app: QApplication, make) -> tuple[object, float]:
    watch = PaintWatch()
    t0 = time.perf_counter()
    w = make()
    w.installEventFilter(watch)
    w.show()
    t1 = wait(app, lambda: watch.painted and w.windowHandle() is not None and w.windowHandle().isExposed())
    return w, t1 - t0


def tiny_loader(name: str):
    import torch

    from models.generate import GrooveModel, load_model
    from models.net.config import get_config
    from models.net.vae import GrooVAE

    if name not in ("", "default", "tiny"):
        return load_model(name)
    torch.manual_seed(0)
    return GrooveModel(GrooVAE(get_config("groovae_tiny")).eval(), name="tiny")


def cold_child(kind: str) -> int:
    """Child mode: show a window (the app's or an empty one), print seconds since spawn."""
    spawned = float(os.environ["GB_SPAWN_TIME"])
    app = QApplication.instance() or QApplication(["bench"])
    if kind == "app":
        from gui import app as gui_app

        gui_app.make_application()
        args = gui_app.build_parser().parse_args([])
        window, _ = show_and_paint(app, lambda: gui_app.launch(args, model_loader=tiny_loader))
    else:
        window, _ = show_and_paint(app, lambda: QMainWindow())
    print(f"{time.time() - spawned:.6f}", flush=True)
    window.close()  # type: ignore[attr-defined]
    os._exit(0)  # do not wait for the engine's threads


def cold_start_ms(kind: str) -> float:
    import subprocess

    env = dict(os.environ, GB_SPAWN_TIME=f"{time.time():.6f}")
    out = subprocess.run([sys.executable, __file__, "--cold-child", kind], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return float(out.strip().splitlines()[-1]) * 1000


REAL_MARKS = ("window shown", "first pattern drawn", "first pattern in the engine", "engine attached",
              "model loading", "model ready", "first pattern shown", "first note played", "model's sample shown")
KINDS = {"first launch": "fresh", "first launch, Play at once": "play", "last pattern saved": "restored"}


def real_child(kind: str) -> int:
    """Child mode: the real app from spawn to its first pattern (and, with ``kind`` "play", the
    transport started as soon as the engine is attached, to its first note; otherwise on to the
    model's own sample); prints the marks as JSON."""
    spawned = float(os.environ["GB_SPAWN_TIME"])
    marks: dict[str, float] = {}
    app = QApplication.instance() or QApplication(["groovebridge"])
    from PyQt6.QtCore import QTimer

    from gui import app as gui_app

    gui_app.make_application()
    engines: list = []
    start_engine = gui_app.start_engine

    def observed_start(*a: object, **k: object):  # the engine as soon as it is started
        started = start_engine(*a, **k)
        engines.append(started[0])
        return started

    gui_app.start_engine = observed_start
    window = gui_app.launch(gui_app.build_parser().parse_args([]))
    notes: list[float] = []

    def watch_engine() -> None:  # its own thread: when the engine has the pattern (not when the GUI sees it)
        while "first pattern in the engine" not in marks:
            if engines and engines[0].snapshot().pattern.num_hits:
                marks["first pattern in the engine"] = time.time() - spawned
            time.sleep(0.002)

    import threading

    threading.Thread(target=watch_engine, daemon=True).start()

    def on_note(_note: object, _due: float) -> None:  # the scheduler thread: the note went out
        if not notes:
            notes.append(time.time() - spawned)

    def poll() -> None:
        now = time.time() - spawned
        handle = window.windowHandle()
        snap = window.adapter.snapshot()
        grid = window.grid.groove()
        engine = window.adapter.engine
        if engine is not None and "engine attached" not in marks:
            engine.note_sinks.append(on_note)
            if kind == "play":
                engine.play()
        skip = {"play": ("model's sample shown",), "fresh": ("first note played",)}.get(kind, REAL_MARKS[-2:])
        wanted = [m for m in REAL_MARKS if m not in skip]
        for name, seen in (
            ("window shown", handle is not None and handle.isExposed()),
            ("first pattern drawn", grid is not None and grid.num_hits > 0),
            ("engine attached", engine is not None),
            ("model loading", snap is not None and snap.model_state in ("loading", "ready")),
            ("model ready", snap is not None and snap.model_state == "ready"),
            ("first pattern shown", grid is not None and grid.num_hits > 0 and snap is not None
             and grid is snap.pattern),
            ("first note played", bool(notes)),
            ("model's sample shown", grid is not None and snap is not None and grid is snap.pattern
             and snap.pattern_source == "sample"),
        ):
            if seen and name not in marks:
                marks[name] = notes[0] if name == "first note played" else now
        if all(m in marks for m in wanted) or now > 60:
            print(json.dumps({"marks": marks, "platform": app.platformName(), "kind": kind,
                              "source": first_source.get("source", ""),
                              "midi_api": str((snap.ports or {}).get("api")) if snap is not None else ""}),
                  flush=True)
            os._exit(0)

    first_source: dict[str, str] = {}

    def remember_source() -> None:
        snap = window.adapter.snapshot()
        if "source" not in first_source and snap is not None and snap.pattern.num_hits:
            first_source["source"] = str(snap.pattern_source)

    tick = QTimer()
    tick.timeout.connect(poll)
    tick.timeout.connect(remember_source)
    tick.start(5)
    return int(app.exec())


def load_profile_child() -> int:
    """Child mode: where the model's load time goes (no GUI)."""
    t0 = time.perf_counter()
    import torch  # noqa: F401

    t_torch = time.perf_counter()
    from models.generate import load_model

    dynamo_before = "torch._dynamo" in sys.modules
    t1 = time.perf_counter()
    model = load_model(None)
    t_load = time.perf_counter()
    model.sample(4, temperature=1.0)
    t_sample = time.perf_counter()
    print(json.dumps({"import_torch_ms": (t_torch - t0) * 1000, "load_model_ms": (t_load - t1) * 1000,
                      "dynamo_imported_by_load": not dynamo_before and "torch._dynamo" in sys.modules,
                      "first_sample_ms": (t_sample - t_load) * 1000}), flush=True)
    return 0


def _child_json(args: list[str], env: dict[str, str]) -> dict:
    import subprocess

    env = dict(env, GB_SPAWN_TIME=f"{time.time():.6f}")
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _saved_pattern_config() -> str:
    """A config folder holding a last-session pattern (what the app saves when it quits)."""
    from gui.export import export_pattern
    from models.midi.files import load_groove_window

    folder = Path(tempfile.mkdtemp(prefix="gb-bench-restored-"))
    gmd = sorted(Path("/work/shared/data/groove-midi/groove").glob("drummer1/session1/*_beat_4-4.mid"))
    groove = load_groove_window(gmd[0])[0] if gmd else None
    if groove is not None:
        export_pattern(groove, folder / "slots" / "pattern.mid", 120.0, "gm")
    return str(folder)


def real_launches(n: int) -> dict:
    """N cold launches of the real app on a real display with JACK; medians per mark."""
    from contextlib import ExitStack

    env = dict(os.environ)
    env.pop("QT_QPA_PLATFORM", None)
    env["GROOVEBRIDGE_OSC_ENABLED"] = "0"
    with ExitStack() as stack:
        jack = "none"
        try:
            from tests.rigs.jack_server import JackUnavailable, private_jack_server

            server = stack.enter_context(private_jack_server("gb-bench-startup", period_frames=256))
            env.update(JACK_DEFAULT_SERVER=server.name, JACK_NO_START_SERVER="1")
            jack = server.name
        except (ImportError, JackUnavailable) as e:
            print(f"note: no JACK server for the launches ({e})")
        runs: dict[str, list[dict]] = {kind: [] for kind in KINDS}
        for _ in range(n):
            for kind, child in KINDS.items():
                cfg = _saved_pattern_config() if child == "restored" else tempfile.mkdtemp(prefix="gb-bench-config-")
                runs[kind].append(_child_json(["--real-child", child], dict(env, GROOVEBRIDGE_CONFIG_DIR=cfg)))
        profile = [_child_json(["--load-profile"], env) for _ in range(max(1, min(n, 3)))]
    out: dict = {"jack": jack, "launches": n, "profile": {
        k: round(statistics.median(p[k] for p in profile), 1) for k in ("import_torch_ms", "load_model_ms", "first_sample_ms")}}
    out["profile"]["dynamo_imported_by_load"] = all(p["dynamo_imported_by_load"] for p in profile)
    for kind, rs in runs.items():
        out[kind] = {m: round(statistics.median(r["marks"][m] for r in rs if m in r["marks"]) * 1000, 1)
                     for m in REAL_MARKS if any(m in r["marks"] for r in rs)}
        out[kind]["range_first_pattern_ms"] = [round(min(r["marks"].get("first pattern shown", 0) for r in rs) * 1000),
                                               round(max(r["marks"].get("first pattern shown", 0) for r in rs) * 1000)]
        out[kind]["platform"] = rs[0]["platform"]
        out[kind]["midi_api"] = rs[0]["midi_api"]
        out[kind]["first_pattern_source"] = rs[0]["source"]
    return out


def print_real(res: dict) -> None:
    print(f"\nreal app, {res['launches']} cold launches, JACK: {res['jack']}, platform:"
          f" {res['first launch']['platform']}, MIDI: {res['first launch']['midi_api']} (ms from spawn, median)")
    print(f"{'mark':<24}" + "".join(f" {k:>27}" for k in KINDS))
    for m in REAL_MARKS:
        print(f"{m:<24}" + "".join(f" {res[k][m]:>27.0f}" if m in res[k] else f" {'':>27}" for k in KINDS))
    print(f"{'first pattern from':<24}" + "".join(f" {res[k]['first_pattern_source']:>27}" for k in KINDS))
    p = res["profile"]
    print(f"model load, fresh process: import torch {p['import_torch_ms']:.0f} ms, load_model {p['load_model_ms']:.0f} ms"
          f" (imports torch._dynamo: {p['dynamo_imported_by_load']}), first sample(4) {p['first_sample_ms']:.0f} ms")


def under_xvfb(argv: list[str]) -> int | None:
    """Re-run this benchmark on a private Xvfb display when there is none; None: run here."""
    import shutil
    import subprocess

    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("GB_BENCH_NO_XVFB"):
        return None
    if shutil.which("xvfb-run") is None:
        print("note: no display and no Xvfb: the launches run offscreen")
        return None
    env = dict(os.environ, GB_BENCH_NO_XVFB="1")
    env.pop("QT_QPA_PLATFORM", None)
    return subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, __file__, *argv],
                          env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default", choices=("default", "tiny"))
    p.add_argument("--repeats", type=int, default=5, help="baseline repeats (median)")
    p.add_argument("--launches", type=int, default=5, help="cold launches of the real app (0: skip)")
    p.add_argument("--cold-child", choices=("app", "empty"), help=argparse.SUPPRESS)
    p.add_argument("--real-child", choices=tuple(KINDS.values()), help=argparse.SUPPRESS)
    p.add_argument("--load-profile", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cold_child:
        return cold_child(args.cold_child)
    if args.real_child:
        return real_child(args.real_child)
    if args.load_profile:
        return load_profile_child()
    if args.launches > 0 and QApplication.instance() is None:
        rc = under_xvfb(sys.argv[1:] if argv is None else argv)
        if rc is not None:
            return rc

    t_app = time.perf_counter()
    app = QApplication.instance() or QApplication(["bench"])
    app_ms = (time.perf_counter() - t_app) * 1000
    baselines = []
    for _ in range(max(1, args.repeats)):
        def empty() -> QMainWindow:
            w = QMainWindow()
            w.resize(1280, 820)
            return w

        w, dt = show_and_paint(app, empty)
        baselines.append(dt * 1000)
        w.close()  # type: ignore[attr-defined]
        w.deleteLater()  # type: ignore[attr-defined]
        app.processEvents()
    base_ms = statistics.median(baselines)

    model = args.model
    if model == "default" and not (ROOT / "models" / "pretrained" / "default" / "model.safetensors").is_file():
        print("note: the shipped default model is not installed; timing the tiny model instead")
        model = "tiny"

    t0 = time.perf_counter()
    from gui import app as gui_app  # counted: a real start imports these

    gui_app.make_application()
    loader = tiny_loader if model == "tiny" else None
    launch_args = gui_app.build_parser().parse_args([])
    window, shown_sec = show_and_paint(app, lambda: gui_app.launch(launch_args, model_loader=loader))
    shown_ms = shown_sec * 1000
    t_engine = wait(app, lambda: window.adapter.engine is not None or len(window.errors) > 0)
    engine_ms = (t_engine - t0) * 1000
    t_ready = wait(app, lambda: window.adapter.snapshot() is not None
                   and window.adapter.snapshot().model_state in ("ready", "error"))
    snap = window.adapter.snapshot()
    ready_ms = (t_ready - t0) * 1000
    state = snap.model_state
    window.close()
    cold_empty_ms = statistics.median(cold_start_ms("empty") for _ in range(3))
    cold_app_ms = statistics.median(cold_start_ms("app") for _ in range(3))

    rows = [
        ("QApplication()", app_ms, None),
        ("empty window shown (baseline)", base_ms, 1.0),
        ("app window shown", shown_ms, shown_ms / base_ms),
        ("engine attached", engine_ms, engine_ms / base_ms),
        (f"model ready ({model}: {state})", ready_ms, ready_ms / base_ms),
        ("cold: python + empty window (baseline 2)", cold_empty_ms, 1.0),
        ("cold: python + app window shown", cold_app_ms, cold_app_ms / cold_empty_ms),
    ]
    print(f"{'figure':<44} {'ms':>9} {'x baseline':>11}")
    for name, ms, ratio in rows:
        print(f"{name:<44} {ms:>9.1f} {'' if ratio is None else f'{ratio:>11.1f}'}")
    real = real_launches(args.launches) if args.launches > 0 and model == "default" else None
    if real is not None:
        print_real(real)
    print(json.dumps({
        "bench": "startup", "platform": app.platformName(), "model": model, "real_app": real,
        "model_state": state, "qapplication_ms": round(app_ms, 2), "baseline_window_ms": round(base_ms, 2),
        "window_shown_ms": round(shown_ms, 2), "engine_attached_ms": round(engine_ms, 2),
        "model_ready_ms": round(ready_ms, 2), "window_shown_ratio": round(shown_ms / base_ms, 2),
        "model_ready_ratio": round(ready_ms / base_ms, 2),
        "cold_empty_window_ms": round(cold_empty_ms, 2), "cold_app_window_ms": round(cold_app_ms, 2),
        "cold_app_window_ratio": round(cold_app_ms / cold_empty_ms, 2),
    }))
    return 0 if state == "ready" else 1


if __name__ == "__main__":
    sys.exit(main())
