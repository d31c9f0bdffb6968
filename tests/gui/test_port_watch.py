"""Issue 27: a synth or DAW started while the app runs shows up in the MIDI tab's port lists
without "Refresh ports" (real JACK server with the dummy backend, a second client's port)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.jack


def test_a_new_jack_client_appears_in_the_port_lists_without_refresh(qtbot, model_loader):
    from tests.rigs.jack_server import JackUnavailable, private_jack_server

    try:
        server_cm = private_jack_server("gb-portwatch", period_frames=256)
        server = server_cm.__enter__()
    except JackUnavailable as e:
        pytest.skip(str(e))
    try:
        import rtmidi

        from bridge.engine import Engine
        from bridge.settings import Settings
        from gui.main_window import MainWindow
        from gui.settings_store import SettingsStore

        engine = Engine(Settings(osc_enabled=False, midi_api="jack"), model_loader=model_loader)
        engine.start()
        win = MainWindow(SettingsStore(), engine)
        win.engine_owned = True
        qtbot.addWidget(win)
        win.show()
        io = win.io_panel
        win.tabs.setCurrentWidget(io)
        qtbot.waitUntil(lambda: io.output_combo.count() >= 2, timeout=10000)

        def listed(combo, text: str) -> bool:
            return any(text in str(combo.itemData(i)) for i in range(combo.count()))

        assert not listed(io.output_combo, "late-synth") and not listed(io.input_combo, "late-pads")
        synth = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="gb-late-synth")
        synth.open_virtual_port("late-synth")  # another program starts and offers a port
        pads = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="gb-late-pads")
        pads.open_virtual_port("late-pads")
        try:
            qtbot.waitUntil(lambda: listed(io.output_combo, "late-synth") and listed(io.input_combo, "late-pads"),
                            timeout=10000)
            synth.close_port()  # and it quits: it leaves the list too
            qtbot.waitUntil(lambda: not listed(io.output_combo, "late-synth"), timeout=10000)
        finally:
            synth.delete()
            pads.close_port()
            pads.delete()
            win.close()
        assert server.name
    finally:
        server_cm.__exit__(None, None, None)
