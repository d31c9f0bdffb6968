"""`groovebridge generate`: sample / interpolate / humanize / reconstruct to .mid files.

Flags follow Magenta's ``music_vae_generate`` (``--run_dir`` wins over ``--checkpoint_file``;
temperature 0.5 and 5 outputs by default). Output names:
``<config>_<mode>_<YYYY-mm-dd_HHMMSS>-<iii>-of-<NNN>.mid``. Inputs longer than one window use
their first full window unless ``--input_window K`` picks another. User mistakes print one
line and exit with status 2 (a failure writing the files: status 1), before any model runs
where the mistake can be seen up front (device, output folder, temperature, inputs).

Output tempo: ``--bpm`` (alias ``--qpm``) when given; otherwise sample writes 120 BPM, humanize /
reconstruct / drumify the input's tempo, and interpolate goes from the first input's tempo to
the second's (equal inputs: their tempo).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from models.cli.common import check_device, make_parser, prepare_output_dir
from models.generate import PRIORS, GrooveModel, load_model
from models.groove import Groove
from models.midi.files import EARLY_HITS, MidiFileError, load_groove_window, read_rhythm, write_midi
from models.net.attributes import ATTRIBUTE_NAMES, parse_attributes
from models.net.config import CONFIGS, ConfigError, apply_hparams, get_config
from models.net.prior import PriorError
from models.takes import humanize_takes
from models.train.checkpoint import CheckpointError, resolve_checkpoint

MODES = ("sample", "interpolate", "humanize", "reconstruct", "drumify")


class UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    p = make_parser("groovebridge generate", "Generate drum grooves with a GrooVAE and write them as .mid files.")
    p.add_argument("--config", default=None, help=f"expected config ({', '.join(CONFIGS)}); default: the checkpoint's")
    p.add_argument("--checkpoint_file", default=None, help="checkpoint directory or model.safetensors")
    p.add_argument("--run_dir", default=None, help="training run directory (its latest checkpoint)")
    p.add_argument("--model", default=None, help="shipped (default, humanize, drumify) or imported model name, when no checkpoint is given; "
                   "default: humanize for --mode humanize, drumify for --mode drumify, else default")
    p.add_argument("--hparams", default="", help="checked against the checkpoint's config")
    p.add_argument("--mode", choices=MODES, default="sample", help="what to generate")
    p.add_argument("--num_outputs", type=int, default=5, help="outputs (interpolate: steps incl. endpoints)")
    p.add_argument("--temperature", type=float, default=0.5, help="hit sampling temperature (>= 0; 0 = the most likely hits); humanize keeps the input's hits: "
                   "how much its takes after the first vary (0 = all the same)")
    p.add_argument("--output_dir", default="/tmp/music_vae/generated", help="where .mid files go")
    p.add_argument("--input_midi_1", default=None, help="input for interpolate/humanize/reconstruct/drumify (hits-control: controls)")
    p.add_argument("--input_midi_2", default=None, help="second input for interpolate")
    p.add_argument("--channels", default=None,
                   help="MIDI channels (1-16, comma list) of the inputs' notes; default: 10 "
                   "(drumify: all, every note is a tap)")
    p.add_argument("--input_window", type=int, default=0, help="which full window of the inputs to use")
    p.add_argument("--seed", type=int, default=None, help="random seed (reproducible outputs)")
    p.add_argument("--bpm", "--qpm", type=float, default=None,
                   help="tempo of the output files; default: sample 120, interpolate from the first input's "
                   "tempo to the second's, other modes the input's")
    p.add_argument("--drum_map", default="gm", help="output pitches: gm, roland, reduced or a TOML map")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps (default: cpu)")
    p.add_argument("--prior", choices=PRIORS, default="auto",
                   help="sample from the model's fitted prior, Magenta's N(0, I), or the fitted one when it has one")
    p.add_argument("--attributes", default="",
                   help=f"musical controls for sample/reconstruct in standard deviations (-2..2), e.g. "
                   f"density=1,intensity=-0.5; names: {', '.join(ATTRIBUTE_NAMES)}")
    p.add_argument("--early_hits", choices=EARLY_HITS, default="wrap",
                   help="hits played before the downbeat: at the end of the loop (wrap) or on the downbeat (clamp)")
    p.add_argument("--raw_outputs", action="store_true",
                   help="velocities/offsets exactly as the network writes them (Magenta's), not given-a-hit")
    return p


def _load(args: argparse.Namespace) -> GrooveModel:
    source = args.run_dir or args.checkpoint_file
    if source is None:
        name = args.model or (args.mode if args.mode in ("drumify", "humanize") else "default")
        model = load_model(name, args.device, raw_outputs=args.raw_outputs)
    else:
        model = load_model(resolve_checkpoint(source), args.device, raw_outputs=args.raw_outputs)
    cfg = model.config
    if args.config is not None:
        wanted = get_config(args.config)
        if args.hparams:
            wanted = apply_hparams(wanted, args.hparams)
        if cfg.name != wanted.name:
            raise UsageError(f"the checkpoint was trained with config {cfg.name}, not {args.config}")
        if args.hparams and wanted != cfg:
            raise UsageError(f"--hparams {args.hparams!r} differ from the checkpoint's config")
    elif args.hparams:
        apply_hparams(cfg, args.hparams)  # validates the keys
    return model


def _named(path: str, e: MidiFileError) -> MidiFileError:
    """``e`` with the input's path in front (interpolate has two inputs) and generate's own
    flag in its hint (the reader's hint names preprocess's --channel)."""
    text = str(e).replace("pass --channel N", "pass --channels N")
    named = text.startswith(Path(path).name) or str(path) in text  # ("file not found: PATH" names it)
    return MidiFileError(text if named else f"{path}: {text}", e.reason)


def _channels(channels: str | None) -> list[int] | None:
    if not channels:
        return None
    try:
        chans = [int(c) - 1 for c in channels.split(",") if c.strip()]
    except ValueError:
        raise UsageError(f"--channels {channels!r}: give MIDI channels 1-16, e.g. 1,2") from None
    if not chans or not all(0 <= c <= 15 for c in chans):
        raise UsageError(f"--channels {channels!r}: give MIDI channels 1-16, e.g. 1,2")
    return chans


def _input(path: str | None, flag: str, model: GrooveModel, args: argparse.Namespace) -> Groove:
    if path is None:
        raise UsageError(f"--{flag} is required for this mode")
    if not Path(path).is_file():
        raise UsageError(f"input MIDI not found: {path}")
    window = args.input_window
    try:
        groove, count = load_groove_window(
            path, window, model.config.num_bars, model.config.infer_drum_map, _channels(args.channels)
        )
    except MidiFileError as e:
        raise _named(path, e) from None
    if count > 1:
        print(
            f"{Path(path).name}: {count} windows of {model.config.num_bars} bars; using window {window} "
            f"(--input_window 0-{count - 1} picks another)",
            file=sys.stderr,
        )
    return groove


def _rhythm(path: str | None, channels: str | None) -> Groove:
    if path is None:
        raise UsageError("--input_midi_1 is required for this mode (the rhythm)")
    if not Path(path).is_file():
        raise UsageError(f"input MIDI not found: {path}")
    try:
        return read_rhythm(path, _channels(channels)).groove
    except MidiFileError as e:
        raise _named(path, e) from None


def run(args: argparse.Namespace) -> list[Path]:
    if args.num_outputs < 1:
        raise UsageError("--num_outputs must be at least 1")
    if not (math.isfinite(args.temperature) and args.temperature >= 0):
        raise UsageError(f"--temperature {args.temperature:g}: give a number >= 0 (0 = the most likely hits)")
    if args.bpm is not None and not (math.isfinite(args.bpm) and 20 <= args.bpm <= 400):
        raise UsageError(f"--bpm {args.bpm:g}: give a tempo from 20 to 400")
    _channels(args.channels)
    args.device = check_device(args.device)
    out_dir = prepare_output_dir(args.output_dir)
    attributes = parse_attributes(args.attributes)
    if attributes and args.mode not in ("sample", "reconstruct"):
        raise UsageError("--attributes applies to --mode sample or reconstruct")
    model = _load(args)
    n = args.num_outputs
    t, seed = args.temperature, args.seed
    if args.mode == "sample":
        controls = None
        if model.config.hits_as_controls:
            controls = [_input(args.input_midi_1, "input_midi_1", model, args)]
        bpm = 120.0 if args.bpm is None else args.bpm
        grooves = model.sample(n, t, seed, bpm, controls, prior=args.prior, attributes=attributes)
    elif args.mode == "interpolate":
        if n < 2:
            raise UsageError("interpolate needs --num_outputs >= 2 (the two endpoints)")
        a = _input(args.input_midi_1, "input_midi_1", model, args)
        b = _input(args.input_midi_2, "input_midi_2", model, args)
        grooves = model.interpolate(a, b, n, t, seed)
        if args.bpm is None:  # the first input's tempo to the second's
            grooves = [g.with_changes(bpm=a.bpm + (b.bpm - a.bpm) * i / (n - 1)) for i, g in enumerate(grooves)]
    elif args.mode == "drumify":
        if not model.config.tapify:
            raise UsageError(f"--mode drumify needs a Drumify model (--model drumify), not {model.config.name}")
        rhythm = _rhythm(args.input_midi_1, args.channels)
        base = seed if seed is not None else int(time.time_ns() % 2**31)
        grooves = [model.drumify(rhythm, t, base + i) for i in range(n)]
    else:
        g = _input(args.input_midi_1, "input_midi_1", model, args)
        base = seed if seed is not None else int(time.time_ns() % 2**31)
        if args.mode == "humanize":  # takes: the mean performance, then posterior draws
            grooves = humanize_takes(model, g, n, t, base)
        elif attributes:
            grooves = [model.shift(g, attributes, t, base + i) for i in range(n)]
        else:
            grooves = [model.reconstruct(g, t, base + i) for i in range(n)]
    stamp = time.strftime("%Y-%m-%d_%H%M%S")
    paths = []
    for i, g in enumerate(grooves):
        name = f"{model.config.name}_{args.mode}_{stamp}-{i:03d}-of-{len(grooves):03d}.mid"
        bpm = args.bpm if args.bpm is not None else g.bpm
        paths.append(write_midi(g, out_dir / name, bpm=bpm, drum_map=args.drum_map, early_hits=args.early_hits))
    return paths


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        paths = run(args)
    except (UsageError, ConfigError, CheckpointError, MidiFileError, PriorError, ValueError) as e:
        print(f"groovebridge generate: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the disk filled or the folder went away while writing
        print(f"groovebridge generate: cannot write {e.filename or args.output_dir}: {e.strerror or e}",
              file=sys.stderr)
        return 1
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
