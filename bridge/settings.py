"""Engine settings: a frozen dataclass read from TOML, with ``GROOVEBRIDGE_*`` env overrides.

TOML layout (every key optional; sections group keys, the field name is
``<section>_<key>`` except in ``[engine]``)::

    [engine]   bpm, sync ("internal"|"midi"|"link"), latency_ms, clock_out, model,
               temperature, num_variations, input_drum_map, output_drum_map,
               input_mode ("drums": notes through the input drum map | "rhythm": every
               note-on is a tap, for Drumify), realtime_priority (0-99, 0 = normal
               scheduling), switch_interval_ms, device ("auto"|"cpu"|"cuda"|"mps": where the
               model runs; auto times the available ones and takes the faster)
    [midi]     api ("auto"|"jack"|"alsa"|"coremidi"|"winmm"), input, output (port name or
               substring; "" = our virtual port; "none" = no port), input_channels
               (list of 1-16; empty = all), output_channel (1-16)
    [osc]      enabled, host, port, out_host, out_port (0 = no output), save_dir (folder for
               OSC /save; "" = <user documents>/GrooveBridge/exports), zeroconf (advertise
               _osc._udp so TouchOSC lists GrooveBridge; only when host is not loopback)
    [link]     quantum
    [follow]   enabled, source ("drums" | "rhythm"), every (1|2|4 bars), bars (1|2|4 bars of
               input), amount (0-1), temperature (0-5]: Follow mode (bridge.engine.follow)
    [click]    enabled, note (0-127), channel (1-16), velocity, accent_velocity (1-127): the
               count-in click of "record the next bars" (default on: note 37 side stick on
               channel 10, 127 on beat 1, 90 on the other beats), sent to the output port
    [preview]  enabled (play the notes through a GM drum kit: bridge.audio.preview), soundfont (a .sf2/.sf3
               file; "" = the one installed on this system), volume (0-1), audio ("auto" = JACK
               when a server runs, else PortAudio | "jack" | "portaudio")

Environment: ``GROOVEBRIDGE_<FIELD>`` in upper case overrides a field, e.g.
``GROOVEBRIDGE_BPM=96``, ``GROOVEBRIDGE_DEVICE=cpu``, ``GROOVEBRIDGE_MIDI_API=jack``, ``GROOVEBRIDGE_OSC_PORT=9100``,
``GROOVEBRIDGE_MIDI_INPUT_CHANNELS=10,11``. Any mistake raises ``SettingsError`` with one
line naming the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from bridge.commands import (  # noqa: F401  (the vocabulary was defined here; users may still read it here)
    FOLLOW_BARS,
    FOLLOW_SOURCES,
    INPUT_MODES,
    LATENCY_MS_MAX,
    LATENCY_MS_MIN,
    MIDI_APIS,
    PREVIEW_AUDIO,
    SYNC_SOURCES,
    TEMPERATURE_MAX,
    VARIATIONS_MAX,
    VARIATIONS_MIN,
    check_bpm,
    check_follow_amount,
    check_follow_bars,
    check_follow_source,
    check_follow_temperature,
)
from models.inference_device import DEVICE_CHOICES

ENV_PREFIX = "GROOVEBRIDGE_"


class SettingsError(ValueError):
    """A setting is wrong; the message is one line for the user."""


@dataclass(frozen=True)
class Settings:
    # [engine]
    bpm: float = 120.0
    sync: str = "internal"
    latency_ms: float = 0.0  # output sent this much earlier (positive) or later (negative)
    clock_out: bool = False  # send MIDI clock when the internal clock is the master
    model: str = "default"
    temperature: float = 1.0
    num_variations: int = 4
    input_drum_map: str = "gm"
    output_drum_map: str = "gm"
    input_mode: str = "drums"  # capture input: "drums" (input drum map) | "rhythm" (every note-on a tap)
    realtime_priority: int = 10  # SCHED_FIFO priority of the scheduler thread where allowed; 0 = off
    switch_interval_ms: float = 0.5  # Python's GIL switch interval while the engine runs (default 5)
    device: str = "auto"  # where the model runs: auto (measured) | cpu | cuda | mps
    # [midi]
    midi_api: str = "auto"
    midi_input: str = ""  # "" = virtual "GrooveBridge In"; "none" = no input
    midi_output: str = ""  # "" = virtual "GrooveBridge Out"; "none" = no output
    midi_input_channels: tuple[int, ...] = ()  # 1-16; empty = every channel
    midi_output_channel: int = 10
    # [osc]
    osc_enabled: bool = True
    osc_host: str = "127.0.0.1"
    osc_port: int = 9000
    osc_out_host: str = "127.0.0.1"
    osc_out_port: int = 9001  # 0 = no OSC output
    osc_save_dir: str = ""  # where OSC /save writes; "" = <user documents>/GrooveBridge/exports
    osc_zeroconf: bool = False  # advertise _osc._udp (Zeroconf) when host is a LAN address; never on loopback
    # [link]
    link_quantum: float = 4.0
    # [click] (the count-in before "record the next bars", on the output port)
    click_enabled: bool = True
    click_note: int = 37  # GM side stick
    click_channel: int = 10  # 1-16
    click_velocity: int = 90
    click_accent_velocity: int = 127  # beat 1 of each count-in bar
    # [follow] (Follow mode: the next pattern generated from the last bars played)
    follow_enabled: bool = False
    follow_source: str = "drums"  # drums | rhythm
    follow_every: int = 1  # bars between generations: 1 | 2 | 4
    follow_bars: int = 4  # bars of input: 1 | 2 | 4 (shorter input is repeated to 4 bars)
    follow_amount: float = 0.5  # 0 = keep the pattern, 1 = all the way to the played groove
    follow_temperature: float = 1.0
    # [preview] (preview sound through a GM SoundFont drum kit: bridge.audio.preview)
    preview_enabled: bool = False
    preview_soundfont: str = ""  # "" = the GM SoundFont installed on this system
    preview_volume: float = 0.8  # 0-1
    preview_audio: str = "auto"  # auto (JACK when a server runs, else PortAudio) | jack | portaudio

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_SECTIONS = {"engine": "", "midi": "midi_", "osc": "osc_", "link": "link_", "click": "click_", "follow": "follow_",
             "preview": "preview_"}
_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    """Turn a TOML or environment value into the field's type, or raise SettingsError."""
    kind = _FIELDS[name].type
    try:
        if kind == "bool":
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError
                return low in ("1", "true", "yes", "on")
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError
            return value
        if kind == "tuple[int, ...]":
            if isinstance(value, str):
                value = [v for v in value.replace(" ", "").split(",") if v]
            if isinstance(value, int) and not isinstance(value, bool):
                value = [value]
            return tuple(int(v) for v in value)
    except (TypeError, ValueError):
        pass
    raise SettingsError(f"setting {name}: {value!r} is not a valid {kind}")


