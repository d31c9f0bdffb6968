"""Importing Magenta GrooVAE weights: parity with TensorFlow, config inference, bad input.

How the fixtures were made (tests/fixtures/magenta/README.md has the details): in a throwaway
venv with tensorflow-cpu 2.21, scripts/make_magenta_fixtures.py built Magenta's GrooVAE
variables (exact names, small sizes: encoder 16, decoder [16, 16], z 8; 64 steps, and a
32-step hits-control variant) with random weights, ran one Adam step (so Adam slots, beta
powers and global_step are in the file), saved them with tf.compat.v1.train.Saver, and
computed reference outputs with tf.raw_ops.LSTMBlockCell (forget_bias 1.0, cell_clip -1,
no peepholes): encoder mu and sigma for a fixed input batch, and teacher-forced decoder
logits for every step with z = mu. The same weights were written as a magenta.js folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from models.cli.magenta_import import main as cli_main
from models.magenta.importer import (
    MagentaImportError,
    check_shapes,
    expected_shapes,
    import_magenta,
)
from models.magenta.js import read_magenta_js
from models.net.config import get_config
from models.train.checkpoint import load_checkpoint

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "magenta"
TOLERANCE = 1e-5  # max relative error vs TensorFlow

torch.set_num_threads(1)


def rel_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """max |ours - ref| / max |ref| over the tensor."""
    return float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))


def torch_outputs(ckpt_dir: Path, ref: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    model, config, _ = load_checkpoint(ckpt_dir, "cpu")
    target = torch.from_numpy(ref["target"])
    controls = torch.from_numpy(ref["controls"]) if "controls" in ref else None
    with torch.no_grad():
        mu, sigma, used_controls = model.encode(target)  # the config's own input path
        if controls is not None:
            assert torch.equal(used_controls, controls)
        logits = model.decoder(target, torch.from_numpy(ref["mu"]), controls)
    return {
        "mu": mu.numpy(),
        "sigma": sigma.numpy(),
        "logits": logits.numpy(),
        "hit_probs": torch.sigmoid(logits[..., :9]).numpy(),
        "velocities": torch.sigmoid(logits[..., 9:18]).numpy(),
        "offsets": torch.tanh(logits[..., 18:]).numpy(),
    }


def make_tar(src_dir: Path, tar_path: Path, arcdir: str) -> Path:
    with tarfile.open(tar_path, "w") as tar:
        for f in sorted(src_dir.iterdir()):
            tar.add(f, arcname=f"{arcdir}/{f.name}")
    return tar_path


def write_js(folder: Path, tensors: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    names = list(tensors)
    (folder / "group1-shard1of1").write_bytes(
        b"".join(np.asarray(tensors[n], "<f4").tobytes() for n in names)
    )
    manifest = [
        {
            "paths": ["group1-shard1of1"],
            "weights": [
                {"name": n, "shape": list(np.shape(tensors[n])), "dtype": "float32"} for n in names
            ],
        }
    ]
    (folder / "weights_manifest.json").write_text(json.dumps(manifest))
    return folder


# ---------------------------------------------------------------- parity with TensorFlow

PARITY_CASES = {
    "tf_folder": (lambda tmp: FIXTURES / "small_4bar", "small_4bar"),
    "tf_index": (lambda tmp: FIXTURES / "small_4bar" / "model.ckpt-1234.index", "small_4bar"),
    "tf_tar": (
        lambda tmp: make_tar(FIXTURES / "small_4bar", tmp / "small_4bar.tar", "small_4bar"),
        "small_4bar",
    ),
    "magenta_js": (lambda tmp: FIXTURES / "small_4bar_js", "small_4bar"),
    "tf_hits_control": (
        lambda tmp: FIXTURES / "small_2bar_hits_control" / "model.ckpt-77",
        "small_2bar_hits_control",
    ),
}


@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_parity_with_tensorflow(case: str, tmp_path: Path) -> None:
    make_source, ref_name = PARITY_CASES[case]
    ref = load_file(str(FIXTURES / f"{ref_name}_reference.safetensors"))
    result = import_magenta(make_source(tmp_path), tmp_path / "out")
    ours = torch_outputs(result.output, ref)
    errors = {k: rel_error(v, ref[k]) for k, v in ours.items()}
    print(f"{case}: max relative error vs TensorFlow {max(errors.values()):.2e} {errors}")
    assert max(errors.values()) < TOLERANCE, errors
    # the comparison is sharp: a wrong gate order is far off
    assert np.abs(ref["logits"]).max() > 1.0 and np.std(ref["mu"]) > 0.1


def test_parity_fails_for_a_wrong_gate_order(tmp_path: Path) -> None:
    """Guard that the reference can tell mappings apart: swap i/f in one layer -> big error."""
    ref = load_file(str(FIXTURES / "small_4bar_reference.safetensors"))
    out = import_magenta(FIXTURES / "small_4bar", tmp_path / "out").output
    model, _, _ = load_checkpoint(out, "cpu")
    w = model.encoder.fw.weight_ih_l0.data
    w[:16], w[16:32] = w[16:32].clone(), w[:16].clone()
    with torch.no_grad():
        mu, _ = model.encoder(torch.from_numpy(ref["target"]))
    assert rel_error(mu.numpy(), ref["mu"]) > 1e-2


def test_imported_checkpoint_metadata(tmp_path: Path) -> None:
    result = import_magenta(FIXTURES / "small_4bar", tmp_path / "out")
    assert result.kind == "tf" and result.step == 1234
    assert "4 bars from the name 'small_4bar'" in result.note
    _, config, meta = load_checkpoint(result.output, "cpu")
    assert config.num_steps == 64 and config.z_size == 8 and config.dec_rnn_size == (16, 16)
    assert meta["step"] == 1234 and meta["source_format"] == "tf"
    assert sorted(p.name for p in result.output.iterdir()) == [
        "config.json",
        "model.safetensors",
        "state.json",
    ]


def test_hits_control_inferred_from_shapes(tmp_path: Path) -> None:
    result = import_magenta(FIXTURES / "small_2bar_hits_control", tmp_path / "out")
    assert result.config.hits_as_controls and result.config.num_bars == 2


def test_magenta_js_num_steps_decides_bars(tmp_path: Path) -> None:
    src = tmp_path / "groovae_2bar_whatever"
    shutil.copytree(FIXTURES / "small_4bar_js", src)
    result = import_magenta(src, tmp_path / "out")
    assert result.config.num_bars == 4 and "numSteps 64" in result.note


def test_full_size_groovae_4bar_end_to_end(tmp_path: Path) -> None:
    """Real full-size index + its all-zero data shard recreated sparsely: the whole path."""
    info = json.loads((FIXTURES / "groovae_4bar_full" / "data_info.json").read_text())
    src = tmp_path / "groovae_4bar"
    src.mkdir()
    shutil.copy(FIXTURES / "groovae_4bar_full" / "model.ckpt-0.index", src)
    with open(src / info["data_file"], "wb") as f:
        f.truncate(info["data_bytes"])
    result = import_magenta(
        make_tar(src, tmp_path / "groovae_4bar.tar", "groovae_4bar"), tmp_path / "out"
    )
    assert result.config == get_config("groovae_4bar")
    assert "inferred" in result.note and "enc 512, dec [256, 256], z 256" in result.note
    model, _, _ = load_checkpoint(result.output, "cpu")
    assert sum(p.numel() for p in model.parameters()) == 4_085_019 + 4 * (
        2 * 512 + 2 * 256
    )  # + bias_hh
    b = model.decoder.layers[1].bias_ih_l0
    assert torch.equal(b[256:512], torch.ones(256)) and not b[:256].any()  # forget bias folded


# ---------------------------------------------------------------- strict checks


def _small_tensors() -> dict[str, np.ndarray]:
    return read_magenta_js(FIXTURES / "small_4bar_js")


def test_missing_variable_is_named(tmp_path: Path) -> None:
    t = _small_tensors()
    del t["decoder/output_projection/bias"]
    with pytest.raises(MagentaImportError, match="missing variable decoder/output_projection/bias"):
        import_magenta(write_js(tmp_path / "src", t), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unexpected_variables_are_named_but_optimizer_state_is_ignored(tmp_path: Path) -> None:
    t = _small_tensors()
    t["encoder/mu/kernel/Adam"] = np.zeros((32, 8), np.float32)
    t["beta2_power"] = np.zeros((), np.float32)
    import_magenta(write_js(tmp_path / "ok", t), tmp_path / "out_ok")  # silently ignored
    t["decoder/extra_layer/kernel"] = np.zeros((3, 3), np.float32)
    t["encoder/extra_scale"] = np.zeros((1,), np.float32)
    with pytest.raises(
        MagentaImportError,
        match="unexpected variables: decoder/extra_layer/kernel, encoder/extra_scale",
    ):
        import_magenta(write_js(tmp_path / "bad", t), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    import_magenta(tmp_path / "bad", tmp_path / "out2", allow_unexpected=True)


def test_shapes_of_another_model(tmp_path: Path) -> None:
    with pytest.raises(
        MagentaImportError,
        match=r"encoder/cell_0/.*/fw/.*kernel has shape \[43, 64\] but groovae_4bar expects \[539, 2048\]",
    ):
        import_magenta(FIXTURES / "small_4bar", tmp_path / "out", config_name="groovae_4bar")
    t = _small_tensors()
    t["encoder/cell_0/bidirectional_rnn/fw/multi_rnn_cell/cell_0/lstm_cell/kernel"] = np.zeros(
        (60, 64), np.float32
    )
    with pytest.raises(MagentaImportError, match="input depth 44 is neither 27 nor 36"):
        import_magenta(write_js(tmp_path / "x", t), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_check_shapes_on_full_size_names() -> None:
    config = get_config("groovae_2bar_hits_control")
    shapes = expected_shapes(config)
    assert shapes["decoder/multi_rnn_cell/cell_0/lstm_cell/kernel"] == (548, 1024)
    check_shapes(shapes, config)
    check_shapes(expected_shapes(get_config("groovae_2bar_humanize")), get_config("groovae_4bar"))


def test_unknown_config_name(tmp_path: Path) -> None:
    with pytest.raises(MagentaImportError, match="unknown config 'nope'"):
        import_magenta(FIXTURES / "small_4bar", tmp_path / "out", config_name="nope")


# ---------------------------------------------------------------- bad files


def test_truncated_data_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "small_4bar"
    shutil.copytree(FIXTURES / "small_4bar", src)
    shard = src / "model.ckpt-1234.data-00000-of-00001"
    shard.write_bytes(shard.read_bytes()[:100_000])
    with pytest.raises(MagentaImportError, match="truncated"):
        import_magenta(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_corrupted_index_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "small_4bar"
    shutil.copytree(FIXTURES / "small_4bar", src)
    index = src / "model.ckpt-1234.index"
    raw = bytearray(index.read_bytes())
    raw[200] ^= 0x40
    index.write_bytes(bytes(raw))
    with pytest.raises(MagentaImportError, match="checksum mismatch"):
        import_magenta(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _tar_with(tmp_path: Path, name: str, add) -> Path:
    path = tmp_path / name
    with tarfile.open(path, "w") as tar:
        for f in sorted((FIXTURES / "small_4bar").iterdir()):
            tar.add(f, arcname=f"small/{f.name}")
        add(tar)
    return path


def _file_member(name: str) -> tuple[tarfile.TarInfo, object]:
    import io

    info = tarfile.TarInfo(name)
    info.size = 4
    return info, io.BytesIO(b"evil")


@pytest.mark.parametrize(
    "kind, pattern",
    [
        ("dotdot", "unsafe member path '../evil.txt'"),
        ("absolute", "unsafe member path '/tmp/"),
        ("symlink", "is a link"),
        ("hardlink", "is a link"),
    ],
)
def test_unsafe_tar_members_are_refused(tmp_path: Path, kind: str, pattern: str) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()

    def add(tar: tarfile.TarFile) -> None:
        if kind == "dotdot":
            tar.addfile(*_file_member("../evil.txt"))
        elif kind == "absolute":
            tar.addfile(*_file_member(str(victim / "evil.txt")))
        else:
            info = tarfile.TarInfo("small/link")
            info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)

    tar_path = _tar_with(tmp_path, f"{kind}.tar", add)
    with pytest.raises(MagentaImportError, match=pattern):
        import_magenta(tar_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil.txt").exists() and not (victim / "evil.txt").exists()


def test_not_a_tar_or_checkpoint(tmp_path: Path) -> None:
    junk = tmp_path / "model.tar"
    junk.write_bytes(b"this is not a tar file at all" * 20)
    with pytest.raises(MagentaImportError, match="model.tar: not a readable tar"):
        import_magenta(junk, tmp_path / "out")
    with pytest.raises(MagentaImportError, match="no such checkpoint"):
        import_magenta(tmp_path / "model.ckpt-9", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MagentaImportError, match="holds no .index checkpoint"):
        import_magenta(tmp_path / "empty", tmp_path / "out")


def test_truncated_tar(tmp_path: Path) -> None:
    tar_path = make_tar(FIXTURES / "small_4bar", tmp_path / "small_4bar.tar", "small_4bar")
    raw = tar_path.read_bytes()
    tar_path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(MagentaImportError, match="small_4bar"):
        import_magenta(tar_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "path", ["../outside.bin", "/etc/hostname", "sub/../../outside.bin", "link.bin"]
)
def test_manifest_pointing_outside_its_folder(tmp_path: Path, path: str) -> None:
    src = tmp_path / "js"
    shutil.copytree(FIXTURES / "small_4bar_js", src)
    (tmp_path / "outside.bin").write_bytes(b"\0" * 64)
    if path == "link.bin":
        os.symlink(tmp_path / "outside.bin", src / "link.bin")
    manifest = json.loads((src / "weights_manifest.json").read_text())
    manifest[0]["paths"][1] = path
    (src / "weights_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(MagentaImportError, match="points outside its folder"):
        import_magenta(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_truncated_magenta_js_shard(tmp_path: Path) -> None:
    src = tmp_path / "js"
    shutil.copytree(FIXTURES / "small_4bar_js", src)
    shard = src / "group1-shard2of2"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(MagentaImportError, match="shards are truncated"):
        import_magenta(src, tmp_path / "out")


@pytest.mark.parametrize("qdtype, levels", [("uint8", 255), ("uint16", 65535)])
def test_quantized_magenta_js(tmp_path: Path, qdtype: str, levels: int) -> None:
    """magenta.js *_q1/_q2 checkpoints: affine-quantised shards are de-quantised."""
    tensors = _small_tensors()
    src = tmp_path / "q"
    src.mkdir()
    blob, weights = b"", []
    for name, value in tensors.items():
        lo, hi = float(value.min()), float(value.max())
        scale = (hi - lo) / levels or 1.0
        q = np.round((value - lo) / scale).astype(qdtype)
        blob += q.astype("<" + q.dtype.str[1:]).tobytes()
        weights.append(
            {
                "name": name,
                "shape": list(value.shape),
                "dtype": "float32",
                "quantization": {"dtype": qdtype, "scale": scale, "min": lo},
            }
        )
    (src / "group1-shard1of1").write_bytes(blob)
    (src / "weights_manifest.json").write_text(
        json.dumps([{"paths": ["group1-shard1of1"], "weights": weights}])
    )
    back = read_magenta_js(src)
    for name, value in tensors.items():
        step = (value.max() - value.min()) / levels
        assert np.max(np.abs(back[name] - value)) <= step / 2 + 1e-6
    import_magenta(src, tmp_path / "out", config_name=None)


# ---------------------------------------------------------------- CLI


def test_cli_imports_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model"
    assert cli_main([str(FIXTURES / "small_4bar_js"), "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "imported magenta.js checkpoint" in text and "inferred" in text
    assert (out / "model.safetensors").is_file()
    # an existing output is not replaced without --force
    assert cli_main([str(FIXTURES / "small_4bar"), "--output", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert cli_main([str(FIXTURES / "small_4bar"), "--output", str(out), "--force"]) == 0


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(
        [str(FIXTURES / "small_4bar"), "--config", "groovae_4bar", "--output", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("import-magenta: variable encoder/")
    assert not (tmp_path / "o").exists()
    assert cli_main([str(tmp_path / "nowhere"), "--output", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_imported_model_generates_like_any_other(tmp_path: Path) -> None:
    from models.generate import load_model

    out = import_magenta(FIXTURES / "small_4bar_js", tmp_path / "out").output
    model = load_model(out)
    grooves = model.sample(2, seed=0)
    assert len(grooves) == 2 and grooves[0].hits.shape == (64, 9)
    assert model.encode(grooves).shape == (2, 8)


def test_checkpoint_state_file_with_a_foreign_absolute_path(tmp_path: Path) -> None:
    """Saver writes absolute paths of the training machine into `checkpoint`: use the name."""
    src = tmp_path / "groovae_run"
    shutil.copytree(FIXTURES / "small_4bar", src)
    (src / "checkpoint").write_text('model_checkpoint_path: "/home/someone/run/model.ckpt-1234"\n')
    result = import_magenta(src, tmp_path / "out")
    assert result.step == 1234
    (src / "checkpoint").unlink()  # without it: the only .index is used
    assert import_magenta(src, tmp_path / "out2").step == 1234
