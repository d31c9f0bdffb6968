"""Follow mode: every bar line (or every 2 / 4 bars) the next pattern is generated from the
last 1, 2 or 4 bars played, and plays from the next bar line.

``Follow`` is a collaborator of the engine. The control thread watches the clock
(``Follow.watch``, called from its loop): when a bar line ``L`` (a multiple of "every"
bars) has passed, it quantises the input window ending at ``L`` (``CaptureBuffer.window``),
repeats a 1- or 2-bar window to the model's 4 bars, and hands one job to the generation
worker (never the scheduler thread):

* source "drums": encode the played window (``encode_quick``: the model's distilled follow
  encoder where it ships one), slerp from the playing pattern's encoding towards it by the
  follow amount, decode at the follow temperature (the active model);
* source "rhythm": drumify the played window (the Drumify model, every hit a tap); amount 1
  plays the drumified groove, a smaller amount slerps from the playing pattern's encoding
  towards the drumified groove's (active model) and decodes.

The result is meant for bar line ``L + 1 bar`` and goes through the engine's next-bar-line
swap. If it is not handed to the player before that bar is queued (the player queues a bar
``EARLY_BEATS`` plus its guard time and the latency before it), it is skipped, never played
late, and counted in ``follow_late``; a trigger that finds the previous job unfinished counts
that one late and replaces it (the worker keeps one waiting "follow" job at most). A silent
window, one that ends in silence (the player stopped: ``played_part``) or amount 0 keeps the
pattern; bars before the player started are left out of the window. The latent of each follow result is cached by the
generation worker (``GenerationWorker.latents``), so the next bar encodes the played window only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from bridge.commands import (
    check_follow_amount,
    check_follow_bars,
    check_follow_source,
    check_follow_temperature,
)
from bridge.engine.capture import CaptureBuffer
from bridge.engine.context import EngineContext
from bridge.engine.generation import GenerationWorker
from bridge.engine.patterns import Patterns
from models.groove import BEATS_PER_BAR, EARLY_BEATS, STEPS_PER_BAR, Groove
from models.latent import slerp
from models.protocols import GrooveModelLike

FOLLOW_SEED = 4321  # one seed for every follow decode: the pattern moves, it does not reshuffle
HANDOFF_SEC = 0.03  # control thread -> scheduler thread hand-over allowance before a bar is queued
HALF_BAR_STEPS = STEPS_PER_BAR // 2  # a silence up to this long is part of playing, however dense
CONTEXT_BARS = 4  # the bars read for the player's own longest gap (a 1-bar window is too short)


def onset_steps(groove: Groove) -> np.ndarray:
    """The steps where anything was played."""
    return np.flatnonzero(groove.hits.any(axis=1))


def longest_gap(groove: Groove) -> int:
    """The longest gap in steps between two onsets (0 with fewer than two): how sparse this
    player plays, so that a whole note a bar is not taken for a stop."""
    steps = onset_steps(groove)
    return int(np.diff(steps).max()) if len(steps) > 1 else 0


def played_part(window: Groove, gap_steps: int) -> Groove | None:
    """The part of a follow window the player was playing, or None to keep the pattern.

    A musician who stops expects the pattern to stay; one who starts, that it follows what is
    played once whole bars of it are in. So with ``limit`` = the longer of half a bar and the
    player's own longest gap (``gap_steps``): a window that ends in a silence longer than the
    limit is a stop (None: the old code followed such half-silent windows, and the pattern
    thinned bar by bar after the player stopped); bars before the first onset, and the bar of the
    first onset if it starts more than the limit late, are left out (a start: only the whole
    bars played are followed, repeated to 4 bars by ``repeat_to``)."""
    steps = onset_steps(window)
    if len(steps) == 0:
        return None
    limit = max(HALF_BAR_STEPS, int(gap_steps))
    if window.num_steps - 1 - int(steps[-1]) > limit:
        return None
    first = int(steps[0])
    start_bar = first // STEPS_PER_BAR + (1 if first % STEPS_PER_BAR > limit else 0)
    if start_bar == 0:
        return window
    start = start_bar * STEPS_PER_BAR
    if start >= window.num_steps:
        return None
    return Groove(window.hits[start:], window.velocities[start:], window.offsets[start:], window.bpm)


def repeat_to(groove: Groove, num_steps: int) -> Groove:
    """``groove`` repeated (and cut) to ``num_steps`` steps: a 1- or 2-bar window fills 4 bars."""
    if groove.num_steps == num_steps or groove.num_steps == 0:
        return groove.fit_steps(num_steps)
    reps = -(-num_steps // groove.num_steps)

    def tile(a: np.ndarray) -> np.ndarray:
        return np.tile(a, (reps, 1))[:num_steps]

    return Groove(tile(groove.hits), tile(groove.velocities), tile(groove.offsets), groove.bpm)


def on_off(value: object) -> bool:
    """On/off from a bool, 0/1 or on/off text; ValueError (one line) otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("1", "on", "true", "yes"):
            return True
        if low in ("0", "off", "false", "no"):
            return False
    elif isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise ValueError(f"follow {value!r} must be 0/1 (off/on)")


