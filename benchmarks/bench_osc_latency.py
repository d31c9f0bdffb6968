"""Benchmark: OSC command -> new pattern ready, with the real Engine and a full-size GrooVAE.

A UDP controller on 127.0.0.1 sends a command to ``OscServer`` and times the arrival of the
``/groovebridge/pattern`` echo (command parsed, queued to the engine, model call on the
generation worker, pattern compiled and handed to the scheduler, echo encoded and sent).
The transport plays meanwhile (scheduler thread live, MIDI to a recording output).

Baseline, in the same process: the same engine command called directly, timed to the
``"pattern"`` event (no OSC). ``/ping`` -> ``/pong`` shows the OSC round trip alone.
The model is ``groovae_4bar`` (Magenta's architecture) with random weights unless
``--model`` names a checkpoint: latency depends on the architecture, not on the weights.

    .venv/bin/python benchmarks/bench_osc_latency.py [--repeats 20] [--model PATH]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from bridge.engine import Engine  # noqa: E402
from bridge.osc import OscServer  # noqa: E402
from bridge.settings import Settings  # noqa: E402
from tests.rigs.midi_fakes import FakeMidiIO  # noqa: E402
from tests.rigs.osc_peer import OscPeer  # noqa: E402

P = "/groovebridge"


class Controller(OscPeer):
    """A UDP OSC peer: sends commands, stamps every message it receives."""

    def __init__(self) -> None:
        self.got: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        super().__init__()

    def on_message(self, t: float, address: str, args: list[Any]) -> None:
        with self.cond:
            self.got.append((t, address))
            self.cond.notify_all()

    def round_trip(self, server_port: int, address: str, args: list[Any], wait_for: str) -> float:
        time.sleep(0.03)  # let echoes of the previous command arrive first, then forget them
        with self.cond:
            self.got.clear()
        t0 = time.monotonic()
        self.send(server_port, address, *args)
        with self.cond:
            ok = self.cond.wait_for(lambda: any(a == wait_for for _, a in self.got), timeout=10.0)
            if not ok:
                raise RuntimeError(f"no {wait_for} after {address}")
            return next(t for t, a in self.got if a == wait_for) - t0


def direct(engine: Engine, command: Callable[[], None]) -> float:
    """Time from a direct engine call to its "pattern" event."""
    done = threading.Event()
    stamp: list[float] = []

    def on_event(event: str, _payload: Any) -> None:
        if event == "pattern" and not done.is_set():
            stamp.append(time.monotonic())
            done.set()

    time.sleep(0.03)  # the previous command's events are out
    unsubscribe = engine.subscribe(on_event)
    t0 = time.monotonic()
    command()
    if not done.wait(10.0):
        raise RuntimeError("no pattern event")
    unsubscribe()
    return stamp[0] - t0


def make_loader(model: str | None) -> Callable[[str], Any]:
    def load(_name: str) -> Any:
        import torch

        torch.manual_seed(0)
        if model:
            from models.generate import load_model

            return load_model(model)
        from models.generate import GrooveModel
        from models.net.config import get_config
        from models.net.vae import GrooVAE

        return GrooveModel(GrooVAE(get_config("groovae_4bar")), name="groovae_4bar (random weights)")

    return load


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--model", default=None, help="checkpoint (default: random-weight groovae_4bar)")
    args = p.parse_args(argv)
    ctl = Controller()
    engine = Engine(Settings(bpm=120.0, osc_out_port=ctl.port), model_loader=make_loader(args.model),
                    midi=FakeMidiIO(), auto_sample=False)
    server = OscServer(engine, "127.0.0.1", 0, "127.0.0.1", ctl.port)
    engine.start()
    server.start()
    port = server.address[1]
    try:
        deadline = time.monotonic() + 120
        while engine.snapshot().model_state != "ready":
            if engine.snapshot().model_state == "error" or time.monotonic() > deadline:
                print(f"bench_osc_latency: model failed: {engine.snapshot().last_error}", file=sys.stderr)
                return 1
            time.sleep(0.05)
        model_name = args.model or "groovae_4bar, random weights"
        ctl.round_trip(port, P + "/sample", [4], P + "/pattern")  # warm up; fills variations
        snap = engine.snapshot()
        engine.load_slot("A", snap.variations[0])
        engine.load_slot("B", snap.variations[1])
        ctl.round_trip(port, P + "/play", [1.0], P + "/transport")
        rows: dict[str, list[float]] = {k: [] for k in (
            "ping -> pong (OSC only)", "sample 1 direct (baseline)", "sample 1 over OSC",
            "morph direct (baseline)", "morph over OSC", "variation direct (baseline)",
            "variation over OSC")}
        for i in range(args.repeats):
            pos = 0.25 + 0.5 * (i % 2)
            rows["ping -> pong (OSC only)"].append(ctl.round_trip(port, P + "/ping", [], P + "/pong"))
            rows["sample 1 direct (baseline)"].append(direct(engine, lambda: engine.sample(1)))
            rows["sample 1 over OSC"].append(ctl.round_trip(port, P + "/sample", [1], P + "/pattern"))
            rows["morph direct (baseline)"].append(direct(engine, lambda p=pos: engine.set_interpolation(p)))
            rows["morph over OSC"].append(ctl.round_trip(port, P + "/interpolate", [1.0 - pos], P + "/pattern"))
            rows["variation direct (baseline)"].append(direct(engine, lambda: engine.select_variation(0)))
            rows["variation over OSC"].append(ctl.round_trip(port, P + "/variation", [0], P + "/pattern"))
    finally:
        server.close()
        engine.close()
        ctl.close()
    print(f"OSC command -> pattern ready; model {model_name}; {args.repeats} repeats; {os.cpu_count()} CPU(s)")
    print(f"{'path':<30}{'p50 ms':>9}{'p90 ms':>9}{'max ms':>9}{'OSC/direct p50':>16}")
    result: dict[str, Any] = {"bench": "osc_latency", "model": model_name, "repeats": args.repeats}
    for name, values in rows.items():
        ms = np.array(values) * 1000
        p50 = float(np.median(ms))
        base_name = name.replace("over OSC", "direct (baseline)")
        ratio = ""
        if base_name != name and base_name in rows:
            ratio = f"{p50 / float(np.median(np.array(rows[base_name]) * 1000)):.2f}"
        print(f"{name:<30}{p50:>9.2f}{np.percentile(ms, 90):>9.2f}{ms.max():>9.2f}{ratio:>16}")
        key = name.split(" (")[0].replace(" -> ", "_").replace(" ", "_")
        result[f"{key}_p50_ms"] = round(p50, 3)
        result[f"{key}_p90_ms"] = round(float(np.percentile(ms, 90)), 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
