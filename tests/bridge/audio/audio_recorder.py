"""A second JACK client process that records the preview's audio ports (for tests and benchmarks).

    python tests/bridge/audio_recorder.py OUT.npz SECONDS [SOURCE_CLIENT]

Registers ``in_L``/``in_R``, connects them to ``<SOURCE_CLIENT>:out_L``/``out_R`` as soon as
those appear, prints "ready" and records SECONDS of audio. Writes ``audio`` (frames x 2
float32), ``block_frame`` (each block's first JACK frame) and ``block_sec`` (its monotonic time,
by ``bridge.audio.output.JackTimeMap``: the same mapping the preview uses, computed here in a
process of its own) and ``connected_sec`` (when the connection was made)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import jack
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from bridge.audio.output import JackTimeMap  # noqa: E402


def main() -> int:
    out, seconds = sys.argv[1], float(sys.argv[2])
    source = sys.argv[3] if len(sys.argv) > 3 else "GrooveBridge Preview"
    client = jack.Client("groovebridge-recorder", no_start_server=True)
    ports = [client.inports.register(n) for n in ("in_L", "in_R")]
    timemap = JackTimeMap(client)
    blocks: list[np.ndarray] = []
    frames_at: list[int] = []
    secs: list[float] = []
    recording = threading.Event()

    @client.set_process_callback
    def process(frames: int) -> None:
        if not recording.is_set():
            return
        frame, sec, _ = timemap.cycle_start(time.monotonic(), frames)  # the preview's own rule
        blocks.append(np.stack([ports[0].get_array().copy(), ports[1].get_array().copy()], axis=1))
        frames_at.append(frame)
        secs.append(sec)
        timemap.update()

    client.activate()
    print("ready", flush=True)
    deadline = time.monotonic() + 30.0
    while True:  # the ports appear when the client registers them, connect once it is active
        names = {p.name for p in client.get_ports(is_audio=True, is_output=True)}
        try:
            if f"{source}:out_L" not in names or f"{source}:out_R" not in names:
                raise jack.JackError("not there yet")
            client.connect(f"{source}:out_L", ports[0])
            client.connect(f"{source}:out_R", ports[1])
            break
        except jack.JackError:
            if time.monotonic() > deadline:
                print(f"could not connect {source}:out_L/out_R", file=sys.stderr)
                return 1
            time.sleep(0.01)
    connected = time.monotonic()
    recording.set()
    print("recording", flush=True)
    time.sleep(seconds)
    recording.clear()
    time.sleep(0.05)
    client.deactivate()
    client.close()
    np.savez(out, audio=np.concatenate(blocks) if blocks else np.zeros((0, 2), np.float32),
             block_frame=np.array(frames_at, np.int64), block_sec=np.array(secs), connected_sec=connected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
