"""``--arch factored`` of scripts/distill_follow_encoder.py: the teacher's encoder with W_hh = U V.

Student: ``models.net.factored_encoder.FactoredEncoder.from_teacher(teacher, --rank)`` (every
weight the teacher's, each recurrent matrix its truncated SVD). Each step draws ``--batch``
train windows, applies the teacher config's augmentation afresh (velocity gain, timing shift,
hi-hat/ride swap, bar shuffle: new windows every step, so the student can not learn the train
split by heart, which limited the 256-unit student), and takes the teacher's fp32 means of
them as targets (computed on the fly). Loss: squared error of the mean relative to the
targets' mean square. Adam, cosine decay from ``--lr`` to ``--min-lr``. Every ``--eval-every``
steps the relative error and cosine on the whole validation split; each new best is written
at once (``--work``/best_r<rank>.safetensors + .json), the run's state (weights, Adam moments,
generator, and step / best / history in the file's metadata) too, each file written whole and
moved into place, so a stopped run goes on with ``--resume``. Nothing is pickled.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from follow_decoder_loss import log  # scripts/: beside this script
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from models.data.io import load_windows
from models.generate import GrooveModel
from models.net.factored_encoder import FactoredEncoder
from models.net.transforms import encoder_inputs
from models.train.augment import augment_batch


def _means(enc: torch.nn.Module, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([enc(x[i : i + batch])[0] for i in range(0, len(x), batch)])


def _save_atomic(tensors: dict[str, torch.Tensor], path: Path, meta: dict | None = None) -> None:
    """safetensors written beside and moved into place: a kill never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=None if meta is None else {"meta": json.dumps(meta)})
    tmp.replace(path)


def _save_state(path: Path, enc: FactoredEncoder, opt: torch.optim.Adam, gen: torch.Generator, meta: dict) -> None:
    """Weights, Adam moments, generator and the run's progress (``meta``, in the file's metadata:
    one file, so they always belong together)."""
    tensors = {f"model.{k}": v.contiguous() for k, v in enc.state_dict().items()}
    for i, p in enumerate(enc.parameters()):
        st = opt.state.get(p, {})
        for k in ("exp_avg", "exp_avg_sq"):
            if k in st:
                tensors[f"adam.{i}.{k}"] = st[k].contiguous()
    tensors["generator"] = gen.get_state()
    _save_atomic(tensors, path, meta)


def _load_state(path: Path, enc: FactoredEncoder, opt: torch.optim.Adam, gen: torch.Generator) -> dict:
    t = load_file(str(path))
    enc.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model.")})
    with safe_open(str(path), "pt") as fh:
        meta = json.loads((fh.metadata() or {})["meta"])
    for i, p in enumerate(enc.parameters()):
        if f"adam.{i}.exp_avg" in t:
            opt.state[p] = {"step": torch.tensor(float(meta["step"])), "exp_avg": t[f"adam.{i}.exp_avg"],
                            "exp_avg_sq": t[f"adam.{i}.exp_avg_sq"]}
    gen.set_state(t["generator"])
    return meta


def train_factored(model: GrooveModel, args: argparse.Namespace, best_path: Path,
                   info_path: Path) -> tuple[FactoredEncoder, dict[str, object]]:
    teacher = model.model.encoder.eval()
    cfg = model.config
    enc = FactoredEncoder.from_teacher(teacher, args.rank)
    if args.init:
        enc.load_state_dict(load_file(args.init))
        log(f"warm start from {args.init}")
    train = torch.from_numpy(load_windows(args.data, "train").tensors.astype(np.float32))
    vx, _ = encoder_inputs(cfg, torch.from_numpy(load_windows(args.data, "validation").tensors.astype(np.float32)))
    vmu = _means(teacher, vx)
    vms = float(vmu.square().mean())
    with torch.no_grad():  # evaluate()'s normaliser of the precision-weighted error, as the bilstm runs'
        vsigma = torch.cat([teacher(vx[i : i + 512])[1] for i in range(0, len(vx), 512)])
    scale = float(torch.clamp(1.0 / vsigma.square(), max=args.precision_cap).mean())
    opt = torch.optim.Adam(enc.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed + 1)
    state_path = Path(args.work) / f"state_r{args.rank}.safetensors"
    start, best, best_step, history = 1, math.inf, 0, []
    if args.resume and state_path.is_file():
        meta = _load_state(state_path, enc, opt, gen)
        start, best, best_step, history = meta["step"] + 1, meta["best"], meta["best_step"], meta["history"]
        log(f"resumed at step {start}")

    def validate() -> tuple[float, float]:
        enc.eval()
        p = _means(enc, vx)
        return float((p - vmu).square().mean()) / vms, float(torch.nn.functional.cosine_similarity(p, vmu, dim=1).mean())

    if start == 1:
        err, cos = validate()
        history.append({"step": 0, "validation_relative_error": round(err, 5), "validation_cosine": round(cos, 5)})
        log(f"step 0 (truncated SVD, rank {args.rank}): validation relative error {err:.4f} cosine {cos:.4f}")
    t0, run = time.perf_counter(), 0.0
    for step in range(start, args.steps + 1):
        for g in opt.param_groups:
            g["lr"] = args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * (step - 1) / args.steps))
        enc.train()
        idx = torch.randint(len(train), (args.batch,), generator=gen)
        xi, _ = encoder_inputs(cfg, augment_batch(cfg, train[idx], gen), training=False)
        with torch.no_grad():
            target = teacher(xi)[0]
        loss = (enc(xi)[0] - target).square().mean() / target.square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(enc.parameters(), 1.0)
        opt.step()
        run = 0.98 * run + 0.02 * float(loss.detach()) if step > start else float(loss.detach())
        if step % args.eval_every == 0 or step == args.steps:
            err, cos = validate()
            history.append({"step": step, "train_loss": round(run, 5), "validation_relative_error": round(err, 5),
                            "validation_cosine": round(cos, 5)})
            if err < best:
                best, best_step = err, step
                _save_atomic({k: v.contiguous() for k, v in enc.state_dict().items()}, best_path)
            meta = {"step": step, "best": best, "best_step": best_step, "history": history}
            _save_state(state_path, enc, opt, gen, meta)
            info_path.write_text(json.dumps({**meta, "arch": "factored", "rank": args.rank, "precision_scale": scale,
                                             "torch_threads": args.threads}, indent=1))
            log(f"step {step}/{args.steps} loss {run:.4f} val relative error {err:.4f} cosine {cos:.4f} "
                f"(best {best:.4f} at {best_step}) {time.perf_counter() - t0:.0f} s")
    enc.load_state_dict(load_file(str(best_path)))
    enc.eval()
    info: dict[str, object] = {
        "arch": "factored", "rank": args.rank, "steps": args.steps, "selected_step": best_step,
        "validation_relative_error": round(best, 5), "batch_size": args.batch, "lr": args.lr, "min_lr": args.min_lr,
        "loss": "relative squared error of the mean (teacher fp32 targets, augmentation drawn afresh each step)",
        "precision_scale": scale, "torch_threads": args.threads, "history": history, "train_seconds_this_run": round(time.perf_counter() - t0, 1)}
    return enc, info
