"""Test rigs shared by tests/, benchmarks/ and scripts/ (product code never imports them): private
JACK servers (``jack_server``) and MIDI port stand-ins (``midi_fakes``)."""
