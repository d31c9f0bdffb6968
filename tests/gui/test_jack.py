"""The app over real JACK MIDI ports: pick another client's port in the MIDI tab, hear notes there."""

from __future__ import annotations

import shutil
import subprocess
import threading

import pytest

pytestmark = pytest.mark.jack


def jack_running() -> bool:
    if shutil.which("jack_lsp") is None:
        return False
    return subprocess.run(["jack_lsp"], capture_output=True, timeout=10, check=False).returncode == 0


@pytest.fixture
def jack_window(qtbot, model_loader):
    if not jack_running():
        pytest.skip("no JACK server (make test starts one)")
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
    qtbot.waitUntil(lambda: engine.snapshot().model_state == "ready" and len(engine.snapshot().variations) > 0,
                    timeout=30000)
    sink = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="gb-gui-test")
    received: list[list[int]] = []
    lock = threading.Lock()

    def on_msg(event, _data=None):
        with lock:
            received.append(list(event[0]))

    sink.set_callback(on_msg)
    sink.open_virtual_port("gui-test-sink")
    yield win, engine, received
    win.close()
    sink.close_port()
    sink.delete()


def test_output_port_picked_in_the_midi_tab_receives_the_groove(jack_window, qtbot):
    win, engine, received = jack_window
    assert engine.snapshot().ports["api"].lower() == "jack"
    io = win.io_panel
    io.refresh_ports()
    names = [io.output_combo.itemData(i) for i in range(io.output_combo.count())]
    sink_name = next((n for n in names if n and "gui-test-sink" in n), None)
    assert sink_name is not None, names
    io.output_combo.setCurrentIndex(names.index(sink_name))
    io.output_combo.activated.emit(names.index(sink_name))
    qtbot.waitUntil(lambda: "gui-test-sink" in str(engine.snapshot().ports.get("output"))
                    and engine.snapshot().ports.get("output_present"), timeout=10000)
    qtbot.waitUntil(lambda: "gui-test-sink" in io.ports_label.text(), timeout=5000)
    win.play_action.trigger()
    qtbot.waitUntil(lambda: any(m[0] & 0xF0 == 0x90 and m[2] > 0 for m in list(received)), timeout=15000)
    note_ons = [m for m in list(received) if m[0] & 0xF0 == 0x90 and m[2] > 0]
    assert all(m[0] == 0x99 for m in note_ons)  # channel 10
    played_pitches = {m[1] for m in note_ons}
    from models.drum_maps import GM

    assert played_pitches <= set(GM.output_pitches)
    win.play_action.trigger()
    qtbot.waitUntil(lambda: not engine.snapshot().playing, timeout=5000)
