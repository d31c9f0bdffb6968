"""Make the Magenta-import test fixtures with TensorFlow itself (run by hand, never by tests/CI).

Writes into ``tests/fixtures/magenta/`` (see the README.md there):

* ``small_4bar/``, ``small_2bar_hits_control/``: TF1 checkpoints (``model.ckpt-N.index`` +
  ``.data-00000-of-00001`` + ``checkpoint``) saved by ``tf.compat.v1.train.Saver`` with
  Magenta's exact GrooVAE variable names, small sizes (encoder 16, decoder [16, 16], z 8),
  random weights, Adam slots (``<var>/Adam``, ``<var>/Adam_1``), ``beta1_power``,
  ``beta2_power`` and ``global_step`` (one real Adam step is run so the slots are non-zero).
* ``<variant>_reference.safetensors``: a fixed input batch and TensorFlow's outputs for it,
  computed with ``tf.raw_ops.LSTMBlockCell`` (forget_bias 1.0, cell_clip -1, no peepholes):
  encoder mu and sigma, and the teacher-forced decoder logits for every step (z = mu).
* ``small_4bar_js/``: the same small_4bar weights as a magenta.js folder
  (``weights_manifest.json`` + two ``group1-shardNof2`` files + ``config.json``).
* ``groovae_4bar_full/model.ckpt-0.index``: the index of a full-size ``groovae_4bar``
  checkpoint (with Adam slots) whose every tensor was set to zero before saving; the 64 MB
  data shard is not kept (all zero bytes: ``data_info.json`` records its size, so a test can
  recreate it as a sparse file).

Usage (in a throwaway venv outside the repo):
    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu numpy safetensors
    /tmp/tfenv/bin/python scripts/make_magenta_fixtures.py tests/fixtures/magenta
    # optional, not committed (64 MB): full-size groovae_4bar random weights + reference
    /tmp/tfenv/bin/python scripts/make_magenta_fixtures.py --full-parity /tmp/groovae_4bar_parity
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from safetensors.numpy import save_file

SEED = 20190501
ENC = "encoder/cell_0/bidirectional_rnn/{d}/multi_rnn_cell/cell_0/lstm_cell/{p}"
DEC = "decoder/multi_rnn_cell/cell_{i}/lstm_cell/{p}"

VARIANTS = {
    "small_4bar": dict(enc=16, dec=(16, 16), z=8, steps=64, controls=0, step=1234, batch=3),
    "small_2bar_hits_control": dict(
        enc=16, dec=(16, 16), z=8, steps=32, controls=9, step=77, batch=3
    ),
}
FULL = dict(enc=512, dec=(256, 256), z=256, steps=64, controls=0, step=0)


def variable_shapes(enc: int, dec: tuple[int, ...], z: int, controls: int, **_: object) -> dict:
    """Magenta's GrooVAE trainable variables and their shapes (reference section 4)."""
    depth_in = 27 + controls
    shapes = {}
    for d in ("fw", "bw"):
        shapes[ENC.format(d=d, p="kernel")] = (depth_in + enc, 4 * enc)
        shapes[ENC.format(d=d, p="bias")] = (4 * enc,)
    for n in ("mu", "sigma"):
        shapes[f"encoder/{n}/kernel"] = (2 * enc, z)
        shapes[f"encoder/{n}/bias"] = (z,)
    shapes["decoder/z_to_initial_state/kernel"] = (z, 2 * sum(dec))
    shapes["decoder/z_to_initial_state/bias"] = (2 * sum(dec),)
    layer_in = 27 + z + controls
    for i, h in enumerate(dec):
        shapes[DEC.format(i=i, p="kernel")] = (layer_in + h, 4 * h)
        shapes[DEC.format(i=i, p="bias")] = (4 * h,)
        layer_in = h
    shapes["decoder/output_projection/kernel"] = (dec[-1], 27)
    shapes["decoder/output_projection/bias"] = (27,)
    return shapes


