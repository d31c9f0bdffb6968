"""`groovebridge fetch-pretrained NAME [--dest DIR]`: download + import a published checkpoint.

Downloads (resumable, with a progress bar and a size check) the tar from Magenta's public
bucket, or from ``--base-url`` / ``GROOVEBRIDGE_MAGENTA_BASE_URL``, into the user cache,
then imports it into the user's model folder (``--dest`` to choose another). ``--list``
shows the names. One-line errors, e.g. without network.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.magenta.fetch import PUBLISHED, FetchError, fetch_pretrained, models_dir, published_url


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="groovebridge fetch-pretrained",
        allow_abbrev=False,
        description="Download a published Magenta GrooVAE checkpoint and import it.",
    )
    p.add_argument("name", nargs="?", help="checkpoint name (see --list)")
    p.add_argument("--list", action="store_true", help="list the published checkpoints")
    p.add_argument(
        "--dest",
        type=Path,
        default=None,
        help="folder to import into (default: the user's model folder)",
    )
    p.add_argument("--cache-dir", type=Path, default=None, help="where downloads are kept")
    p.add_argument("--base-url", default=None, help="download from this URL prefix instead")
    p.add_argument("--retries", type=int, default=3, help="resume attempts after a cut (3)")
    p.add_argument("--force", action="store_true", help="download and import again")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list or not args.name:
        for name, info in PUBLISHED.items():
            print(
                f"{name:<32} config {info.config or '(inferred)':<32} {published_url(name, args.base_url)}"
            )
        print(f"imports go to {args.dest or models_dir()}")
        return 0 if args.list else 2
    try:
        out, note = fetch_pretrained(
            args.name,
            dest=args.dest,
            base_url=args.base_url,
            cache=args.cache_dir,
            force=args.force,
            progress=not args.quiet,
            retries=max(1, args.retries),
        )
    except FetchError as e:
        print(f"fetch-pretrained: {e}", file=sys.stderr)
        return 1
    print(f"{args.name} -> {out}")
    print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
