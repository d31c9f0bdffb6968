"""Distil the shipped default model's encoder into a small follow encoder (issue 25).

Student: ``models.net.follow_encoder`` (the teacher's bi-LSTM encoder with ``--units`` units
per direction and a linear mean head). Data: the train split of a preprocessed dataset (the
GMD, data/gmd.gbds), each window as it is plus ``--copies`` variants drawn with the teacher
config's training augmentation (``models/train/augment.py``: velocity gain, timing shift,
hi-hat/ride swap, bar shuffle). Target: the teacher's posterior mean mu on the same window
(the deployed encoder: ``GrooveModel.fast``), computed once and cached in ``--work``. Loss: the
squared error on mu weighted by the teacher's posterior precision 1/sigma^2 (capped at
``--precision-cap``, normalised to mean 1 over the training targets): dimensions the decoder
ignores have a large sigma and count little. Adam, cosine learning-rate decay; the checkpoint
with the lowest weighted error on the validation split is kept (``--work``/best.safetensors).

Then the evaluation on the test split (``evaluate``, also alone with ``--evaluate-only``):
z agreement, the teacher's decoder at temperature 0 from both z, a follow-like slerp, and the
encode speed of both (native path, batch 1). ``--ship`` writes ``follow_encoder.safetensors``
and ``follow_encoder.json`` (provenance and evaluation) beside the teacher's weights.

    nice -n 10 .venv/bin/python scripts/distill_follow_encoder.py --units 256 --steps 3000 --ship

``--loss decoder`` trains (usually from ``--init``, a student this script wrote or shipped) for the
frozen teacher decoder's reconstruction of the window instead: scripts/follow_decoder_loss.py.
``--ship --ship-dir DIR`` writes the student into DIR (e.g. the candidates folder) instead.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from follow_decoder_loss import log, precision_scale, student_means, teacher_targets  # noqa: E402  (scripts/: beside this script)

from models.data.io import load_windows  # noqa: E402
from models.generate import GrooveModel, load_model, resolve_model_path  # noqa: E402
from models.latent import slerp  # noqa: E402
from models.metrics import reconstruction_scores  # noqa: E402
from models.net.factored_encoder import FactoredEncoder  # noqa: E402
from models.net.follow_encoder import (  # noqa: E402
    QuickEncoder,
    new_student,
    round_to_stored,
    save_follow_encoder,
)
from models.net.prior import weights_fingerprint  # noqa: E402
from models.net.transforms import encoder_inputs  # noqa: E402
from models.train.augment import augment_batch  # noqa: E402
from models.train.checkpoint import resolve_checkpoint  # noqa: E402


def hardware() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        name = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")
    except (OSError, subprocess.SubprocessError):
        name = platform.processor() or "?"
    return f"{name}, {os.cpu_count()} CPUs (KVM guest), torch {torch.__version__}"


def training_set(model: GrooveModel, args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Windows (augmented copies included) and the teacher's targets, cached in --work."""
    cache = Path(args.work) / f"targets_c{args.copies}_s{args.seed}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            log(f"targets from {cache}")
            return {k: z[k] for k in z.files}
    train = load_windows(args.data, "train").tensors.astype(np.float32)
    val = load_windows(args.data, "validation").tensors.astype(np.float32)
    gen = torch.Generator().manual_seed(args.seed)
    parts = [train]
    for _ in range(args.copies):
        parts.append(augment_batch(model.config, torch.from_numpy(train), gen).numpy())
    x = np.concatenate(parts)
    t0 = time.perf_counter()
    mu, sigma = teacher_targets(model, x)
    log(f"teacher targets of {len(x)} train windows ({args.copies} augmented copies) in {time.perf_counter() - t0:.0f} s")
    vmu, vsigma = teacher_targets(model, val)
    out = {"x": x, "mu": mu, "sigma": sigma, "val_x": val, "val_mu": vmu, "val_sigma": vsigma}
    Path(args.work).mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def precision(sigma: torch.Tensor, cap: float, scale: float) -> torch.Tensor:
    return torch.clamp(1.0 / sigma.square(), max=cap) / scale


