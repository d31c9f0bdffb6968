"""The engine's pattern, slot, capture (and its input mode), mute, port and drum-map commands.

A mixin of ``bridge.engine.Engine`` (state lives there); every ``@command`` method runs on the control
thread. Patterns are compiled here, off the scheduler thread, and handed to the player,
which swaps them in at the next bar line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.commands import check_capture_mode, check_input_mode, check_slot, check_temperature
from bridge.engine.capture import Click, count_in_clicks, next_recording
from bridge.engine.command import command
from bridge.play.player import CompiledPattern, compile_pattern
from models.drum_maps import NUM_CLASSES, get_drum_map
from models.groove import Groove

if TYPE_CHECKING:  # pragma: no cover
    from bridge.engine.core import Engine as _Base
else:
    _Base = object



class EnginePatternMixin(_Base):
    # ---- patterns, slots, mutes ---------------------------------------------------------------------
    def set_pattern(self, groove: Groove, source: str = "edit") -> None:
        if not isinstance(groove, Groove):
            raise TypeError("set_pattern needs a Groove")
        self._post(self._set_pattern, groove, source)

    def _set_pattern(self, groove: Groove, source: str, attr_source: Groove | None = None,
                     applied: dict[str, float] | None = None, **also: Any) -> None:
        """Play ``groove`` from the next bar line; ``also`` (other snapshot fields) change in the
        same snapshot update, so no reader sees one without the other. ``attr_source``: the
        groove before an attribute shift (default: ``groove`` itself), ``applied``: the
        attributes ``groove`` was shifted by (default: none; see engine_attributes)."""
        compiled: CompiledPattern = compile_pattern(groove, source)  # off the scheduler thread
        self._sched(lambda: self.player.set_pattern(compiled))  # type: ignore[union-attr]
        self._remember_source(groove, source, attr_source, applied)
        self._update(pattern=groove, pattern_source=source, **also)
        self._emit("pattern", {"pattern": groove, "source": source})

    @command
    def set_mute(self, drum_class: int, muted: bool) -> None:
        k = int(drum_class)
        if not 0 <= k < NUM_CLASSES:
            raise ValueError(f"drum class {drum_class!r} is not 0-{NUM_CLASSES - 1}")
        mutes = list(self._snap.mutes)
        mutes[k] = bool(muted)
        new = tuple(mutes)
        self._sched(lambda: self.player.set_mutes(new))  # type: ignore[union-attr]
        self._update(mutes=new)
        self._emit("mute", {"drum_class": k, "muted": bool(muted), "mutes": new})

    def load_slot(self, slot: str, groove: Groove) -> None:
        self._post(self._set_slot, slot, groove)

    def _set_slot(self, slot: str, groove: Groove | None) -> None:
        key = check_slot(slot)
        slots = dict(self._snap.slots)
        slots[key] = groove
        self._update(slots=slots)
        self._emit("slot", {"slot": key, "groove": groove})

    @command
    def load_slot_file(self, slot: str, path: str | Path) -> None:
        from models.midi.files import load_groove_window

        groove, _count = load_groove_window(path, drum_map=self._snap.input_drum_map)
        self._set_slot(slot, groove)

    @command
    def swap_slots(self) -> None:
        a, b = self._snap.slots.get("A"), self._snap.slots.get("B")
        self._set_slot("A", b)
        self._set_slot("B", a)

    @command
    def play_slot(self, slot: str) -> None:
        key = check_slot(slot)
        groove = self._snap.slots.get(key)
        if groove is None:
            raise ValueError(f"slot {key} is empty")
        self._set_pattern(groove, f"slot {key}")

    @command
    def sample_slot(self, slot: str, temperature: float | None = None) -> None:
        """Sample one groove into ``slot``; the variations and the playing pattern stay."""
        key = check_slot(slot)
        temp = self._snap.temperature if temperature is None else check_temperature(temperature)

        def into_slot(result: tuple[list[Groove], Any, Any]) -> None:
            self._set_slot(key, result[0][0].with_changes(bpm=self._clock.bpm))

        self._submit(self._sample_job(1, temp), into_slot, key=f"sample-slot-{key}")  # type: ignore[attr-defined]

    @command
    def capture(self, slot: str = "A", mode: str = "last", count_in_bars: int = 0) -> None:
        key = check_slot(slot)
        mode = check_capture_mode(mode)
        clock = self._clock
        if not clock.is_playing:
            raise ValueError(f"capture needs the transport running: {self._transport_hint()}")
        beat = clock.beat_at(clock.now_sec())
        if mode == "last":
            groove = self.capture_buffer.last_bars(beat, bpm=clock.bpm)
            if groove.num_hits == 0:
                raise ValueError("nothing was played in the last 4 complete bars")
            self._set_slot(key, groove)
        elif mode == "next":
            rec = next_recording(key, beat, int(count_in_bars))
            self._recording = rec
            if self.settings.click_enabled and int(count_in_bars) > 0:  # audible count-in
                clicks = count_in_clicks(rec, int(count_in_bars), Click.from_settings(self.settings))
                self._sched(lambda: self.player.set_cues(clicks))  # type: ignore[union-attr]
            self._update(capture="count-in")
            self._emit("capture", {"state": "armed", "slot": key, "start_bar": int(rec.start_beat // 4) + 1})

    @command
    def set_input_mode(self, mode: str) -> None:
        """Capture input: "drums" (notes through the input drum map) or "rhythm" (every note-on
        on the input channels is a tap, whatever its pitch: for drumify). Applies to notes
        played from now on."""
        name = check_input_mode(mode)
        self.capture_buffer.mode = name
        self._update(input_mode=name)
        self._emit("settings", {"input_mode": name})

    # ---- ports and maps -------------------------------------------------------------------------------
    @command
    def set_input_port(self, name: str) -> None:
        self._set_port("input", name)

    @command
    def set_output_port(self, name: str) -> None:
        self._set_port("output", name)

    def _set_port(self, direction: str, name: str) -> None:
        if direction == "input":
            self._midi.set_input_port(name)
        else:
            if self.scheduler is not None and self.player is not None:  # notes off on the old port
                self.scheduler.call_and_wait(self.player.release_all)
            self._midi.set_output_port(name)
        self._update(ports=dict(self._midi.ports))
        self._emit("ports", dict(self._midi.ports))

    @command
    def set_drum_maps(self, input: str | None = None, output: str | None = None) -> None:  # noqa: A002
        input_map, output_map = input, output
        changes: dict[str, str] = {}
        if input_map is not None:
            self.capture_buffer.input_map = get_drum_map(input_map)
            changes["input_drum_map"] = input_map
        if output_map is not None:
            pitches = get_drum_map(output_map).output_pitches
            self._sched(lambda: self.player.set_output(out_pitches=pitches))  # type: ignore[union-attr]
            changes["output_drum_map"] = output_map
        self._update(**changes)
        self._emit("settings", changes)
