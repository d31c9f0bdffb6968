"""The engine's musical attribute controls: density, intensity, laid back, swing, syncopation,
hi-hat <-> ride and fills (``models.net.attributes``), in standard deviations -2..2.

A mixin of ``bridge.engine.Engine``. The engine keeps the current values (all 0 at start, in
``EngineSnapshot.attributes``) and, for the playing pattern, its *source*: the groove it was
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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bridge.engine.command import command
from models.groove import Groove
from models.net.attributes import ATTRIBUTE_NAMES, AttributeValueError, check_attributes

if TYPE_CHECKING:  # pragma: no cover
    from bridge.engine.core import Engine as _Base
else:
    _Base = object

ZERO_ATTRIBUTES: dict[str, float] = dict.fromkeys(ATTRIBUTE_NAMES, 0.0)


def has_directions(model: Any) -> bool:
    """Whether ``model`` can shift along the attribute directions (a fitted prior with them)."""
    prior = getattr(model, "prior", None)
    return prior is not None and getattr(prior, "directions", None) is not None


def nonzero(attributes: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in attributes.items() if float(v) != 0.0}


def shift_label(base: str, attributes: Mapping[str, float]) -> str:
    """The pattern source shown for a shifted pattern, e.g. "sample · density +1.5"."""
    moved = nonzero(attributes)
    if not moved:
        return f"{base} · reconstructed"
    return f"{base} · " + ", ".join(f"{k} {v:+.2g}" for k, v in moved.items())


class EngineAttributeMixin(_Base):
    _attr_source: Groove | None = None  # the playing pattern before any attribute shift
    _attr_label: str = ""  # its pattern_source
    _attr_applied: dict[str, float] = ZERO_ATTRIBUTES  # the shift the playing pattern has
    _variation_sources: tuple[Groove, ...] = ()  # the un-shifted decode of each variation
    _variation_applied: dict[str, float] = ZERO_ATTRIBUTES  # the shift the variations were drawn with

    # ---- commands ------------------------------------------------------------------------------
    @command
    def set_attribute(self, name: str, value: float) -> None:
        """Set one attribute (-2..2 standard deviations); the playing pattern follows at the next bar."""
        self._apply_attributes({name: value}, False)

    @command
    def set_attributes(self, values: Mapping[str, float]) -> None:
        """Set several attributes at once (one re-decode), e.g. the app's density/intensity pad."""
        self._apply_attributes(dict(values), False)

    @command
    def reset_attributes(self) -> None:
        """Every attribute back to 0: the playing pattern becomes its source's reconstruction."""
        self._apply_attributes({}, True)

    def _apply_attributes(self, values: dict[str, Any], reset: bool) -> None:
        checked = check_attributes(values)  # unknown names and values outside -2..2: one line
        snap = self._snap
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
            self._update(attributes=attrs)
            self._emit("settings", {"attributes": dict(attrs)})
        elif attrs == self._attr_applied:
            return  # the playing pattern has these values already
        self._reshift()  # also when a pattern from elsewhere (unshifted) plays under these values

    # ---- re-decoding the playing pattern ---------------------------------------------------------
    def _reshift(self) -> None:
        source = self._attr_source
        if source is None or source.num_hits == 0:
            return  # nothing playing: the values apply to the next sample
        steps = self._num_steps()
        if source.num_steps % steps:
            raise ValueError(f"attributes: the pattern has {source.num_steps} steps, not a multiple of {steps}")

        def job(model: Any) -> tuple[Groove, dict[str, float], Groove]:
            attrs = dict(self._snap.attributes)  # the latest values, read when the job runs
            return source, attrs, model.shift(source, attrs)

        self._submit(job, self._shifted, key="attributes")

    def _shifted(self, result: tuple[Groove, dict[str, float], Groove]) -> None:
        source, attrs, groove = result
        if source is not self._attr_source:
            return  # another pattern took over meanwhile: it is the source now
        base = self._attr_label
        self._set_pattern(groove.with_changes(bpm=self._clock.bpm), shift_label(base, attrs), attr_source=source,
                          applied=attrs)
        self._attr_label = base  # later shifts are labelled after the source, not after this one

    # ---- hooks for the other commands -------------------------------------------------------------
    def _remember_source(self, groove: Groove, label: str, attr_source: Groove | None,
                         applied: dict[str, float] | None) -> None:
        """Called by ``_set_pattern``: the un-shifted source of the pattern now playing, and the
        attribute values it embodies (a pattern from elsewhere: none, as if all were 0)."""
        self._attr_source = groove if attr_source is None else attr_source
        self._attr_label = label
        self._attr_applied = dict(ZERO_ATTRIBUTES) if applied is None else {**ZERO_ATTRIBUTES, **applied}

    def _sample_job(self, count: int, temperature: float) -> Any:
        """The worker job for ``sample``: (grooves, their un-shifted sources, the attributes)."""
        attrs = nonzero(self._snap.attributes) if self._snap.attributes_available else {}
        if not attrs:

            def plain(model: Any) -> tuple[list[Groove], list[Groove], dict[str, float]]:
                grooves = model.sample(count, temperature=temperature)
                return grooves, grooves, {}

            return plain
        seed = random.randrange(2**31)

        def shifted(model: Any) -> tuple[list[Groove], list[Groove], dict[str, float]]:
            # The same seed draws the same latents: the second call is the un-shifted decode,
            # the source later attribute moves start from (so they never compound).
            moved = model.sample(count, temperature=temperature, seed=seed, attributes=attrs)
            return moved, model.sample(count, temperature=temperature, seed=seed), attrs

        return shifted

    def _attributes_for_model(self) -> None:
        """On a model change (ready or failed load): is the active model able to shift?"""
        model = self.worker.model if self.worker is not None else None
        available = has_directions(model)
        changes: dict[str, Any] = {"attributes_available": available}
        reset = not available and bool(nonzero(self._snap.attributes))
        if reset:
            changes["attributes"] = dict(ZERO_ATTRIBUTES)
        if available != self._snap.attributes_available or reset:
            self._update(**changes)
            self._emit("settings", {"attributes": dict(self._snap.attributes), "attributes_available": available})
