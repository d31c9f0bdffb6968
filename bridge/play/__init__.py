"""Play floor: the pure player (``player``: a looping Groove + a clock -> timed MIDI messages) and
its real-time thread (``thread``: drives the player at absolute monotonic times)."""
