"""Configs: registry, Magenta's exact groovae_4bar hparams, --hparams parsing and errors."""

from __future__ import annotations

import pytest

from models.net.config import (
    CONFIGS,
    ConfigError,
    GrooVAEConfig,
    apply_hparams,
    get_config,
    parse_hparams,
)


def test_groovae_4bar_has_magentas_hparams() -> None:
    c = get_config("groovae_4bar")
    assert (c.max_seq_len, c.z_size, c.enc_rnn_size, c.dec_rnn_size) == (64, 256, (512,), (256, 256))
    assert (c.free_bits, c.max_beta, c.beta_rate, c.batch_size) == (48.0, 0.2, 0.0, 512)
    assert (c.learning_rate, c.decay_rate, c.min_learning_rate) == (1e-3, 0.9999, 1e-5)
    assert (c.grad_clip, c.grad_norm_clip_to_zero, c.dropout_keep_prob) == (1.0, 10000.0, 0.3)
    assert not c.has_transform and c.input_depth == 27 and c.control_depth == 0


def test_siblings_and_transforms() -> None:
    names = {
        "groovae_2bar_humanize", "groovae_2bar_tap_fixed_velocity",
        "groovae_2bar_tap_fixed_velocity_note_dropout", "groovae_2bar_add_closed_hh",
        "groovae_2bar_hits_control", "groovae_4bar_humanize", "groovae_tiny",
    }
    assert names <= set(CONFIGS)
    for n in names - {"groovae_4bar_humanize", "groovae_tiny"}:
        assert get_config(n).max_seq_len == 32
    assert get_config("groovae_2bar_hits_control").input_depth == 36
    assert get_config("groovae_2bar_tap_fixed_velocity_note_dropout").max_note_dropout_probability == 0.8
    assert get_config("groovae_2bar_add_closed_hh").add_instruments == (2,)
    assert get_config("groovae_4bar_humanize").humanize and get_config("groovae_4bar_humanize").num_bars == 4
    ctl = get_config("groovae_4bar_humanize_control")
    assert ctl.humanize and ctl.hits_as_controls and ctl.num_bars == 4 and ctl.input_depth == 36


def test_apply_hparams_types_and_lists() -> None:
    c = apply_hparams(get_config("groovae_4bar"), "batch_size=64,dec_rnn_size=[32,16],free_bits=0,humanize=true")
    assert c.batch_size == 64 and c.dec_rnn_size == (32, 16) and c.free_bits == 0.0 and c.humanize
    assert isinstance(c.free_bits, float)
    assert apply_hparams(c, "num_bars=2").max_seq_len == 32
    assert parse_hparams("a=[1, 2],b=x") == {"a": [1, 2], "b": "x"}


def test_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(ConfigError) as e:
        apply_hparams(get_config("groovae_4bar"), "batch_sise=3")
    msg = str(e.value)
    assert "batch_sise" in msg and "batch_size" in msg and "\n" not in msg


@pytest.mark.parametrize("bad", ["batch_size=1.5", "humanize=3", "dec_rnn_size=7", "z_size", "max_seq_len=10"])
def test_bad_values_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        apply_hparams(get_config("groovae_4bar"), bad)


def test_unknown_config_and_roundtrip() -> None:
    with pytest.raises(ConfigError, match="groovae_4bar"):
        get_config("groovae_5bar")
    for c in CONFIGS.values():
        assert GrooVAEConfig.from_dict(c.to_dict()) == c
