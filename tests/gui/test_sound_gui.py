"""The transport bar's Sound controls, position counter and sync health, and File > Export
audio, driven through the real widgets (pytest-qt) over a real engine; the preview over a
private JACK server's audio ports (dummy backend)."""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtWidgets import QFileDialog, QInputDialog

from bridge.clock.base import InternalClock
from bridge.engine import Engine, _NullMidi
from bridge.settings import Settings
from gui import theme
from gui.widgets.sound import output_is_external
from gui.widgets.transport import position_text
from models.groove import Groove
from models.synth import find_soundfont

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bridge"))
from jack_helpers import private_jack_server  # noqa: E402


@pytest.fixture
def soundfont() -> Path:
    path = find_soundfont()
    if path is None:
        pytest.skip("no GM SoundFont installed (scripts/system-deps.sh installs fluid-soundfont-gm)")
    return path


@pytest.fixture
def no_soundfont(monkeypatch, tmp_path):
    monkeypatch.setattr("models.synth.SYSTEM_SOUNDFONTS", ())
    monkeypatch.setattr("models.synth.user_soundfont_dir", lambda: tmp_path / "no-soundfonts")


def open_window(qtbot, engine):
    from PyQt6.QtWidgets import QApplication

    from gui.main_window import MainWindow
    from gui.settings_store import SettingsStore
    from gui.theme import apply_theme

    apply_theme(QApplication.instance())
    win = MainWindow(SettingsStore())
    qtbot.addWidget(win)
    win.show()
    win.attach_engine(engine)
    return win


def pattern() -> Groove:
    g = Groove.empty(32, 120.0)
    h, v = g.hits.copy(), g.velocities.copy()
    for step, k, vel in ((0, 0, 110), (4, 2, 80), (8, 1, 100), (12, 2, 70), (16, 0, 90), (24, 1, 120)):
        h[step, k], v[step, k] = 1.0, vel / 127
    return Groove(h, v, g.offsets.copy(), 120.0)


@pytest.fixture
def null_midi_engine(model_loader):
    eng = Engine(Settings(osc_enabled=False, preview_audio="jack"), model_loader=model_loader, midi=_NullMidi())
    eng.start()
    yield eng
    eng.close()


def test_output_is_external():
    assert not output_is_external({"api": "none", "output": "none"})
    assert not output_is_external({"api": "jack", "output": "GrooveBridge Out", "output_present": True})
    assert not output_is_external({"api": "alsa", "output": "none", "output_present": False})
    assert output_is_external({"api": "jack", "output": "a2j:FLUID Synth", "output_present": True})
    assert not output_is_external({"api": "jack", "output": "a2j:FLUID Synth", "output_present": False})


def test_toggle_disabled_with_the_reason_when_no_soundfont(qtbot, soundfont, no_soundfont, null_midi_engine, tmp_path):
    win = open_window(qtbot, null_midi_engine)
    sound = win.transport.sound
    assert not sound.toggle.isEnabled() and not sound.toggle.isChecked()
    tip = sound.toggle.toolTip()
    assert tip.startswith("Sound is off: no GM SoundFont found") and "fluid-soundfont-gm" in tip
    assert sound.kit_button.isEnabled() and sound.preview is None
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00sfbk" + bytes(32))
    sound.set_kit(str(bad))  # loads off the GUI thread
    qtbot.waitUntil(lambda: "bad.sf2" in win.error_label.text())
    assert not sound.loading
    assert "\n" not in win.errors[-1] and not sound.toggle.isEnabled()
    # Export audio without a kit: one line, no dialog, no crash.
    from gui.audio_export import export_audio_dialog

    assert export_audio_dialog(win) is None and win.errors[-1].startswith("export audio: no GM SoundFont found")
    # The user picks a real kit: it loads and the sound is switched on; the reason left, if any,
    # is this machine's audio output (no JACK server in this test), not the SoundFont.
    sound.set_kit(str(soundfont))
    qtbot.waitUntil(lambda: not sound.loading, timeout=10000)
    assert sound.kit().path == soundfont.resolve() or sound.kit().path == soundfont
    assert "SoundFont" not in sound.reason()
    assert sound.toggle.isEnabled()  # on, or "Sound: no audio ↻" (a click retries the output)
    assert ("no audio" in sound.toggle.text()) == (sound.reason() != "")