def refit_head(model: GrooveModel, enc: torch.nn.Module, args: argparse.Namespace, info: dict[str, object]) -> None:
    """Least-squares (ridge 1e-2) refit of the mean head on the student's final states of the
    training windows; kept only where it lowers the validation weighted error."""
    data = training_set(model, args)

    def states(x: np.ndarray) -> torch.Tensor:
        out = []
        with torch.inference_mode():
            for i in range(0, len(x), 512):
                xi, _ = encoder_inputs(model.config, torch.from_numpy(x[i : i + 512]), training=False)
                _, (hf, _) = enc.fw(xi)
                _, (hb, _) = enc.bw(xi.flip(1))
                out.append(torch.cat([hf[-1], hb[-1], torch.ones(len(xi), 1)], -1))
        return torch.cat(out).double()

    scale = float(info["precision_scale"])  # type: ignore[arg-type]
    vw = precision(torch.from_numpy(data["val_sigma"]), args.precision_cap, scale)
    vmu = torch.from_numpy(data["val_mu"])
    a, va = states(data["x"]), states(data["val_x"])
    sol = torch.linalg.solve(a.T @ a + 1e-2 * torch.eye(a.shape[1], dtype=a.dtype), a.T @ torch.from_numpy(data["mu"]).double())
    before = float((vw * (student_means(model, enc, data["val_x"]) - vmu).square()).mean())
    after = float((vw * ((va @ sol).float() - vmu).square()).mean())
    log(f"head refit: validation weighted error {before:.5f} -> {after:.5f}")
    info["head_refit"] = {"validation_weighted_error_before": round(before, 5), "after": round(after, 5), "kept": after < before}
    if after < before:
        with torch.no_grad():
            enc.mu.weight.copy_(sol[:-1].T.float())
            enc.mu.bias.copy_(sol[-1].float())


def train(model: GrooveModel, args: argparse.Namespace) -> tuple[torch.nn.Module, dict[str, object]]:
    data = training_set(model, args)
    x, mu, sigma = (torch.from_numpy(data[k]) for k in ("x", "mu", "sigma"))
    scale = float(torch.clamp(1.0 / sigma.square(), max=args.precision_cap).mean())
    w = precision(sigma, args.precision_cap, scale)
    vmu, vw = torch.from_numpy(data["val_mu"]), precision(torch.from_numpy(data["val_sigma"]), args.precision_cap, scale)
    torch.manual_seed(args.seed)
    enc = new_student(model.config, args.units)
    if args.init:  # warm start: a student this script wrote (a longer run in parts)
        from safetensors.torch import load_file

        enc.load_state_dict(load_file(args.init), strict=False)  # a shipped one has no sigma head
        log(f"warm start from {args.init}")
    opt = torch.optim.Adam(enc.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed + 1)
    best, best_step, best_state, history = math.inf, 0, None, []
    perm, pos, t0, run = torch.randperm(len(x), generator=gen), 0, time.perf_counter(), 0.0
    for step in range(1, args.steps + 1):
        if pos + args.batch > len(x):
            perm, pos = torch.randperm(len(x), generator=gen), 0
        idx = perm[pos : pos + args.batch]
        pos += args.batch
        for g in opt.param_groups:
            g["lr"] = args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * (step - 1) / args.steps))
        enc.train()
        xi, _ = encoder_inputs(model.config, x[idx], training=False)
        pred, _ = enc(xi)
        loss = (w[idx] * (pred - mu[idx]).square()).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(enc.parameters(), 1.0)
        opt.step()
        lv = float(loss.detach())
        run = 0.98 * run + 0.02 * lv if step > 1 else lv
        if step % args.eval_every == 0 or step == args.steps:
            enc.eval()
            vpred = student_means(model, enc, data["val_x"])
            verr = float((vw * (vpred - vmu).square()).mean())
            vcos = float(torch.nn.functional.cosine_similarity(vpred, vmu, dim=1).mean())
            history.append({"step": step, "train_loss": round(run, 5), "validation_error": round(verr, 5),
                            "validation_cosine": round(vcos, 5)})
            if verr < best:
                best, best_step = verr, step
                best_state = {k: v.detach().clone() for k, v in enc.state_dict().items()}
            log(f"step {step}/{args.steps} loss {run:.4f} val weighted error {verr:.4f} cosine {vcos:.4f} "
                f"(best {best:.4f} at {best_step}) {time.perf_counter() - t0:.0f} s")
    assert best_state is not None
    enc.load_state_dict(best_state)
    enc.eval()
    info = {"steps": args.steps, "selected_step": best_step, "warm_start": args.init or None, "validation_weighted_error": round(best, 5),
            "precision_cap": args.precision_cap, "precision_scale": scale, "train_windows": int(len(x)),
            "batch_size": args.batch, "lr": args.lr, "history": history,
            "train_seconds": round(time.perf_counter() - t0, 1)}
    return enc, info


def _decode(model: GrooveModel, z: np.ndarray, batch: int = 16) -> np.ndarray:
    out = [model.decode(z[i : i + batch], temperature=0.0) for i in range(0, len(z), batch)]
    return np.stack([g.to_tensor() for gs in out for g in gs])


