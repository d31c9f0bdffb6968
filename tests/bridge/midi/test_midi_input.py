"""The polled MIDI input (bridge.midi.input): event times from delta times, the reader thread,
and a dense known stream into the engine's real JACK input arriving intact at the capture."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from engine_fakes import FakeModel, wait_for
from jack_helpers import JackServer, private_jack_server

from bridge.clock.base import InternalClock
from bridge.engine import Engine
from bridge.midi.input import ArrivalClock, PolledInput
from bridge.midi.ports import IN_PORT_NAME
from bridge.settings import Settings


def _us(t_sec: float, base_sec: float = 100.0) -> float:
    return round((t_sec - base_sec) * 1e6, 3)


def test_arrival_times_are_the_summed_deltas_anchored_on_the_least_delayed_read() -> None:
    clock = ArrivalClock()
    # events 10 ms apart from t = 100.0; read late by 0.9, 0.2, 0.6, 0.05, 0.7 ms
    delays_ms = [0.9, 0.2, 0.6, 0.05, 0.7]
    times = [clock.stamp(0.0 if i == 0 else 0.010, 100.0 + 0.010 * i + d / 1000) for i, d in enumerate(delays_ms)]
    # each is anchored on the least-delayed read so far (creeping 20 ppm of the 10 ms between)
    assert [_us(t) for t in times] == [900.0, 10200.0, 20200.2, 30050.0, 40050.2]


def test_arrival_time_never_after_the_read() -> None:
    clock = ArrivalClock()
    clock.stamp(0.0, 10.0)
    assert clock.stamp(0.5, 10.2) == 10.2  # deltas say 10.5: a clock step, capped at the read


def test_a_late_read_after_a_long_silence_moves_the_anchor_20_us_at_most() -> None:
    clock = ArrivalClock()
    clock.stamp(0.0, 100.0)  # read on time
    t = clock.stamp(60.0, 160.004)  # a minute later, read 4 ms late (idle polling)
    assert _us(t, 160.0) == 20.0


def test_refine_restamps_earlier_events_with_the_anchor_found_later() -> None:
    clock = ArrivalClock()
    # the first hit after a silence read 4 ms late (idle polling), the next ones promptly
    t0 = clock.stamp(0.0, 100.004)
    t1 = clock.stamp(0.010, 100.0101)
    t2 = clock.stamp(0.010, 100.0200)
    assert [_us(t) for t in (t0, t1, t2)] == [4000.0, 10100.0, 20000.0]  # the best anchor then
    assert [_us(clock.refine(t)) for t in (t0, t1, t2)] == [0.0, 10000.0, 20000.0]  # the best now
    assert clock.refine(99.0) == 99.0  # older than anything stamped: left as it is
    clock.reset()
    assert clock.refine(t0) == t0


class _Queue:
    def __init__(self, items: list[tuple[list[int], float]]) -> None:
        self.items = list(items)
        self.lock = threading.Lock()

    def get_message(self) -> tuple[list[int], float] | None:
        with self.lock:
            return self.items.pop(0) if self.items else None


def test_reader_hands_on_every_event_in_order_and_survives_a_failing_consumer() -> None:
    handle = _Queue([([0x99, 36 + i % 10, 1 + i % 127], 0.001) for i in range(500)])
    got: list[list[int]] = []

    def consume(message: list[int], t_sec: float) -> None:
        got.append(message)
        if len(got) == 3:
            raise RuntimeError("consumer bug")

    reader = PolledInput(handle, consume)
    try:
        wait_for(lambda: len(got) == 500, timeout_sec=5)
    finally:
        reader.close()
    assert got == [[0x99, 36 + i % 10, 1 + i % 127] for i in range(500)]
    assert reader.errors == 1 and reader.events == 500


rtmidi = pytest.importorskip("rtmidi")


@pytest.fixture(scope="module")
def jack() -> Iterator[JackServer]:
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        pytest.skip("python-rtmidi was built without JACK")
    with private_jack_server(32) as server:
        yield server


def _gil_hog(stop: threading.Event) -> None:
    """Pure-Python work: keeps the GIL busy, as generation and the GUI do."""
    while not stop.is_set():
        sum(i * i for i in range(20000))


@pytest.mark.jack
def test_dense_stream_into_the_engine_input_arrives_intact(jack: JackServer) -> None:
    engine = Engine(Settings(midi_api="jack", midi_output="none"), model_loader=lambda name: FakeModel(),
                    clock=InternalClock(120.0), auto_sample=False)
    engine.start()
    accepted = [p for p in range(35, 82) if engine.capture_buffer.input_map.class_of(p) is not None]
    sent = [[0x99, accepted[k % len(accepted)], 1 + (k * 37) % 127] for k in range(3000)]
    stop = threading.Event()
    hogs = [threading.Thread(target=_gil_hog, args=(stop,), daemon=True) for _ in range(2)]
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="gbtest-input-sender")
    try:
        engine.play()
        wait_for(lambda: engine.snapshot().playing, timeout_sec=5)
        names = out.get_ports()
        out.open_port(next(i for i, n in enumerate(names) if IN_PORT_NAME in n))
        for h in hogs:
            h.start()
        for k in range(0, len(sent), 8):  # bursts of 8 note-ons (with note-offs between) every ms
            for message in sent[k:k + 8]:
                out.send_message(message)
                out.send_message([0x89, message[1], 0])
            time.sleep(0.001)
        wait_for(lambda: len(engine.capture_buffer.hits()) >= len(sent), timeout_sec=10)
        time.sleep(0.1)
        hits = engine.capture_buffer.hits()
    finally:
        stop.set()
        out.close_port()
        out.delete()
        engine.close()
    assert [[0x99, h.pitch, h.velocity] for h in hits] == sent
    times = [h.t_sec for h in hits]
    assert all(b >= a for a, b in zip(times, times[1:], strict=False))
    assert times[-1] - times[0] < 30.0
