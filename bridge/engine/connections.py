"""The engine's MIDI connections (``Connections``, a collaborator of the engine): the input and
output ports, the input and output drum maps, and the port watch (a port that went away or
came back is one error line and a ``ports`` event).

Commands run on the control thread. Changing the output port first releases the notes that
sound on the old one (on the scheduler thread, waited for).
"""

from __future__ import annotations

from typing import Any

from bridge.engine.capture import CaptureBuffer
from bridge.engine.context import EngineContext
from bridge.midi.port import MidiPort, Notice
from models.drum_maps import get_drum_map

POLL_EVERY_SEC = 1.0  # how often the ports are asked whether they are still there


class _NullMidi:
    """No MIDI at all (the ports could not open): playback runs silently, state still works."""

    ports: dict[str, Any] = {"api": "none", "input": "none", "output": "none"}

    def send_message(self, message: list[int] | bytes) -> None:
        pass

    def set_callback(self, callback: Any) -> None:
        pass

    def poll(self) -> list[str]:
        return []

    def set_input_port(self, wanted: str) -> None:
        raise RuntimeError("MIDI is not available")

    set_output_port = set_input_port

    def close(self) -> None:
        pass


class Connections:
    def __init__(self, ctx: EngineContext, buffer: CaptureBuffer) -> None:
        self._ctx = ctx
        self._buffer = buffer
        self._last_poll = 0.0

    def _port(self) -> MidiPort:
        if self._ctx.midi is None:  # a command queued before Engine.start opened the ports
            raise RuntimeError("MIDI ports are not open yet")
        return self._ctx.midi

    def set_input_port(self, name: str) -> None:
        self._port().set_input_port(name)
        self._ports_changed()

    def set_output_port(self, name: str) -> None:
        ctx = self._ctx
        player, scheduler = ctx.player, ctx.scheduler
        if scheduler is not None and player is not None:  # notes off on the old port
            scheduler.call_and_wait(player.release_all)
        self._port().set_output_port(name)
        self._ports_changed()

    def set_drum_maps(self, input: str | None = None, output: str | None = None) -> None:  # noqa: A002
        ctx = self._ctx
        changes: dict[str, str] = {}
        if input is not None:
            self._buffer.input_map = get_drum_map(input)
            changes["input_drum_map"] = input
        if output is not None:
            pitches = get_drum_map(output).output_pitches
            ctx.sched(lambda player: player.set_output(out_pitches=pitches))
            changes["output_drum_map"] = output
        ctx.update(**changes)
        ctx.emit("settings", changes)

    def poll(self) -> None:
        """At most once a second: the port layer's reports (a port lost or back), one line each."""
        ctx = self._ctx
        now = ctx.clock.now_sec()
        if now - self._last_poll <= POLL_EVERY_SEC or ctx.midi is None:
            return
        self._last_poll = now
        for report in ctx.midi.poll():
            if isinstance(report, Notice):  # good news (a server or port is back): not an error
                ctx.notice(report)
            else:
                ctx.error(report)
            self._ports_changed()

    def _ports_changed(self) -> None:
        ports = dict(self._port().ports)
        self._ctx.update(ports=ports)
        self._ctx.emit("ports", ports)
