"""The headless live engine: MIDI in/out, clocks (internal, MIDI clock, Ableton Link), OSC."""
