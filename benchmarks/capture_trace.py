"""Where did a captured hit go missing? (bench_sync_scenario, issue 22). Not a benchmark itself.

A played hit passes: the sender's send log (``clock_fault_sender.py``: handed to rtmidi) ->
JACK -> ``jack_midi_dump`` (a second, independent reader of the sender's port, a C client) and
GrooveBridge's input (``serve_input_trace.py``: every raw event its reader thread handed on,
whether the echo filter dropped it, the beat the clock gave it, whether the capture buffer kept
it) -> the capture window (its start beat and each hit's refined beat) -> the quantised slot.
``explain`` follows each missing hit of a capture along that path and names the first place it
is no longer there:

* ``never sent``: not in the sender's send log;
* ``lost before any reader``: sent, but neither jack_midi_dump nor GrooveBridge read it (lost in
  the sender's JACK client or JACK);
* ``lost at GrooveBridge's JACK input``: jack_midi_dump read it, GrooveBridge's reader never
  handed it on (JACK's asynchronous delivery to that client, or rtmidi's input);
* ``dropped as an echo``, ``not kept by the capture buffer``: read, then dropped by our code;
* ``outside the capture window`` / ``quantised to step S`` (``merged into step S`` when that
  step already held the class): kept, then placed elsewhere by the window maths.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from note_streams import JackMidiDump

from models.groove import STEPS_PER_QUARTER

_DUMP_LINE = re.compile(r"^\s*(\d+):\s*((?:[0-9a-f]{2} ?)+)")
MATCH_SEC = 0.05  # a read event belongs to a sent one of the same bytes within this time
LATE_MATCH_SEC = 0.3  # ... or, second pass, one read up to this much later (a stalled JACK)
LATE_READ_SEC = 0.01  # read later than this after the send: say how long the input was silent
# A note is written into the sender's port in the sender's next JACK cycle after the send; a
# reader late for that cycle ("was not finished") may find the next cycle's buffer instead.
LATE_BEFORE_SEC = 0.001
LATE_AFTER_SEC = 0.006


@dataclass(frozen=True)
class PlayedHit:
    """One note the sender played for a capture: its slot, step and class in the file's groove."""

    slot: str
    step: int
    drum_class: int
    message: tuple[int, ...]
    index: int  # its place among the sender's note messages


class DumpReader(JackMidiDump):
    """``jack_midi_dump -a CLIENT``: every event with its absolute frame time."""

    def __init__(self, client: str) -> None:
        super().__init__(client, absolute=True)

    def connect(self, source: str) -> None:
        for _ in range(100):
            if subprocess.run(["jack_connect", source, f"{self.client}:input"], capture_output=True).returncode == 0:
                return
            time.sleep(0.05)
        raise SystemExit(f"jack_midi_dump could not connect to {source}")

    def finish(self) -> list[tuple[int, tuple[int, ...]]]:
        return parse_dump(self.stop())


class JackLog:
    """jackd's own output (``private_jack_server(log_dir=...)``), each new line stamped with
    ``time.monotonic()`` when read (read every 2 ms: jackd writes its errors unbuffered), so a
    lost event can be set against what the server said then ("client = X was not finished")."""

    def __init__(self, path: Path | None) -> None:
        self.lines: list[tuple[float, str]] = []
        self._path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        if path is not None:
            self._thread.start()

    def _run(self) -> None:
        assert self._path is not None
        with open(self._path, errors="replace") as fh:
            fh.seek(0, 2)
            rest = ""
            while not self._stop.is_set():
                chunk = fh.read()
                if chunk:
                    now = time.monotonic()
                    *done, rest = (rest + chunk).split("\n")
                    self.lines += [(now, line) for line in done if line.strip()]
                time.sleep(0.002)

    def late_clients(self, t: float, before: float = LATE_BEFORE_SEC, after: float = LATE_AFTER_SEC) -> list[str]:
        """Clients jackd reported late for a cycle ("was not finished") from ``before`` before
        ``t`` to ``after`` after it (its line is read up to 2 ms after it was written)."""
        return late_clients(self.lines, t, before, after)

    def client_xruns(self, t0: float, t1: float) -> dict[str, int]:
        """Per client, how often jackd said it "was not finished" (late for its cycle) in [t0, t1]."""
        out: dict[str, int] = {}
        for lt, line in list(self.lines):
            m = re.search(r"client = (.+?) was not (?:finished|run)", line)
            if m and t0 <= lt <= t1:
                out[m.group(1)] = out.get(m.group(1), 0) + 1
        return out

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(1.0)


def late_clients(lines: list[Any], t: float, before: float = 0.0, after: float = 0.006) -> list[str]:
    """``JackLog.late_clients`` on saved ``JackLog.lines``."""
    out = []
    for lt, line in lines:
        if -before <= lt - t <= after:
            m = re.search(r"client = (.+?) was not (?:finished|run)", line)
            if m and m.group(1) not in out:
                out.append(m.group(1))
    return out


