"""`groovebridge serve` with a trace of its MIDI input path, for bench_sync_scenario (issue 22:
where does an asynchronous capture lose a hit?). Not product behaviour: a wrapper that patches
methods of this process only, then runs the ordinary CLI.

    GROOVEBRIDGE_INPUT_TRACE=FILE python benchmarks/serve_input_trace.py serve [serve options]

One JSON line per event, written as it happens (the file is line-buffered):

* ``["in", t, [bytes]]``: every raw event the input reader hands to ``MidiIO._on_input``
  (after rtmidi's queue, before the echo filter) and its arrival time;
* ``["echo", t, [pitch, velocity], verdict]``: each input note-on the echo filter matched with
  a note we sent (``bridge.midi.echo``): "dropped" (an echo) or "kept" (no loop: played);
* ``["add", t, [bytes], beat, stored]``: each note handed to ``CaptureBuffer.add`` with the
  beat the clock gave it, and whether the buffer kept it;
* ``["sent", t, [bytes]]``: each note-on GrooveBridge sent (what the echo filter compares with);
* ``["window", start_beat, num_bars, bpm, [[t, beat, refined_beat, class, velocity], ...]]``:
  each capture window quantised, with every buffered hit near it;
* ``["clear", t]``: the capture buffer cleared (a transport start).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_LOCK = threading.Lock()


def _writer(path: str):
    fh = open(path, "w", buffering=1)  # noqa: SIM115 - open for the life of the process

    def write(*row: object) -> None:
        line = json.dumps(row)
        with _LOCK:
            fh.write(line + "\n")

    return write


def install(path: str) -> None:
    """Patch the input path of this process to trace into ``path``."""
    from bridge.engine.capture import CaptureBuffer
    from bridge.midi.echo import EchoFilter
    from bridge.midi.ports import MidiIO

    write = _writer(path)
    on_input, send, add, is_echo = MidiIO._on_input, MidiIO.send_message, CaptureBuffer.add, EchoFilter.is_echo
    window, clear = CaptureBuffer.window, CaptureBuffer.clear

    def traced_on_input(self, message, t_sec):  # type: ignore[no-untyped-def]
        write("in", t_sec, list(message))
        return on_input(self, message, t_sec)

    def traced_is_echo(self, pitch, velocity, t_sec):  # type: ignore[no-untyped-def]
        kept = self.kept_matches
        echo = is_echo(self, pitch, velocity, t_sec)
        if echo or self.kept_matches != kept:
            write("echo", t_sec, [pitch, velocity], "dropped" if echo else "kept")
        return echo

    def traced_send(self, message):  # type: ignore[no-untyped-def]
        if len(message) == 3 and message[0] & 0xF0 == 0x90 and message[2] > 0:
            write("sent", time.monotonic(), list(message))
        return send(self, message)

    def traced_add(self, message, t_sec, beat):  # type: ignore[no-untyped-def]
        hit = add(self, message, t_sec, beat)
        write("add", t_sec, list(message), beat, hit is not None)
        return hit

    def traced_window(self, start_beat, num_bars=4, bpm=120.0):  # type: ignore[no-untyped-def]
        end = start_beat + num_bars * 4
        near = [[h.t_sec, h.beat, self._refined_beat(h, bpm), h.drum_class, h.velocity]
                for h in self.hits() if start_beat - 1.0 <= h.beat < end + 1.0]
        write("window", start_beat, num_bars, bpm, near)
        return window(self, start_beat, num_bars, bpm)

    def traced_clear(self):  # type: ignore[no-untyped-def]
        write("clear", time.monotonic())
        return clear(self)

    MidiIO._on_input = traced_on_input  # type: ignore[method-assign]
    MidiIO.send_message = traced_send  # type: ignore[method-assign]
    EchoFilter.is_echo = traced_is_echo  # type: ignore[method-assign]
    CaptureBuffer.add = traced_add  # type: ignore[method-assign]
    CaptureBuffer.window = traced_window  # type: ignore[method-assign]
    CaptureBuffer.clear = traced_clear  # type: ignore[method-assign]


def main() -> int:
    path = os.environ.get("GROOVEBRIDGE_INPUT_TRACE")
    if path:
        install(path)
    from groovebridge.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
