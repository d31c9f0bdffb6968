"""`groovebridge controller-layout`: write the TouchOSC layout or the Open Stage Control session.

Both are generated from the OSC address table as it is now (``bridge.controllers.layout``), so
they carry every address a controller can send. The files in docs/controllers/ are this
command's output (a test compares them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge.controllers.layout import DEFAULT_REPLY_PORT, build_layout, sent_addresses

FORMATS = ("touchosc", "open-stage-control")
SUFFIX = {"touchosc": ".tosc", "open-stage-control": ".json"}


def layout_bytes(fmt: str, reply_port: int = DEFAULT_REPLY_PORT) -> bytes:
    pages = build_layout(reply_port)
    if fmt == "touchosc":
        from bridge.controllers.touchosc import touchosc_bytes

        return touchosc_bytes(pages)
    from bridge.controllers.open_stage import open_stage_bytes

    return open_stage_bytes(pages)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="groovebridge controller-layout",
        description="Write a ready-made OSC controller layout for GrooveBridge, generated from its OSC address table.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--format", required=True, choices=FORMATS, help="touchosc: a .tosc document; open-stage-control: a session .json")
    p.add_argument("--output", required=True, metavar="FILE", help="file to write (.tosc / .json)")
    p.add_argument("--reply-port", type=int, default=DEFAULT_REPLY_PORT,
                   help="UDP port the controller listens on (the State page's queries ask for replies there; "
                        "GrooveBridge's osc out_port)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 1 <= args.reply_port <= 65535:
        print(f"groovebridge controller-layout: --reply-port {args.reply_port} is not a UDP port", file=sys.stderr)
        return 2
    out = Path(args.output).expanduser()
    if out.suffix.lower() != SUFFIX[args.format]:
        print(f"groovebridge controller-layout: note: {args.format} files usually end in {SUFFIX[args.format]}",
              file=sys.stderr)
    data = layout_bytes(args.format, args.reply_port)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(out)
    except OSError as e:
        print(f"groovebridge controller-layout: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return 1
    pages = build_layout(args.reply_port)
    controls = sum(len(p.controls) for p in pages)
    print(f"wrote {out} ({args.format}, {len(data):,} bytes): {len(pages)} pages "
          f"({', '.join(p.name for p in pages)}), {controls} controls sending {len(sent_addresses(pages))} addresses")
    return 0


if __name__ == "__main__":
    sys.exit(main())
