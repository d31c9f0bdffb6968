"""``--loss decoder`` of scripts/distill_follow_encoder.py: train the follow encoder for what
follow mode uses its z for, the frozen teacher decoder's reconstruction of the played window.

Per step: a batch of train-split windows with the teacher config's training augmentation drawn
afresh (``models/train/augment.py``); z = the student's mean (+ ``--z-noise`` x N(0, I), 0 by
default; the student's LSTM inputs dropped with keep probability ``--student-keep``); the teacher's decoder, frozen, teacher-forced with its training dropouts (word dropout
``decoder_input_dropout``, input keep ``dropout_keep_prob``) gives logits; loss = the GrooVAE
reconstruction loss (``models.net.losses.groovae_loss``, the teacher config's weights: hits BCE +
10 x velocity + 10 x offset squared errors, summed over steps; no KL) + ``--anchor`` x the
precision-weighted squared error to the teacher's mean (the ``--loss mu`` objective) on the first
``--anchor-batch`` windows of the batch, which keeps z in the teacher's region of the space (follow
slerps a teacher-encoded pattern with the student-encoded window). Adam, cosine decay from
``--lr``; the checkpoint with the best validation reconstruction hit F1 (the teacher's fast
decoder at temperature 0 from the student's z, as the evaluation decodes) is written to
``--work`` at once, so a run cut short leaves its best.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from models.data.io import load_windows
from models.generate import GrooveModel
from models.metrics import reconstruction_scores
from models.net.follow_encoder import new_student
from models.net.losses import groovae_loss
from models.net.transforms import encoder_inputs
from models.train.augment import augment_batch


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def _batched(model: GrooveModel, encode, x: np.ndarray, batch: int = 512) -> list:  # type: ignore[no-untyped-def]
    """``encode`` (encoder inputs -> (mu, sigma)) over ``x`` (N, T, 27) in batches, no gradients."""
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            xi, _ = encoder_inputs(model.config, torch.from_numpy(x[i : i + batch]), training=False)
            out.append(encode(xi))
    return out


def teacher_targets(model: GrooveModel, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The deployed teacher's (mu, sigma) of (N, T, 27) windows."""
    parts = _batched(model, model.fast.encode, x)
    return np.concatenate([p[0].numpy() for p in parts]), np.concatenate([p[1].numpy() for p in parts])


def student_means(model: GrooveModel, enc: torch.nn.Module, x: np.ndarray) -> torch.Tensor:
    """The student's means of (N, T, 27) windows."""
    return torch.cat([p[0] for p in _batched(model, enc, x)])


def validation_f1(model: GrooveModel, z: np.ndarray, target: np.ndarray, bpm: np.ndarray) -> dict[str, float]:
    """Reconstruction scores of ``target`` by the teacher's decoder at temperature 0 from ``z``."""
    dec = [model.decode(z[i : i + 64], temperature=0.0) for i in range(0, len(z), 64)]
    pred = np.stack([g.to_tensor() for gs in dec for g in gs])
    s = reconstruction_scores(target, pred, bpm).as_dict()
    return {k: round(float(v), 4) for k, v in s.items() if k != "num_windows"}


def precision_scale(init: str, fallback: float = 129034.3359375) -> float:
    """The ``--loss mu`` run's normaliser of 1/sigma^2 (its JSON beside ``init``), else the candidate's."""
    for name in ("follow_encoder.json", Path(init).with_suffix(".json").name if init else ""):
        p = Path(init).parent / name
        if init and name and p.is_file():
            v = json.loads(p.read_text()).get("precision_scale")
            if isinstance(v, (int, float)) and v > 0:
                return float(v)
    return fallback


