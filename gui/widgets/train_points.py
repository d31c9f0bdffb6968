"""The Train tab's loss curves from a run's records: ``metrics.csv`` rows (what the trainer
logs every few steps) and, when the run ends or is stopped between two logged steps, the final
step's training loss from its ``progress.json`` (a Stop at step 37 with rows every 10 steps
used to leave the curve at 30)."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

ENDED = ("done", "stopped")


def add_rows(rows: list[dict[str, Any]], train_x: list[float], train_y: list[float],
             val_x: list[float], val_y: list[float]) -> None:
    """Add metrics rows to the (x, y) lists of their split, in step order: a row read after the
    final point (put in from the progress record) goes before it, a step already there takes
    the row's value."""
    for r in rows:
        step, loss = r.get("step"), r.get("loss")
        if step is None or loss is None:
            continue
        xs, ys = (val_x, val_y) if r.get("split") == "validation" else (train_x, train_y)
        i = bisect_left(xs, step) if xs and step <= xs[-1] else len(xs)
        if i < len(xs) and xs[i] == step:
            ys[i] = loss
        else:
            xs.insert(i, step)
            ys.insert(i, loss)


def final_train_point(p: dict[str, Any], train_x: list[float]) -> tuple[float, float] | None:
    """(step, training loss) of a run that just ended, when it is past the curve's last point."""
    if p.get("state") not in ENDED and p.get("event") not in ENDED:
        return None
    train = p.get("train")
    step, loss = p.get("step"), train.get("loss") if isinstance(train, dict) else None
    if not isinstance(step, (int, float)) or not isinstance(loss, (int, float)):
        return None
    if train_x and step <= train_x[-1]:
        return None
    return float(step), float(loss)
