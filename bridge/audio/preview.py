"""Preview sound: the engine's notes through a GM SoundFont drum kit to an audio output.

No second clock: the notes come from the engine's note tap (``Engine.note_sinks``), called by
the scheduler thread with each note it sends and the monotonic time that note was due on the
wire, so mutes, velocities, micro-timing and the latency offset are those of the MIDI output.
Each note sounds ``delay_sec`` after that due time, placed on its sample in the audio block
that covers it: a constant look-ahead (one audio period plus ``MARGIN_SEC`` for the
scheduler's own lateness) instead of the jitter of "play it in the next block". A note that
still arrives after its block was rendered plays at the start of the current block and is
counted (``late_notes``). The kit is General MIDI: a class sounds on its GM pitch whatever
the output drum map sends to the MIDI port.

Threads: ``on_note`` (scheduler thread) appends to a deque; the audio thread (``_render``) is
the synth's only user; volume, silence and a new kit reach it as queued commands. A kit is
loaded (and refused with one line) on the caller's thread, never on the audio thread.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bridge.audio.output import AudioOutError, JackAudioOut, PortAudioOut, open_audio_out
from bridge.play.player import PlayedNote
from models.drum_maps import GM
from models.synth import (
    SAMPLE_RATE,
    WHERE_TO_GET,
    DrumSynth,
    Kit,
    SoundFontError,
    find_soundfont,
    load_kit,
)

log = logging.getLogger(__name__)
MARGIN_SEC = 0.003  # how late the scheduler may hand a note over and still be on its sample


@dataclass(frozen=True)
class PreviewStatus:
    available: bool  # a kit and an audio output are there
    enabled: bool
    reason: str  # why it is not available ("" when it is)
    kit: str  # the kit's description, "" without one
    backend: str  # "jack" | "portaudio" | ""
    volume: float
    delay_ms: float  # note due time -> its sample in the output block
    notes_played: int
    late_notes: int


def resolve_soundfont(path: str | None) -> Path | None:
    """The chosen file, or the one found on this system (None when there is none)."""
    return Path(path).expanduser() if path else find_soundfont()


class Preview:
    def __init__(self, soundfont: str | None = None, volume: float = 0.8, backend: str = "auto",
                 enabled: bool = True, open_output: Callable[..., Any] = open_audio_out,
                 kit: Kit | None = None) -> None:
        """``kit``: one already loaded (the app loads kits off its GUI thread), else ``soundfont``
        (a path; None = the system's) is loaded here."""
        self.volume = min(1.0, max(0.0, float(volume)))
        self.enabled = bool(enabled)
        self._kit_reason = self._out_reason = ""
        self.kit: Kit | None = None
        self._synth: DrumSynth | None = None
        self._notes: deque[tuple[float, int, int]] = deque()  # (due_sec, GM pitch, velocity)
        self._pending: list[tuple[float, int, int]] = []  # audio thread: notes of later blocks
        self._commands: deque[Callable[[], None]] = deque()
        self.late_notes = 0
        self.late_ms_max = 0.0  # the latest a late note came (ms after its sample had gone)
        self.notes_played = 0
        self.out: JackAudioOut | PortAudioOut | None = None
        self._engine: Any = None
        self._backend, self._open_output = backend, open_output
        self.delay_sec = 256 / SAMPLE_RATE + MARGIN_SEC
        if kit is not None:
            self.set_kit(kit)
            return
        try:
            self.set_soundfont(soundfont, required=False)
        except SoundFontError as e:
            self._kit_reason = str(e)

    def _ensure_output(self) -> None:
        """Open (and, once attached, start) the audio output the first time there is a kit."""
        if self.out is not None or self.kit is None:
            return
        try:
            self.out = self._open_output(self._render, self._backend)
        except AudioOutError as e:
            self._out_reason = str(e)
            return
        self._out_reason = ""
        self.delay_sec = self.out.period_sec + MARGIN_SEC
        if self._engine is not None:
            self.out.start()

    # ---- wiring --------------------------------------------------------------------------------
    @property
    def available(self) -> bool:
        return self.kit is not None and self.out is not None

    @property
    def reason(self) -> str:
        """Why the preview cannot sound ("" when it can)."""
        if self.kit is None:
            return self._kit_reason or f"no GM SoundFont found: {WHERE_TO_GET}"
        return self._out_reason if self.out is None else ""

    def attach(self, engine: Any) -> Preview:
        """Start the audio output and take the engine's notes."""
        self._engine = engine
        if self.out is not None:
            self.out.start()
        engine.note_sinks.append(self.on_note)
        return self

    def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None and self.on_note in engine.note_sinks:
            engine.note_sinks.remove(self.on_note)
        out, self.out = self.out, None
        if out is not None:
            out.close()

    # ---- controls (any thread) -----------------------------------------------------------------
    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        if not on:
            self._notes.clear()
            self._commands.append(self._silence)

    def set_volume(self, volume: float) -> None:
        self.volume = min(1.0, max(0.0, float(volume)))
        v = self.volume
        self._commands.append(lambda: self._synth.set_volume(v) if self._synth is not None else None)

    def set_soundfont(self, path: str | None, required: bool = True) -> Kit | None:
        """Load a kit (``path``; None/"" = the system's). SoundFontError (one line) when it is bad
        or, with ``required``, when there is none; the kit playing now stays then."""
        found = resolve_soundfont(path)
        if found is None:
            message = f"no GM SoundFont found: {WHERE_TO_GET}"
            if required:
                raise SoundFontError(message)
            self._kit_reason = message
            return None
        return self.set_kit(load_kit(found))

    def set_kit(self, kit: Kit) -> Kit:
        """Play ``kit`` from the next audio block (what rings of the old one is cut)."""
        synth = DrumSynth(kit, volume=self.volume)
        self.kit, self._kit_reason = kit, ""

        def swap() -> None:
            self._synth = synth

        if self.out is None:
            swap()
            self._ensure_output()
        else:
            self._commands.append(swap)
        return kit

    def status(self) -> PreviewStatus:
        return PreviewStatus(self.available, self.enabled and self.available, self.reason,
                             self.kit.describe() if self.kit is not None else "",
                             self.out.name if self.out is not None else "", self.volume,
                             self.delay_sec * 1000.0, self.notes_played, self.late_notes)

    # ---- scheduler thread ------------------------------------------------------------------------
    def on_note(self, note: PlayedNote, due_sec: float) -> None:
        if self.enabled:
            self._notes.append((due_sec, GM.output_pitches[note.drum_class], note.velocity))

    # ---- audio thread --------------------------------------------------------------------------
    def _silence(self) -> None:
        self._pending.clear()
        if self._synth is not None:
            self._synth.silence()

    def _render(self, frames: int, block_start_sec: float, out: np.ndarray) -> None:
        commands = self._commands
        while commands:
            commands.popleft()()
        synth = self._synth
        if synth is None:
            out.fill(0.0)
            return
        notes, pending = self._notes, self._pending
        while notes:
            pending.append(notes.popleft())
        events, keep = [], []
        offset_sec = self.delay_sec - block_start_sec
        for item in pending:
            frame = int(round((item[0] + offset_sec) * SAMPLE_RATE))
            if frame >= frames:
                keep.append(item)
                continue
            if frame < 0:
                self.late_notes += 1
                self.late_ms_max = max(self.late_ms_max, -frame * 1000.0 / SAMPLE_RATE)
                frame = 0
            events.append((frame, item[1], item[2]))
        self._pending = keep
        synth.render(frames, events, out=out)
        self.notes_played += len(events)


def preview_from_settings(settings: Any, **kw: Any) -> Preview:
    return Preview(settings.preview_soundfont or None, volume=settings.preview_volume,
                   backend=settings.preview_audio, enabled=settings.preview_enabled, **kw)


def start_preview(engine: Any, settings: Any) -> tuple[Any, str]:
    """``serve --preview``: the preview attached to ``engine``, and one line saying what plays
    where (or, with None, why nothing does)."""
    from bridge.audio.preview_proc import PreviewProcess  # the audio in a process of its own

    preview = PreviewProcess(settings.preview_soundfont or None, volume=settings.preview_volume,
                             backend=settings.preview_audio, enabled=settings.preview_enabled)
    if not preview.available:
        reason = preview.reason
        preview.close()
        return None, f"preview sound off: {reason}"
    preview.attach(engine)
    st = preview.status()
    return preview, (f"preview sound: {st.kit} through {st.backend}, "
                     f"{st.delay_ms:.1f} ms after each note's MIDI time, volume {st.volume:.2f}")