def train_decoder_loss(model: GrooveModel, args: argparse.Namespace, best_path: Path,
                       info_path: Path) -> tuple[torch.nn.Module, dict[str, object]]:
    from safetensors.torch import load_file, save_file

    cfg = model.config
    train = torch.from_numpy(load_windows(args.data, "train").tensors.astype(np.float32))
    val = load_windows(args.data, "validation")
    vx, vbpm = val.tensors.astype(np.float32), val.bpm.astype(np.float64)
    if args.val_windows and args.val_windows < len(vx):  # a fixed spread-out subset for selection
        keep = np.linspace(0, len(vx) - 1, args.val_windows).astype(int)
        vx, vbpm = vx[keep], vbpm[keep]
    torch.manual_seed(args.seed)
    enc = new_student(cfg, args.units)
    if args.init:
        missing = enc.load_state_dict(load_file(args.init), strict=False).missing_keys
        if [k for k in missing if not k.startswith("sigma.")]:
            raise SystemExit(f"{args.init}: not a {args.units}-unit student ({missing})")
        log(f"warm start from {args.init}")
    enc.keep_prob = args.student_keep  # input dropout while training (the student overfits the train split)
    dec = model.model.decoder
    dec.requires_grad_(False)
    scale, cap = precision_scale(args.init), args.precision_cap
    vmu = teacher_targets(model, vx)[0]
    teacher_val = validation_f1(model, vmu, vx, vbpm)
    opt = torch.optim.Adam(enc.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed + 1)
    history: list[dict[str, object]] = []
    best, best_step, t0 = -1.0, -1, time.perf_counter()
    run_r = run_a = 0.0
    info: dict[str, object] = {"loss": "decoder", "warm_start": args.init or None, "steps": args.steps,
                               "batch_size": args.batch, "lr": args.lr, "anchor": args.anchor,
                               "anchor_batch": args.anchor_batch, "z_noise": args.z_noise,
                               "student_keep_prob": args.student_keep, "decoder_dropout": args.decoder_dropout,
                               "precision_cap": cap, "precision_scale": scale, "train_windows": int(len(train)),
                               "validation_windows": int(len(vx)), "validation_teacher": teacher_val}

    def check(step: int) -> None:
        nonlocal best, best_step
        enc.eval()
        dec.eval()
        zs = student_means(model, enc, vx).numpy()
        s = validation_f1(model, zs, vx, vbpm)
        cos = float(((zs * vmu).sum(1) / (np.linalg.norm(zs, axis=1) * np.linalg.norm(vmu, axis=1))).mean())
        history.append({"step": step, "recon_loss": round(run_r, 3), "anchor_loss": round(run_a, 5),
                        "validation": s, "validation_cosine": round(cos, 4)})
        if s["hit_f1"] > best:
            best, best_step = s["hit_f1"], step
            save_file({k: v.detach().contiguous() for k, v in enc.state_dict().items()}, str(best_path))
        info.update(selected_step=best_step, validation_hit_f1=best, history=history,
                    train_seconds=round(time.perf_counter() - t0, 1))
        info_path.write_text(json.dumps(info, indent=1))
        log(f"step {step}/{args.steps} recon {run_r:.3f} anchor {run_a:.5f} val F1 {s['hit_f1']:.4f} "
             f"vel {s['velocity_mae_midi']:.2f} timing {s['timing_mae_ms']:.2f} cos {cos:.4f} "
             f"(best {best:.4f} at {best_step}; teacher {teacher_val['hit_f1']:.4f}) {time.perf_counter() - t0:.0f} s")

    check(0)
    t1 = time.perf_counter()
    perm, pos = torch.randperm(len(train), generator=gen), 0
    for step in range(1, args.steps + 1):
        if pos + args.batch > len(train):
            perm, pos = torch.randperm(len(train), generator=gen), 0
        batch = augment_batch(cfg, train[perm[pos : pos + args.batch]], gen)
        pos += args.batch
        for g in opt.param_groups:
            g["lr"] = args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * (step - 1) / args.steps))
        enc.train()
        dec.train(args.decoder_dropout)
        xi, controls = encoder_inputs(cfg, batch, training=False)
        mu, _ = enc(xi, gen)
        z = mu + args.z_noise * torch.randn(mu.shape, generator=gen) if args.z_noise else mu
        logits = dec(batch, z, controls, gen)
        zero = torch.zeros_like(mu)  # no KL term: z is the mean, not a sample of a posterior
        r, _ = groovae_loss(cfg, logits, batch, zero, torch.ones_like(mu), 0)
        loss = r
        if args.anchor > 0 and args.anchor_batch > 0:
            n = args.anchor_batch
            with torch.inference_mode():
                tmu, tsig = model.fast.encode(xi[:n])
            w = torch.clamp(1.0 / tsig.clone().square(), max=cap) / scale
            a = (w * (mu[:n] - tmu.clone()).square()).mean()
            loss = r + args.anchor * a
            run_a = 0.98 * run_a + 0.02 * float(a.detach()) if step > 1 else float(a.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(enc.parameters(), 1.0)
        opt.step()
        run_r = 0.98 * run_r + 0.02 * float(r.detach()) if step > 1 else float(r.detach())
        if step % 10 == 0 and step <= 30:
            log(f"step {step}: recon {run_r:.3f} anchor {run_a:.5f}, {step * args.batch / (time.perf_counter() - t1):.1f} windows/s")
        if step % args.eval_every == 0 or step == args.steps:
            check(step)
    dec.eval()
    enc.load_state_dict(load_file(str(best_path)))
    return enc.eval(), info
