"""Engine floor: the live engine (``core.Engine``, the facade every view and controller drives),
its transport, snapshot and events, capture, the generation worker and the command modules."""

from bridge.engine.core import Engine, _NullMidi, default_model_loader

__all__ = ["Engine", "_NullMidi", "default_model_loader"]
