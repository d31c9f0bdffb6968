"""The generation worker: one thread that owns the model, loads it, and runs model calls.

Model calls (torch) never run on the scheduler or GUI thread. Jobs run in order; a job
submitted with a ``key`` that is still waiting replaces the waiting one (the morph slider
moving ten times while a decode runs costs one more decode, for the latest position).
The worker also owns the latent cache (``LatentCache``, ``GenerationWorker.latents``): the
active model's encoder means of recent grooves, touched only on the worker's thread and
cleared there when another model becomes active.
The worker sets torch to one intra-op thread so inference leaves a core for playback, warms
a freshly loaded model up (TorchScript optimises on first calls, holding the GIL) and freezes
the objects alive after loading out of the garbage collector's full passes.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.groove import Groove
from models.protocols import DrumifyModelLike, GrooveModelLike, ModelLoader

log = logging.getLogger(__name__)

Job = Callable[[GrooveModelLike], Any]  # a worker job: the active model -> its result
Done = Callable[[Any, BaseException | None], None]


@dataclass
class _Job:
    key: str | None
    fn: Job | None  # None: ``run`` instead, a job that needs no model (a load)
    done: Done
    run: Callable[[], Any] | None = None


class ModelNotReady(RuntimeError):
    pass


Z_CACHE_SIZE = 8


class LatentCache:
    """The active model's latent (z) of recent grooves, by groove object: a pattern decoded from
    a known z (follow, morph) is never encoded again to move on from it.

    Only the generation worker's thread may touch it (inside jobs; the worker clears it when a
    new model is active): any other thread gets a RuntimeError, so a misplaced call is found
    at once rather than racing.
    """

    def __init__(self, owner: threading.Thread, size: int = Z_CACHE_SIZE) -> None:
        self._owner = owner
        self._size = size
        self._z: dict[int, tuple[Groove, np.ndarray]] = {}

    def _check_thread(self) -> None:
        if threading.current_thread() is not self._owner:
            raise RuntimeError("the latent cache belongs to the generation worker's thread")

    def __len__(self) -> int:
        return len(self._z)

    def get(self, groove: Groove) -> np.ndarray | None:
        self._check_thread()
        hit = self._z.get(id(groove))
        return hit[1] if hit is not None and hit[0] is groove else None

    def put(self, groove: Groove, z: np.ndarray) -> np.ndarray:
        """Remember ``z`` as the active model's latent of ``groove`` (the oldest goes first)."""
        self._check_thread()
        if id(groove) not in self._z and len(self._z) >= self._size:
            self._z.pop(next(iter(self._z)))
        self._z[id(groove)] = (groove, z)
        return z

    def encode(self, model: GrooveModelLike, groove: Groove, num_steps: int) -> np.ndarray:
        """The encoder mean of ``groove`` (fitted to ``num_steps``), from the cache when known."""
        z = self.get(groove)
        if z is None:
            z = self.put(groove, np.asarray(model.encode([groove.fit_steps(num_steps)]))[0])
        return z

    def clear(self) -> None:
        self._check_thread()
        self._z.clear()


