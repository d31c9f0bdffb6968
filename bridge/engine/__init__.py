"""Engine floor: the live engine (``core.Engine``, the facade every view and controller drives)
and its collaborators: transport, patterns, capture, connections, attributes, model commands,
follow, device placement, the generation worker, the snapshot and its events."""

from bridge.engine.connections import _NullMidi
from bridge.engine.core import Engine
from bridge.engine.device import default_model_loader

__all__ = ["Engine", "_NullMidi", "default_model_loader"]
