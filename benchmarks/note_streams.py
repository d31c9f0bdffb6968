"""Note streams for the JACK benchmarks (soak, OSC flood): what the engine sent, what receivers got.

* ``NoteReceiver``: a second process reading a port with python-rtmidi, polled (see
  ``NOTE_RECEIVER`` for why not a callback), times from JACK's delta times;
* ``JackMidiDump`` / ``DumpReceiver``: ``jack_midi_dump`` (C) on the same port, as a check on it;
* ``SentLog``: wraps the engine's MIDI port and records every note message handed to it;
* ``align_streams`` / ``match_notes`` / ``stuck_notes`` / ``unbalanced_notes``: comparisons;
* ``NoteLog`` (the engine's "note" events), ``proc_status`` (RSS, threads).
Not a benchmark itself (no ``bench_`` prefix).
"""

from __future__ import annotations

import array
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import jack_bench  # noqa: F401 - puts the repository on sys.path
import numpy as np

from bridge.midi.ports import OUT_PORT_NAME
from bridge.play.player import PlayedNote

NOTE_RECEIVER = r"""
import array, json, select, sys, time, rtmidi
port = sys.argv[1]
# Polling, not a callback: rtmidi's JACK input calls a Python callback from JACK's process
# thread between reading one event and the next, so a slow callback (GIL, a busy machine) lets
# the sender overwrite the port buffer under it: events read with the wrong contents. Polled,
# the process thread copies every event of a period in C at once; Python reads the copies.
mi = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="soak-receiver", queue_size_limit=65536)
mi.ignore_types(sysex=True, timing=True, active_sense=True)
elapsed, kinds, pitches, vels = array.array("d"), array.array("b"), array.array("B"), array.array("B")
names = mi.get_ports()
idx = next(i for i, n in enumerate(names) if port in n)
mi.open_port(idx)
print("ready", flush=True)
total, offset, offsets = 0.0, float("inf"), []  # offset: poll time - summed JACK deltas, least delayed
def drain():
    global total, offset
    while (item := mi.get_message()) is not None:
        m, delta = item
        now = time.monotonic()
        total += delta  # JACK's own time between events (taken in its process thread)
        offset = min(offset, now - total)
        if len(m) == 3 and m[0] & 0xE0 == 0x80:  # note-on / note-off
            elapsed.append(total); kinds.append(1 if m[0] & 0xF0 == 0x90 and m[2] > 0 else 0)
            pitches.append(m[1]); vels.append(m[2])
last = time.monotonic()
while not select.select([sys.stdin], [], [], 0)[0]:
    drain()
    if time.monotonic() - last > 10.0 and offset < float("inf"):  # the offset's drift, per 10 s
        offsets.append(offset); offset, last = float("inf"), time.monotonic()
    time.sleep(0.0005)
sys.stdin.readline()
time.sleep(0.3)
drain()
offsets.append(offset)
best = min(offsets)
print(json.dumps([[t + best for t in elapsed], list(kinds), list(pitches), list(vels), offsets]), flush=True)
"""


class NoteReceiver:
    """A second process reading ``port``: (time, on?, pitch, velocity) for notes on and off.

    Times: JACK's delta times (taken when its process thread copied the event) summed, put on
    the ``time.monotonic()`` scale by the least-delayed poll. ``offset_spread_ms``: how far the
    least-delayed offset of each 10 s moved over the run (a drift between JACK's clock and
    ours would show here; it stays within a poll interval)."""

    def __init__(self, port: str = OUT_PORT_NAME) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", NOTE_RECEIVER, port],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"receiver did not start: {line!r}")

    def finish(self) -> dict[str, np.ndarray]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        t, kind, pitch, vel, offsets = json.loads(self.proc.stdout.readline())
        self.proc.wait(5)
        self.offset_spread_ms = (max(offsets) - min(offsets)) * 1000.0 if offsets else float("nan")
        return {"t": np.array(t), "on": np.array(kind, bool), "pitch": np.array(pitch, int), "vel": np.array(vel, int)}


