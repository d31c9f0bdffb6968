"""Checkpoint fault injection: SIGKILL during training, disk full, pickle payloads, wrong tensors.

* 50 SIGKILLs at random moments of a real training process (``kill_harness``): after every
  kill each ``ckpt-*`` directory present loads, the next run resumes from the newest step,
  and the killed-and-resumed run ends bit-identical to a run that was never killed.
* Disk full while writing a checkpoint (ENOSPC injected into the writer, and a real
  RLIMIT_FSIZE limit on the CLI): one-line error, the previous checkpoint intact, no temp left.
* A model.safetensors that is really a pickle (one that would create a marker file when
  unpickled): refused with a reason, the marker never appears.
* Wrong tensors / config / truncation: a one-line ``CheckpointError`` naming the problem,
  found before any model memory is allocated.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from models.generate import load_model
from models.net.config import get_config
from models.net.vae import GrooVAE
from models.train import checkpoint as ckpt
from models.train import run_folder
from models.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tests.hardening.helpers import REPO_ROOT, TINY_HPARAMS, tiny_dataset

KILL_TRIALS = 50


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _good(tmp_path: Path, step: int = 7) -> tuple[Path, GrooVAE]:
    config = get_config("groovae_tiny")
    torch.manual_seed(step)
    model = GrooVAE(config)
    opt = torch.optim.Adam(model.parameters())
    model(torch.zeros(2, config.num_steps, 27)).logits.sum().backward()
    opt.step()
    run = tmp_path / "run"
    path = save_checkpoint(run / run_folder.CKPT_SUBDIR / run_folder.checkpoint_name(step), model, get_config("groovae_tiny"), step, opt)
    ckpt.set_pointer(run, "latest", path)
    return path, model


# ---- SIGKILL -------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_at_random_moments_never_corrupts_and_resume_is_exact(
    gmd_dir: Path, tmp_path: Path
) -> None:
    dataset = tiny_dataset(gmd_dir, tmp_path)
    report_path = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.hardening.kill_harness", str(tmp_path / "run"),
         str(dataset), str(report_path), "--trials", str(KILL_TRIALS), "--seed", "8",
         "--hparams", TINY_HPARAMS],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=280,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(report_path.read_text())
    trials = report["trials"]
    assert len(trials) == KILL_TRIALS and all(t["killed"] for t in trials)
    for t in trials:
        assert t["errors"] == [], t  # every ckpt-* directory present loaded, with its optimizer
        if t["resumed_from"] is not None:  # the child got as far as reporting its start step
            assert t["resumed_from"] == t["latest_before"], t
        assert max(t["steps_after"], default=0) >= t["latest_before"], t  # never lost progress
        assert len(t["leftovers"]) <= 1, t  # temp dirs of killed writes are cleaned up
    resumed = [t for t in trials if t["resumed_from"]]
    # On a loaded machine many kills land before the child has even resumed; a handful that
    # land after it are enough to judge resume (the final bit-identity check covers the rest).
    assert len(resumed) >= 5, f"only {len(resumed)} kills hit a resumed run: too few to judge resume"
    assert report["resumed_step"] == report["reference_step"] == report["final_step"]
    assert report["identical"], f"resumed run differs by {report['max_abs_weight_diff']}"


# ---- disk full -----------------------------------------------------------------------------------
def _enospc(*_a: object, **_k: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _half_then_enospc(tensors: dict, filename: str, metadata: dict | None = None) -> None:
    save_file(tensors, filename, metadata=metadata)
    raw = Path(filename).read_bytes()
    Path(filename).write_bytes(raw[: len(raw) // 2])  # what a full disk leaves behind
    _enospc()


@pytest.mark.parametrize("fault", ["save_file", "fsync"])
@pytest.mark.parametrize("same_step", [False, True], ids=["next_step", "same_step"])
def test_disk_full_while_saving_keeps_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str, same_step: bool
) -> None:
    prev, model = _good(tmp_path)
    before = _digest(prev)
    if fault == "save_file":
        monkeypatch.setattr(ckpt, "save_file", _half_then_enospc)
    else:
        monkeypatch.setattr(ckpt.os, "fsync", _enospc)
    target = prev if same_step else prev.with_name(run_folder.checkpoint_name(8))
    with torch.no_grad():
        model.encoder.mu.weight.add_(1.0)
    with pytest.raises(CheckpointError, match="No space left on device") as e:
        save_checkpoint(target, model, get_config("groovae_tiny"), 8)
    monkeypatch.undo()
    assert "\n" not in str(e.value) and str(target) in str(e.value)
    assert _digest(prev) == before  # the previous checkpoint is byte-identical
    assert sorted(p.name for p in prev.parent.iterdir()) == [prev.name, "latest"]  # no temp left
    assert run_folder.latest_checkpoint(tmp_path / "run") == prev
    load_checkpoint(prev)


def test_disk_full_while_writing_the_pointer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prev, _ = _good(tmp_path)
    monkeypatch.setattr(ckpt.os, "fsync", _enospc)
    with pytest.raises(CheckpointError, match="cannot write .*latest: No space left"):
        ckpt.set_pointer(tmp_path / "run", "latest", prev.with_name("ckpt-00000099"))
    monkeypatch.undo()
    assert (prev.parent / "latest").read_text().strip() == prev.name
    assert sorted(p.name for p in prev.parent.iterdir()) == [prev.name, "latest"]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["optimizer_file", "progress_json"])
def test_file_size_limit_during_cli_training_is_one_line(
    gmd_dir: Path, tmp_path: Path, where: str
) -> None:
    """A real write failure (RLIMIT_FSIZE, SIGXFSZ ignored) half-way through a checkpoint
    (model.safetensors fits under the limit, optimizer.safetensors does not), or already at
    the run's first progress.json."""
    from models.train.trainer import TrainOptions, run_training

    dataset = tiny_dataset(gmd_dir, tmp_path)
    run = tmp_path / "run"
    run_training(TrainOptions(
        config="groovae_tiny", run_dir=str(run), examples_path=str(dataset),
        hparams=TINY_HPARAMS, num_steps=1, eval_every_steps=0, num_threads=1, progress_bar=False,
    ))
    prev = run_folder.latest_checkpoint(run)
    assert prev is not None
    before = _digest(prev)
    limit = (prev / run_folder.MODEL_FILE).stat().st_size + 4096 if where == "optimizer_file" else 256
    assert (prev / run_folder.OPTIMIZER_FILE).stat().st_size > limit

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-m", "models.cli.train", "--config", "groovae_tiny", "--run_dir",
         str(run), "--examples_path", str(dataset), "--hparams", TINY_HPARAMS, "--num_steps", "3",
         "--eval_every_steps", "0", "--checkpoint_every_steps", "1", "--num_threads", "1",
         "--no_progress_bar"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, preexec_fn=limit_file_size,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("groovebridge train:")]
    assert len(lines) == 1 and "File too large" in lines[0], proc.stderr[-2000:]
    expected = "cannot write checkpoint" if where == "optimizer_file" else f"cannot write {run}"
    assert expected in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    assert _digest(prev) == before
    assert run_folder.latest_checkpoint(run) == prev
    assert [p.name for p in (run / run_folder.CKPT_SUBDIR).glob(".*")] == []
    load_checkpoint(prev)


