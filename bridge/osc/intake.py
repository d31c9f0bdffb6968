"""OSC intake: datagrams from the server's socket -> engine calls, drained in batches.

A controller (or anything else on the machine) may send thousands of datagrams a second,
and every Python step taken for them holds the GIL that the scheduler thread needs on time.
So the receive thread (``Intake.run``) keeps its Python work small and out of the way:

* **Batches.** One wait for the socket (GIL released), then up to ``BATCH`` datagrams read
  without waiting again. The socket's receive buffer is large (``RCVBUF_BYTES``): a burst
  waits in the kernel, not in Python.
* **Cheap pre-filter.** A message's address is read off the raw bytes and looked up in the
  route table before anything is parsed; unknown addresses and non-OSC bytes are counted and
  dropped unparsed. Bundles are parsed (python-osc) and their messages go the same way.
* **Coalescing.** A message whose effect is to set one value (tempo, temperature, morph
  position, latency, variation count, clock out, one instrument's mute, one attribute, the
  capture input mode, the follow settings: ``COALESCED``, keyed by the ``EngineCommands``
  command itself, as the routes name it) is
  validated at once (bad arguments are rejected as before) but applied once per batch, with
  its latest value. Any other command first applies the pending values, so the order of
  values and commands is kept; a lone message (a real controller) is applied at once.
* **Replies rate-limited.** The same query from the same sender (address, arguments) is
  answered at most once per ``REPLY_INTERVAL_SEC``; a repeat within it is answered at the end
  of the interval, with the state as of the last repeat (so the last question always gets an
  answer). A polling UI sees no difference; a query flood costs one answer per 20 ms.
* **Quiet gate.** Before each datagram, ``gate()`` (from ``quiet_gate``) holds the thread off
  (sleeping, GIL released) from ``QUIET_BEFORE_SEC`` before the scheduler's next event until
  ``QUIET_AFTER_SEC`` after it, so the scheduler never waits for this thread's GIL there.
  Messages wait in the socket meanwhile (at most a few ms).
"""

from __future__ import annotations

import math
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from pythonosc import osc_bundle, osc_message

from bridge.engine.api import Command, EngineCommands
from bridge.osc.table import find_route
from bridge.osc.wire import message_address

BATCH = 256  # datagrams per wake-up, at most
RCVBUF_BYTES = 4 << 20  # asked for; the OS may cap it (Linux: net.core.rmem_max)
QUIET_BEFORE_SEC = 0.003  # the scheduler wakes 1.5 ms before an event and spins to it
QUIET_AFTER_SEC = 0.0005
QUIET_MAX_SEC = 0.005  # never hold off longer than this at once
REPLY_INTERVAL_SEC = 0.02
# Engine commands that set one value: the latest call wins. Value = how many leading
# arguments name the value (set_mute(k, on): one per instrument).
C = EngineCommands
COALESCED: dict[Command, int] = {
    C.set_tempo: 0, C.set_temperature: 0, C.set_interpolation: 0, C.set_latency_ms: 0,
    C.set_num_variations: 0, C.set_clock_out: 0, C.set_mute: 1, C.set_attribute: 1,
    C.set_input_mode: 0, C.set_follow: 0, C.set_follow_source: 0, C.set_follow_every: 0,
    C.set_follow_bars: 0, C.set_follow_amount: 0, C.set_follow_temperature: 0,
}

Call = tuple[Command, tuple, dict]  # (EngineCommands.<name>, args, kwargs)
Sender = tuple[str, int]


class Recorder:
    """Stands in for the engine while an action runs: its command calls are recorded (as the
    ``EngineCommands.<name>`` they are, with their arguments) instead of made; anything else
    (``engine.settings``) is read from the engine itself."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.calls: list[Call] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._engine, name)  # AttributeError as the engine would raise it
        if name.startswith("_") or not callable(value):
            return value
        method: Command | None = getattr(EngineCommands, name, None)
        if method is None:
            raise AttributeError(f"{name!r} is not an engine command (bridge.engine.api.EngineCommands)")

        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((method, args, kwargs))

        return record


def quiet_gate(engine: Any, before_sec: float = QUIET_BEFORE_SEC, after_sec: float = QUIET_AFTER_SEC
               ) -> Callable[[], None]:
    """A function that sleeps while the engine's scheduler is about to send (no-op without one)."""

    def gate() -> None:
        sched = getattr(engine, "scheduler", None)
        due = getattr(sched, "next_due_sec", math.inf)
        now = time.monotonic()
        if due - before_sec <= now < due + after_sec:
            time.sleep(min(due + after_sec - now, QUIET_MAX_SEC))

    return gate