def parse_dump(text: str) -> list[tuple[int, tuple[int, ...]]]:
    """``jack_midi_dump -a`` output: (frame, bytes) per event."""
    events = []
    for line in text.splitlines():
        m = _DUMP_LINE.match(line)
        if m is not None:
            events.append((int(m.group(1)), tuple(int(x, 16) for x in m.group(2).split())))
    return events


def align(sent: list[tuple[int, ...]], got: list[tuple[int, ...]], lookahead: int = 16) -> list[bool]:
    """For each sent message, whether the ordered stream ``got`` holds it (greedy alignment: a
    received message that matches a later sent one marks those in between as missing)."""
    found = [False] * len(sent)
    i = j = 0
    while i < len(sent) and j < len(got):
        if sent[i] == got[j]:
            found[i] = True
            i += 1
            j += 1
            continue
        if i > 0 and found[i - 1] and got[j] == sent[i - 1]:
            j += 1  # read twice (asynchronous JACK: a late reader read the same buffer again)
            continue
        skip = next((k for k in range(i + 1, min(len(sent), i + lookahead)) if sent[k] == got[j]), None)
        if skip is None:
            j += 1  # never sent (or out of order): ignore it
        else:
            i = skip
    return found


def read_trace(path: Path) -> dict[str, list[Any]]:
    rows: dict[str, list[Any]] = {"in": [], "add": [], "sent": [], "window": [], "clear": [], "echo": []}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # a line cut by the process's end
            continue
        rows.setdefault(row[0], []).append(row[1:])
    return rows


def _nearest(rows: list[Any], t: float, message: tuple[int, ...], used: set[int],
             before: float = MATCH_SEC, after: float = MATCH_SEC) -> int | None:
    best = None
    for i, row in enumerate(rows):
        if i not in used and tuple(row[1]) == message and -before < row[0] - t < after:
            if best is None or abs(row[0] - t) < abs(rows[best][0] - t):
                best = i
    return best


def send_times(notes: list[tuple[int, ...]], sent_log: list[Any]) -> list[float | None]:
    """When the sender handed each planned note to rtmidi (its send log); None: never sent."""
    sent_notes = [(t, tuple(m)) for t, m in sent_log if len(m) == 3 and m[0] & 0xF0 == 0x90]
    found = align(notes, [m for _t, m in sent_notes])
    times: list[float | None] = []
    k = 0
    for i, ok in enumerate(found):
        t = None
        if ok:
            while k < len(sent_notes) and sent_notes[k][1] != notes[i]:
                k += 1
            if k < len(sent_notes):
                t = sent_notes[k][0]
                k += 1
        times.append(t)
    return times


def match_reads(notes: list[tuple[int, ...]], times: list[float | None], reads: list[Any]) -> list[int | None]:
    """For each sent note, the row of ``reads`` (the trace's "in") that is it: by time, the
    nearest of the same bytes within MATCH_SEC; then, for those left, the first one read up to
    LATE_MATCH_SEC later (delivered late). A note read twice or out of order cannot confuse it."""
    used: set[int] = set()
    out: list[int | None] = [None] * len(notes)
    for late in (False, True):
        for i, t in enumerate(times):
            if t is None or out[i] is not None:
                continue
            j = _nearest(reads, t, notes[i], used, MATCH_SEC, LATE_MATCH_SEC if late else MATCH_SEC)
            if j is not None:
                used.add(j)
                out[i] = j
    return out


def input_gap_ms(reads: list[Any], t0: float, t1: float) -> float:
    """The longest time GrooveBridge's input read nothing at all (clock ticks included) between
    ``t0`` and ``t1``: a stalled JACK shows as a gap, the ticks of it then read in one burst."""
    ts = [t0] + sorted(r[0] for r in reads if t0 < r[0] < t1) + [t1]
    return max(b - a for a, b in zip(ts, ts[1:], strict=False)) * 1000.0


