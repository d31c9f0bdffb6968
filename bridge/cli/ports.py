"""`groovebridge ports`: the MIDI APIs this python-rtmidi has and the ports each one sees.

Under JACK it also prints GrooveBridge's own ports by their exact full names (each on a
client of its own: "GrooveBridge In:GrooveBridge In", "GrooveBridge Out:GrooveBridge Out")
and a ``jack_connect`` line for each, to each port there is to connect it with, and how the
server runs (real-time or not, synchronous or not) with a warning where it can drop MIDI."""

from __future__ import annotations

import sys

from bridge.midi.ports import (
    IN_PORT_NAME,
    OUT_PORT_NAME,
    MidiPortError,
    api_name,
    jack_port_names,
    list_ports,
    resolve_api,
)
from bridge.settings import MIDI_APIS, SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    from models.help_format import make_parser

    p = make_parser("groovebridge ports", "List MIDI APIs and ports (the names `--input/--output` and settings accept).")
    p.add_argument("--api", choices=MIDI_APIS, help="API to list (default: the settings' midi_api)")
    p.add_argument("--settings", metavar="FILE.toml", help="settings file (TOML)")
    args = p.parse_args(argv)
    try:
        settings = load_settings(args.settings, midi_api=args.api)
        api = resolve_api(settings.midi_api)
    except (SettingsError, MidiPortError) as e:
        print(f"groovebridge ports: {e}", file=sys.stderr)
        return 2
    import rtmidi

    compiled = ", ".join(api_name(a) for a in rtmidi.get_compiled_api()) or "none"
    print(f"MIDI APIs compiled in: {compiled}")
    print(f"using: {api_name(api)} (setting midi_api={settings.midi_api!r})")
    try:
        inputs, outputs = list_ports(api)
    except MidiPortError as e:
        print(f"groovebridge ports: {e}", file=sys.stderr)
        return 1
    print("input ports (notes we can read):")
    print("\n".join(f"  {i}: {n}" for i, n in enumerate(inputs)) or "  (none)")
    print("output ports (where we can send):")
    print("\n".join(f"  {i}: {n}" for i, n in enumerate(outputs)) or "  (none)")
    if api == rtmidi.API_UNIX_JACK:
        print("\n".join(jack_lines(inputs, outputs)))
        print(jack_server_line())
    return 0


def jack_server_line() -> str:
    """How the running JACK server schedules its cycle, and the warning where it can drop MIDI."""
    from bridge.midi.jack_watch import JackWatch, server_is_synchronous, timing_warning

    watch = JackWatch.open()
    if watch is None:
        return "JACK server: not answering"
    try:
        realtime = watch.realtime()
    finally:
        watch.close()
    synchronous = server_is_synchronous()  # (/proc read once for both the line and the warning)
    warning = timing_warning(realtime, synchronous)
    sync = {True: "synchronous (-S)", False: "asynchronous", None: "mode unknown"}[synchronous]
    line = f"JACK server: {'real-time' if realtime else 'not real-time'}, {sync}"
    return line + (f"\nwarning: {warning}" if warning else "")


def jack_lines(inputs: list[str], outputs: list[str]) -> list[str]:
    """Our JACK ports' full names and the ``jack_connect`` lines that wire them (pure)."""
    ours_in, ours_out = jack_port_names()
    sources = [n for n in inputs if IN_PORT_NAME not in n and OUT_PORT_NAME not in n]  # (they read as inputs to us)
    sinks = [n for n in outputs if IN_PORT_NAME not in n and OUT_PORT_NAME not in n]
    lines = ["GrooveBridge's JACK ports (while `groovebridge serve` or the app runs):",
             f"  input:  {ours_in}", f"  output: {ours_out}", "connect them with:"]
    lines += [f'  jack_connect "{src}" "{ours_in}"' for src in sources] or [f'  jack_connect "<your MIDI source>" "{ours_in}"']
    lines += [f'  jack_connect "{ours_out}" "{dst}"' for dst in sinks] or [f'  jack_connect "{ours_out}" "<your synth or DAW input>"']
    return lines


if __name__ == "__main__":
    sys.exit(main())
