"""Every MIDI port the engine can be given implements ``bridge.midi.port.MidiPort``: the real
rtmidi ports (``MidiIO``), no MIDI at all (``_NullMidi``) and the test stand-in (``FakeMidiIO``).

Checked by signature, not only by name: a method the protocol gains (or whose parameters change)
must be given to every implementation, or this fails."""

from __future__ import annotations

import inspect

import pytest

from bridge.engine.connections import _NullMidi
from bridge.midi.port import MidiOutput, MidiPort
from bridge.midi.ports import MidiIO
from tests.rigs.midi_fakes import FakeMidiIO, RecordingOutput


def _members(protocol: type) -> dict[str, object]:
    names = {n for n in dir(protocol) if not n.startswith("_")}
    return {n: inspect.getattr_static(protocol, n) for n in names}


def _params(fn: object) -> list[str]:
    return [p.name for p in inspect.signature(fn).parameters.values()]  # type: ignore[arg-type]


@pytest.mark.parametrize("impl", [MidiIO, _NullMidi, FakeMidiIO], ids=lambda c: c.__name__)
def test_each_port_implements_the_protocol(impl: type) -> None:
    members = _members(MidiPort)
    assert {"send_message", "set_callback", "poll", "set_input_port", "set_output_port", "close", "ports"} <= set(members)
    for name, want in members.items():
        have = inspect.getattr_static(impl, name, None)
        assert have is not None, f"{impl.__name__} has no {name}"
        if isinstance(want, property):  # a property or a plain attribute both read as one
            assert not callable(have) or isinstance(have, property), f"{impl.__name__}.{name} is a method, not a value"
            continue
        assert callable(have), f"{impl.__name__}.{name} is not a method"
        assert _params(have) == _params(want), f"{impl.__name__}.{name}{inspect.signature(have)} differs from the protocol"


def test_the_stand_ins_pass_isinstance() -> None:
    assert isinstance(FakeMidiIO(), MidiPort)
    assert isinstance(_NullMidi(), MidiPort)
    assert isinstance(RecordingOutput(), MidiOutput)
    assert not isinstance(RecordingOutput(), MidiPort)  # an output alone is not a port pair