def validate(s: Settings) -> None:
    try:
        check_bpm(s.bpm)
    except ValueError as e:
        raise SettingsError(f"setting bpm: {e}") from None
    if s.sync not in SYNC_SOURCES:
        raise SettingsError(f"setting sync: {s.sync!r}; use one of {', '.join(SYNC_SOURCES)}")
    if s.input_mode not in INPUT_MODES:
        raise SettingsError(f"setting input_mode: {s.input_mode!r}; use one of {', '.join(INPUT_MODES)}")
    if s.device not in DEVICE_CHOICES:
        raise SettingsError(f"setting device: {s.device!r}; use one of {', '.join(DEVICE_CHOICES)}")
    if s.midi_api not in MIDI_APIS:
        raise SettingsError(f"setting midi_api: {s.midi_api!r}; use one of {', '.join(MIDI_APIS)}")
    if not LATENCY_MS_MIN <= s.latency_ms <= LATENCY_MS_MAX:
        raise SettingsError(f"setting latency_ms: {s.latency_ms:g} is outside {LATENCY_MS_MIN:g}..{LATENCY_MS_MAX:g}")
    if not 0.0 < s.temperature <= TEMPERATURE_MAX:
        raise SettingsError(f"setting temperature: {s.temperature:g} must be in (0, {TEMPERATURE_MAX:g}]")
    if not VARIATIONS_MIN <= s.num_variations <= VARIATIONS_MAX:
        raise SettingsError(f"setting num_variations: {s.num_variations} must be {VARIATIONS_MIN}-{VARIATIONS_MAX}")
    if not 1 <= s.midi_output_channel <= 16:
        raise SettingsError(f"setting midi_output_channel: {s.midi_output_channel} must be 1-16")
    bad = [c for c in s.midi_input_channels if not 1 <= c <= 16]
    if bad:
        raise SettingsError(f"setting midi_input_channels: {bad} are not MIDI channels 1-16")
    for name in ("osc_port", "osc_out_port"):
        port = getattr(s, name)
        if not 0 <= port <= 65535:  # osc_port 0: any free port (tests); osc_out_port 0: no output
            raise SettingsError(f"setting {name}: {port} is not a UDP port")
    if not 0 <= s.realtime_priority <= 99:
        raise SettingsError(f"setting realtime_priority: {s.realtime_priority} must be 0-99")
    if not 0.05 <= s.switch_interval_ms <= 100:
        raise SettingsError(f"setting switch_interval_ms: {s.switch_interval_ms:g} must be 0.05-100")
    if s.link_quantum <= 0:
        raise SettingsError(f"setting link_quantum: {s.link_quantum:g} must be positive")
    for name, low, high in (("click_note", 0, 127), ("click_channel", 1, 16),
                            ("click_velocity", 1, 127), ("click_accent_velocity", 1, 127)):
        if not low <= getattr(s, name) <= high:
            raise SettingsError(f"setting {name}: {getattr(s, name)} must be {low}-{high}")
    for name, check in (("follow_source", check_follow_source), ("follow_every", check_follow_bars),
                        ("follow_bars", lambda v: check_follow_bars(v, "follow bars")), ("follow_amount", check_follow_amount),
                        ("follow_temperature", check_follow_temperature)):
        try:
            check(getattr(s, name))
        except ValueError as e:
            raise SettingsError(f"setting {name}: {e}") from None
    if not (math.isfinite(s.preview_volume) and 0.0 <= s.preview_volume <= 1.0):
        raise SettingsError(f"setting preview_volume: {s.preview_volume:g} must be 0-1")
    if s.preview_audio not in PREVIEW_AUDIO:
        raise SettingsError(f"setting preview_audio: {s.preview_audio!r}; use one of {', '.join(PREVIEW_AUDIO)}")
    from models.drum_maps import DrumMapError, get_drum_map

    for name in ("input_drum_map", "output_drum_map"):
        try:
            get_drum_map(getattr(s, name))
        except DrumMapError as e:
            raise SettingsError(f"setting {name}: {e}") from None


def _flatten(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS and isinstance(value, Mapping):
            for sub, v in value.items():
                name = _SECTIONS[key] + sub
                if name not in _FIELDS:
                    raise SettingsError(f"{source}: unknown setting [{key}] {sub}")
                flat[name] = v
        elif key in _FIELDS:
            flat[key] = value
        else:
            raise SettingsError(f"{source}: unknown setting {key!r}; sections are {', '.join(_SECTIONS)}")
    return flat


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Defaults < TOML file < environment < ``overrides`` (command-line flags)."""
    values: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"settings file not found: {p}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise SettingsError(f"settings file {p} is not valid TOML: {e}") from None
        except OSError as e:
            raise SettingsError(f"cannot read settings file {p}: {e.strerror}") from None
        values.update(_flatten(data, str(p)))
    environ = os.environ if env is None else env
    for name in _FIELDS:
        key = ENV_PREFIX + name.upper()
        if key in environ and environ[key] != "":
            values[name] = environ[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(values) - set(_FIELDS)
    if unknown:
        raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
    return Settings(**{k: _coerce(k, v) for k, v in values.items()})
