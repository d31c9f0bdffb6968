"""A separate process that plays MIDI into a JACK port at given monotonic times (used by the
JACK capture test and ``benchmarks/jack_bench.Sender``).

stdin: JSON {"port": substring, "events": [[t_sec, [bytes...]], ...]} (CLOCK_MONOTONIC is
shared by every process, so times from the test's clock apply here). Prints "ready" once the
port is open, then plays, then prints the JSON list of the times it really sent each message. Own process: no GIL shared with the engine.
"""

from __future__ import annotations

import json
import sys
import time

import rtmidi


def main() -> int:
    spec = json.loads(sys.stdin.readline())
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="gbtest-player")
    names = out.get_ports()
    idx = next((i for i, n in enumerate(names) if spec["port"].lower() in n.lower()), None)
    if idx is None:
        print(f"port {spec['port']!r} not in {names}", flush=True)
        return 1
    out.open_port(idx)
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
    out.close_port()
    return 0


if __name__ == "__main__":
    sys.exit(main())
