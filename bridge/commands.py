"""The command vocabulary, the bottom floor of ``bridge``: every name and limit a command takes.

Slots, sync sources, input modes, follow settings, capture modes, the engine's event names,
and every numeric limit with its validator, written once: the settings file
(``bridge.settings``), the engine (``bridge.engine``), the OSC table (``bridge.osc.table``), the
controller layouts and the GUI read them from here, so a value one of them accepts is accepted
by all. Validators take what a user or a controller may send (any case, text numbers, floats)
and return the canonical value, or raise ``ValueError`` with one line naming the value and what
is allowed (the settings loader prefixes the key; OSC logs it and drops the message; the engine
reports it as an ``error`` event).

Imports nothing from ``bridge``: everything above may import it.
"""

from __future__ import annotations

import math

# ---- names --------------------------------------------------------------------------------------
SLOTS = ("A", "B")  # the two groove slots (capture, morph A -> B, drumify sources)
SYNC_SOURCES = ("internal", "midi", "link")  # what drives the transport and tempo
INPUT_MODES = ("drums", "rhythm")  # capture: notes through the input drum map | every note-on a tap
FOLLOW_SOURCES = ("drums", "rhythm")  # follow: encode the played drums | drumify the played rhythm
FOLLOW_BARS = (1, 2, 4)  # follow's "every" and input window lengths, in bars
CAPTURE_MODES = ("last", "next")  # the last 4 bars played | record the next 4 bars
DRUMIFY_SOURCES = ("A", "B", "PATTERN")  # drumify the rhythm of a slot or of the playing pattern
STARTER_SOURCE = "starter"  # pattern source "starter N": a shipped groove played while the model loads
MIDI_APIS = ("auto", "jack", "alsa", "coremidi", "winmm")
PREVIEW_AUDIO = ("auto", "jack", "portaudio")  # preview sound output (bridge.audio.output)

# The engine's events (``Engine.subscribe(callback)`` gets ``callback(event, payload)``).
EVENTS = (
    "pattern",
    "variations",
    "transport",
    "tempo",
    "sync",
    "model",
    "slot",
    "mute",
    "settings",
    "error",
    "notice",  # one str: good news or information (a JACK server or port is back), not an error
    "note",
    "capture",
    "ports",
    "sync_health",  # {"state", "phase_error_ms", "source", "detail"} (bridge.clock.health)
    "sync_slip",  # {"ticks": int, "corrected": bool}: the MIDI clock count slipped
)

# ---- limits -------------------------------------------------------------------------------------
TEMPERATURE_MAX = 5.0  # sampling temperature in (0, TEMPERATURE_MAX]
TEMPERATURE_FADER_MAX = 2.0  # a 0-1 fader (OSC /temperature/norm, controllers) spans 0-2
MIN_TEMPERATURE = 0.01  # a controller's temperature 0 is taken as this (nearly deterministic)
VARIATIONS_MIN, VARIATIONS_MAX = 1, 16  # variations one sample makes
LATENCY_MS_MIN, LATENCY_MS_MAX = -500.0, 500.0  # output latency offset
COUNT_IN_BARS_MAX = 4  # count-in before "record the next bars"


def _number(value: object) -> float:
    """A finite float from a number or its text; NaN for anything else (bools included)."""
    if isinstance(value, bool):
        return math.nan
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _name(value: object, names: tuple[str, ...], what: str, upper: bool = False) -> str:
    name = str(value).strip()
    name = name.upper() if upper else name.lower()
    if name not in names:
        shown = " or ".join(n.lower() if upper else n for n in names)
        raise ValueError(f"{what} {value!r} is not {shown}")
    return name


# ---- validators ---------------------------------------------------------------------------------
def is_starter_source(source: object) -> bool:
    """Whether a pattern source names a starter groove ("starter 3"): the model's first sample
    may replace it (``bridge.engine.model_commands``), nothing the user did is replaced."""
    return str(source).split(" ", 1)[0] == STARTER_SOURCE


def check_slot(slot: object) -> str:
    """"A" or "B" (any case, spaces ignored)."""
    name = str(slot).strip().upper()
    if name not in SLOTS:
        raise ValueError(f"slot {slot!r} is not A or B")
    return name


def check_sync_source(source: object) -> str:
    name = str(source).strip().lower()
    if name not in SYNC_SOURCES:
        raise ValueError(f"unknown sync source {source!r}; use one of {', '.join(SYNC_SOURCES)}")
    return name


def check_input_mode(mode: object) -> str:
    """"drums" or "rhythm" (any case)."""
    return _name(mode, INPUT_MODES, "capture input mode")


def check_capture_mode(mode: object) -> str:
    name = str(mode).strip().lower()
    if name not in CAPTURE_MODES:
        raise ValueError(f"capture mode {mode!r} is not 'last' or 'next'")
    return name


def check_drumify_source(source: object) -> str:
    """"A", "B" or "PATTERN" (any case)."""
    name = str(source).strip().upper()
    if name not in DRUMIFY_SOURCES:
        raise ValueError(f"drumify source {source!r} is not a, b or pattern")
    return name


def check_temperature(value: object, what: str = "temperature") -> float:
    """A sampling temperature in (0, 5]."""
    t = _number(value)
    if not (0.0 < t <= TEMPERATURE_MAX):
        raise ValueError(f"{what} {value!r} must be in (0, {TEMPERATURE_MAX:g}]")
    return t


def check_latency_ms(value: object) -> float:
    ms = _number(value)
    if not LATENCY_MS_MIN <= ms <= LATENCY_MS_MAX:
        raise ValueError(f"latency {value!r} ms is outside {LATENCY_MS_MIN:g}..{LATENCY_MS_MAX:g}")
    return ms


def check_unit(value: object, what: str) -> float:
    """A number in 0-1 (humanize amount, follow amount, volume)."""
    x = _number(value)
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"{what} {value!r} must be 0-1")
    return x


def check_follow_source(source: object) -> str:
    """``source`` (any case, spaces ignored) if it is a follow source."""
    return _name(source, FOLLOW_SOURCES, "follow source")


def check_follow_bars(value: object, what: str = "follow every") -> int:
    """1, 2 or 4 (an int, a whole float or its text)."""
    number = _number(value)
    if not number.is_integer() or int(number) not in FOLLOW_BARS:
        raise ValueError(f"{what} {value!r} must be 1, 2 or 4 bars")
    return int(number)


def check_follow_amount(value: object) -> float:
    return check_unit(value, "follow amount")


def check_follow_temperature(value: object) -> float:
    return check_temperature(value, "follow temperature")


MIN_BPM = 20.0  # the tempo range of every clock, setting and OSC address
MAX_BPM = 400.0


def check_bpm(bpm: float) -> float:
    """The tempo as a float, or ValueError with a one-line reason."""
    try:
        value = float(bpm)
    except (TypeError, ValueError):
        raise ValueError(f"tempo must be a number, got {bpm!r}") from None
    if not MIN_BPM <= value <= MAX_BPM:
        raise ValueError(f"tempo {value:g} BPM is outside {MIN_BPM:g}-{MAX_BPM:g}")
    return value
