"""The pattern a launch shows and plays at once, before the model is up.

A launch that kept a pattern from the last session gets it back (source "last session"). A
first-ever launch gets a starter groove: one of a few grooves sampled ahead of time from the
shipped default model (``models/pretrained/default/starters.json``, written by
``scripts/make_starter_grooves.py``, which records how), picked at random (source
"starter N"). Both are read here with json/numpy/mido only (never torch), by ``gui.app`` on the
engine-start thread before the engine starts loading the model, so the pattern is in the
engine when the window attaches it, while torch is still importing. Once the model is ready
the window samples over a starter that is still untouched and not playing
(``WindowExtrasMixin.replace_untouched_starter``); anything the user did is never replaced.

No Qt here: the JSON form (``starters_to_json``) is shared with the script that writes it.
A damaged or missing file never raises: the launch simply has no starter and says why.
"""

from __future__ import annotations

import json
import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bridge.commands import STARTER_SOURCE, is_starter_source
from models.drum_maps import NUM_CLASSES
from models.groove import MIDI_VELOCITY_MAX, STEPS_PER_BAR, Groove

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
STARTERS_FILE = ROOT / "models" / "pretrained" / "default" / "starters.json"
FORMAT = "groovebridge-starter-grooves"
VERSION = 1
STARTER = STARTER_SOURCE  # the pattern source "starter N" (bridge.commands: the engine reads it too)
LAST_SESSION = "last session"
MAX_STEPS = 32 * STEPS_PER_BAR


is_starter = is_starter_source  # whether a pattern source names a starter groove ("starter 3")


@dataclass(frozen=True)
class FirstPattern:
    groove: Groove | None  # None: nothing to show before the model (the model's sample will come)
    source: str = ""  # "last session" or "starter N"
    problem: str = ""  # one line for the status bar when a file could not be used

    def at_tempo(self, bpm: float) -> Groove | None:
        """The groove as the engine should play it: a starter at the engine's tempo (it has none
        of its own), the last session's pattern at its own."""
        if self.groove is None or not is_starter(self.source):
            return self.groove
        return self.groove.with_changes(bpm=float(bpm))


# ---- the JSON form ------------------------------------------------------------------------------
def groove_to_json(groove: Groove) -> dict[str, Any]:
    """``{"steps", "hits": [[step, class, velocity 1-127, offset], ...]}`` (offsets to 3 places)."""
    vel = np.clip(np.rint(groove.velocities * MIDI_VELOCITY_MAX), 1, MIDI_VELOCITY_MAX)
    steps, classes = np.nonzero(groove.hits > 0.5)
    hits = [[int(t), int(k), int(vel[t, k]), round(float(groove.offsets[t, k]), 3)] for t, k in zip(steps, classes, strict=True)]
    return {"steps": groove.num_steps, "hits": hits}


def groove_from_json(data: Any, bpm: float = 120.0) -> Groove:
    """The inverse of ``groove_to_json``; ValueError (one line) for anything out of range."""
    if not isinstance(data, dict):
        raise ValueError("a groove must be an object")
    steps = data.get("steps")
    if not isinstance(steps, int) or not STEPS_PER_BAR <= steps <= MAX_STEPS or steps % STEPS_PER_BAR:
        raise ValueError(f"steps {steps!r} is not a whole number of bars (16-{MAX_STEPS})")
    hits = np.zeros((steps, NUM_CLASSES), np.float32)
    vel, off = hits.copy(), hits.copy()
    rows = data.get("hits")
    if not isinstance(rows, list) or not rows:
        raise ValueError("a groove needs a non-empty list of hits")
    for row in rows:
        if not (isinstance(row, list) and len(row) == 4 and all(isinstance(x, (int, float)) for x in row)):
            raise ValueError(f"hit {row!r} is not [step, class, velocity, offset]")
        t, k, v, o = row
        if not (isinstance(t, int) and 0 <= t < steps and isinstance(k, int) and 0 <= k < NUM_CLASSES
                and 1 <= v <= MIDI_VELOCITY_MAX and math.isfinite(o) and -1.0 <= o <= 1.0):
            raise ValueError(f"hit {row!r} is out of range")
        hits[t, k], vel[t, k], off[t, k] = 1.0, v / MIDI_VELOCITY_MAX, o
    return Groove(hits, vel, off, bpm)


def starters_to_json(grooves: list[Groove], meta: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, **meta, "grooves": [groove_to_json(g) for g in grooves]}


def read_starters(path: str | Path | None = None) -> tuple[list[Groove], str]:
    """(the starter grooves, problem) from ``path`` (default ``STARTERS_FILE``): a missing or
    damaged file gives no grooves and one line saying why; a damaged groove is left out (and
    said), the others kept."""
    path = STARTERS_FILE if path is None else path
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [], f"no starter grooves ({path} is missing)"
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return [], f"starter grooves not read from {path}: {e}"
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        return [], f"starter grooves not read from {path}: not a {FORMAT} file, version {VERSION}"
    grooves, problems = [], []
    items = data.get("grooves")
    for i, item in enumerate(items if isinstance(items, list) else []):
        try:
            grooves.append(groove_from_json(item))
        except ValueError as e:
            problems.append(f"starter {i + 1} left out: {e}")
    if not grooves and not problems:
        problems.append(f"starter grooves not read from {path}: no grooves in it")
    more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
    return grooves, "; ".join(problems[:3]) + more


# ---- what a launch shows ----------------------------------------------------------------------
def last_session_pattern(slots_dir: Path) -> FirstPattern:
    """The pattern ``save_extras`` kept at the last quit (none: FirstPattern(None))."""
    from models.midi.files import MidiFileError, load_groove_window

    f = Path(slots_dir) / "pattern.mid"
    if not f.is_file():
        return FirstPattern(None)
    try:
        groove, _ = load_groove_window(f, drum_map="gm")
    except (MidiFileError, OSError) as e:
        return FirstPattern(None, "", f"the last session's pattern was not restored: {e}")
    return FirstPattern(groove, LAST_SESSION) if groove.num_hits else FirstPattern(None)


def first_pattern(slots_dir: Path, starters: str | Path | None = None,
                  rng: random.Random | None = None) -> FirstPattern:
    """The last session's pattern, else a starter groove picked at random. A last-session file
    that could not be read is the ``problem`` (shown); a starters file that could not be read is
    logged (the model's first sample then fills the window, as before starters existed)."""
    last = last_session_pattern(slots_dir)
    if last.groove is not None:
        return last
    grooves, problem = read_starters(starters)
    if problem:
        log.warning("%s", problem)
    if not grooves:
        return FirstPattern(None, "", last.problem)
    i = (rng or random.Random()).randrange(len(grooves))
    return FirstPattern(grooves[i], f"{STARTER} {i + 1}", last.problem)
