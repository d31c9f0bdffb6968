"""OSC over real UDP on 127.0.0.1 against the real Engine: fuzzing, file-path rules, bind address.

The engine is the real ``bridge.engine.Engine`` (internal clock, playing) with the tiny
deterministic ``FakeModel`` and a recording MIDI output (``FakeMidiIO``); the server is the
real ``bridge.osc.OscServer``. Hostile input: random bytes, wrong type tags, huge bundles,
deeply nested bundles, unknown addresses, every address of the table with random arguments
(hypothesis, bounded). After each kind the server still answers ``/query/state`` (so it has
processed everything sent before, in order) and the engine state is valid.

Path rules (``bridge/osc/files.py``): ``/save`` and ``/save/variations`` write only inside the
export folder, ``.mid`` only; ``/model`` loads shipped or imported names or paths inside the
user folders. Listeners: every inet socket the engine + OSC server open is bound to 127.0.0.1.
"""

from __future__ import annotations

import math
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc.osc_message_builder import build_msg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bridge"))
from engine_fakes import FakeModel, groove_of, wait_for  # noqa: E402

from bridge.clock.base import InternalClock  # noqa: E402
from bridge.engine import Engine  # noqa: E402
from bridge.osc import OscServer  # noqa: E402
from bridge.osc.files import OscPathError, export_dir, export_file, export_folder, osc_model  # noqa: E402
from bridge.osc.table import PREFIX, ROUTES, SYNC_NAMES  # noqa: E402
from bridge.settings import Settings  # noqa: E402
from models.groove import Groove  # noqa: E402
from tests.rigs.midi_fakes import FakeMidiIO  # noqa: E402

# 250 cases per fuzz test by default (1,000 in all); GROOVEBRIDGE_FUZZ_EXAMPLES=N for a longer, random run
EXAMPLES = int(os.environ.get("GROOVEBRIDGE_FUZZ_EXAMPLES", "0") or 0)
FUZZ = settings(max_examples=EXAMPLES or 250, deadline=None, suppress_health_check=list(HealthCheck),
                derandomize=not EXAMPLES)


class Rig:
    """A started engine + OSC server, a fuzzing socket and a checking socket."""

    def __init__(self, save_dir: Path) -> None:
        self.midi = FakeMidiIO()
        self.loads: list[str] = []

        def loader(name: str) -> FakeModel:
            self.loads.append(name)
            return FakeModel()

        s = Settings(bpm=180.0, osc_port=0, osc_out_port=0, osc_save_dir=str(save_dir), realtime_priority=0)
        self.engine = Engine(s, model_loader=loader, midi=self.midi, clock=InternalClock(s.bpm), auto_sample=True)
        self.engine.start()
        wait_for(lambda: self.engine.snapshot().model_state == "ready", what="fake model")
        self.engine.play()
        self.server = OscServer.from_settings(self.engine, s)
        self.server.start()
        self.addr = self.server.address
        self.fuzz = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.fuzz.bind(("127.0.0.1", 0))
        self.fuzz.setblocking(False)
        self.check = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.check.bind(("127.0.0.1", 0))
        self.check.settimeout(5.0)

    def send(self, data: bytes) -> None:
        self.fuzz.sendto(data, self.addr)
        self.drain()

    def drain(self) -> None:
        try:
            while True:
                self.fuzz.recv(65536)
        except OSError:
            pass

    def query_state(self, timeout_sec: float = 10.0) -> set[str]:
        """Addresses of the reply to /query/state. UDP drops datagrams when the server's receive
        buffer is full (a flood), so the query is re-sent every 0.5 s; raises after ``timeout_sec``."""
        got: set[str] = set()
        end = time.monotonic() + timeout_sec
        while time.monotonic() < end:
            self.check.sendto(build_msg(PREFIX + "/query/state", []).dgram, self.addr)
            resend = time.monotonic() + 0.5
            while PREFIX + "/position" not in got and time.monotonic() < resend:  # the last group
                self.check.settimeout(max(0.01, resend - time.monotonic()))
                try:
                    data, _ = self.check.recvfrom(65536)
                except TimeoutError:
                    break
                got.add(data.split(b"\0", 1)[0].decode())
            if PREFIX + "/position" in got:
                return got
        raise AssertionError(f"no answer to /query/state in {timeout_sec:g} s")

    def close(self) -> None:
        self.fuzz.close()
        self.check.close()
        self.server.close()
        self.engine.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    r = Rig(tmp_path_factory.mktemp("exports"))
    yield r
    r.close()


