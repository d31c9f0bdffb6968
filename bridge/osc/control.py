"""OSC control (pure, no sockets): one incoming message -> the engine command its route names.

``OscControl.handle(address, args, sender)`` validates one message against the address table
(``bridge.osc.table``) and calls the engine; it returns the replies a query asks for. Unknown
addresses and bad arguments are logged (rate-limited, ``RateLimitedLog``) and dropped (a refused
value is also told to ``on_refused``: the server answers it on /error): nothing a controller
sends can raise out of it. Tested by calling it; ``bridge.osc.server`` puts it on UDP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from bridge.engine.api import Command, command_name
from bridge.osc.echo import Message, group_messages
from bridge.osc.table import Context, OscArgError, find_route

log = logging.getLogger("bridge.osc")

Address = tuple[str, int]


class RateLimitedLog:
    """Logs at most one warning per key per ``interval_sec``, counting the ones held back."""

    def __init__(self, interval_sec: float = 1.0, logger: logging.Logger = log) -> None:
        self.interval_sec = interval_sec
        self.logger = logger
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self.count = 0

    def warn(self, key: str, text: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self.interval_sec:
            self._held[key] = self._held.get(key, 0) + 1
            return
        held = self._held.pop(key, 0)
        self._last[key] = now
        if len(self._last) > 256:  # a flood of random addresses must not grow without end
            self._last.clear()
        self.logger.warning("OSC: %s%s", text, f" ({held} more like it held back)" if held else "")


# ---- control (pure) --------------------------------------------------------------------------------
class OscControl:
    """Incoming messages -> engine commands. ``handle`` never raises."""

    def __init__(self, engine: Any, warn: RateLimitedLog | None = None,
                 on_refused: Callable[[str], None] | None = None) -> None:
        self.engine = engine
        self.warn = warn or RateLimitedLog()
        # a refused value's one line, for the controller (``OscServer``: sent on /error)
        self.on_refused = on_refused
        self.handled = 0
        self.rejected = 0

    def refuse(self, key: str, text: str) -> None:
        """A message whose value was refused: logged (rate-limited) and told to ``on_refused``."""
        self.rejected += 1
        self.warn.warn(key, f"{text}; ignored")
        if self.on_refused is not None:
            try:
                self.on_refused(text)
            except Exception:  # noqa: BLE001 - a controller must never bring the server down
                log.debug("on_refused failed", exc_info=True)

    def unknown(self, address: Any) -> None:
        self.rejected += 1
        self.warn.warn("unknown", f"unknown address {address!r} ignored")

    def call(self, method: Command, args: tuple, kwargs: dict) -> None:
        """Make one engine call recorded by ``handle(..., engine=Recorder())`` (``method``: the
        ``EngineCommands.<name>`` it named) on the engine; never raises."""
        name = method.__name__
        try:
            getattr(self.engine, command_name(method))(*args, **kwargs)
        except (ValueError, TypeError) as e:
            self.refuse(name, f"{name}: {e}")
        except Exception as e:  # noqa: BLE001 - a controller must never bring the server down
            self.rejected += 1
            self.warn.warn(name, f"{name}: failed ({type(e).__name__}: {e})")

    def handle(self, address: str, args: Sequence[Any], sender: Address | None = None, engine: Any = None
               ) -> list[tuple[Address | None, Message]]:
        """Apply one message; returns (destination, message) replies (None = sender unknown).
        ``engine`` replaces the engine for the action's calls (``osc_intake.Recorder``: validate
        now, call later); snapshots are still read from the real engine."""
        replies: list[tuple[Address | None, Message]] = []
        try:
            route = find_route(address) if isinstance(address, str) else None
            if route is None:
                self.unknown(address)
                return replies
            snap_cache: list[Any] = []

            def snapshot() -> Any:
                if not snap_cache:
                    snap_cache.append(self.engine.snapshot())
                return snap_cache[0]

            ctx = Context(self.engine if engine is None else engine, snapshot, lambda groups: None)

            def reply(groups: Sequence[str]) -> None:
                snap = snapshot()
                dest = sender
                if sender is not None and ctx.reply_port:
                    dest = (sender[0], ctx.reply_port)
                for g in groups:
                    replies.extend((dest, m) for m in group_messages(g, snap))

            ctx.reply = reply
            route.action(ctx, tuple(args))
            self.handled += 1
        except (OscArgError, ValueError, TypeError) as e:  # a bad argument, or the engine refused the value
            self.refuse(address, f"{address}: {e}")
        except Exception as e:  # noqa: BLE001 - a controller must never bring the server down
            self.rejected += 1
            self.warn.warn(address, f"{address}: failed ({type(e).__name__}: {e})")
        return replies
