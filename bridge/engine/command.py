"""One queued-command mechanism: a public engine method marked ``@command`` runs on the control thread.

Calling such a method from any thread (the GUI, the OSC server, the MIDI reader, a test) only
queues the call: ``Engine._post`` puts it on the control thread's queue, which runs commands
one at a time in arrival order and owns the engine state. So the body of a command is the
code that runs there, and it reads as one method: its signature is the public one (mypy and a
reader follow ``engine.set_tempo(120)`` to it, and from there to the collaborator that does
it, e.g. ``Transport.set_tempo``), and a ``ValueError`` it raises becomes the engine's
``error`` event with that one line (``Engine._control_loop``), never an exception in the
caller's thread.

Only the facade (``bridge.engine.core.Engine``) has ``@command`` methods. The collaborators'
methods are plain: they run on the control thread already, so one calls another at once
(``ModelCommands._model_state`` samples by calling ``self.sample()``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")


class Poster(Protocol):
    def _post(self, fn: Callable[..., None], *args: Any) -> None: ...


S = TypeVar("S", bound=Poster)


def command(body: Callable[Concatenate[S, P], None]) -> Callable[Concatenate[S, P], None]:
    """Make ``body`` a queued command: calling the method posts the call to the control thread."""

    @functools.wraps(body)
    def post(self: S, *args: P.args, **kwargs: P.kwargs) -> None:
        self._post(functools.partial(body, self, *args, **kwargs))

    post.is_command = True  # type: ignore[attr-defined]  # tests and tools can tell a command
    return post


def is_command(method: object) -> bool:
    """True for an ``@command`` method (bound or not)."""
    return bool(getattr(getattr(method, "__func__", method), "is_command", False))
