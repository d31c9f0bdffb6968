"""A separate process that plays MIDI into a JACK port at given monotonic times (used by the
JACK capture test and ``benchmarks/jack_bench.Sender``).

stdin: a JSON line {"port": substring, "monitor": bool}, then a JSON line of events
[[t_sec, [bytes...]], ...] (CLOCK_MONOTONIC is shared by every process, so times from the
test's clock apply here). Prints "ready" once the port is open, then plays, then prints the
JSON list of the times it really sent each message. Own process: no GIL shared with the engine.
With ``"monitor": true`` a second client of its own reads the player's output port too and a
second JSON list follows: when JACK delivered each message (what any receiver could know).
"""

from __future__ import annotations

import json
import sys
import threading
import time

import rtmidi


def delivered(arrivals: list[tuple[float, float]]) -> list[float]:
    """Monotonic delivery times from (read time, rtmidi delta) pairs: the summed deltas (JACK's
    own times) anchored on the least-delayed read of the whole take. Computed here, after the
    fact, rather than with the engine's ``ArrivalClock``: the reference the capture test holds
    the engine to must not share the engine's code."""
    summed, total = [], 0.0
    for i, (_read, delta) in enumerate(arrivals):
        total += delta if i else 0.0
        summed.append(total)
    anchor = min((read - s for (read, _d), s in zip(arrivals, summed, strict=True)), default=0.0)
    return [s + anchor for s in summed]


def main() -> int:
    spec = json.loads(sys.stdin.readline())
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="gbtest-player")
    names = out.get_ports()
    idx = next((i for i, n in enumerate(names) if spec["port"].lower() in n.lower()), None)
    if idx is None:
        print(f"port {spec['port']!r} not in {names}", flush=True)
        return 1
    out.open_port(idx)
    arrivals: list[tuple[float, float]] = []  # (monotonic when read, rtmidi delta)
    monitor, drainer, stop = None, None, threading.Event()
    if spec.get("monitor"):
        monitor = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="gbtest-monitor")
        mine = next(i for i, n in enumerate(monitor.get_ports()) if "gbtest-player" in n)
        monitor.open_port(mine)

        def drain() -> None:  # polled, not a callback: rtmidi's JACK callback loses events under load
            while not stop.is_set():
                item = monitor.get_message()
                if item is None:
                    time.sleep(0.0005)
                else:
                    arrivals.append((time.monotonic(), item[1]))

        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
    print("ready", flush=True)
    events = json.loads(sys.stdin.readline())
    sent: list[float] = []
    for t, message in events:
        while (left := t - time.monotonic()) > 0.002:
            time.sleep(left - 0.002)
        while time.monotonic() < t:
            pass
        before = time.monotonic()
        out.send_message(message)
        sent.append((before + time.monotonic()) / 2)
    time.sleep(0.05)
    print(json.dumps(sent), flush=True)
    if monitor is not None:
        print(json.dumps(delivered(arrivals)), flush=True)
    stop.set()
    if drainer is not None:
        drainer.join()
    for client in (out, monitor):  # closed, not left to exit: a vanished client stalls a -S server
        if client is not None:
            client.close_port()
            client.delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())
