"""MIDI floor: ports through python-rtmidi (``ports``), the polled input reader (``input``), the
JACK server watch (``jack_watch``) and the ``MidiPort`` protocol the engine talks to (``port``)."""
