"""How a long job's messages and times read in the app: a child's exception line without its
class name (``readable``), a duration as m:ss or h:mm:ss (``fmt_duration``)."""

from __future__ import annotations

import re

_EXC_LINE = re.compile(r"^[\w.]*(?:Error|Exception): (.+)$")


def readable(message: str) -> str:
    """``"ValueError: no MIDI files in x"`` -> ``"no MIDI files in x"``; other text as it is."""
    m = _EXC_LINE.match(message.strip())
    return m.group(1) if m else message.strip()


def fmt_duration(sec: float | None) -> str:
    """Seconds as ``m:ss`` (``h:mm:ss`` from an hour); "–" when unknown."""
    if sec is None or sec != sec or sec == float("inf"):
        return "–"
    sec = int(sec)
    h, rem = divmod(sec, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60:d}:{rem % 60:02d}"
