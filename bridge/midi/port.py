"""What the engine asks of a MIDI port: ``MidiOutput`` (the player's only need) and ``MidiPort``.

``bridge.midi.ports.MidiIO`` (python-rtmidi, real ports), ``bridge.engine.connections._NullMidi``
(no MIDI at all) and the test stand-ins (``tests/rigs/midi_fakes.py``: ``RecordingOutput``,
``FakeMidiIO``) implement these; ``tests/bridge/midi/test_port_protocol.py`` checks that each one
does, so a method the engine starts calling must be added to all of them. Nothing here imports
rtmidi.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

InputCallback = Callable[[list[int], float], None]  # (message bytes, arrival time in monotonic seconds)


class Notice(str):
    """A ``poll()`` line that is good news or information (the JACK server or a port is back),
    not a problem: the engine sends it as a "notice" event, not an "error"."""


JACK_RUNNING = "JACK server is running: MIDI ports opened"
JACK_BACK = "JACK server is back: MIDI ports re-opened"


def jack_server_came(notice: object) -> bool:
    """Whether a "notice" says a JACK server started or came back (what the preview's audio
    output waits for, in serve and in the app)."""
    return str(notice) in (JACK_RUNNING, JACK_BACK)


@runtime_checkable
class MidiOutput(Protocol):
    def send_message(self, message: list[int] | bytes) -> None: ...


@runtime_checkable
class MidiPort(MidiOutput, Protocol):
    """Our input and output port pair, as the engine drives it (control thread, except
    ``send_message``: scheduler thread; the callback is called on the input reader's thread)."""

    @property
    def ports(self) -> dict[str, Any]:
        """{"api", "input", "output", ...}: what each direction is connected to, for the views."""
        ...

    def set_callback(self, callback: InputCallback | None) -> None: ...

    def poll(self) -> list[str]:
        """Check the ports are still there; one line per change (a port vanished or came back:
        a ``Notice``)."""
        ...

    def set_input_port(self, wanted: str) -> None: ...

    def set_output_port(self, wanted: str) -> None: ...

    def close(self) -> None: ...
