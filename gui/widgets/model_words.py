"""A model described in a musician's words: what it is for, what it learned from, and how well
it does, in plain sentences from its config.json, state.json and evaluation.json (the developer
terms stay in the Models tab's "Details")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.train import run_folder

GMD = ("the Groove MIDI Dataset, about 13.6 hours of 10 drummers playing an electronic kit"
       " (1,150 performances)")


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def purpose(config: dict[str, Any]) -> str:
    name = str(config.get("name", ""))
    bars = config.get("num_bars", 4)
    if "tap" in name:
        return ("Drumify: turns any rhythm (taps on one pad, a bass line, claps) into a full drum"
                " groove that keeps that rhythm.")
    if config.get("humanize"):
        return ("Humanize: gives a programmed, straight pattern the timing and dynamics of a real"
                " drummer; it keeps your hits and moves and shades them.")
    return (f"Groove generator: makes new {bars}-bar drum grooves (Sample), blends two grooves"
            " (Morph A ⟷ B) and plays back its own take on a groove (Reconstruct).")


def _pct(x: Any) -> str:
    return f"{100 * float(x):.0f} %"


def evaluation_words(ev: dict[str, Any], config: dict[str, Any]) -> list[str]:
    rec = ev.get("reconstruction") or {}
    if not rec:
        return []
    n = ev.get("num_windows") or rec.get("num_windows")
    where = f"on {n:,} grooves it never trained on" if isinstance(n, int) else "on grooves it never trained on"
    f1, vel, ms = rec.get("hit_f1"), rec.get("velocity_mae_midi"), rec.get("timing_mae_ms")
    base = ((ev.get("baseline_average_pattern") or {}).get("reconstruction") or {}).get("hit_f1")
    out = []
    if f1 is not None:
        if "tap" in str(config.get("name", "")):
            line = f"Given only the rhythm of a drummer's groove ({where}), it puts {_pct(f1)} of the hits on the right drum"
        elif config.get("humanize"):
            line = f"Asked to humanize a straight pattern ({where}), it keeps {_pct(f1)} of the hits"
        else:
            line = f"Re-playing a groove ({where}), it gets {_pct(f1)} of the hits right"
        compare = base is not None and not config.get("humanize")  # humanize is given the hits
        out.append(line + (f" (a one-size-fits-all pattern scores {_pct(base)})." if compare else "."))
    if vel is not None and ms is not None:
        out.append(f"Its hits land {float(ms):.0f} ms from where the drummer played them on average, and"
                   f" their loudness is off by {float(vel):.0f} of 127 velocity steps.")
    return out


def describe_plainly(path: Path | None, title: str, checkpoint: Path | None) -> str:
    """Rich text for the Models tab: purpose, training data, evaluation (all optional)."""
    if path is None or checkpoint is None:
        return f"<b>{title}</b><p>This model is not installed.</p>"
    config = _json(checkpoint / run_folder.CONFIG_FILE)
    state = run_folder.read_state(checkpoint)  # the trainer's format (models.train.run_folder)
    ev = next((e for e in (_json(d / "evaluation.json") for d in (checkpoint, checkpoint.parent,
                                                                     checkpoint.parent.parent)) if e), {})
    shipped = "pretrained" in checkpoint.parts
    parts = [f"<b>{title}</b>", f"<p>{purpose(config)}</p>"]
    windows = state.get("num_train")
    learned = GMD if shipped else "the dataset of this training run"
    if isinstance(windows, int):
        learned += f", cut into {windows:,} four-bar windows"
    parts.append(f"<p><b>Learned from</b> {learned}.</p>")
    words = evaluation_words(ev, config)
    if words:
        parts.append("<p><b>How well it does:</b> " + " ".join(words) + "</p>")
    else:
        best = state.get("best_val_loss") or (state.get("extra") or {}).get("val_loss")
        score = f" Its validation loss is {float(best):.1f} (lower is better)." if isinstance(best, (int, float)) else ""
        parts.append(f"<p><b>How well it does:</b> not evaluated on test grooves yet.{score}"
                     " <i>groovebridge evaluate</i> measures it.</p>")
    step = state.get("step")
    if isinstance(step, int):
        parts.append(f"<p style='color:#8b949e'>Trained for {step:,} updates.</p>")
    return "".join(parts)
