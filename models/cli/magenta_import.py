"""`groovebridge import-magenta PATH [--config NAME] --output DIR`: Magenta weights -> checkpoint.

PATH is a published ``.tar``, a TF checkpoint prefix / ``.index`` file / folder, or a
magenta.js folder (``weights_manifest.json`` + shards). Errors are one line; on any error
nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.magenta.importer import MagentaImportError, import_magenta


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="groovebridge import-magenta",
        allow_abbrev=False,
        description="Import Magenta GrooVAE weights (TF1 checkpoint, .tar or magenta.js folder) "
        "into a GrooveBridge checkpoint (safetensors + JSON), without TensorFlow.",
    )
    p.add_argument(
        "path",
        help="a .tar as published, a model.ckpt-N prefix/.index/folder, or a magenta.js folder",
    )
    p.add_argument(
        "--config",
        default=None,
        help="config name (default: inferred from the shapes; bars from the file name)",
    )
    p.add_argument("--output", "-o", required=True, help="checkpoint directory to write")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.add_argument(
        "--allow-unexpected",
        action="store_true",
        help="ignore unknown variables instead of refusing the checkpoint",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.output).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.force:
        print(f"import-magenta: {out} already exists (use --force to replace it)", file=sys.stderr)
        return 1
    try:
        result = import_magenta(args.path, out, args.config, args.allow_unexpected)
    except MagentaImportError as e:
        print(f"import-magenta: {e}", file=sys.stderr)
        return 1
    print(f"imported {result.kind} checkpoint {args.path} (step {result.step}) -> {result.output}")
    print(result.note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
