"""The app started before JACK (trial B7): a clear "no JACK server" state, then the good news
once and neutrally. A real engine on JACK MIDI and a private jackd started while the app runs.

The trial saw "JACK server is running: MIDI ports opened" in red with a warning sign, twice
(status message on the left and error label on the right), and nothing in the transport/status
said that MIDI waited for a server."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bridge"))
from jack_helpers import _start  # noqa: E402

pytestmark = pytest.mark.jack


def test_no_jack_server_state_then_the_ports_opened_notice_once_and_not_red(qtbot, model_loader, monkeypatch):
    rtmidi = pytest.importorskip("rtmidi")
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api() or shutil.which("jackd") is None:
        pytest.skip("needs jackd and python-rtmidi with JACK")
    from bridge.engine import Engine
    from bridge.settings import Settings
    from gui.main_window import MainWindow
    from gui.settings_store import SettingsStore

    name = f"gb-gui-nojack-{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    engine = Engine(Settings(osc_enabled=False, midi_api="jack"), model_loader=model_loader)
    engine.start()
    win = MainWindow(SettingsStore(), engine)
    win.engine_owned = True
    qtbot.addWidget(win)
    errors: list[str] = []
    news: list[str] = []
    win.adapter.error.connect(errors.append)
    win.statusBar().messageChanged.connect(lambda m: news.append(m) if m else None)
    win.show()
    jackd = None
    try:
        qtbot.waitUntil(lambda: win.midi_state.isVisible(), timeout=10000)
        assert "no JACK server" in win.midi_state.text() and "qjackctl" in win.midi_state.toolTip()
        qtbot.waitUntil(lambda: "no server is running" in win.io_panel.ports_label.text(), timeout=5000)
        jackd = _start(name, 256, False, dict(os.environ))
        if jackd is None:
            pytest.skip("jackd did not start")
        qtbot.waitUntil(lambda: any("ports opened" in m for m in news), timeout=20000)
        qtbot.waitUntil(lambda: not win.midi_state.isVisible(), timeout=5000)
        qtbot.wait(1500)  # a second port poll: still said once
        assert [m for m in news if "JACK server is running" in m] == ["JACK server is running: MIDI ports opened"]
        assert not [e for e in errors if "ports opened" in e]  # news, not an error
        assert "ports opened" not in win.error_label.text() and "JACK" not in win.error_label.text()
        assert "no server" not in win.io_panel.ports_label.text()
        assert engine.snapshot().ports["output_present"]
    finally:
        win.close()
        if jackd is not None:
            jackd.terminate()
            jackd.wait(10)


def test_an_error_shows_once_in_red_and_a_notice_once_in_the_neutral_line(window, qtbot):
    messages: list[str] = []
    window.statusBar().messageChanged.connect(lambda m: messages.append(m) if m else None)
    window.show_error("capture: nothing was played in the last 4 bars")
    assert window.error_label.text() == "⚠ capture: nothing was played in the last 4 bars"
    assert messages == []  # not a second copy on the left
    window.adapter.engineEvent.emit("notice", "MIDI output port 'synth' is back")
    assert messages == ["MIDI output port 'synth' is back"]
    assert "synth" not in window.error_label.text()
    assert window.statusBar().currentMessage() == "MIDI output port 'synth' is back"
