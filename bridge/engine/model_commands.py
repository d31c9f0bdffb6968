"""The engine's model-driven commands: sample, variations, morph A->B, humanize, reconstruct,
drumify, model hot swap, and saving patterns as .mid (attribute controls:
``bridge.engine.attributes``).

A mixin of ``bridge.engine.Engine``: commands validate on the control thread, hand a job
to the generation worker (never the scheduler thread) and post the result back to the
control thread, which makes it the pattern (played from the next bar line).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bridge.commands import VARIATIONS_MAX, VARIATIONS_MIN, check_drumify_source, check_temperature
from bridge.engine.command import command, now
from models.groove import Groove
from models.latent import slerp

if TYPE_CHECKING:  # pragma: no cover
    from bridge.engine.core import Engine as _Base
else:
    _Base = object

MORPH_SEED = 1234  # one seed for every morph position: the slider moves smoothly
Z_CACHE_SIZE = 8


class EngineModelMixin(_Base):
    # ---- model state (worker thread -> control thread) --------------------------------------------
    def _on_model_state(self, state: str, name: str, error: str) -> None:
        device, timings = self.devices.state(state)  # bridge.engine.device
        self._post(self._model_state, state, name, error, device, timings)

    def _model_state(self, state: str, name: str, error: str, device: str = "",
                     timings: dict[str, float] | None = None) -> None:
        changes: dict[str, Any] = {"model_state": state, "model_name": name}
        if device:
            changes["device"] = device
        if timings is not None and state == "ready":
            changes["device_timings"] = timings
        if error:
            changes["last_error"] = f"model {name!r}: {error}"
        self._update(**changes)
        self._z_cache.clear()
        if state != "loading":
            self._attributes_for_model()
        self._emit("model", {"state": state, "name": name, "error": error, "device": device})
        if state == "ready" and self._auto_sample and self._snap.pattern_source == "empty":
            now(self.sample, None, None)

    @command
    def set_model(self, name_or_path: str) -> None:
        name = str(name_or_path)
        self._load_model(name)  # on the engine's device (bridge.engine.device)

    def _submit(self, fn: Any, then: Any, key: str | None = None) -> None:
        """Run ``fn(model)`` on the worker; ``then(result)`` on the control thread."""

        def done(result: Any, error: BaseException | None) -> None:
            if error is not None:
                self._post(self._error, f"{type(error).__name__}: {error}")
            else:
                self._post(then, result)

        self.worker.submit(fn, done, key=key)  # type: ignore[union-attr]

    def _num_steps(self) -> int:
        model = self.worker.model if self.worker is not None else None
        return int(getattr(model, "num_steps", 64) or 64)

    # ---- settings for generation ------------------------------------------------------------------
    @command
    def set_temperature(self, temperature: float) -> None:
        t = check_temperature(temperature)
        self._update(temperature=t)
        self._emit("settings", {"temperature": t})

    @command
    def set_num_variations(self, n: int) -> None:
        value = int(round(float(n)))
        if not VARIATIONS_MIN <= value <= VARIATIONS_MAX:
            raise ValueError(f"number of variations {n!r} must be {VARIATIONS_MIN}-{VARIATIONS_MAX}")
        self._update(num_variations=value)
        self._emit("settings", {"num_variations": value})

    # ---- sample and choose -------------------------------------------------------------------------
    @command
    def sample(self, n: int | None = None, temperature: float | None = None) -> None:
        count = self._snap.num_variations if n is None else int(n)
        if not VARIATIONS_MIN <= count <= VARIATIONS_MAX:
            raise ValueError(f"number of variations {n!r} must be {VARIATIONS_MIN}-{VARIATIONS_MAX}")
        temp = self._snap.temperature if temperature is None else check_temperature(temperature)
        self._submit(self._sample_job(count, temp), self._sampled, key="sample")

    def _sampled(self, result: tuple[list[Groove], list[Groove], dict[str, float]]) -> None:
        grooves, sources, attrs = result  # sources: not shifted by the attributes (engine_attributes)
        bpm = self._clock.bpm
        variations = tuple(g.with_changes(bpm=bpm) for g in grooves)
        self._variation_sources = tuple(g.with_changes(bpm=bpm) for g in sources)
        self._variation_applied = attrs
        if variations:  # the variations and the pattern they start with change together
            self._set_pattern(variations[0], "sample", attr_source=self._variation_sources[0], applied=attrs,
                              variations=variations, selected_variation=0)
        else:
            self._update(variations=variations, selected_variation=-1)
        self._emit("variations", {"variations": variations, "selected": 0})

    @command
    def select_variation(self, index: int) -> None:
        i = int(index)
        variations = self._snap.variations
        if not 0 <= i < len(variations):
            raise IndexError(f"variation {index!r} does not exist (have {len(variations)})")
        sources = self._variation_sources
        source = sources[i] if len(sources) == len(variations) else None
        self._set_pattern(variations[i], f"variation {i + 1}", attr_source=source,
                          applied=self._variation_applied if source is not None else None, selected_variation=i)
        self._emit("variations", {"variations": variations, "selected": i})

    # ---- morph A -> B ------------------------------------------------------------------------------
    @command
    def set_interpolation(self, position: float) -> None:
        p = float(position)
        if not math.isfinite(p):
            raise ValueError(f"interpolation position {position!r} is not a number")
        p = min(1.0, max(0.0, p))
        self._update(interpolation=p)
        self._emit("settings", {"interpolation": p})
        a, b = self._snap.slots.get("A"), self._snap.slots.get("B")
        if a is None or b is None:
            raise ValueError("interpolation needs grooves in slots A and B")
        self._morph_target = p
        temp = self._snap.temperature
        self._submit(lambda model: self._morph(model, a, b, temp), self._morphed, key="morph")

    def _encode_cached(self, model: Any, groove: Groove) -> np.ndarray:
        """Encoder mean of ``groove`` (worker thread only); cached per groove object."""
        z = self._z_known(groove)
        if z is None:
            z = self._remember_z(groove, np.asarray(model.encode([groove.fit_steps(self._num_steps())]))[0])
        return z

    def _z_known(self, groove: Groove) -> np.ndarray | None:
        hit = self._z_cache.get(id(groove))
        return hit[1] if hit is not None and hit[0] is groove else None

    def _remember_z(self, groove: Groove, z: np.ndarray) -> np.ndarray:
        """Cache ``z`` as the active model's latent of ``groove`` (worker thread only): a pattern
        decoded from a known z is never encoded again to move on from it (follow)."""
        if len(self._z_cache) >= Z_CACHE_SIZE:
            self._z_cache.pop(next(iter(self._z_cache)))
        self._z_cache[id(groove)] = (groove, z)
        return z

    def _morph(self, model: Any, a: Groove, b: Groove, temperature: float) -> tuple[float, Groove]:
        p = self._morph_target  # the latest slider position, read when the job runs
        z = slerp(self._encode_cached(model, a), self._encode_cached(model, b), p)
        groove = model.decode(z[None, :], temperature=temperature, seed=MORPH_SEED)[0]
        return p, groove

    def _morphed(self, result: tuple[float, Groove]) -> None:
        p, groove = result
        self._set_pattern(groove.with_changes(bpm=self._clock.bpm), f"morph {p:.2f}")

    # ---- humanize, reconstruct ----------------------------------------------------------------------
    def _current_pattern(self) -> Groove:
        pattern = self._snap.pattern
        if pattern.num_hits == 0:
            raise ValueError("the current pattern is empty")
        return pattern

    @command
    def humanize(self, amount: float = 1.0) -> None:
        a = float(amount)
        if not (math.isfinite(a) and 0.0 <= a <= 1.0):
            raise ValueError(f"humanize amount {amount!r} must be 0-1")
        original = self._current_pattern().fit_steps(self._num_steps())
        temp = self._snap.temperature

        def job(model: Any) -> Groove:
            return self.worker.humanizer(model).humanize(original, temperature=temp, amount=a)

        self._submit(job, lambda g: self._set_pattern(g, "humanize"), key="humanize")

    @command
    def reconstruct(self) -> None:
        original = self._current_pattern().fit_steps(self._num_steps())
        temp = self._snap.temperature
        self._submit(
            lambda model: model.reconstruct(original, temperature=temp),
            lambda g: self._set_pattern(g.with_changes(bpm=original.bpm), "reconstruct"),
            key="reconstruct",
        )

    # ---- drumify ------------------------------------------------------------------------------------
    @command
    def drumify(self, source: str = "pattern") -> None:
        """Turn a rhythm into drums: the groove in slot "a" or "b" or the playing "pattern", every
        hit of it (on any drum class) a tap, through the Drumify model (the shipped "drumify"
        unless the active model is one), at temperature 0; the result plays from the next bar."""
        what = check_drumify_source(source).lower()
        if what == "pattern":
            rhythm, label = self._current_pattern(), "pattern"
        else:
            key = what.upper()
            groove = self._snap.slots.get(key)
            if groove is None:
                raise ValueError(f"slot {key} is empty: nothing to drumify")
            if groove.num_hits == 0:
                raise ValueError(f"slot {key} has no notes to drumify")
            rhythm, label = groove, f"slot {key}"
        bpm = self._clock.bpm

        def job(model: Any) -> Groove:
            return self.worker.drumifier(model).drumify(rhythm, temperature=0.0)  # type: ignore[union-attr]

        self._submit(job, lambda g: self._set_pattern(g.with_changes(bpm=bpm), f"drumify {label}"), key="drumify")

    # ---- saving ------------------------------------------------------------------------------------
    @command
    def save_pattern(self, path: str | Path) -> None:
        self._write(self._current_pattern(), Path(path))
        self._emit("settings", {"saved": str(path)})

    def _write(self, groove: Groove, path: Path) -> None:
        from models.midi.files import write_midi

        s = self._snap
        write_midi(groove, path, bpm=self._clock.bpm, drum_map=s.output_drum_map,
                   channel=self.settings.midi_output_channel - 1)

    @command
    def save_variations(self, directory: str | Path) -> None:
        variations = self._snap.variations
        if not variations:
            raise ValueError("there are no variations to save (sample first)")
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        for i, groove in enumerate(variations, 1):
            self._write(groove, folder / f"variation_{i:02d}.mid")
        self._emit("settings", {"saved": str(folder), "count": len(variations)})