def explain(played: list[PlayedHit], missing: dict[str, set[tuple[int, int]]], sent_log: list[Any],
            dump: list[tuple[int, tuple[int, ...]]] | None, trace: dict[str, list[Any]],
            windows: dict[str, tuple[float, float]]) -> list[dict[str, Any]]:
    """One record per missing (slot, step, class): the played note(s) behind it and where each
    was lost. ``sent_log``: the sender's [[t, bytes], ...] (its Start first); ``windows``: slot
    -> (start beat, bpm) of the capture window; ``missing``: slot -> {(step, class)}."""
    notes = [n.message for n in played]
    dump_found = align(notes, [m for _f, m in dump if len(m) == 3 and m[0] & 0xF0 == 0x90]) if dump is not None else None
    sent_at = send_times(notes, sent_log)
    reads = match_reads(notes, sent_at, trace["in"])
    used_add: set[int] = set()
    records = []
    for hit in played:
        if (hit.step, hit.drum_class) not in missing.get(hit.slot, set()):
            continue
        rec: dict[str, Any] = {"slot": hit.slot, "step": hit.step, "class": hit.drum_class, "message": list(hit.message)}
        records.append(rec)
        t_sent = sent_at[hit.index]
        if t_sent is None:
            rec["lost"] = "never sent"
            continue
        rec["sent_t"] = t_sent
        i_in = reads[hit.index]
        dumped = None if dump_found is None else dump_found[hit.index]
        rec["jack_midi_dump"] = dumped
        if i_in is None:
            rec["lost"] = ("lost at GrooveBridge's JACK input" if dumped else
                           "lost before any reader" if dumped is False else "not read by GrooveBridge (no dump)")
            continue
        t_in = trace["in"][i_in][0]
        rec["read_ms_after_send"] = (t_in - t_sent) * 1000.0
        late = ""
        if t_in - t_sent > LATE_READ_SEC:
            rec["input_silent_ms"] = input_gap_ms(trace["in"], t_sent - 0.05, t_in)
            late = f"; read {(t_in - t_sent) * 1000:.0f} ms after it was sent, the input silent for {rec['input_silent_ms']:.0f} ms"
        if any(row[0] == t_in and row[2] == "dropped" for row in trace["echo"]):
            rec["lost"] = "dropped as an echo"
            continue
        i_add = _nearest(trace["add"], t_in, hit.message, used_add)
        if i_add is None or not trace["add"][i_add][3]:
            rec["lost"] = "not kept by the capture buffer (transport not playing or map)"
            continue
        used_add.add(i_add)
        beat = trace["add"][i_add][2]
        rec["beat"] = beat
        start, _bpm = windows[hit.slot]
        refined = next((w[2] for win in trace["window"] if win[0] == start for w in win[3]
                        if abs(w[0] - t_in) < 1e-9), beat)
        rec["refined_beat"] = refined
        pos = (refined - start) * STEPS_PER_QUARTER
        step = int(pos + 0.5 + 1e6) - 1_000_000
        rec["step_got"] = step
        if not 0 <= step < 64:
            rec["lost"] = f"outside the capture window (step {step})"
        elif step != hit.step:
            taken = any(p.slot == hit.slot and p.step == step and p.drum_class == hit.drum_class for p in played)
            rec["lost"] = f"{'merged into' if taken else 'quantised to'} step {step} (played for {hit.step}, {pos - hit.step:+.3f} steps{late})"
        else:
            rec["lost"] = "in GrooveBridge after the window (unexplained)"
    return records


def summary(records: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in records:
        key = r["lost"].split(" (")[0] if not r["lost"].startswith(("merged", "quantised")) else "quantised elsewhere"
        out[key] = out.get(key, 0) + 1
    return out


def delivery(played: list[PlayedHit], sent_log: list[Any], dump: list[tuple[int, tuple[int, ...]]] | None,
             trace: dict[str, list[Any]], jack_lines: list[Any], client: str = "GrooveBridge In") -> dict[str, Any]:
    """Every played note (not only the captured ones' misses): how many each reader got, how
    many were lost at both / at one, and how often jackd reported ``client`` late for a cycle
    around the send of a note it lost against around one it got (the baseline)."""
    notes = [n.message for n in played]
    times = send_times(notes, sent_log)
    sent_found = [t is not None for t in times]
    reads = match_reads(notes, times, trace["in"])
    ours = [j is not None for j in reads]
    theirs = align(notes, [m for _f, m in dump if len(m) == 3 and m[0] & 0xF0 == 0x90]) if dump is not None else [True] * len(notes)
    out: dict[str, Any] = {"played": len(notes), "sent": sum(sent_found), "read_by_groovebridge": sum(ours),
                           "read_by_jack_midi_dump": sum(theirs) if dump is not None else None}
    lost_ours = [i for i in range(len(notes)) if sent_found[i] and not ours[i]]
    out["lost_before_any_reader"] = sum(1 for i in lost_ours if not theirs[i])
    out["lost_at_groovebridge_only"] = sum(1 for i in lost_ours if theirs[i])
    waits = [trace["in"][j][0] - t for j, t in zip(reads, times, strict=True) if j is not None and t is not None]
    out["read_late"] = sum(w > LATE_READ_SEC for w in waits)  # read over 10 ms after the send
    out["read_latency_max_ms"] = max(waits, default=0.0) * 1000.0
    out["lost_at_jack_midi_dump_only"] = sum(1 for i in range(len(notes)) if sent_found[i] and ours[i] and not theirs[i])

    def late(i: int) -> bool:
        t = times[i]
        return t is not None and client in late_clients(jack_lines, t, LATE_BEFORE_SEC, LATE_AFTER_SEC)

    got = [i for i in range(len(notes)) if ours[i] and times[i] is not None]
    out["client_late_when_lost"] = f"{sum(late(i) for i in lost_ours)}/{len(lost_ours)}"
    out["client_late_when_read"] = f"{sum(late(i) for i in got)}/{len(got)}"
    return out
