"""Quit and relaunch: what the app saved at quit starts the next engine the way the user left it.

Finding B1 (session 20 trial): with the MIDI ports left on "GrooveBridge (virtual port)", quitting
stored our own port names ("GrooveBridge In" / "GrooveBridge Out") as if they were external
ports, so every later launch searched for an external port of that name and opened none.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from gui.main_window import saved_engine_settings
from gui.saved_ports import wanted_port
from gui.settings_store import SettingsStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bridge"))
from jack_helpers import private_jack_server  # noqa: E402


def test_own_port_names_read_back_as_the_virtual_choice(tmp_path):
    store = SettingsStore(tmp_path / "app.toml")
    # What the old code wrote at quit (the trial's /tmp/trial/cfg-app-after-2nd-quit.toml):
    store.set("engine.midi_input", "GrooveBridge In")
    store.set("engine.midi_output", "GrooveBridge Out")
    assert store.save() is None
    saved = saved_engine_settings(SettingsStore(tmp_path / "app.toml"))
    assert saved["midi_input"] == "" and saved["midi_output"] == ""
    assert wanted_port("GrooveBridge In:GrooveBridge In") == ""  # a JACK full name too
    assert wanted_port("FLUID Synth (123):midi_00") == "FLUID Synth (123):midi_00"  # a real choice stays
    assert wanted_port("none") == "none"


def _open(qtbot, store, model_loader):
    from bridge.engine import Engine
    from gui.app import build_parser, build_settings
    from gui.main_window import MainWindow

    win = MainWindow(store)
    settings, warning = build_settings(win.engine_overrides(), build_parser().parse_args([]))
    assert warning == ""
    settings = dataclasses.replace(settings, osc_enabled=False, midi_api="jack")
    engine = Engine(settings, model_loader=model_loader)
    engine.start()
    win.attach_engine(engine, owned=True)
    qtbot.addWidget(win)
    win.show()
    return win, engine


@pytest.mark.jack
def test_quit_and_relaunch_opens_the_virtual_ports_again(qtbot, model_loader, tmp_path):
    path = tmp_path / "config" / "app.toml"
    with private_jack_server(256):
        for launch in (1, 2, 3):  # the trial saw it on the second launch, after the first quit
            win, engine = _open(qtbot, SettingsStore(path), model_loader)
            try:
                ports = engine.snapshot().ports
                assert ports["api"].lower() == "jack"
                assert ports["input"] == "GrooveBridge In" and ports["input_present"], (launch, ports)
                assert ports["output"] == "GrooveBridge Out" and ports["output_present"], (launch, ports)
                label = win.io_panel.ports_label
                qtbot.waitUntil(lambda label=label: "(missing)" not in label.text()
                                and "GrooveBridge In" in label.text(), timeout=5000)
            finally:
                win.close()  # Ctrl+Q: saves the settings, closes the engine
            stored = SettingsStore(path)
            assert stored.get("engine.midi_input") == "" and stored.get("engine.midi_output") == "", launch
