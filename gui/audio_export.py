"""File > Export audio…: the playing pattern, N loops at the current tempo, through the drum kit
of the Sound controls (mutes applied: what you hear is what you get) into a WAV file.

The render is ``bridge.audio.render`` (the player's compiled notes, loop-exact, deterministic,
hundreds of times faster than real time), so a 4-bar loop takes milliseconds on the GUI thread.
No kit, an empty pattern or a file that cannot be written: one line in the status bar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtWidgets import QFileDialog, QInputDialog, QWidget

from bridge.audio.render import render_groove, write_wav
from models.groove import Groove
from models.synth import Kit, SoundFontError

MAX_LOOPS = 64


def export_audio(groove: Groove, path: str | Path, kit: Kit, loops: int = 1, bpm: float = 120.0,
                 mutes: tuple[bool, ...] | None = None, volume: float = 0.8) -> str:
    """Render and write; returns the status line. ValueError/SoundFontError/OSError on failure."""
    if groove.num_hits == 0:
        raise ValueError("the pattern is empty: nothing to export")
    p = Path(path)
    if p.suffix.lower() != ".wav":
        p = p.with_suffix(".wav")
    result = render_groove(groove, kit, loops=loops, bpm=bpm, mutes=mutes, volume=volume)
    write_wav(p, result.audio, result.sample_rate)
    seconds = result.audio.shape[0] / result.sample_rate
    return f"exported {p.name}: {loops} loop{'s' * (loops != 1)} at {bpm:.1f} BPM, {seconds:.1f} s, kit {kit.describe()}"


def export_audio_dialog(window: Any, parent: QWidget | None = None) -> str | None:
    """Ask for the loops and the file, export; the status line, or None when cancelled/failed
    (the failure is shown through ``window.show_error``)."""
    parent = parent or window
    snap = window.adapter.snapshot()
    if snap is None:
        window.show_error("export audio: the engine is still starting")
        return None
    sound = window.transport.sound
    try:
        kit = sound.kit()
    except SoundFontError as e:
        window.show_error(f"export audio: {e}")
        return None
    loops, ok = QInputDialog.getInt(parent, "Export audio", "Loops:", 1, 1, MAX_LOOPS)
    if not ok:
        return None
    start = window.store.get("last_audio_dir", str(Path.home())) if hasattr(window, "store") else str(Path.home())
    path, _ = QFileDialog.getSaveFileName(parent, "Export audio", str(Path(start) / "groove.wav"), "WAV audio (*.wav)")
    if not path:
        return None
    try:
        line = export_audio(snap.pattern, path, kit, loops=loops, bpm=float(snap.bpm), mutes=tuple(snap.mutes),
                            volume=sound.volume.value() / 100.0)
    except (ValueError, OSError) as e:
        window.show_error(f"export audio: {getattr(e, 'strerror', None) or e}")
        return None
    if hasattr(window, "store"):
        window.store.set("last_audio_dir", str(Path(path).parent))
    window.statusBar().showMessage(line, 8000)
    return line
