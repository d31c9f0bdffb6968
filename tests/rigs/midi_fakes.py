"""Stand-ins for MIDI ports in exact unit tests and benchmarks (``bridge.midi.port`` protocols):
``RecordingOutput`` records what is sent, ``FakeMidiIO`` also plays injected input."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from bridge.midi.port import InputCallback


class RecordingOutput:
    """A MIDI output that records ``(time_sec, message)``; ``now`` gives the time."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.events: list[tuple[float, tuple[int, ...]]] = []
        self._lock = threading.Lock()

    def send_message(self, message: list[int] | bytes) -> None:
        with self._lock:
            self.events.append((self.now(), tuple(message)))

    def notes(self) -> list[tuple[float, int, int]]:
        """(time, pitch, velocity) of note-ons."""
        return [(t, m[1], m[2]) for t, m in self.events if len(m) == 3 and m[0] & 0xF0 == 0x90 and m[2] > 0]

    def clear(self) -> None:
        with self._lock:
            self.events.clear()


class FakeMidiIO(RecordingOutput):
    """MidiIO stand-in: records output, ``inject`` plays input into the callback."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        super().__init__(now)
        self._callback: InputCallback | None = None
        self.reports: list[str] = []

    def set_callback(self, callback: InputCallback | None) -> None:
        self._callback = callback

    def inject(self, message: list[int], t_sec: float | None = None) -> None:
        if self._callback is not None:
            self._callback(list(message), self.now() if t_sec is None else t_sec)

    def set_input_port(self, wanted: str) -> None:
        self.input_port = wanted

    def set_output_port(self, wanted: str) -> None:
        self.output_port = wanted

    def poll(self) -> list[str]:
        reports, self.reports = self.reports, []
        return reports

    @property
    def ports(self) -> dict[str, Any]:
        return {"api": "fake", "input": "fake", "input_present": True, "output": "fake", "output_present": True}

    def close(self) -> None:
        pass
