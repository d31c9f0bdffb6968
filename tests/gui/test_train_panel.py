"""The train panel runs real child processes: preprocessing + tiny training, and failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtCore import Qt


@pytest.fixture
def midi_folder(tmp_path: Path, gmd_files: list[Path]) -> Path:
    """A small folder of real GMD files (links, nothing copied) plus one broken file."""
    d = tmp_path / "midi"
    d.mkdir()
    for f in gmd_files[:10]:
        (d / f.name).symlink_to(f)
    (d / "broken.mid").write_bytes(b"MThd not really")
    return d


@pytest.fixture
def small_dataset(midi_folder: Path, tmp_path: Path) -> Path:
    from models.data.dataset import preprocess

    dataset = tmp_path / "ds.npz"
    preprocess(midi_folder, dataset, workers=1)
    return dataset


def _set_up_training(panel, dataset: Path, config: str, steps: int) -> None:
    panel.dataset_edit.setText(str(dataset))
    panel.config_combo.setCurrentText(config)
    panel.steps_spin.setValue(steps)
    panel.batch_spin.setValue(8)
    panel.device_combo.setCurrentText("cpu")
    panel.extra_train_args = ["--num_threads", "1"]


@pytest.mark.slow
def test_preprocess_and_train_in_child_process_then_use_model(window, qtbot, midi_folder):
    panel = window.train_panel
    window.tabs.setCurrentWidget(panel)
    panel.folder_edit.setText(str(midi_folder))
    panel.drum_map.setCurrentText("roland")
    panel.preprocess_workers = 1
    qtbot.mouseClick(panel.preprocess_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.preprocess_job.is_running() and panel.dataset_edit.text() != "", timeout=60000)
    assert Path(panel.dataset_edit.text()).is_file()
    assert panel.preprocess_bar.value() == panel.preprocess_bar.maximum() == 11
    reasons = [panel.skip_table.item(i, 0).text() for i in range(panel.skip_table.rowCount())]
    assert "corrupt" in reasons  # the broken file is reported, not fatal
    assert "windows" in panel.report_label.text()

    panel.config_combo.setCurrentText("groovae_tiny")
    panel.steps_spin.setValue(12)
    panel.batch_spin.setValue(8)
    panel.device_combo.setCurrentText("cpu")
    panel.extra_train_args = ["--num_threads", "1"]
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.train_job.is_running()
    assert not panel.start_button.isEnabled() and panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not panel.train_job.is_running(), timeout=120000)
    assert panel.last_error == "", panel.last_error
    qtbot.waitUntil(lambda: len(panel.train_x) > 0, timeout=5000)
    xs, ys = panel.train_curve.getData()
    assert xs is not None and len(xs) == len(panel.train_x) > 0 and max(xs) == 12
    assert all(y == y for y in ys)  # finite losses
    assert panel.train_bar.value() == 12
    assert panel.ckpt_table.rowCount() >= 1
    assert panel.ckpt_table.item(0, 0).text() == "12"

    ckpt = panel.selected_checkpoint()
    assert ckpt is not None and Path(ckpt, "model.safetensors").is_file()
    qtbot.mouseClick(panel.use_button, Qt.MouseButton.LeftButton)
    engine = window.adapter.engine
    qtbot.waitUntil(lambda: engine.snapshot().model_name == ckpt and engine.snapshot().model_state == "ready", timeout=30000)

    # The run shows up among the user's models.
    window.models_panel.refresh()
    runs = window.models_panel.tree.topLevelItem(2)
    assert runs.childCount() == 1


@pytest.mark.slow  # the child imports torch before it fails
def test_failing_training_shows_its_error(window, qtbot, tmp_path):
    panel = window.train_panel
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a dataset at all")
    panel.dataset_edit.setText(str(bad))
    panel.config_combo.setCurrentText("groovae_tiny")
    panel.steps_spin.setValue(5)
    panel.extra_train_args = ["--num_threads", "1"]
    panel.start_training()
    qtbot.waitUntil(lambda: not panel.train_job.is_running(), timeout=60000)
    assert panel.last_error.startswith("training failed:")
    assert "bad.npz" in panel.last_error
    assert "Traceback" not in panel.last_error
    assert window.errors and window.errors[-1] == panel.last_error
    assert panel.start_button.isEnabled()  # the app carries on
    assert window.adapter.engine.snapshot().model_state == "ready"


def test_failing_preprocessing_shows_its_error(window, qtbot, tmp_path):
    panel = window.train_panel
    empty = tmp_path / "no-midi-here"
    empty.mkdir()
    panel.folder_edit.setText(str(empty))
    panel.start_preprocess()
    qtbot.waitUntil(lambda: not panel.preprocess_job.is_running(), timeout=60000)
    assert "no MIDI files" in panel.last_error
    assert panel.preprocess_button.isEnabled()


def test_missing_folder_is_a_message_not_a_job(window):
    panel = window.train_panel
    panel.folder_edit.setText("/nonexistent/folder")
    panel.start_preprocess()
    assert not panel.preprocess_job.is_running()
    assert "choose an existing MIDI folder" in panel.last_error


@pytest.mark.slow
def test_stop_then_resume_continues_the_run(window, qtbot, small_dataset):
    panel = window.train_panel
    window.tabs.setCurrentWidget(panel)
    _set_up_training(panel, small_dataset, "groovae_tiny", 100_000)
    panel.start_training()
    qtbot.waitUntil(lambda: panel.train_bar.value() >= 20, timeout=60000)
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.train_job.is_running(), timeout=30000)
    assert panel.last_error == ""
    assert panel.ckpt_table.rowCount() >= 1
    stopped_at = int(panel.ckpt_table.item(0, 0).text())
    assert 20 <= stopped_at < 100_000
    # The curve reaches the step it stopped at (trial B6: rows are logged every 10 steps, and a
    # Stop at 37 left it at 30; the final step's loss comes from the run's progress record).
    assert panel.train_x[-1] == stopped_at and panel.train_x == sorted(panel.train_x), panel.train_x[-5:]
    assert panel.resume_button.isEnabled()
    points = len(panel.train_x)
    panel.steps_spin.setValue(stopped_at + 10)
    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.train_job.is_running(), timeout=60000)
    assert panel.last_error == ""
    assert int(panel.ckpt_table.item(0, 0).text()) == stopped_at + 10
    assert len(panel.train_x) > points and max(panel.train_x) == stopped_at + 10
    assert len(set(panel.train_x)) == len(panel.train_x)  # the resumed curve has no repeats


@pytest.mark.slow
def test_fine_tune_the_shipped_model(window, qtbot, small_dataset):
    """'Start from: shipped default' starts a new run from the shipped weights and recipe."""
    import json

    panel = window.train_panel
    _set_up_training(panel, small_dataset, "groovae_4bar", 2)
    panel.start_combo.setCurrentText("shipped default")
    panel.start_training()
    qtbot.waitUntil(lambda: not panel.train_job.is_running(), timeout=120000)
    assert panel.last_error == "", panel.last_error
    run = Path(panel.run_edit.text())
    shipped = json.loads((Path(__file__).resolve().parents[2] / "models/pretrained/default/config.json").read_text())
    config = json.loads(next(run.glob("checkpoints/ckpt-*/config.json")).read_text())
    assert config["free_bits"] == shipped["free_bits"] and config["batch_size"] == 8
    first = float(next(r for r in (run / "metrics.csv").read_text().splitlines()[1:]).split(",")[4])
    assert first < 200, f"r_loss {first}: not the trained weights (random init gives ~450)"


def test_use_this_model_is_greyed_with_the_reason_until_there_is_a_checkpoint(window, qtbot, tmp_path):
    """Trial B4: with no checkpoint "Use this model" looked enabled (the primary style had no
    disabled look) and a click did nothing, silently."""
    from models.net.config import get_config
    from models.net.vae import GrooVAE
    from models.train.checkpoint import save_checkpoint

    panel = window.train_panel
    window.tabs.setCurrentWidget(panel)
    run = tmp_path / "run"
    run.mkdir()
    panel.show_run(run)
    qtbot.wait(30)
    use, start = panel.use_button, panel.start_button
    assert not use.isEnabled() and "No checkpoint yet" in use.toolTip()

    def middle_colour(button):
        image = button.grab().toImage()
        return image.pixelColor(image.width() // 2, 3).name()

    assert start.isEnabled()  # the other primary button: enabled, the highlighted look
    assert middle_colour(use) != middle_colour(start)
    cfg = get_config("groovae_tiny")
    save_checkpoint(run / "checkpoints" / "ckpt-00000005", GrooVAE(cfg), cfg, 5)
    panel.refresh_checkpoints()
    assert use.isEnabled() and "Hot-swap" in use.toolTip()
    assert middle_colour(use) == middle_colour(start)
    qtbot.mouseClick(use, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "ckpt-00000005" in str(window.adapter.engine.snapshot().model_name), timeout=20000)


def test_preprocess_report_lists_each_skipped_file_and_warns_without_validation(window, qtbot, tmp_path, gmd_files):
    """Trial B6: "4 of 5 files read · windows: 256 train, 0 validation, 0 test" said nothing of
    the missing validation split, and the skip table gave counts, not the files (the README says
    every skipped file is listed with its reason). The real Preprocess button and child process."""
    import mido

    from models.data.dataset import hash_split

    folder = tmp_path / "few"
    folder.mkdir()
    kept = [f for f in gmd_files if hash_split(f.name, (0.8, 0.1, 0.1)) == "train"][:2]
    assert len(kept) == 2
    for f in kept:
        (folder / f.name).symlink_to(f)
    (folder / "broken.mid").write_bytes(b"MThd not really")
    short = mido.MidiFile(ticks_per_beat=480)  # one beat of drums: fewer bars than a window
    track = mido.MidiTrack([mido.Message("note_on", channel=9, note=36, velocity=100, time=0),
                            mido.Message("note_off", channel=9, note=36, velocity=0, time=480)])
    short.tracks.append(track)
    short.save(folder / "one_beat.mid")

    panel = window.train_panel
    window.tabs.setCurrentWidget(panel)
    panel.folder_edit.setText(str(folder))
    panel.drum_map.setCurrentText("roland")
    panel.preprocess_workers = 1
    qtbot.mouseClick(panel.preprocess_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.preprocess_job.is_running() and panel.dataset_edit.text() != "", timeout=60000)
    report = panel.report_label.text()
    assert "3 of 4 files read" in report and "0 validation" in report, report
    assert "no validation windows" in report and "validation loss" in panel.report_label.toolTip(), report
    table = panel.skip_table
    assert table.horizontalHeaderItem(1).text() == "file"
    rows = {table.item(i, 1).text(): table.item(i, 0).text() for i in range(table.rowCount())}
    assert rows == {"broken.mid": "corrupt", "one_beat.mid": "too short"}, rows
    assert table.item(0, 0).toolTip().startswith(table.item(0, 1).text())


def test_checkpoint_columns_are_labelled(window):
    headers = [window.train_panel.ckpt_table.horizontalHeaderItem(i).text() for i in range(3)]
    assert all(headers) and "prior" in headers[2], headers
