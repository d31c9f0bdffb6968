"""The fault table of bench_clock_follow --faults: a second-process master
(``clock_fault_sender.py``) sends MIDI clock over a private JACK server and injects one fault
per 4-beat window; the follower (``MidiClockFollower`` behind the engine's polled JACK reader)
is probed at every tick it receives. Not a benchmark itself.

Phase error = the follower's time for the next beat - the master's ideal time of that beat,
less the constant transport latency (the median over the clean windows: the latency setting's
job). Per window, from its fault on: the largest |error|, the time (beats) until it stays
under 1 ms, and false slips (slip events where no fault needed one: a fault told at once needs
none, a clean or jittered window none at all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bridge.clock.midi_in import CLOCK, PPQN, MidiClockFollower  # noqa: E402

WINDOW = 4 * PPQN  # ticks per fault window
FAULT_AT = PPQN  # the fault comes one beat into its window
WINDOWS = ("clean", "duplicate", "1 lost", "3 lost", "a beat lost (24)", "jitter 2 ms", "duplicate + jitter",
           "lost + jitter", "clean")
WARMUP_BEATS = 8


def fault_plan(bpm: float, client: str, seed: int = 0) -> tuple[dict, list[tuple[str, int, int]]]:
    """The sender's plan and the windows (name, first tick, fault tick)."""
    start = WARMUP_BEATS * PPQN
    dups, drops, jitter, windows = [], [], [], []
    for i, name in enumerate(WINDOWS):
        first = start + i * WINDOW
        k = first + FAULT_AT
        windows.append((name, first, k))
        if "duplicate" in name:
            dups.append(k)
        if name.startswith("1 lost") or name == "lost + jitter":
            drops.append(k)
        if name.startswith("3 lost"):
            drops += [k, k + 1, k + 2]
        if name.startswith("a beat lost"):
            drops += list(range(k, k + PPQN))
        if "jitter" in name:
            jitter.append([first, first + WINDOW, 2.0])
    ticks = start + len(WINDOWS) * WINDOW + PPQN
    plan = {"client": client, "bpm": bpm, "ticks": ticks, "duplicates": dups, "drops": drops,
            "jitter": jitter, "seed": seed, "lead_sec": 0.3}
    return plan, windows


class Reader:
    """The follower behind a polled JACK input; a row per tick received:
    (arrival, beat the follower predicts next, its predicted time, next tick's beat and time, locked)."""

    def __init__(self, client: str, reader: str = "auto") -> None:
        import rtmidi

        from bridge.midi import jack_frames
        from bridge.midi.input import PolledInput, new_midi_in

        self.follower = MidiClockFollower()
        self.rows: list[tuple[float, float, float, float, float, float]] = []
        self.slips: list[tuple[float, int]] = []
        # the engine's choice (bridge.midi.ports): the frame-keeping reader when enabled
        frames = reader == "frames" or (reader == "auto" and jack_frames.enabled())
        self.kind = "frames" if frames else "rtmidi"
        self.handle = jack_frames.JackFrameMidiIn(client) if frames else new_midi_in(rtmidi, rtmidi.API_UNIX_JACK, client)
        self.handle.open_virtual_port("in")
        self.reader = PolledInput(self.handle, self._on)

    def _on(self, message: list[int], t: float) -> None:
        f = self.follower
        f.feed(t, message)
        self.slips += [(t, j) for j, _c in f.pop_slips()]
        if message and message[0] == CLOCK and f.is_playing and f.has_locked:  # unlocked moments count too
            beat = f.beat_at(t)
            b = float(np.floor(beat + 1e-9) + 1)
            k = float(np.floor(beat * PPQN + 1e-6) + 1) / PPQN
            self.rows.append((t, b, f.time_at_beat(b), k, f.time_at_beat(k), 1.0))

    def close(self) -> None:
        self.reader.close()
        self.handle.close_port()
        self.handle.delete()


