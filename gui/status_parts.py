"""The status bar's engine news: "notice" events (good news, information) shown once in the
neutral status line, never red; and the MIDI state while no JACK server runs.

Errors keep their red label on the right (``MainWindow.show_error``); a notice is the left-hand
status message. While the engine's ports say ``server_down`` a permanent amber "MIDI: no JACK
server" sits in the status bar (the MIDI & OSC tab says the same), gone once the ports open.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtWidgets import QLabel

from gui import theme

NOTICE_SHOW_MS = 10000
NO_SERVER_TIP = ("No JACK server is running, so GrooveBridge has no MIDI ports yet.\n"
                 "They open by themselves as soon as one starts (qjackctl, your JACK session, "
                 "or `jackd -d alsa`).")


def server_down(snap: Any) -> bool:
    ports = getattr(snap, "ports", None) or {}
    return bool(ports.get("server_down")) if isinstance(ports, dict) else False


class MidiState(QLabel):
    """Amber "● MIDI: no JACK server" while the engine waits for one; hidden otherwise."""

    def __init__(self) -> None:
        super().__init__("●  MIDI: no JACK server")
        self.setStyleSheet(f"color: {theme.ACCENT.name()};")
        self.setToolTip(NO_SERVER_TIP)
        self.hide()

    def update_state(self, snap: Any) -> None:
        self.setVisible(server_down(snap))


def notice_text(payload: Any) -> str:
    """The one line of a "notice" event (a str by contract; a dict's message, defensively)."""
    if isinstance(payload, dict):
        payload = payload.get("message", "")
    text = str(payload or "").strip()
    return text.splitlines()[0] if text else ""


def osc_off_text(error: str) -> str:
    """Why OSC is off, and what to do, for the MIDI & OSC tab (``error``: the OscError's line,
    "cannot listen for OSC on 127.0.0.1:9000: Address already in use")."""
    error = error.strip().rstrip(".")
    if "in use" in error.lower():
        where = error.split(" on ", 1)[-1].split(": ", 1)[0] if " on " in error else "the port"
        return (f"OSC is off: {where} is in use by another program (another GrooveBridge window, or "
                "`groovebridge serve`?). Choose another port above and press Apply, or quit the other one.")
    return f"OSC is off: {error}. Check the host and port above and press Apply."
