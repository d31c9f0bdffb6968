"""Generation API (whisper-style): ``load_model`` -> ``GrooveModel`` with sample / encode /
decode / interpolate / humanize / reconstruct, all returning ``Groove`` objects.

Sampling (reference section 2.5): hits ~ Bernoulli(sigmoid(logit / T)), velocities and offsets
taken deterministically (as given-a-hit estimates unless ``raw_outputs``: see
``models.net.fast_decode.conditional_outputs``); temperature 0 thresholds hits at 0.5. Every random draw comes from a
numpy/torch generator seeded with ``seed``, so equal seeds give equal grooves on any device.
``encode`` returns encoder means with the config's encoder-input transform applied (humanize,
tapify, ...); interpolation is slerp between two means, endpoints included.

``humanize``: with a humanize-config model the transform already turns the input into
quantised, flat-velocity hits; with any other model (e.g. plain groovae_4bar) the input is
first quantised (offsets 0) and its velocities flattened to 0 by us, then encoded and decoded,
so the model supplies timing and dynamics. The decoder plays exactly the input's hits
(``keep_hits``, the default: each step's hit decision is forced rather than sampled) so a
humanized beat is the user's beat. Inputs longer than the model's window are processed
window by window and joined.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from models.groove import Groove, blend_humanized
from models.latent import slerp_path
from models.net.attributes import AttributeValueError, check_attributes, shift_latents
from models.net.config import GrooVAEConfig
from models.net.fast_decode import GIVEN_FORCED_HIT, GIVEN_HIT, RAW, FastGrooVAE, hit_thresholds
from models.net.follow_encoder import (
    FOLLOW_FILE,
    FollowEncoderError,
    QuickEncoder,
    load_follow_encoder,
)
from models.net.prior import PRIOR_FILE, LatentPrior, PriorError, load_prior, weights_fingerprint
from models.net.transforms import encoder_inputs
from models.net.vae import GrooVAE
from models.protocols import GrooveModelLike
from models.train.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
SHIPPED = {"default": "default", "humanize": "humanize", "drumify": "drumify"}


PRIORS = ("auto", "fitted", "normal")
log = logging.getLogger(__name__)
T = TypeVar("T")

FORCE_LOGIT = 1e30  # a hit threshold no logit crosses (keep_hits: -FORCE_LOGIT forces a hit)


class GrooveModel:
    """A loaded model for inference (one caller at a time; calls are serialised by a lock)."""

    def __init__(
        self, model: GrooVAE, name: str = "", device: str | torch.device = "cpu", raw_outputs: bool = False,
        prior: LatentPrior | None = None, quick_encoder: QuickEncoder | None = None,
    ) -> None:
        """``raw_outputs``: velocities and offsets exactly as the network writes them (Magenta's
        behaviour); by default they are given-a-hit estimates (``models.net.fast_decode.conditional_outputs``).
        ``prior``: the fitted sampling prior and attribute directions (``models.net.prior``).
        ``quick_encoder``: a small encoder distilled from this one (``models.net.follow_encoder``)."""
        self.prior = prior
        self.quick_encoder = quick_encoder
        self.device = torch.device(device)
        self.raw_outputs = raw_outputs
        self.model = model.to(self.device).eval()
        self.config: GrooVAEConfig = model.config
        self.name = name or self.config.name
        self.fast = FastGrooVAE(self.model)
        self._lock = threading.Lock()

    @property
    def num_steps(self) -> int:
        return self.config.num_steps

    @property
    def z_size(self) -> int:
        return self.config.z_size

    # ---- helpers -------------------------------------------------------------------------------
    def _tensor(self, grooves: list[Groove]) -> torch.Tensor:
        for g in grooves:
            if g.num_steps != self.num_steps:
                raise ValueError(
                    f"groove has {g.num_steps} steps; {self.config.name} needs {self.num_steps} "
                    f"({self.config.num_bars} bars)"
                )
        arr = np.stack([g.to_tensor() for g in grooves]).astype(np.float32)
        return torch.from_numpy(arr).to(self.device)

    def _controls(self, grooves: list[Groove] | None, n: int) -> torch.Tensor | None:
        if not self.config.hits_as_controls:
            return None
        if grooves is None:
            raise ValueError(f"{self.config.name} needs control hits: pass controls=[Groove, ...]")
        if len(grooves) == 1 and n > 1:
            grooves = grooves * n
        if len(grooves) != n:
            raise ValueError(f"{len(grooves)} control grooves for {n} outputs")
        return self._tensor(grooves)[..., :9]

    # ---- API -------------------------------------------------------------------------------------
    def _windows(self, grooves: Groove | list[Groove] | np.ndarray) -> torch.Tensor:
        if isinstance(grooves, np.ndarray):
            if grooves.ndim != 3 or grooves.shape[1:] != (self.num_steps, 27):
                raise ValueError(f"windows of shape {grooves.shape}; {self.config.name} needs (n, {self.num_steps}, 27)")
            return torch.from_numpy(np.ascontiguousarray(grooves, np.float32)).to(self.device)
        return self._tensor([grooves] if isinstance(grooves, Groove) else list(grooves))

    def encode(self, grooves: Groove | list[Groove] | np.ndarray) -> np.ndarray:
        """Encoder means (n, z_size) of grooves of exactly ``num_steps`` steps (or of their
        (n, num_steps, 27) tensors, e.g. dataset windows, without building Grooves)."""
        return self.encode_posterior(grooves)[0]

    def encode_posterior(self, grooves: Groove | list[Groove] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The encoder's posterior over z, (means, standard deviations), each (n, z_size)."""
        with self._lock, torch.inference_mode():
            x, _ = encoder_inputs(self.config, self._windows(grooves), training=False)
            mu, sigma = self.fast.encode(x)
        return mu.cpu().numpy(), sigma.cpu().numpy()

    @property
    def has_quick_encoder(self) -> bool:
        """Whether ``encode_quick`` uses a distilled student (else it is ``encode``): the model
        has one and runs on the CPU (on a GPU the full encoder is used there)."""
        return self.quick_encoder is not None and self.device.type == "cpu"

    def encode_quick(self, grooves: Groove | list[Groove] | np.ndarray) -> np.ndarray:
        """``encode`` by the distilled follow encoder when the model has one (``has_quick_encoder``:
        a smaller network, ~3x faster, whose means only approximate the full encoder's: see its
        evaluation in models/pretrained/MODEL_CARD.md), else exactly ``encode``."""
        if not self.has_quick_encoder or self.quick_encoder is None:
            return self.encode(grooves)
        t = self._windows(grooves)
        with self._lock, torch.inference_mode():
            x, _ = encoder_inputs(self.config, t, training=False)
            return self.quick_encoder.encode(x.cpu()).numpy()

    def decode(
        self,
        z: np.ndarray,
        temperature: float = 1.0,
        seed: int | None = None,
        bpm: float = 120.0,
        controls: list[Groove] | None = None,
        keep_hits: list[Groove] | None = None,
        hit_bias: np.ndarray | None = None,
    ) -> list[Groove]:
        """Grooves decoded from latent vectors ``z`` (n, z_size). ``keep_hits`` (one groove per
        z): the decoder plays exactly these hits (each step's hit decision is forced, and fed
        back, instead of sampled) and supplies their velocities and offsets. ``hit_bias`` (9,):
        added to each class's hit logit before sampling (the prior's class calibration)."""
        z_arr = np.atleast_2d(np.asarray(z, dtype=np.float32))
        if z_arr.shape[1] != self.z_size:
            raise ValueError(f"z has size {z_arr.shape[1]}, the model's z_size is {self.z_size}")
        n = z_arr.shape[0]
        rng = np.random.default_rng(seed)
        uniform = rng.random((self.num_steps, n, 9), dtype=np.float32)
        ctl = self._controls(controls, n)
        with self._lock, torch.inference_mode():
            zt = torch.from_numpy(z_arr).to(self.device)
            if keep_hits is None:
                th = hit_thresholds(torch.from_numpy(uniform).to(self.device), temperature)
                if hit_bias is not None:
                    th = th - torch.from_numpy(np.asarray(hit_bias, np.float32)).to(self.device)
                floors = RAW if self.raw_outputs else GIVEN_HIT
            else:
                if len(keep_hits) != n:
                    raise ValueError(f"{len(keep_hits)} grooves to keep the hits of, for {n} outputs")
                forced = self._tensor(keep_hits)[..., :9].transpose(0, 1) > 0.5  # (T, n, 9)
                th = torch.where(forced, -FORCE_LOGIT, FORCE_LOGIT).to(torch.float32)
                floors = RAW if self.raw_outputs else GIVEN_FORCED_HIT
            out = self.fast.decode(zt, th, ctl, floors).cpu().numpy()
        return [Groove.from_tensor(o, bpm) for o in out]

    def sample(
        self,
        n: int = 1,
        temperature: float = 1.0,
        seed: int | None = None,
        bpm: float = 120.0,
        controls: list[Groove] | None = None,
        prior: str = "auto",
        attributes: Mapping[str, float] | None = None,
    ) -> list[Groove]:
        """``n`` grooves. ``prior``: "fitted" (the model's fitted prior; an error when it has
        none), "normal" (Magenta's z ~ N(0, I)) or "auto" (fitted when the model has one).
        ``temperature`` scales the prior's spread and the decoder's hit sampling.
        ``attributes``: musical controls in standard deviations, e.g. {"density": 1}."""
        rng = np.random.default_rng(seed)
        z = self.prior_latents(n, temperature, rng, prior)
        if attributes:
            z = shift_latents(z, self._directions(), attributes)
        dec_seed = int(rng.integers(2**31))
        fitted = self.prior is not None and prior != "normal"
        bias = self.prior.hit_bias if fitted and self.prior is not None else None
        return self.decode(z, temperature, dec_seed, bpm, controls, hit_bias=bias)

    def prior_latents(self, n: int, temperature: float, rng: np.random.Generator, prior: str = "auto") -> np.ndarray:
        """(n, z_size) latents drawn from the chosen prior (see ``sample``)."""
        if prior not in PRIORS:
            raise ValueError(f"unknown prior {prior!r}; choose from: {', '.join(PRIORS)}")
        if prior == "fitted" and self.prior is None:
            raise PriorError(f"{self.name} has no fitted prior; run `groovebridge fit-prior` for it or use --prior normal")
        if prior != "normal" and self.prior is not None:
            return self.prior.sample(n, temperature, rng)
        return rng.standard_normal((n, self.z_size)).astype(np.float32)

    def _directions(self) -> np.ndarray:
        if self.prior is None or self.prior.directions is None:
            raise AttributeValueError(
                f"{self.name} has no attribute directions; run `groovebridge fit-prior` for it"
            )
        return self.prior.directions

    def shift(
        self, groove: Groove, attributes: Mapping[str, float], temperature: float = 0.0, seed: int | None = None
    ) -> Groove:
        """``groove`` moved along the attribute directions: encode, move, decode (window by
        window). With every attribute 0 it is the groove's reconstruction."""
        check_attributes(attributes)
        directions = self._directions()
        if groove.num_steps == 0 or groove.num_steps % self.num_steps:
            raise ValueError(f"groove has {groove.num_steps} steps, not a multiple of the model's {self.num_steps}")
        n = groove.num_steps // self.num_steps
        windows = [groove.window(i * self.config.num_bars, self.config.num_bars) for i in range(n)]
        z = shift_latents(self.encode(windows), directions, attributes)
        ctl = windows if self.config.hits_as_controls else None
        outs = self.decode(z, temperature, seed, groove.bpm, ctl)
        return Groove.from_tensor(np.concatenate([o.to_tensor() for o in outs], axis=0), groove.bpm)

    def interpolate(
        self,
        a: Groove | np.ndarray,
        b: Groove | np.ndarray,
        steps: int = 5,
        temperature: float = 1.0,
        seed: int | None = None,
        bpm: float | None = None,
    ) -> list[Groove]:
        """``steps`` grooves along the slerp from a's to b's encoding (endpoints included).

        ``a`` / ``b`` are grooves (encoded to their means) or latent vectors."""
        za = self.encode(a)[0] if isinstance(a, Groove) else np.asarray(a, np.float32).reshape(-1)
        zb = self.encode(b)[0] if isinstance(b, Groove) else np.asarray(b, np.float32).reshape(-1)
        zs = slerp_path(za, zb, steps)
        tempo = bpm if bpm is not None else (a.bpm if isinstance(a, Groove) else 120.0)
        ctl = [a] if self.config.hits_as_controls and isinstance(a, Groove) else None
        return self.decode(zs, temperature, seed, tempo, ctl)

    def reconstruct(self, groove: Groove, temperature: float = 1.0, seed: int | None = None) -> Groove:
        """decode(encode(groove)), window by window for longer grooves."""
        return self._windowed(groove, temperature, seed, humanize=False)

    def humanize(
        self,
        groove: Groove,
        temperature: float = 1.0,
        seed: int | None = None,
        keep_hits: bool = True,
        amount: float | None = None,
        latent: Callable[[list[Groove]], np.ndarray] | None = None,
    ) -> Groove:
        """A played version of ``groove``'s hits (see the module docstring): its hits exactly,
        with the model's velocities and micro-timing (``keep_hits=False``: the model may also
        change hits, as Magenta's humanize does). ``amount`` (0-1) moves the original's
        velocities and timing only that far towards the model's, keeping the original's hits
        (``blend_humanized``); None gives the model's performance as it is. Pick the model
        with ``humanizer``. ``latent``: the windows' z (default ``encode``, the means; a draw from
        ``encode_posterior`` gives another take, ``models.takes``)."""
        played = self._windowed(groove, temperature, seed, humanize=True, keep_hits=keep_hits, latent=latent)
        return played if amount is None else blend_humanized(groove, played, amount)

    def drumify(self, rhythm: Groove, temperature: float = 0.0, seed: int | None = None) -> Groove:
        """A full drum groove for a rhythm (a Drumify / Tap2Drum model, ``config.tapify``): every
        hit of ``rhythm``, on any class, is a tap; the model supplies the drums, their dynamics
        and feel. A rhythm shorter than a whole number of the model's windows is padded with
        silence; temperature 0 gives the model's most likely groove."""
        if not self.config.tapify:
            raise ValueError(f"{self.name} is not a Drumify model; use load_model(\"drumify\")")
        if rhythm.num_hits == 0:
            raise ValueError("the rhythm has no notes to drumify")
        rhythm = rhythm.fit_steps(rhythm.num_steps + -rhythm.num_steps % self.num_steps)
        return self._windowed(rhythm, temperature, seed, humanize=False)

    def _windowed(
        self, groove: Groove, temperature: float, seed: int | None, humanize: bool, keep_hits: bool = False,
        latent: Callable[[list[Groove]], np.ndarray] | None = None,
    ) -> Groove:
        if groove.num_steps == 0 or groove.num_steps % self.num_steps:
            raise ValueError(
                f"groove has {groove.num_steps} steps, not a multiple of the model's {self.num_steps}"
            )
        if humanize and not self.config.humanize:
            groove = groove.with_changes(
                velocities=np.zeros_like(groove.velocities), offsets=np.zeros_like(groove.offsets)
            )
        n = groove.num_steps // self.num_steps
        windows = [groove.window(i * self.config.num_bars, self.config.num_bars) for i in range(n)]
        z = (latent or self.encode)(windows)
        ctl = windows if self.config.hits_as_controls else None
        outs = self.decode(z, temperature, seed, groove.bpm, ctl, keep_hits=windows if keep_hits else None)
        t = np.concatenate([o.to_tensor() for o in outs], axis=0)
        return Groove.from_tensor(t, groove.bpm)


