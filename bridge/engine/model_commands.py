"""The engine's model-driven commands (``ModelCommands``, a collaborator of the engine): model
and device choice, sample, variations, morph A->B, humanize, reconstruct, drumify, and saving
patterns as .mid (attribute controls: ``bridge.engine.attributes``).

Commands validate on the control thread, hand a job to the generation worker (never the
scheduler thread) and get the result back on the control thread, which makes it the pattern
(played from the next bar line, ``bridge.engine.patterns``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from bridge.commands import (
    VARIATIONS_MAX,
    VARIATIONS_MIN,
    check_drumify_source,
    check_slot,
    check_temperature,
    is_starter_source,
)
from bridge.engine.attributes import Attributes, SampleResult
from bridge.engine.context import EngineContext
from bridge.engine.device import DevicePlacer
from bridge.engine.patterns import Patterns
from models.groove import Groove
from models.inference_device import check_device_choice
from models.latent import slerp
from models.protocols import GrooveModelLike

log = logging.getLogger(__name__)

MORPH_SEED = 1234  # one seed for every morph position: the slider moves smoothly


class ModelCommands:
    def __init__(self, ctx: EngineContext, patterns: Patterns, attributes: Attributes, devices: DevicePlacer,
                 auto_sample: bool = True) -> None:
        self._ctx = ctx
        self._patterns = patterns
        self._attributes = attributes
        self._devices = devices
        self._auto_sample = auto_sample  # sample once the first model is ready, if nothing plays
        self.variation_sources: tuple[Groove, ...] = ()  # the un-shifted decode of each variation
        self.variation_applied: dict[str, float] = {}  # the shift the variations were drawn with
        self._morph_target = 0.0  # the latest slider position (read by the morph job)

    # ---- model and device ---------------------------------------------------------------------------
    def load_model(self, name: str) -> None:
        """Load ``name`` on the generation worker, on the device of the device setting."""
        pref = self._ctx.snap.device_preference
        self._ctx.running_worker().load(name, loader=lambda n: self._devices.load_main(n, pref))

    def set_model(self, name_or_path: str) -> None:
        self.load_model(str(name_or_path))

    def set_device(self, preference: str) -> None:
        """Reload the active model on ``preference`` (auto | cpu | cuda | mps)."""
        ctx = self._ctx
        pref = check_device_choice(preference)
        ctx.update(device_preference=pref)
        ctx.emit("settings", {"device": pref})
        self.load_model(ctx.snap.model_name or ctx.settings.model)

    def on_model_state(self, state: str, name: str, error: str) -> None:  # worker thread
        device, timings = self._devices.state(state)
        self._ctx.post(self._model_state, state, name, error, device, timings)

    def _model_state(self, state: str, name: str, error: str, device: str = "",
                     timings: dict[str, float] | None = None) -> None:
        ctx = self._ctx
        worker = ctx.worker
        if state == "error" and worker is not None and worker.model is not None:
            # The previous model is still loaded and keeps playing: say why the new one failed
            # and go back to it (not a lasting "error" state beside a model that works).
            previous = worker.model_name
            ctx.error(f"model {name!r} could not be loaded ({error}); keeping {previous!r}")
            ctx.update(model_state="ready", model_name=previous)
            ctx.emit("model", {"state": "ready", "name": previous, "error": "", "device": device})
            return
        changes: dict[str, Any] = {"model_state": state, "model_name": name}
        if device:
            changes["device"] = device
        if timings is not None and state == "ready":
            changes["device_timings"] = timings
        if error:
            changes["last_error"] = f"model {name!r}: {error}"
        ctx.update(**changes)
        if state != "loading":
            self._attributes.model_changed()
        ctx.emit("model", {"state": state, "name": name, "error": error, "device": device})
        if state == "ready" and self._auto_sample:
            source = ctx.snap.pattern_source
            if source == "empty":
                self.sample()
            elif is_starter_source(source) and not ctx.clock.is_playing:
                # A starter nobody touched and nobody hears: the model's own sample (with its
                # variations) replaces it, but only if it is still that starter when the sample
                # lands: a command queued on the worker during the load (humanize, drumify,
                # a morph, a sample from OSC) lands first and is kept.
                self.sample(only_over=source)

    # ---- settings for generation ------------------------------------------------------------------
    def set_temperature(self, temperature: float) -> None:
        t = check_temperature(temperature)
        self._ctx.update(temperature=t)
        self._ctx.emit("settings", {"temperature": t})

    def set_num_variations(self, n: int) -> None:
        value = int(round(float(n)))
        if not VARIATIONS_MIN <= value <= VARIATIONS_MAX:
            raise ValueError(f"number of variations {n!r} must be {VARIATIONS_MIN}-{VARIATIONS_MAX}")
        self._ctx.update(num_variations=value)
        self._ctx.emit("settings", {"num_variations": value})

    # ---- sample and choose -------------------------------------------------------------------------
    def sample(self, n: int | None = None, temperature: float | None = None, only_over: str | None = None) -> None:
        """``only_over``: apply the result only if the playing pattern's source is still this."""
        snap = self._ctx.snap
        count = snap.num_variations if n is None else int(n)
        if not VARIATIONS_MIN <= count <= VARIATIONS_MAX:
            raise ValueError(f"number of variations {n!r} must be {VARIATIONS_MIN}-{VARIATIONS_MAX}")
        temp = snap.temperature if temperature is None else check_temperature(temperature)
        # the first sample over a starter has a key of its own: it never replaces a sample the
        # user queued during the load (a waiting job of the same key is replaced)
        self._ctx.submit(self._attributes.sample_job(count, temp), lambda result: self._sampled(result, only_over),
                         key="sample" if only_over is None else "sample-over-starter")

    def _sampled(self, result: SampleResult, only_over: str | None = None) -> None:
        if only_over is not None and self._ctx.snap.pattern_source != only_over:
            log.info("first sample not applied: the pattern changed to %r meanwhile", self._ctx.snap.pattern_source)
            return
        grooves, sources, attrs = result  # sources: not shifted by the attributes
        bpm = self._ctx.clock.bpm
        variations = tuple(g.with_changes(bpm=bpm) for g in grooves)
        self.variation_sources = tuple(g.with_changes(bpm=bpm) for g in sources)
        self.variation_applied = attrs
        if variations:  # the variations and the pattern they start with change together
            self._patterns.set_pattern(variations[0], "sample", attr_source=self.variation_sources[0],
                                       applied=attrs, variations=variations, selected_variation=0)
        else:
            self._ctx.update(variations=variations, selected_variation=-1)
        self._ctx.emit("variations", {"variations": variations, "selected": 0})

    def sample_slot(self, slot: str, temperature: float | None = None) -> None:
        """Sample one groove into ``slot``; the variations and the playing pattern stay."""
        key = check_slot(slot)
        temp = self._ctx.snap.temperature if temperature is None else check_temperature(temperature)

        def into_slot(result: SampleResult) -> None:
            self._patterns.set_slot(key, result[0][0].with_changes(bpm=self._ctx.clock.bpm))

        self._ctx.submit(self._attributes.sample_job(1, temp), into_slot, key=f"sample-slot-{key}")

    def select_variation(self, index: int) -> None:
        i = int(index)
        variations = self._ctx.snap.variations
        if not 0 <= i < len(variations):
            raise IndexError(f"variation {index!r} does not exist (have {len(variations)})")
        sources = self.variation_sources
        source = sources[i] if len(sources) == len(variations) else None
        self._patterns.set_pattern(variations[i], f"variation {i + 1}", attr_source=source,
                                   applied=self.variation_applied if source is not None else None,
                                   selected_variation=i)
        self._ctx.emit("variations", {"variations": variations, "selected": i})

    # ---- morph A -> B ------------------------------------------------------------------------------
    def set_interpolation(self, position: float) -> None:
        ctx = self._ctx
        p = float(position)
        if not math.isfinite(p):
            raise ValueError(f"interpolation position {position!r} is not a number")
        p = min(1.0, max(0.0, p))
        a, b = ctx.snap.slots.get("A"), ctx.snap.slots.get("B")
        if a is None or b is None:  # refused before anything changes: no echo of the value
            raise ValueError("interpolation needs grooves in slots A and B")
        ctx.update(interpolation=p)
        ctx.emit("settings", {"interpolation": p})
        self._morph_target = p
        temp = ctx.snap.temperature
        latents = ctx.running_worker().latents

        def morph(model: GrooveModelLike) -> tuple[float, Groove]:  # worker thread
            p, steps = self._morph_target, ctx.num_steps()  # the latest slider position, read when the job runs
            z = slerp(latents.encode(model, a, steps), latents.encode(model, b, steps), p)
            return p, model.decode(z[None, :], temperature=temp, seed=MORPH_SEED)[0]

        ctx.submit(morph, self._morphed, key="morph")

    def _morphed(self, result: tuple[float, Groove]) -> None:
        p, groove = result
        self._patterns.set_pattern(groove.with_changes(bpm=self._ctx.clock.bpm), f"morph {p:.2f}")

    # ---- humanize, reconstruct ----------------------------------------------------------------------
    def humanize(self, amount: float = 1.0) -> None:
        a = float(amount)
        if not (math.isfinite(a) and 0.0 <= a <= 1.0):
            raise ValueError(f"humanize amount {amount!r} must be 0-1")
        ctx = self._ctx
        original = self._patterns.current().fit_steps(ctx.num_steps())
        temp = ctx.snap.temperature
        worker = ctx.running_worker()

        def job(model: GrooveModelLike) -> Groove:
            return worker.humanizer(model).humanize(original, temperature=temp, amount=a)

        ctx.submit(job, lambda g: self._patterns.set_pattern(g, "humanize"), key="humanize")

    def reconstruct(self) -> None:
        ctx = self._ctx
        original = self._patterns.current().fit_steps(ctx.num_steps())
        temp = ctx.snap.temperature
        ctx.submit(
            lambda model: model.reconstruct(original, temperature=temp),
            lambda g: self._patterns.set_pattern(g.with_changes(bpm=original.bpm), "reconstruct"),
            key="reconstruct",
        )

    # ---- drumify ------------------------------------------------------------------------------------
    def drumify(self, source: str = "pattern") -> None:
        """Turn a rhythm into drums: the groove in slot "a" or "b" or the playing "pattern", every
        hit of it (on any drum class) a tap, through the Drumify model (the shipped "drumify"
        unless the active model is one), at temperature 0; the result plays from the next bar."""
        ctx = self._ctx
        what = check_drumify_source(source).lower()
        if what == "pattern":
            rhythm, label = self._patterns.current(), "pattern"
        else:
            key = what.upper()
            groove = ctx.snap.slots.get(key)
            if groove is None:
                raise ValueError(f"slot {key} is empty: nothing to drumify")
            if groove.num_hits == 0:
                raise ValueError(f"slot {key} has no notes to drumify")
            rhythm, label = groove, f"slot {key}"
        bpm = ctx.clock.bpm
        worker = ctx.running_worker()

        def job(model: GrooveModelLike) -> Groove:
            return worker.drumifier(model).drumify(rhythm, temperature=0.0)

        ctx.submit(job, lambda g: self._patterns.set_pattern(g.with_changes(bpm=bpm), f"drumify {label}"),
                   key="drumify")

    # ---- saving ------------------------------------------------------------------------------------
    def save_pattern(self, path: str | Path) -> None:
        self._write(self._patterns.current(), Path(path))
        self._ctx.emit("settings", {"saved": str(path)})

    def save_variations(self, directory: str | Path) -> None:
        variations = self._ctx.snap.variations
        if not variations:
            raise ValueError("there are no variations to save (sample first)")
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        for i, groove in enumerate(variations, 1):
            self._write(groove, folder / f"variation_{i:02d}.mid")
        self._ctx.emit("settings", {"saved": str(folder), "count": len(variations)})

    def _write(self, groove: Groove, path: Path) -> None:
        from models.midi.files import write_midi

        ctx = self._ctx
        write_midi(groove, path, bpm=ctx.clock.bpm, drum_map=ctx.snap.output_drum_map,
                   channel=ctx.settings.midi_output_channel - 1)
