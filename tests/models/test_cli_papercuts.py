"""User mistakes in the models/ command lines are one line, found before any model runs, and
the outputs are what a musician expects (session 20's new-user trial): --device, --output_dir,
--temperature, unknown / abbreviated flags, which input failed, humanize's model, interpolate's
tempo, dataset files that are not datasets, and --help's defaults."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from models.cli import average, evaluate, fetch, generate, magenta_import, preprocess, prior, train
from models.cli.generate import main as generate_main
from models.generate import load_model
from models.inference_device import available_devices
from models.midi.files import read_midi, write_midi
from models.takes import humanize_takes
from models.train.checkpoint import save_checkpoint
from tests.models.test_generate import _model

PARSERS = [average, evaluate, fetch, generate, magenta_import, preprocess, prior, train]


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    m = _model()
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "ckpt-00000010", m, m.config, 10)


@pytest.fixture(scope="module")
def funk(gmd_dir: Path) -> Path:
    return next(iter(sorted(gmd_dir.glob("drummer1/session1/*beat_4-4.mid"))))


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model now fails the test: the mistake must be found before."""

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("the model was loaded before the mistake was reported")

    monkeypatch.setattr(generate, "load_model", refuse)


@pytest.mark.parametrize("device", ["tpu", "cuda", "mps"])
def test_generate_device_mistake_is_one_line_before_the_model(
    device: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if device in available_devices():
        pytest.skip(f"{device} is available here")
    _no_model(monkeypatch)
    rc = generate_main(["--device", device, "--output_dir", str(tmp_path / "o"), "--num_outputs", "1"])
    err = _one_line(capsys)
    assert rc == 2 and f"--device {device}" in err and "cpu" in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_generate_bad_output_dir_is_one_line_before_the_model(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_file = tmp_path / "passwd"
    a_file.write_text("keep me\n")
    out = a_file if where == "file" else a_file / "x"
    _no_model(monkeypatch)
    rc = generate_main(["--output_dir", str(out), "--num_outputs", "1"])
    err = _one_line(capsys)
    assert rc == 2 and f"--output_dir {out}" in err, err
    assert a_file.read_text() == "keep me\n"


@pytest.mark.parametrize("value", ["-1", "nan", "-0.01"])
def test_generate_negative_temperature_refused(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_model(monkeypatch)
    rc = generate_main([f"--temperature={value}", "--output_dir", str(tmp_path)])
    err = _one_line(capsys)
    assert rc == 2 and "--temperature" in err and ">= 0" in err
    assert not list(tmp_path.glob("*.mid"))


def test_flags_are_never_abbreviated(capsys: pytest.CaptureFixture[str]) -> None:
    """`generate --channel 1` was taken as --channels (drumify only) and silently ignored."""
    for argv, module in ([["--channel", "1"], generate], [["--run_d", "x", "--examples_path", "y"], train],
                         [["--examples_path", "y", "--temp", "1"], evaluate]):
        with pytest.raises(SystemExit) as e:
            module.build_parser().parse_args(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert "unrecognized arguments" in err or "required: --run_dir" in err, err
    for module in PARSERS:
        assert module.build_parser().allow_abbrev is False, module.__name__


def test_help_shows_real_defaults_only(capsys: pytest.CaptureFixture[str]) -> None:
    for module in PARSERS:
        text = re.sub(r"\s+", " ", module.build_parser().format_help())
        assert "(default: None)" not in text, module.__name__
        assert "(default: )" not in text and "(default: False)" not in text, module.__name__
        for option in re.split(r" (?=--\w)", text):
            assert option.count("(default:") + option.count("; default:") <= 1, (module.__name__, option)
    gen_help = re.sub(r"\s+", " ", generate.build_parser().format_help())
    assert "(default: 0.5)" in gen_help and "(default: cpu)" in gen_help and "(default: 5)" in gen_help
    for module in (generate, evaluate):
        model_help = re.sub(r"\s+", " ", module.build_parser().format_help()).split("--model MODEL ")[-1][:200]
        assert "drumify" in model_help and "humanize" in model_help, model_help


def test_humanize_without_model_uses_the_shipped_humanize_model(
    funk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = generate_main(["--mode", "humanize", "--input_midi_1", str(funk), "--output_dir", str(tmp_path),
                        "--num_outputs", "3", "--seed", "3"])
    assert rc == 0, capsys.readouterr().err
    humanize_model = load_model("humanize")
    files = sorted(tmp_path.glob("*.mid"))
    assert len(files) == 3
    assert all(f.name.startswith(f"{humanize_model.config.name}_humanize_") for f in files), files
    # Takes: the first is the model's mean performance (the engine's humanize); the others are
    # posterior draws with the same hits and other velocities / timing (were all identical).
    takes = [read_midi(f, "gm").groove for f in files]
    source = read_midi(funk, "roland").groove.window(0, 4)
    mean = humanize_model.humanize(source, 0.5, 0)
    assert np.abs(takes[0].velocities - mean.velocities).max() < 1 / 127 + 1e-6
    assert all((t.hits == mean.hits).all() for t in takes)
    for other in takes[1:]:
        assert np.abs(other.velocities - takes[0].velocities).max() > 2 / 127
        assert np.abs(other.offsets - takes[0].offsets).max() > 0.02
    assert not takes[1].allclose(takes[2])


def test_humanize_takes_seeded_and_spread_zero_is_the_mean(funk: Path) -> None:
    model = load_model("humanize")
    beat = read_midi(funk, "roland").groove.window(0, 4)
    a = humanize_takes(model, beat, 3, 0.5, seed=11)
    b = humanize_takes(model, beat, 3, 0.5, seed=11)
    assert all(x.allclose(y) for x, y in zip(a, b, strict=True))
    flat = humanize_takes(model, beat, 2, 0.0, seed=11)
    assert flat[0].allclose(flat[1]) and flat[0].allclose(model.humanize(beat, 0.5, 0))
    with pytest.raises(ValueError, match="multiple of the model's 64"):
        humanize_takes(model, beat.window(0, 2), 2, 0.5, seed=1)


def _channel_one_copy(src: Path, dst: Path) -> Path:
    """``src``'s first 4 bars written with every note on MIDI channel 1 (a file from a DAW's
    first track), as a GM file."""
    from models.midi.files import groove_to_midifile

    g = read_midi(src, "roland").groove.window(0, 4)
    groove_to_midifile(g, bpm=g.bpm, drum_map="gm", channel=0).save(str(dst))
    return dst


def test_wrong_channel_hint_names_a_real_flag_that_works(
    ckpt_dir: Path, funk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chan1 = _channel_one_copy(funk, tmp_path / "chan1.mid")
    base = ["--checkpoint_file", str(ckpt_dir), "--output_dir", str(tmp_path / "o"), "--mode", "interpolate",
            "--input_midi_1", str(funk), "--input_midi_2", str(chan1), "--num_outputs", "2"]
    assert generate_main(base) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{chan1}: no drum notes on MIDI channel 10" in err and "pass --channels N" in err, err
    recon = ["--checkpoint_file", str(ckpt_dir), "--output_dir", str(tmp_path / "o"), "--mode", "reconstruct",
             "--input_midi_1", str(chan1), "--num_outputs", "1", "--channels", "1"]
    assert generate_main(recon) == 0, capsys.readouterr().err
    assert len(list((tmp_path / "o").glob("*.mid"))) == 1


@pytest.mark.parametrize("bad, needle", [("text", "not a MIDI file"), ("empty", "no notes in the file")])
def test_interpolate_error_names_the_input_that_failed(
    bad: str, needle: str, ckpt_dir: Path, funk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import mido

    broken = tmp_path / "second.mid"
    if bad == "text":
        broken.write_bytes(b"hello\n")
    else:
        mido.MidiFile(tracks=[mido.MidiTrack()]).save(str(broken))
    rc = generate_main(["--checkpoint_file", str(ckpt_dir), "--output_dir", str(tmp_path / "o"),
                        "--mode", "interpolate", "--input_midi_1", str(funk), "--input_midi_2", str(broken)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2 and err.startswith(f"groovebridge generate: {broken}: {needle}"), err


def test_interpolate_tempo_goes_from_the_first_input_to_the_second(
    ckpt_dir: Path, funk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    g = read_midi(funk, "roland").groove.window(0, 4)
    slow = write_midi(g.with_changes(bpm=95.0), tmp_path / "slow.mid", bpm=95.0)
    fast = write_midi(g.with_changes(bpm=125.0), tmp_path / "fast.mid", bpm=125.0)
    base = ["--checkpoint_file", str(ckpt_dir), "--mode", "interpolate", "--input_midi_1", str(slow),
            "--input_midi_2", str(fast), "--num_outputs", "3"]
    assert generate_main([*base, "--output_dir", str(tmp_path / "a")]) == 0, capsys.readouterr().err
    tempos = [read_midi(f, "gm").bpm for f in sorted((tmp_path / "a").glob("*.mid"))]
    assert tempos == pytest.approx([95.0, 110.0, 125.0], abs=0.01)
    assert generate_main([*base, "--output_dir", str(tmp_path / "b"), "--qpm", "100"]) == 0
    tempos = [read_midi(f, "gm").bpm for f in sorted((tmp_path / "b").glob("*.mid"))]
    assert tempos == pytest.approx([100.0] * 3, abs=0.01)


def test_evaluate_mistakes_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    notmidi = tmp_path / "notmidi.mid"
    notmidi.write_bytes(b"hello\n")
    assert evaluate.main(["--examples_path", str(notmidi)]) == 2
    err = _one_line(capsys)
    assert f"{notmidi} is not a GrooveBridge dataset (.gbds): make one with `groovebridge preprocess`" in err
    assert "pickle" not in err.replace(str(tmp_path), "")
    import models.generate

    monkeypatch.setattr(models.generate, "load_model", lambda *a, **k: pytest.fail("model loaded"))
    assert evaluate.main(["--examples_path", str(notmidi), "--output_json", str(notmidi / "r.json")]) == 2
    assert "--output_json" in _one_line(capsys)
    assert evaluate.main(["--examples_path", str(notmidi), "--device", "tpu"]) == 2
    assert "--device tpu" in _one_line(capsys)


def test_train_with_a_file_that_is_not_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notmidi = tmp_path / "notmidi.mid"
    notmidi.write_bytes(b"hello\n")
    rc = train.main(["--run_dir", str(tmp_path / "run"), "--examples_path", str(notmidi), "--num_steps", "1",
                     "--no_progress_bar"])
    err = _one_line(capsys)
    assert rc == 2 and "is not a GrooveBridge dataset (.gbds)" in err and "allow_pickle" not in err, err


def test_average_never_replaces_a_file_or_a_folder_of_other_things(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`average --output_dir` replaces the whole folder: a file or a folder of letters was lost."""
    shipped = Path(load_model.__globals__["PRETRAINED_DIR"]) / "default"
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me\n")
    docs = tmp_path / "Documents"
    docs.mkdir()
    (docs / "letter.txt").write_text("keep me too\n")
    for out in (a_file, docs):
        assert average.main(["--checkpoints", f"{shipped},{shipped}", "--output_dir", str(out)]) == 2
        assert f"--output_dir {out}" in _one_line(capsys)
    assert a_file.read_text() == "keep me\n" and (docs / "letter.txt").read_text() == "keep me too\n"
    new = tmp_path / "runs" / "avg"
    assert average.main(["--checkpoints", f"{shipped},{shipped}", "--output_dir", str(new)]) == 0
    assert (new / "model.safetensors").is_file()
    assert average.main(["--checkpoints", f"{shipped},{shipped}", "--output_dir", str(new)]) == 0  # a checkpoint: replaced