class Follow:
    def __init__(self, ctx: EngineContext, patterns: Patterns, buffer: CaptureBuffer) -> None:
        self._ctx = ctx
        self._patterns = patterns
        self._buffer = buffer
        s = ctx.settings
        self._seen_bar: int | None = None
        self._token = 0
        self._inflight: int | None = None  # the token of the job not finished yet
        ctx.update(follow=s.follow_enabled, follow_source=s.follow_source, follow_every=s.follow_every,
                   follow_bars=s.follow_bars, follow_amount=s.follow_amount, follow_temperature=s.follow_temperature)

    # ---- commands (validated on the control thread: a bad value is one error line) ----------------
    def set_follow(self, on: bool) -> None:
        """Follow mode on or off (off: a generation under way is dropped)."""
        value = on_off(on)
        self._seen_bar = None
        self._inflight = None  # a result still on its way is ignored
        self._ctx.update(follow=value)
        self._ctx.emit("settings", {"follow": value})

    def set_follow_source(self, source: str) -> None:
        """"drums" (encode the played drums) or "rhythm" (drumify the played taps)."""
        self._setting("follow_source", check_follow_source, source)

    def set_follow_every(self, bars: int) -> None:
        """Generate every 1, 2 or 4 bars."""
        self._setting("follow_every", check_follow_bars, bars)

    def set_follow_bars(self, bars: int) -> None:
        """Take the last 1, 2 or 4 bars played as input (repeated to 4 bars)."""
        self._setting("follow_bars", lambda v: check_follow_bars(v, "follow bars"), bars)

    def set_follow_amount(self, amount: float) -> None:
        """0-1: how far the next pattern moves from the playing one towards the played groove."""
        self._setting("follow_amount", check_follow_amount, amount)

    def set_follow_temperature(self, temperature: float) -> None:
        """(0, 5]: the temperature of the follow decodes."""
        self._setting("follow_temperature", check_follow_temperature, temperature)

    def _setting(self, field: str, check: Callable[[Any], Any], value: object) -> None:
        checked = check(value)
        self._ctx.update(**{field: checked})
        self._ctx.emit("settings", {field: checked})

    # ---- the bar-line watch (control thread) --------------------------------------------------------
    def watch(self) -> None:
        ctx = self._ctx
        snap, clock = ctx.snap, ctx.clock
        if not snap.follow or not clock.is_playing or ctx.worker is None:
            self._seen_bar = None
            return
        bar = math.floor((ctx.beat_now() - EARLY_BEATS) / BEATS_PER_BAR)  # late hits of the window's last step are in
        seen = self._seen_bar
        self._seen_bar = bar
        if seen is None or bar <= seen:
            return
        if bar % snap.follow_every == 0:
            self._trigger(bar * BEATS_PER_BAR)

    def _deadline_beat(self, target_beat: float) -> float:
        """The last beat at which a pattern handed to the player still plays from ``target_beat``."""
        player = self._ctx.player
        lead_sec = HANDOFF_SEC + float(getattr(player, "guard_sec", 0.0)) + max(0.0, float(getattr(player, "latency_sec", 0.0)))
        return target_beat - EARLY_BEATS - lead_sec * self._ctx.clock.bpm / 60.0

    def _past(self, deadline_beat: float) -> bool:
        return self._ctx.beat_now() >= deadline_beat

    def _trigger(self, line_beat: float) -> None:
        ctx = self._ctx
        snap, clock, worker = ctx.snap, ctx.clock, ctx.running_worker()
        if self._inflight is not None:  # the previous one is not done: it can only be late now
            self._inflight = None
            self._count_late()
        n = snap.follow_bars
        window = self._buffer.window(line_beat - n * BEATS_PER_BAR, n, bpm=clock.bpm)
        context = window if n >= CONTEXT_BARS else self._buffer.window(
            line_beat - CONTEXT_BARS * BEATS_PER_BAR, CONTEXT_BARS, bpm=clock.bpm)
        part = played_part(window, longest_gap(context))
        if part is None or snap.follow_amount <= 0.0:
            return  # silence, a stop (the window ends silent) or amount 0 keeps the pattern
        played = repeat_to(part, ctx.num_steps())
        self._token += 1
        token = self._token
        self._inflight = token
        deadline = self._deadline_beat(line_beat + BEATS_PER_BAR)
        args = (token, deadline, played, snap.pattern, snap.follow_source, snap.follow_amount,
                snap.follow_temperature, clock.bpm)
        source = f"follow {snap.follow_source}"

        def done(result: Any, error: BaseException | None) -> None:  # worker thread
            ctx.post(self._followed, token, deadline, result, error, source)

        worker.submit(lambda model: self._job(worker, model, *args), done, key="follow")

    # ---- the job (generation worker) ------------------------------------------------------------------
    def _job(self, worker: GenerationWorker, model: GrooveModelLike, token: int, deadline: float, played: Groove,
             current: Groove, source: str, amount: float, temperature: float, bpm: float) -> Groove | None:
        """The next pattern, at ``bpm``. One encode and one decode a bar for "drums": the playing
        pattern's latent is known when it came from follow (cached with the pattern by the
        worker), otherwise it is encoded too."""
        if token != self._inflight or self._past(deadline):
            return None  # replaced, switched off or already too late: skip the model calls
        num_steps = self._ctx.num_steps()
        latents = worker.latents
        if source == "rhythm":
            drums = worker.drumifier(model).drumify(played, temperature=0.0)
            if amount >= 1.0 or current.num_hits == 0:
                out: Groove = drums.fit_steps(num_steps).with_changes(bpm=bpm)
                return out
            played = drums.fit_steps(num_steps)
        z_current = None if current.num_hits == 0 else latents.get(current)
        # the played window by the distilled follow encoder where the model ships one (the
        # default's: 0.47x the full encoder's time, models/pretrained/MODEL_CARD.md); the pattern's latent, when
        # not cached (the first bar after a pattern that did not come from follow), by the full one
        target = np.asarray(model.encode_quick([played]))[0]
        if current.num_hits and z_current is None:
            z_current = latents.put(current, np.asarray(model.encode([current.fit_steps(num_steps)]))[0])
        z = target if z_current is None else slerp(z_current, target, amount)
        result = model.decode(np.asarray(z)[None, :], temperature=temperature, seed=FOLLOW_SEED)[0]
        out = result.with_changes(bpm=bpm)
        latents.put(out, np.asarray(z))
        return out

    # ---- the result (control thread) ------------------------------------------------------------------
    def _followed(self, token: int, deadline: float, result: Groove | None, error: BaseException | None,
                  source: str) -> None:
        if token != self._inflight:
            return  # already counted late, or follow was switched off
        self._inflight = None
        if error is not None:
            self._ctx.error(f"follow: {type(error).__name__}: " + (str(error).strip().splitlines() or [""])[0])
            return
        if result is None or self._past(deadline):
            self._count_late()  # never played late, never queued for a later bar
            return
        self._patterns.set_pattern(result, source, follow_updates=self._ctx.snap.follow_updates + 1)

    def _count_late(self) -> None:
        late = self._ctx.snap.follow_late + 1
        self._ctx.update(follow_late=late)
        self._ctx.emit("settings", {"follow_late": late})
