"""What every engine collaborator shares: the snapshot store and its events, the control
thread's queue, the clock, and the handles of the other threads.

``bridge.engine.core.Engine`` composes its collaborators (``transport.Transport``,
``patterns.Patterns``, ``capture.Capture``, ``connections.Connections``,
``attributes.Attributes``, ``model_commands.ModelCommands``, ``follow.Follow``,
``device.DevicePlacer``) around one ``EngineContext``; each takes this context and only the
other collaborators it needs, so the modules import one way (this one is below all the collaborators; it imports only
``generation`` and ``snapshot`` of the engine, the thread and state it holds handles of) and
mypy checks every one.

Threads: ``post`` may be called from any thread; everything else here runs on the control
thread (which owns ``snap`` and calls the subscribers), except ``sched`` (any thread: it only
queues a call for the scheduler thread) and ``submit`` (queues a job for the generation
worker; its result comes back through ``post``).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
from collections.abc import Callable
from typing import Any

from bridge.clock.base import Clock
from bridge.engine.generation import GenerationWorker
from bridge.engine.snapshot import EngineSnapshot
from bridge.midi.port import MidiPort
from bridge.play.player import Player
from bridge.play.thread import SchedulerThread
from bridge.settings import Settings
from models.protocols import GrooveModelLike

log = logging.getLogger("bridge.engine")
Callback = Callable[[str, Any], None]


class EngineContext:
    """The engine's shared state and plumbing (see the module docstring)."""

    def __init__(self, settings: Settings, clock: Clock, snap: EngineSnapshot) -> None:
        self.settings = settings
        self.clock = clock  # swapped by Transport.set_sync_source (control thread)
        self.snap = snap  # the latest published state (replaced, never mutated)
        self.commands: queue.Queue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.Queue()
        self.subscribers: list[Callback] = []
        # Handles set by Engine.start (None before it, and in control-thread-only tests).
        self.midi: MidiPort | None = None
        self.player: Player | None = None
        self.scheduler: SchedulerThread | None = None
        self.worker: GenerationWorker | None = None

    # ---- the control thread -------------------------------------------------------------------
    def post(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the control thread, after the calls already queued (any thread)."""
        self.commands.put((fn, args))

    # ---- state and events -----------------------------------------------------------------------
    def update(self, **changes: Any) -> None:
        self.snap = dataclasses.replace(self.snap, **changes)

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        self.subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self.subscribers:
                self.subscribers.remove(callback)

        return unsubscribe

    def emit(self, event: str, payload: Any = None) -> None:
        for cb in list(self.subscribers):
            try:
                cb(event, payload)
            except Exception:
                log.exception("subscriber failed on %s", event)

    def error(self, message: str) -> None:
        """One line for the user: the snapshot's ``last_error`` and an ``error`` event."""
        log.warning("%s", message, extra={"shown_to_user": True})  # (serve prints the event: not twice)
        self.update(last_error=message)
        self.emit("error", message)

    def notice(self, message: str) -> None:
        """One line of good news or information for the user (a JACK server or a port is back):
        a ``notice`` event (payload: the str), shown neutrally, never as an error."""
        log.info("%s", message, extra={"shown_to_user": True})
        self.emit("notice", str(message))

    # ---- the other threads ----------------------------------------------------------------------
    def sched(self, fn: Callable[[Player], None]) -> None:
        """Call ``fn(player)`` on the scheduler thread (nothing before the engine started)."""
        player, scheduler = self.player, self.scheduler
        if player is not None and scheduler is not None:
            scheduler.call(lambda: fn(player))

    def wake_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.wake()

    def submit(self, fn: Callable[[GrooveModelLike], Any], then: Callable[[Any], None], key: str | None = None) -> None:
        """Run ``fn(model)`` on the generation worker; ``then(result)`` on the control thread
        (a failure: one error line)."""

        def done(result: Any, error: BaseException | None) -> None:
            if error is not None:
                self.post(self.error, f"{type(error).__name__}: {error}")
            else:
                self.post(then, result)

        self.running_worker().submit(fn, done, key=key)

    def running_worker(self) -> GenerationWorker:
        if self.worker is None:
            raise RuntimeError("the engine is not started")
        return self.worker

    def num_steps(self) -> int:
        """The active model's pattern length in steps (64 before a model is loaded)."""
        model = self.worker.model if self.worker is not None else None
        return int(getattr(model, "num_steps", 64) or 64)

    def beat_now(self) -> float:
        clock = self.clock
        return clock.beat_at(clock.now_sec())