@pytest.mark.jack
def test_sound_on_by_default_without_a_midi_output_and_plays_the_engine_notes(qtbot, model_loader, soundfont):
    with private_jack_server(256):
        eng = Engine(Settings(osc_enabled=False, midi_api="jack", preview_audio="jack"), model_loader=model_loader)
        eng.start()
        try:
            win = open_window(qtbot, eng)
            sound = win.transport.sound
            assert sound.toggle.isChecked() and sound.loading  # the kit loads off the GUI thread
            assert sound.toggle.toolTip().startswith("loading kit")
            qtbot.waitUntil(lambda: sound.preview is not None and not sound.loading, timeout=10000)
            assert sound.preview.available and sound.preview.enabled
            assert sound.preview.status().backend == "jack" and "FluidR3" in sound.toggle.toolTip()
            heard: list[int] = []
            eng.note_sinks.append(lambda note, due: heard.append(note.drum_class))
            eng.set_pattern(pattern())
            win.grid.muteToggled.emit(2, True)  # mute the hats from the grid: the preview obeys
            qtbot.waitUntil(lambda: eng.snapshot().mutes[2], timeout=5000)
            eng.play()
            qtbot.waitUntil(lambda: sound.preview.notes_played >= 6, timeout=10000)
            assert heard and 2 not in heard and set(heard) <= {0, 1}
            # (timing against the recorded audio: tests/bridge/test_preview.py; a GUI process on a
            # loaded 2-core machine may hold the GIL past a note's block: those are counted late)
            sound.volume.setValue(40)
            assert sound.preview.volume == pytest.approx(0.4)
            sound.toggle.click()  # off
            assert not sound.preview.enabled
            played = sound.preview.notes_played
            qtbot.wait(1200)
            assert sound.preview.notes_played == played
            eng.stop()
            win.close()
            assert sound.preview is None  # closed with the window
        finally:
            eng.close()


def test_sound_off_by_default_with_an_external_output(qtbot, engine, soundfont):
    win = open_window(qtbot, engine)  # FakeMidiIO: a named, present output ("fake")
    assert not win.transport.sound.toggle.isChecked() and win.transport.sound.preview is None
    assert win.transport.sound.toggle.isEnabled()


def test_position_counter_shows_the_loop_bar_and_keeps_its_width(qtbot, null_midi_engine):
    win = open_window(qtbot, null_midi_engine)
    label = win.transport.position
    assert position_text(7, 2.7, 4) == "bar 3 / 4 · beat 2"
    assert position_text(1, 1.0, 2) == "bar 1 / 2 · beat 1"
    win.adapter._timer.stop()  # no polled snapshot in between: this test hands the label its own
    snap = null_midi_engine.snapshot()
    width, x_after = label.width(), win.transport.tempo.x()
    for bar, beat, bars in ((1, 1.0, 4), (12, 3.5, 4), (99, 4.9, 16), (64, 2.0, 64), (198, 4.0, 99)):
        groove = Groove.empty(bars * 16, 120.0)
        win.transport.update_position(snap.__class__(**{**snap.__dict__, "bar": bar, "beat": beat, "pattern": groove}))
        assert label.text() == position_text(bar, beat, bars)
        assert label.width() == width and win.transport.tempo.x() == x_after
        assert label.fontMetrics().horizontalAdvance(label.text()) <= label.contentsRect().width()


def test_sync_health_display_from_events(qtbot, null_midi_engine):
    win = open_window(qtbot, null_midi_engine)
    t = win.transport
    assert not t.health_label.isVisible()  # internal clock: nothing to show
    emit = win.adapter.engineEvent.emit
    emit("sync_health", {"state": "locked", "phase_error_ms": -0.42, "source": "midi",
                         "detail": "24 ppqn from 'DAW Clock', jitter 0.3 ms"})
    assert t.health_label.isVisible() and t.health_label.text() == "locked ±0.4 ms"
    assert "DAW Clock" in t.health_label.toolTip() and t.health_led.color() == theme.OK
    emit("sync_slip", {"ticks": 2, "corrected": True})
    assert "last slip: 2 MIDI clock ticks, corrected" in t.health_label.toolTip()
    emit("sync_health", {"state": "lost", "phase_error_ms": 0.0, "source": "midi", "detail": "no clock"})
    assert t.health_label.text() == "lost" and t.health_led.color() == theme.MUTE
    emit("sync_health", {"state": "free", "phase_error_ms": 0.0, "source": "internal", "detail": ""})
    assert not t.health_label.isVisible()
    for bad in (None, "locked", {"state": "locked", "phase_error_ms": "n/a", "source": "link"}):
        t.show_sync_health(bad)  # an engine without the field, or odd values: no crash
    assert t.health_label.text() == "locked ±0.0 ms"


class HealthClock(InternalClock):
    """The internal clock reporting the sync health a test sets (as a MIDI follower would)."""

    name = "midi"

    def __init__(self, bpm: float) -> None:
        super().__init__(bpm)
        self.state = ("settling", 3.0, "locking to 'DAW Clock'")

    def health(self) -> tuple[str, float, str]:
        return self.state


def test_sync_health_through_the_engine(qtbot, model_loader):
    from bridge.engine.snapshot import EngineSnapshot

    if "sync_health" not in EngineSnapshot.__dataclass_fields__:
        pytest.skip("this engine has no sync_health yet (issue 22)")
    clock = HealthClock(120.0)
    eng = Engine(Settings(osc_enabled=False), model_loader=model_loader, midi=_NullMidi(), clock=clock)
    eng.start()
    try:
        win = open_window(qtbot, eng)
        t = win.transport
        qtbot.waitUntil(lambda: t.health_label.text() == "settling", timeout=5000)
        clock.state = ("locked", 0.61, "24 ppqn, jitter 0.2 ms")
        qtbot.waitUntil(lambda: t.health_label.text() == "locked ±0.6 ms", timeout=5000)
        assert t.health_label.isVisible() and "jitter 0.2 ms" in t.health_label.toolTip()
    finally:
        eng.close()


