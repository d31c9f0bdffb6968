"""A MIDI clock master in its own process that injects faults (for bench_clock_follow --faults
and tests/bridge/test_sync_jack.py). Not a benchmark itself.

    python benchmarks/clock_fault_sender.py PLAN.json

PLAN: {"client": JACK client name, "bpm": float or [[tick, bpm], ...] (the tempo from each
tick on, linear in between: a ramp), "ticks": n, "duplicates": [tick, ...], "drops": [tick,
...], "jitter": [[first, last, sigma_ms], ...], "lead_sec": float, "notes": [[beat, [bytes]], ...]
(messages sent at the master's time of that beat, between the ticks: a groove played along),
"stop_at": tick or null, "frames": bool}.
With ``"frames": true`` it writes through a JACK-Client process callback, each message at its
frame inside the period (as a DAW on JACK does: due - the callback's time, in frames), instead
of rtmidi's output (every message at the frame the period starts with).
It opens a JACK MIDI output ``<client>:out``, prints "ready", waits for a line on stdin
(the reader connects it meanwhile), sends Start then the ticks at their ideal times (plus
the jitter), and prints one JSON line: {"ideal": [time.monotonic() of each tick as meant],
"sent": [[time.monotonic() after the send, [bytes]], ...] for every message but the clock ticks
(its own send log: what it handed to rtmidi), "ticks_sent": n, "send_errors": [...]}.
CLOCK_MONOTONIC is shared by every process of the machine, so the reader compares its own
readings with these directly.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np


def tempo_fn(spec):
    if isinstance(spec, (int, float)):
        return lambda _k: float(spec)
    points = sorted((int(k), float(b)) for k, b in spec)
    ks = np.array([k for k, _ in points], float)
    bs = np.array([b for _, b in points], float)
    return lambda k: float(np.interp(k, ks, bs))


class FrameOut:
    """The rtmidi ``MidiOut`` calls used below, through a JACK-Client port whose process
    callback writes each queued message at its due time's frame (``send_at``)."""

    def __init__(self, client_name: str) -> None:
        import collections
        import threading

        import jack

        self.client = jack.Client(client_name, no_start_server=True)
        self.port = self.client.midi_outports.register("out")
        self.rate = float(self.client.samplerate)
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.lock = threading.Lock()
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        self.port.clear_buffer()
        now = time.monotonic()
        end = now + frames / self.rate
        last = 0
        with self.lock:
            while self.queue and self.queue[0][0] < end:
                due, data = self.queue.popleft()
                last = max(last, min(frames - 1, int(round((due - now) * self.rate))))
                self.port.write_midi_event(last, data)  # (in order: never before the previous)

    def send_at(self, due: float, message: list[int]) -> None:
        with self.lock:
            self.queue.append((due, bytes(message)))

    def send_message(self, message: list[int]) -> None:
        self.send_at(0.0, message)

    def set_error_callback(self, _fn: object) -> None:
        pass

    def close_port(self) -> None:
        self.client.deactivate()

    def delete(self) -> None:
        self.client.close()


def main() -> int:
    import rtmidi

    plan = json.loads(open(sys.argv[1]).read())
    frames = bool(plan.get("frames"))
    out: Any = FrameOut(plan["client"]) if frames else rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=plan["client"])
    if not frames:
        out.open_virtual_port("out")
    print("ready", flush=True)
    sys.stdin.readline()
    bpm_at = tempo_fn(plan["bpm"])
    n = int(plan["ticks"])
    dups, drops = set(plan.get("duplicates", ())), set(plan.get("drops", ()))
    rng = np.random.default_rng(int(plan.get("seed", 0)))
    jitter = np.zeros(n)
    for first, last, sigma_ms in plan.get("jitter", ()):
        m = last - first
        jitter[first:last] = np.clip(rng.normal(0.0, sigma_ms / 1000.0, m), -3 * sigma_ms / 1000, 3 * sigma_ms / 1000)
    stop_at = plan.get("stop_at")
    ideal = np.empty(n)
    t = time.monotonic() + float(plan.get("lead_sec", 0.3))
    for k in range(n):
        ideal[k] = t
        t += 60.0 / (bpm_at(k) * 24)
    events: list[tuple[float, int, list[int]]] = []  # (due, order, message)
    for k in range(n):
        if k not in drops:
            events += [(ideal[k] + jitter[k], 0, [0xF8])] * (2 if k in dups else 1)
        if stop_at is not None and k == stop_at:
            events.append((ideal[k] + jitter[k], 1, [0xFC]))
    for beat, message in plan.get("notes", ()):
        events.append((float(np.interp(beat * 24, np.arange(n), ideal)), 2, list(message)))
    events.sort(key=lambda e: (e[0], e[1]))
    due_start = ideal[0] - 0.005
    while time.monotonic() < due_start:
        time.sleep(0.0005)
    sent: list[tuple[float, list[int]]] = []
    errors: list[str] = []
    ticks_sent = 0
    out.set_error_callback(lambda _kind, text, _data: errors.append(text))  # rtmidi's warnings too

    def send(message: list[int]) -> None:
        nonlocal ticks_sent
        try:
            out.send_message(message)
        except Exception as e:  # rtmidi warns (full ring buffer) through an exception: log it
            errors.append(f"{message}: {e}")
            return
        if message == [0xF8]:
            ticks_sent += 1
        else:
            sent.append((time.monotonic(), message))

    send([0xFA])
    for due, _order, message in events:
        if frames:  # handed over a little ahead: the process callback places it on its frame
            while due - time.monotonic() > 0.02:
                time.sleep(0.005)
            out.send_at(due, message)
            if message == [0xF8]:
                ticks_sent += 1
            else:
                sent.append((due, message))
            continue
        while True:
            left = due - time.monotonic()
            if left <= 0:
                break
            time.sleep(left - 0.001 if left > 0.0015 else 0)  # sleep, then spin the last ms
        send(message)
    time.sleep(0.05)
    out.close_port()
    out.delete()
    print(json.dumps({"ideal": ideal.tolist(), "sent": sent, "ticks_sent": ticks_sent, "send_errors": errors}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
