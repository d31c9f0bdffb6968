"""Generation: fast decoder == straightforward nn.LSTMCell loop, seeded sampling, temperature
0, slerp endpoints, humanize behaviour, load_model errors and the generate CLI."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from models import generate as gen
from models.cli.generate import main as generate_main
from models.generate import GrooveModel, load_model
from models.groove import Groove
from models.latent import slerp_path
from models.midi.files import read_midi
from models.net.config import get_config
from models.net.fast_decode import GIVEN_HIT, FastGrooVAE, hit_thresholds, reference_decode
from models.net.transforms import encoder_inputs
from models.net.vae import GrooVAE
from models.train.checkpoint import CheckpointError, save_checkpoint
from tests.models.vae_helpers import random_groove

torch.set_num_threads(1)


def _model(name: str = "groovae_tiny", seed: int = 0, noise: float = 0.3) -> GrooVAE:
    torch.manual_seed(seed)
    m = GrooVAE(get_config(name)).eval()
    with torch.no_grad():  # random, non-trivial weights (fresh init decodes almost nothing)
        for p in m.parameters():
            p.add_(torch.randn_like(p) * noise)
    return m


@pytest.mark.parametrize("name, batch", [("groovae_4bar", 1), ("groovae_4bar", 3), ("groovae_tiny", 16),
                                         ("groovae_tiny_2bar_hits_control", 4)])
@pytest.mark.parametrize("temperature", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("native", [True, False])
def test_fast_decode_equals_lstmcell_loop(name: str, batch: int, temperature: float, native: bool) -> None:
    """TorchScript path and the native kernel with fp32 weights: only the summation order
    differs from nn.LSTMCell (~1e-6), so hits are equal and the rest within 1e-4. The fp16
    weight storage is checked in tests/models/net/test_fast_kernel.py."""
    m = _model(name, noise=0.05 if name == "groovae_4bar" else 0.3)
    cfg = m.config
    g = torch.Generator().manual_seed(1)
    z = torch.randn(batch, cfg.z_size, generator=g)
    u = torch.rand(cfg.num_steps, batch, 9, generator=g)
    c = (torch.rand(batch, cfg.num_steps, 9, generator=g) < 0.3).float() if cfg.hits_as_controls else None
    fast_model = FastGrooVAE(m, use_native=native, native_weights="fp32")
    if native and fast_model.native is None:
        pytest.skip("no C compiler: the native kernel is not available")
    if native:
        fast_model_native = fast_model.native
        assert fast_model_native is not None
        # 2 threads exercise the threaded kernel (threads split the hidden-unit blocks)
        fast = fast_model_native.decode(z, hit_thresholds(u, temperature), c, 2)
        if batch == 1:  # FastGrooVAE.decode's own native branch (1 thread here): same sums
            assert torch.allclose(fast_model.decode(z, hit_thresholds(u, temperature), c), fast, atol=1e-6)
    else:
        fast = fast_model.decode(z, hit_thresholds(u, temperature), c)
    ref = reference_decode(m, z, temperature, u, c)
    assert fast.shape == (batch, cfg.num_steps, 27)
    assert torch.equal(fast[..., :9], ref[..., :9]) and 0 < float(ref[..., :9].sum()) < ref[..., :9].numel()
    assert torch.allclose(fast, ref, atol=1e-4)


@pytest.mark.parametrize("name", ["groovae_4bar", "groovae_tiny_2bar_hits_control"])
@pytest.mark.parametrize("native", [True, False])
def test_fast_encode_equals_encoder(name: str, native: bool) -> None:
    m = _model(name, noise=0.05)
    x, _ = encoder_inputs(m.config, torch.rand(2, m.config.num_steps, 27))
    fm = FastGrooVAE(m, use_native=native, native_weights="fp32")
    if native and fm.native_encoder is None:
        pytest.skip("no C compiler: the native kernel is not available")
    mu, sigma = fm.encode(x)
    with torch.no_grad():
        mu2, sigma2 = m.encoder(x)
    assert torch.allclose(mu, mu2, atol=1e-5) and torch.allclose(sigma, sigma2, atol=1e-5)


def test_sampling_is_reproducible_and_temperature_zero_is_deterministic() -> None:
    gm = GrooveModel(_model())
    a = gm.sample(3, temperature=1.0, seed=42, bpm=97)
    b = gm.sample(3, temperature=1.0, seed=42, bpm=97)
    c = gm.sample(3, temperature=1.0, seed=43, bpm=97)
    assert all(x.allclose(y) for x, y in zip(a, b, strict=True)) and a[0].bpm == 97
    assert not all(x.allclose(y) for x, y in zip(a, c, strict=True))
    z = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)
    t0 = [gm.decode(z, temperature=0.0, seed=s) for s in (1, 2, 3)]
    assert all(x.allclose(y) for r in t0[1:] for x, y in zip(t0[0], r, strict=True))
    t1 = [gm.decode(z, temperature=1.0, seed=s) for s in (1, 2)]
    assert not all(x.allclose(y) for x, y in zip(t1[0], t1[1], strict=True))
    assert a[0].num_steps == 64 and a[0].num_hits > 0


def test_slerp_endpoints_equal_the_encodings() -> None:
    gm = GrooveModel(_model())
    ga, gb = random_groove(1), random_groove(2)
    za, zb = gm.encode([ga, gb])
    path = slerp_path(za, zb, 5)
    assert np.array_equal(path[0], za) and np.array_equal(path[-1], zb)
    na, nb = np.linalg.norm(za), np.linalg.norm(zb)
    assert np.all(np.linalg.norm(path, axis=1) >= min(na, nb) * 0.7)  # stays on the arc, not the chord
    outs = gm.interpolate(ga, gb, 5, temperature=0.0)
    assert len(outs) == 5 and outs[0].bpm == ga.bpm
    ends = gm.decode(np.stack([za, zb]), temperature=0.0)
    assert outs[0].allclose(ends[0]) and outs[-1].allclose(ends[1])
    lerp = slerp_path(za, 2 * za, 3)  # parallel: falls back to lerp
    assert np.allclose(lerp[1], 1.5 * za)


def test_humanize_uses_quantised_flat_input() -> None:
    g = random_groove(5)
    flat = g.with_changes(velocities=np.zeros_like(g.velocities), offsets=np.zeros_like(g.offsets))
    for name in ("groovae_tiny", "groovae_tiny_humanize"):
        gm = GrooveModel(_model(name))
        a, b = gm.humanize(g, temperature=0.0), gm.humanize(flat, temperature=0.0)
        assert a.allclose(b) and a.bpm == g.bpm and a.num_steps == 64
    hm = GrooveModel(_model("groovae_tiny_humanize"))
    assert np.allclose(hm.encode(g), hm.encode(flat))  # the config's transform is applied
    long = hm.humanize(random_groove(6, num_steps=128), temperature=0.0)
    assert long.num_steps == 128
    with pytest.raises(ValueError, match="multiple"):
        hm.humanize(random_groove(6, num_steps=48))


def test_load_model_paths_and_clear_errors(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(gen, "PRETRAINED_DIR", tmp_path / "pretrained")
    with pytest.raises(CheckpointError, match="not installed"):
        load_model("default")
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "missing")
    m = _model()
    save_checkpoint(tmp_path / "pretrained" / "default", m, m.config, 10)
    gm = load_model()
    assert gm.name == "default" and gm.num_steps == 64 and gm.config == m.config
    z = np.zeros((1, 16), np.float32)
    assert gm.decode(z, 0.0)[0].allclose(GrooveModel(m).decode(z, 0.0)[0])


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    m = _model()
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "ckpt-00000010", m, m.config, 10)


def test_generate_cli_sample_names_and_files(ckpt_dir: Path, tmp_path: Path, capsys) -> None:
    rc = generate_main(["--checkpoint_file", str(ckpt_dir), "--output_dir", str(tmp_path), "--num_outputs", "3",
                        "--seed", "7", "--bpm", "100"])
    assert rc == 0
    files = sorted(tmp_path.glob("*.mid"))
    assert len(files) == 3
    assert re.fullmatch(r"groovae_tiny_sample_\d{4}-\d\d-\d\d_\d{6}-000-of-003\.mid", files[0].name)
    read = read_midi(files[0], "gm")
    assert read.bpm == pytest.approx(100) and read.groove.num_hits > 0


def test_generate_cli_interpolate_gmd_windows(ckpt_dir: Path, gmd_dir: Path, tmp_path: Path, capsys) -> None:
    mids = sorted(gmd_dir.glob("drummer1/session1/*beat_4-4.mid"))[:2]
    rc = generate_main(["--checkpoint_file", str(ckpt_dir), "--output_dir", str(tmp_path), "--mode", "interpolate",
                        "--input_midi_1", str(mids[0]), "--input_midi_2", str(mids[1]), "--num_outputs", "4",
                        "--input_window", "1"])
    assert rc == 0, capsys.readouterr().err
    assert len(list(tmp_path.glob("groovae_tiny_interpolate_*-of-004.mid"))) == 4
    assert "windows of 4 bars; using window 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--config", "groovae_4bar"], "trained with config groovae_tiny"),
        (["--config", "groovae_9bar"], "unknown config"),
        (["--hparams", "zz=1"], "unknown hparam"),
        (["--mode", "humanize", "--input_midi_1", "/no/such.mid"], "not found"),
        (["--mode", "interpolate"], "--input_midi_1 is required"),
        (["--mode", "reconstruct", "--input_midi_1", "SHORT"], "bar"),
        (["--mode", "reconstruct", "--input_midi_1", "GMD", "--input_window", "999"], "out of range"),
    ],
)
def test_generate_cli_bad_inputs_one_line(ckpt_dir: Path, gmd_dir: Path, tmp_path: Path, capsys, argv, needle) -> None:
    short = random_groove(1, num_steps=32)
    from models.midi.files import write_midi

    write_midi(short, tmp_path / "short.mid")
    gmd = next(iter(sorted(gmd_dir.glob("drummer1/session1/*beat_4-4.mid"))))
    argv = [str(tmp_path / "short.mid") if a == "SHORT" else str(gmd) if a == "GMD" else a for a in argv]
    rc = generate_main(["--checkpoint_file", str(ckpt_dir), "--output_dir", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and needle in err and len(err.splitlines()) == 1, err


def test_generate_cli_missing_checkpoint(tmp_path: Path, capsys) -> None:
    rc = generate_main(["--run_dir", str(tmp_path / "nothing")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "not found" in err and len(err.splitlines()) == 1


def test_native_kernel_can_be_disabled(monkeypatch) -> None:
    from models.net import fast_kernel
    monkeypatch.setattr(fast_kernel, "_tried", False)
    monkeypatch.setattr(fast_kernel, "_loaded", None)
    monkeypatch.setenv("GROOVEBRIDGE_NATIVE", "0")
    m = _model()
    fm = FastGrooVAE(m)
    assert fm.native is None and not fm.native_for_single
    z = torch.randn(1, 16)
    u = torch.rand(64, 1, 9)
    assert torch.allclose(fm.decode(z, hit_thresholds(u, 0.5)), reference_decode(m, z, 0.5, u), atol=1e-4)


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("name, batch", [("groovae_4bar", 1), ("groovae_tiny", 5)])
def test_conditional_outputs_equal_the_reference_and_keep_the_hits(name: str, batch: int, native: bool) -> None:
    """Given-a-hit velocities/offsets: every decoder path writes the reference's values, the hits
    (and so the fed-back sequence) are those of the raw decode, and a hit never gets softer."""
    m = _model(name, noise=0.05 if name == "groovae_4bar" else 0.3)
    g = torch.Generator().manual_seed(2)
    z = torch.randn(batch, m.config.z_size, generator=g)
    u = torch.rand(m.config.num_steps, batch, 9, generator=g)
    fast_model = FastGrooVAE(m, use_native=native, native_weights="fp32")
    if native and fast_model.native is None:
        pytest.skip("no C compiler: the native kernel is not available")
    th = hit_thresholds(u, 0.5)
    if native:
        assert fast_model.native is not None
        cond = fast_model.native.decode(z, th, None, 1, GIVEN_HIT)
        raw = fast_model.native.decode(z, th, None, 1)
    else:
        cond, raw = fast_model.decode(z, th, floors=GIVEN_HIT), fast_model.decode(z, th)
    ref = reference_decode(m, z, 0.5, u, floors=GIVEN_HIT)
    assert torch.equal(cond[..., :9], raw[..., :9]) and torch.equal(cond[..., :9], ref[..., :9])
    assert torch.allclose(cond, ref, atol=1e-4)
    hit = cond[..., :9] > 0.5
    assert int(hit.sum()) > 0
    v_cond, v_raw = cond[..., 9:18][hit], raw[..., 9:18][hit]
    assert bool((v_cond >= v_raw - 1e-6).all()) and bool((v_cond > v_raw + 1e-3).any())
    assert bool((cond[..., 9:18] <= 1.0).all()) and bool((cond[..., 18:].abs() <= 1.0).all())


def test_groove_model_decodes_conditionally_unless_raw_outputs() -> None:
    m = _model("groovae_tiny")
    z = np.random.default_rng(3).standard_normal((4, m.config.z_size)).astype(np.float32)
    cond = GrooveModel(m).decode(z, 0.5, seed=1)
    raw = GrooveModel(m, raw_outputs=True).decode(z, 0.5, seed=1)
    assert [g.hits.tolist() for g in cond] == [g.hits.tolist() for g in raw]
    hits = np.stack([g.hits for g in cond]) > 0.5
    vc, vr = np.stack([g.velocities for g in cond])[hits], np.stack([g.velocities for g in raw])[hits]
    assert hits.any() and (vc >= vr - 1e-6).all() and (vc > vr + 1e-3).any()


def test_humanize_keeps_the_input_hits_and_plays_them() -> None:
    """keep_hits (the default): exactly the input's hits, with the model's velocities; the
    forced hit decisions are what the decoder is fed back, in the native and TorchScript paths."""
    m = _model("groovae_tiny_humanize")
    rng = np.random.default_rng(4)
    hits = (rng.random((m.config.num_steps * 2, 9)) < 0.25).astype(np.float32)
    flat = Groove(hits, hits * 0.6, np.zeros_like(hits), 96.0)
    for native in (True, False):
        model = GrooveModel(m)
        model.fast.native_for_single = native and model.fast.native is not None
        out = model.humanize(flat, seed=1)
        assert np.array_equal(out.hits > 0.5, hits > 0.5) and out.bpm == 96.0
        played = out.velocities[hits > 0.5]
        assert played.std() > 0.01 and not np.allclose(played, 0.6)
    free = GrooveModel(m).humanize(flat, seed=1, keep_hits=False)
    assert not np.array_equal(free.hits > 0.5, hits > 0.5)  # a random tiny model changes hits
