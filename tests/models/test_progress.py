"""The progress protocol of every long job (models.progress)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from models import progress as pg


def test_event_line_round_trip_and_other_lines_ignored():
    buf = io.StringIO()
    pg.write_line(pg.event(pg.PROGRESS, 3, 10, file="a.mid"), buf)
    line = buf.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    assert pg.parse_line(line) == {"event": "progress", "done": 3, "total": 10, "file": "a.mid"}
    for other in ("", "reading files", '{"no_event": 1}', '{"event": 3}', '{"event": "pro', "[1, 2]"):
        assert pg.parse_line(other) is None


def test_done_total_reads_both_keys_and_refuses_non_numbers():
    assert pg.done_total({"event": "progress", "done": 5, "total": 0}) == (5, 1)
    assert pg.done_total({"event": "step", "step": 7, "num_steps": 20}) == (7, 20)  # older run folders
    assert pg.done_total({"event": "report"}) is None
    assert pg.done_total({"event": "progress", "done": "x", "total": 3}) is None


def test_throttle_lets_the_last_event_through():
    t = pg.Throttle(3600.0)
    assert t.ready(0, 10) is True
    assert t.ready(1, 10) is False
    assert t.ready(10, 10) is True


def test_preprocess_child_speaks_the_protocol(tmp_path):
    """gui.job_child (the app's preprocessing child) prints only protocol events."""
    src = tmp_path / "midi"
    src.mkdir()
    (src / "not_midi.mid").write_bytes(b"garbage")
    out = subprocess.run([sys.executable, "-m", "gui.job_child", "preprocess", "--input_dir", str(src),
                          "--output_file", str(tmp_path / "ds.gbds")], capture_output=True, text=True, timeout=120)
    events = [pg.parse_line(line) for line in out.stdout.splitlines()]
    assert events and all(e is not None for e in events), out.stdout
    last = events[-1]
    assert last["event"] in ("report", "error")
    if last["event"] == "error":
        assert out.returncode == 2 and last["message"]
    json.dumps(events)  # plain JSON all the way
