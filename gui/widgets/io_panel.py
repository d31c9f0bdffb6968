"""MIDI and OSC: input/output port pickers, drum maps, OSC listen and target settings.

Port lists come from ``bridge.midi.ports.list_ports``, re-read every ``PORT_WATCH_MS`` while
the tab is shown (a synth or DAW started meanwhile appears without a click; Refresh forces it). The first
entries are our virtual ports ("" in settings) and "none". Port and drum-map changes go to the
engine at once; the OSC fields are saved and applied with Apply (the window restarts its OSC
server, ``oscApplyRequested``).
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from bridge.engine.api import EngineCommands
from gui.engine_adapter import EngineAdapter

VIRTUAL = ("", "virtual port")
NONE = ("none", "no port")
BUILTIN_MAPS = ("gm", "roland", "reduced")
PORT_WATCH_MS = 1500


def _set_combo(combo: QComboBox, value: str) -> None:
    i = combo.findData(value)
    if i < 0:
        combo.addItem(value, value)
        i = combo.count() - 1
    if i != combo.currentIndex():
        combo.blockSignals(True)
        combo.setCurrentIndex(i)
        combo.blockSignals(False)


class IoPanel(QWidget):
    oscChanged = pyqtSignal(dict)  # {"osc_enabled", "osc_host", "osc_port", "osc_out_host", "osc_out_port"}
    oscApplyRequested = pyqtSignal(dict)

    def __init__(self, adapter: EngineAdapter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.adapter = adapter
        self.midi_api = "auto"
        self._port_lists: tuple[list[str], list[str]] | None = None
        self.port_watch = QTimer(self)
        self.port_watch.setInterval(PORT_WATCH_MS)
        self.port_watch.timeout.connect(lambda: self.refresh_ports(quiet=True, only_changes=True))
        outer = QVBoxLayout(self)
        lay = QHBoxLayout()
        outer.addLayout(lay)
        outer.addStretch(1)

        midi = QGroupBox("MIDI")
        form = QFormLayout(midi)
        self.input_combo = QComboBox()
        self.input_combo.setToolTip("Where played drums come from (for capture and MIDI clock)")
        self.output_combo = QComboBox()
        self.output_combo.setToolTip("Where the groove is sent: a synth, drum plug-in or DAW track")
        form.addRow("Input port", self.input_combo)
        form.addRow("Output port", self.output_combo)
        self.refresh_button = QPushButton("Refresh ports")
        self.refresh_button.setToolTip("Re-read the MIDI ports of the system")
        self.refresh_button.clicked.connect(lambda: self.refresh_ports())
        form.addRow(self.refresh_button)
        self.input_map = QComboBox()
        self.input_map.setToolTip("How the input's notes map to the 9 drum classes")
        self.output_map = QComboBox()
        self.output_map.setToolTip("Which note each drum class is sent on (gm suits Ableton Drum Rack)")
        for combo in (self.input_map, self.output_map):
            for name in BUILTIN_MAPS:
                combo.addItem(name, name)
            combo.addItem("Load .toml map…", "__load__")
        form.addRow("Input drum map", self.input_map)
        form.addRow("Output drum map", self.output_map)
        self.clock_out = QCheckBox("Send MIDI clock")
        self.clock_out.setToolTip("Send MIDI clock and start/stop on the output (when the internal clock leads)")
        self.clock_out.toggled.connect(lambda on: self.adapter.command(EngineCommands.set_clock_out, bool(on)))
        form.addRow(self.clock_out)
        self.ports_label = QLabel("")
        self.ports_label.setObjectName("dim")
        self.ports_label.setWordWrap(True)
        self.ports_label.setToolTip("The ports the engine has open now")
        form.addRow(self.ports_label)
        lay.addWidget(midi, 3)

        osc = QGroupBox("OSC")
        oform = QFormLayout(osc)
        self.osc_enabled = QCheckBox("Listen for OSC commands")
        self.osc_enabled.setChecked(True)
        self.osc_enabled.setToolTip("Control the engine over OSC (TouchOSC, Max, Pure Data)")
        oform.addRow(self.osc_enabled)
        self.osc_host = QLineEdit("127.0.0.1")
        self.osc_host.setToolTip("Address to listen on (0.0.0.0 = every network)")
        self.osc_port = QSpinBox()
        self.osc_port.setRange(1, 65535)
        self.osc_port.setValue(9000)
        self.osc_port.setToolTip("UDP port to listen on")
        oform.addRow("Listen host", self.osc_host)
        oform.addRow("Listen port", self.osc_port)
        self.osc_out_host = QLineEdit("127.0.0.1")
        self.osc_out_host.setToolTip("Where state updates and played notes are sent")
        self.osc_out_port = QSpinBox()
        self.osc_out_port.setRange(0, 65535)
        self.osc_out_port.setValue(9001)
        self.osc_out_port.setToolTip("UDP port state updates are sent to (0 = none)")
        oform.addRow("Target host", self.osc_out_host)
        oform.addRow("Target port", self.osc_out_port)
        self.osc_apply = QPushButton("Apply")
        self.osc_apply.setToolTip("Restart the OSC server with these settings")
        self.osc_apply.clicked.connect(lambda: self.oscApplyRequested.emit(self.osc_settings()))
        oform.addRow(self.osc_apply)
        self.osc_status = QLabel("")
        self.osc_status.setObjectName("dim")
        self.osc_status.setWordWrap(True)
        self.osc_status.setToolTip("Where the OSC server listens now")
        oform.addRow(self.osc_status)
        lay.addWidget(osc, 2)

        self.input_combo.activated.connect(lambda _i: self.adapter.command(EngineCommands.set_input_port, self.input_combo.currentData()))
        self.output_combo.activated.connect(lambda _i: self.adapter.command(EngineCommands.set_output_port, self.output_combo.currentData()))
        self.input_map.activated.connect(lambda _i: self._map_chosen(self.input_map, "input"))
        self.output_map.activated.connect(lambda _i: self._map_chosen(self.output_map, "output"))
        for w in (self.osc_host, self.osc_out_host):
            w.editingFinished.connect(self._osc_edited)
        for s in (self.osc_port, self.osc_out_port):
            s.valueChanged.connect(self._osc_edited)
        self.osc_enabled.toggled.connect(self._osc_edited)
        self._fill_ports([], [])

    # ---- ports -------------------------------------------------------------------------
    def _fill_ports(self, inputs: list[str], outputs: list[str]) -> None:
        for combo, names, own in ((self.input_combo, inputs, "GrooveBridge Out"), (self.output_combo, outputs, "GrooveBridge In")):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(f"GrooveBridge ({VIRTUAL[1]})", VIRTUAL[0])
            combo.addItem(NONE[1], NONE[0])
            for n in names:
                if own not in n and "GrooveBridge probe" not in n:
                    combo.addItem(n, n)
            if current is not None:
                i = combo.findData(current)
                combo.setCurrentIndex(max(i, 0))
            combo.blockSignals(False)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - the lists are watched while shown
        if self.adapter.attached:
            self.refresh_ports(quiet=True, only_changes=True)
        self.port_watch.start()
        super().showEvent(event)

    def hideEvent(self, event: Any) -> None:  # noqa: N802
        self.port_watch.stop()
        super().hideEvent(event)

    def refresh_ports(self, quiet: bool = False, only_changes: bool = False) -> bool:
        """Re-read the system's ports; errors are shown unless ``quiet`` (start-up, watching).
        ``only_changes``: leave the lists alone when no port came or went (or a list is open)."""
        if only_changes and (self.input_combo.view().isVisible() or self.output_combo.view().isVisible()):  # type: ignore[union-attr]
            return True
        try:
            from bridge.midi.ports import list_ports, resolve_api

            inputs, outputs = list_ports(resolve_api(self.midi_api))
        except Exception as e:  # noqa: BLE001 - MidiPortError or no MIDI backend: say so, go on
            if not quiet:
                self.adapter.error.emit(str(e) if "MIDI" in str(e) else f"cannot list MIDI ports: {e}")
            return False
        if only_changes and self._port_lists == (inputs, outputs):
            return True
        self._port_lists = (list(inputs), list(outputs))
        self._fill_ports(inputs, outputs)
        snap = self.adapter.snapshot()
        if snap is not None:
            self._select_current_ports(snap.ports or {})
        return True

    def _select_current_ports(self, ports: dict[str, Any]) -> None:
        for combo, key in ((self.input_combo, "input"), (self.output_combo, "output")):
            name = ports.get(key)
            if isinstance(name, str):
                i = combo.findData(name)
                if i >= 0 and i != combo.currentIndex():
                    combo.blockSignals(True)
                    combo.setCurrentIndex(i)
                    combo.blockSignals(False)

    # ---- drum maps ---------------------------------------------------------------------
    def _map_chosen(self, combo: QComboBox, which: str) -> None:
        value = combo.currentData()
        if value == "__load__":
            path, _ = QFileDialog.getOpenFileName(self, "Drum map", "", "Drum maps (*.toml)")
            if not path:
                snap = self.adapter.snapshot()
                if snap is not None:
                    _set_combo(combo, getattr(snap, f"{which}_drum_map", "gm"))
                return
            value = path
            _set_combo(combo, path)
        self.adapter.command(EngineCommands.set_drum_maps, **{which: value})

    # ---- OSC ---------------------------------------------------------------------------
    def osc_settings(self) -> dict[str, Any]:
        return {
            "osc_enabled": self.osc_enabled.isChecked(),
            "osc_host": self.osc_host.text().strip() or "127.0.0.1",
            "osc_port": self.osc_port.value(),
            "osc_out_host": self.osc_out_host.text().strip() or "127.0.0.1",
            "osc_out_port": self.osc_out_port.value(),
        }

    def set_osc_settings(self, values: dict[str, Any]) -> None:
        self.osc_enabled.setChecked(bool(values.get("osc_enabled", True)))
        self.osc_host.setText(str(values.get("osc_host", "127.0.0.1")))
        self.osc_port.setValue(int(values.get("osc_port", 9000)))
        self.osc_out_host.setText(str(values.get("osc_out_host", "127.0.0.1")))
        self.osc_out_port.setValue(int(values.get("osc_out_port", 9001)))

    def _osc_edited(self) -> None:
        self.oscChanged.emit(self.osc_settings())

    # ---- state -------------------------------------------------------------------------
    def update_state(self, snap: Any) -> None:
        _set_combo(self.input_map, snap.input_drum_map)
        _set_combo(self.output_map, snap.output_drum_map)
        if self.clock_out.isChecked() != bool(snap.clock_out):
            self.clock_out.blockSignals(True)
            self.clock_out.setChecked(bool(snap.clock_out))
            self.clock_out.blockSignals(False)
        ports = snap.ports or {}
        if ports:
            def state(d: str) -> str:
                return "" if ports.get(f"{d}_present", True) else " (missing)"

            api = str(ports.get("api", "")).lower().replace(" ", "")
            api = {"windowsmultimedia": "winmm", "windowsmm": "winmm"}.get(api, api)
            if api in ("jack", "alsa", "coremidi", "winmm"):
                self.midi_api = api
            self._select_current_ports(ports)
            if ports.get("server_down"):
                self.ports_label.setText("JACK: no server is running; the MIDI ports open as soon as one starts")
                return
            self.ports_label.setText(
                f"{ports.get('api', '?')}: in '{ports.get('input') or 'GrooveBridge In'}'{state('input')}, "
                f"out '{ports.get('output') or 'GrooveBridge Out'}'{state('output')}"
            )
