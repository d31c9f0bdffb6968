"""The transport bar's sound controls: hear the pattern through a GM SoundFont drum kit.

"Sound" toggles the preview (``bridge.audio.preview``: the engine's own notes, on its timing path);
it is on by default when the MIDI output is not an external port (a lone musician with no
DAW or synth hears the pattern at once) and remembers the user's choice. The volume fader and
"Kit…" (any .sf2/.sf3 file) sit beside it. With no SoundFont on the system the toggle reads
"Sound: no kit", greyed, its tooltip says where to get one; "Kit…" stays usable. With no audio
output it reads "Sound: no audio ↻": a click opens the output again (and a JACK server that
starts, the engine's "notice", retries by itself).
The preview opens lazily (first time the sound is on), so a window with the sound off opens no
audio client. Kits load on a worker thread (a 148 MB .sf2 takes 0.35 s, an .sf3 decodes for
seconds): the window never freezes; the toggle says "loading kit…" meanwhile. A bad file is
refused with one line in the status bar; the kit playing stays.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QFileDialog, QHBoxLayout, QPushButton, QSlider, QToolButton, QWidget

from bridge.audio.preview import Preview, resolve_soundfont
from bridge.midi.port import jack_server_came
from gui.engine_adapter import EngineAdapter
from models.synth import WHERE_TO_GET, Kit, SoundFontError, load_kit

VIRTUAL_OUTPUTS = ("", "groovebridge out", "none", "fake-none")


def make_preview(kit: Kit, volume: float, backend: str) -> Any:
    """The preview the app plays through: its audio in a process of its own (bridge.audio.preview_proc:
    a Python audio callback in this process would wait on the GIL that python-rtmidi holds while
    it talks to JACK, and JACK waits for it: the app hung)."""
    from bridge.audio.preview_proc import PreviewProcess

    return PreviewProcess(kit=kit, volume=volume, backend=backend, enabled=False)


def output_is_external(ports: dict[str, Any] | None) -> bool:
    """Whether the MIDI output goes to a named port of another program (so a synth or DAW is
    there to make the sound): not our own virtual port, not "none", not a failed MIDI."""
    if not ports or ports.get("api") in (None, "none"):
        return False
    name = str(ports.get("output", "")).strip().lower()
    return bool(ports.get("output_present", True)) and name not in VIRTUAL_OUTPUTS and "groovebridge" not in name


class SoundBox(QWidget):
    kitChanged = pyqtSignal(str)  # the kit's description
    _loaded = pyqtSignal(int, object, str)  # load number, Kit or None, error (from the worker thread)

    def __init__(self, adapter: EngineAdapter, parent: QWidget | None = None,
                 open_output: Callable[..., Any] | None = None) -> None:
        super().__init__(parent)
        self.adapter = adapter
        self.preview: Any = None  # bridge.audio.preview_proc.PreviewProcess (or a Preview given an output)
        self._open_output = open_output  # None: bridge.audio.output.open_audio_out, looked up when used
        self._engine: Any = None
        self._soundfont = ""  # the user's kit ("" = the system's)
        self._user_choice: bool | None = None  # the toggle as the user last set it
        self._loads = 0  # kit loads started; only the latest one's result is used
        self.loading = ""  # the file being loaded ("" when none)
        self._loaded.connect(self._on_loaded, Qt.ConnectionType.QueuedConnection)  # type: ignore[call-arg]  # PyQt6 stub lacks connect's type
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.toggle = QPushButton("Sound")
        self.toggle.setCheckable(True)
        self.toggle.toggled.connect(self._on_toggled)
        lay.addWidget(self.toggle)
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(80)
        self.volume.setFixedWidth(60)
        self.volume.setToolTip("Preview volume")
        self.volume.valueChanged.connect(self._on_volume)
        lay.addWidget(self.volume)
        self.kit_button = QToolButton()
        self.kit_button.setText("Kit…")
        self.kit_button.setToolTip("Choose the drum kit: a General MIDI SoundFont (.sf2 / .sf3)")
        self.kit_button.clicked.connect(self.choose_kit)
        lay.addWidget(self.kit_button)
        adapter.engineAttached.connect(self._on_engine)
        adapter.engineEvent.connect(self._on_engine_event)
        self._show()

    # ---- state -----------------------------------------------------------------------------
    def reason(self) -> str:
        """Why the sound cannot be on ("" when it can)."""
        if self.preview is not None and self.preview.kit is not None:
            return self.preview.reason
        if resolve_soundfont(self._soundfont or None) is None:
            return f"no GM SoundFont found: {WHERE_TO_GET}"
        return ""

    def kit(self) -> Kit | None:
        """The kit in use (loaded on demand for an export when the sound was never on)."""
        if self.preview is not None and self.preview.kit is not None:
            return self.preview.kit
        found = resolve_soundfont(self._soundfont or None)
        if found is None:
            raise SoundFontError(f"no GM SoundFont found: {WHERE_TO_GET}")
        return load_kit(found)

    def no_output(self) -> bool:
        """A kit but no audio output (no JACK server, no sound device): a click retries."""
        return self.preview is not None and self.preview.kit is not None and not self.preview.available

    def _show(self) -> None:
        if self.loading:
            self.toggle.setToolTip(f"loading kit {Path(self.loading).name}…")
            return
        reason = self.reason()
        retry = bool(reason) and self.no_output()
        self.toggle.setEnabled(not reason or retry)  # no kit: greyed ("Kit…" is beside it)
        self.toggle.setText("Sound: no audio ↻" if retry else "Sound: no kit" if reason else "Sound")
        if reason:
            self._set_checked(False)
            self.toggle.setToolTip(f"Sound is off: {reason}" + (
                "\nClick to try again (after starting JACK or connecting a sound device)" if retry else ""))
            return
        if self.preview is not None:
            st = self.preview.status()
            self.toggle.setToolTip(f"Hear the pattern through {st.kit} ({st.backend} audio, "
                                   f"{st.delay_ms:.1f} ms after the MIDI note time)")
        else:
            found = resolve_soundfont(self._soundfont or None)
            self.toggle.setToolTip(f"Hear the pattern through {found.name if found else 'a GM kit'}")

    # ---- engine ----------------------------------------------------------------------------
    def _on_engine(self, engine: Any) -> None:
        self.close_preview()
        self._engine = engine
        settings = getattr(engine, "settings", None)
        if not self._soundfont and settings is not None:
            self._soundfont = str(getattr(settings, "preview_soundfont", "") or "")
        snap = self.adapter.snapshot()
        if self._user_choice is not None:
            on = self._user_choice
        elif settings is not None and getattr(settings, "preview_enabled", False):
            on = True
        else:
            on = not output_is_external(getattr(snap, "ports", None))
        self._show()
        self._set_checked(on and self.toggle.isEnabled())
        if self.toggle.isChecked():
            self._apply(True)

    def _set_checked(self, on: bool) -> None:
        """Set the toggle without counting it as the user's choice."""
        self.toggle.blockSignals(True)
        self.toggle.setChecked(on)
        self.toggle.blockSignals(False)

    def _load(self, path: Path) -> None:
        """Load ``path`` on a worker thread; ``_on_loaded`` gets the kit on the GUI thread."""
        self._loads += 1
        number, self.loading = self._loads, str(path)

        def work() -> None:
            try:
                self._loaded.emit(number, load_kit(path), "")
            except SoundFontError as e:
                self._loaded.emit(number, None, str(e))

        threading.Thread(target=work, name="groovebridge-kit-load", daemon=True).start()
        self._show()

    def _on_loaded(self, number: int, kit: Kit | None, error: str) -> None:
        if number != self._loads:
            return  # a newer choice is loading
        path, self.loading = self.loading, ""
        if kit is None:
            self.adapter.error.emit(error)
            self._show()
            return
        self._soundfont = path
        if self.preview is not None:
            try:
                self.preview.set_kit(kit)
            except SoundFontError as e:
                self.adapter.error.emit(str(e))
                self._show()
                return
        else:
            self._open_preview(kit)
        self.kitChanged.emit(kit.describe())
        if self.toggle.isEnabled() and not self.no_output() and self._user_choice is not False \
                and not self.toggle.isChecked():
            self.toggle.setChecked(True)  # a kit just chosen (or found): the user wants to hear it
        self._apply(self.toggle.isChecked())

    def _open_preview(self, kit: Kit) -> None:
        if self._engine is None:
            return
        settings = getattr(self._engine, "settings", None)
        backend = getattr(settings, "preview_audio", "auto") if settings is not None else "auto"
        if self._open_output is not None:  # an output given (tests): in this process
            self.preview = Preview(volume=self.volume.value() / 100.0, backend=backend, enabled=False,
                                   open_output=self._open_output, kit=kit)
        else:
            self.preview = make_preview(kit, self.volume.value() / 100.0, backend)
        if self.preview.available:
            self.preview.attach(self._engine)

    def _apply(self, on: bool) -> None:
        if on and self.preview is None and not self.loading:
            found = resolve_soundfont(self._soundfont or None)
            if found is not None:
                self._load(found)  # _on_loaded opens the preview and comes back here
                return
        preview = self.preview
        if preview is not None:
            if self._engine is not None and preview.kit is not None and preview.out is not None \
                    and preview.on_note not in self._engine.note_sinks:
                preview.attach(self._engine)
            preview.set_enabled(on and preview.available)
        self._show()

    def _on_toggled(self, on: bool) -> None:
        if on and self.no_output():  # "Sound: no audio ↻" clicked: open the output again
            self.retry_output()
            return
        self._user_choice = on
        self._apply(on)

    def retry_output(self) -> bool:
        """Re-create the preview with the kit it has (its audio output is opened anew): after a
        JACK server started, or a sound device came. True when it sounds now."""
        preview = self.preview
        if preview is None or preview.kit is None:
            return False
        kit = preview.kit
        self.close_preview()
        self._open_preview(kit)
        ok = self.preview is not None and self.preview.available
        if ok and self._user_choice is not False:
            self._user_choice = True
            self._set_checked(True)
        self._apply(ok and self.toggle.isChecked())
        return ok

    def _on_engine_event(self, event: str, payload: Any) -> None:
        """A JACK server started (the engine's "notice"): the sound retries its output by itself."""
        if event == "notice" and jack_server_came(payload) and self.no_output() and self._user_choice is not False:
            self.retry_output()

    def _on_volume(self, value: int) -> None:
        if self.preview is not None:
            self.preview.set_volume(value / 100.0)

    # ---- kit ---------------------------------------------------------------------------------
    def choose_kit(self) -> None:
        start = str(Path(self._soundfont).parent) if self._soundfont else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Choose a drum kit (GM SoundFont)", start,
                                              "SoundFont (*.sf2 *.sf3);;All files (*)")
        if path:
            self.set_kit(path)

    def set_kit(self, path: str) -> None:
        """Use the SoundFont at ``path`` once loaded (off the GUI thread); a bad one is refused
        with one line in the status bar and the kit playing stays."""
        self._load(Path(path).expanduser())

    # ---- persistence and shutdown ----------------------------------------------------------------
    def restore(self, store: Any) -> None:
        self._soundfont = str(store.get("sound_soundfont", "") or "")
        choice = store.get("sound_enabled", None)
        self._user_choice = None if choice is None else bool(choice)
        self.volume.setValue(int(store.get("sound_volume", self.volume.value())))
        self._show()
        if self._engine is not None and self._user_choice is not None and self.toggle.isEnabled():
            self._set_checked(self._user_choice)
            self._apply(self._user_choice)

    def save(self, store: Any) -> None:
        store.set("sound_soundfont", self._soundfont)
        store.set("sound_volume", self.volume.value())
        if self._user_choice is not None:
            store.set("sound_enabled", self._user_choice)

    def close_preview(self) -> None:
        self._loads += 1  # a kit still loading is not used
        self.loading = ""
        preview, self.preview = self.preview, None
        if preview is not None:
            preview.close()
