"""`groovebridge serve`: the live engine headless, with MIDI and OSC, and a status line.

Settings come from ``--settings FILE.toml`` (see ``bridge.settings``), then ``GROOVEBRIDGE_*``
environment variables, then the flags here. The status line shows the sync source, tempo,
bar:beat, the pattern's source and the model state and device. Ctrl-C or SIGTERM stop it cleanly:
all notes off, threads joined, ports closed.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from typing import Any

from bridge.engine.snapshot import EngineSnapshot
from bridge.midi.port import jack_server_came
from bridge.settings import MIDI_APIS, SYNC_SOURCES, SettingsError, load_settings
from models.inference_device import DEVICE_CHOICES

NO_OUTPUT = "no audio output"  # the preview's reason when it has a kit but nothing to play through


def build_parser() -> argparse.ArgumentParser:
    from bridge.settings import Settings
    from models.help_format import make_parser

    p = make_parser("groovebridge serve",
                    "Run the GrooveBridge engine without a window: MIDI ports, clock sync, OSC. "
                    "Options left out come from --settings, then GROOVEBRIDGE_* variables, then the defaults shown.")
    d = Settings()  # the defaults a flag left out falls back to (the flags themselves default to "not given")
    p.add_argument("--settings", metavar="FILE.toml", help="settings file (TOML)")
    p.add_argument("--bpm", type=float, help=f"tempo of the internal clock (default: {d.bpm:g})")
    p.add_argument("--sync", choices=SYNC_SOURCES, help=f"clock source (default: {d.sync})")
    p.add_argument("--midi-api", choices=MIDI_APIS, help=f"rtmidi API (env GROOVEBRIDGE_MIDI_API; default: {d.midi_api})")
    p.add_argument("--input", dest="midi_input", metavar="PORT",
                   help='input port name or substring ("" = virtual GrooveBridge In, "none")')
    p.add_argument("--output", dest="midi_output", metavar="PORT",
                   help='output port name or substring ("" = virtual GrooveBridge Out, "none")')
    p.add_argument("--model", help=f'model name or checkpoint path ("default" = shipped; default: {d.model})')
    p.add_argument("--device", metavar="{" + ",".join(DEVICE_CHOICES) + "}",
                   help=f"where the model runs (auto: time the available devices, take the faster; default: {d.device})")
    p.add_argument("--latency-ms", type=float, help=f"send output this much earlier (ms; default: {d.latency_ms:g})")
    p.add_argument("--osc-port", type=int, help=f"OSC listen port (default: {d.osc_port})")
    p.add_argument("--osc-host", help=f'OSC listen address ("0.0.0.0" = every interface, for a tablet on the network; default: {d.osc_host})')
    p.add_argument("--osc-out-host", help=f"where OSC echoes go (a controller on the network: its address; default: {d.osc_out_host})")
    p.add_argument("--zeroconf", action="store_true", default=None,
                   help="advertise the OSC port on the network (_osc._udp) so TouchOSC lists GrooveBridge; needs a LAN --osc-host")
    p.add_argument("--no-osc", action="store_true", help="no OSC server")
    p.add_argument("--clock-out", action="store_true", default=None, help="send MIDI clock (internal sync)")
    p.add_argument("--no-play", action="store_true",
                   help="do not start the transport at launch (internal sync; under MIDI/Link sync it never starts the DAW's)")
    p.add_argument("--preview", action="store_true", help="hear it: play the notes through a GM SoundFont drum kit")
    p.add_argument("--soundfont", metavar="F.sf2", help="the preview's kit, a .sf2/.sf3 file (default: the system's GM SoundFont)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after SEC seconds (0 = run until stopped)")
    p.add_argument("--status-interval", type=float, default=0.25, help="status line period (s)")
    return p


def status_line(s: EngineSnapshot) -> str:
    sync = s.sync_source + ("" if s.locked else " (unlocked)") + (f" {s.peers} peers" if s.sync_source == "link" else "")
    transport = "playing" if s.playing else "stopped"
    model = s.model_name if s.model_state == "ready" else f"{s.model_name} {s.model_state}"
    if s.device:
        model += f" on {s.device}"
    line = (f"{sync} | {s.bpm:6.1f} BPM | {s.bar:3d}:{s.beat:4.2f} | {transport} | "
            f"pattern: {s.pattern_source} | model: {model}")
    return line


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(
            args.settings, bpm=args.bpm, sync=args.sync, midi_api=args.midi_api, midi_input=args.midi_input,
            midi_output=args.midi_output, model=args.model, device=args.device, latency_ms=args.latency_ms,
            osc_port=args.osc_port, clock_out=args.clock_out, osc_enabled=False if args.no_osc else None,
            osc_host=args.osc_host, osc_out_host=args.osc_out_host, osc_zeroconf=args.zeroconf,
        )
        if args.preview or args.soundfont:
            settings = settings.replace(preview_enabled=settings.preview_enabled or args.preview,
                                        preview_soundfont=args.soundfont or settings.preview_soundfont)
    except SettingsError as e:
        print(f"groovebridge serve: {e}", file=sys.stderr)
        return 2

    from bridge.engine import Engine

    # warnings on stderr as before, except the engine's user lines: the status loop prints those
    # ("! ..."); Python's last-resort handler printed each of them a second time
    shown = logging.StreamHandler(sys.stderr)
    shown.setLevel(logging.WARNING)
    shown.addFilter(lambda record: not getattr(record, "shown_to_user", False))
    logging.getLogger().addHandler(shown)
    try:
        engine = Engine(settings)
    except (RuntimeError, ValueError) as e:  # a clock that cannot start (e.g. Link)
        print(f"groovebridge serve: {e}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    old_handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    errors: list[str] = []  # "! line" for an error, "line" for a notice (good news: no "! ")
    jack_came = threading.Event()  # a JACK server started or came back: the preview may sound now

    def on_event(event: str, payload: Any) -> None:
        if event == "error":
            errors.append(f"! {payload}")
        elif event == "notice":
            errors.append(str(payload))
            if jack_server_came(payload):
                jack_came.set()

    engine.subscribe(on_event)
    preview: Any = None
    retry_preview = False
    osc: Any = None
    advert: Any = None
    try:
        engine.start()
        if settings.preview_enabled:
            from bridge.audio.preview import start_preview

            preview, line = start_preview(engine, settings)
            print(line if preview is not None else f"groovebridge serve: {line}"
                  + (" (tried again when a JACK server starts)" if NO_OUTPUT in line else ""),
                  file=sys.stdout if preview is not None else sys.stderr, flush=True)
            retry_preview = preview is None and NO_OUTPUT in line
        snap = engine.snapshot()
        said_at_start = ""  # the engine's "error" event for the same line is not printed again
        if snap.last_error:
            said_at_start = snap.last_error
            print(f"groovebridge serve: {snap.last_error}", file=sys.stderr)
        if settings.osc_enabled:
            from bridge.osc import OscError, OscServer

            osc = OscServer.from_settings(engine, settings)
            try:
                osc.start()
            except OscError as e:
                print(f"groovebridge serve: {e}", file=sys.stderr)
                return 1
            if settings.osc_zeroconf:
                from bridge.controllers.zeroconf_ad import start_advert

                advert, line = start_advert(settings.osc_host, osc.address[1])
                print(line if advert is not None else f"groovebridge serve: {line}",
                      file=sys.stdout if advert is not None else sys.stderr, flush=True)
        ports = snap.ports
        print(f"GrooveBridge serving: MIDI {ports.get('api', '?')} in '{ports.get('input', '')}' "
              f"out '{ports.get('output', '')}'"
              + (" (waiting for a JACK server)" if ports.get("server_down") else "")
              + (f", OSC {settings.osc_host}:{settings.osc_port}" if osc is not None else "")
              + ". Ctrl-C stops.", flush=True)
        if not args.no_play and settings.sync == "internal":
            engine.play()  # (under MIDI/Link sync the DAW or the session starts the transport)
        tty = sys.stdout.isatty()
        end = time.monotonic() + args.duration if args.duration > 0 else float("inf")
        last_key: tuple[Any, ...] = ()
        while not stop.is_set() and time.monotonic() < end:
            if retry_preview and jack_came.is_set():  # no audio output at start: a JACK server is here now
                jack_came.clear()
                from bridge.audio.preview import start_preview

                preview, line = start_preview(engine, settings)
                retry_preview = preview is None and NO_OUTPUT in line
                errors.append(line if preview is not None else f"! {line}")
            while errors:
                line = errors.pop(0)
                if said_at_start and line == f"! {said_at_start}":
                    said_at_start = ""  # said once already (stderr, at start)
                    continue
                print(f"\n{line}" if tty else line, flush=True)
            snap = engine.snapshot()
            if tty:
                print("\r" + status_line(snap) + "\033[K", end="", flush=True)
            else:  # not a terminal (a log): one line per change, not per tick
                key = (snap.sync_source, snap.locked, round(snap.bpm, 1), snap.playing, snap.pattern_source,
                       snap.model_state, snap.device)
                if key != last_key:
                    print(status_line(snap), flush=True)
                    last_key = key
            stop.wait(args.status_interval)
        if tty:
            print()
        print("stopping: all notes off", flush=True)
        return 0
    finally:
        if advert is not None:
            advert.close()
        engine.stop()
        if preview is not None:
            preview.close()
        if osc is not None:
            osc.close()
        engine.close()
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
