"""The preview's audio in a process of its own (``PreviewProcess``), so it never waits on the
engine process's GIL.

Why: a JACK process callback written in Python needs the GIL every period. In the engine's
process, python-rtmidi holds the GIL while it opens a JACK client (listing ports, reopening a
port), and JACK waits for every client's callback before it finishes that request: the app hung
(reproduced with tests/gui/test_jack.py and the Sound on). In a child process the audio callback
has its own interpreter; the engine's note tap only writes one short line to a pipe.

Protocol (text lines on the child's stdin, replies as JSON lines on its stdout):
``n <due monotonic sec> <GM pitch> <velocity>`` a note (CLOCK_MONOTONIC is system-wide, so the
due times mean the same in both processes); ``e 0|1`` enable; ``v <0-1>`` volume; ``k <path>``
a new kit (replies with the status, or ``{"error": ...}``); ``s`` status; EOF ends the child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from bridge.audio.preview import Preview, PreviewStatus
from bridge.play.player import PlayedNote
from models.drum_maps import GM
from models.synth import WHERE_TO_GET, Kit, SoundFontError

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SEC = 60.0


def child_python() -> list[str]:
    """The interpreter for a child module run: ``-P`` (3.11+) keeps the current folder off its
    ``sys.path``, so a user's file named like a module (``inspect.py``) is never imported."""
    return [sys.executable, "-P"] if sys.version_info >= (3, 11) else [sys.executable]


def child_env() -> dict[str, str]:
    """The environment with this checkout first on PYTHONPATH and no empty entry (an empty
    entry would mean the current folder)."""
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *parts]))


class PreviewProcess:
    """A ``Preview`` running in a child process, with the same controls (see the module doc)."""

    def __init__(self, soundfont: str | None = None, volume: float = 0.8, backend: str = "auto",
                 enabled: bool = True, kit: Kit | None = None) -> None:
        from bridge.audio.preview import resolve_soundfont

        self.kit = kit  # the parent's copy (exports render from it); the child loads its own
        self.volume = min(1.0, max(0.0, float(volume)))
        self.enabled = bool(enabled)
        self._lock = threading.Lock()
        self._engine: Any = None
        self._status: dict[str, Any] = {}
        self._reason = ""
        path = kit.path if kit is not None else resolve_soundfont(soundfont)
        self.proc: subprocess.Popen[str] | None = None
        if path is None:
            self._reason = f"no GM SoundFont found: {WHERE_TO_GET}"
            return
        self.proc = subprocess.Popen(
            [*child_python(), "-m", __name__, str(Path(path).resolve()), str(self.volume), backend,
             "1" if enabled else "0"],  # this module
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=child_env(), cwd=ROOT)
        self._read_status()

    def _read_status(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self._reason = "the audio process ended (see its messages on stderr)"
            self._status = {}
            return {}
        reply = json.loads(line)
        if "error" in reply:
            raise SoundFontError(reply["error"])
        self._status = reply
        return reply

    def _send(self, line: str) -> bool:
        proc = self.proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            return False
        try:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def _ask(self, line: str) -> dict[str, Any]:
        with self._lock:
            if not self._send(line):
                return self._status
            return self._read_status()

    # ---- what the app and serve read ---------------------------------------------------------------
    @property
    def available(self) -> bool:
        return bool(self._status.get("available"))

    @property
    def out(self) -> object | None:
        return self if self.available else None

    @property
    def reason(self) -> str:
        return self._reason or str(self._status.get("reason", ""))

    @property
    def delay_sec(self) -> float:
        return float(self._status.get("delay_ms", 0.0)) / 1000.0

    def status(self) -> PreviewStatus:
        st = self._ask("s") if self.proc is not None else {}
        if not st:
            return PreviewStatus(False, False, self.reason, "", "", self.volume, 0.0, 0, 0)
        return PreviewStatus(**{k: st[k] for k in PreviewStatus.__dataclass_fields__})

    @property
    def notes_played(self) -> int:
        return int(self._ask("s").get("notes_played", 0))

    @property
    def late_notes(self) -> int:
        return int(self._ask("s").get("late_notes", 0))

    # ---- controls ----------------------------------------------------------------------------------
    def attach(self, engine: Any) -> PreviewProcess:
        self._engine = engine
        engine.note_sinks.append(self.on_note)
        return self

    def on_note(self, note: PlayedNote, due_sec: float) -> None:  # scheduler thread: one write
        if self.enabled:
            with self._lock:
                self._send(f"n {due_sec!r} {GM.output_pitches[note.drum_class]} {note.velocity}")

    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        with self._lock:
            self._send(f"e {1 if on else 0}")

    def set_volume(self, volume: float) -> None:
        self.volume = min(1.0, max(0.0, float(volume)))
        with self._lock:
            self._send(f"v {self.volume!r}")

    def set_kit(self, kit: Kit) -> Kit:
        self._ask(f"k {kit.path}")  # SoundFontError (one line) when the child refuses it
        self.kit = kit
        return kit

    def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None and self.on_note in engine.note_sinks:
            engine.note_sinks.remove(self.on_note)
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()


def _status_json(p: Preview) -> str:
    st = p.status()
    return json.dumps({**st.__dict__, "available": p.available})


def main(argv: list[str]) -> int:
    """The child: ``python -m bridge.audio.preview_proc KIT VOLUME BACKEND ENABLED``."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the replies
    path, volume, backend, enabled = argv[0], float(argv[1]), argv[2], argv[3] == "1"
    preview = Preview(path, volume=volume, backend=backend, enabled=enabled)

    class _Tap:
        note_sinks: list[Any] = []

    preview.attach(_Tap())  # starts the audio output
    replies.write(_status_json(preview) + "\n")
    notes = preview._notes
    for line in sys.stdin:
        op, _, arg = line.rstrip("\n").partition(" ")
        if op == "n":
            if preview.enabled:
                due, pitch, vel = arg.split()
                notes.append((float(due), int(pitch), int(vel)))
        elif op == "e":
            preview.set_enabled(arg == "1")
        elif op == "v":
            preview.set_volume(float(arg))
        elif op == "k":
            try:
                preview.set_soundfont(arg)
                replies.write(_status_json(preview) + "\n")
            except SoundFontError as e:
                replies.write(json.dumps({"error": str(e)}) + "\n")
        elif op == "s":
            replies.write(_status_json(preview) + "\n")
    preview.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
