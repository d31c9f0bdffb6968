"""`groovebridge serve` while no JACK server runs, then when one starts (trial findings 7, 8, 32, 6):
libjack's own stderr lines (~5 per probe, one probe a second) stay out of the user's terminal,
the no-server line is said once, "JACK server is running: MIDI ports opened" is printed as news
(no "! ", which marks problems), and the preview, without audio output at start, sounds through
the new server. A real private jackd, started while serve runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jack_helpers import _start

ROOT = Path(__file__).resolve().parents[3]
LIBJACK_LINES = ("Cannot connect to server", "JackShmReadWritePtr", "jack server is not running",
                 "Cannot connect to server request channel")


@pytest.mark.slow
def test_serve_without_jack_is_quiet_then_says_once_that_the_ports_opened(tiny_checkpoint: Path, tmp_path: Path) -> None:
    rtmidi = pytest.importorskip("rtmidi")
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api() or shutil.which("jackd") is None:
        pytest.skip("needs jackd and python-rtmidi with JACK")
    name = f"gbquiet-{os.getpid()}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1", PYTHONPATH=str(ROOT))
    out_path, err_path = tmp_path / "serve.out", tmp_path / "serve.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        serve = subprocess.Popen(
            [sys.executable, "-m", "groovebridge.cli", "serve", "--midi-api", "jack", "--no-osc", "--preview",
             "--model", str(tiny_checkpoint), "--duration", "9", "--status-interval", "0.2"],
            stdout=out, stderr=err, cwd=tmp_path, env=env)
        jackd = None
        try:
            time.sleep(4.0)  # ~3 probes with no server: the old code printed ~15 libjack lines by now
            quiet = err_path.read_text()
            jackd = _start(name, 64, False, env)
            if jackd is None:
                pytest.skip("jackd did not start")
            serve.wait(timeout=60)
        finally:
            if serve.poll() is None:
                serve.kill()
            if jackd is not None:
                jackd.terminate()
                jackd.wait(10)
    stdout, stderr = out_path.read_text(), err_path.read_text()
    assert serve.returncode == 0, stderr[-1500:]
    assert not [line for line in quiet.splitlines() if any(s in line for s in LIBJACK_LINES)], quiet[-1500:]
    assert not [line for line in stderr.splitlines() if any(s in line for s in LIBJACK_LINES)], stderr[-1500:]
    said = [line for line in (stdout + stderr).splitlines() if "no JACK server is running: MIDI ports" in line]
    assert len(said) == 1, said  # once (the trial saw it twice)
    lines = stdout.splitlines()
    assert "JACK server is running: MIDI ports opened" in lines  # news, printed as it is
    assert not [line for line in lines if line.startswith("! ") and "ports opened" in line]
    from models.synth import find_soundfont

    if find_soundfont() is not None:  # the preview had no output at start; it sounds once JACK is there
        assert "preview sound off: no audio output" in stderr and "tried again when a JACK server starts" in stderr
        assert [line for line in lines if line.startswith("preview sound: ") and "through jack" in line], stdout[-1500:]


def test_ports_without_jack_says_one_line(tmp_path: Path) -> None:
    rtmidi = pytest.importorskip("rtmidi")
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        pytest.skip("python-rtmidi was built without JACK")
    env = dict(os.environ, JACK_DEFAULT_SERVER=f"gbquiet-ports-{os.getpid()}", JACK_NO_START_SERVER="1",
               PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "groovebridge.cli", "ports", "--api", "jack"], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 1
    # python-rtmidi's own libjack printed 5 lines before ours (old code)
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "does not answer" in proc.stderr, proc.stderr
