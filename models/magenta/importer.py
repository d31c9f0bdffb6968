"""Import Magenta's published GrooVAE weights (TF1 checkpoints, tars, magenta.js folders).

Sources: a ``.tar`` as published (extracted safely: absolute paths, ``..`` and links are
refused), a checkpoint prefix / ``.index`` file / directory, or a magenta.js folder. The
variables are checked strictly against the expected names and shapes (every one present,
shapes right, nothing unknown except optimizer state: ``*/Adam``, ``*/Adam_1``,
``beta1_power``, ``beta2_power``, ``global_step``), mapped onto ``models.net.vae.GrooVAE``
(reference section 4) and written as a normal GrooveBridge checkpoint.

LSTMBlockCell -> nn.LSTM: kernel [(D + H), 4H] has column blocks [i, j, f, o]; torch wants
rows (i, f, g=j, o); ``weight_ih = K[:D].T``, ``weight_hh = K[D:].T``, ``bias_ih = b`` with
the run-time forget bias +1 folded in, ``bias_hh = 0``. Dense kernels [in, out] are
transposed to torch's [out, in].
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.magenta.js import MagentaJSError
from models.magenta.sources import (  # noqa: F401  (re-exported)
    MagentaImportError,
    Source,
    open_source,
    safe_extract_tar,
)
from models.magenta.tf_checkpoint import TFCheckpointError
from models.net.config import CONFIGS, ConfigError, GrooVAEConfig, get_config

ENC_CELL = "encoder/cell_0/bidirectional_rnn/{d}/multi_rnn_cell/cell_0/lstm_cell/{p}"
DEC_CELL = "decoder/multi_rnn_cell/cell_{i}/lstm_cell/{p}"
OUTPUT_DEPTH = 27
FORGET_BIAS = 1.0
_OPTIMIZER_NAMES = {"global_step", "beta1_power", "beta2_power"}


@dataclass(frozen=True)
class ImportResult:
    output: Path
    config: GrooVAEConfig
    note: str
    kind: str
    step: int


def is_optimizer_state(name: str) -> bool:
    return name in _OPTIMIZER_NAMES or name.endswith(("/Adam", "/Adam_1"))


# ---------------------------------------------------------------- expected variables


def expected_shapes(config: GrooVAEConfig) -> dict[str, tuple[int, ...]]:
    """Magenta's variable names and shapes for ``config`` (reference section 4)."""
    enc, z, ctl = config.enc_rnn_size[0], config.z_size, config.control_depth
    shapes: dict[str, tuple[int, ...]] = {}
    for d in ("fw", "bw"):
        shapes[ENC_CELL.format(d=d, p="kernel")] = (OUTPUT_DEPTH + ctl + enc, 4 * enc)
        shapes[ENC_CELL.format(d=d, p="bias")] = (4 * enc,)
    for n in ("mu", "sigma"):
        shapes[f"encoder/{n}/kernel"] = (2 * enc, z)
        shapes[f"encoder/{n}/bias"] = (z,)
    total = 2 * sum(config.dec_rnn_size)
    shapes["decoder/z_to_initial_state/kernel"] = (z, total)
    shapes["decoder/z_to_initial_state/bias"] = (total,)
    layer_in = OUTPUT_DEPTH + z + ctl
    for i, h in enumerate(config.dec_rnn_size):
        shapes[DEC_CELL.format(i=i, p="kernel")] = (layer_in + h, 4 * h)
        shapes[DEC_CELL.format(i=i, p="bias")] = (4 * h,)
        layer_in = h
    shapes["decoder/output_projection/kernel"] = (config.dec_rnn_size[-1], OUTPUT_DEPTH)
    shapes["decoder/output_projection/bias"] = (OUTPUT_DEPTH,)
    return shapes


def _need(shapes: dict[str, tuple[int, ...]], name: str, rank: int) -> tuple[int, ...]:
    if name not in shapes:
        raise MagentaImportError(f"missing variable {name} (not a GrooVAE checkpoint?)")
    if len(shapes[name]) != rank:
        raise MagentaImportError(
            f"variable {name} has shape {list(shapes[name])}, expected rank {rank}"
        )
    return shapes[name]


