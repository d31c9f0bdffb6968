"""The opt-in Zeroconf advert of the OSC service: the decision (never on loopback), and a real
python-zeroconf browser in this process finding the advert of `serve --zeroconf` on a LAN
interface (skipped, with the reason, on a machine that has none)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bridge.controllers.zeroconf_ad import (
    SERVICE_TYPE,
    AdvertRefused,
    advert_addresses,
    lan_addresses,
    start_advert,
)
from bridge.settings import load_settings

ROOT = Path(__file__).resolve().parents[3]
LAN = ["192.168.1.20", "10.0.0.7"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "::1"])
def test_loopback_is_refused_with_the_reason(host):
    with pytest.raises(AdvertRefused, match="loopback") as e:
        advert_addresses(host, LAN)
    assert "0.0.0.0" in str(e.value) and "\n" not in str(e.value)


def test_lan_hosts_are_advertised_on_their_interfaces():
    assert advert_addresses("0.0.0.0", LAN) == LAN
    assert advert_addresses("", LAN) == LAN
    assert advert_addresses("10.0.0.7", LAN) == ["10.0.0.7"]
    with pytest.raises(AdvertRefused, match="no network interface"):
        advert_addresses("0.0.0.0", [])
    with pytest.raises(AdvertRefused, match="not an address of this machine"):
        advert_addresses("192.168.77.77", LAN)
    with pytest.raises(AdvertRefused, match="cannot resolve"):
        advert_addresses("no-such-host.invalid", LAN)


def test_the_setting_is_off_by_default_and_read_from_osc_section(tmp_path):
    assert load_settings(env={}).osc_zeroconf is False
    f = tmp_path / "s.toml"
    f.write_text('[osc]\nhost = "0.0.0.0"\nzeroconf = true\n')
    s = load_settings(f, env={})
    assert s.osc_zeroconf is True and s.osc_host == "0.0.0.0"
    advert, line = start_advert("127.0.0.1", 9000)
    assert advert is None and line.startswith("zeroconf: not advertised") and "loopback" in line


class Browser:
    """A python-zeroconf ServiceBrowser for _osc._udp on the LAN interfaces."""

    def __init__(self) -> None:
        from zeroconf import IPVersion, ServiceBrowser, Zeroconf

        self.zc = Zeroconf(interfaces=lan_addresses(), ip_version=IPVersion.V4Only)
        self.added: list[str] = []
        self.removed: list[str] = []
        self.changed = threading.Event()
        self.browser = ServiceBrowser(self.zc, SERVICE_TYPE, self)

    def add_service(self, zc, type_, name):
        self.added.append(name)
        self.changed.set()

    def update_service(self, zc, type_, name):
        pass

    def remove_service(self, zc, type_, name):
        self.removed.append(name)
        self.changed.set()

    def port_of(self, port: int, timeout: float = 10.0) -> str:
        """The name of the service advertising ``port`` (resolved through the browser)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name in list(self.added):
                info = self.zc.get_service_info(SERVICE_TYPE, name, timeout=1000)
                if info is not None and info.port == port:
                    return name
            self.changed.wait(0.2)
            self.changed.clear()
        raise AssertionError(f"no {SERVICE_TYPE} service on port {port}; seen {self.added}")

    def close(self) -> None:
        self.browser.cancel()
        self.zc.close()


@pytest.fixture
def browser():
    if not lan_addresses():
        pytest.skip("this machine has no network interface other than loopback: nothing to advertise on")
    b = Browser()
    yield b
    b.close()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def test_advert_is_found_by_a_real_browser_and_withdrawn(browser):
    port = _free_udp_port()
    advert, line = start_advert("0.0.0.0", port, instance="GrooveBridge test advert")
    assert advert is not None, line
    try:
        name = browser.port_of(port)
        assert name == "GrooveBridge test advert." + SERVICE_TYPE
        info = browser.zc.get_service_info(SERVICE_TYPE, name, timeout=2000)
        assert set(info.parsed_addresses()) <= set(lan_addresses()) and info.properties[b"prefix"] == b"/groovebridge"
    finally:
        advert.close()
    deadline = time.monotonic() + 5
    while name not in browser.removed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert name in browser.removed  # the goodbye packet withdrew it


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "groovebridge.cli", "serve", "--midi-api", "alsa", "--input", "none",
                             "--output", "none", "--no-play", "--device", "cpu", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=os.environ.copy())


def _stop_when_loaded(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[str, str]:
    """SIGINT once the status line shows the model ready, then (stdout, stderr). (Stopping
    serve while the model still loads can abort the process at exit: a separate issue.)"""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "model: default on " in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return "".join(lines) + out, err


def test_serve_refuses_zeroconf_on_the_loopback_default():
    proc = _serve("--zeroconf", "--osc-port", "0", "--duration", "120")
    out, err = _stop_when_loaded(proc)
    assert proc.returncode == 0, err
    refusals = [line for line in err.splitlines() if "zeroconf" in line]
    assert len(refusals) == 1 and "loopback" in refusals[0] and "Traceback" not in err
    assert "advertising" not in out


def test_serve_zeroconf_on_lan_is_listed_by_a_browser(browser):
    port = _free_udp_port()
    proc = _serve("--osc-host", "0.0.0.0", "--osc-port", str(port), "--zeroconf", "--duration", "120")
    try:
        name = browser.port_of(port, timeout=60)
        assert name.startswith("GrooveBridge on ")
    finally:
        out, err = _stop_when_loaded(proc)
    assert proc.returncode == 0, err
    assert f"port {port}" in out and "zeroconf: advertising" in out
