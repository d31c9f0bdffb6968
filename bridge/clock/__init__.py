"""Clocks: the clock protocol and internal clock, the MIDI clock follower and its fit, MIDI clock out, Ableton Link, sync health."""
