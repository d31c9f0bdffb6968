"""The main window's smaller duties, mixed into ``gui.main_window.MainWindow``: tab pages that
scroll instead of overlapping on a small screen, the model name that never widens the window,
status messages that clear when their action is over, the model-loading progress, the tempo a
loaded file offers, the Help menu (About, docs, OSC table) and what is kept between launches
(slots, humanize amount, the last folders)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PyQt6.QtCore import QEvent, QSize, Qt, QTimer, QUrl
from PyQt6.QtGui import QDesktopServices
from PyQt6.QtWidgets import (
    QFrame,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QWidget,
)

from bridge.engine.api import EngineCommands
from gui.export import export_pattern
from gui.first_pattern import FirstPattern, first_pattern, is_starter
from gui.settings_store import config_dir
from gui.status_parts import NOTICE_SHOW_MS, MidiState, notice_text
from gui.widgets.elided_label import ElidedLabel

if TYPE_CHECKING:  # pragma: no cover
    from gui.window_parts import WindowParts as _Base
else:
    _Base = object

ROOT = Path(__file__).resolve().parent.parent
MIN_SIZE = (900, 600)  # the smallest window the layout is made for (README)
ERROR_SHOW_MS = 12000  # a red message stays this long (the tooltip keeps the last 30)
DOCS = (("user guide (README)", ROOT / "README.md"), ("OSC address table", ROOT / "docs" / "osc.md"))


class PageTabs(QTabWidget):
    """Tabs whose pages sit in scroll areas: a page larger than the window scrolls rather than
    squeezing its widgets over each other (and the window's minimum size stays small).
    ``setCurrentWidget``/``indexOf`` accept the page itself."""

    def add_page(self, page: QWidget, label: str) -> int:
        area = QScrollArea()
        area.setObjectName("page")
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setWidget(page)
        return self.addTab(area, label)

    def page(self, index: int) -> QWidget | None:
        area = self.widget(index)
        return area.widget() if isinstance(area, QScrollArea) else area

    def indexOf(self, widget: QWidget | None) -> int:  # noqa: N802 - Qt's name
        for i in range(self.count()):
            if self.page(i) is widget or self.widget(i) is widget:
                return i
        return -1

    def setCurrentWidget(self, widget: QWidget | None) -> None:  # noqa: N802
        i = self.indexOf(widget)
        if i >= 0:
            self.setCurrentIndex(i)


class SideScroll(QScrollArea):
    """A one-row bar (the transport) that scrolls sideways when the window is narrower than it,
    instead of setting the window's minimum width; as tall as the bar (plus the scroll bar
    while one is needed)."""

    def __init__(self, bar: QWidget) -> None:
        super().__init__()
        self.setObjectName("bar")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(bar)
        bar.installEventFilter(self)
        self._fit()

    def _fit(self) -> None:
        bar = self.widget()
        if bar is None:
            return
        h = bar.minimumSizeHint().height()
        if bar.minimumSizeHint().width() > self.viewport().width():  # type: ignore[union-attr]
            h += self.horizontalScrollBar().sizeHint().height()  # type: ignore[union-attr]
        if self.height() != h:
            self.setFixedHeight(h)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit()

    def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 - the bar went to two rows or back
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            QTimer.singleShot(0, self._fit)
        return super().eventFilter(watched, event)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(120, super().minimumSizeHint().height())


def short_model_text(text: str) -> str:
    """A model path as a musician names it: ".../runs/<run>/checkpoints/ckpt-N" -> "<run> · ckpt-N",
    another path -> its last folder (the state after ": " kept)."""
    name, sep, state = text.rpartition(": ") if text.endswith((": loading", ": error", ": starting…")) else (text, "", "")
    if "/" not in name and "\\" not in name:
        return text
    p = Path(name)
    short = f"{p.parent.parent.name} · {p.name}" if p.parent.name == "checkpoints" else p.name
    return short + (sep + state if sep else "")


def app_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("groovebridge")
    except PackageNotFoundError:
        return "development copy"


class WindowExtrasMixin(_Base):
    # ---- layout helpers --------------------------------------------------------------------
    def _build_extras(self) -> None:
        """Called at the end of ``_build``: model label, loading bar, tempo offer, error timer."""
        old = self.transport.model_label
        label = ElidedLabel(old.text(), max_width=300, min_width=110, shorten=short_model_text,
                            tip_prefix="The active model and its state")
        label.setObjectName(old.objectName())
        parent = old.parentWidget()
        layout = parent.layout() if parent is not None else None
        if layout is not None and layout.replaceWidget(old, label) is not None:
            old.hide()
            old.setParent(None)  # out of the window now (deleteLater alone waits for the event loop)
            old.deleteLater()
            self.transport.model_label = label
        self.loading_bar = QProgressBar()
        self.loading_bar.setRange(0, 0)  # busy: the model load has no steps to count
        self.loading_bar.setMaximumWidth(160)
        self.loading_bar.setMaximumHeight(14)
        self.loading_bar.setTextVisible(False)
        self.loading_bar.setToolTip("Starting the engine and loading the model")
        # Permanent: a plain status-bar widget is hidden while a message shows ("engine running;
        # loading the model…" covered it for the first 5 s of every launch).
        self.statusBar().addPermanentWidget(self.loading_bar)  # type: ignore[union-attr]
        self.tempo_offer = QPushButton("")
        self.tempo_offer.setToolTip("Play (and save) at the tempo of the file just loaded")
        self.tempo_offer.hide()
        self.tempo_offer.clicked.connect(self._accept_tempo)
        self.statusBar().addPermanentWidget(self.tempo_offer)  # type: ignore[union-attr]
        self._offered_bpm = 0.0
        self.midi_state = MidiState()  # "MIDI: no JACK server" while the engine waits for one
        self.statusBar().addPermanentWidget(self.midi_state)  # type: ignore[union-attr]
        self.adapter.stateChanged.connect(self.midi_state.update_state)
        self.adapter.engineEvent.connect(self._on_notice)
        self._starter_pending = False  # a starter groove was put in; the model's sample may replace it
        self._error_timer = QTimer(self)
        self._error_timer.setSingleShot(True)
        self._error_timer.timeout.connect(self.clear_error)
        # Wrapping labels grow with their text, which the splitter's layout cannot foresee: it
        # then squeezes the form under them (buttons over the progress bar). Reserve their lines.
        for text in self.train_panel.findChildren(QLabel):
            if text.wordWrap():
                text.setMinimumHeight(2 * text.fontMetrics().lineSpacing() + 4)
        for bar in self.train_panel.findChildren(QProgressBar):  # squeezed bars slid under buttons
            bar.setMinimumHeight(bar.sizeHint().height())
        for box in (self.train_panel.data_box, self.train_panel.start_button.parentWidget()):
            if box is not None:  # the forms keep their height: the page scrolls instead
                box.setMinimumHeight(box.sizeHint().height())
        for card in self.slots.cards.values():
            card.tempoOffered.connect(self.offer_tempo)
            card.last_dir = self.store.get("load_dir", "")
            card.loadRequested.connect(self._remember_load_dir)

    def apply_minimum_size(self) -> None:
        """The documented minimum (README: down to 900x600): below it the bars would scroll."""
        self.setMinimumSize(*MIN_SIZE)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        """Sized below the minimum from outside (an X server without a window manager, which
        does not read the size hints; xdotool): the window takes its minimum back."""
        super().resizeEvent(event)  # type: ignore[misc]
        w, h = max(self.width(), MIN_SIZE[0]), max(self.height(), MIN_SIZE[1])
        if (w, h) != (self.width(), self.height()):
            QTimer.singleShot(0, lambda: self.resize(max(self.width(), MIN_SIZE[0]), max(self.height(), MIN_SIZE[1])))

    def _remember_load_dir(self, _slot: str, path: str) -> None:
        """Both slots' Load dialogs open where the last file came from (kept between launches)."""
        folder = str(Path(path).parent)
        self.store.set("load_dir", folder)
        for card in self.slots.cards.values():
            card.last_dir = folder

    # ---- messages ----------------------------------------------------------------------------
    def clear_error(self) -> None:
        """The red message of an action that is over (its history stays in the tooltip)."""
        self._error_timer.stop()
        self.error_label.setText("")

    def _on_notice(self, event: str, payload: Any) -> None:
        """An engine "notice" (good news, information): once, in the neutral status line; a red
        JACK message it answers ("no JACK server" -> "JACK server is running") goes."""
        text = notice_text(payload) if event == "notice" else ""
        if not text:
            return
        self.statusBar().showMessage(text, NOTICE_SHOW_MS)  # type: ignore[union-attr]
        if "JACK" in text and "JACK" in self.error_label.text():
            self.clear_error()

    def _hold_error(self) -> None:
        self._error_timer.start(int(getattr(self, "error_show_ms", ERROR_SHOW_MS)))

    def show_loading(self, snap: Any) -> None:
        busy = snap is None or str(getattr(snap, "model_state", "")) == "loading"
        self.loading_bar.setVisible(busy)
        if snap is not None and busy:
            self.loading_bar.setToolTip(f"Loading the model '{snap.model_name or 'default'}'")

    # ---- tempo of a loaded file --------------------------------------------------------------
    def offer_tempo(self, bpm: float, name: str) -> None:
        self._offered_bpm = float(bpm)
        self.tempo_offer.setText(f"Use {bpm:g} BPM")
        self.tempo_offer.setToolTip(f"{name} is at {bpm:g} BPM: play (and save) at its tempo")
        self.tempo_offer.show()
        QTimer.singleShot(30000, self.tempo_offer.hide)

    def _accept_tempo(self) -> None:
        if self._offered_bpm and self.adapter.command(EngineCommands.set_tempo, self._offered_bpm):
            self.tempo_offer.hide()

    # ---- help ----------------------------------------------------------------------------------
    def _build_help(self, menu: Any, action: Any) -> None:
        action(menu, "Shortcuts", "F1", self._show_shortcuts, "Keyboard shortcuts")
        for text, path in DOCS:
            action(menu, f"Open the {text}", None, lambda _=False, p=path: self.open_doc(p), f"Open {path.name}")
        menu.addSeparator()
        action(menu, "About GrooveBridge", None, self.show_about, "Version, licence and attributions")

    def open_doc(self, path: Path) -> bool:
        if not path.is_file():
            self.show_error(f"{path} is not there (a copy without its docs?)")
            return False
        if QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            return True
        # No desktop launcher (a bare window manager, a container): say where the file is, in
        # text that can be selected and copied, instead of nothing at all.
        box = QMessageBox(QMessageBox.Icon.Information, f"Open {path.name}",
                          f"No program to open {path.name} was found on this desktop.\n\n"
                          f"The file is here (select and copy the path):\n{path}", parent=self)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                    | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        box.open()  # not modal for the app: the musician can keep playing
        self.doc_box = box
        return False

    def about_text(self) -> str:
        return (
            f"<b>GrooveBridge</b> {app_version()}<br>Live AI drum grooves (GrooVAE) for your DAW and"
            " instruments.<br><br>Licence: Apache-2.0.<br><br>The shipped models are trained on the"
            " <b>Groove MIDI Dataset</b> © Google LLC, CC BY 4.0: Gillick, Roberts, Engel, Eck and"
            " Bamman, “Learning to Groove with Inverse Sequence Transformations”, ICML 2019.<br>"
            "GrooVAE and MusicVAE are by Google Magenta (Apache-2.0); GrooveBridge re-implements the"
            " model from its published description.<br><br>User guide: README.md · OSC: docs/osc.md"
        )

    def show_about(self) -> None:
        QMessageBox.about(self, "About GrooveBridge", self.about_text())

    # ---- kept between launches -------------------------------------------------------------------
    def slots_dir(self) -> Path:
        return config_dir() / "slots"

    def save_extras(self) -> None:
        self.store.set("humanize_amount", self.generate.humanize_amount.value())
        snap = self.adapter.snapshot()
        if snap is None:
            return
        try:
            self.slots_dir().mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self.show_error(f"could not keep the slots: {e}")
            return
        labels = self.slots.save_slots(self.slots_dir(), float(snap.bpm))
        self.store.set("slot_names", [f"{k}\t{v}" for k, v in labels.items()])
        pattern = self.slots_dir() / "pattern.mid"
        try:
            if snap.pattern.num_hits:
                export_pattern(snap.pattern, pattern, float(snap.bpm), "gm")
            else:
                pattern.unlink(missing_ok=True)
        except (OSError, ValueError) as e:
            self.show_error(f"could not keep the pattern: {e}")

    def restore_extras(self) -> None:
        """Before the engine: the humanize amount (slots follow in ``restore_slots_later``)."""
        self.generate.humanize_amount.setValue(int(self.store.get("humanize_amount", 100)))

    def restore_slots_later(self, first: FirstPattern | None = None) -> None:
        """When the engine is attached: the first pattern at once, then the last session's slots."""
        self.restore_pattern(first)
        names = self.store.get("slot_names", [])
        labels = dict(n.split("\t", 1) for n in names if isinstance(n, str) and "\t" in n)
        if labels:
            self.slots.restore_slots(self.slots_dir(), labels)

    def restore_pattern(self, first: FirstPattern | None = None) -> bool:
        """The last session's pattern, else a starter groove (``gui.first_pattern``), playable at
        once, while the model loads; only into an empty engine (a starter only while the model
        loads: a ready engine samples an empty pattern itself). The app does not sample over the last
        session's pattern; a starter it replaces with the model's sample once the model is
        ready, if nobody touched it (``replace_untouched_starter``)."""
        snap = self.adapter.snapshot()
        if first is None:
            first = first_pattern(self.slots_dir()) if snap is None or not snap.pattern.num_hits else FirstPattern(None)
        if first.problem:
            self.show_error(first.problem)
        if snap is not None and snap.pattern.num_hits:  # gui.app put ``first`` in before the engine started
            self._starter_pending = is_starter(snap.pattern_source)
            return False
        groove = first.groove if snap is None else first.at_tempo(snap.bpm)
        if groove is None or (is_starter(first.source) and snap is not None and snap.model_state == "ready"):
            return False
        self._starter_pending = is_starter(first.source)
        return self.adapter.command(EngineCommands.set_pattern, groove, source=first.source)

    def draw_first_pattern(self, first: FirstPattern) -> None:
        """Before the engine is attached: draw the pattern it will play from its first command
        (``gui.app`` queues it), so it is on screen before the model load slows the GUI down."""
        if first.groove is not None and self.adapter.engine is None:
            self.grid.set_groove(first.groove)
            self.source_label.setText(f"· {first.source}")

    def replace_untouched_starter(self, snap: Any) -> None:
        """Model ready and the starter groove still there as it came: the engine replaces it with
        the model's own sample (with variations) when the transport is stopped, checked on its
        control thread when the sample lands, so a command the user queued during the load is
        kept (``bridge.engine.model_commands``). While it plays, what is heard is not swapped
        under the musician: say that Sample gives new grooves."""
        if not self._starter_pending or snap.model_state != "ready":
            return
        self._starter_pending = False
        if is_starter(snap.pattern_source) and snap.playing:
            self.statusBar().showMessage(  # type: ignore[union-attr]
                f"model '{snap.model_name}' ready: Sample (S) for new grooves", 8000)
