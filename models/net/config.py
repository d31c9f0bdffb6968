"""GrooVAE configurations: one frozen dataclass, a registry of named configs, hparam overrides.

The named configs mirror Magenta's ``music_vae/configs.py`` GrooVAE family (architecture,
optimisation and data hyper-parameters), plus a 4-bar humanize config and tiny test configs.
``apply_hparams(cfg, "a=1,b=[2,3]")`` overrides fields the way Magenta's ``--hparams`` does,
with type checking and one clear error for unknown keys.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass

from models.drum_maps import NUM_CLASSES

STEPS_PER_BAR = 16
# Per-window training-data augmentations (models.train.augment), each a number in [0, 1].
AUGMENT_HPARAMS = (
    "augment_velocity_gain", "augment_timing_shift", "augment_hihat_ride_swap", "augment_bar_shuffle",
)


class ConfigError(ValueError):
    """Unknown config name, bad hparam key or value (one-line message)."""


@dataclass(frozen=True)
class GrooVAEConfig:
    name: str
    description: str = ""
    # ---- data -----------------------------------------------------------------------------
    num_bars: int = 4
    max_seq_len: int = 64  # decoder length in 16th steps (= 16 * num_bars)
    train_drum_map: str = "roland"
    infer_drum_map: str = "reduced"
    # ---- encoder-input transforms (reference section 1.6) -----------------------------------
    max_note_dropout_probability: float = 0.0
    tapify: bool = False
    humanize: bool = False
    fixed_velocities: bool = False
    add_instruments: tuple[int, ...] = ()
    hits_as_controls: bool = False
    # ---- architecture -----------------------------------------------------------------------
    z_size: int = 256
    enc_rnn_size: tuple[int, ...] = (512,)
    dec_rnn_size: tuple[int, ...] = (256, 256)
    # ---- loss ---------------------------------------------------------------------------------
    free_bits: float = 48.0
    max_beta: float = 0.2
    beta_rate: float = 0.0
    # Weights of the three reconstruction terms in the optimised loss (1.0 = Magenta). The logged
    # r_loss stays Magenta's unweighted sum, so runs with other weights compare on the same scale.
    hits_loss_weight: float = 1.0
    velocity_loss_weight: float = 1.0
    offset_loss_weight: float = 1.0
    # ---- optimisation -----------------------------------------------------------------------
    batch_size: int = 512
    learning_rate: float = 1e-3
    decay_rate: float = 0.9999
    min_learning_rate: float = 1e-5
    grad_clip: float = 1.0
    grad_norm_clip_to_zero: float = 10000.0
    dropout_keep_prob: float = 0.3
    # ---- training-data augmentation (models.train.augment; 0 = off, as in Magenta) --------------------
    augment_velocity_gain: float = 0.0
    augment_timing_shift: float = 0.0
    augment_hihat_ride_swap: float = 0.0
    augment_bar_shuffle: float = 0.0
    # Word dropout on the decoder's previous-step input (training only): with this probability
    # a step's y_{t-1} is replaced by zeros (the start-of-sequence input), so the decoder has to
    # read the groove from z instead of copying its own last step. 0 = off, as in Magenta.
    decoder_input_dropout: float = 0.0

    def __post_init__(self) -> None:
        if len(self.enc_rnn_size) != 1:
            raise ConfigError("enc_rnn_size must have exactly one entry (one bidirectional layer)")
        if not self.dec_rnn_size:
            raise ConfigError("dec_rnn_size needs at least one layer")
        if self.max_seq_len != STEPS_PER_BAR * self.num_bars:
            raise ConfigError(
                f"max_seq_len={self.max_seq_len} must equal 16 * num_bars={16 * self.num_bars}"
            )
        if not 0.0 < self.dropout_keep_prob <= 1.0:
            raise ConfigError("dropout_keep_prob must be in (0, 1]")
        for key in ("hits_loss_weight", "velocity_loss_weight", "offset_loss_weight"):
            if not getattr(self, key) >= 0.0:
                raise ConfigError(f"{key} must be a number >= 0")
        for key in AUGMENT_HPARAMS:
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"{key} must be in [0, 1]")
        if not 0.0 <= self.decoder_input_dropout < 1.0:
            raise ConfigError("decoder_input_dropout must be in [0, 1)")
        for k in self.add_instruments:
            if not 0 <= k < NUM_CLASSES:
                raise ConfigError(f"add_instruments: class {k} is not in 0..{NUM_CLASSES - 1}")

    # ---- derived sizes ----------------------------------------------------------------------
    @property
    def num_steps(self) -> int:
        return self.max_seq_len

    @property
    def output_depth(self) -> int:
        return 3 * NUM_CLASSES

    @property
    def control_depth(self) -> int:
        return NUM_CLASSES if self.hits_as_controls else 0

    @property
    def input_depth(self) -> int:
        """Encoder input width: the 27 groove columns plus control columns."""
        return self.output_depth + self.control_depth

    @property
    def has_transform(self) -> bool:
        return bool(
            self.max_note_dropout_probability
            or self.tapify
            or self.humanize
            or self.fixed_velocities
            or self.add_instruments
        )

    # ---- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, typing.Any]:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, typing.Any]) -> GrooVAEConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"config has unknown fields {unknown}")
        hints = typing.get_type_hints(cls)
        kw = {k: _coerce(k, v, hints[k]) for k, v in d.items()}
        return cls(**kw)


def _coerce(key: str, value: typing.Any, hint: typing.Any) -> typing.Any:
    """Check ``value`` against the field type ``hint``; lists become tuples, ints floats."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"hparam {key} needs a list like [1,2], got {value!r}")
        elem = typing.get_args(hint)[0]
        return tuple(_coerce(key, v, elem) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"hparam {key} needs true/false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"hparam {key} needs an integer, got {value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"hparam {key} needs a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"hparam {key} needs a string, got {value!r}")
    return value


def _parse_value(text: str) -> typing.Any:
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if t.startswith("[") and t.endswith("]"):
        inner = t[1:-1].strip()
        return [_parse_value(p) for p in _split_top(inner)] if inner else []
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return t.strip("'\"")


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return parts


def parse_hparams(text: str) -> dict[str, typing.Any]:
    """``"a=1,b=[2,3],c=true"`` -> {"a": 1, "b": [2, 3], "c": True}."""
    out: dict[str, typing.Any] = {}
    for part in _split_top(text or ""):
        if not part.strip():
            continue
        if "=" not in part:
            raise ConfigError(f"hparam {part.strip()!r} is not of the form key=value")
        k, v = part.split("=", 1)
        out[k.strip()] = _parse_value(v)
    return out


def apply_hparams(config: GrooVAEConfig, hparams: str | dict[str, typing.Any]) -> GrooVAEConfig:
    """A copy of ``config`` with fields overridden; raises ConfigError on a bad key/value."""
    values = parse_hparams(hparams) if isinstance(hparams, str) else dict(hparams)
    valid = sorted(f.name for f in dataclasses.fields(GrooVAEConfig) if f.name != "name")
    bad = sorted(k for k in values if k not in valid)
    if bad:
        raise ConfigError(f"unknown hparam {', '.join(bad)}; valid keys: {', '.join(valid)}")
    hints = typing.get_type_hints(GrooVAEConfig)
    kw = {k: _coerce(k, v, hints[k]) for k, v in values.items()}
    if "num_bars" in kw and "max_seq_len" not in kw:
        kw["max_seq_len"] = STEPS_PER_BAR * kw["num_bars"]
    return dataclasses.replace(config, **kw)


# ---- registry ---------------------------------------------------------------------------------
_BASE = GrooVAEConfig(
    name="groovae_4bar",
    description="4-bar GrooVAE, plain VAE of drum performances (Magenta groovae_4bar)",
)


def _two_bar(name: str, description: str, **kw: typing.Any) -> GrooVAEConfig:
    return dataclasses.replace(
        _BASE, name=name, description=description, num_bars=2, max_seq_len=32, **kw
    )


CONFIGS: dict[str, GrooVAEConfig] = {
    c.name: c
    for c in (
        _BASE,
        _two_bar("groovae_2bar_humanize", "2-bar humanize: hits in, performance out", humanize=True),
        _two_bar(
            "groovae_2bar_tap_fixed_velocity",
            "2-bar Tap2Drum: one tapped voice with timing in, drums out",
            tapify=True,
            fixed_velocities=True,
        ),
        _two_bar(
            "groovae_2bar_tap_fixed_velocity_note_dropout",
            "2-bar Tap2Drum with note dropout (p_max 0.8) before tapping",
            tapify=True,
            fixed_velocities=True,
            max_note_dropout_probability=0.8,
        ),
        _two_bar(
            "groovae_2bar_add_closed_hh",
            "2-bar infilling: closed hi-hat removed from the input",
            add_instruments=(2,),
        ),
        _two_bar(
            "groovae_2bar_hits_control",
            "2-bar groove transfer: target hits (32x9) as controls",
            hits_as_controls=True,
        ),
        dataclasses.replace(
            _BASE,
            name="groovae_4bar_tap_fixed_velocity",
            description="4-bar Drumify (Tap2Drum): every hit collapsed onto one voice with its "
            "timing kept and its velocity fixed in, the full performance out",
            tapify=True,
            fixed_velocities=True,
        ),
        dataclasses.replace(
            _BASE,
            name="groovae_4bar_humanize",
            description="4-bar humanize: quantised flat-velocity hits in, performance out",
            humanize=True,
        ),
        dataclasses.replace(
            _BASE,
            name="groovae_4bar_humanize_control",
            description="4-bar humanize with the input's hits as decoder controls: every output "
            "step knows which drums sound, so the network learns their velocity and timing",
            humanize=True,
            hits_as_controls=True,
        ),
        dataclasses.replace(
            _BASE,
            name="groovae_tiny",
            description="tiny 4-bar model for tests",
            z_size=16,
            enc_rnn_size=(32,),
            dec_rnn_size=(32, 32),
            batch_size=32,
            free_bits=0.0,
        ),
        _two_bar(
            "groovae_tiny_2bar_hits_control",
            "tiny 2-bar hits-control model for tests",
            z_size=16,
            enc_rnn_size=(32,),
            dec_rnn_size=(32, 32),
            batch_size=32,
            free_bits=0.0,
            hits_as_controls=True,
        ),
        dataclasses.replace(
            _BASE,
            name="groovae_tiny_humanize",
            description="tiny 4-bar humanize model for tests",
            z_size=16,
            enc_rnn_size=(32,),
            dec_rnn_size=(32, 32),
            batch_size=32,
            free_bits=0.0,
            humanize=True,
        ),
    )
}


def get_config(name: str) -> GrooVAEConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigError(f"unknown config {name!r}; choose one of: {', '.join(CONFIGS)}") from None