def infer_architecture(shapes: dict[str, tuple[int, ...]]) -> dict[str, object]:
    """z_size, enc_rnn_size, dec_rnn_size and hits_as_controls read off the shapes."""
    rows, cols = _need(shapes, ENC_CELL.format(d="fw", p="kernel"), 2)
    enc = cols // 4
    depth_in = rows - enc
    if depth_in not in (OUTPUT_DEPTH, OUTPUT_DEPTH + 9) or cols % 4:
        raise MagentaImportError(
            f"encoder input depth {depth_in} is neither 27 nor 36: not a GrooVAE checkpoint"
        )
    z = _need(shapes, "encoder/mu/kernel", 2)[1]
    dec: list[int] = []
    while DEC_CELL.format(i=len(dec), p="kernel") in shapes:
        dec.append(_need(shapes, DEC_CELL.format(i=len(dec), p="kernel"), 2)[1] // 4)
    if not dec:
        _need(shapes, DEC_CELL.format(i=0, p="kernel"), 2)
    return {
        "z_size": int(z),
        "enc_rnn_size": (int(enc),),
        "dec_rnn_size": tuple(int(h) for h in dec),
        "hits_as_controls": depth_in != OUTPUT_DEPTH,
    }


def _base_from_name(hint: str) -> str:
    s = hint.lower()
    stem = re.sub(r"_nokl$", "", s)
    if stem in CONFIGS:
        return stem
    if "hits_control" in s:
        return "groovae_2bar_hits_control"
    if "tap" in s:
        return "groovae_2bar_tap_fixed_velocity"
    if "add_closed_hh" in s:
        return "groovae_2bar_add_closed_hh"
    if "humanize" in s or "unquantize" in s:
        return "groovae_2bar_humanize"
    return "groovae_4bar"


def choose_config(source: Source, config_name: str | None) -> tuple[GrooVAEConfig, str]:
    """The config to import into and a one-line note saying how it was chosen."""
    if config_name:
        try:
            config = get_config(config_name)
        except ConfigError as e:
            raise MagentaImportError(str(e)) from None
        check_shapes(source.shapes, config, allow_unexpected=True)
        return config, f"config {config.name} (given)"
    arch = infer_architecture(source.shapes)
    base = get_config(_base_from_name(source.hint_name))
    if arch["hits_as_controls"] != base.hits_as_controls:
        base = get_config(
            "groovae_2bar_hits_control" if arch["hits_as_controls"] else "groovae_4bar"
        )
    m = re.search(r"(\d+)[_-]?bars?\b|(\d+)bar", source.hint_name.lower())
    if source.num_steps and source.num_steps % 16 == 0:
        bars, why = source.num_steps // 16, f"numSteps {source.num_steps} in config.json"
    elif m:
        bars, why = int(m.group(1) or m.group(2)), f"the name {source.hint_name!r}"
    else:
        bars, why = base.num_bars, f"default of {base.name}: length is not in the weights"
    changes = {k: v for k, v in arch.items() if getattr(base, k) != v}
    if bars != base.num_bars:
        changes.update(num_bars=bars, max_seq_len=16 * bars)
    config = base
    if changes:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", source.hint_name) or base.name
        fields: dict[str, Any] = dict(changes, name=name,
                                      description=f"imported {source.hint_name} (based on {base.name})")
        config = dataclasses.replace(base, **fields)
    check_shapes(source.shapes, config, allow_unexpected=True)
    sizes = f"enc {config.enc_rnn_size[0]}, dec {list(config.dec_rnn_size)}, z {config.z_size}"
    return config, f"config {config.name} inferred ({config.num_bars} bars from {why}; {sizes})"


def check_shapes(
    shapes: dict[str, tuple[int, ...]], config: GrooVAEConfig, allow_unexpected: bool = False
) -> None:
    """Every expected variable present with its shape; nothing unknown but optimizer state."""
    expected = expected_shapes(config)
    for name, shape in expected.items():
        if name not in shapes:
            raise MagentaImportError(f"missing variable {name}")
        if tuple(shapes[name]) != shape:
            raise MagentaImportError(
                f"variable {name} has shape {list(shapes[name])} but {config.name} expects "
                f"{list(shape)} (weights of another model?)"
            )
    unexpected = sorted(n for n in shapes if n not in expected and not is_optimizer_state(n))
    if unexpected and not allow_unexpected:
        more = f" (+{len(unexpected) - 5} more)" if len(unexpected) > 5 else ""
        raise MagentaImportError(f"unexpected variables: {', '.join(unexpected[:5])}{more}")


# ---------------------------------------------------------------- mapping


def lstm_block_to_torch(
    kernel: np.ndarray, bias: np.ndarray, input_size: int
) -> dict[str, torch.Tensor]:
    """LSTMBlockCell kernel/bias -> nn.LSTM layer-0 parameters (forget bias folded)."""
    hidden = kernel.shape[1] // 4
    i, j, f, o = (slice(k * hidden, (k + 1) * hidden) for k in range(4))
    order = np.concatenate([np.arange(hidden * 4)[s] for s in (i, f, j, o)])
    k = kernel[:, order].astype(np.float32)
    b = bias[order].astype(np.float32).copy()
    b[hidden : 2 * hidden] += np.float32(FORGET_BIAS)
    return {
        "weight_ih_l0": torch.from_numpy(np.ascontiguousarray(k[:input_size].T)),
        "weight_hh_l0": torch.from_numpy(np.ascontiguousarray(k[input_size:].T)),
        "bias_ih_l0": torch.from_numpy(b),
        "bias_hh_l0": torch.zeros(4 * hidden),
    }


def _dense(read: Callable[[str], np.ndarray], scope: str) -> dict[str, torch.Tensor]:
    kernel = read(f"{scope}/kernel").astype(np.float32)
    return {
        "weight": torch.from_numpy(np.ascontiguousarray(kernel.T)),
        "bias": torch.from_numpy(read(f"{scope}/bias").astype(np.float32)),
    }


def tf_to_torch_state_dict(
    read: Callable[[str], np.ndarray], config: GrooVAEConfig
) -> dict[str, torch.Tensor]:
    """Magenta variables (via ``read(name)``) -> ``GrooVAE`` state dict for ``config``."""
    sd: dict[str, torch.Tensor] = {}

    def put(prefix: str, params: dict[str, torch.Tensor]) -> None:
        sd.update({f"{prefix}.{k}": v for k, v in params.items()})

    for d in ("fw", "bw"):
        kernel = read(ENC_CELL.format(d=d, p="kernel"))
        put(
            f"encoder.{d}",
            lstm_block_to_torch(kernel, read(ENC_CELL.format(d=d, p="bias")), config.input_depth),
        )
    put("encoder.mu", _dense(read, "encoder/mu"))
    put("encoder.sigma", _dense(read, "encoder/sigma"))
    put("decoder.z_to_initial_state", _dense(read, "decoder/z_to_initial_state"))
    layer_in = config.output_depth + config.z_size + config.control_depth
    for i, h in enumerate(config.dec_rnn_size):
        kernel = read(DEC_CELL.format(i=i, p="kernel"))
        put(
            f"decoder.layers.{i}",
            lstm_block_to_torch(kernel, read(DEC_CELL.format(i=i, p="bias")), layer_in),
        )
        layer_in = h
    put("decoder.output_projection", _dense(read, "decoder/output_projection"))
    return sd


# ---------------------------------------------------------------- the import


def import_magenta(
    path: str | Path,
    output: str | Path,
    config_name: str | None = None,
    allow_unexpected: bool = False,
) -> ImportResult:
    """Check, map and write a GrooveBridge checkpoint; raises MagentaImportError."""
    from models.net.vae import GrooVAE
    from models.train.checkpoint import save_checkpoint

    with tempfile.TemporaryDirectory(prefix="groovebridge-import-") as tmp:
        source = open_source(path, Path(tmp))
        config, note = choose_config(source, config_name)
        check_shapes(source.shapes, config, allow_unexpected)
        step = 0
        try:
            sd = tf_to_torch_state_dict(source.read, config)
            if "global_step" in source.shapes and source.kind == "tf":
                step = int(np.asarray(source.read("global_step")).reshape(-1)[0])
        except (TFCheckpointError, MagentaJSError) as e:
            raise MagentaImportError(str(e)) from None
        model = GrooVAE(config)
        missing, unexpected = model.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise MagentaImportError(
                f"model {config.name} does not match the import mapping "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        out = save_checkpoint(
            output,
            model,
            config,
            step,
            extra={"imported_from": str(path), "source_format": source.kind, "import_note": note},
        )
    return ImportResult(output=out, config=config, note=note, kind=source.kind, step=step)