def run_sender(plan: dict, reader_port: str) -> np.ndarray:
    """Start the sender process, connect it to ``reader_port``, play; the ideal tick times."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(plan, fh)
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("clock_fault_sender.py")), fh.name],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("the clock sender did not start")
        subprocess.run(["jack_connect", f"{plan['client']}:out", reader_port], check=True, capture_output=True, timeout=10)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        proc.wait(timeout=10)
        return np.array(json.loads(line)["ideal"])
    finally:
        if proc.poll() is None:
            proc.kill()
        os.unlink(fh.name)


def beat_times(ideal: np.ndarray, beats: np.ndarray) -> np.ndarray:
    idx = np.clip(np.round(beats * PPQN).astype(int), 0, ideal.size - 1)
    return ideal[idx]


def fault_rows(bpm: float, seed: int = 0, frames: bool = False, reader_kind: str = "auto") -> dict:
    """``frames``: the master places each message on its frame (as a DAW on JACK), else at the
    period's start (python-rtmidi's output)."""
    tag = f"{os.getpid()}-{seed}"
    reader = Reader(f"gbfollow{tag}", reader_kind)
    plan, windows = fault_plan(bpm, f"gbfaults{tag}", seed)
    plan["frames"] = frames
    try:
        ideal = run_sender(plan, f"gbfollow{tag}:in")
        time.sleep(0.05)
    finally:
        reader.close()
    rows = np.array(reader.rows, float).reshape(-1, 6)
    rows = rows[rows[:, 1] * PPQN < ideal.size]  # (a next beat after the last tick has no truth)
    err = (rows[:, 2] - beat_times(ideal, rows[:, 1])) * 1000.0
    tick_err = (rows[:, 4] - beat_times(ideal, rows[:, 3])) * 1000.0
    tick_at = np.searchsorted(ideal, rows[:, 0] - 0.5 * 60.0 / (bpm * PPQN))  # the tick each row follows
    spb = 60.0 / bpm
    clean = np.zeros(rows.shape[0], bool)
    for name, first, _k in windows:
        if name == "clean":
            clean |= (tick_at >= first) & (tick_at < first + WINDOW)
    latency = float(np.median(err[clean]))
    table = []
    for name, first, k in windows:
        sel = (tick_at >= k) & (tick_at < first + WINDOW)
        e = np.abs(err[sel] - latency)
        t = rows[sel, 0]
        bad = np.nonzero(e > 1.0)[0]
        settle = (t[bad[-1]] - ideal[k]) / spb if bad.size else 0.0
        t_lo, t_hi = ideal[first], ideal[min(first + WINDOW, ideal.size - 1)]
        slips = [j for ts, j in reader.slips if t_lo <= ts < t_hi]
        needed = "lost" in name or "duplicate" in name
        false = len(slips) if not needed else sum(1 for j in slips if j not in (-1, 1, 3, 24))
        table.append({"fault": name, "max_ms": float(e.max()) if e.size else float("nan"), "settle_beats": float(settle),
                      "false_slips": int(false), "slips": slips, "rows": int(sel.sum())})
    f = reader.follower
    return {"latency_ms": latency, "table": table, "ticks": f.ticks_received, "reader": reader.kind, "duplicates": f.duplicates,
            "lost": f.lost_ticks, "tempo_changes": f.tempo_changes, "resyncs": f.resyncs,
            "phase_p99_ms": float(np.percentile(np.abs(err[rows[:, 0] > ideal[WARMUP_BEATS * PPQN]] - latency), 99)),
            "tick_p99_ms": float(np.percentile(np.abs(tick_err - np.median(tick_err)), 99))}


def ramp_rows(seed: int = 0, frames: bool = False, reader_kind: str = "auto") -> dict:
    """60 -> 180 BPM over 8 bars (after 2 bars at 60), then 2 bars at 180: phase of the next
    tick (the next beat is not yet known in a ramp) and of the next beat at 180."""
    tag = f"{os.getpid()}-r{seed}"
    reader = Reader(f"gbfollow{tag}", reader_kind)
    plan = {"client": f"gbramp{tag}", "bpm": [[0, 60.0], [8 * PPQN, 60.0], [40 * PPQN, 180.0]],
            "ticks": 48 * PPQN, "lead_sec": 0.3, "frames": frames}
    try:
        ideal = run_sender(plan, f"gbfollow{tag}:in")
        time.sleep(0.05)
    finally:
        reader.close()
    rows = np.array(reader.rows, float).reshape(-1, 6)
    rows = rows[rows[:, 3] * PPQN < ideal.size]
    tick_err = (rows[:, 4] - beat_times(ideal, rows[:, 3])) * 1000.0
    before = tick_err[rows[:, 0] < ideal[8 * PPQN]]
    latency = float(np.median(before if before.size else tick_err)) if tick_err.size else 0.0
    dev = np.abs(tick_err - latency) if tick_err.size else np.array([np.nan])
    f = reader.follower
    return {"phase_p99_ms": float(np.percentile(dev, 99)), "phase_max_ms": float(dev.max()),
            "bpm_end": f.bpm, "slips": len(reader.slips), "tempo_changes": f.tempo_changes, "reader": reader.kind}
