"""Security defaults for files: names cannot escape their folders.

The rules, as the code has them:

* Model names: only the exact shipped names ("default", "humanize") are looked up in
  ``models/pretrained/``; anything else is an explicit path the user typed, used as typed
  (never joined to a folder), and what it points at is only ever read as safetensors + JSON.
* Checkpoint pointer files (``checkpoints/latest``, ``best``) name a ``ckpt-*`` directory
  inside ``checkpoints/``; a pointer holding ``..`` or an absolute path is ignored (fixed
  here: it used to be followed, so a planted run folder could load a checkpoint from anywhere).
* Downloaded names: ``fetch_pretrained`` accepts only ``PUBLISHED`` names (plain names), so
  ``models_dir()/<name>`` stays in the model folder.
* Dataset files: stored input paths are relative and stay inside the input folder (checked on
  load, added here); preprocessing writes only its output file and a temp file beside it.
* Settings: the app's preferences live in ``config_dir()/app.toml`` and no key names a file
  that is written; drum-map settings read a file only when it is a ``.toml`` path.

Archive extraction is covered where the importer is tested, not duplicated here:
``tests/models/magenta/test_magenta_import.py::test_unsafe_tar_members_are_refused`` (``..``,
absolute, symlink and hardlink tar members), ``::test_manifest_pointing_outside_its_folder``
(magenta.js shard paths), ``::test_checkpoint_state_file_with_a_foreign_absolute_path``, and
``tests/models/magenta/test_fetch.py::test_fetch_magenta_js_refuses_unsafe_shard_paths``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from models.data.io import DatasetError, load_dataset, load_windows, save_dataset
from models.drum_maps import DrumMapError, get_drum_map
from models.generate import PRETRAINED_DIR, SHIPPED, load_model, resolve_model_path
from models.magenta.fetch import PUBLISHED, FetchError, fetch_pretrained, models_dir
from models.net.config import get_config
from models.net.vae import GrooVAE
from models.train import checkpoint as ckpt
from models.train import run_folder
from models.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

ESCAPES = ["../../etc", "default/../../../etc", "humanize/..", "/etc", "/etc/passwd", "~/../..",
           "..", "default/", "./default"]


def _save(dest: Path, step: int, seed: int) -> Path:
    torch.manual_seed(seed)
    config = get_config("groovae_tiny")
    return save_checkpoint(dest, GrooVAE(config), config, step)


# ---- model names ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ESCAPES)
def test_only_exact_shipped_names_resolve_inside_pretrained(name: str) -> None:
    """Anything but an exact shipped name is the user's own path, taken as typed."""
    try:
        path, _ = resolve_model_path(name)
    except CheckpointError as e:
        assert "\n" not in str(e)
        return
    assert path == Path(name).expanduser()  # not joined to models/pretrained/
    with pytest.raises(CheckpointError) as e:  # /etc, .., ~: no checkpoint there
        load_model(name)
    assert "\n" not in str(e.value)


def test_shipped_names_stay_in_pretrained_folder() -> None:
    for key, sub in SHIPPED.items():
        assert "/" not in sub and "\\" not in sub and sub not in ("", ".", "..")
        try:
            path, _ = resolve_model_path(key)
        except CheckpointError:  # not installed in this checkout
            continue
        assert path.resolve().parent == PRETRAINED_DIR.resolve()


# ---- checkpoint pointers -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "pointer",
    ["../../elsewhere/ckpt-00000099", "ckpt-00000001/../../../elsewhere/ckpt-00000099",
     "{abs}", "..", "/"],
)
def test_pointer_files_cannot_leave_the_checkpoints_folder(tmp_path: Path, pointer: str) -> None:
    outside = _save(tmp_path / "elsewhere" / "ckpt-00000099", 99, seed=1)  # a valid checkpoint
    run = tmp_path / "a" / "b" / "run"
    (run / run_folder.CKPT_SUBDIR).mkdir(parents=True)
    text = pointer.replace("{abs}", str(outside))
    for which in ("latest", "best"):
        (run / run_folder.CKPT_SUBDIR / which).write_text(text + "\n")
    assert run_folder.latest_checkpoint(run) is None and run_folder.best_checkpoint(run) is None
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        load_checkpoint(run)
    with pytest.raises(CheckpointError, match="does not name a checkpoint"):
        load_checkpoint(run / run_folder.CKPT_SUBDIR / "latest")  # the pointer file given directly
    # With a checkpoint of its own, the run loads that one, never the planted one.
    own = _save(run / run_folder.CKPT_SUBDIR / "ckpt-00000001", 1, seed=2)
    assert run_folder.latest_checkpoint(run) == own
    assert load_checkpoint(run, prefer="best")[2]["path"] == str(own)


