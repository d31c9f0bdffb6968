"""A second Ableton Link peer for tests: reads commands on stdin, prints its state.

Commands (one a line): ``tempo BPM``, ``play``, ``stop``, ``quit``. Every 50 ms it prints
``peers TEMPO PLAYING BEAT`` so the test can watch it.
"""

from __future__ import annotations

import asyncio
import sys

import aalink


async def main() -> None:
    link = aalink.Link(float(sys.argv[1]) if len(sys.argv) > 1 else 120.0)
    link.quantum = 4
    link.start_stop_sync_enabled = True
    link.enabled = True
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def report() -> None:
        while True:
            print(f"{link.num_peers} {link.tempo:.3f} {int(link.playing)} {link.beat:.3f}", flush=True)
            await asyncio.sleep(0.05)

    task = asyncio.create_task(report())
    while True:
        line = (await reader.readline()).decode().split()
        if not line or line[0] == "quit":
            break
        if line[0] == "tempo":
            link.tempo = float(line[1])
        elif line[0] == "play":
            link.playing = True
        elif line[0] == "stop":
            link.playing = False
    task.cancel()
    link.enabled = False


if __name__ == "__main__":
    asyncio.run(main())