class Intake:
    """The receive loop and the batch logic; ``apply`` (OscControl-like) does the routing."""

    def __init__(self, sock: socket.socket, control: Any, engine: Any, on_bad: Callable[[Any, str], None],
                 reply: Callable[[Any, Sender | None], None], gate: Callable[[], None] | None = None) -> None:
        self.sock = sock
        self.control = control
        self.engine = engine
        self.on_bad = on_bad
        self.reply = reply  # (message, destination) -> sent
        self.gate = gate or (lambda: None)
        self.coalesced = 0  # value messages superseded within a batch
        self.replies_merged = 0  # repeated queries answered by one later answer
        self.batches = 0
        self._pending: dict[tuple, Call] = {}
        self._answered: dict[tuple, float] = {}  # query key -> when last answered
        self._owed: dict[tuple, list] = {}  # query key -> replies to send when its interval ends
        self._stop = threading.Event()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
        except OSError:
            pass
        sock.setblocking(False)

    def stop(self) -> None:
        self._stop.set()

    def run(self, poll_sec: float = 0.1) -> None:
        sock, recv = self.sock, self.sock.recvfrom
        while not self._stop.is_set():
            wait = poll_sec
            if self._owed:
                wait = max(0.0, min(self._answered[k] for k in self._owed) + REPLY_INTERVAL_SEC - time.monotonic())
            try:
                ready, _, _ = select.select([sock], [], [], wait)
            except (OSError, ValueError):  # the socket was closed
                return
            if not ready:
                self.send_owed()
                continue
            batch: list[tuple[bytes, Any]] = []
            while len(batch) < BATCH:
                try:
                    batch.append(recv(65536))
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # e.g. ICMP port unreachable reported on the socket
                    break
            if batch:
                self.handle_batch(batch)

    # ---- one batch --------------------------------------------------------------------------
    def handle_batch(self, batch: list[tuple[bytes, Any]]) -> None:
        self.batches += 1
        single = len(batch) == 1
        for data, sender in batch:
            self.gate()
            self.datagram(data, sender, single)
        self.flush()
        self.send_owed()

    def datagram(self, data: bytes, sender: Any, single: bool = False) -> None:
        if data[:1] == b"/":
            address = message_address(data)
            if address is None:
                self.on_bad(sender, "malformed OSC packet")
                return
            if find_route(address) is None:
                self.control.unknown(address)  # dropped before any parsing
                return
            try:
                msg = osc_message.OscMessage(data)
            except Exception:  # noqa: BLE001 - python-osc raises ParseError and others on bad bytes
                self.on_bad(sender, "malformed OSC packet")
                return
            self.message(msg.address, msg.params, sender, single)
        elif data.startswith(b"#bundle\0"):
            try:
                bundle = osc_bundle.OscBundle(data)
                messages = list(_flatten(bundle))
            except RecursionError:
                self.on_bad(sender, "bundle nested too deep")
                return
            except Exception:  # noqa: BLE001
                self.on_bad(sender, "malformed OSC packet")
                return
            for msg in messages:
                self.message(msg.address, msg.params, sender, False)
        else:
            self.on_bad(sender, "non-OSC datagram")

    def message(self, address: str, args: list, sender: Any, single: bool) -> None:
        """Validate now; apply values once per batch, commands in order."""
        rec = Recorder(self.engine)
        replies = self.control.handle(address, args, sender, engine=rec)
        values = [c for c in rec.calls if c[0] in COALESCED]
        if values and len(values) == len(rec.calls) and not single:
            for call in values:
                key = (call[0], *call[1][: COALESCED[call[0]]])
                if self._pending.pop(key, None) is not None:
                    self.coalesced += 1
                self._pending[key] = call
        elif rec.calls:
            self.flush()
            self._apply(rec.calls)
        if replies:
            self.answer((sender, address, *args), replies)

    def answer(self, key: tuple, replies: list) -> None:
        """Send ``replies`` now, or owe them if this query was answered less than an interval ago."""
        now = time.monotonic()
        try:
            last = self._answered.get(key)
        except TypeError:  # unhashable arguments: no rate limit
            key, last = ("unhashable", id(replies)), None
        if last is not None and now - last < REPLY_INTERVAL_SEC:
            if key in self._owed:
                self.replies_merged += 1
            self._owed[key] = replies
            return
        if len(self._answered) > 1024:  # keys of a flood of different queries must not pile up
            self._answered = {k: t for k, t in self._answered.items() if now - t < REPLY_INTERVAL_SEC or k in self._owed}
        self._answered[key] = now
        for dest, reply in replies:
            self.reply(reply, dest)

    def send_owed(self) -> None:
        if not self._owed:
            return
        now = time.monotonic()
        for key in [k for k in self._owed if now - self._answered[k] >= REPLY_INTERVAL_SEC]:
            replies = self._owed.pop(key)
            self._answered[key] = now
            for dest, reply in replies:
                self.reply(reply, dest)

    def flush(self) -> None:
        if self._pending:
            calls = list(self._pending.values())
            self._pending.clear()
            self._apply(calls)

    def _apply(self, calls: list[Call]) -> None:
        for method, args, kwargs in calls:
            self.control.call(method, args, kwargs)


def _flatten(bundle: Any) -> Any:
    """The messages of a bundle, nested bundles included, in order (timetags ignored: a
    future-timetagged bundle is applied now, never waited for)."""
    for i in range(bundle.num_contents):
        content = bundle.content(i)
        if isinstance(content, osc_bundle.OscBundle):
            yield from _flatten(content)
        else:
            yield content
