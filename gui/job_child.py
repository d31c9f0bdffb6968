"""Child-process entry for GUI jobs that need structured progress: ``python -m gui.job_child``.

``preprocess --input_dir D --output_file F [--drum_map M] [--workers N] [--recursive]`` runs
``models.data.dataset.preprocess`` and prints its events on stdout in the progress protocol
of every job (``models.progress``): ``{"event": "progress", "done": i, "total": n}``, then
``{"event": "report", ...}`` (the PreprocessReport as JSON, plus its table) or
``{"event": "error", "message": ...}`` with exit status 2. No Qt is imported here, so the child starts fast and cannot touch the GUI.
"""

from __future__ import annotations

import argparse
import sys

from models import progress as pg


def _emit(obj: dict) -> None:
    pg.write_line(obj)


def _preprocess(args: argparse.Namespace) -> int:
    from models.data.dataset import DatasetError, preprocess

    throttle = pg.Throttle(0.1)

    def progress(done: int, total: int) -> None:
        if throttle.ready(done, total):
            _emit(pg.event(pg.PROGRESS, done, total))

    try:
        report = preprocess(
            args.input_dir, args.output_file, recursive=args.recursive, num_bars=args.num_bars,
            drum_map=args.drum_map, workers=args.workers, progress=progress,
        )
    except DatasetError as e:
        _emit({"event": "error", "message": str(e)})
        return 2
    except OSError as e:
        _emit({"event": "error", "message": f"cannot write {args.output_file}: {e.strerror or e}"})
        return 2
    _emit({"event": "report", "report": report.to_json(), "table": report.format_table(),
           "total_windows": report.total_windows})
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gui.job_child")
    sub = p.add_subparsers(dest="job", required=True)
    pp = sub.add_parser("preprocess")
    pp.add_argument("--input_dir", required=True)
    pp.add_argument("--output_file", required=True)
    pp.add_argument("--drum_map", default="roland")
    pp.add_argument("--num_bars", type=int, default=4)
    pp.add_argument("--workers", type=int, default=None)
    pp.add_argument("--recursive", action="store_true")
    args = p.parse_args(argv)
    return _preprocess(args)


if __name__ == "__main__":
    sys.exit(main())
