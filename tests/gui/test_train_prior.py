"""The train panel fits a run's sampling prior in a real `groovebridge fit-prior` child process."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtCore import Qt

PRIOR_ARGS = ["--components", "8", "--num_threads", "1"]


@pytest.fixture
def small_dataset(tmp_path: Path, gmd_files: list[Path]) -> Path:
    """A dataset of a few real GMD files (as in test_train_panel.py)."""
    from models.data.dataset import preprocess

    midi = tmp_path / "midi"
    midi.mkdir()
    for f in gmd_files[:10]:
        (midi / f.name).symlink_to(f)
    dataset = tmp_path / "ds.npz"
    preprocess(midi, dataset, workers=1)
    return dataset


def _tiny_run(run: Path) -> Path:
    """A run folder with one checkpoint of a random-weight tiny model (no training needed)."""
    import torch

    from models.net.config import get_config
    from models.net.vae import GrooVAE
    from models.train.checkpoint import save_checkpoint, set_pointer

    config = get_config("groovae_tiny")
    torch.manual_seed(0)
    ckpt = save_checkpoint(run / "checkpoints" / "ckpt-00000003", GrooVAE(config), config, step=3)
    set_pointer(run, "latest", ckpt)
    return ckpt


@pytest.mark.slow
def test_finished_training_fits_the_prior_then_use_model(window, qtbot, small_dataset):
    from models.generate import load_model

    panel = window.train_panel
    window.tabs.setCurrentWidget(panel)
    panel.dataset_edit.setText(str(small_dataset))
    panel.config_combo.setCurrentText("groovae_tiny")
    panel.steps_spin.setValue(12)
    panel.batch_spin.setValue(8)
    panel.device_combo.setCurrentText("cpu")
    panel.extra_train_args = ["--num_threads", "1"]
    panel.prior_box.extra_args = PRIOR_ARGS
    panel.start_training()
    qtbot.waitUntil(lambda: not panel.train_job.is_running(), timeout=120000)
    assert panel.last_error == "", panel.last_error
    # The panel started fit-prior by itself as soon as training ended.
    assert panel.prior_job.is_running()
    assert panel.prior_box.status_label.text().startswith("Fitting the sampling prior")
    assert panel.prior_box.cancel_button.isEnabled() and not panel.fit_prior_button.isEnabled()
    assert panel.start_button.isEnabled() and panel.use_button.isEnabled()  # the GUI is not blocked
    qtbot.waitUntil(lambda: not panel.prior_job.is_running(), timeout=180000)
    assert panel.last_error == "", panel.last_error
    assert panel.prior_box.status_label.text().startswith("Sampling prior fitted"), panel.prior_box.status_label.text()
    assert "8 components" in panel.prior_box.status_label.text()

    run = Path(panel.run_edit.text())
    from models.train.run_folder import latest_checkpoint

    latest = latest_checkpoint(run)
    assert latest is not None and latest.name == "ckpt-00000012"
    assert (latest / "prior.safetensors").is_file() and (latest / "prior.json").is_file()
    assert load_model(run).prior is not None
    assert "prior" in panel.ckpt_table.item(0, 2).text()
    assert panel.fit_prior_button.isEnabled() and not panel.prior_box.cancel_button.isEnabled()

    # "Use this model" loads the checkpoint, now with its prior.
    ckpt = panel.selected_checkpoint()
    assert ckpt == str(latest)
    qtbot.mouseClick(panel.use_button, Qt.MouseButton.LeftButton)
    engine = window.adapter.engine
    qtbot.waitUntil(lambda: engine.snapshot().model_name == ckpt and engine.snapshot().model_state == "ready", timeout=30000)


@pytest.mark.slow  # the child imports torch before it fails
def test_failing_fit_prior_shows_its_error_and_the_panel_carries_on(window, qtbot, tmp_path):
    panel = window.train_panel
    ckpt = _tiny_run(tmp_path / "old-run")
    panel.show_run(tmp_path / "old-run")
    assert panel.selected_checkpoint() == str(ckpt)
    assert not panel.fit_prior_button.isEnabled()  # no dataset yet
    panel.dataset_edit.setText(str(tmp_path / "gone.npz"))  # a dataset that no longer exists
    assert panel.fit_prior_button.isEnabled()
    panel.prior_box.extra_args = PRIOR_ARGS
    qtbot.mouseClick(panel.fit_prior_button, Qt.MouseButton.LeftButton)
    assert panel.prior_job.is_running()
    qtbot.waitUntil(lambda: not panel.prior_job.is_running(), timeout=60000)
    shown = panel.prior_box.status_label.text()
    assert shown.startswith("groovebridge fit-prior: ") and "gone.npz" in shown, shown
    assert "\n" not in shown and "Traceback" not in shown
    assert panel.last_error == shown
    assert window.errors and window.errors[-1] == shown
    assert not (ckpt / "prior.safetensors").exists()
    # The panel carries on: fitting again, training and "Use this model" are all available.
    assert panel.fit_prior_button.isEnabled() and not panel.prior_box.cancel_button.isEnabled()
    assert panel.start_button.isEnabled() and panel.use_button.isEnabled()
    assert window.adapter.engine.snapshot().model_state == "ready"


@pytest.mark.slow
def test_fit_prior_can_be_cancelled(window, qtbot, tmp_path, small_dataset):
    panel = window.train_panel
    ckpt = _tiny_run(tmp_path / "old-run")
    panel.show_run(tmp_path / "old-run")
    panel.dataset_edit.setText(str(small_dataset))
    panel.prior_box.extra_args = PRIOR_ARGS
    panel.fit_selected()
    assert panel.prior_job.is_running() and panel.prior_box.cancel_button.isEnabled()
    qtbot.mouseClick(panel.prior_box.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.prior_job.is_running(), timeout=15000)
    assert panel.prior_box.status_label.text() == "Prior fitting cancelled"
    assert panel.last_error == ""
    assert not (ckpt / "prior.safetensors").exists()
    assert panel.fit_prior_button.isEnabled()


def test_fit_prior_needs_a_checkpoint_and_a_dataset(window, tmp_path):
    panel = window.train_panel
    assert not panel.fit_prior_button.isEnabled()  # no run yet
    panel.dataset_edit.setText(str(tmp_path / "ds.npz"))
    assert not panel.fit_prior_button.isEnabled()  # still no checkpoint
    panel.prior_box.start(["--run_dir", str(tmp_path)], "")
    assert not panel.prior_job.is_running()
    assert "no dataset" in panel.last_error


def test_prior_progress_reads_as_steps_not_raw_floats(window, qtbot, small_dataset, tmp_path):
    """Trial B5: the label showed the child's raw lines ("Fitting the sampling prior…
    29447746, 0.9100000262260437, ..."). A real fit-prior child; every text the label shows."""
    import re

    panel = window.train_panel
    window.tabs.setCurrentWidget(panel)
    ckpt = _tiny_run(tmp_path / "run")
    box = panel.prior_box
    box.extra_args = PRIOR_ARGS
    lines: list[str] = []
    shown: list[str] = []
    box.prior_job.outputLine.connect(lambda line: (lines.append(line), shown.append(box.status_label.text())))
    assert box.start(["--checkpoint_file", str(ckpt)], str(small_dataset))
    qtbot.waitUntil(lambda: not box.is_running(), timeout=180000)
    assert box.last_message.startswith("Sampling prior fitted"), (box.last_message, lines)
    assert any(re.search(r"\d\.\d{5,}", line) or "[" in line for line in lines), lines  # the child's own text
    progress = [t for t in shown if t.startswith("Fitting")]
    assert progress, shown
    for text in progress:
        assert not re.search(r"\d\.\d{3,}", text) and "[" not in text, text
        assert len(text) <= 130, text
    assert any("read" in t and "training windows" in t for t in progress), progress
    assert any("attribute directions" in t for t in progress), progress
