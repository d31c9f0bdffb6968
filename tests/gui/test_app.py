"""`groovebridge` with no subcommand: the display check and the real start-up path."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from gui import app


def test_no_display_prints_one_line_and_suggests_serve(monkeypatch, capsys):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert app.main([]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert "no display" in out[0] and "groovebridge serve" in out[0]


def test_cli_without_display_in_a_child_process(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "groovebridge"], env=env, capture_output=True, text=True,
                       timeout=60, cwd=str(tmp_path), check=False)
    if "not available" in r.stderr:
        pytest.skip("groovebridge is not importable from a bare environment")
    assert r.returncode == 1
    assert "groovebridge serve" in r.stdout and "Traceback" not in r.stderr


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_launch_shows_window_then_engine_and_model(qtbot, monkeypatch, model_loader):
    """The real start-up: window first, engine + OSC on a thread, model in the background."""
    port = free_udp_port()
    monkeypatch.setenv("GROOVEBRIDGE_OSC_PORT", str(port))
    monkeypatch.setenv("GROOVEBRIDGE_OSC_OUT_PORT", "0")
    app.make_application()
    window = app.launch(app.build_parser().parse_args([]), model_loader=model_loader)
    qtbot.addWidget(window)
    assert window.isVisible()
    assert window.adapter.engine is None  # not blocked on the engine
    assert "starting" in window.transport.model_label.text()
    qtbot.waitUntil(lambda: window.adapter.engine is not None or len(window.errors) > 0, timeout=30000)
    assert not window.errors, window.errors
    qtbot.waitUntil(lambda: window.adapter.snapshot().model_state == "ready", timeout=30000)
    assert window.osc_server is not None and window.osc_server.address == ("127.0.0.1", port)
    engine = window.adapter.engine
    window.close()
    assert window.osc_server is None
    assert engine._closing.is_set()  # the window owned the engine and closed it


def test_model_load_error_is_shown(qtbot, monkeypatch, model_loader):
    monkeypatch.setenv("GROOVEBRIDGE_OSC_ENABLED", "0")
    app.make_application()
    args = app.build_parser().parse_args(["--model", "/nonexistent/checkpoint"])
    window = app.launch(args, model_loader=model_loader)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.adapter.snapshot() is not None
                    and window.adapter.snapshot().model_state == "error", timeout=30000)
    qtbot.waitUntil(lambda: any("checkpoint" in e for e in window.errors), timeout=5000)
    assert window.transport.model_label.text().endswith("error")
    window.close()


def test_window_opens_with_the_shipped_default_model(qtbot, monkeypatch):
    from models.generate import PRETRAINED_DIR

    if not (PRETRAINED_DIR / "default" / "model.safetensors").is_file():
        pytest.skip("the default model is not shipped in models/pretrained yet")
    monkeypatch.setenv("GROOVEBRIDGE_OSC_ENABLED", "0")
    app.make_application()
    window = app.launch(app.build_parser().parse_args([]))  # the engine's own loader
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.adapter.snapshot() is not None
                    and window.adapter.snapshot().model_state == "ready", timeout=60000)
    snap = window.adapter.snapshot()
    assert snap.model_name == "default"
    qtbot.waitUntil(lambda: window.adapter.snapshot().pattern.num_hits > 0, timeout=30000)
    assert window.grid.groove().num_hits > 0
    window.close()


def test_a_bug_in_a_slot_is_shown_not_fatal(qtbot, monkeypatch, capsys):
    from gui.main_window import MainWindow
    from gui.settings_store import SettingsStore

    w = MainWindow(SettingsStore())
    qtbot.addWidget(w)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored afterwards
    app.install_excepthook(w)
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    assert w.errors[-1] == "internal error: RuntimeError: boom in a slot"
    assert "Traceback" in capsys.readouterr().err


def _catches(pid: int, signum: int) -> bool:
    """Whether the process installed a handler for ``signum`` (Linux /proc SigCgt mask)."""
    try:
        for line in open(f"/proc/{pid}/status", encoding="ascii"):
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except OSError:
        pass
    return False


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_sigterm_or_sigint_saves_the_session_like_quit(tmp_path, signame):
    """Trial B10: a logout (SIGTERM) ended the app with nothing saved. The real app in a child
    process (offscreen Qt), signalled once it listens: it quits cleanly and writes its settings."""
    import os
    import signal
    import time

    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", GROOVEBRIDGE_CONFIG_DIR=str(tmp_path / "config"),
               GROOVEBRIDGE_DATA_DIR=str(tmp_path / "data"), GROOVEBRIDGE_OSC_ENABLED="0")
    child = subprocess.Popen([sys.executable, "-m", "groovebridge", "app"], env=env, cwd=str(tmp_path),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        signum = getattr(signal, signame)
        while not _catches(child.pid, signum) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert child.poll() is None, child.communicate()[0][-2000:]
        time.sleep(1.0)  # the event loop runs
        child.send_signal(signum)
        out, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, out[-2000:]
    saved = tmp_path / "config" / "app.toml"
    assert saved.is_file(), out[-2000:]
    text = saved.read_text()
    assert "window_geometry" in text and "osc_port" in text
    assert "Traceback" not in out
