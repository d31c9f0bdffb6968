"""A second process that writes MIDI into a JACK port at exact frames, as a DAW on JACK (or
a2jmidid) places events inside the period, unlike python-rtmidi's output (every event at frame 0).

    python tests/rigs/frame_sender.py '{"to": "GrooveBridge In:GrooveBridge In", "offsets": [0, 64, 128, 255], "every": 10, "times": 12}'

Every ``every`` periods (after 20 to settle), one note-on (channel 10, pitch 36 + i) at each of
the ``offsets`` (frames into the period), ``times`` times; prints "ready" once connected and
"done" after the last. Uses JACK-Client (python ``jack``): its process callback in this process.
"""

from __future__ import annotations

import json
import sys
import threading

import jack


def main(spec: dict) -> int:
    client = jack.Client("gbtest-frames", no_start_server=True)
    out = client.midi_outports.register("out")
    offsets, every, times = [int(o) for o in spec["offsets"]], int(spec.get("every", 10)), int(spec.get("times", 12))
    state = {"cycle": 0, "sent": 0}
    finished = threading.Event()

    @client.set_process_callback
    def process(frames: int) -> None:
        out.clear_buffer()
        k = state["cycle"]
        state["cycle"] += 1
        if k >= 20 and k % every == 0 and state["sent"] < times:
            for i, off in enumerate(offsets):
                out.write_midi_event(min(off, frames - 1), bytes([0x99, 36 + i, 100]))
            state["sent"] += 1
            if state["sent"] == times:
                finished.set()

    client.activate()
    client.connect(out, spec["to"])
    print("ready", flush=True)
    finished.wait(30)
    threading.Event().wait(0.1)
    client.deactivate()
    client.close()
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