class GenerationWorker:
    """Runs ``fn(model)`` jobs on one thread; ``done(result, error)`` runs on that thread too."""

    def __init__(
        self,
        loader: ModelLoader,
        on_model_state: Callable[[str, str, str], None],
        torch_threads: int = 1,
    ) -> None:
        self._loader = loader
        self._on_model_state = on_model_state  # (state, name, error)
        self._torch_threads = torch_threads
        self._jobs: deque[_Job] = deque()
        self._cv = threading.Condition()
        self._closing = False
        self.model: GrooveModelLike | None = None
        self.model_name = ""
        self._helpers: dict[str, GrooveModelLike] = {}  # shipped helper models ("humanize", "drumify"), loaded on first use
        self._helper_errors: dict[str, str] = {}  # helper models whose load failed: why
        self.busy = False
        self._running_key: str | None = None  # the key of the job running now
        self._thread = threading.Thread(target=self._run, name="groovebridge-generation", daemon=True)
        self.latents = LatentCache(self._thread)  # the active model's latents (this thread only)
        self._thread.start()

    def submit(self, fn: Job, done: Done, key: str | None = None) -> None:
        self._put(_Job(key, fn, done))

    def humanizer(self, model: GrooveModelLike) -> GrooveModelLike:
        """The model for humanize jobs (call on this worker's thread, inside a job): the choice
        is ``models.generate.humanizer``'s, its helper the shipped "humanize" model, loaded once
        through the same loader (a failed load humanizes with the active model)."""
        from models.generate import humanizer  # torch is loaded by now: a model is running

        return humanizer(model, lambda: self._helper("humanize"))

    def drumifier(self, model: GrooveModelLike) -> DrumifyModelLike:
        """The model for drumify jobs (call on this worker's thread, inside a job): the active
        model when it is a Drumify model (its config's ``tapify``, or a stand-in without config
        that has ``drumify``), else the shipped "drumify" model, loaded once through the same
        loader. RuntimeError (one line) when there is none: a plain VAE cannot drumify."""
        config = getattr(model, "config", None)
        if isinstance(model, DrumifyModelLike) and (getattr(config, "tapify", False) or config is None):
            return model
        dr = self._helper("drumify")
        if dr is None:
            raise RuntimeError(f"no drumify model: {self._helper_errors['drumify']}")
        if not isinstance(dr, DrumifyModelLike):
            raise RuntimeError(f"no drumify model: {getattr(dr, 'name', 'drumify')} has no drumify call")
        return dr

    def _helper(self, name: str) -> GrooveModelLike | None:
        """The shipped model ``name`` loaded (and warmed up) on first use; None if it failed."""
        if name not in self._helpers and name not in self._helper_errors:
            try:
                helper = self._loader(name)
                self._limit_torch_threads()
                _warm_up(helper)
                gc.freeze()
                self._helpers[name] = helper
            except Exception as e:  # noqa: BLE001 - any loader failure: reported by the caller
                self._helper_errors[name] = _one_line(e)
                log.warning("no %s model (%s)", name, self._helper_errors[name])
        return self._helpers.get(name)

    def drop_helpers(self) -> None:
        """Forget the helper models (call on this worker's thread): the next use reloads them
        through the loader, e.g. on another device."""
        self._helpers.clear()
        self._helper_errors.clear()

    def load(self, name: str, loader: ModelLoader | None = None) -> None:
        """Load ``name`` (replacing the model when it succeeds) with ``loader`` (default: the
        worker's); reports loading/ready/error."""

        def job() -> GrooveModelLike:
            self._on_model_state("loading", name, "")
            model = (loader or self._loader)(name)
            self._limit_torch_threads()
            _warm_up(model)
            self.model, self.model_name = model, name
            self.latents.clear()  # the latents were the previous model's
            # Objects alive now (the model, torch's modules) are never garbage: keep them out of
            # the collector's full passes, which hold the GIL and so stall the scheduler thread.
            # (freeze is cheap; a gc.collect() here would itself stall playback for ~40 ms.)
            gc.freeze()
            return model

        def done(_result: Any, error: BaseException | None) -> None:
            if error is None:
                self._on_model_state("ready", name, "")
            else:
                self._on_model_state("error", name, _one_line(error))

        self._put(_Job("load", None, done, run=job))

    def _put(self, job: _Job) -> None:
        with self._cv:
            if job.key is not None:
                for i, waiting in enumerate(self._jobs):
                    if waiting.key == job.key:
                        del self._jobs[i]
                        break
            self._jobs.append(job)
            self._cv.notify()

    def _limit_torch_threads(self) -> None:
        torch = sys.modules.get("torch")
        if torch is not None and self._torch_threads:
            torch.set_num_threads(self._torch_threads)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._jobs and not self._closing:
                    self._cv.wait()
                if self._closing:
                    return
                job = self._jobs.popleft()
                self.busy = True
                self._running_key = job.key
            result, error = None, None
            try:
                if job.run is not None:
                    result = job.run()
                elif job.fn is None or self.model is None:
                    raise ModelNotReady("the model is not loaded yet")
                else:
                    result = job.fn(self.model)
            except Exception as e:  # a failed job must not kill the worker
                log.debug("generation job failed", exc_info=True)
                error = e
            try:
                job.done(result, error)
            except Exception:
                log.exception("generation callback failed")
            with self._cv:
                self.busy, self._running_key = False, None
                self._cv.notify_all()

    def wait_idle(self, timeout_sec: float = 10.0) -> bool:
        """Block until no job waits or runs (tests, benchmarks)."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._jobs and not self.busy, timeout_sec)

    def close(self, timeout_sec: float = 5.0, load_timeout_sec: float = 120.0) -> bool:
        """Stop after the running job; True when the thread has ended.

        A job that is loading a model (importing torch, reading weights) is waited for up to
        ``load_timeout_sec``: if the interpreter shut down under it, torch's C++ runtime would
        abort the process ("terminate called without an active exception", exit 134), e.g.
        when ``serve`` is stopped while a slow machine still loads the model."""
        with self._cv:
            self._closing = True
            self._jobs.clear()
            self._cv.notify_all()
        self._thread.join(timeout_sec)
        if self._thread.is_alive() and self._running_key == "load":
            log.info("waiting for the model load to finish before closing")
            self._thread.join(load_timeout_sec)
        return not self._thread.is_alive()


def _warm_up(model: GrooveModelLike) -> None:
    """Run each model call a few times now: TorchScript optimises a function on its first
    calls while holding the GIL, which would stall playback if it happened mid-song."""
    try:
        for seed in range(3):
            grooves = model.sample(2, temperature=1.0, seed=seed)
            model.decode(model.encode(grooves), temperature=1.0, seed=seed)
    except Exception:  # a model without these calls (or a fake) simply is not warmed
        log.debug("model warm-up skipped", exc_info=True)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
