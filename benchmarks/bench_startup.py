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
offscreen unless a display is set. Prints a table and one JSON line.

    .venv/bin/python benchmarks/bench_startup.py [--model default|tiny] [--repeats 5]
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

    from models.config import get_config
    from models.generate import GrooveModel, load_model
    from models.vae import GrooVAE

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default", choices=("default", "tiny"))
    p.add_argument("--repeats", type=int, default=5, help="baseline repeats (median)")
    p.add_argument("--cold-child", choices=("app", "empty"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cold_child:
        return cold_child(args.cold_child)

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
    print(json.dumps({
        "bench": "startup", "platform": app.platformName(), "model": model,
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
