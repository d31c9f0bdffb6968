"""Help > Open ... without a desktop launcher (trial B8) and OSC off in a second instance
(trial B9): say where the file is / why OSC is off and what to do, instead of nothing."""

from __future__ import annotations

import socket

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QDesktopServices
from PyQt6.QtWidgets import QMessageBox

from gui import app


def _help_action(window, word: str):
    return next(a for a in window.actions() if a.text().startswith("Open the") and word in a.text())


@pytest.mark.parametrize(("word", "name"), [("README", "README.md"), ("OSC", "osc.md")])
def test_open_doc_without_a_launcher_shows_the_path_in_selectable_text(window, qtbot, monkeypatch, word, name):
    calls = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: calls.append(url) or False)  # no launcher
    _help_action(window, word).trigger()
    assert calls and calls[0].toLocalFile().endswith(name)
    box = window.doc_box
    qtbot.waitUntil(box.isVisible, timeout=3000)
    assert isinstance(box, QMessageBox) and calls[0].toLocalFile() in box.text()
    assert box.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    box.close()


def test_open_doc_with_a_launcher_shows_no_dialog(window, monkeypatch):
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: True)
    _help_action(window, "README").trigger()
    assert getattr(window, "doc_box", None) is None or not window.doc_box.isVisible()


def _taken_port() -> socket.socket:
    """Another program listening on a UDP port (as a first GrooveBridge does on 9000)."""
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    return other


def test_apply_on_a_port_in_use_says_why_osc_is_off_and_what_to_do(window):
    other = _taken_port()
    try:
        port = other.getsockname()[1]
        values = {**window.io_panel.osc_settings(), "osc_enabled": True, "osc_port": port, "osc_out_port": 0}
        assert window.apply_osc(values) is False
        status = window.io_panel.osc_status.text()
        assert f"127.0.0.1:{port} is in use by another program" in status
        assert "another GrooveBridge" in status and "Apply" in status
        assert window.osc_server is None
    finally:
        other.close()


def test_a_second_instance_says_its_osc_port_is_taken(qtbot, monkeypatch, model_loader):
    """The real start-up path (``gui.app.launch``) with the OSC port already taken."""
    other = _taken_port()
    port = other.getsockname()[1]
    monkeypatch.setenv("GROOVEBRIDGE_OSC_PORT", str(port))
    monkeypatch.setenv("GROOVEBRIDGE_OSC_OUT_PORT", "0")
    try:
        app.make_application()
        window = app.launch(app.build_parser().parse_args([]), model_loader=model_loader)
        qtbot.addWidget(window)
        qtbot.waitUntil(lambda: window.adapter.engine is not None, timeout=30000)
        status = window.io_panel.osc_status.text()
        assert window.io_panel.osc_enabled.isChecked() and window.osc_server is None
        assert f"127.0.0.1:{port} is in use by another program" in status and "Apply" in status, status
        assert any("OSC is off" in e for e in window.errors)
        window.close()
    finally:
        other.close()
