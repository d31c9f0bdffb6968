"""What the app stores for the MIDI ports: what the user chose, never the name it resolved to.

The engine's snapshot names the port each direction is connected to; for our own virtual ports
that is "GrooveBridge In" / "GrooveBridge Out" (under JACK possibly "<client>:GrooveBridge In").
Stored as such, the next launch would search for an external port of that name and open none,
so the virtual choice is stored as "" (what ``bridge.settings`` means by it), and a stored own
name (written by older versions) reads back as "".
"""

from __future__ import annotations

from bridge.midi.ports import IN_PORT_NAME, OUT_PORT_NAME

OWN_NAMES = (IN_PORT_NAME, OUT_PORT_NAME)


def is_own_port(name: str) -> bool:
    """True for our own virtual port's name, bare or as a JACK "client:port" name."""
    return name.strip() in OWN_NAMES or name.strip().split(":")[-1] in OWN_NAMES


def wanted_port(name: object) -> object:
    """The value to store (or to start the engine with) for a port name: "" for our own."""
    if isinstance(name, str) and is_own_port(name):
        return ""
    return name
