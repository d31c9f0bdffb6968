"""`groovebridge ports`: the MIDI APIs this python-rtmidi has and the ports each one sees."""

from __future__ import annotations

import argparse
import sys

from bridge.midi_ports import MidiPortError, api_name, list_ports, resolve_api
from bridge.settings import MIDI_APIS, SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="groovebridge ports",
        description="List MIDI APIs and ports (the names `--input/--output` and settings accept).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
