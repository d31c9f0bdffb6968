"""The engine's musical attribute controls: density, intensity, laid back, swing, syncopation,
hi-hat <-> ride and fills (``models.net.attributes``), in standard deviations -2..2.

``Attributes`` is a collaborator of the engine (commands on the control thread, the re-decode
on the generation worker). The engine keeps the current values (all 0 at start, in
``EngineSnapshot.attributes``) and, for the playing pattern (``bridge.engine.patterns``), its
*source*: the groove it was
before any attribute shift (a sample's un-shifted decode, a slot, a morph, an edit, ...). A
change of the values re-decodes the playing pattern from that source with
``model.shift(source, values)`` on the generation worker (deterministic, temperature 0) and the
result plays from the next bar line, like every pattern change; the source is kept, so shifts
never compound and all values 0 give back the source's reconstruction. New samples are drawn
with the current values (``model.sample(..., attributes=...)``). A pattern that arrives from
elsewhere (slot, edit, morph, humanize, capture) plays as it is and becomes the new source;
setting any attribute, even to its current value, then applies the values to it.

Models without fitted attribute directions (the humanize model, a run without
``groovebridge fit-prior``): ``attributes_available`` is False, the values are reset to 0 when
such a model becomes active, and setting one is a one-line error event.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from bridge.engine.context import EngineContext
from bridge.engine.patterns import Patterns
from bridge.engine.snapshot import ZERO_ATTRIBUTES
from models.groove import Groove
from models.net.attributes import AttributeValueError, check_attributes
from models.protocols import AttributeModelLike, GrooveModelLike, can_shift

SampleResult = tuple[list[Groove], list[Groove], dict[str, float]]  # grooves, their un-shifted sources, the shift


def has_directions(model: GrooveModelLike | None) -> bool:
    """Whether ``model`` can shift along the attribute directions (a fitted prior with them)."""
    return model is not None and can_shift(model)


def shifting(model: GrooveModelLike) -> AttributeModelLike:
    """``model`` as one that shifts along attribute directions; AttributeValueError if it cannot."""
    if not can_shift(model):
        raise AttributeValueError(f"{model.name} has no attribute directions; run `groovebridge fit-prior` for it")
    return model


def nonzero(attributes: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in attributes.items() if float(v) != 0.0}


def shift_label(base: str, attributes: Mapping[str, float]) -> str:
    """The pattern source shown for a shifted pattern, e.g. "sample · density +1.5"."""
    moved = nonzero(attributes)
    if not moved:
        return f"{base} · reconstructed"
    return f"{base} · " + ", ".join(f"{k} {v:+.2g}" for k, v in moved.items())


class Attributes:
    def __init__(self, ctx: EngineContext, patterns: Patterns) -> None:
        self._ctx = ctx
        self._patterns = patterns

    # ---- commands ------------------------------------------------------------------------------
    def set_attribute(self, name: str, value: float) -> None:
        """Set one attribute (-2..2 standard deviations); the playing pattern follows at the next bar."""
        self._apply({name: value}, False)

    def set_attributes(self, values: Mapping[str, float]) -> None:
        """Set several attributes at once (one re-decode), e.g. the app's density/intensity pad."""
        self._apply(dict(values), False)

    def reset_attributes(self) -> None:
        """Every attribute back to 0: the playing pattern becomes its source's reconstruction."""
        self._apply({}, True)

    def _apply(self, values: dict[str, Any], reset: bool) -> None:
        ctx = self._ctx
        checked = check_attributes(values)  # unknown names and values outside -2..2: one line
        snap = ctx.snap
        if not snap.attributes_available:
            if reset or not values:
                return  # nothing to reset: the values are 0 with such a model
            if snap.model_state != "ready":
                raise AttributeValueError("attributes: the model is not loaded yet")
            raise AttributeValueError(
                f"attributes: model {snap.model_name!r} has no attribute directions "
                "(run `groovebridge fit-prior` for it, or load the default model)"
            )
        attrs = dict(ZERO_ATTRIBUTES) if reset else dict(snap.attributes)
        attrs.update(checked)
        if attrs != snap.attributes:
            ctx.update(attributes=attrs)
            ctx.emit("settings", {"attributes": dict(attrs)})
        elif attrs == self._patterns.applied:
            return  # the playing pattern has these values already
        self._reshift()  # also when a pattern from elsewhere (unshifted) plays under these values

    # ---- re-decoding the playing pattern ---------------------------------------------------------
    def _reshift(self) -> None:
        ctx = self._ctx
        source = self._patterns.source
        if source is None or source.num_hits == 0:
            return  # nothing playing: the values apply to the next sample
        steps = ctx.num_steps()
        if source.num_steps % steps:
            raise ValueError(f"attributes: the pattern has {source.num_steps} steps, not a multiple of {steps}")

        def job(model: GrooveModelLike) -> tuple[Groove, dict[str, float], Groove]:
            attrs = dict(ctx.snap.attributes)  # the latest values, read when the job runs
            return source, attrs, shifting(model).shift(source, attrs)

        ctx.submit(job, self._shifted, key="attributes")

    def _shifted(self, result: tuple[Groove, dict[str, float], Groove]) -> None:
        source, attrs, groove = result
        patterns = self._patterns
        if source is not patterns.source:
            return  # another pattern took over meanwhile: it is the source now
        base = patterns.label
        patterns.set_pattern(groove.with_changes(bpm=self._ctx.clock.bpm), shift_label(base, attrs),
                             attr_source=source, applied=attrs)
        patterns.label = base  # later shifts are labelled after the source, not after this one

    # ---- for the model commands -------------------------------------------------------------------
    def sample_job(self, count: int, temperature: float) -> Callable[[GrooveModelLike], SampleResult]:
        """The worker job for ``sample``: (grooves, their un-shifted sources, the attributes)."""
        snap = self._ctx.snap
        attrs = nonzero(snap.attributes) if snap.attributes_available else {}
        if not attrs:

            def plain(model: GrooveModelLike) -> SampleResult:
                grooves = model.sample(count, temperature=temperature)
                return grooves, grooves, {}

            return plain
        seed = random.randrange(2**31)

        def shifted(model: GrooveModelLike) -> SampleResult:
            # The same seed draws the same latents: the second call is the un-shifted decode,
            # the source later attribute moves start from (so they never compound).
            moved = shifting(model).sample(count, temperature=temperature, seed=seed, attributes=attrs)
            return moved, model.sample(count, temperature=temperature, seed=seed), attrs

        return shifted

    def model_changed(self) -> None:
        """On a model change (ready or failed load): is the active model able to shift?"""
        ctx = self._ctx
        model = ctx.worker.model if ctx.worker is not None else None
        available = has_directions(model)
        changes: dict[str, Any] = {"attributes_available": available}
        reset = not available and bool(nonzero(ctx.snap.attributes))
        if reset:
            changes["attributes"] = dict(ZERO_ATTRIBUTES)
        if available != ctx.snap.attributes_available or reset:
            ctx.update(**changes)
            ctx.emit("settings", {"attributes": dict(ctx.snap.attributes), "attributes_available": available})