def assert_alive_and_valid(rig: Rig) -> None:
    replies = rig.query_state()
    assert {PREFIX + "/transport", PREFIX + "/tempo", PREFIX + "/mutes"} <= replies
    # the engine has applied everything queued so far: a command round-trip through its queue
    done = threading.Event()
    rig.engine._post(done.set)
    assert done.wait(5.0), "engine control thread stuck"
    eng = rig.engine
    assert eng._control.is_alive() and eng.scheduler is not None and eng.scheduler._thread.is_alive()
    s = eng.snapshot()
    assert 20.0 <= s.bpm <= 400.0 and math.isfinite(s.position_beats)
    assert 0.0 < s.temperature <= 5.0 and 1 <= s.num_variations <= 16
    assert 0.0 <= s.interpolation <= 1.0 and -500.0 <= s.latency_ms <= 500.0
    assert len(s.mutes) == 9 and s.sync_source in SYNC_NAMES
    assert isinstance(s.pattern, Groove)
    for a in (s.pattern.hits, s.pattern.velocities, s.pattern.offsets):
        assert a.shape == (s.pattern.num_steps, 9) and bool((a == a).all())
    assert -1 <= s.selected_variation < max(1, len(s.variations))


def osc_string(text: bytes) -> bytes:
    return text + b"\0" * (4 - len(text) % 4)


def bundle(contents: list[bytes]) -> bytes:
    out = b"#bundle\0" + struct.pack(">Q", 1)
    for c in contents:
        out += struct.pack(">i", len(c)) + c
    return out


# Routes that would leave the engine in a state the rest of the module cannot use: another
# clock source (MIDI follower waits for a clock; Link joins the network session) and the
# transport (the fuzz must keep playing). Their validation runs on the same paths as the rest.
SKIP = {"/sync", "/sync/midi", "/sync/link", "/stop", "/toggle"}
FUZZ_ROUTES = [r for r in ROUTES if r.address not in SKIP]


# ---- fuzz ------------------------------------------------------------------------------------------
@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(rig: Rig, data: bytes) -> None:
    rig.send(data)
    rig.send(b"/groovebridge/" + data)  # looks like an address at first


def test_random_bytes_leave_server_alive(rig: Rig) -> None:
    before = rig.server.bad_packets
    rig.send(b"\xff" * 100)
    assert_alive_and_valid(rig)
    assert rig.server.bad_packets > before


@FUZZ
@given(route=st.sampled_from(FUZZ_ROUTES), tags=st.text(alphabet="ifsbTFNIhdtcrm[]xyz,", max_size=12),
       payload=st.binary(max_size=64))
def test_wrong_type_tags(rig: Rig, route: Any, tags: str, payload: bytes) -> None:
    rig.send(osc_string((PREFIX + route.address).encode()) + osc_string(("," + tags).encode()) + payload)


def test_huge_and_nested_bundles(rig: Rig) -> None:
    msg = build_msg(PREFIX + "/temperature", [0.7]).dgram
    rig.send(bundle([msg] * 1600))  # 1,600 messages in one 64 kB datagram
    rig.send(bundle([msg] * 1600)[:30001])  # cut off mid-message
    inner = msg
    for _ in range(2000):  # deeper than Python's recursion limit
        inner = bundle([inner])
    assert len(inner) < 65000
    rig.send(inner)
    inner = msg
    for _ in range(40):
        inner = bundle([inner, msg])
    rig.send(inner)
    rig.send(bundle([struct.pack(">i", 2**31 - 1)]))  # an element size larger than the packet
    assert_alive_and_valid(rig)
    wait_for(lambda: abs(rig.engine.snapshot().temperature - 0.7) < 1e-6, what="a bundle applied")


@FUZZ
@given(address=st.text(max_size=80), args=st.lists(st.integers(-(2**31), 2**31 - 1), max_size=3))
def test_unknown_addresses(rig: Rig, address: str, args: list[int]) -> None:
    try:
        dgram = build_msg("/" + address.replace("\0", ""), args).dgram
    except Exception:  # noqa: BLE001 - python-osc refuses some addresses: nothing to send
        return
    rig.send(dgram)


ARG = st.one_of(
    st.integers(-(2**31), 2**31 - 1), st.floats(width=32), st.floats(-2.0, 2.0), st.booleans(), st.none(),
    st.text(max_size=24), st.sampled_from(["a", "b", "on", "off", "kick", "link", "internal", "next", ".", "..",
                                           "../x.mid", "/tmp/x.mid", "state", "roland", "default"]),
    st.binary(max_size=32),
)


@FUZZ
@given(route=st.sampled_from(FUZZ_ROUTES), args=st.lists(ARG, max_size=4))
def test_every_address_random_arguments(rig: Rig, route: Any, args: list[Any]) -> None:
    try:
        dgram = build_msg(PREFIX + route.address, args).dgram
    except Exception:  # noqa: BLE001
        return
    rig.send(dgram)


