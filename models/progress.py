"""The progress protocol of every long job (preprocessing, training, ...): one JSON object per
event, the same for every job and every carrier. Torch-free, numpy-free.

An event is ``{"event": NAME, "done": i, "total": n, ...}``: ``done``/``total`` say how far the
job is (both optional for events that are not about progress), ``message`` a line for people;
any other field belongs to the job (the trainer's losses, a preprocessing report, ...). Names:
``progress`` (just progress), ``message``, ``report`` (the job's result), ``error`` (with
``message``: the one line to show), and a job's own milestones (the trainer's ``step``,
``validation``, ``checkpoint``, and its end states ``done`` / ``stopped`` / ``error``).

Two carriers, one format: a child job the app starts prints events as lines on stdout
(``write_line``; ``gui.job_child`` for preprocessing, ``groovebridge train --progress_lines``),
and a training run also keeps its latest event in its run folder's ``progress.json``
(``models.train.run_folder``), so a run can be followed from any process, or after the app
restarts. Readers take events with ``parse_line`` / ``done_total``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

PROGRESS, MESSAGE, REPORT, ERROR = "progress", "message", "report", "error"


def event(name: str, done: int | None = None, total: int | None = None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"event": name}
    if done is not None:
        out["done"] = int(done)
    if total is not None:
        out["total"] = int(total)
    out.update(fields)
    return out


def write_line(obj: dict[str, Any], stream: TextIO | None = None) -> None:
    """One event as one JSON line (flushed: the reader is waiting for it)."""
    out = stream if stream is not None else sys.stdout
    out.write(json.dumps(obj, allow_nan=False, default=str) + "\n")
    out.flush()


def parse_line(line: str) -> dict[str, Any] | None:
    """The event a line holds, or None for any other line (plain output, a torn line)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("event"), str) else None


def done_total(obj: dict[str, Any]) -> tuple[int, int] | None:
    """(done, total) of an event, total >= 1; None when it says nothing about progress.
    (Run folders written before this protocol hold ``step`` / ``num_steps``: read too.)"""
    done, total = obj.get("done", obj.get("step")), obj.get("total", obj.get("num_steps"))
    try:
        d, t = int(done), int(total)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return max(0, d), max(1, t)


class Throttle:
    """Lets an event through at most every ``interval_sec``, and always the one that
    finishes (done >= total), so a fast job does not flood its reader."""

    def __init__(self, interval_sec: float = 0.1) -> None:
        self.interval_sec = interval_sec
        self._last = -float("inf")

    def ready(self, done: int, total: int) -> bool:
        now = time.monotonic()
        if done >= total or now - self._last >= self.interval_sec:
            self._last = now
            return True
        return False
