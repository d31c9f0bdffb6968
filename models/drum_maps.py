"""Drum maps: which MIDI pitches belong to each of GrooVAE's 9 drum classes.

A map is an ordered tuple of 9 pitch tuples; the first pitch of a class is the pitch written
on output. Built-in maps: ``roland`` (Magenta's training map, the Roland TD-11 kit of the
Groove MIDI Dataset), ``reduced`` (Magenta's inference map), ``gm`` (General MIDI / Ableton
Drum Rack). User maps come from a TOML file (see ``load_drum_map``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CLASS_NAMES: tuple[str, ...] = (
    "kick",
    "snare",
    "closed_hihat",
    "open_hihat",
    "low_tom",
    "mid_tom",
    "high_tom",
    "crash",
    "ride",
)
NUM_CLASSES = len(CLASS_NAMES)


class DrumMapError(ValueError):
    """A drum map is malformed or unknown."""


@dataclass(frozen=True)
class DrumMap:
    name: str
    classes: tuple[tuple[int, ...], ...]
    _lookup: dict[int, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if len(self.classes) != NUM_CLASSES:
            raise DrumMapError(f"drum map {self.name!r} has {len(self.classes)} classes, needs {NUM_CLASSES}")
        lookup: dict[int, int] = {}
        for k, pitches in enumerate(self.classes):
            if not pitches:
                raise DrumMapError(f"drum map {self.name!r}: class {CLASS_NAMES[k]} has no pitches")
            for p in pitches:
                if not isinstance(p, int) or not 0 <= p <= 127:
                    raise DrumMapError(f"drum map {self.name!r}: pitch {p!r} is not a MIDI note 0-127")
                lookup.setdefault(p, k)  # first class naming a pitch wins
        object.__setattr__(self, "_lookup", lookup)

    def class_of(self, pitch: int) -> int | None:
        """Drum class index of ``pitch``, or None when the map does not know it."""
        return self._lookup.get(pitch)

    def output_pitch(self, drum_class: int) -> int:
        return self.classes[drum_class][0]

    @property
    def output_pitches(self) -> tuple[int, ...]:
        return tuple(c[0] for c in self.classes)


ROLAND = DrumMap(
    "roland",
    (
        (36,),
        (38, 37, 40),
        (42, 22, 44),
        (46, 26),
        (43, 58),
        (47, 45),
        (50, 48),
        (49, 52, 55, 57),
        (51, 53, 59),
    ),
)

REDUCED = DrumMap(
    "reduced",
    (
        (36, 35),
        (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),
        (42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22),
        (46, 67, 72, 74, 79, 81, 26),
        (45, 29, 41, 43, 61, 64, 84),
        (48, 47, 60, 63, 77, 86, 87),
        (50, 30, 62, 76, 83),
        (49, 52, 55, 57, 58),
        (51, 53, 59, 82),
    ),
)

# General MIDI percussion, laid out so the output pitches fall on Ableton Drum Rack pads
# (36-51): floor toms 43/41 -> low tom, 47/45 -> mid tom, 50/48 -> high tom.
GM = DrumMap(
    "gm",
    (
        (36, 35),
        (38, 40, 37, 39),
        (42, 44, 22),
        (46, 26),
        (43, 41, 58),
        (47, 45),
        (50, 48),
        (49, 57, 52, 55),
        (51, 59, 53),
    ),
)

BUILTIN_MAPS: dict[str, DrumMap] = {m.name: m for m in (ROLAND, REDUCED, GM)}


def load_drum_map(path: str | Path) -> DrumMap:
    """Read a user map from TOML.

    Format: an optional ``name`` and one key per class name with a list of pitches, e.g.::

        name = "my kit"
        kick = [36, 35]
        snare = [38, 40]
        ...
    Classes left out keep the General MIDI pitches.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DrumMapError(f"drum map file not found: {p}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise DrumMapError(f"drum map {p}: not valid TOML ({e})") from None
    unknown = set(data) - set(CLASS_NAMES) - {"name"}
    if unknown:
        raise DrumMapError(f"drum map {p}: unknown keys {sorted(unknown)}; use {list(CLASS_NAMES)}")
    classes = []
    for k, cname in enumerate(CLASS_NAMES):
        pitches = data.get(cname, GM.classes[k])
        if isinstance(pitches, int):
            pitches = [pitches]
        if not isinstance(pitches, list | tuple) or not all(isinstance(x, int) for x in pitches):
            raise DrumMapError(f"drum map {p}: {cname} must be a list of MIDI note numbers")
        classes.append(tuple(pitches))
    return DrumMap(str(data.get("name", p.stem)), tuple(classes))


def get_drum_map(name_or_path: str | DrumMap) -> DrumMap:
    """A built-in map by name (roland, reduced, gm) or a user map from a .toml path."""
    if isinstance(name_or_path, DrumMap):
        return name_or_path
    key = name_or_path.lower()
    if key in BUILTIN_MAPS:
        return BUILTIN_MAPS[key]
    if key.endswith(".toml"):
        return load_drum_map(name_or_path)
    raise DrumMapError(f"unknown drum map {name_or_path!r}: use {', '.join(BUILTIN_MAPS)} or a .toml file")
