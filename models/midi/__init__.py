"""Standard MIDI files <-> Groove: the SMF reader/writer, drum-track reading and writing, meter and tempo maps."""