class SentLog:
    """Wraps the engine's MIDI port: records every note message handed to it (time, status,
    pitch, velocity) in compact arrays; everything else goes to the port unchanged."""

    def __init__(self, midi: Any) -> None:
        self._midi = midi
        self.t = array.array("d")
        self.status = array.array("B")
        self.pitch = array.array("B")
        self.vel = array.array("B")

    def send_message(self, message: list[int] | bytes) -> None:
        if len(message) == 3 and message[0] & 0xE0 == 0x80:
            self.t.append(time.monotonic())
            self.status.append(message[0])
            self.pitch.append(message[1])
            self.vel.append(message[2])
        self._midi.send_message(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._midi, name)

    def events(self) -> dict[str, np.ndarray]:
        on = np.array([(s & 0xF0) == 0x90 and v > 0 for s, v in zip(self.status, self.vel, strict=True)], bool)
        return {"t": np.array(self.t), "on": on, "pitch": np.array(self.pitch, int), "vel": np.array(self.vel, int)}


_DUMP_LINE = re.compile(r"^\s*\d+:\s+([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2})\b")


class JackMidiDump:
    """``jack_midi_dump`` (a JACK client in C whose process callback only copies events to a
    ring buffer) in its own process, its output in a temporary file: a second reader beside
    ours. ``absolute``: ``-a``, each event with its absolute frame time."""

    def __init__(self, client: str, absolute: bool = False) -> None:
        self.client = client
        self.file = tempfile.TemporaryFile("w+")  # noqa: SIM115
        args = ["jack_midi_dump", *(["-a"] if absolute else []), client]
        self.proc = subprocess.Popen(args, stdout=self.file, stderr=subprocess.DEVNULL)

    @staticmethod
    def available() -> bool:
        return shutil.which("jack_midi_dump") is not None and shutil.which("jack_connect") is not None

    def stop(self) -> str:
        """Stop it (SIGINT: it flushes and exits) and return what it printed."""
        self.proc.send_signal(2)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.file.seek(0)
        text = self.file.read()
        self.file.close()
        return text


class DumpReceiver(JackMidiDump):
    """``jack_midi_dump`` reading ``port``, as a check on the Python receiver. No timestamps
    we can use."""

    def __init__(self, port: str = OUT_PORT_NAME, client: str = "soak-dump") -> None:
        super().__init__(client)
        src = f"GrooveBridge:{port}"
        for _ in range(100):
            lsp = subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout
            if f"{client}:input" in lsp:
                full = next((line for line in lsp.splitlines() if line.endswith(port)), src)
                if subprocess.run(["jack_connect", full, f"{client}:input"], capture_output=True).returncode == 0:
                    return
            time.sleep(0.05)
        self.proc.terminate()
        raise SystemExit("jack_midi_dump did not start or connect")

    def finish(self) -> dict[str, np.ndarray]:
        time.sleep(0.3)
        kinds, pitches, vels = [], [], []
        for line in self.stop().splitlines():
            m = _DUMP_LINE.match(line)
            if m is None:
                continue
            status, pitch, vel = (int(x, 16) for x in m.groups())
            if status & 0xE0 == 0x80:
                kinds.append(status & 0xF0 == 0x90 and vel > 0)
                pitches.append(pitch)
                vels.append(vel)
        return {"t": np.full(len(kinds), np.nan), "on": np.array(kinds, bool), "pitch": np.array(pitches, int),
                "vel": np.array(vels, int)}