def random_weights(shapes: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for name, shape in shapes.items():
        if name.endswith("bias"):
            out[name] = rng.normal(0.0, 0.2, shape)
        elif "lstm_cell" in name:
            limit = np.sqrt(6.0 / (shape[0] + shape[1])) * 2.0  # 2x glorot: lively gates
            out[name] = rng.uniform(-limit, limit, shape)
        else:
            out[name] = rng.normal(0.0, 0.4, shape)
        out[name] = out[name].astype(np.float32)
    return out


def save_tf1_checkpoint(
    weights: dict[str, np.ndarray], out_dir: Path, step: int, zero_everything: bool = False
) -> dict[str, np.ndarray]:
    """Save through tf.compat.v1.train.Saver with Adam state; returns the saved weights."""
    out_dir.mkdir(parents=True, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        tf_vars = {
            name: tf.compat.v1.get_variable(name, initializer=tf.constant(value), use_resource=True)
            for name, value in weights.items()
        }
        global_step = tf.compat.v1.train.get_or_create_global_step()
        loss = tf.add_n([tf.reduce_sum(tf.square(v)) for v in tf_vars.values()])
        train = tf.compat.v1.train.AdamOptimizer(1e-3).minimize(loss, global_step=global_step)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(train)  # one real step: non-zero Adam slots and beta powers
            if zero_everything:
                sess.run([v.assign(tf.zeros_like(v)) for v in tf.compat.v1.global_variables()])
            sess.run(global_step.assign(step))
            saved = sess.run(tf_vars)
            saver.save(sess, str(out_dir / "model.ckpt"), global_step=step, write_meta_graph=False)
    # Read back with TensorFlow's own reader: what the reference uses is what was saved.
    reader = tf.train.load_checkpoint(str(out_dir / f"model.ckpt-{step}"))
    for name, value in saved.items():
        assert np.array_equal(reader.get_tensor(name), value), name
    names = set(reader.get_variable_to_shape_map())
    assert "global_step" in names and "beta1_power" in names, sorted(names)
    assert any(n.endswith("/Adam_1") for n in names), sorted(names)
    return {k: np.asarray(v, dtype=np.float32) for k, v in saved.items()}


def lstm_block_step(x, c, h, kernel, bias):
    """One LSTMBlockCell step with TensorFlow's fused op (gate columns i, j, f, o)."""
    units = h.shape[1]
    zeros = tf.zeros([units], tf.float32)
    out = tf.raw_ops.LSTMBlockCell(
        x=x,
        cs_prev=c,
        h_prev=h,
        w=kernel,
        wci=zeros,
        wcf=zeros,
        wco=zeros,
        b=bias,
        forget_bias=1.0,
        cell_clip=-1.0,
        use_peephole=False,
    )
    return out.cs, out.h


def tf_reference(weights: dict[str, np.ndarray], v: dict, rng: np.random.Generator) -> dict:
    """Fixed input -> TensorFlow encoder mu/sigma and teacher-forced decoder logits."""
    b, t, ctl = v["batch"], v["steps"], v["controls"]
    hits = (rng.random((b, t, 9)) < 0.3).astype(np.float32)
    vel = (rng.uniform(0.1, 1.0, (b, t, 9)) * hits).astype(np.float32)
    off = (rng.uniform(-1.0, 1.0, (b, t, 9)) * hits).astype(np.float32)
    target = np.concatenate([hits, vel, off], axis=-1)
    controls = hits.copy() if ctl else np.zeros((b, t, 0), np.float32)
    enc_in = np.concatenate([target, controls], axis=-1)
    w = {k: tf.constant(a) for k, a in weights.items()}

    def run_encoder(direction: str, order: range) -> tf.Tensor:
        units = v["enc"]
        c = tf.zeros([b, units])
        h = tf.zeros([b, units])  # noqa: E702
        for i in order:
            c, h = lstm_block_step(
                tf.constant(enc_in[:, i]),
                c,
                h,
                w[ENC.format(d=direction, p="kernel")],
                w[ENC.format(d=direction, p="bias")],
            )
        return h

    summary = tf.concat([run_encoder("fw", range(t)), run_encoder("bw", range(t - 1, -1, -1))], 1)
    mu = tf.matmul(summary, w["encoder/mu/kernel"]) + w["encoder/mu/bias"]
    sigma = tf.nn.softplus(tf.matmul(summary, w["encoder/sigma/kernel"]) + w["encoder/sigma/bias"])

    z = mu
    init = tf.tanh(
        tf.matmul(z, w["decoder/z_to_initial_state/kernel"]) + w["decoder/z_to_initial_state/bias"]
    )
    states, i0 = [], 0
    for units in v["dec"]:  # flat order [c1, h1, c2, h2]
        states.append([init[:, i0 : i0 + units], init[:, i0 + units : i0 + 2 * units]])
        i0 += 2 * units
    logits = []
    for step in range(t):
        prev = np.zeros((b, 27), np.float32) if step == 0 else target[:, step - 1]
        x = tf.concat([tf.constant(prev), z, tf.constant(controls[:, step])], axis=1)
        for layer, state in enumerate(states):
            state[0], state[1] = lstm_block_step(
                x,
                state[0],
                state[1],
                w[DEC.format(i=layer, p="kernel")],
                w[DEC.format(i=layer, p="bias")],
            )
            x = state[1]
        logits.append(
            tf.matmul(x, w["decoder/output_projection/kernel"])
            + w["decoder/output_projection/bias"]
        )
    logits = tf.stack(logits, axis=1).numpy()
    ref = {
        "target": target,
        "mu": mu.numpy(),
        "sigma": sigma.numpy(),
        "initial_state": init.numpy(),
        "logits": logits,
        "hit_probs": tf.sigmoid(logits[..., :9]).numpy(),
        "velocities": tf.sigmoid(logits[..., 9:18]).numpy(),
        "offsets": tf.tanh(logits[..., 18:]).numpy(),
    }
    if ctl:
        ref["controls"] = controls
    return {k: np.ascontiguousarray(a, dtype=np.float32) for k, a in ref.items()}


def write_magenta_js(weights: dict[str, np.ndarray], out_dir: Path, steps: int) -> None:
    """magenta.js layout: one manifest group, tensors concatenated, split in two shards."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = sorted(weights)
    blob = b"".join(weights[n].astype("<f4").tobytes() for n in names)
    cut = len(blob) // 2 + 3  # deliberately not on a tensor or float boundary
    paths = ["group1-shard1of2", "group1-shard2of2"]
    (out_dir / paths[0]).write_bytes(blob[:cut])
    (out_dir / paths[1]).write_bytes(blob[cut:])
    manifest = [
        {
            "paths": paths,
            "weights": [
                {"name": n, "shape": list(weights[n].shape), "dtype": "float32"} for n in names
            ],
        }
    ]
    (out_dir / "weights_manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    config = {
        "type": "MusicVAE",
        "dataConverter": {"type": "GrooveConverter", "args": {"numSteps": steps}},
    }
    (out_dir / "config.json").write_text(json.dumps(config) + "\n")


def full_parity(out: Path) -> int:
    """Full-size groovae_4bar with random weights and its TF reference (for a manual check)."""
    rng = np.random.default_rng(SEED + 1)
    v = dict(FULL, batch=2, step=4321)
    shutil.rmtree(out / "groovae_4bar", ignore_errors=True)
    weights = save_tf1_checkpoint(
        random_weights(variable_shapes(**v), rng), out / "groovae_4bar", v["step"]
    )
    save_file(
        tf_reference(weights, v, rng),
        str(out / "groovae_4bar_reference.safetensors"),
        metadata={"tensorflow": tf.__version__, "variant": json.dumps(v)},
    )
    print(f"full-size parity checkpoint and reference in {out}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--full-parity"]:
        return full_parity(Path(argv[1]))
    out = Path(argv[0] if argv else "tests/fixtures/magenta")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for name, v in VARIANTS.items():
        ckpt_dir = out / name
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        weights = save_tf1_checkpoint(
            random_weights(variable_shapes(**v), rng), ckpt_dir, v["step"]
        )
        save_file(
            tf_reference(weights, v, rng),
            str(out / f"{name}_reference.safetensors"),
            metadata={"tensorflow": tf.__version__, "variant": json.dumps(v)},
        )
        if name == "small_4bar":
            shutil.rmtree(out / "small_4bar_js", ignore_errors=True)
            write_magenta_js(weights, out / "small_4bar_js", v["steps"])
        print(f"{name}: {len(weights)} variables, reference written")

    full_dir = out / "groovae_4bar_full"
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "groovae_4bar_full_tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shapes = variable_shapes(**FULL)
    weights = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
    save_tf1_checkpoint(weights, tmp, FULL["step"], zero_everything=True)
    data = tmp / "model.ckpt-0.data-00000-of-00001"
    raw = np.fromfile(data, dtype=np.uint8)
    assert not raw.any(), "expected an all-zero data shard"
    shutil.rmtree(full_dir, ignore_errors=True)
    full_dir.mkdir(parents=True)
    shutil.copy(tmp / "model.ckpt-0.index", full_dir / "model.ckpt-0.index")
    params = int(sum(np.prod(s) for s in shapes.values()))
    info = {
        "data_file": data.name,
        "data_bytes": int(raw.size),
        "all_zero": True,
        "trainable_parameters": params,
        "tensorflow": tf.__version__,
    }
    (full_dir / "data_info.json").write_text(json.dumps(info, indent=2) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"groovae_4bar_full: {params} trainable parameters, data shard {raw.size} bytes (dropped)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
