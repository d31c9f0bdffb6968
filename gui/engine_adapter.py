"""Engine -> Qt: subscribe callbacks become queued signals; snapshots are polled at ~30 Hz.

The engine's callbacks run on its own threads, so they only push (event, payload) through a
queued signal; the GUI thread re-emits them by name. Commands go through ``command()``, which
turns any exception (an engine not started yet, a bad argument) into an ``error`` signal rather
than a crash. Widgets read state from the latest ``EngineSnapshot``, never from the engine's
internals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec

from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal

from bridge.engine.api import command_name

P = ParamSpec("P")

POLL_INTERVAL_MS = 33  # ~30 Hz playhead


class EngineAdapter(QObject):
    """Owns the subscription to one engine and republishes it as Qt signals."""

    _raw = pyqtSignal(str, object)  # emitted on engine threads, delivered queued

    engineEvent = pyqtSignal(str, object)  # every engine event, on the GUI thread
    snapshotChanged = pyqtSignal(object)  # EngineSnapshot, polled
    stateChanged = pyqtSignal(object)  # EngineSnapshot after a discrete event (not "note")
    error = pyqtSignal(str)  # readable one-line messages
    engineAttached = pyqtSignal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine: Any = None
        self._unsubscribe: Callable[[], None] | None = None
        self._last_snapshot: Any = None
        self._raw.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)  # type: ignore[call-arg]  # PyQt6 stub lacks connect's type
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_INTERVAL_MS)
        self._timer.timeout.connect(self.poll)

    # ---- lifecycle ---------------------------------------------------------------------
    def attach(self, engine: Any) -> None:
        """Subscribe to ``engine`` and start polling its snapshot."""
        self.detach()
        self.engine = engine
        self._unsubscribe = engine.subscribe(self._on_engine_event)
        self._timer.start()
        self.poll()
        self.engineAttached.emit(engine)
        if self._last_snapshot is not None:
            self.stateChanged.emit(self._last_snapshot)

    def detach(self) -> None:
        self._timer.stop()
        if self._unsubscribe is not None:
            try:
                self._unsubscribe()
            except Exception:  # noqa: BLE001 - an engine already closed must not block quitting
                pass
        self._unsubscribe = None
        self.engine = None

    @property
    def attached(self) -> bool:
        return self.engine is not None

    def snapshot(self) -> Any:
        """The latest polled snapshot (None before an engine is attached)."""
        return self._last_snapshot

    # ---- engine -> GUI -----------------------------------------------------------------
    def _on_engine_event(self, event: str, payload: object) -> None:
        # Engine thread: keep it short. Qt queues the signal to the GUI thread.
        self._raw.emit(event, payload)

    def _dispatch(self, event: str, payload: object) -> None:
        if self.engine is None:
            return
        if event == "error":
            self.error.emit(_error_text(payload))
        self.engineEvent.emit(event, payload)
        if event != "note":
            self.poll()
            if self._last_snapshot is not None:
                self.stateChanged.emit(self._last_snapshot)

    def poll(self) -> None:
        if self.engine is None:
            return
        try:
            snap = self.engine.snapshot()
        except Exception as e:  # noqa: BLE001 - shown, and polling goes on
            self._timer.stop()
            self.error.emit(f"engine snapshot failed: {e}")
            return
        self._last_snapshot = snap
        self.snapshotChanged.emit(snap)

    # ---- GUI -> engine -----------------------------------------------------------------
    def command(self, command: Callable[Concatenate[Any, P], object], *args: P.args, **kwargs: P.kwargs) -> bool:
        """Call one engine command, named as ``EngineCommands.set_tempo`` (bridge.engine.api: typed,
        so mypy checks the arguments and a reader finds the handler) on the attached engine;
        a failure becomes an ``error`` signal, never a raise."""
        name = command_name(command)
        if self.engine is None:
            self.error.emit("the engine is still starting; try again in a moment")
            return False
        method = getattr(self.engine, name, None)
        if method is None:
            self.error.emit(f"this engine has no '{name}' command")
            return False
        try:
            method(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - user-facing: shown in the status bar
            self.error.emit(f"{name.replace('_', ' ')} failed: {_error_text(e)}")
            return False
        return True


def _error_text(payload: object) -> str:
    if isinstance(payload, BaseException):
        text = str(payload) or type(payload).__name__
    elif isinstance(payload, dict):
        text = str(payload.get("message") or payload.get("error") or payload)
    else:
        text = str(payload)
    return text.strip().splitlines()[0] if text.strip() else "unknown error"