def align_streams(sent: dict[str, np.ndarray], got: dict[str, np.ndarray], lookahead: int = 64) -> dict[str, Any]:
    """Align a receiver's note stream with the sent one (same order expected): counts of sent
    events missing at the receiver and of received events never sent, by (on/off, pitch)."""
    key = lambda d, i: (bool(d["on"][i]), int(d["pitch"][i]), int(d["vel"][i]))  # noqa: E731
    n, m = len(sent["on"]), len(got["on"])
    i = j = 0
    missing: dict[str, int] = {}
    extra: dict[str, int] = {}
    while i < n and j < m:
        if key(sent, i) == key(got, j):
            i += 1
            j += 1
            continue
        want = key(got, j)
        skip = next((k for k in range(i + 1, min(n, i + lookahead)) if key(sent, k) == want), None)
        if skip is not None:  # sent[i:skip] never arrived
            for k in range(i, skip):
                name = f"{'on' if sent['on'][k] else 'off'} {int(sent['pitch'][k])}"
                missing[name] = missing.get(name, 0) + 1
            i = skip
        else:  # got[j] was never sent (or is out of order)
            name = f"{'on' if got['on'][j] else 'off'} {int(got['pitch'][j])}"
            extra[name] = extra.get(name, 0) + 1
            j += 1
    for k in range(i, n):
        name = f"{'on' if sent['on'][k] else 'off'} {int(sent['pitch'][k])}"
        missing[name] = missing.get(name, 0) + 1
    for k in range(j, m):
        name = f"{'on' if got['on'][k] else 'off'} {int(got['pitch'][k])}"
        extra[name] = extra.get(name, 0) + 1
    return {"events": m, "ons": int(got["on"].sum()), "offs": int((~got["on"]).sum()),
            "missing": sum(missing.values()), "extra": sum(extra.values()),
            "missing_by": missing, "extra_by": extra, "unbalanced": unbalanced_notes(got), "stuck": stuck_notes(got)}


class NoteLog:
    """Played notes (engine "note" events) in compact arrays: the log must not be the growth."""

    def __init__(self) -> None:
        self.beat = array.array("d")
        self.pitch = array.array("B")
        self.vel = array.array("B")

    def __call__(self, event: str, payload: Any) -> None:
        if event == "note" and isinstance(payload, PlayedNote):
            self.beat.append(payload.beat)
            self.pitch.append(payload.pitch)
            self.vel.append(payload.velocity)


def proc_status() -> dict[str, float]:
    """RSS (MiB) and OS thread count of this process."""
    out = {"rss_mib": float("nan"), "threads": float("nan")}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss_mib"] = int(line.split()[1]) / 1024.0
                elif line.startswith("Threads:"):
                    out["threads"] = float(line.split()[1])
    except OSError:
        pass
    return out


def match_notes(log: NoteLog, rx: dict[str, np.ndarray], origin_sec: float, bpm: float, window_sec: float = 0.05
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """(intended times, arrival times, unmatched played) pairing each played note with the arrival
    of the same pitch and velocity nearest its intended time (within ``window_sec``)."""
    ons = np.flatnonzero(rx["on"])
    by_key: dict[tuple[int, int], list[int]] = {}
    for j in ons:
        by_key.setdefault((int(rx["pitch"][j]), int(rx["vel"][j])), []).append(int(j))
    cursor = dict.fromkeys(by_key, 0)
    intended, arrived, lost = [], [], 0
    for beat, pitch, vel in zip(log.beat, log.pitch, log.vel, strict=True):
        t_int = origin_sec + beat * 60.0 / bpm
        cands = by_key.get((pitch, vel), [])
        i = cursor.get((pitch, vel), 0)
        while i < len(cands) and rx["t"][cands[i]] < t_int - window_sec:
            i += 1
        cursor[(pitch, vel)] = i
        if i < len(cands) and abs(rx["t"][cands[i]] - t_int) < window_sec:
            intended.append(t_int)
            arrived.append(rx["t"][cands[i]])
            cursor[(pitch, vel)] = i + 1
        else:
            lost += 1
    return np.array(intended), np.array(arrived), lost


def stuck_notes(rx: dict[str, np.ndarray]) -> dict[int, int]:
    """Pitches still sounding at the end (their last event was a note-on): pitch -> 1."""
    last: dict[int, bool] = {}
    for on, pitch in zip(rx["on"], rx["pitch"], strict=True):
        last[int(pitch)] = bool(on)
    return {p: 1 for p, on in last.items() if on}


def unbalanced_notes(rx: dict[str, np.ndarray]) -> dict[int, int]:
    """Per pitch: note-ons minus note-offs received, where not 0 (an event lost on the way)."""
    count: dict[int, int] = {}
    for on, pitch in zip(rx["on"], rx["pitch"], strict=True):
        count[int(pitch)] = count.get(int(pitch), 0) + (1 if on else -1)
    return {p: c for p, c in count.items() if c}
