"""OSC floor, on top of the engine: the wire format (``wire``), the address table (``table``,
``args``, ``attributes``, ``follow``, ``files``), the output encoding (``echo``), the datagram
intake (``intake``), the message -> engine call dispatch (``control``) and the UDP server (``server``)."""

from bridge.osc.control import OscControl
from bridge.osc.echo import decode_pattern, group_messages
from bridge.osc.server import OscError, OscServer

__all__ = ["OscControl", "OscError", "OscServer", "decode_pattern", "group_messages"]
