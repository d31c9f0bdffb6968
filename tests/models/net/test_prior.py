"""The fitted sampling prior and the musical attribute controls (models.net.prior, prior_fit, attributes)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from groovebridge.cli import main as cli
from models.data.io import load_windows
from models.drum_maps import CLASS_NAMES
from models.generate import PRETRAINED_DIR, load_model
from models.net.attributes import (
    ATTRIBUTE_NAMES,
    AttributeValueError,
    attribute_values,
    check_attributes,
    parse_attributes,
)
from models.net.prior import (
    PRIOR_FILE,
    PRIOR_JSON,
    LatentPrior,
    PriorError,
    fit_mixture,
    load_prior,
    weights_fingerprint,
)
from models.train.prior_fit import (
    class_shares,
    copy_share,
    hit_grid_keys,
    measure_attributes,
    nearest_train_f1,
)
from tests.models.vae_helpers import make_small_gmd_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")
DEFAULT = PRETRAINED_DIR / "default"


@pytest.fixture(scope="module")
def default_model():
    model = load_model("default")
    assert model.prior is not None, "the shipped default must ship its fitted prior"
    return model


# ---- exact units -----------------------------------------------------------------------------------
def test_em_recovers_two_separated_gaussians() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal([-5.0, 0.0, 2.0], [0.5, 1.0, 0.2], size=(3000, 3))
    b = rng.normal([5.0, 1.0, -2.0], [1.0, 0.3, 0.4], size=(1000, 3))
    w, mu, var, _ = fit_mixture(np.concatenate([a, b]), 2, seed=1)
    order = np.argsort(mu[:, 0])
    np.testing.assert_allclose(w[order], [0.75, 0.25], atol=0.01)
    np.testing.assert_allclose(mu[order], [[-5, 0, 2], [5, 1, -2]], atol=0.1)
    np.testing.assert_allclose(np.sqrt(var[order]), [[0.5, 1.0, 0.2], [1.0, 0.3, 0.4]], rtol=0.08)


def test_temperature_scales_the_spread_around_the_components() -> None:
    prior = LatentPrior(np.array([0.5, 0.5]), np.array([[0.0, 0.0], [100.0, 100.0]]), np.ones((2, 2)) * 4.0)
    z0 = prior.sample(500, 0.0, np.random.default_rng(1))
    assert {tuple(r) for r in z0.tolist()} == {(0.0, 0.0), (100.0, 100.0)}  # T=0: the component means
    z1 = prior.sample(4000, 1.0, np.random.default_rng(1))
    z2 = prior.sample(4000, 2.0, np.random.default_rng(1))
    near = z1[z1[:, 0] < 50]
    assert near.std(axis=0) == pytest.approx([2.0, 2.0], rel=0.1)
    assert z2[z2[:, 0] < 50].std(axis=0) == pytest.approx([4.0, 4.0], rel=0.1)


def test_attribute_values_on_hand_made_windows() -> None:
    t = np.zeros((2, 64, 27), np.float32)
    hh, ride, tom = CLASS_NAMES.index("closed_hihat"), CLASS_NAMES.index("ride"), CLASS_NAMES.index("low_tom")
    for s in range(0, 64, 2):
        t[0, s, hh], t[0, s, 9 + hh] = 1, 0.5
        t[1, s, ride], t[1, s, 9 + ride] = 1, 1.0
    for s in range(1, 64, 2):  # window 1: every off 16th on a tom, played a quarter-step late
        t[1, s, tom], t[1, s, 9 + tom], t[1, s, 18 + tom] = 1, 1.0, -0.5
    v = dict(zip(ATTRIBUTE_NAMES, attribute_values(t).T, strict=True))
    np.testing.assert_allclose(v["density"], [8, 16])
    np.testing.assert_allclose(v["intensity"], [0.5, 1.0])
    np.testing.assert_allclose(v["syncopation"], [0.0, 0.5])
    np.testing.assert_allclose(v["hihat_ride"], [-1.0, 1.0])
    np.testing.assert_allclose(v["fills"], [0.0, 0.5])
    np.testing.assert_allclose(v["swing"], [0.0, 0.5])  # off 16ths later than the on ones
    np.testing.assert_allclose(v["laid_back"], [0.0, 0.25])


def test_attribute_input_is_checked_in_one_line() -> None:
    assert parse_attributes("density=1, intensity=-0.5") == {"density": 1.0, "intensity": -0.5}
    for bad, needle in [("bogus=1", "unknown attribute 'bogus'"), ("density=2.5", "outside -2..2"),
                        ("density", "name=value"), ("density=loud", "not a number")]:
        with pytest.raises(AttributeValueError, match=needle) as e:
            parse_attributes(bad)
        assert "\n" not in str(e.value)
    with pytest.raises(AttributeValueError):
        check_attributes({"swing": float("nan")})


def test_copies_and_nearest_f1_measure_what_they_say() -> None:
    rng = np.random.default_rng(0)
    train = (rng.random((50, 64, 27)) > 0.8).astype(np.float32)
    fresh = (rng.random((10, 64, 27)) > 0.8).astype(np.float32)
    gen = np.concatenate([train[:3], fresh])
    assert copy_share(gen, hit_grid_keys(train)) == pytest.approx(3 / 13)
    f1 = nearest_train_f1(gen, train)
    np.testing.assert_allclose(f1[:3], 1.0)
    assert (f1[3:] < 0.5).all()


# ---- files -----------------------------------------------------------------------------------------
def test_prior_round_trip_and_refusal_for_other_weights(tmp_path: Path) -> None:
    ckpt = tmp_path / "model"
    shutil.copytree(DEFAULT, ckpt)
    prior = load_prior(ckpt, weights_fingerprint(ckpt))
    again = load_prior(ckpt)
    for name in ("weights", "means", "variances", "directions", "hit_bias", "attribute_stds"):
        np.testing.assert_array_equal(getattr(prior, name), getattr(again, name))
    data = bytearray((ckpt / "model.safetensors").read_bytes())
    data[-1] ^= 1  # other weights
    (ckpt / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(PriorError, match="fitted for other weights"):
        load_prior(ckpt, weights_fingerprint(ckpt))


def test_damaged_or_stale_prior_falls_back_to_normal_with_a_log_line(tmp_path: Path, caplog) -> None:
    ckpt = tmp_path / "model"
    shutil.copytree(DEFAULT, ckpt)
    (ckpt / PRIOR_FILE).write_bytes(b"\x00" * 40)
    with caplog.at_level(logging.WARNING):
        model = load_model(ckpt)
    assert model.prior is None
    assert any("sampling from N(0, I)" in r.getMessage() for r in caplog.records)
    assert len(model.sample(2, 1.0, seed=1)) == 2  # the user did not ask for the prior: it still samples
    with pytest.raises(PriorError, match="no fitted prior"):
        model.sample(1, prior="fitted")  # ...but asking for it explicitly is an error
    (ckpt / PRIOR_FILE).unlink()
    (ckpt / PRIOR_JSON).write_text("{not json", encoding="utf-8")
    with pytest.raises(PriorError):
        load_prior(ckpt)


# ---- the shipped model -------------------------------------------------------------------------------
def test_seeded_sampling_is_reproducible_and_the_prior_is_used(default_model) -> None:
    a = default_model.sample(4, 1.0, seed=11)
    b = default_model.sample(4, 1.0, seed=11)
    n = default_model.sample(4, 1.0, seed=11, prior="normal")
    assert all(x.allclose(y) for x, y in zip(a, b, strict=True))
    assert not all(x.allclose(y) for x, y in zip(a, n, strict=True))
    z = default_model.prior_latents(200, 1.0, np.random.default_rng(0))
    zn = default_model.prior_latents(200, 1.0, np.random.default_rng(0), prior="normal")
    assert np.linalg.norm(z, axis=1).mean() < 8 < np.linalg.norm(zn, axis=1).mean()  # near the data


def test_fitted_prior_restores_the_class_balance(default_model, gmd_gbds: Path) -> None:
    train = load_windows(gmd_gbds, "train", 4).tensors
    want = class_shares(train)
    got = {p: class_shares(np.stack([g.to_tensor() for g in default_model.sample(400, 1.0, seed=5, prior=p)]))
           for p in ("fitted", "normal")}
    for cls in ("kick", "snare", "closed_hihat", "ride"):
        assert got["fitted"][cls] / want[cls] == pytest.approx(1.0, abs=0.2), cls
    # N(0, I) under-plays the closed hi-hat by about a third: the reason for the prior
    assert abs(got["normal"]["closed_hihat"] / want["closed_hihat"] - 1) > 0.2
    gen = np.stack([g.to_tensor() for g in default_model.sample(400, 1.0, seed=6)])
    assert copy_share(gen, hit_grid_keys(train)) <= 0.05


def test_every_control_moves_its_attribute_monotonically(default_model) -> None:
    table = measure_attributes(default_model, default_model.prior, seed=0, num_samples=60)
    for name, row in table.items():
        assert row["monotonic"], (name, row["own_change"])
        assert row["slope"] > 0.15 and row["slope"] > row["max_other_slope"], (name, row)


def test_shift_moves_a_groove_and_zero_is_its_reconstruction(default_model) -> None:
    g = default_model.sample(1, 1.0, seed=2)[0]
    rec = default_model.reconstruct(g, temperature=0.0)
    assert default_model.shift(g, {}, temperature=0.0).allclose(rec)
    busy = default_model.shift(g, {"density": 2}).num_hits
    sparse = default_model.shift(g, {"density": -2}).num_hits
    assert busy > rec.num_hits > sparse


def test_humanize_model_has_no_directions_and_says_so() -> None:
    model = load_model("humanize")
    with pytest.raises(AttributeValueError, match="fit-prior"):
        model.shift(model.sample(1, controls=[load_model("default").sample(1, seed=1)[0]])[0], {"density": 1})


# ---- the command line ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_fit_prior_cli_end_to_end(gmd_dir: Path, tmp_path: Path, capsys) -> None:
    data = make_small_gmd_dataset(gmd_dir, tmp_path / "gmd")
    ckpt = tmp_path / "mine"
    shutil.copytree(DEFAULT, ckpt)
    for f in (PRIOR_FILE, PRIOR_JSON):
        (ckpt / f).unlink()
    assert load_model(ckpt).prior is None
    assert cli(["fit-prior", "--checkpoint_file", str(ckpt), "--examples_path", str(data), "--components", "4,8"]) == 0
    out = capsys.readouterr().out
    assert "4 components" in out and "8 components" in out and "wrote" in out
    model = load_model(ckpt)
    assert model.prior is not None and model.prior.num_components in (4, 8)
    assert model.prior.directions is not None and model.prior.hit_bias is not None
    assert len(model.sample(3, 1.0, seed=1, prior="fitted", attributes={"density": 1})) == 3
    for bad, needle in [(["--components", "x"], "--components"), (["--examples_path", str(tmp_path / "no.gbds")], "no.gbds")]:
        args = ["fit-prior", "--checkpoint_file", str(ckpt), "--examples_path", str(data), *bad]
        assert cli(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("groovebridge fit-prior: ") and needle in err and "\n" not in err


def test_generate_cli_prior_attributes_and_errors(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    args = ["generate", "--num_outputs", "2", "--seed", "1", "--output_dir", str(out), "--attributes", "density=1"]
    assert cli(args) == 0
    made = sorted(out.glob("*.mid"))
    assert len(made) == 2
    for bad, needle in [(["--attributes", "bogus=1"], "unknown attribute"),
                        (["--model", "humanize", "--prior", "fitted", "--input_midi_1", str(made[0])], "no fitted prior"),
                        (["--mode", "interpolate", "--attributes", "density=1"], "--attributes applies")]:
        assert cli(["generate", "--output_dir", str(out), *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("groovebridge generate: ") and needle in err and "\n" not in err


def test_prior_fit_log_numbers_are_rounded() -> None:
    """The fit's log lines (shown in the app's Train tab and by fit-prior) printed float32's
    decimals: 'hit-logit bias [0.9100000262260437, -1.100000023841858, ...]' (trial 23)."""
    from models.train.prior_fit import _rounded

    assert _rounded(np.array([0.91, -1.1, 2.0], dtype=np.float32)) == "[0.91, -1.10, 2.00]"