# ---- pickle payloads -----------------------------------------------------------------------------
class _Payload:
    """Unpickling this creates ``marker`` (stands for any code an attacker would run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("kind", ["pickle", "torch_save"])
@pytest.mark.parametrize("target", [run_folder.MODEL_FILE, run_folder.OPTIMIZER_FILE])
def test_pickle_payload_is_refused_and_never_run(tmp_path: Path, kind: str, target: str) -> None:
    path, _ = _good(tmp_path)
    live = tmp_path / "proof_the_payload_is_live"
    pickle.loads(pickle.dumps(_Payload(live)))
    assert live.is_dir()  # the payload really runs code when unpickled
    marker = tmp_path / "PWNED"
    if kind == "pickle":
        (path / target).write_bytes(pickle.dumps(_Payload(marker), protocol=4))
    else:
        torch.save({"encoder.mu.weight": _Payload(marker)}, path / target)
    if target == run_folder.MODEL_FILE:
        for load in (lambda: load_checkpoint(path), lambda: load_model(path)):
            with pytest.raises(CheckpointError, match="refusing .*model.safetensors: it is a") as e:
                load()
            assert "pickle" in str(e.value) and "\n" not in str(e.value)
    else:
        model, _, _ = load_checkpoint(path)
        with pytest.raises(CheckpointError, match="unusable optimizer state"):
            ckpt.load_optimizer_state(path, torch.optim.Adam(model.parameters()))
    assert not marker.exists()


# ---- wrong tensors / config ----------------------------------------------------------------------
def _edit_weights(path: Path, edit) -> None:
    w = load_file(str(path / run_folder.MODEL_FILE))
    save_file(edit(w), str(path / run_folder.MODEL_FILE))


def _edit_config(path: Path, **changes) -> None:
    cfg = json.loads((path / run_folder.CONFIG_FILE).read_text())
    (path / run_folder.CONFIG_FILE).write_text(json.dumps({**cfg, **changes}))


K = "encoder.mu.weight"
CASES = {
    "wrong_shape": (lambda p: _edit_weights(p, lambda w: {**w, K: w[K][:, :5].contiguous()}),
                    f"{K} has shape \\(16, 5\\), config expects \\(16, 64\\)"),
    "missing_tensor": (lambda p: _edit_weights(p, lambda w: {k: v for k, v in w.items() if k != K}),
                       f"does not match config groovae_tiny: missing \\['{K}'\\]"),
    "extra_tensor": (lambda p: _edit_weights(p, lambda w: {**w, "evil.weight": torch.zeros(1)}),
                     "unexpected \\['evil.weight'\\]"),
    "float64": (lambda p: _edit_weights(p, lambda w: {k: v.double() for k, v in w.items()}),
                "has dtype torch.float64, the model needs torch.float32"),
    "int64": (lambda p: _edit_weights(p, lambda w: {**w, K: w[K].long()}),
              f"{K} has dtype torch.int64"),
    "nan": (lambda p: _edit_weights(p, lambda w: {**w, K: w[K] * float("nan")}),
            f"{K} holds NaN or infinite values"),
    "other_model_config": (
        lambda p: (p / run_folder.CONFIG_FILE).write_text(get_config("groovae_4bar").to_json()),
        "config expects"),
    "foreign_json_config": (
        lambda p: (p / run_folder.CONFIG_FILE).write_text('{"architectures": ["Bert"], "hidden_size": 768}'),
        "bad config.json: config has unknown fields"),
    "config_not_object": (lambda p: (p / run_folder.CONFIG_FILE).write_text("[1, 2, 3]"), "bad config.json"),
    "config_not_json": (lambda p: (p / run_folder.CONFIG_FILE).write_text("{oops"), "bad config.json"),
    "negative_size": (lambda p: _edit_config(p, z_size=-4), "config.json describes no valid model"),
    "huge_size": (lambda p: _edit_config(p, enc_rnn_size=[200_000]), "config expects"),
    "truncated": (lambda p: (p / run_folder.MODEL_FILE).write_bytes((p / run_folder.MODEL_FILE).read_bytes()[:3000]),
                  "not a valid safetensors file"),
    "empty_file": (lambda p: (p / run_folder.MODEL_FILE).write_bytes(b""), "not a valid safetensors file"),
    "huge_header": (lambda p: (p / run_folder.MODEL_FILE).write_bytes((2**62).to_bytes(8, "little") + b"{}"),
                    "not a valid safetensors file"),
    "no_config": (lambda p: (p / run_folder.CONFIG_FILE).unlink(), "has no config.json"),
    "state_not_json": (lambda p: (p / run_folder.STATE_FILE).write_text("{nope"), "bad state.json"),
    "state_not_object": (lambda p: (p / run_folder.STATE_FILE).write_text("42"), "bad state.json: not a JSON object"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_checkpoint_is_one_line_checkpoint_error(tmp_path: Path, case: str) -> None:
    path, _ = _good(tmp_path)
    damage, message = CASES[case]
    damage(path)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match=message) as e:
        load_checkpoint(path)
    assert "\n" not in str(e.value)
    # the checks run before the model is built: a 200,000-unit LSTM (640 GB) in config.json costs nothing
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200_000  # KiB


def test_generate_cli_reports_a_bad_checkpoint_in_one_line(tmp_path: Path, capsys) -> None:
    from models.cli import generate as generate_cli
    path, _ = _good(tmp_path)
    (path / run_folder.MODEL_FILE).write_bytes(pickle.dumps(_Payload(tmp_path / "PWNED")))
    rc = generate_cli.main(["--checkpoint_file", str(path), "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1 and "refusing" in err, err
    assert not (tmp_path / "PWNED").exists()