def test_pointer_to_a_sibling_checkpoint_still_works(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = _save(run / run_folder.CKPT_SUBDIR / "ckpt-00000001", 1, seed=1)
    _save(run / run_folder.CKPT_SUBDIR / "ckpt-00000002", 2, seed=2)
    ckpt.set_pointer(run, "best", first)
    assert run_folder.best_checkpoint(run) == first
    assert run_folder.latest_checkpoint(run).name == "ckpt-00000002"


# ---- downloads -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../etc", "/tmp/x", "groovae_4bar/../../x", ".."])
def test_fetch_accepts_only_published_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(FetchError, match="unknown checkpoint"):
        fetch_pretrained(name, dest=tmp_path / "models", cache=tmp_path / "cache",
                         base_url="http://127.0.0.1:9/")
    assert not (tmp_path / "models").exists() and not (tmp_path / "cache").exists()


def test_published_names_are_plain_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROOVEBRIDGE_MODELS_DIR", str(tmp_path / "models"))
    for name in PUBLISHED:
        assert re.fullmatch(r"[A-Za-z0-9_]+", name), name
        assert (models_dir() / name).resolve().parent == (tmp_path / "models").resolve()


# ---- datasets ------------------------------------------------------------------------------------
@pytest.fixture
def small_dataset(tmp_path: Path, gmd_dir: Path) -> Path:
    from tests.hardening.helpers import tiny_dataset

    return tiny_dataset(gmd_dir, tmp_path)


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "/etc/passwd", "sub/../../x.mid", "C:/Windows/x.mid", "..\\..\\x.mid"]
)
def test_dataset_with_paths_leaving_its_folder_is_refused(
    small_dataset: Path, tmp_path: Path, bad: str
) -> None:
    ds = load_dataset(small_dataset)
    paths = list(ds.file_paths)
    paths[-1] = bad
    forged = tmp_path / "forged.npz"
    save_dataset(forged, ds.__class__(**{**ds.__dict__, "file_paths": paths}))
    with pytest.raises(DatasetError, match="is not a relative path inside the input folder") as e:
        load_windows(forged, "all")
    assert "\n" not in str(e.value)


def test_normal_relative_paths_are_fine(small_dataset: Path, tmp_path: Path) -> None:
    ds = load_dataset(small_dataset)
    paths = ["a/b/c.mid", "12:30 groove.mid", "x..y.mid"][: len(ds.file_paths)]
    ok = tmp_path / "ok.npz"
    save_dataset(ok, ds.__class__(**{**ds.__dict__, "file_paths": paths}))
    assert load_dataset(ok).file_paths == paths


def test_preprocess_writes_only_its_output_file(gmd_dir: Path, tmp_path: Path) -> None:
    from models.data.dataset import preprocess
    from tests.hardening.helpers import link_gmd_files

    root = tmp_path / "in"
    link_gmd_files(gmd_dir, root)
    before_in = sorted(p.name for p in root.iterdir())
    outdir = tmp_path / "out"
    outdir.mkdir()
    preprocess(root, outdir / "ds.npz", workers=1)
    assert sorted(p.name for p in outdir.iterdir()) == ["ds.npz"]
    assert sorted(p.name for p in root.iterdir()) == before_in
    with pytest.raises(DatasetError, match="output folder does not exist"):
        preprocess(root, tmp_path / "missing" / "deeper" / "ds.npz", workers=1)
    assert not (tmp_path / "missing").exists()  # folders are never created on the way


# ---- settings ------------------------------------------------------------------------------------
def test_app_settings_live_in_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gui.settings_store import FILE_NAME, SettingsStore, config_dir

    monkeypatch.setenv("GROOVEBRIDGE_CONFIG_DIR", str(tmp_path / "cfg"))
    store = SettingsStore()
    assert store.path == config_dir() / FILE_NAME == tmp_path / "cfg" / "app.toml"
    store.set("model", "../../../etc")  # values never become file names
    store.set("last_folder", "/etc")
    assert store.save() is None
    assert sorted(p.name for p in (tmp_path / "cfg").iterdir()) == ["app.toml"]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [tmp_path / "cfg" / "app.toml"]


@pytest.mark.parametrize("value", ["/etc/passwd", "../../etc/shadow", "../../x.toml", "/dev/zero"])
def test_drum_map_settings_read_only_toml_files(value: str) -> None:
    with pytest.raises(DrumMapError) as e:
        get_drum_map(value)
    assert "\n" not in str(e.value)


def test_engine_settings_model_is_a_plain_value(tmp_path: Path) -> None:
    from bridge.settings import load_settings

    toml = tmp_path / "s.toml"
    toml.write_text('[engine]\nmodel = "../../../etc"\n', encoding="utf-8")
    s = load_settings(toml, env={})
    assert s.model == "../../../etc"
    with pytest.raises(CheckpointError) as e:  # what the engine's loader does with it
        load_model(s.model)
    assert "\n" not in str(e.value) and "no checkpoint in" in str(e.value)
