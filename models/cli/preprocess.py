"""`groovebridge preprocess`: a folder of drum MIDI files -> a training dataset file.

Flag names follow Magenta's ``convert_dir_to_note_sequences`` (``--input_dir``,
``--output_file``, ``--recursive``) plus the windowing flags of the TFDS groove builder.
Magenta's data files work both ways: ``--input_file x.tfrecord`` reads a TFRecord of
NoteSequences instead of a folder, and an ``--output_file`` ending in ``.tfrecord`` writes one
(the drum notes, unquantized) instead of a dataset.
Prints a progress bar (on a terminal) and the report table; user mistakes print one line on
stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import NoReturn

from models.data.dataset import DatasetError, preprocess
from models.data.tfrecord import is_tfrecord_path

PROG = "groovebridge preprocess"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        allow_abbrev=False,
        description="Turn a folder of drum MIDI files (or Magenta's NoteSequence TFRecord) into "
        "a GrooveBridge dataset, or into a NoteSequence TFRecord for Magenta.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input_dir",
        help="folder of .mid files (an info.csv with a split column is honoured)",
    )
    source.add_argument(
        "--input_file",
        help="a TFRecord of NoteSequences (Magenta's convert_dir_to_note_sequences output)",
    )
    p.add_argument(
        "--output_file",
        required=True,
        help="dataset file to write, e.g. gmd.gbds; a name ending in .tfrecord writes "
        "NoteSequences (drum notes) for Magenta instead",
    )
    p.add_argument("--recursive", action="store_true", help="also read MIDI files in subfolders")
    p.add_argument("--num_bars", type=int, default=4, help="bars per window (default 4)")
    p.add_argument("--hop_bars", type=int, default=1, help="bars between window starts (default 1)")
    p.add_argument(
        "--drum_map",
        default="roland",
        help="roland (GMD), reduced, gm, or a .toml map file (default roland)",
    )
    p.add_argument(
        "--channel",
        type=int,
        action="append",
        metavar="N",
        help="MIDI channel 1-16 holding the drums (default 10); repeat for several",
    )
    p.add_argument(
        "--split_fractions",
        default="0.8,0.1,0.1",
        help="train,validation,test fractions when there is no info.csv split",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: CPU count)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


class _ProgressBar:
    """A one-line stderr bar, drawn only on a terminal, at most ~20 times a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if not self.enabled or (done < total and now - self.last < 0.05):
            return
        self.last = now
        width = 30
        filled = width * done // max(total, 1)
        rate = done / max(now - self.t0, 1e-9)
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} files {rate:6.0f} files/s"
        )
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        fractions = tuple(float(x) for x in args.split_fractions.split(","))
    except ValueError:
        print(
            f"{PROG}: error: --split_fractions must be three numbers like 0.8,0.1,0.1",
            file=sys.stderr,
        )
        return 2
    channels = None
    if args.channel:
        bad = [c for c in args.channel if not 1 <= c <= 16]
        if bad:
            print(f"{PROG}: error: --channel {bad[0]} is not a MIDI channel 1-16", file=sys.stderr)
            return 2
        channels = [c - 1 for c in args.channel]
    source = args.input_dir if args.input_dir is not None else args.input_file
    if args.input_file is not None and not is_tfrecord_path(args.input_file):
        print(
            f"{PROG}: error: --input_file takes a NoteSequence .tfrecord file "
            f"(use --input_dir for a folder of MIDI files)",
            file=sys.stderr,
        )
        return 2
    if is_tfrecord_path(args.output_file):
        return _export(args, source, channels)
    try:
        report = preprocess(
            source,
            args.output_file,
            recursive=args.recursive,
            num_bars=args.num_bars,
            hop_bars=args.hop_bars,
            drum_map=args.drum_map,
            channels=channels,
            split_fractions=fractions,
            workers=args.workers,
            progress=_ProgressBar(sys.stderr.isatty() and not args.quiet),
        )
    except DatasetError as e:
        hint = (
            ""
            if args.recursive or "no MIDI files" not in str(e)
            else " (add --recursive to search subfolders)"
        )
        print(f"{PROG}: error: {e}{hint}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{PROG}: error: cannot write {args.output_file}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(report.format_table())
    if report.total_windows == 0:
        print(
            f"{PROG}: error: the dataset has no windows; check --channel, --drum_map and --num_bars",
            file=sys.stderr,
        )
        return 1
    return 0


def _export(args: argparse.Namespace, source: str, channels: list[int] | None) -> int:
    from models.data.note_sequence_export import export_note_sequences

    try:
        report = export_note_sequences(
            source,
            args.output_file,
            recursive=args.recursive,
            channels=channels,
            progress=_ProgressBar(sys.stderr.isatty() and not args.quiet),
        )
    except DatasetError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{PROG}: error: cannot write {args.output_file}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(report.format_table())
    if report.sequences == 0:
        print(f"{PROG}: error: no sequence with drum notes was written", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
