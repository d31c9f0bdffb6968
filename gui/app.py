"""`groovebridge` (no subcommand) / `groovebridge app`: open the desktop app.

The window is shown first; the engine (MIDI ports, threads, OSC server) is built on a
background thread right after, and its model loads in the engine's own worker, so the window is
usable at once and shows "loading" until the model is ready. Before that thread starts the
engine (and so the worker's torch import, which holds the GIL for long stretches: every other
thread, the GUI's above all, then crawls) the window reads and draws the first pattern
(``gui.first_pattern``: the last session's, else a starter groove), and the start thread queues
it in the engine, whose control thread plays it from its first command, and imports the
MIDI-file reader the window would otherwise import at attach under that contention: a first
launch shows a groove with the window and plays it from engine attach, seconds before the
model is up. Without a display it says so in one line and points to
``groovebridge serve``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any

PROG = "groovebridge"


def has_display() -> bool:
    """False on a Linux/BSD box with neither X11 nor Wayland and no Qt platform chosen."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith(("win", "darwin", "cygwin")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"{PROG} app", description="Open the GrooveBridge desktop app.")
    p.add_argument("--settings", default=None, help="engine settings TOML (see `groovebridge serve --help`)")
    p.add_argument("--model", default=None, help="model to load: default, humanize, or a checkpoint path")
    return p


def build_settings(saved: dict[str, Any], args: argparse.Namespace) -> tuple[Any, str]:
    """Settings from file < env < choices saved by the app < flags; (settings, warning)."""
    from bridge.settings import SettingsError, load_settings

    overrides = {k: v for k, v in saved.items() if not os.environ.get(f"GROOVEBRIDGE_{k.upper()}")}
    if args.model:
        overrides["model"] = args.model
    try:
        return load_settings(args.settings, **overrides), ""
    except SettingsError as e:
        if args.settings:
            raise
        return load_settings(None, model=args.model), f"saved settings ignored: {e}"


def start_engine(settings: Any, model_loader: Any = None, first: Any = None) -> tuple[Any, Any, str]:
    """(started Engine, OSC server or None, warning). Runs off the GUI thread. ``first``
    (``gui.first_pattern.FirstPattern``): a pattern queued before the engine starts, so its
    control thread plays it from its first command, before the model load gets going."""
    from bridge.engine import Engine

    engine = Engine(settings, model_loader=model_loader)
    groove = first.at_tempo(settings.bpm) if first is not None else None
    if groove is not None:
        engine.set_pattern(groove, source=first.source)
    engine.start()
    osc, warning = None, ""
    if settings.osc_enabled:
        from bridge.osc import OscError, OscServer

        try:
            osc = OscServer.from_settings(engine, settings)
            osc.start()
        except OscError as e:
            osc, warning = None, str(e)
    return engine, osc, warning


def launch(args: argparse.Namespace, model_loader: Any = None) -> Any:
    """Show the main window now and start the engine behind it; returns the window."""
    from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal

    from gui.main_window import MainWindow

    window = MainWindow()
    window.show()

    class Starter(QObject):
        ready = pyqtSignal(object, object, str, object, str)  # engine, OSC server, warning, first, OSC failure
        failed = pyqtSignal(str)

    starter = Starter(window)
    closed = threading.Event()
    window.closing.connect(closed.set)
    saved = window.engine_overrides()
    slots_dir = window.slots_dir()

    def on_ready(engine: Any, osc: Any, warning: str, first: Any, osc_failure: str) -> None:
        if closed.is_set():  # the window was closed before the engine was up
            if osc is not None:
                osc.close()
            engine.close()
            return
        window.attach_engine(engine, owned=True, first=first)
        window.set_osc_server(osc, osc_failure)
        if warning or osc_failure:
            window.show_error("; ".join(w for w in (warning, osc_failure and f"{osc_failure}: OSC is off") if w))

    starter.ready.connect(on_ready, Qt.ConnectionType.QueuedConnection)  # type: ignore[call-arg]  # PyQt6 stub lacks connect's type
    starter.failed.connect(lambda msg: window.show_error(f"the engine could not start: {msg}"))

    def run(first: Any) -> None:  # background thread: imports, MIDI ports, threads, the model
        try:
            settings, warning = build_settings(saved, args)
            import models.midi.files  # noqa: F401 - the slots' reader, at attach; here, before torch
            engine, osc, osc_warning = start_engine(settings, model_loader, first)
        except Exception as e:  # noqa: BLE001 - shown in the window, the app stays up
            text = str(e).strip()
            starter.failed.emit(text.splitlines()[0] if text else type(e).__name__)
            return
        starter.ready.emit(engine, osc, warning, first, osc_warning)

    def begin() -> None:  # GUI thread, first thing in the event loop: the first pattern, then the engine
        from gui.first_pattern import first_pattern

        first = first_pattern(slots_dir)
        window.draw_first_pattern(first)
        threading.Thread(target=run, args=(first,), name="engine-start", daemon=True).start()

    QTimer.singleShot(0, begin)
    return window


def install_excepthook(window: Any) -> None:
    """A bug in a slot must not abort the app (PyQt's default): log it, show it, go on."""
    import traceback

    def hook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
        try:
            window.show_error(f"internal error: {exc_type.__name__}: {exc}".splitlines()[0])
        except Exception:  # noqa: BLE001 - the window may be gone while quitting
            pass

    sys.excepthook = hook


def install_quit_signals(window: Any) -> None:
    """Ctrl+C in the terminal (SIGINT), a logout or `kill` (SIGTERM) and a closed terminal
    (SIGHUP) quit like Ctrl+Q: the window closes in the event loop, saving the session's settings
    and closing the engine (SIGTERM used to end the process with nothing saved)."""
    import signal

    from PyQt6.QtCore import QTimer

    def quit_now(*_: Any) -> None:
        QTimer.singleShot(0, window.close)

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):  # (Windows has no SIGHUP)
            signal.signal(getattr(signal, name), quit_now)


def make_application() -> Any:
    from PyQt6.QtCore import Qt
    from PyQt6.QtGui import QGuiApplication
    from PyQt6.QtWidgets import QApplication

    from gui.theme import apply_theme

    if QApplication.instance() is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication([PROG])
    app.setApplicationName("GrooveBridge")
    app.setOrganizationName("GrooveBridge")
    apply_theme(app)  # type: ignore[arg-type]
    return app


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not has_display():
        print(f"{PROG}: no display found (DISPLAY/WAYLAND_DISPLAY unset); "
              f"run `{PROG} serve` for the headless engine")
        return 1
    from PyQt6.QtCore import QTimer

    app = make_application()
    window = launch(args)
    install_excepthook(window)
    install_quit_signals(window)
    # Python only sees signals when it runs, so a timer lets it look every 200 ms.
    tick = QTimer()
    tick.timeout.connect(lambda: None)
    tick.start(200)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
