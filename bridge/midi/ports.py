"""MIDI ports through python-rtmidi: API choice, virtual or existing ports, reconnection.

* API: ``jack``, ``alsa``, ``coremidi``, ``winmm`` or ``auto`` (setting ``midi_api``, env
  ``GROOVEBRIDGE_MIDI_API``). ``auto`` takes ALSA when its sequencer exists, else JACK, else
  rtmidi's default.
* Ports: "" opens our virtual ports "GrooveBridge In" / "GrooveBridge Out" (CoreMIDI, ALSA,
  JACK; under JACK on clients of their own: "GrooveBridge In:GrooveBridge In" and
  "GrooveBridge Out:GrooveBridge Out", ``jack_port_names``); a name or case-insensitive substring connects to an existing port (e-drum kit,
  loopMIDI, IAC); "none" opens nothing. A connected port that vanishes is reported by
  ``poll()`` and re-opened when it comes back; the other direction carries on.
* JACK server gone (stopped, crashed, restarted): ``bridge.midi.jack_watch`` notices; ``poll()``
  reports it, drops the dead handles without closing them (closing them after a restart
  crashes rtmidi) and re-opens every port when a server answers again.
* No JACK server yet when we start (JACK API, libjack present): nothing is opened and nothing
  is raised; the first ``poll()`` reports ``NO_SERVER`` and every poll tries again, so the
  ports open (reported) as soon as a server runs. Sends meanwhile go nowhere.
* No feedback: our own output port is never chosen as input, and a note-on arriving
  within ``ECHO_WINDOW_SEC`` of the same note sent by us is dropped as an echo when our notes
  come back (a MIDI loop), not when a player merely hit the same note (``bridge.midi.echo``).
* Input is polled (``bridge.midi.input.PolledInput``: a thread drains rtmidi's queue every
  1 ms), not read by an rtmidi callback, whose JACK backend misreads events under load. Under
  JACK the input is read by ``bridge.midi.jack_frames`` (C, built on first use; where it does
  not build, or with ``GROOVEBRIDGE_MIDI_FRAMES=0``, by rtmidi): each event keeps its frame in
  the period (rtmidi's stamps the period).
  ``GROOVEBRIDGE_MIDI_INPUT=callback`` brings back the callback, for before/after benchmarks.
* Stand-ins for exact unit tests (``RecordingOutput``, ``FakeMidiIO``) live in ``tests/rigs/midi_fakes.py``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from bridge.midi import jack_frames
from bridge.midi.echo import ECHO_WINDOW_SEC, EchoFilter
from bridge.midi.input import ArrivalClock, PolledInput, new_midi_in
from bridge.midi.port import JACK_BACK, JACK_RUNNING, InputCallback, Notice

CLIENT_NAME = "GrooveBridge"
IN_PORT_NAME = "GrooveBridge In"
OUT_PORT_NAME = "GrooveBridge Out"
NO_SERVER = ("no JACK server is running: MIDI ports will open as soon as one starts "
             "(start jackd, e.g. `jackd -d alsa`, or your JACK session / qjackctl)")
API_NAMES = ("auto", "jack", "alsa", "coremidi", "winmm")



class MidiPortError(RuntimeError):
    """A MIDI port or API cannot be used; the message is one line for the user."""


def _rtmidi() -> Any:
    try:
        import rtmidi
    except ImportError as e:  # pragma: no cover
        raise MidiPortError(f"python-rtmidi is not installed ({e})") from None
    return rtmidi


def resolve_api(name: str) -> int:
    """rtmidi API constant for ``name`` (see module docstring); MidiPortError if unavailable."""
    rtmidi = _rtmidi()
    key = (name or "auto").strip().lower()
    table = {
        "jack": rtmidi.API_UNIX_JACK,
        "alsa": rtmidi.API_LINUX_ALSA,
        "coremidi": rtmidi.API_MACOSX_CORE,
        "winmm": rtmidi.API_WINDOWS_MM,
    }
    compiled = rtmidi.get_compiled_api()
    if key == "auto":
        if rtmidi.API_LINUX_ALSA in compiled and os.path.exists("/dev/snd/seq"):
            return rtmidi.API_LINUX_ALSA
        if rtmidi.API_UNIX_JACK in compiled and sys.platform.startswith("linux"):
            return rtmidi.API_UNIX_JACK
        return rtmidi.API_UNSPECIFIED
    if key not in table:
        raise MidiPortError(f"unknown MIDI API {name!r}; use one of {', '.join(API_NAMES)}")
    if table[key] not in compiled:
        have = ", ".join(rtmidi.get_api_name(a) for a in compiled) or "none"
        raise MidiPortError(f"MIDI API {key!r} is not available in this python-rtmidi (has: {have})")
    return table[key]


def api_name(api: int) -> str:
    return str(_rtmidi().get_api_display_name(api))


def jack_client_name(client_name: str, direction: str) -> str:
    """JACK client of our ``direction`` ("In"/"Out") port: rtmidi makes one client per port, and
    JACK renames a second client of the same name ("GrooveBridge-01"): so each has its own."""
    return f"{client_name} {direction}"


def jack_port_names(client_name: str = CLIENT_NAME) -> tuple[str, str]:
    """Full JACK names of our virtual (input, output) ports: what ``jack_connect`` takes."""
    return (f"{jack_client_name(client_name, 'In')}:{IN_PORT_NAME}",
            f"{jack_client_name(client_name, 'Out')}:{OUT_PORT_NAME}")


def list_ports(api: int) -> tuple[list[str], list[str]]:
    """(input port names, output port names) as other clients see them."""
    rtmidi = _rtmidi()
    if api == rtmidi.API_UNIX_JACK:
        from bridge.midi.jack_quiet import quiet_libjack

        quiet_libjack()  # a probe with no server running: libjack's lines to the debug log
    try:
        mi = rtmidi.MidiIn(api, name=CLIENT_NAME + " probe")
        mo = rtmidi.MidiOut(api, name=CLIENT_NAME + " probe")
    except rtmidi.RtMidiError as e:
        raise MidiPortError(f"MIDI API {api_name(api)} does not answer: {e}") from None
    try:
        return list(mi.get_ports()), list(mo.get_ports())
    finally:
        mi.delete()
        mo.delete()


def find_port(names: list[str], wanted: str, exclude: tuple[str, ...] = ()) -> int | None:
    """Index of the port named ``wanted`` exactly, else the first containing it (any case)."""
    candidates = [(i, n) for i, n in enumerate(names) if not any(x.lower() in n.lower() for x in exclude)]
    for i, n in candidates:
        if n == wanted:
            return i
    for i, n in candidates:
        if wanted.lower() in n.lower():
            return i
    return None


@dataclass
class _Port:
    """One direction: what was asked for, what it is connected to, and whether it is there."""

    wanted: str  # "" virtual, "none", or a name/substring
    connected_name: str = ""
    present: bool = False
    handle: Any = None


class MidiIO:
    """Our MIDI input and output ports on one rtmidi API."""

    def __init__(self, api: int, input_port: str = "", output_port: str = "", client_name: str = CLIENT_NAME,
                 input_mode: str | None = None) -> None:
        self.rtmidi = _rtmidi()
        self.input_mode = input_mode or os.environ.get("GROOVEBRIDGE_MIDI_INPUT", "poll")
        if self.input_mode not in ("poll", "callback"):
            raise MidiPortError(f"MIDI input mode {self.input_mode!r}: use poll or callback")
        self.api = api
        self.client_name = client_name
        self._in = _Port(input_port)
        self._out = _Port(output_port)
        self._callback: InputCallback | None = None
        self._out_lock = threading.Lock()
        self.echo = EchoFilter(ECHO_WINDOW_SEC)  # our note-ons coming back through a loop
        self._arrival = ArrivalClock()  # callback mode's event times
        self._reader: PolledInput | None = None  # poll mode's reader thread
        self._watch: Any = None
        self.server_down = False
        self._reports: list[str] = []  # for the next poll()
        self._opened_once = False
        self._timing_warned: str | None = None
        if api == self.rtmidi.API_UNIX_JACK:
            from bridge.midi.jack_quiet import quiet_libjack
            from bridge.midi.jack_watch import JackWatch

            quiet_libjack()  # libjack's ~5 stderr lines per probe while no server runs: to the debug log
            self._watch = JackWatch.open(wait=True)
            if self._watch is not None and self._watch.lost:  # libjack, but no server (yet)
                self.server_down = True
                self._reports.append(NO_SERVER)
                return
        self.open()

    # ---- opening -----------------------------------------------------------------------------
    def open(self) -> None:
        self._open_output()
        self._open_input()
        self._opened_once = True
        warning = self._watch.timing_warning() if self._watch is not None else None
        if warning is not None and warning != self._timing_warned:  # once per server set-up
            self._reports.append(warning)
        self._timing_warned = warning

    def _new(self, cls: Any, reading: bool = False) -> Any:
        client = self.client_name
        if self.api == self.rtmidi.API_UNIX_JACK:  # one JACK client per port: named, not renamed "-01"
            client = jack_client_name(client, "In" if reading else "Out")
        try:
            if reading and self.api == self.rtmidi.API_UNIX_JACK and self.input_mode == "poll" and jack_frames.enabled():
                return jack_frames.JackFrameMidiIn(client)  # each event's frame kept
            if reading:  # our input: a queue large enough for polling
                return new_midi_in(self.rtmidi, self.api, client)
            return cls(self.api, name=client)
        except (self.rtmidi.RtMidiError, jack_frames.JackFrameError) as e:
            raise MidiPortError(f"MIDI API {api_name(self.api)} does not answer: {e}") from None

    def _connect(self, port: _Port, cls: Any, own_name: str, other_name: str, hint: str) -> Any:
        """Open ``port`` (virtual when its wanted name is "", else the first port matching it,
        never our own other port); the rtmidi handle, or None when absent or switched off."""
        if port.wanted.lower() == "none":
            return None
        handle = self._new(cls, reading=port is self._in)
        if port.wanted == "":
            try:
                handle.open_virtual_port(own_name)
            except (self.rtmidi.RtMidiError, jack_frames.JackFrameError):
                handle.delete()
                raise MidiPortError(f"{api_name(self.api)} has no virtual ports: {hint}") from None
            port.connected_name, port.present = own_name, True
            return handle
        names = handle.get_ports()
        idx = find_port(names, port.connected_name or port.wanted, exclude=(other_name,))
        if idx is None:
            handle.delete()
            port.present = False
            return None
        handle.open_port(idx, name=own_name)
        port.connected_name, port.present = names[idx], True
        return handle

    def _open_output(self) -> None:
        handle = self._connect(
            self._out, self.rtmidi.MidiOut, OUT_PORT_NAME, IN_PORT_NAME,
            "choose an output port by name (e.g. a loopMIDI port)",
        )
        if handle is not None:
            with self._out_lock:
                self._out.handle = handle

    def _open_input(self) -> None:
        handle = self._connect(
            self._in, self.rtmidi.MidiIn, IN_PORT_NAME, OUT_PORT_NAME,
            "choose an input port by name",
        )
        if handle is None:
            return
        if self.input_mode == "callback":
            self._arrival.reset()
            handle.set_callback(self._on_callback)
        else:
            self._reader = PolledInput(handle, self._on_input, name="midi-input")
        self._in.handle = handle

    def _close(self, port: _Port) -> None:
        if port is self._in and self._reader is not None:
            self._reader.close()  # no get_message on a closing handle
            self._reader = None
        with self._out_lock:  # a send in flight finishes before the output port goes
            handle, port.handle = port.handle, None
        if handle is None:
            return
        if self._watch is not None and self._watch.lost:
            from bridge.midi.jack_watch import ORPHANS

            ORPHANS.append(handle)  # its server is gone: close_port would crash after a restart
            return
        handle.close_port()
        handle.delete()

    def _check_server(self) -> list[str] | None:
        """JACK only: reports while the server is gone or just came back; None = all is well."""
        watch = self._watch
        if watch is None or (not watch.lost and not self.server_down):
            return None
        reports = []
        if not self.server_down:
            self.server_down = True
            for port in (self._in, self._out):
                self._close(port)  # orphaned, not closed
                port.present = False
            reports.append("JACK server stopped: MIDI ports closed; they re-open when it is back "
                           "(restart jackd or your JACK session)")
        if watch.reconnect():
            first = not self._opened_once
            try:
                self.open()
            except MidiPortError as e:  # not ready yet: close what did open, try again next poll
                for port in (self._in, self._out):
                    self._close(port)
                    port.present = False
                reports.append(str(e))
                return reports
            self.server_down = False
            reports.append(Notice(JACK_RUNNING if first else JACK_BACK))
        return reports

    # ---- traffic --------------------------------------------------------------------------------
    def set_callback(self, callback: InputCallback | None) -> None:
        self._callback = callback

    def _on_callback(self, event: tuple[list[int], float], _data: object = None) -> None:
        """Callback mode (JACK's process thread): times as ``ArrivalClock``, read now."""
        self._on_input(event[0], self._arrival.stamp(event[1], time.monotonic()))

    def refine_time(self, t_sec: float) -> float:
        """An input event's time re-stamped with the best anchor known now (``ArrivalClock.refine``)."""
        reader = self._reader
        return (reader.clock if reader is not None else self._arrival).refine(t_sec)

    def _on_input(self, message: list[int], t_sec: float) -> None:
        """One input event (reader thread): echo filter, then the consumer."""
        if len(message) == 3 and message[0] & 0xF0 == 0x90 and message[2] > 0:
            if self.echo.is_echo(message[1], message[2], t_sec):
                return  # our own note came back through a loop
        callback = self._callback
        if callback is not None:
            callback(message, t_sec)

    def send_message(self, message: list[int] | bytes) -> None:
        if len(message) == 3 and message[0] & 0xF0 == 0x90 and message[2] > 0:
            self.echo.sent(message[1], message[2], time.monotonic())
        with self._out_lock:  # uncontended but for a port swap: the handle cannot go mid-send
            handle = self._out.handle
            if handle is not None:
                handle.send_message(message)

    # ---- ports ---------------------------------------------------------------------------------
    def set_input_port(self, wanted: str) -> None:
        self._close(self._in)
        self._in = _Port(wanted)
        self._open_input()

    def set_output_port(self, wanted: str) -> None:
        self._close(self._out)
        self._out = _Port(wanted)
        self._open_output()

    def poll(self) -> list[str]:
        """Check connected ports; close vanished ones and re-open returning ones. Reports."""
        reports, self._reports = self._reports, []
        server = self._check_server()
        if server is not None:
            return reports + server
        for port, direction, opener, lister in (
            (self._in, "input", self._open_input, self.rtmidi.MidiIn),
            (self._out, "output", self._open_output, self.rtmidi.MidiOut),
        ):
            if port.wanted in ("", "none") or port.wanted.lower() == "none":
                continue
            probe = self._new(lister)
            names = probe.get_ports()
            probe.delete()
            here = find_port(names, port.connected_name or port.wanted) is not None
            if port.present and not here:
                self._close(port)
                port.present = False
                reports.append(f"MIDI {direction} port '{port.connected_name}' vanished; waiting for it")
            elif not port.present and here:
                opener()
                if port.present:
                    reports.append(Notice(f"MIDI {direction} port '{port.connected_name}' is back"))
        return reports

    @property
    def ports(self) -> dict[str, Any]:
        return {
            "api": api_name(self.api),
            "input": self._in.connected_name or self._in.wanted,
            "input_present": self._in.present,
            "output": self._out.connected_name or self._out.wanted,
            "output_present": self._out.present,
            "server_down": self.server_down,
        }

    def close(self) -> None:
        self._close(self._in)
        self._close(self._out)
        if self._watch is not None:
            self._watch.close()


def open_midi(settings: Any) -> MidiIO:
    """MidiIO from a ``Settings`` (midi_api, midi_input, midi_output)."""
    return MidiIO(resolve_api(settings.midi_api), settings.midi_input, settings.midi_output)