def test_export_audio_writes_the_loops_with_mutes(qtbot, null_midi_engine, soundfont, tmp_path, monkeypatch):
    win = open_window(qtbot, null_midi_engine)
    null_midi_engine.set_pattern(pattern())
    qtbot.waitUntil(lambda: null_midi_engine.snapshot().pattern.num_hits == 6)
    from gui.audio_export import export_audio_dialog

    out = tmp_path / "loop.wav"
    monkeypatch.setattr(QInputDialog, "getInt", staticmethod(lambda *a, **k: (3, True)))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "")))
    line = export_audio_dialog(win)
    assert line is not None and line.startswith("exported loop.wav: 3 loops at 120.0 BPM")
    with wave.open(str(out)) as w:
        assert w.getnframes() == 3 * 2 * 4 * 24000  # 3 loops of 2 bars at 120 BPM, 48 kHz
        full = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    for k in range(9):
        null_midi_engine.set_mute(k, k != 0)  # only the kick left
    qtbot.waitUntil(lambda: sum(null_midi_engine.snapshot().mutes) == 8)
    assert export_audio_dialog(win) is not None
    with wave.open(str(out)) as w:
        kick_only = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert 0 < np.abs(kick_only.astype(float)).sum() < 0.8 * np.abs(full.astype(float)).sum()


class FakeOut:
    """An audio output that never calls back (no sound device in these tests)."""

    name, period_sec = "fake", 256 / 48000

    def __init__(self, render, backend) -> None:
        pass

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_the_users_sound_choice_and_volume_are_remembered(qtbot, null_midi_engine, soundfont, monkeypatch):
    from bridge.audio.preview import Preview

    monkeypatch.setattr("gui.widgets.sound.make_preview", lambda kit, volume, backend: Preview(
        kit=kit, volume=volume, backend=backend, enabled=False, open_output=FakeOut))
    win = open_window(qtbot, null_midi_engine)
    sound = win.transport.sound
    qtbot.waitUntil(lambda: sound.preview is not None and not sound.loading, timeout=10000)
    assert sound.toggle.isChecked() and sound.preview.enabled  # default: no external output
    assert sound.preview.on_note in null_midi_engine.note_sinks
    win.save_settings()
    assert win.store.get("sound_enabled") is None  # a default is not a choice
    sound.toggle.click()
    sound.volume.setValue(30)
    assert not sound.preview.enabled
    win.close()
    assert sound.preview is None and not null_midi_engine.note_sinks
    from gui.settings_store import SettingsStore

    store = SettingsStore()
    assert store.get("sound_enabled") is False and store.get("sound_volume") == 30
    win2 = open_window(qtbot, null_midi_engine)
    qtbot.wait(300)
    assert not win2.transport.sound.toggle.isChecked() and win2.transport.sound.volume.value() == 30
    assert win2.transport.sound.preview is None  # sound off: no audio client opened


def _jack_later(monkeypatch):
    """A JACK server name nobody runs yet (started by the test while the app runs)."""
    import os
    import shutil

    if shutil.which("jackd") is None:
        pytest.skip("needs jackd")
    name = f"gb-sound-later-{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    return name


@pytest.mark.jack
@pytest.mark.parametrize("how", ["click", "jack-notice"])
def test_no_audio_says_so_on_the_control_and_retries_when_jack_starts(qtbot, model_loader, soundfont, monkeypatch, how):
    """Trial B11: with no audio output the Sound control was greyed, the reason only in a
    tooltip, and it stayed grey after JACK started until a restart."""
    import os

    from jack_helpers import _start

    name = _jack_later(monkeypatch)
    midi = {"midi": _NullMidi()} if how == "click" else {}
    eng = Engine(Settings(osc_enabled=False, preview_audio="jack", midi_api="jack"), model_loader=model_loader, **midi)
    eng.start()
    jackd = None
    try:
        win = open_window(qtbot, eng)
        sound = win.transport.sound
        qtbot.waitUntil(lambda: sound.preview is not None and not sound.loading, timeout=20000)
        assert not sound.preview.available and sound.reason()
        assert sound.toggle.text() == "Sound: no audio ↻" and sound.toggle.isVisible()
        assert sound.toggle.isEnabled() and not sound.toggle.isChecked()
        assert "Click to try again" in sound.toggle.toolTip()
        jackd = _start(name, 256, False, dict(os.environ))
        if jackd is None:
            pytest.skip("jackd did not start")
        if how == "click":
            qtbot.wait(500)
            sound.toggle.click()
        qtbot.waitUntil(lambda: sound.preview is not None and sound.preview.available, timeout=20000)
        qtbot.waitUntil(lambda: sound.toggle.isChecked(), timeout=5000)
        assert sound.toggle.text() == "Sound" and sound.preview.enabled
        assert sound.preview.status().backend == "jack"
        win.close()
    finally:
        eng.close()
        if jackd is not None:
            jackd.terminate()
            jackd.wait(10)
