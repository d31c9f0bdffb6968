"""Evaluate a GrooVAE on a dataset split: reconstruction, sample realism, and baselines.

* Reconstruction: encode each window to its mean, decode with hits thresholded at 0.5
  (temperature 0); hit P/R/F1, velocity MAE (MIDI units) and timing MAE (ms at the window's
  tempo) on true-positive hits; r_loss and KL bits as Magenta logs them (teacher forcing,
  z = mu + sigma * eps, no dropout). The same scores per drum class (``reconstruction_by_class``):
  which drums the error comes from.
* Realism (Yang & Lerch 2018): per-pattern features of N samples at a temperature against N real
  windows; KDE overlap per feature and their mean (``models.metrics``).
* Baselines in the same report: "average pattern" (the train split's mean pattern, hits where
  the mean exceeds 0.5) for both, and "random real window" (train windows) for realism.
* Humanize models (``config.humanize``): velocity/timing error of the output against the real
  performance next to the error of the quantised flat-velocity input, and the overlap of the
  output's per-hit velocity and offset distributions with the real ones; once with the input's
  hits kept (``GrooveModel.humanize``'s default, what the app does) and once with the hits the
  model decodes freely (Magenta's humanize).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.data.io import Windows
from models.drum_maps import NUM_CLASSES
from models.generate import GrooveModel
from models.groove import Groove
from models.metrics import (
    overlap_area,
    realism_overlaps,
    reconstruction_by_class,
    reconstruction_scores,
)
from models.net.config import GrooVAEConfig
from models.net.losses import groovae_loss
from models.net.transforms import encoder_inputs
from models.train.prior_fit import hit_grid_keys, nearest_train_f1, sample_report

K = NUM_CLASSES


@dataclass(frozen=True)
class EvaluationOptions:
    temperature: float = 1.0  # for realism samples
    num_samples: int = 1000  # realism set size (capped by the split size)
    seed: int = 0
    batch_size: int = 256


def average_pattern(train: np.ndarray) -> np.ndarray:
    """(T, 27): hits where the train hit rate > 0.5; velocity/offset = mean over hits per cell."""
    hits = train[..., :K] > 0.5
    count = np.maximum(hits.sum(axis=0), 1)
    vel = np.where(hits, train[..., K : 2 * K], 0).sum(axis=0) / count
    off = np.where(hits, train[..., 2 * K :], 0).sum(axis=0) / count
    rate = hits.mean(axis=0)
    h = (rate > 0.5).astype(np.float32)
    return np.concatenate([h, vel * h, off * h], axis=1).astype(np.float32)


def _losses(model: GrooveModel, target: np.ndarray, seed: int, batch: int) -> dict[str, float]:
    """Mean r_loss and kl_bits over ``target`` with Magenta's loss (beta at its final value)."""
    net = model.model
    gen = torch.Generator(device=model.device).manual_seed(seed)
    sums = {"r_loss": 0.0, "kl_bits": 0.0}
    n = 0
    with torch.inference_mode():
        for i in range(0, len(target), batch):
            x = torch.from_numpy(target[i : i + batch]).to(model.device)
            out = net(x, gen)
            _, parts = groovae_loss(net.config, out.logits, x, out.mu, out.sigma, step=10**9)
            sums["r_loss"] += float(parts["r_loss"]) * len(x)
            sums["kl_bits"] += float(parts["kl_bits"]) * len(x)
            n += len(x)
    return {k: v / max(n, 1) for k, v in sums.items()}


def _reconstruct(model: GrooveModel, target: np.ndarray, batch: int, keep_hits: bool = False) -> np.ndarray:
    """Decode each window's encoder mean (hits thresholded; ``keep_hits``: the window's own hits)."""
    out = []
    for i in range(0, len(target), batch):
        grooves = [Groove.from_tensor(t) for t in target[i : i + batch]]
        z = model.encode(grooves)
        controls = grooves if model.config.hits_as_controls else None
        dec = model.decode(z, temperature=0.0, controls=controls, keep_hits=grooves if keep_hits else None)
        out.append(np.stack([g.to_tensor() for g in dec]))
    return np.concatenate(out) if out else np.zeros_like(target)


