"""The run-folder format (models.train.run_folder): one module writes and reads it, without torch."""

from __future__ import annotations

import json
import subprocess
import sys

from models.train import run_folder as rf


def _ckpt(run, step, val_loss=None, prior=False):
    d = run / rf.CKPT_SUBDIR / rf.checkpoint_name(step)
    d.mkdir(parents=True)
    (d / rf.MODEL_FILE).write_bytes(b"weights")
    extra = {} if val_loss is None else {"val_loss": val_loss}
    (d / rf.STATE_FILE).write_text(json.dumps({"step": step, "extra": extra}))
    if prior:
        for f in rf.PRIOR_FILES:
            (d / f).write_bytes(b"x")
    return d


def test_importing_it_does_not_import_torch():
    code = "import sys, models.train.run_folder; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_progress_round_trip_and_damage(tmp_path):
    run = tmp_path / "run"
    assert rf.read_progress(run) is None and rf.progress_mtime(run) is None
    rf.write_progress(run, {"state": "running", "step": 3})
    assert rf.read_progress(run) == {"state": "running", "step": 3}
    (run / rf.PROGRESS_FILE).write_text('{"state": "runn')  # torn write: next poll
    assert rf.read_progress(run) is None
    (run / rf.PROGRESS_FILE).write_text("[1, 2]")
    assert rf.read_progress(run) is None


def test_metrics_tail_reads_only_complete_new_rows(tmp_path):
    fields = ("time_unix", "split", "step", "loss")
    tail = rf.MetricsTail(tmp_path)
    assert tail.read_new() == []
    rf.append_metrics(tmp_path, fields, {"time_unix": 1.0, "split": "train", "step": 10, "loss": 2.5})
    assert tail.read_new() == [{"time_unix": 1.0, "split": "train", "step": 10.0, "loss": 2.5}]
    assert tail.read_new() == []
    with open(tmp_path / rf.METRICS_FILE, "a", encoding="utf-8") as f:
        f.write("2.0,validation,20,")  # a row still being written
    assert tail.read_new() == []
    with open(tmp_path / rf.METRICS_FILE, "a", encoding="utf-8") as f:
        f.write("1.75\n")
    assert tail.read_new() == [{"time_unix": 2.0, "split": "validation", "step": 20.0, "loss": 1.75}]
    assert rf.validation_losses(tmp_path) == {20: 1.75}


def test_read_checkpoints_newest_first_best_by_loss_from_state_or_metrics(tmp_path):
    run = tmp_path
    _ckpt(run, 100, val_loss=3.0)
    _ckpt(run, 200, prior=True)  # written before its validation: loss from metrics.csv
    _ckpt(run, 300, val_loss=2.5)
    (run / rf.CKPT_SUBDIR / "ckpt-00000400").mkdir()  # half-written: no weights
    (run / rf.CKPT_SUBDIR / "best").write_text("ckpt-00000300\n")
    rf.append_metrics(run, ("split", "step", "loss"), {"split": "validation", "step": 200, "loss": 1.5})
    got = rf.read_checkpoints(run)
    assert [c["step"] for c in got] == [300, 200, 100]
    assert [c["val_loss"] for c in got] == [2.5, 1.5, 3.0]
    assert [c["best"] for c in got] == [False, True, False]
    assert [c["prior"] for c in got] == [False, True, False]
    assert rf.latest_checkpoint(run).name == "ckpt-00000300"


def test_pointer_leaving_the_folder_is_ignored(tmp_path):
    _ckpt(tmp_path, 1)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / rf.MODEL_FILE).write_bytes(b"w")
    (tmp_path / rf.CKPT_SUBDIR / "best").write_text("../elsewhere\n")
    assert rf.best_checkpoint(tmp_path) is None
    assert rf.read_checkpoints(tmp_path)[0]["best"] is False