def test_state_valid_after_fuzz(rig: Rig) -> None:
    """Last in the module: everything above has been applied; the server and engine are fine."""
    assert_alive_and_valid(rig)
    assert rig.engine.snapshot().playing
    assert rig.server.control.rejected > 0 and rig.server.control.handled > 0
    # nothing was written outside the export folder by the random /save arguments
    save_dir = Path(rig.engine.settings.osc_save_dir).resolve()
    for p in save_dir.rglob("*"):
        assert p.resolve().is_relative_to(save_dir)
        assert p.is_dir() or p.suffix == ".mid"
    # notes still come out (the fuzz may have muted the kick or set 20 BPM: a 12 s bar)
    for k in range(9):
        rig.engine.set_mute(k, False)
    rig.engine.set_tempo(240.0)
    n = len(rig.midi.notes())
    rig.engine.set_pattern(groove_of([(s, 0, 100, 0.0) for s in range(0, 64, 4)]))
    wait_for(lambda: len(rig.midi.notes()) > n + 2, timeout_sec=10, what="notes after the fuzz")


# ---- file paths named over OSC ----------------------------------------------------------------------
def test_export_name_rules(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    assert export_file("groove", folder) == folder / "groove.mid"
    assert export_file("set1/take.MID", folder) == folder / "set1" / "take.MID"
    assert export_folder("session", folder) == folder / "session"
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "link").symlink_to(outside)
    for bad in ("../x.mid", "/etc/x.mid", "~/x.mid", "a/../../x.mid", "x.txt", "x.mid.py", "", "link/x.mid",
                "C:/x.mid", "..\\x.mid"):
        with pytest.raises(OscPathError):
            export_file(bad, folder)
    for bad in ("..", "/tmp", "link", "a/../.."):
        with pytest.raises(OscPathError):
            export_folder(bad, folder)
    assert not list(outside.iterdir())


def test_default_export_folder_is_documents_groovebridge_exports() -> None:
    d = export_dir(Settings())
    assert d.parts[-2:] == ("GrooveBridge", "exports")
    assert export_dir(Settings(osc_save_dir="/x/y")) == Path("/x/y")


def test_osc_save_writes_inside_the_export_folder_only(tmp_path: Path) -> None:
    save_dir = tmp_path / "exports"
    r = Rig(save_dir)
    try:
        wait_for(lambda: r.engine.snapshot().pattern.num_hits > 0, what="a sampled pattern")
        r.send(build_msg(PREFIX + "/save", ["groove"]).dgram)
        r.send(build_msg(PREFIX + "/save", [str(tmp_path / "abs.mid")]).dgram)
        r.send(build_msg(PREFIX + "/save", ["../escape.mid"]).dgram)
        r.send(build_msg(PREFIX + "/save", ["evil.sh"]).dgram)
        r.send(build_msg(PREFIX + "/save/variations", ["../vars"]).dgram)
        r.send(build_msg(PREFIX + "/save/variations", ["vars"]).dgram)
        r.query_state()
        wait_for(lambda: (save_dir / "groove.mid").is_file() and (save_dir / "vars" / "variation_01.mid").is_file(),
                 what="saved files")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["exports"]
        assert not (save_dir / "evil.sh").exists()
        from models.midi.files import read_midi

        assert read_midi(save_dir / "groove.mid", drum_map="gm").groove.num_hits > 0
        # the engine API (the app's file dialog) still takes any path the user chose
        r.engine.save_pattern(tmp_path / "chosen by user.mid")
        wait_for(lambda: (tmp_path / "chosen by user.mid").is_file(), what="engine API save")
    finally:
        r.close()


def test_osc_model_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    data = tmp_path / "data"
    monkeypatch.setenv("GROOVEBRIDGE_MODELS_DIR", str(models))
    monkeypatch.setenv("GROOVEBRIDGE_DATA_DIR", str(data))
    for found in (models / "my-import", data / "runs" / "r1", models / "~"):
        found.mkdir(parents=True)
        (found / "model.safetensors").write_bytes(b"")
    assert osc_model("default") == "default" and osc_model("humanize") == "humanize"
    assert osc_model("my-import") == str(models / "my-import")  # never a folder in the cwd
    assert osc_model(str(data / "runs" / "r1")) == str(data / "runs" / "r1")
    assert osc_model("~") == str(models / "~")  # a plain name, not the home folder
    for bad in ("/etc", "../models/x", str(tmp_path / "elsewhere"), str(models / ".." / "x"), "./x", "~/x",
                "nope", str(data / "runs" / "missing")):  # (the last two: inside, but no model there)
        with pytest.raises(OscPathError):
            osc_model(bad)
    r = Rig(tmp_path / "exports")
    try:
        r.loads.clear()
        r.send(build_msg(PREFIX + "/model", [str(tmp_path / "elsewhere")]).dgram)
        r.send(build_msg(PREFIX + "/model", ["humanize"]).dgram)
        r.query_state()
        wait_for(lambda: r.loads, what="model load")
        time.sleep(0.1)
        assert r.loads == ["humanize"]
    finally:
        r.close()


