"""Test rig: an rtmidi input port that feeds a ``MidiClockFollower`` (tests and benchmarks only;
the product's follower is fed by the engine's own input, ``bridge.midi.ports.MidiIO``)."""

from __future__ import annotations

import os

from bridge.clock.midi_in import MidiClockFollower


def open_clock_input(follower: MidiClockFollower, port: str | None = None, api: str | None = None,
                     virtual_name: str = "GrooveBridge Clock In",
                     client_name: str = "GrooveBridge Clock"):
    """Open an rtmidi input that feeds ``follower``; returns the ``rtmidi.MidiIn``.

    Read by a ``bridge.midi.input.PolledInput`` thread (not an rtmidi callback), event times
    from the MIDI system's delta times on ``follower.now_sec``'s scale. ``port`` picks an existing port by exact name or substring; None opens a virtual port.
    The API comes from ``api`` or env ``GROOVEBRIDGE_MIDI_API`` (e.g. "jack", "alsa").
    The engine's own input (``bridge.midi.ports.MidiIO``) can feed ``follower.feed`` instead.
    """
    import rtmidi

    from bridge.midi.input import PolledInput, new_midi_in
    from bridge.midi.ports import resolve_api

    midi_in = new_midi_in(rtmidi, resolve_api(api or os.environ.get("GROOVEBRIDGE_MIDI_API", "auto")), client_name)
    if port is None:
        midi_in.open_virtual_port(virtual_name)
    else:
        names = midi_in.get_ports()
        matches = [i for i, n in enumerate(names) if n == port] or [
            i for i, n in enumerate(names) if port.lower() in n.lower()]
        if not matches:
            midi_in.delete()
            raise ValueError(f"no MIDI input port matches {port!r} (have: {', '.join(names) or 'none'})")
        midi_in.open_port(matches[0])
    follower.input_port = midi_in
    follower.input_reader = PolledInput(midi_in, lambda message, t_sec: follower.feed(t_sec, message),
                                        name="midi-clock-input", now=follower.now_sec)
    return midi_in
