"""`groovebridge evaluate`: exact metrics on hand-made tensors, and the whole report of the
shipped models on real GMD windows (deterministic with a seed, better than its baselines)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from vae_helpers import make_small_gmd_dataset

from groovebridge.cli import main as cli
from models.data.io import load_windows
from models.drum_maps import CLASS_NAMES
from models.evaluate import EvaluationOptions, evaluate, format_report
from models.generate import load_model
from models.metrics import (
    FEATURE_NAMES,
    overlap_area,
    pattern_features,
    realism_overlaps,
    reconstruction_by_class,
    reconstruction_scores,
)

K = len(CLASS_NAMES)
KICK, SNARE, HAT, LOW_TOM = 0, 1, 2, 4


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tensor(hits: list[tuple[int, int, int, float]], steps: int = 16) -> np.ndarray:
    """(1, steps, 27) from (step, class, MIDI velocity, offset) hits."""
    x = np.zeros((1, steps, 3 * K), np.float32)
    for step, k, vel, off in hits:
        x[0, step, k], x[0, step, K + k], x[0, step, 2 * K + k] = 1.0, vel / 127.0, off
    return x


def test_reconstruction_scores_exact() -> None:
    target = _tensor([(0, KICK, 100, 0.2), (4, SNARE, 64, -0.4), (2, HAT, 80, 0.0)])
    predicted = _tensor([(0, KICK, 90, 0.0), (4, SNARE, 64, 0.0), (6, LOW_TOM, 70, 0.1)])
    s = reconstruction_scores(target, predicted, 120.0)  # a 16th = 125 ms; offsets in half 16ths
    assert (s.hit_precision, s.hit_recall) == pytest.approx((2 / 3, 2 / 3))
    assert s.hit_f1 == pytest.approx(2 / 3)
    assert s.velocity_mae_midi == pytest.approx(5.0, abs=1e-4)  # (10 + 0) / 2 on the two true positives
    assert s.timing_mae_ms == pytest.approx((12.5 + 25.0) / 2, abs=1e-4)
    assert reconstruction_scores(target, predicted, 60.0).timing_mae_ms == pytest.approx(37.5, abs=1e-4)

    by = reconstruction_by_class(target, predicted, 120.0)
    assert list(by) == list(CLASS_NAMES)
    assert sum(c["num_hits"] for c in by.values()) == 3
    assert by["kick"] == pytest.approx({"num_hits": 1, "hit_precision": 1.0, "hit_recall": 1.0, "hit_f1": 1.0,
                                        "velocity_mae_midi": 10.0, "timing_mae_ms": 12.5}, abs=1e-4)
    assert by["snare"]["timing_mae_ms"] == pytest.approx(25.0, abs=1e-4) and by["snare"]["velocity_mae_midi"] == 0
    assert by["closed_hihat"]["hit_recall"] == 0.0 and math.isnan(by["closed_hihat"]["velocity_mae_midi"])
    assert by["low_tom"]["num_hits"] == 0 and by["low_tom"]["hit_precision"] == 0.0


def test_timing_uses_each_windows_own_tempo() -> None:
    one = _tensor([(0, KICK, 100, 0.5)])
    target = np.concatenate([one, one])
    predicted = np.zeros_like(target)
    predicted[:, 0, KICK], predicted[:, 0, K + KICK] = 1.0, 100 / 127.0
    s = reconstruction_scores(target, predicted, np.array([120.0, 60.0]))
    assert s.timing_mae_ms == pytest.approx((31.25 + 62.5) / 2, abs=1e-4)
    with pytest.raises(ValueError, match=r"\(N, T, 27\)"):
        reconstruction_scores(target, predicted[:, :, :9], 120.0)
    with pytest.raises(ValueError, match=r"\(N, T, 27\)"):
        reconstruction_by_class(target, predicted[:1], 120.0)


def _beat(syncopated: bool = False, varied_bar: bool = False) -> np.ndarray:
    hits = [(s, HAT, 80, 0.0) for s in range(0, 64, 2)] + [(s, KICK, 100, 0.0) for s in range(0, 64, 16)]
    if syncopated:
        hits.append((3, SNARE, 100, 0.0))
    if varied_bar:
        hits += [(48 + s, SNARE, 90, 0.0) for s in (4, 12)]
    return _tensor(hits, steps=64)


def test_pattern_features_of_a_known_beat() -> None:
    f = dict(zip(FEATURE_NAMES, pattern_features(_beat())[0], strict=True))
    assert f["hits_per_bar"] == 9  # eight 8th-note hats and a kick per bar
    assert f["share_closed_hihat"] == pytest.approx(8 / 9) and f["share_kick"] == pytest.approx(1 / 9)
    assert f["velocity_spread"] > 0 and f["timing_spread"] == 0
    assert f["syncopation"] == 0 and f["bar_repetition"] == 1
    s = dict(zip(FEATURE_NAMES, pattern_features(_beat(syncopated=True, varied_bar=True))[0], strict=True))
    assert s["syncopation"] == pytest.approx(1 / 39) and s["bar_repetition"] < 1


def test_overlap_area_bounds() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 500)
    assert overlap_area(a, a) == pytest.approx(1.0, abs=1e-6)
    assert overlap_area(a, rng.normal(0, 1, 500)) > 0.85
    assert overlap_area(a, rng.normal(20, 1, 500)) < 0.01
    same = np.concatenate([_beat()] * 20 + [_beat(syncopated=True)] * 20)
    scores = realism_overlaps(same, same)
    assert list(scores) == [*FEATURE_NAMES, "mean"] and scores["mean"] == pytest.approx(1.0, abs=1e-3)


# ---- the real report on real windows -----------------------------------------------------------
@pytest.fixture(scope="module")
def dataset(gmd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_small_gmd_dataset(gmd_dir, tmp_path_factory.mktemp("gmd"))


OPTIONS = EvaluationOptions(num_samples=64, seed=3)


def test_default_model_report_beats_its_baselines_and_is_deterministic(dataset: Path) -> None:
    model = load_model("default")
    val, train = load_windows(dataset, "validation", 4), load_windows(dataset, "train", 4)
    report = evaluate(model, val, train, OPTIONS)
    assert report == evaluate(model, val, train, OPTIONS)  # same seed, same report
    rec, base = report["reconstruction"], report["baseline_average_pattern"]
    assert rec["num_windows"] == len(val) > 0
    assert rec["hit_f1"] > 0.7 > base["reconstruction"]["hit_f1"]
    assert rec["velocity_mae_midi"] < base["reconstruction"]["velocity_mae_midi"]
    assert rec["timing_mae_ms"] < base["reconstruction"]["timing_mae_ms"]
    assert rec["r_loss"] > 0 and rec["kl_bits"] > 0
    assert report["realism"]["mean"] > base["realism"]["mean"]
    by = report["reconstruction_by_class"]
    assert sum(c["num_hits"] for c in by.values()) == int((val.tensors[..., :K] > 0.5).sum())
    # the overall velocity error is the hit-weighted mean of the classes' errors
    tp = {n: c["hit_recall"] * c["num_hits"] for n, c in by.items() if c["hit_recall"] > 0}
    weighted = sum(by[n]["velocity_mae_midi"] * w for n, w in tp.items()) / sum(tp.values())
    assert weighted == pytest.approx(rec["velocity_mae_midi"], rel=1e-6)
    text = format_report(report)
    assert "per drum class" in text and all(name in text for name in CLASS_NAMES)


def test_humanize_model_report_compares_with_the_flat_input(dataset: Path) -> None:
    model = load_model("humanize")
    val, train = load_windows(dataset, "validation", 4), load_windows(dataset, "train", 4)
    hz = evaluate(model, val, train, OPTIONS)["humanize"]
    assert hz["model_hit_f1"] == pytest.approx(1.0)  # the input's hits are kept
    assert hz["model_velocity_mae_midi"] < hz["input_velocity_mae_midi"]
    assert hz["velocity_overlap_model"] > hz["velocity_overlap_input"]


def test_cli_writes_json_and_rejects_bad_input_in_one_line(dataset: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "e.json"
    args = ["evaluate", "--examples_path", str(dataset), "--split", "validation", "--num_samples", "32",
            "--seed", "1", "--output_json", str(out)]
    assert cli(args) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["split"] == "validation" and report["model"] == "default"
    assert f"{report['reconstruction']['hit_f1']:.3f}" in printed and "per drum class" in printed
    for bad, needle in [(["--examples_path", str(tmp_path / "missing.gbds")], "missing.gbds"),
                        (["--examples_path", str(dataset), "--checkpoint_file", str(tmp_path)], str(tmp_path))]:
        assert cli(["evaluate", *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("groovebridge evaluate: ") and needle in err and "\n" not in err