# ---- bind addresses -----------------------------------------------------------------------------------
def _inet_sockets() -> list[tuple[str, str, int, str]]:
    """(proto, local ip, port, state) of this process's inet sockets, from /proc."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for proto in ("tcp", "udp", "tcp6", "udp6"):
        try:
            lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[9] not in inodes:
                continue
            ip_hex, port_hex = f[1].split(":")
            if len(ip_hex) == 8:
                ip = socket.inet_ntop(socket.AF_INET, bytes.fromhex(ip_hex)[::-1])
            else:
                raw = bytes.fromhex(ip_hex)
                ip = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
            out.append((proto, ip, int(port_hex, 16), f[3]))
    return out


LISTENERS = r"""
import sys, time
sys.path[:0] = sys.argv[1:3]
from engine_fakes import FakeModel, wait_for
from test_osc_fuzz import _inet_sockets
from bridge.engine import Engine
from tests.rigs.midi_fakes import FakeMidiIO
from bridge.osc import OscServer
from bridge.settings import Settings
s = Settings(osc_port=0, osc_out_port=0, realtime_priority=0)  # defaults but a free port
engine = Engine(s, model_loader=lambda n: FakeModel(), midi=FakeMidiIO())
engine.start()
wait_for(lambda: engine.snapshot().model_state == "ready")
engine.play()
osc = OscServer.from_settings(engine, s)
osc.start()
time.sleep(0.3)
print(repr((osc.address, _inet_sockets())))
osc.close()
engine.close()
"""


@pytest.mark.skipif(not Path("/proc/net/udp").exists(), reason="needs Linux /proc")
def test_every_listener_binds_loopback_by_default() -> None:
    """A fresh process with the engine and OSC server on default settings: every bound inet
    socket is on 127.0.0.1 (Ableton Link, which must use the LAN, opens only when chosen)."""
    import ast
    import subprocess

    assert Settings().osc_host == "127.0.0.1"
    here = Path(__file__).resolve().parent
    out = subprocess.run([sys.executable, "-c", LISTENERS, str(here.parent / "bridge"), str(here)],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ, GROOVEBRIDGE_MIDI_API="jack"))
    assert out.returncode == 0, out.stderr[-2000:]
    (host, port), socks = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    assert host == "127.0.0.1" and ("udp", "127.0.0.1", port, "07") in socks
    listening = [s for s in socks if (s[0].startswith("tcp") and s[3] == "0A") or (s[0].startswith("udp") and s[2])]
    assert listening and all(ip in ("127.0.0.1", "::1") for _p, ip, _port, _s in listening), listening


def test_other_hosts_only_when_configured(rig: Rig) -> None:
    server = OscServer.from_settings(rig.engine, Settings(osc_host="0.0.0.0", osc_port=0))
    server.start()
    try:
        assert server.address[0] == "0.0.0.0"
    finally:
        server.close()


# ---- a short flood (the long one: benchmarks/bench_osc_flood.py) -------------------------------------
def _status() -> tuple[float, int]:
    rss, threads = 0.0, 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024.0
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return rss, threads


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_short_flood_no_crash_no_growth(tmp_path: Path) -> None:
    """2 s at 2,000 messages/s of mixed valid, invalid and garbage packets while playing."""
    r = Rig(tmp_path)
    try:
        msgs = [build_msg(PREFIX + "/temperature", [0.8]).dgram, build_msg(PREFIX + "/query/state", []).dgram,
                build_msg(PREFIX + "/nope", [1]).dgram, b"\x00garbage", build_msg(PREFIX + "/mute/ride", [0]).dgram,
                bundle([build_msg(PREFIX + "/ping", []).dgram] * 20)]
        for m in msgs * 50:  # warm-up: first-use allocations are not growth
            r.send(m)
        r.query_state()
        rss0, threads0 = _status()
        notes0 = len(r.midi.notes())
        t0 = time.monotonic()
        for i in range(4000):
            r.fuzz.sendto(msgs[i % len(msgs)], r.addr)
            if i % 100 == 0:
                r.drain()
            delay = t0 + (i + 1) / 2000.0 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        r.query_state()
        rss1, threads1 = _status()
        assert threads1 == threads0, (threads0, threads1)
        assert rss1 - rss0 < 20.0, (rss0, rss1)
        assert len(r.midi.notes()) > notes0  # playback went on during the flood
        assert_alive_and_valid(r)
    finally:
        r.close()
