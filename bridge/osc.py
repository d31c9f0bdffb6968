"""OSC control and output: the address table of ``bridge.osc_table`` over UDP (python-osc).

Three layers, the first two pure (no sockets), so they are tested by calling them:
* ``OscControl.handle(address, args, sender)`` validates one incoming message and calls the
  engine; it returns the replies a query asks for. Unknown addresses and bad arguments are
  logged (rate-limited) and dropped; nothing a controller sends can raise out of it.
* ``group_messages(group, snapshot)`` / ``note_message(note)`` / ``EVENT_GROUPS``
  (``bridge.osc_echo``, re-exported here): what goes out for an engine event (state echoed on
  the same addresses a controller writes, so its faders follow) and for a played note.
* ``OscServer``: one UDP socket; a receive thread (``bridge.osc_intake``: batches, a cheap
  pre-filter, value messages coalesced per batch, a quiet gate around the scheduler's events;
  commands are applied in arrival order, bundle timetags are ignored so a future-timetagged
  bundle never puts the thread to sleep), an ``engine.subscribe`` callback that only queues,
  and an output thread that coalesces queued state events into one snapshot read and sends.

Pattern encoding (``/groovebridge/pattern``): ``i steps, b velocities, b offsets`` where each
blob has ``steps * 9`` bytes, step-major (byte ``s * 9 + k`` = step s, instrument k):
velocity 0-127 (0 = no hit) and offset as a signed byte ``round(offset * 127)`` (positive =
early, in half-steps as in the Groove representation). Also one
``/groovebridge/pattern/<instrument>`` message per instrument with ``steps`` int velocities.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from bridge.osc_echo import (  # noqa: F401 - re-exported: the output encoding's home was here
    EVENT_GROUPS,
    Message,
    decode_pattern,
    group_messages,
    note_message,
    pattern_messages,
    slip_message,
)
from bridge.osc_table import STATE_GROUPS, Context, OscArgError, find_route
from bridge.osc_wire import encode_message

log = logging.getLogger(__name__)

Address = tuple[str, int]



class OscError(RuntimeError):
    """The OSC server cannot start (e.g. port in use); one line for the user."""


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

    def __init__(self, engine: Any, warn: RateLimitedLog | None = None) -> None:
        self.engine = engine
        self.warn = warn or RateLimitedLog()
        self.handled = 0
        self.rejected = 0

    def unknown(self, address: Any) -> None:
        self.rejected += 1
        self.warn.warn("unknown", f"unknown address {address!r} ignored")

    def call(self, method: str, args: tuple, kwargs: dict) -> None:
        """Make one engine call recorded by ``handle(..., engine=Recorder())``; never raises."""
        try:
            getattr(self.engine, method)(*args, **kwargs)
        except (ValueError, TypeError) as e:
            self.rejected += 1
            self.warn.warn(method, f"{method}: {e}; ignored")
        except Exception as e:  # noqa: BLE001 - a controller must never bring the server down
            self.rejected += 1
            self.warn.warn(method, f"{method}: failed ({type(e).__name__}: {e})")

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
        except OscArgError as e:
            self.rejected += 1
            self.warn.warn(address, f"{address}: {e}; ignored")
        except (ValueError, TypeError) as e:  # the engine refused the value
            self.rejected += 1
            self.warn.warn(address, f"{address}: {e}; ignored")
        except Exception as e:  # noqa: BLE001 - a controller must never bring the server down
            self.rejected += 1
            self.warn.warn(address, f"{address}: failed ({type(e).__name__}: {e})")
        return replies


# ---- transport ---------------------------------------------------------------------------------------
class OscServer:
    """UDP OSC in (``host:port``) and out (``out_host:out_port``, 0 = none) for an engine.

    Query replies go to the sender (or the port a query names), or to the output target
    with ``replies_to_target``. ``start`` raises ``OscError`` when the port cannot be bound.
    """

    def __init__(self, engine: Any, host: str = "127.0.0.1", port: int = 9000,
                 out_host: str = "127.0.0.1", out_port: int = 9001,
                 replies_to_target: bool = False) -> None:
        self.engine = engine
        self.replies_to_target = replies_to_target  # answer queries at out_host:out_port
        self.host, self.port = host, port
        self.out_host, self.out_port = out_host, out_port
        self.control = OscControl(engine)
        self.sent = 0
        self.bad_packets = 0
        self._sock: socket.socket | None = None
        self._intake: Any = None
        self._threads: list[threading.Thread] = []
        self._events: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._unsubscribe: Any = None
        self._gate: Any = lambda: None
        self._quiet = True

    @classmethod
    def from_settings(cls, engine: Any, settings: Any) -> OscServer:
        return cls(engine, settings.osc_host, settings.osc_port, settings.osc_out_host,
                   settings.osc_out_port)

    @property
    def address(self) -> Address:
        """The (host, port) actually bound (port 0 asks the OS for a free one)."""
        return self._sock.getsockname()[:2] if self._sock is not None else (self.host, self.port)

    @property
    def coalesced(self) -> int:
        """Value messages superseded by a later one in the same batch (never applied)."""
        return self._intake.coalesced if self._intake is not None else 0

    def set_quiet_gate(self, on: bool) -> None:
        """Hold the receive thread off around the scheduler's events (default on; the OSC
        flood benchmark switches it off to measure what it buys)."""
        from bridge.osc_intake import quiet_gate

        self._quiet = on
        self._gate = quiet_gate(self.engine) if on else (lambda: None)
        if self._intake is not None:
            self._intake.gate = self._gate

    def start(self) -> None:
        from bridge.osc_intake import Intake

        try:
            family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0][0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
        except OSError as e:
            raise OscError(f"cannot listen for OSC on {self.host}:{self.port}: {e.strerror or e}") from None
        try:
            sock.bind((self.host, self.port))
        except OSError as e:
            sock.close()
            raise OscError(f"cannot listen for OSC on {self.host}:{self.port}: {e.strerror or e}") from None
        self._sock = sock
        self.set_quiet_gate(self._quiet)
        self._intake = Intake(sock, self.control, self.engine, self._bad_packet, self._reply, self._gate)
        self._threads = [threading.Thread(target=self._intake.run, name="osc-in", daemon=True),
                         threading.Thread(target=self._output_loop, name="osc-out", daemon=True)]
        for t in self._threads:
            t.start()
        self._unsubscribe = self.engine.subscribe(self._on_event)

    def _bad_packet(self, sender: Any, why: str) -> None:
        self.bad_packets += 1
        where = f"{sender[0]}:{sender[1]}" if isinstance(sender, tuple) else str(sender)
        self.control.warn.warn("packet", f"{why} from {where} ignored")

    def _reply(self, message: Message, dest: Address | None) -> None:
        self.send(message, None if self.replies_to_target else dest)

    def _on_event(self, event: str, payload: Any) -> None:
        """Engine threads call this: queue only, never block them."""
        self._events.put((event, payload))

    def send(self, message: Message, dest: Address | None = None) -> None:
        """Send one message to ``dest`` (default: the output target) from the server socket."""
        target = dest or ((self.out_host, self.out_port) if self.out_port else None)
        sock = self._sock
        if target is None or sock is None:
            return
        try:
            sock.sendto(encode_message(message[0], message[1]), target)
            self.sent += 1
        except OSError as e:
            self.control.warn.warn("send", f"cannot send to {target[0]}:{target[1]}: {e}")

    def _output_loop(self) -> None:
        while True:
            item = self._events.get()
            groups: list[str] = []
            done = False
            while item is not None:
                event, payload = item
                if event == "note" and self.out_port:
                    try:
                        self.send(note_message(payload))
                    except (KeyError, AttributeError, TypeError, ValueError):
                        self.control.warn.warn("note", f"cannot encode note {payload!r}")
                elif event == "sync_slip" and self.out_port:
                    self.send(slip_message(payload))
                elif event not in ("note", "sync_slip"):
                    for g in EVENT_GROUPS.get(event, STATE_GROUPS):
                        if g not in groups:
                            groups.append(g)
                try:
                    item = self._events.get_nowait()  # coalesce a burst into one snapshot
                except queue.Empty:
                    break
            else:
                done = True
            if groups and self.out_port:  # no output target: nothing to echo
                self._gate()
                try:
                    snap = self.engine.snapshot()
                    for g in groups:
                        for msg in group_messages(g, snap):
                            self.send(msg)
                except Exception as e:  # noqa: BLE001 - output must keep running
                    self.control.warn.warn("echo", f"echo failed: {type(e).__name__}: {e}")
            if done:
                return

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._events.put(None)  # the output thread drains what is queued, then ends
        for t in self._threads[1:]:
            t.join(timeout=2.0)
        if self._intake is not None:
            self._intake.stop()
        for t in self._threads[:1]:
            t.join(timeout=2.0)
        if self._sock is not None:
            self._sock.close()
        self._threads = []
        self._sock = None