def _samples(model: GrooveModel, n: int, options: EvaluationOptions, prior: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grooves: list[Groove] = []
    for i in range(0, n, options.batch_size):
        k = min(options.batch_size, n - i)
        grooves += model.sample(k, options.temperature, seed=int(rng.integers(2**31)), prior=prior)
    return np.stack([g.to_tensor() for g in grooves])


def _sample_scores(gen: np.ndarray, real: np.ndarray, train: np.ndarray, keys: set[bytes]) -> dict[str, object]:
    """Realism, class shares against the train split, copies and novelty of a sample set."""
    rep = sample_report(gen, real, train, keys)
    rep["nearest_train_f1_mean"] = float(nearest_train_f1(gen, train).mean())
    return rep


def _per_hit_values(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hits = t[..., :K] > 0.5
    return t[..., K : 2 * K][hits], t[..., 2 * K :][hits]


def evaluate(
    model: GrooveModel, windows: Windows, train: Windows, options: EvaluationOptions = EvaluationOptions()
) -> dict[str, object]:
    """The whole report as a JSON-ready dict."""
    target = windows.tensors.astype(np.float32)
    if len(target) == 0:
        raise ValueError(f"the {windows.split} split has no windows")
    bpm = windows.bpm.astype(np.float64)
    rng = np.random.default_rng(options.seed)
    torch.manual_seed(options.seed)

    pred = _reconstruct(model, target, options.batch_size)
    report: dict[str, object] = {
        "model": model.name,
        "config": model.config.name,
        "split": windows.split,
        "num_windows": int(len(target)),
        "reconstruction": {
            **reconstruction_scores(target, pred, bpm).as_dict(),
            **_losses(model, target, options.seed, options.batch_size),
        },
        "reconstruction_by_class": reconstruction_by_class(target, pred, bpm),
    }
    avg = average_pattern(train.tensors)
    avg_pred = np.broadcast_to(avg, target.shape)
    report["baseline_average_pattern"] = {
        "reconstruction": reconstruction_scores(target, avg_pred, bpm).as_dict()
    }

    n = min(options.num_samples, len(target))
    real = target[rng.choice(len(target), n, replace=False)]
    if model.config.humanize or model.config.hits_as_controls or model.config.tapify:
        generated = pred[rng.choice(len(pred), n, replace=False)]
        what = "drumified" if model.config.tapify else "humanized"
        report["realism_source"] = f"{what} {windows.split} windows (model output)"
    else:
        priors = ["fitted", "normal"] if model.prior is not None else ["normal"]
        keys = hit_grid_keys(train.tensors)
        sets = {p: _samples(model, n, options, p, int(rng.integers(2**31))) for p in priors}
        report["samples"] = {p: _sample_scores(g, real, train.tensors, keys) for p, g in sets.items()}
        generated = sets[priors[0]]
        report["realism_source"] = f"{n} samples at temperature {options.temperature}, {priors[0]} prior"
    report["realism"] = realism_overlaps(generated, real)
    report["temperature"] = options.temperature
    train_pick = train.tensors[rng.choice(len(train), n, replace=len(train) < n)]
    report["baseline_random_real_window"] = {"realism": realism_overlaps(train_pick, real)}
    if "samples" in report:  # how close real held-out grooves come to the training set
        report["test_windows_nearest_train_f1_mean"] = float(nearest_train_f1(real, train.tensors).mean())
    report["baseline_average_pattern"]["realism"] = realism_overlaps(  # type: ignore[index]
        np.broadcast_to(avg, real.shape), real
    )

    if model.config.tapify:
        report["drumify"] = _drumify_report(model.config, target, pred, bpm)
    if model.config.humanize:
        # what the app's Humanize does: the input's hits kept, the model's velocities and timing
        kept = _reconstruct(model, target, options.batch_size, keep_hits=True)
        report["humanize"] = _humanize_report(target, kept, bpm, train.tensors)
        report["humanize_free_hits"] = _humanize_report(target, pred, bpm, train.tensors)
    return report


def _drumify_report(config: GrooVAEConfig, target: np.ndarray, pred: np.ndarray, bpm: np.ndarray) -> dict[str, float]:
    """Drumify scores: which share of the input's taps (steps with any hit) carry at least one
    output hit, the hit accuracy of Haki et al. (correct hits / predicted hits, i.e. precision),
    and the tapped voice alone as a baseline (the taps, as one voice, taken as the output)."""
    taps = (target[..., :K] > 0.5).any(axis=-1)
    out_steps = (pred[..., :K] > 0.5).any(axis=-1)
    inputs, _ = encoder_inputs(config, torch.from_numpy(target))  # the model's own taps
    tapped = inputs.numpy()[..., : 3 * K]
    model_s = reconstruction_scores(target, pred, bpm)
    tap_s = reconstruction_scores(target, tapped.astype(np.float32), bpm)
    return {
        "tap_coverage": float((taps & out_steps).sum() / max(taps.sum(), 1)),
        "output_steps_off_taps": float((out_steps & ~taps).sum() / max(out_steps.sum(), 1)),
        "hit_accuracy": model_s.hit_precision,
        "model_hit_f1": model_s.hit_f1,
        "tapped_voice_hit_f1": tap_s.hit_f1,
        "tapped_voice_hit_accuracy": tap_s.hit_precision,
        "classes_used_per_window": float(((pred[..., :K] > 0.5).any(axis=1)).sum(axis=-1).mean()),
    }


def _humanize_report(
    target: np.ndarray, pred: np.ndarray, bpm: np.ndarray, train: np.ndarray
) -> dict[str, float]:
    """Errors of the humanized output and of the flat input against the real performance."""
    hits = target[..., :K] > 0.5
    flat_velocity = float(train[..., K : 2 * K][train[..., :K] > 0.5].mean())
    flat = np.concatenate(
        [target[..., :K], np.where(hits, flat_velocity, 0.0), np.zeros_like(target[..., :K])], axis=-1
    ).astype(np.float32)
    model_s = reconstruction_scores(target, pred, bpm)
    input_s = reconstruction_scores(target, flat, bpm)
    rv, ro = _per_hit_values(target)
    pv, po = _per_hit_values(pred)
    fv, fo = _per_hit_values(flat)
    return {
        "flat_input_velocity": flat_velocity * 127.0,
        "model_velocity_mae_midi": model_s.velocity_mae_midi,
        "input_velocity_mae_midi": input_s.velocity_mae_midi,
        "model_timing_mae_ms": model_s.timing_mae_ms,
        "input_timing_mae_ms": input_s.timing_mae_ms,
        "model_hit_f1": model_s.hit_f1,
        "velocity_overlap_model": overlap_area(pv, rv),
        "velocity_overlap_input": overlap_area(fv, rv),
        "timing_overlap_model": overlap_area(po, ro),
        "timing_overlap_input": overlap_area(fo, ro),
    }


def format_report(report: dict[str, object]) -> str:
    """A plain-text table of the report (what the CLI prints)."""
    rec = report["reconstruction"]
    base = report["baseline_average_pattern"]
    lines = [
        f"model {report['model']} ({report['config']}), {report['split']} split, "
        f"{report['num_windows']} windows",
        "",
        f"{'reconstruction':<22}{'model':>10}{'avg pattern':>13}",
    ]
    brec = base["reconstruction"]  # type: ignore[index]
    for key, label in [
        ("hit_precision", "hit precision"),
        ("hit_recall", "hit recall"),
        ("hit_f1", "hit F1"),
        ("velocity_mae_midi", "velocity MAE (MIDI)"),
        ("timing_mae_ms", "timing MAE (ms)"),
    ]:
        lines.append(f"{label:<22}{rec[key]:>10.3f}{brec[key]:>13.3f}")  # type: ignore[index]
    lines.append(f"{'r_loss':<22}{rec['r_loss']:>10.2f}")  # type: ignore[index]
    lines.append(f"{'KL bits':<22}{rec['kl_bits']:>10.2f}")  # type: ignore[index]
    by_class = report.get("reconstruction_by_class")
    if isinstance(by_class, dict):
        lines += ["", f"{'per drum class':<22}{'true hits':>10}{'P':>7}{'R':>7}{'F1':>7}{'vel MAE':>9}{'ms MAE':>8}"]
        for name, c in by_class.items():
            lines.append(f"{name:<22}{c['num_hits']:>10d}{c['hit_precision']:>7.3f}{c['hit_recall']:>7.3f}"
                         f"{c['hit_f1']:>7.3f}{c['velocity_mae_midi']:>9.2f}{c['timing_mae_ms']:>8.2f}")
    lines += ["", f"realism overlap ({report['realism_source']})", f"{'feature':<22}{'model':>10}{'avg pattern':>13}{'real (train)':>14}"]
    real_b = report["baseline_random_real_window"]["realism"]  # type: ignore[index]
    avg_b = base["realism"]  # type: ignore[index]
    realism: dict[str, float] = report["realism"]  # type: ignore[assignment]
    for key, val in realism.items():
        lines.append(f"{key:<22}{val:>10.3f}{avg_b[key]:>13.3f}{real_b[key]:>14.3f}")
    lines += _samples_lines(report)
    if isinstance(report.get("drumify"), dict):
        dz = report["drumify"]
        lines += ["", f"{'drumify':<30}{'model':>10}{'taps alone':>12}",
                  f"{'hit F1':<30}{dz['model_hit_f1']:>10.3f}{dz['tapped_voice_hit_f1']:>12.3f}",  # type: ignore[index]
                  f"{'hit accuracy (Haki et al.)':<30}{dz['hit_accuracy']:>10.3f}{dz['tapped_voice_hit_accuracy']:>12.3f}",  # type: ignore[index]
                  f"{'taps carrying a hit':<30}{dz['tap_coverage']:>10.3f}{1.0:>12.3f}",  # type: ignore[index]
                  f"{'output steps off the taps':<30}{dz['output_steps_off_taps']:>10.3f}{0.0:>12.3f}",  # type: ignore[index]
                  f"{'drum classes per window':<30}{dz['classes_used_per_window']:>10.2f}{1.0:>12.2f}"]  # type: ignore[index]
    for part, title in [("humanize", "humanize (input hits kept)"), ("humanize_free_hits", "humanize (free hits)")]:
        if part not in report:
            continue
        lines += ["", f"{title:<30}{'model':>10}{'flat input':>12}"]
        hz = report[part]
        lines.append(f"{'hit F1':<30}{hz['model_hit_f1']:>10.3f}{1.0:>12.3f}")  # type: ignore[index]
        for key, label in [
            ("velocity_mae_midi", "velocity MAE (MIDI)"),
            ("timing_mae_ms", "timing MAE (ms)"),
        ]:
            lines.append(f"{label:<30}{hz['model_' + key]:>10.3f}{hz['input_' + key]:>12.3f}")  # type: ignore[index]
        for key, label in [("velocity_overlap", "velocity distribution overlap"), ("timing_overlap", "timing distribution overlap")]:
            lines.append(f"{label:<30}{hz[key + '_model']:>10.3f}{hz[key + '_input']:>12.3f}")  # type: ignore[index]
    return "\n".join(lines)


def _samples_lines(report: dict[str, object]) -> list[str]:
    samples = report.get("samples")
    if not isinstance(samples, dict):
        return []
    names = list(samples)
    lines = ["", f"{'samples by prior':<22}" + "".join(f"{n:>10}" for n in names)]
    lines.append(f"{'realism mean':<22}" + "".join(f"{samples[n]['realism']['mean']:>10.3f}" for n in names))
    lines.append(f"{'lowest feature':<22}" + "".join(
        f"{min(v for k, v in samples[n]['realism'].items() if k != 'mean'):>10.3f}" for n in names))
    lines.append(f"{'copies of train (%)':<22}" + "".join(f"{100 * samples[n]['copy_share']:>10.1f}" for n in names))
    lines.append(f"{'nearest-train F1':<22}" + "".join(f"{samples[n]['nearest_train_f1_mean']:>10.3f}" for n in names)
                 + f"   (real test windows: {report.get('test_windows_nearest_train_f1_mean', float('nan')):.3f})")
    lines.append("class share / train share")
    for cls in samples[names[0]]["class_share_ratio"]:
        lines.append(f"  {cls:<20}" + "".join(f"{samples[n]['class_share_ratio'][cls]:>10.2f}" for n in names))
    return lines
