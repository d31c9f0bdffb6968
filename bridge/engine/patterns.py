"""The playing pattern, the slots and the mutes (``Patterns``, a collaborator of the engine).

Every command here runs on the control thread. A new pattern is compiled here, off the
scheduler thread, and handed to the player, which swaps it in at the next bar line. With it
``Patterns`` keeps the groove the playing pattern was *before* any attribute shift (its
``source``), its label and the shift it embodies, which ``bridge.engine.attributes`` re-decodes
from when the attribute values move.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.commands import check_slot
from bridge.engine.context import EngineContext
from bridge.engine.snapshot import ZERO_ATTRIBUTES
from bridge.play.player import CompiledPattern, compile_pattern
from models.drum_maps import NUM_CLASSES
from models.groove import Groove


class Patterns:
    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx
        self.source: Groove | None = None  # the playing pattern before any attribute shift
        self.label = ""  # its pattern_source
        self.applied: dict[str, float] = dict(ZERO_ATTRIBUTES)  # the shift the playing pattern has

    def set_pattern(self, groove: Groove, source: str = "edit", attr_source: Groove | None = None,
                    applied: dict[str, float] | None = None, **also: Any) -> None:
        """Play ``groove`` from the next bar line; ``also`` (other snapshot fields) change in the
        same snapshot update, so no reader sees one without the other. ``attr_source``: the
        groove before an attribute shift (default: ``groove`` itself), ``applied``: the
        attributes ``groove`` was shifted by (default: none, as if all were 0)."""
        ctx = self._ctx
        compiled: CompiledPattern = compile_pattern(groove, source)  # off the scheduler thread
        ctx.sched(lambda player: player.set_pattern(compiled))
        self.source = groove if attr_source is None else attr_source
        self.label = source
        self.applied = dict(ZERO_ATTRIBUTES) if applied is None else {**ZERO_ATTRIBUTES, **applied}
        ctx.update(pattern=groove, pattern_source=source, **also)
        ctx.emit("pattern", {"pattern": groove, "source": source})

    def current(self) -> Groove:
        """The playing pattern; ValueError (one line) when it is empty."""
        pattern = self._ctx.snap.pattern
        if pattern.num_hits == 0:
            raise ValueError("the current pattern is empty")
        return pattern

    def set_mute(self, drum_class: int, muted: bool) -> None:
        ctx = self._ctx
        k = int(drum_class)
        if not 0 <= k < NUM_CLASSES:
            raise ValueError(f"drum class {drum_class!r} is not 0-{NUM_CLASSES - 1}")
        mutes = list(ctx.snap.mutes)
        mutes[k] = bool(muted)
        new = tuple(mutes)
        ctx.sched(lambda player: player.set_mutes(new))
        ctx.update(mutes=new)
        ctx.emit("mute", {"drum_class": k, "muted": bool(muted), "mutes": new})

    # ---- slots ------------------------------------------------------------------------------
    def set_slot(self, slot: str, groove: Groove | None) -> None:
        ctx = self._ctx
        key = check_slot(slot)
        slots = dict(ctx.snap.slots)
        slots[key] = groove
        ctx.update(slots=slots)
        ctx.emit("slot", {"slot": key, "groove": groove})

    def load_slot_file(self, slot: str, path: str | Path) -> None:
        from models.midi.files import load_groove_window

        groove, _count = load_groove_window(path, drum_map=self._ctx.snap.input_drum_map)
        self.set_slot(slot, groove)

    def swap_slots(self) -> None:
        slots = self._ctx.snap.slots
        a, b = slots.get("A"), slots.get("B")
        self.set_slot("A", b)
        self.set_slot("B", a)

    def play_slot(self, slot: str) -> None:
        key = check_slot(slot)
        groove = self._ctx.snap.slots.get(key)
        if groove is None:
            raise ValueError(f"slot {key} is empty")
        self.set_pattern(groove, f"slot {key}")
