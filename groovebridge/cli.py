"""`groovebridge` console script: dispatches subcommands; the desktop app when none is given.

Each subcommand lives in its layer as a module with ``main(argv: list[str] | None) -> int``;
they are imported lazily so `groovebridge preprocess` never loads Qt and `--help` is instant.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "app": ("gui.app", "open the desktop app (default)"),
    "serve": ("bridge.cli.serve", "run the live engine headless (MIDI + OSC)"),
    "ports": ("bridge.cli.ports", "list MIDI ports and APIs"),
    "preprocess": ("models.cli.preprocess", "MIDI folder -> training dataset"),
    "train": ("models.cli.train", "train or evaluate a GrooVAE"),
    "generate": ("models.cli.generate", "sample / interpolate / humanize / reconstruct to .mid"),
    "evaluate": ("models.cli.evaluate", "reconstruction and realism metrics of a model"),
    "fit-prior": ("models.cli.prior", "fit a model's sampling prior and musical attribute directions"),
    "average": ("models.cli.average", "average a run's last checkpoints into one"),
    "import-magenta": ("models.cli.magenta_import", "import Magenta TF / magenta.js weights"),
    "fetch-pretrained": ("models.cli.fetch", "download and import a published Magenta checkpoint"),
    "controller-layout": ("bridge.controllers.cli", "write the TouchOSC / Open Stage Control layout"),
    "render": ("bridge.audio.render", "render a drum MIDI file through a GM SoundFont kit to a WAV file"),
}


def _usage() -> str:
    lines = ["usage: groovebridge [SUBCOMMAND] [options]", "", "subcommands:"]
    lines += [f"  {name:<17} {desc}" for name, (_, desc) in SUBCOMMANDS.items()]
    lines += ["", "`groovebridge SUBCOMMAND --help` for its options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args and args[0] in ("-V", "--version"):
        from groovebridge import __version__

        print(f"groovebridge {__version__}")
        return 0
    name = "app"
    if args and not args[0].startswith("-"):
        name = args.pop(0)
    if name not in SUBCOMMANDS:
        print(f"groovebridge: unknown subcommand {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name = SUBCOMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            print(f"groovebridge: '{name}' is not available in this build", file=sys.stderr)
            return 2
        raise
    try:
        return int(module.main(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
