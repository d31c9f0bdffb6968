"""The main window: transport on top; Play (pattern, slots, generate, feel), Train, Models and
MIDI & OSC tabs; status bar.

It is shown before the engine exists (``attach_engine`` comes later, from a background start),
routes engine state to the widgets (playhead at ~30 Hz, the rest on discrete events), owns the
menus and shortcuts, shows every error in the status bar, and saves its layout on close.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QByteArray, Qt, pyqtSignal
from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from bridge.engine.api import EngineCommands
from gui.audio_export import export_audio_dialog
from gui.engine_adapter import EngineAdapter
from gui.export import DraggableThumb
from gui.first_pattern import FirstPattern
from gui.saved_ports import wanted_port
from gui.settings_store import SettingsStore
from gui.status_parts import osc_off_text
from gui.widgets.attributes_panel import AttributesPanel
from gui.widgets.follow_box import FollowBox
from gui.widgets.generate_panel import GeneratePanel
from gui.widgets.io_panel import IoPanel
from gui.widgets.models_panel import ModelsPanel
from gui.widgets.pattern_grid import PatternGrid
from gui.widgets.slots import SlotsPanel
from gui.widgets.train_panel import TrainPanel
from gui.widgets.transport import TransportBar
from gui.window_export import WindowExportMixin
from gui.window_extras import PageTabs, SideScroll, WindowExtrasMixin
from models.drum_maps import DrumMapError, get_drum_map

ENGINE_KEYS = ("bpm", "sync", "latency_ms", "model", "temperature", "num_variations",
               "input_drum_map", "output_drum_map", "input_mode", "midi_input", "midi_output")
OSC_KEYS = ("osc_enabled", "osc_host", "osc_port", "osc_out_host", "osc_out_port")


def saved_engine_settings(store: SettingsStore) -> dict[str, Any]:
    """The engine settings (and OSC fields) the app saved, to start the next engine with."""
    out = {k: store.get(f"engine.{k}") for k in ENGINE_KEYS}
    for key in ("midi_input", "midi_output"):  # our own port's name, stored by older versions
        out[key] = wanted_port(out[key])
    out.update({k: store.get(k) for k in OSC_KEYS})
    return {k: v for k, v in out.items() if v is not None}


class MainWindow(WindowExportMixin, WindowExtrasMixin, QMainWindow):
    closing = pyqtSignal()

    def __init__(self, store: SettingsStore | None = None, engine: Any = None) -> None:
        super().__init__()
        self.store = store if store is not None else SettingsStore()
        self.engine_owned = False
        self.osc_server: Any = None  # set by gui.app when it started one
        self.errors: deque[str] = deque(maxlen=30)
        self._engine_pattern: Any = None
        self._drum_map_name = ""
        self._model_error_shown = ""
        self.setWindowTitle("GrooveBridge")
        self.adapter = EngineAdapter(self)
        self.adapter.error.connect(self.show_error)
        self.adapter.snapshotChanged.connect(self._on_snapshot)
        self.adapter.stateChanged.connect(self._on_state)
        self.adapter.engineEvent.connect(self._on_event)
        self._build()
        self._build_menus()
        self._restore()
        if self.store.load_error:
            self.show_error(self.store.load_error)
        self.statusBar().showMessage("starting the engine…")  # type: ignore[union-attr]
        if engine is not None:
            self.attach_engine(engine)

    # ---- layout ------------------------------------------------------------------------
    def _build(self) -> None:
        central = QWidget()
        root = QVBoxLayout(central)
        root.setContentsMargins(10, 8, 10, 4)
        self.transport = TransportBar(self.adapter)
        root.addWidget(SideScroll(self.transport))  # a narrow window scrolls the bar, never clips it
        self.tabs = PageTabs()  # pages scroll rather than overlap on a small screen
        root.addWidget(self.tabs, 1)

        play = QWidget()
        play_lay = QHBoxLayout(play)  # the splitter (pattern over slots/generate) | feel
        play_lay.setContentsMargins(0, 6, 0, 0)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        top_lay = QVBoxLayout(top)
        top_lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        title = QLabel("<b>Pattern</b>")
        head.addWidget(title)
        self.source_label = QLabel("")
        self.source_label.setObjectName("dim")
        self.source_label.setToolTip("Where the playing pattern came from")
        head.addWidget(self.source_label)
        head.addStretch(1)
        hint = QLabel("drag out as .mid ›")
        hint.setObjectName("dim")
        head.addWidget(hint)
        self.drag_thumb = DraggableThumb("groovebridge-pattern", self.export_info)
        self.drag_thumb.setFixedSize(150, 30)
        self.drag_thumb.setToolTip("Drag the playing pattern into a DAW or file manager as a .mid file")
        head.addWidget(self.drag_thumb)
        top_lay.addLayout(head)
        self.grid = PatternGrid()
        self.grid.patternEdited.connect(lambda g: self.adapter.command(EngineCommands.set_pattern, g, source="edit"))
        self.grid.muteToggled.connect(lambda k, m: self.adapter.command(EngineCommands.set_mute, k, m))
        top_lay.addWidget(self.grid, 1)
        self.splitter.addWidget(top)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 4, 0, 0)
        self.slots = SlotsPanel(self.adapter, self.export_info)
        bl.addWidget(self.slots)
        self.generate = GeneratePanel(self.adapter, self.export_info)
        self.generate.exportPatternRequested.connect(self.export_pattern_dialog)
        self.generate.exportVariationsRequested.connect(self.export_variations_dialog)
        bl.addWidget(self.generate)
        self.follow = FollowBox(self.adapter)  # follows the engine's state by itself
        bl.addWidget(self.follow)
        self.splitter.addWidget(bottom)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        play_lay.addWidget(self.splitter, 1)
        self.attributes = AttributesPanel(self.adapter)
        play_lay.addWidget(self.attributes)
        self.tabs.add_page(play, "Play")

        self.train_panel = TrainPanel(self.adapter)
        self.tabs.add_page(self.train_panel, "Train")
        self.models_panel = ModelsPanel(self.adapter)
        self.tabs.add_page(self.models_panel, "Models")
        self.io_panel = IoPanel(self.adapter)
        self.io_panel.oscChanged.connect(self._save_osc)
        self.io_panel.oscApplyRequested.connect(self.apply_osc)
        self.tabs.add_page(self.io_panel, "MIDI && OSC")
        self.tabs.setTabToolTip(0, "Play, sample, morph, shape and export grooves")
        self.tabs.setTabToolTip(1, "Train a model on your own MIDI files")
        self.tabs.setTabToolTip(2, "Choose the active model")
        self.tabs.setTabToolTip(3, "MIDI ports, drum maps and OSC")
        self.setCentralWidget(central)

        self.error_label = QLabel("")
        self.error_label.setStyleSheet("color: #e5534b;")
        self.statusBar().addPermanentWidget(self.error_label)  # type: ignore[union-attr]
        self._build_extras()

    def _build_menus(self) -> None:
        bar = self.menuBar()
        assert bar is not None

        def action(menu: Any, text: str, shortcut: str | QKeySequence.StandardKey | None, slot: Any, tip: str) -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            a.setToolTip(tip)
            a.setStatusTip(tip)
            a.triggered.connect(slot)
            menu.addAction(a)
            self.addAction(a)
            return a

        f = bar.addMenu("&File")
        assert f is not None  # addMenu(title) always makes one (the stubs say Optional)
        action(f, "Load .mid into A…", "Ctrl+O", self.slots.cards["A"].load_dialog, "Load a MIDI file into slot A")
        action(f, "Load .mid into B…", "Ctrl+Shift+O", self.slots.cards["B"].load_dialog, "Load a MIDI file into slot B")
        f.addSeparator()
        action(f, "Save pattern as .mid…", QKeySequence.StandardKey.Save, self.export_pattern_dialog, "Save the playing pattern")
        action(f, "Save all variations…", "Ctrl+Shift+S", self.export_variations_dialog, "Save every variation")
        action(f, "Export audio…", "Ctrl+E", lambda: export_audio_dialog(self),
               "Render the pattern through the drum kit to a WAV file (N loops at the tempo)")
        f.addSeparator()
        action(f, "Quit", QKeySequence.StandardKey.Quit, self.close, "Quit GrooveBridge")
        t = bar.addMenu("&Transport")
        self.play_action = action(t, "Play / Stop", "Space", self.transport.toggle_play, "Start or stop playback")
        action(t, "Sample", "S", self.generate.sample, "Sample new grooves")
        action(t, "Capture into A", "A", self.slots.cards["A"].capture, "Capture the last bars played into A")
        action(t, "Capture into B", "B", self.slots.cards["B"].capture, "Capture the last bars played into B")
        action(t, "Swap A/B", "X", self.slots.swap, "Swap slots A and B")
        v = bar.addMenu("&View")
        for i, name in enumerate(("Play", "Train", "Models", "MIDI && OSC")):
            action(v, name, f"Ctrl+{i + 1}", lambda _=False, i=i: self.tabs.setCurrentIndex(i), f"Show the {name} tab")
        h = bar.addMenu("&Help")
        self._build_help(h, action)

    def _show_shortcuts(self) -> None:
        QMessageBox.information(
            self, "Shortcuts",
            "Space  play / stop\nS  sample\nA / B  capture into slot A / B\nX  swap A and B\n"
            "Ctrl+O / Ctrl+Shift+O  load .mid into A / B\nCtrl+S / Ctrl+Shift+S  save pattern / variations\n"
            "Ctrl+E  export audio\n"
            "Ctrl+1..4  tabs",
        )

    # ---- engine ------------------------------------------------------------------------
    def attach_engine(self, engine: Any, owned: bool = False, first: FirstPattern | None = None) -> None:
        """``first``: the pattern to play at once (``gui.first_pattern``; read here when None)."""
        self.engine_owned = owned
        self.adapter.attach(engine)
        self.restore_slots_later(first)
        self.io_panel.refresh_ports(quiet=True)
        self.statusBar().showMessage("engine running; loading the model…", 5000)  # type: ignore[union-attr]

    def _on_snapshot(self, snap: Any) -> None:
        self.grid.set_playhead(float(snap.step) if snap.playing else None)
        self.transport.update_position(snap)
        if snap.pattern is not self._engine_pattern:
            self._engine_pattern = snap.pattern
            self.grid.set_groove(snap.pattern)
            self.drag_thumb.set_groove(snap.pattern if snap.pattern.num_hits else None)

    def _on_state(self, snap: Any) -> None:
        self._on_snapshot(snap)
        self.grid.set_mutes(snap.mutes)
        if snap.output_drum_map != self._drum_map_name:
            self._drum_map_name = snap.output_drum_map
            try:
                self.grid.set_drum_map(get_drum_map(snap.output_drum_map))
            except DrumMapError as e:
                self.show_error(str(e))
        src = str(snap.pattern_source)
        self.source_label.setText(f"· {src}" if src and src != "empty" else "")
        self.transport.update_state(snap)
        self.slots.update_state(snap)
        self.generate.update_state(snap)
        self.attributes.update_state(snap)
        self.io_panel.update_state(snap)
        self.models_panel.update_state(snap)
        self.show_loading(snap)
        if snap.model_state == "error" and snap.last_error and snap.last_error != self._model_error_shown:
            self._model_error_shown = snap.last_error
            self.show_error(f"model: {snap.last_error}")
        elif snap.model_state == "ready" and self._model_error_shown != "ready":
            self._model_error_shown = "ready"
            self.statusBar().showMessage(f"model '{snap.model_name}' ready", 4000)  # type: ignore[union-attr]
        self.replace_untouched_starter(snap)  # after the line above: its message may say more

    def _on_event(self, event: str, payload: Any) -> None:
        if event == "capture" and isinstance(payload, dict) and payload.get("slot") in self.slots.cards:
            self.slots.cards[payload["slot"]].on_capture(payload)
        elif event == "variations":
            snap = self.adapter.snapshot()
            if snap is not None:
                self.slots.on_variations(snap)

    def set_osc_server(self, server: Any, failure: str = "") -> None:
        """``failure``: why the server could not start (said in the MIDI & OSC tab, with what to do)."""
        self.osc_server = server
        if server is None:
            self.io_panel.osc_status.setText(osc_off_text(failure) if failure else "OSC is off")
        else:
            host, port = server.address
            out = f", sending to {server.out_host}:{server.out_port}" if server.out_port else ""
            self.io_panel.osc_status.setText(f"listening on {host}:{port}{out}")

    def apply_osc(self, values: dict[str, Any]) -> bool:
        """Restart the OSC server with ``values`` (the MIDI & OSC tab's Apply)."""
        self._save_osc(values)
        engine = self.adapter.engine
        if engine is None:
            self.show_error("the engine is still starting; OSC settings are saved for it")
            return False
        if self.osc_server is not None:
            self.osc_server.close()
            self.set_osc_server(None)
        if not values.get("osc_enabled", True):
            return True
        from bridge.osc import OscError, OscServer

        server = OscServer(engine, str(values["osc_host"]), int(values["osc_port"]),
                           str(values["osc_out_host"]), int(values["osc_out_port"]))
        try:
            server.start()
        except OscError as e:
            self.show_error(str(e))
            self.set_osc_server(None, str(e))
            return False
        self.set_osc_server(server)
        return True

    # ---- errors ------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        """Readable, never silent: red in the status bar (once: not also as its message, which
        stays for news), the recent ones in its tooltip."""
        self.errors.append(message)
        self.error_label.setText(f"⚠ {message[:140]}")
        self.error_label.setToolTip("\n".join(self.errors))
        self._hold_error()

    # ---- persistence -------------------------------------------------------------------
    def _restore(self) -> None:
        self.apply_minimum_size()
        geo = self.store.get_bytes("window_geometry")
        if geo is None or not self.restoreGeometry(QByteArray(geo)):
            screen = self.screen()
            avail = screen.availableGeometry() if screen is not None else None
            w, h = (1280, 820) if avail is None else (min(1280, avail.width()), min(820, avail.height() - 40))
            self.resize(w, h)  # a laptop's screen: the title bar and the window stay on it
        state = self.store.get_bytes("window_state")
        if state is not None:
            self.restoreState(QByteArray(state))
        split = self.store.get_bytes("play_splitter")
        if split is not None:
            self.splitter.restoreState(QByteArray(split))
        self.tabs.setCurrentIndex(int(self.store.get("tab", 0)))
        tp = self.train_panel
        tp.folder_edit.setText(self.store.get("train_folder", ""))
        tp.dataset_edit.setText(self.store.get("train_dataset", ""))
        tp.run_edit.setText(self.store.get("train_run", ""))
        tp.steps_spin.setValue(int(self.store.get("train_steps", tp.steps_spin.value())))
        tp.batch_spin.setValue(int(self.store.get("train_batch", tp.batch_spin.value())))
        for combo, key in ((tp.config_combo, "train_config"), (tp.device_combo, "train_device")):
            i = combo.findText(self.store.get(key, combo.currentText()))
            combo.setCurrentIndex(max(i, 0))
        if tp.run_edit.text() and Path(tp.run_edit.text()).is_dir():
            tp.show_run(tp.run_edit.text())
        self.io_panel.set_osc_settings({k: self.store.get(k) for k in OSC_KEYS if self.store.get(k) is not None})
        self.restore_extras()
        self.transport.sound.restore(self.store)

    def _save_osc(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            self.store.set(k, v)

    def save_settings(self) -> None:
        self.store.set_bytes("window_geometry", bytes(self.saveGeometry().data()))
        self.store.set_bytes("window_state", bytes(self.saveState().data()))
        self.store.set_bytes("play_splitter", bytes(self.splitter.saveState().data()))
        self.store.set("tab", self.tabs.currentIndex())
        tp = self.train_panel
        for key, value in (
            ("train_folder", tp.folder_edit.text()), ("train_dataset", tp.dataset_edit.text()),
            ("train_run", tp.run_edit.text()), ("train_steps", tp.steps_spin.value()),
            ("train_batch", tp.batch_spin.value()), ("train_config", tp.config_combo.currentText()),
            ("train_device", tp.device_combo.currentText()),
        ):
            self.store.set(key, value)
        self._save_osc(self.io_panel.osc_settings())
        self.save_extras()
        self.transport.sound.save(self.store)
        snap = self.adapter.snapshot()
        if snap is not None:
            ports = snap.ports or {}
            engine_values = {
                "bpm": float(snap.bpm), "sync": snap.sync_source, "latency_ms": float(snap.latency_ms),
                "temperature": float(snap.temperature), "num_variations": int(snap.num_variations),
                "input_drum_map": snap.input_drum_map, "output_drum_map": snap.output_drum_map,
                "input_mode": snap.input_mode,
            }
            if snap.model_state == "ready" and snap.model_name:
                engine_values["model"] = snap.model_name
            for key in ("input", "output"):
                if ports.get("api") not in (None, "fake") and isinstance(ports.get(key), str):
                    engine_values[f"midi_{key}"] = wanted_port(ports[key])  # virtual: ""
            for k, v in engine_values.items():
                self.store.set(f"engine.{k}", v)
        err = self.store.save()
        if err:
            self.show_error(err)

    def engine_overrides(self) -> dict[str, Any]:
        """Saved engine settings (and OSC fields) to start the next engine with."""
        return saved_engine_settings(self.store)

    def closeEvent(self, event: QCloseEvent | None) -> None:
        self.save_settings()
        self.train_panel.shutdown()
        self.models_panel.job.kill()
        self.transport.sound.close_preview()
        engine = self.adapter.engine
        self.adapter.detach()
        if self.osc_server is not None:
            self.osc_server.close()
            self.osc_server = None
        if engine is not None and self.engine_owned:
            try:
                engine.close()
            except Exception as e:  # noqa: BLE001 - quitting anyway; say why on stderr
                print(f"groovebridge: engine close failed: {e}")
        self.closing.emit()
        super().closeEvent(event)
