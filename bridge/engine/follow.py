"""Follow mode: every bar line (or every 2 / 4 bars) the next pattern is generated from the
last 1, 2 or 4 bars played, and plays from the next bar line.

A mixin of ``bridge.engine.Engine``. The control thread watches the clock
(``_watch_follow``, called from its loop): when a bar line ``L`` (a multiple of "every"
bars) has passed, it quantises the input window ending at ``L`` (``CaptureBuffer.window``),
repeats a 1- or 2-bar window to the model's 4 bars, and hands one job to the generation
worker (never the scheduler thread):

* source "drums": encode the played window, slerp from the playing pattern's encoding
  towards it by the follow amount, decode at the follow temperature (the active model);
* source "rhythm": drumify the played window (the Drumify model, every hit a tap); amount 1
  plays the drumified groove, a smaller amount slerps from the playing pattern's encoding
  towards the drumified groove's (active model) and decodes.

The result is meant for bar line ``L + 1 bar`` and goes through the engine's next-bar-line
swap. If it is not handed to the player before that bar is queued (the player queues a bar
``EARLY_BEATS`` plus its guard time and the latency before it), it is skipped, never played
late, and counted in ``follow_late``; a trigger that finds the previous job unfinished counts
that one late and replaces it (the worker keeps one waiting "follow" job at most). A silent
window or amount 0 keeps the pattern.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from bridge.commands import (
    check_follow_amount,
    check_follow_bars,
    check_follow_source,
    check_follow_temperature,
)
from bridge.engine.command import command
from models.groove import BEATS_PER_BAR, EARLY_BEATS, Groove
from models.latent import slerp

if TYPE_CHECKING:  # pragma: no cover
    from bridge.engine.core import Engine as _Base
else:
    _Base = object

FOLLOW_SEED = 4321  # one seed for every follow decode: the pattern moves, it does not reshuffle
HANDOFF_SEC = 0.03  # control thread -> scheduler thread hand-over allowance before a bar is queued


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


class EngineFollowMixin(_Base):
    def _init_follow(self) -> None:
        s = self.settings
        self._follow_seen_bar: int | None = None
        self._follow_token = 0
        self._follow_inflight: int | None = None  # the token of the job not finished yet
        self._update(follow=s.follow_enabled, follow_source=s.follow_source, follow_every=s.follow_every,
                     follow_bars=s.follow_bars, follow_amount=s.follow_amount,
                     follow_temperature=s.follow_temperature)

    # ---- commands (typed; validated on the control thread: a bad value is one error line) ----------
    @command
    def set_follow(self, on: bool) -> None:
        """Follow mode on or off (off: a generation under way is dropped)."""
        value = on_off(on)
        self._follow_seen_bar = None
        self._follow_inflight = None  # a result still on its way is ignored
        self._update(follow=value)
        self._emit("settings", {"follow": value})

    @command
    def set_follow_source(self, source: str) -> None:
        """"drums" (encode the played drums) or "rhythm" (drumify the played taps)."""
        self._follow_setting("follow_source", check_follow_source, source)

    @command
    def set_follow_every(self, bars: int) -> None:
        """Generate every 1, 2 or 4 bars."""
        self._follow_setting("follow_every", check_follow_bars, bars)

    @command
    def set_follow_bars(self, bars: int) -> None:
        """Take the last 1, 2 or 4 bars played as input (repeated to 4 bars)."""
        self._follow_setting("follow_bars", lambda v: check_follow_bars(v, "follow bars"), bars)

    @command
    def set_follow_amount(self, amount: float) -> None:
        """0-1: how far the next pattern moves from the playing one towards the played groove."""
        self._follow_setting("follow_amount", check_follow_amount, amount)

    @command
    def set_follow_temperature(self, temperature: float) -> None:
        """(0, 5]: the temperature of the follow decodes."""
        self._follow_setting("follow_temperature", check_follow_temperature, temperature)

    def _follow_setting(self, field: str, check: Any, value: object) -> None:
        checked = check(value)
        self._update(**{field: checked})
        self._emit("settings", {field: checked})

    # ---- the bar-line watch (control thread) --------------------------------------------------------
    def _watch_follow(self) -> None:
        snap, clock = self._snap, self._clock
        if not snap.follow or not clock.is_playing or self.worker is None:
            self._follow_seen_bar = None
            return
        beat = clock.beat_at(clock.now_sec())
        bar = math.floor((beat - EARLY_BEATS) / BEATS_PER_BAR)  # late hits of the window's last step are in
        seen = self._follow_seen_bar
        self._follow_seen_bar = bar
        if seen is None or bar <= seen:
            return
        if bar % snap.follow_every == 0:
            self._follow_trigger(bar * BEATS_PER_BAR)

    def _deadline_beat(self, target_beat: float) -> float:
        """The last beat at which a pattern handed to the player still plays from ``target_beat``."""
        player = self.player
        lead_sec = HANDOFF_SEC + float(getattr(player, "guard_sec", 0.0)) + max(0.0, float(getattr(player, "latency_sec", 0.0)))
        return target_beat - EARLY_BEATS - lead_sec * self._clock.bpm / 60.0

    def _follow_past(self, deadline_beat: float) -> bool:
        clock = self._clock
        return clock.beat_at(clock.now_sec()) >= deadline_beat

    def _follow_trigger(self, line_beat: float) -> None:
        snap, clock = self._snap, self._clock
        if self._follow_inflight is not None:  # the previous one is not done: it can only be late now
            self._follow_inflight = None
            self._count_follow_late()
        n = snap.follow_bars
        window = self.capture_buffer.window(line_beat - n * BEATS_PER_BAR, n, bpm=clock.bpm)
        if window.num_hits == 0 or snap.follow_amount <= 0.0:
            return  # silence (or amount 0) keeps the pattern
        played = repeat_to(window, self._num_steps())
        self._follow_token += 1
        token = self._follow_token
        self._follow_inflight = token
        deadline = self._deadline_beat(line_beat + BEATS_PER_BAR)
        args = (token, deadline, played, snap.pattern, snap.follow_source, snap.follow_amount,
                snap.follow_temperature, clock.bpm)
        source = f"follow {snap.follow_source}"

        def done(result: Any, error: BaseException | None) -> None:  # worker thread
            self._post(self._followed, token, deadline, result, error, source)

        self.worker.submit(lambda model: self._follow_job(model, *args), done, key="follow")  # type: ignore[union-attr]

    # ---- the job (generation worker) ------------------------------------------------------------------
    def _follow_job(self, model: Any, token: int, deadline: float, played: Groove, current: Groove,
                    source: str, amount: float, temperature: float, bpm: float) -> Groove | None:
        """The next pattern, at ``bpm``. One encode and one decode a bar for "drums": the playing
        pattern's latent is known when it came from follow (cached with the pattern), otherwise
        it is encoded in the same batch as the played window."""
        if token != self._follow_inflight or self._follow_past(deadline):
            return None  # replaced, switched off or already too late: skip the model calls
        num_steps = self._num_steps()
        if source == "rhythm":
            drums = self.worker.drumifier(model).drumify(played, temperature=0.0)  # type: ignore[union-attr]
            if amount >= 1.0 or current.num_hits == 0:
                return drums.fit_steps(num_steps).with_changes(bpm=bpm)
            played = drums.fit_steps(num_steps)
        z_current = None if current.num_hits == 0 else self._z_known(current)
        if current.num_hits == 0 or z_current is not None:
            target = np.asarray(model.encode([played]))[0]
        else:  # one batched encode for both; only the pattern's latent is kept
            target, z_pattern = np.asarray(model.encode([played, current.fit_steps(num_steps)]))
            z_current = self._remember_z(current, z_pattern)
        z = target if z_current is None else slerp(z_current, target, amount)
        result = model.decode(np.asarray(z)[None, :], temperature=temperature, seed=FOLLOW_SEED)[0]
        out: Groove = result.with_changes(bpm=bpm)
        self._remember_z(out, np.asarray(z))
        return out

    # ---- the result (control thread) ------------------------------------------------------------------
    def _followed(self, token: int, deadline: float, result: Groove | None, error: BaseException | None,
                  source: str) -> None:
        if token != self._follow_inflight:
            return  # already counted late, or follow was switched off
        self._follow_inflight = None
        if error is not None:
            self._error(f"follow: {type(error).__name__}: " + (str(error).strip().splitlines() or [""])[0])
            return
        if result is None or self._follow_past(deadline):
            self._count_follow_late()  # never played late, never queued for a later bar
            return
        self._set_pattern(result, source, follow_updates=self._snap.follow_updates + 1)

    def _count_follow_late(self) -> None:
        late = self._snap.follow_late + 1
        self._update(follow_late=late)
        self._emit("settings", {"follow_late": late})
