"""OSC over UDP (python-osc): the address table of ``bridge.osc.table`` in, engine events out.

Three layers, the first two pure (no sockets), so they are tested by calling them:
* ``OscControl.handle(address, args, sender)`` (``bridge.osc.control``) validates one incoming message and calls the
  engine; it returns the replies a query asks for. Unknown addresses and bad arguments are
  logged (rate-limited) and dropped; nothing a controller sends can raise out of it.
* ``group_messages(group, snapshot)`` / ``note_message(note)`` / ``EVENT_GROUPS``
  (``bridge.osc.echo``): what goes out for an engine event (state echoed on
  the same addresses a controller writes, so its faders follow) and for a played note.
* ``OscServer``: one UDP socket; a receive thread (``bridge.osc.intake``: batches, a cheap
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

import queue
import socket
import threading
import time
from typing import Any

from bridge.osc.control import Address, OscControl
from bridge.osc.echo import EVENT_GROUPS, Message, group_messages, note_message, slip_message
from bridge.osc.intake import Intake, quiet_gate
from bridge.osc.settings_echo import settings_echo
from bridge.osc.table import PREFIX, STATE_GROUPS
from bridge.osc.wire import encode_message

REFUSALS_PER_SEC = 20  # refused values answered on /error per second, at most


class OscError(RuntimeError):
    """The OSC server cannot start (e.g. port in use); one line for the user."""


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
        self.control = OscControl(engine, on_refused=self._refused)
        self._refusals = (0.0, 0)  # (start of the current second, refusals answered in it)
        self.sent = 0
        self.bad_packets = 0
        self._sock: socket.socket | None = None
        self._intake: Any = None
        self._threads: list[threading.Thread] = []
        self._events: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._unsubscribe: Any = None
        self._gate: Any = lambda: None
        self._quiet = True
        self._echoed_attributes: dict[str, float] = {}  # the attribute values last echoed

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
        self._quiet = on
        self._gate = quiet_gate(self.engine) if on else (lambda: None)
        if self._intake is not None:
            self._intake.gate = self._gate

    def start(self) -> None:
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

    def _refused(self, text: str) -> None:
        """A refused value: one line on /error (at most ``REFUSALS_PER_SEC`` a second, so a flood
        of bad values does not double the traffic; each is still logged, rate-limited)."""
        now = time.monotonic()
        start, count = self._refusals
        if now - start >= 1.0:
            start, count = now, 0
        if count < REFUSALS_PER_SEC:
            self._events.put(("refused", text))
        self._refusals = (start, count + 1)

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
            fields: set[str] = set()  # the settings changed in this burst (echoed alone)
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
                elif event == "refused":  # a value this server refused: one line on /error
                    self.send((PREFIX + "/error", [str(payload)]))
                elif event == "notice":  # good news or information, one line (not an error)
                    if self.out_port:
                        self.send((PREFIX + "/notice", [str(payload)]))
                elif event == "settings" and isinstance(payload, dict) and payload:
                    fields.update(str(k) for k in payload)
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
            if (groups or fields) and self.out_port:  # no output target: nothing to echo
                self._gate()
                try:
                    snap = self.engine.snapshot()
                    changed = settings_echo(fields, snap, self._echoed_attributes, group_messages) if fields else []
                    if changed is None:  # a setting without its own addresses: the full echo
                        groups += [g for g in EVENT_GROUPS["settings"] if g not in groups]
                        changed = []
                    if "attributes" in groups:
                        self._echoed_attributes = {k: float(v) for k, v in (snap.attributes or {}).items()}
                    for g in groups:
                        for msg in group_messages(g, snap):
                            self.send(msg)
                    for msg in changed:
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
