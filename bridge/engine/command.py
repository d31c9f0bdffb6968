"""One queued-command mechanism: a public engine method marked ``@command`` runs on the control thread.

Calling such a method from any thread (the GUI, the OSC server, the MIDI reader, a test) only
queues the call: ``Engine._post`` puts it on the control thread's queue, which runs commands
one at a time in arrival order and owns the engine state. So the body of a command is the
code that runs there, and it reads as one method: its signature is the public one (mypy and a
reader follow ``engine.set_tempo(120)`` to it), and a ``ValueError`` it raises becomes the
engine's ``error`` event with that one line (``Engine._control_loop``), never an exception in
the caller's thread.

One command that calls another's body at once, already on the control thread, writes
``now(self.sample, None, None)``; calling ``self.sample(...)`` there would queue it after the
current command instead.
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


def now(method: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Run a bound ``@command`` method's body at once (only on the control thread)."""
    bound_self = method.__self__  # type: ignore[attr-defined]
    method.__func__.__wrapped__(bound_self, *args, **kwargs)  # type: ignore[attr-defined]


def is_command(method: object) -> bool:
    """True for an ``@command`` method (bound or not)."""
    return bool(getattr(getattr(method, "__func__", method), "is_command", False))
