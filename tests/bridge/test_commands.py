"""The command vocabulary (bridge.commands) is the one source: settings, engine, OSC and the
controller layouts accept the same names and limits, and every event the engine emits is named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from osc_fakes import P

from bridge import commands
from bridge.controllers.layout import build_layout
from bridge.engine.core import Engine
from bridge.osc.control import OscControl
from bridge.osc.echo import EVENT_GROUPS
from bridge.settings import Settings, SettingsError
from tests.rigs.midi_fakes import FakeMidiIO

BRIDGE = Path(__file__).resolve().parents[2] / "bridge"


def _osc_temperature(engine, value: float) -> list:
    engine.calls.clear()
    OscControl(engine).handle(P + "/temperature", (value,))
    return engine.calls


@pytest.mark.parametrize("value, ok", [(0.5, True), (2.5, True), (5.0, True), (5.01, False), (-1.0, False)])
def test_temperature_limit_is_the_same_for_settings_engine_and_osc(engine, value, ok):
    # settings
    if ok:
        assert Settings(temperature=value).temperature == value
    else:
        with pytest.raises(SettingsError):
            Settings(temperature=value)
    # engine validator (what set_temperature / sample / sample_slot run)
    if ok:
        assert commands.check_temperature(value) == value
    else:
        with pytest.raises(ValueError, match="temperature"):
            commands.check_temperature(value)
    # OSC: the absolute address passes the value on (2.5 was refused before: OSC allowed 0-2)
    assert _osc_temperature(engine, value) == ([("set_temperature", (value,), {})] if ok else [])


def test_a_real_engine_takes_what_osc_passes(tmp_path):
    """The engine end: OSC /temperature 4.5 on a real Engine (no model needed) lands in its snapshot."""
    eng = Engine(Settings(osc_enabled=False), model_loader=lambda *a, **k: None, midi=FakeMidiIO(), auto_sample=False)
    events: list[tuple[str, object]] = []
    eng.subscribe(lambda e, p: events.append((e, p)))
    eng._control.start()  # the control thread alone: no scheduler, no model
    try:
        OscControl(eng).handle(P + "/temperature", (4.5,))
        for _ in range(200):
            if eng.snapshot().temperature == 4.5:
                break
            import time
            time.sleep(0.01)
        assert eng.snapshot().temperature == 4.5
        assert ("settings", {"temperature": 4.5}) in events
    finally:
        eng._closing.set()
        eng._control.join(2.0)


def test_names_are_shared():
    assert Settings(sync="LINK".lower()).sync in commands.SYNC_SOURCES
    for name in commands.SYNC_SOURCES:
        assert commands.check_sync_source(name.upper()) == name
        assert Settings(sync=name).sync == name
    with pytest.raises(SettingsError, match="sync"):
        Settings(sync="ableton")
    assert [commands.check_slot(s) for s in ("a", " B ")] == ["A", "B"]
    with pytest.raises(ValueError, match="slot 'c' is not A or B"):
        commands.check_slot("c")
    assert commands.check_input_mode(" Rhythm") == "rhythm"
    assert commands.check_drumify_source("pattern") == "PATTERN"
    assert commands.check_follow_bars("2") == 2 and commands.check_follow_bars(4.0) == 4
    for bad in (3, True, "x", float("nan")):
        with pytest.raises(ValueError):
            commands.check_follow_bars(bad)
    assert commands.check_latency_ms("-12.5") == -12.5
    with pytest.raises(ValueError, match="outside -500..500"):
        commands.check_latency_ms(501)


def test_controller_layouts_offer_the_vocabulary():
    controls = [c for page in build_layout() for c in page.controls]
    radios = {c.label: c.options for c in controls if c.kind == "radio"}
    assert radios["Sync"] == commands.SYNC_SOURCES
    assert radios["Capture input"] == commands.INPUT_MODES
    assert radios["Source"] == commands.FOLLOW_SOURCES
    follow_t = next(c for c in controls if c.kind == "fader" and c.send.endswith("/follow/temperature"))
    assert follow_t.hi == commands.TEMPERATURE_MAX


def test_every_event_the_engine_emits_is_named_once():
    emitted = set()
    for path in (BRIDGE / "engine").glob("*.py"):
        emitted |= set(re.findall(r"""emit\(\s*["']([a-z_]+)["']""", path.read_text()))
    emitted |= set(re.findall(r"""emit\(\s*["']([a-z_]+)["']""", (BRIDGE / "clock" / "health.py").read_text()))
    assert emitted, "no _emit calls found: the scan is broken"
    assert emitted <= set(commands.EVENTS), emitted - set(commands.EVENTS)
    # OSC echoes every state event; note, sync_slip and notice go out as messages of their own
    assert set(EVENT_GROUPS) <= set(commands.EVENTS)
    assert set(commands.EVENTS) - set(EVENT_GROUPS) == {"note", "sync_slip", "notice"}


def test_the_typed_command_list_matches_the_engine():
    """bridge.engine.api.EngineCommands (what OSC routes and the GUI name) = Engine's signatures."""
    import inspect

    from bridge.engine.api import EngineCommands, command_name
    from bridge.engine.command import is_command

    listed = {n for n, v in vars(EngineCommands).items() if callable(v) and not n.startswith("_")}
    public = {n for n in dir(Engine) if not n.startswith("_") and callable(getattr(Engine, n))}
    assert listed <= public, listed - public
    assert public - listed == {"start", "close"}  # lifecycle: the owner's, not a controller's
    for name in listed:
        want = inspect.signature(getattr(EngineCommands, name))
        got = inspect.signature(inspect.unwrap(getattr(Engine, name)))
        assert list(want.parameters) == list(got.parameters), name
        assert [p.default for p in want.parameters.values()] == [p.default for p in got.parameters.values()], name
    # every set_* / play / stop ... a controller calls runs on the control thread
    assert all(is_command(getattr(Engine, n)) for n in listed if n.startswith("set_") and n != "set_pattern")
    assert command_name(EngineCommands.set_tempo) == "set_tempo"
    with pytest.raises(ValueError):
        command_name(print)  # type: ignore[arg-type]


def test_osc_routes_name_engine_commands_not_strings():
    """Every engine call an OSC route makes is a command of EngineCommands (a typo cannot hide)."""
    from osc_fakes import ENGINE_METHODS

    from bridge.engine.api import EngineCommands
    from bridge.osc.table import ROUTES

    commands_listed = {n for n, v in vars(EngineCommands).items() if callable(v)}
    assert ENGINE_METHODS - {"start", "close"} <= commands_listed
    for route in ROUTES:
        for cell in getattr(route.action, "__closure__", None) or ():
            value = cell.cell_contents
            assert not (isinstance(value, str) and value.startswith("set_") and value not in commands_listed), route
