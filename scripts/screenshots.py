"""Render the main window and the train panel to docs/screenshots/*.png (run under Xvfb), at the
large size (1500x940) and at a laptop's 1366x768 (``*_1366x768.png``).

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots.py

The main window runs the real engine (recording MIDI stand-in, no OSC) with the shipped model
when ``models/pretrained`` has it (else the latest checkpoint of ``runs/default``, else a tiny
random-weight model), two Groove MIDI Dataset
files in slots A and B, slot A playing and a set of sampled variations. The train panel
preprocesses a few GMD files in a child process and shows a run's loss curves: ``--run``
(default ``runs/default`` when it exists), else a tiny training run it starts itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GMD = Path("/work/shared/data/groove-midi/groove")


def loader(name: str):
    import torch

    from models.generate import PRETRAINED_DIR, GrooveModel, load_model
    from models.net.config import get_config
    from models.net.vae import GrooVAE

    if name not in ("", "default", "tiny"):
        return load_model(name)
    if any(PRETRAINED_DIR.glob("*.safetensors")) or any(PRETRAINED_DIR.glob("*/model.safetensors")):
        return load_model(None)
    run = ROOT / "runs" / "default"
    if (run / "checkpoints" / "latest").is_file():  # the default model's training run, so far
        return load_model(run)
    torch.manual_seed(3)
    return GrooveModel(GrooVAE(get_config("groovae_tiny")).eval(), name="tiny (random weights)")


def wait(app, cond, timeout_sec: float = 60.0) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_sec:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.02)
    return False


def small(app, win, path: Path) -> None:
    """Grab the window at 1366x768 (a laptop's screen), then give it back its large size."""
    size = win.size()
    win.resize(1366, 768)
    wait(app, lambda: win.width() == 1366 and win.height() == 768, 5)
    wait(app, lambda: False, 0.3)
    win.grab().save(str(path))
    win.resize(size)
    wait(app, lambda: False, 0.2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    p.add_argument("--run", default=str(ROOT / "runs" / "default"), help="training run to show")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="gb-shots-"))
    os.environ["GROOVEBRIDGE_CONFIG_DIR"] = str(tmp / "config")
    os.environ["GROOVEBRIDGE_DATA_DIR"] = str(tmp / "data")

    from bridge.engine import Engine
    from bridge.settings import Settings
    from gui.app import make_application
    from gui.main_window import MainWindow
    from gui.settings_store import SettingsStore
    from tests.rigs.midi_fakes import FakeMidiIO

    app = make_application()
    engine = Engine(Settings(osc_enabled=False, bpm=96.0), model_loader=loader, midi=FakeMidiIO())
    engine.start()
    win = MainWindow(SettingsStore(tmp / "app.toml"))
    win.resize(1500, 940)
    win.show()
    win.attach_engine(engine)
    if not wait(app, lambda: engine.snapshot().model_state == "ready" and len(engine.snapshot().variations) > 0):
        print("screenshots: the model did not get ready", file=sys.stderr)
        return 1
    wanted = [GMD / "drummer1/session1" / n for n in ("145_latin-brazilian-baiao_95_beat_4-4.mid", "183_afrocuban_105_beat_4-4.mid")]
    files = wanted if all(f.is_file() for f in wanted) else sorted(GMD.glob("drummer1/session1/*_beat_4-4.mid"))
    if len(files) >= 2:
        win.slots.cards["A"].load_file(files[0])
        win.slots.cards["B"].load_file(files[1])
        wait(app, lambda: all(engine.snapshot().slots[k] is not None for k in "AB"))
    win.generate.num_variations.setValue(8)
    engine.sample(8)
    wait(app, lambda: len(engine.snapshot().variations) == 8)
    engine.play_slot("A")
    engine.set_mute(7, True)
    wait(app, lambda: engine.snapshot().pattern_source == "slot A" and engine.snapshot().mutes[7])
    engine.play()
    wait(app, lambda: 22.0 < engine.snapshot().step < 30.0, 30)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app.processEvents()
    win.grab().save(str(out / "main_window.png"))
    small(app, win, out / "main_window_1366x768.png")
    engine.stop()

    # Train panel: a real preprocessing of a few files, and a run's curves.
    panel = win.train_panel
    win.tabs.setCurrentWidget(panel)
    folder = tmp / "midi"
    folder.mkdir()
    picks = sorted(GMD.glob("drummer1/session1/*.mid"))[:24] + sorted(GMD.glob("drummer6/session1/*6-8.mid"))[:2]
    for f in picks:
        (folder / f.name).symlink_to(f)
    panel.folder_edit.setText(str(folder))
    panel.preprocess_workers = 1
    panel.start_preprocess()
    wait(app, lambda: not panel.preprocess_job.is_running(), 120)
    run = Path(args.run)
    panel.config_combo.setCurrentText("groovae_4bar")
    panel.steps_spin.setValue(200_000)
    panel.batch_spin.setValue(64)
    if (run / "metrics.csv").is_file():
        panel.show_run(run)
        wait(app, lambda: len(panel.train_x) > 0, 10)
    else:
        panel.config_combo.setCurrentText("groovae_tiny")
        panel.steps_spin.setValue(60)
        panel.batch_spin.setValue(16)
        panel.extra_train_args = ["--num_threads", "1"]
        panel.start_training()
        wait(app, lambda: not panel.train_job.is_running(), 300)
    wait(app, lambda: False, 1.0)
    win.grab().save(str(out / "train_panel.png"))
    small(app, win, out / "train_panel_1366x768.png")
    panel.monitor.stop()
    win.tabs.setCurrentIndex(0)
    win.close()
    engine.close()
    print(f"wrote {out}/main_window*.png and {out}/train_panel*.png (1500x940 and 1366x768)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