def humanizer(model: GrooveModelLike, helper: Callable[[], GrooveModelLike | None]) -> GrooveModelLike:
    """The model to humanize with: ``model`` when it was trained to humanize (its config's
    humanize transform) or has no config (a stand-in); otherwise ``helper()``, the shipped
    "humanize" model (None when it failed to load), which turns flat, quantised hits into a
    played performance (a plain VAE never saw such inputs). Falls back to ``model`` when the
    helper is missing or its length differs."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "humanize", True):
        return model
    hz = helper()
    if hz is None or getattr(getattr(hz, "config", None), "num_steps", None) != config.num_steps:
        return model
    return hz


def resolve_model_path(name_or_path: str | Path | None) -> tuple[Path, str]:
    """(checkpoint path, display name) for a shipped name, a checkpoint or a run directory."""
    key = "default" if name_or_path is None else str(name_or_path)
    if key in SHIPPED:
        path = PRETRAINED_DIR / SHIPPED[key]
        if not (path / "model.safetensors").is_file():
            raise CheckpointError(
                f"the shipped '{key}' model is not installed ({path} has no model.safetensors); "
                "train one with `groovebridge train` and pass its run directory"
            )
        return path, key
    p = Path(key).expanduser()
    if p.exists():
        return p, p.name
    # A bare name (no separators, no dots-only) may name a model imported or fetched into the
    # user's model folder; anything path-like is taken literally, so names cannot escape it.
    if key and key == Path(key).name and key not in (".", ".."):
        from models.magenta.fetch import models_dir

        user = models_dir() / key
        if (user / "model.safetensors").is_file():
            return user, key
    raise CheckpointError(
        f"model not found: {key} (not a shipped name {sorted(SHIPPED)}, an imported model or a path)"
    )


def load_model(
    name_or_path: str | Path | None = None, device: str | torch.device | None = None, raw_outputs: bool = False
) -> GrooveModel:
    """Load the shipped model ("default" / "humanize"), a checkpoint dir or file, or a run dir
    (its latest checkpoint). ``device`` defaults to CPU; ``raw_outputs`` see ``GrooveModel``."""
    path, name = resolve_model_path(name_or_path)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    model, config, _ = load_checkpoint(path, dev)
    return GrooveModel(model, name if name in SHIPPED else config.name, dev, raw_outputs,
                       prior=_find_prior(path, config.z_size), quick_encoder=_find_quick_encoder(path, config))


def _beside(path: Path, file_name: str, load: Callable[[Path], T], errors: tuple[type[Exception], ...],
            instead: str) -> T | None:
    """What ``load`` reads from ``file_name`` beside the checkpoint, or None where it is absent;
    a damaged or stale one is logged and skipped (``instead``: what is used then)."""
    try:
        ckpt = resolve_checkpoint(path)
    except CheckpointError:
        return None
    if not (ckpt / file_name).is_file():
        return None
    caught: tuple[type[Exception], ...] = (*errors, OSError)
    try:
        return load(ckpt)
    except caught as e:
        log.warning("%s; %s", e, instead)
        return None


def _find_prior(path: Path, z_size: int) -> LatentPrior | None:
    """The fitted prior beside the checkpoint (else sampling falls back to N(0, I))."""
    return _beside(path, PRIOR_FILE, lambda ckpt: load_prior(ckpt, weights_fingerprint(ckpt), z_size), (PriorError,),
                   "sampling from N(0, I) instead")


def _find_quick_encoder(path: Path, config: GrooVAEConfig) -> QuickEncoder | None:
    """The distilled follow encoder beside the checkpoint (else ``encode_quick`` uses the full
    encoder; most checkpoints have none)."""
    return _beside(path, FOLLOW_FILE, lambda ckpt: load_follow_encoder(ckpt, weights_fingerprint(ckpt), config),
                   (FollowEncoderError,), "encode_quick uses the full encoder")
