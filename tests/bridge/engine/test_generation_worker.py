"""The generation worker's shutdown: closing while a model still loads waits for the load
(the interpreter must not shut down under torch's C++ runtime: `serve` stopped during a slow
load aborted with "terminate called without an active exception", exit 134); other jobs are
not waited for beyond the join timeout."""

from __future__ import annotations

import threading
import time

from bridge.engine.generation import GenerationWorker


def test_close_during_a_model_load_waits_for_the_load_to_finish() -> None:
    started, states = threading.Event(), []

    def slow_loader(name: str) -> object:
        started.set()
        time.sleep(0.8)  # a slow machine importing torch and reading weights
        return object()

    worker = GenerationWorker(slow_loader, lambda state, name, error: states.append(state))
    worker.load("default")
    assert started.wait(5.0)
    t0 = time.monotonic()
    assert worker.close(timeout_sec=0.1) is True  # the thread has ended: nothing runs at exit
    assert time.monotonic() - t0 >= 0.5
    assert states == ["loading", "ready"]


def test_close_does_not_wait_beyond_the_timeout_for_an_ordinary_job() -> None:
    release = threading.Event()

    worker = GenerationWorker(lambda name: object(), lambda *a: None)
    worker.load("default")
    assert worker.wait_idle(5.0)
    worker.submit(lambda model: release.wait(5.0), lambda result, error: None, key="sample")
    time.sleep(0.1)
    t0 = time.monotonic()
    assert worker.close(timeout_sec=0.2) is False
    assert time.monotonic() - t0 < 2.0
    release.set()