def _median_ms(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000.0 * float(np.median(times))


def evaluate(model: GrooveModel, quick: QuickEncoder, student_fp32: torch.nn.Module, data: str, seed: int,
             cap: float, scale: float) -> dict[str, object]:
    """The test-split report (see the module docstring); weighted errors as in training (``cap``, ``scale``)."""
    test = load_windows(data, "test")
    target, bpm = test.tensors.astype(np.float32), test.bpm.astype(np.float64)
    n = len(target)
    x, _ = encoder_inputs(model.config, torch.from_numpy(target), training=False)
    with torch.inference_mode():  # batch 1, native: as follow mode runs them
        pairs = [model.fast.encode(x[i : i + 1]) for i in range(n)]
        zt, sig = (np.concatenate([p[k].numpy() for p in pairs]) for k in (0, 1))
        zs = np.concatenate([quick.encode(x[i : i + 1]).numpy() for i in range(n)])
        zs32 = student_fp32(x)[0].numpy()
    w = np.minimum(1.0 / sig**2, cap)
    cos = (zs * zt).sum(1) / (np.linalg.norm(zs, axis=1) * np.linalg.norm(zt, axis=1))
    rel = np.linalg.norm(zs - zt, axis=1) / np.linalg.norm(zt, axis=1)
    kernel = np.linalg.norm(zs - zs32, axis=1) / np.linalg.norm(zs32, axis=1)
    dec_t, dec_s = _decode(model, zt), _decode(model, zs)
    rng = np.random.default_rng(seed)
    other = rng.permutation(n)
    same = test.file_index[other] == test.file_index
    other[same] = np.roll(other, 1)[same]  # a pattern from another window (mostly another file)
    f_t = np.stack([slerp(zt[other[i]], zt[i], 0.5) for i in range(n)])
    f_s = np.stack([slerp(zt[other[i]], zs[i], 0.5) for i in range(n)])
    fol_t, fol_s = _decode(model, f_t), _decode(model, f_s)
    speed = speed_ms(model, quick, x)

    def scores(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
        s = reconstruction_scores(a, b, bpm).as_dict()
        return {k: round(float(v), 4) for k, v in s.items() if k != "num_windows"}

    return {
        "split": "test", "num_windows": n,
        "z_agreement": {"cosine_mean": round(float(cos.mean()), 4), "cosine_p05": round(float(np.quantile(cos, 0.05)), 4),
                        "relative_error_mean": round(float(rel.mean()), 4),
                        "precision_weighted_error": round(float((w * (zs - zt) ** 2).mean()) / scale, 5),
                        "precision_weighted_error_zero_z": round(float((w * zt**2).mean()) / scale, 5),
                        "rms_error_in_teacher_posterior_sds": round(float(np.sqrt(((zs - zt) ** 2 / sig**2).mean())), 3)},
        "int8_vs_fp32_student_relative_error_mean": round(float(kernel.mean()), 4),
        "decoded_student_vs_teacher": scores(dec_t, dec_s),
        "reconstruction_teacher_z": scores(target, dec_t),
        "reconstruction_student_z": scores(target, dec_s),
        "follow_slerp_0.5_student_vs_teacher": scores(fol_t, fol_s),
        "follow_slerp_0.5_teacher_vs_played": scores(target, fol_t),
        "follow_slerp_0.5_student_vs_played": scores(target, fol_s),
        "speed": speed,
    }


def speed_ms(model: GrooveModel, quick: QuickEncoder, x: torch.Tensor, n: int = 400) -> dict[str, object]:
    """Median encode time (ms, batch 1, native path, one thread per direction as in the engine's
    setting of 1 torch thread), teacher and student interleaved in rounds over the same windows."""
    load0 = os.getloadavg()[0]
    xs = [x[i : i + 1].contiguous() for i in range(min(64, len(x)))]
    t_ms, s_ms = [], []
    with torch.inference_mode():
        for _ in range(5):
            t_ms.append(_median_ms(lambda: [model.fast.encode(xi) for xi in xs], n // 40) / len(xs))
            s_ms.append(_median_ms(lambda: [quick.encode(xi) for xi in xs], n // 40) / len(xs))
    t, s = float(np.median(t_ms)), float(np.median(s_ms))
    return {"teacher_ms": round(t, 3), "student_ms": round(s, 3), "ratio": round(s / t, 3),
            "native_weights": quick.native.weights if quick.native else "torch", "torch_threads": torch.get_num_threads(),
            "loadavg_1min_before_after": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "units": quick.units}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--data", default="data/gmd.gbds")
    p.add_argument("--work", default="runs/follow_distill")
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--arch", choices=("bilstm", "factored"), default="bilstm",
                   help="factored: the teacher's encoder with W_hh = U V of --rank (scripts/follow_factored.py)")
    p.add_argument("--rank", type=int, default=128, help="--arch factored: the rank of U V")
    p.add_argument("--resume", action="store_true", help="--arch factored: go on from --work's saved state")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr", type=float, default=2e-5)
    p.add_argument("--copies", type=int, default=3, help="augmented copies of each train window")
    p.add_argument("--precision-cap", type=float, default=1e6)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", default="", help="start from this student (safetensors this script wrote or shipped)")
    p.add_argument("--loss", choices=("mu", "decoder"), default="mu",
                   help="mu: the teacher's mean (precision-weighted); decoder: the frozen decoder's "
                   "reconstruction (scripts/follow_decoder_loss.py)")
    p.add_argument("--anchor", type=float, default=100.0, help="decoder loss: weight of the mu term")
    p.add_argument("--anchor-batch", type=int, default=32, help="decoder loss: windows of a batch given the mu term")
    p.add_argument("--z-noise", type=float, default=0.0, help="decoder loss: N(0, s^2) noise added to z")
    p.add_argument("--no-decoder-dropout", dest="decoder_dropout", action="store_false",
                   help="decoder loss: run the frozen decoder without its training dropouts")
    p.add_argument("--student-keep", type=float, default=1.0, help="decoder loss: the student's input keep probability")
    p.add_argument("--val-windows", type=int, default=0, help="decoder loss: validation windows for selection (0: all)")
    p.add_argument("--refit-head", action="store_true", help="least-squares refit of the mean head after training")
    p.add_argument("--evaluate-only", action="store_true", help="evaluate --work/best_u<units>.safetensors")
    p.add_argument("--ship", action="store_true", help="write follow_encoder.* beside the teacher's weights")
    p.add_argument("--ship-dir", default="", help="with --ship: write there instead (e.g. the candidates folder)")
    args = p.parse_args(argv)
    if args.refit_head and args.arch == "factored":
        p.error("--refit-head fits the head on a plain bi-LSTM's final states; not with --arch factored")
    torch.set_num_threads(args.threads)
    from safetensors.torch import load_file, save_file

    model = load_model(args.model)
    ckpt = resolve_checkpoint(resolve_model_path(args.model)[0])
    tag = f"r{args.rank}" if args.arch == "factored" else f"u{args.units}"
    best_path = Path(args.work) / f"best_{tag}.safetensors"
    info_path = Path(args.work) / f"best_{tag}.json"
    cmd = " ".join(["nice -n 10 .venv/bin/python", "scripts/distill_follow_encoder.py", *map(shlex.quote, sys.argv[1:])])
    enc: torch.nn.Module
    if args.evaluate_only:
        if args.arch == "factored":
            enc = FactoredEncoder(model.config.input_depth, model.config.enc_rnn_size[0], args.rank, model.config.z_size)
            enc.load_state_dict(load_file(str(best_path)))
        else:
            enc = new_student(model.config, args.units)
            enc.load_state_dict(load_file(str(best_path)), strict=False)  # a shipped one has no sigma head
        info = json.loads(info_path.read_text())
        info.setdefault("command", cmd)  # (a run stopped before its end wrote none)
    elif args.arch == "factored":
        from follow_factored import train_factored

        Path(args.work).mkdir(parents=True, exist_ok=True)
        enc, info = train_factored(model, args, best_path, info_path)
        info["command"] = cmd
        info_path.write_text(json.dumps(info, indent=1))
    elif args.loss == "decoder":
        from follow_decoder_loss import train_decoder_loss

        Path(args.work).mkdir(parents=True, exist_ok=True)
        enc, info = train_decoder_loss(model, args, best_path, info_path)
        info["command"] = cmd
        info_path.write_text(json.dumps(info, indent=1))
    else:
        enc, info = train(model, args)
        info["command"] = cmd
        Path(args.work).mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in enc.state_dict().items()}, str(best_path))
        info_path.write_text(json.dumps(info, indent=1))
    enc.eval()
    if args.refit_head:
        refit_head(model, enc, args, info)
    round_to_stored(enc).eval()  # evaluated as shipped (float16 weights)
    quick = QuickEncoder(enc)
    log("evaluating on the test split")
    scale = info.get("precision_scale") or precision_scale(args.init)  # (a factored run's info may lack it)
    report = evaluate(model, quick, enc, args.data, args.seed, args.precision_cap, float(scale))
    log(json.dumps(report, indent=1))
    info["evaluation"] = report
    info_path.write_text(json.dumps(info, indent=1))
    if args.ship:
        aug = ("the config's augmentation drawn afresh per batch" if info.get("loss") == "decoder" or args.arch == "factored"
               else f"+{args.copies} augmented copies per window")
        meta = {"teacher": args.model, "data": f"{args.data}: train split ({aug}), "
                "selection on the validation split, evaluation on the test split", "evaluation_command": cmd,
                "hardware": hardware(), "torch_threads": args.threads,
                **{k: v for k, v in info.items() if k != "history"}, "history": info.get("history", [])[-8:]}
        path = save_follow_encoder(enc, args.ship_dir or ckpt, weights_fingerprint(ckpt), meta)
        log(f"shipped {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
