"""MIDI clock sync over real JACK, synchronous (-S) and asynchronous (issue 22): a master in a
second process (benchmarks/clock_fault_sender.py) sends Start and clock with a duplicated
tick, dropped ticks and jitter, and plays a GMD groove into GrooveBridge In between the ticks.
The engine (sync = MIDI clock) must capture the groove exactly (classes, velocities, offsets
within 1 ms), answer /query/slot a with it over real UDP OSC, play it back in phase with the
master's clock at GrooveBridge Out, and /stop must silence it while the clock runs on."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from engine_fakes import Events, FakeModel, wait_for
from jack_helpers import LOG_DIR, logs
from test_midi_jack import Receiver, _gmd_groove
from test_osc_udp import Receiver as OscReceiver

from bridge.clock.midi_in import PPQN
from bridge.engine import Engine
from bridge.midi.ports import OUT_PORT_NAME, jack_port_names
from bridge.osc import OscServer, decode_pattern
from bridge.osc.wire import encode_message
from bridge.settings import Settings
from models.drum_maps import ROLAND
from models.groove import Groove
from tests.rigs.jack_server import JackUnavailable, private_jack_server

rtmidi = pytest.importorskip("rtmidi")
pytestmark = [pytest.mark.jack, pytest.mark.slow]
SENDER = Path(__file__).resolve().parents[3] / "benchmarks" / "clock_fault_sender.py"
BPM = 140.0
BAR_TICKS = 4 * PPQN
GROOVE_BAR = 2  # the groove is played in bars 3-6 (0-based bars 2..5)


def master_plan(groove: Groove) -> dict:
    notes = [[GROOVE_BAR * 4 + ev.start_beats, [0x99, ROLAND.output_pitch(ev.drum_class), ev.velocity]]
             for ev in groove.to_events()]
    return {"client": "gbtest-master", "bpm": BPM, "ticks": 12 * BAR_TICKS, "lead_sec": 0.4, "seed": 3,
            "duplicates": [BAR_TICKS + 30, 5 * BAR_TICKS + 11], "drops": [3 * BAR_TICKS + 7, 8 * BAR_TICKS + 50,
                                                                            8 * BAR_TICKS + 51, 8 * BAR_TICKS + 52],
            "jitter": [[6 * BAR_TICKS, 8 * BAR_TICKS, 0.5]], "notes": notes}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_midi_clock_sync_over_jack_with_faults(mode: str, gmd_dir: Path) -> None:
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        pytest.skip("python-rtmidi was built without JACK")
    groove = _gmd_groove(gmd_dir)
    try:
        server_cm = private_jack_server("groovebridge-test", 32, sync=mode == "sync", log_dir=LOG_DIR)
        server = server_cm.__enter__()
    except JackUnavailable as e:
        pytest.skip(str(e))
    if server.log_path is not None:
        logs.append(server.log_path)  # its tail goes into a failure's report (tests/conftest.py)
    try:
        run_scenario(groove, strict=mode == "sync", jack_log=server.log_path)
    finally:
        server_cm.__exit__(None, None, None)


def sender_lateness_ms(groove: Groove, ideal: np.ndarray, sent: list) -> dict[tuple[int, int], float]:
    """Per (step, class) of the groove: how late the master handed that note over (its send log
    against the note's ideal time), ms. The master sends the planned notes in plan order (sorted
    by beat, then class, as ``Groove.to_events``)."""
    notes = sorted(groove.notes(min_velocity=0), key=lambda n: ((n[0] - n[2]) / 4, n[1]))
    sent_notes = [(t, m) for t, m in sent if m[0] == 0x99]
    assert len(sent_notes) == len(notes), (len(sent_notes), len(notes))
    out = {}
    for (step, k, off, _vel), (t_sent, message) in zip(notes, sent_notes, strict=True):
        assert message[1] == ROLAND.output_pitch(k)
        due = float(np.interp((GROOVE_BAR * 4 + (step - off) / 4) * PPQN, np.arange(ideal.size), ideal))
        out[(step, k)] = (t_sent - due) * 1000.0
    return out


def jack_xruns(log: Path | None) -> list[str]:
    """The lines of jackd's log that report a cycle JACK itself missed ("JackTimedDriver::Process
    XRun = 11578 usec": the dummy driver's timer woke that late; "... was not finished": a client's
    thread was)."""
    if log is None or not log.exists():
        return []
    return [line for line in log.read_text(errors="replace").splitlines() if "XRun" in line or "not finished" in line]


def check_capture_hits(groove: Groove, got: Groove, strict: bool, xruns: list[str]) -> None:
    """The captured hits are the played ones, with their velocities. Asynchronous JACK drops the
    events of a cycle a reader is late for (a clean-clone CI run of session 20: one hit missing,
    jackd's log full of "client = GrooveBridge In was not finished"): there, one missing hit per
    logged xrun is allowed, two at most; an extra hit (one played a 16th off) never."""
    played, captured = groove.hits > 0.5, got.hits > 0.5
    extra, missing = int(np.sum(captured & ~played)), int(np.sum(played & ~captured))
    if missing:
        print(f"{missing} played hit(s) not captured; jackd reported {len(xruns)} xrun(s): {xruns[:4]}")
    assert extra == 0 and missing <= (0 if strict else min(2, len(xruns))), (extra, missing)
    both = played & captured
    np.testing.assert_array_equal(np.round(got.velocities[both] * 127), np.round(groove.velocities[both] * 127))


def check_capture_offsets(groove: Groove, got: Groove, ideal: np.ndarray, sent: list, strict: bool,
                          xruns: list[str]) -> None:
    """Each captured hit's time against when the master actually sent it: what GrooveBridge's input
    and clock follower add. (A note the master's Python thread sent late on a busy machine is late
    at GrooveBridge too; seen: 6.8 ms once in 16 interleaved runs with another job on both cores,
    through rtmidi's input (0 of 8 through the frame reader; session 18 saw 7.2 ms through it).
    Judged against the intended times it failed the test.)"""
    late = sender_lateness_ms(groove, ideal, sent)
    ms_per_unit = 60000.0 / BPM / 8  # an offset of 1 is half a 16th (positive: early)
    keys = sorted(key for key in late if got.hits[key] > 0.5)  # (a hit JACK dropped: check_capture_hits)
    captured_late = np.array([-(got.offsets[s, k] - groove.offsets[s, k]) * ms_per_unit for s, k in keys])
    sender = np.array([late[key] for key in keys])
    own = np.abs(captured_late - sender)
    print(f"capture vs the master's sends: p50 {np.median(own):.2f}, p90 {np.percentile(own, 90):.2f}, max "
          f"{own.max():.2f} ms (vs the intended times: max {np.abs(captured_late).max():.2f} ms; the master sent "
          f"up to {sender.max():.2f} ms late)")
    if strict:  # -S: hits within 1 ms; a single outlier up to 3 ms is the loaded machine's
        # scheduling of the engine (seen: one of ~80 hits 2.56 ms off in a full `make test` run on
        # 2 shared cores; p90 stayed under 0.5 ms)
        assert np.percentile(own, 95) < 1.0 and own.max() < 3.0, f"offsets off by up to {own.max():.2f} ms"
    else:  # asynchronous JACK on a loaded machine delivers a few notes late itself (1-3 ms seen),
        # and a cycle JACK itself ran late delivers its notes that late to every client (the clean-clone
        # CI run of session 19: one hit 14.2 ms late, the rest within 0.5 ms): one such hit is excused
        # per xrun in jackd's log, two at most
        outliers = int(np.sum(own >= 5.0))
        if outliers:
            print(f"{outliers} hit(s) 5 ms or more off; jackd reported {len(xruns)} xrun(s): {xruns[:4]}")
        assert np.percentile(own, 90) < 1.0 and outliers <= min(2, len(xruns)), own


def run_scenario(groove: Groove, strict: bool, jack_log: Path | None = None) -> None:
    engine = Engine(Settings(sync="midi", midi_api="jack", input_drum_map="roland", bpm=BPM),
                    model_loader=lambda _n: FakeModel(), auto_sample=False)
    events = Events()
    engine.subscribe(events)
    osc_rx = OscReceiver()
    osc = OscServer(engine, "127.0.0.1", 0, "127.0.0.1", osc_rx.port)
    engine.start()
    osc.start()
    rx = Receiver(OUT_PORT_NAME)
    plan = master_plan(groove)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(plan, fh)
    proc = subprocess.Popen([sys.executable, str(SENDER), fh.name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        subprocess.run(["jack_connect", "gbtest-master:out", jack_port_names()[0]], check=True, timeout=10)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        clock = engine._clock

        def beat_now() -> float:
            return clock.beat_at(clock.now_sec())

        # capture "last 4 bars" once bar 7 began: the groove's bars 3-6
        wait_for(lambda: clock.is_playing and beat_now() > (GROOVE_BAR + 4) * 4 + 0.3, 20.0, "the groove played")
        engine.capture("A", "last")
        wait_for(lambda: engine.snapshot().slots["A"] is not None, 3.0, "captured slot")
        got = engine.snapshot().slots["A"]
        check_capture_hits(groove, got, strict, jack_xruns(jack_log))
        # (the offsets are judged below, against the master's own log of when it sent each note)

        # /query/slot a over UDP: the capture, in the /pattern encoding, and nothing changes
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(encode_message("/groovebridge/query/slot", ["a", osc_rx.port]), osc.address)
        steps, blob_v, blob_o = osc_rx.wait_for("/groovebridge/slot/a/pattern", timeout=3.0)
        vel, off = decode_pattern([steps, blob_v, blob_o])
        assert steps == got.num_steps
        np.testing.assert_array_equal(vel, np.where(got.hits > 0.5, np.maximum(np.rint(got.velocities * 127), 1), 0))
        np.testing.assert_allclose(off, np.where(got.hits > 0.5, np.rint(got.offsets * 127) / 127, 0), atol=1e-9)
        assert engine.snapshot().pattern_source != "slot A"

        # play it back: from the next bar line, in phase with the master's clock
        engine.play_slot("A")
        start = (int(beat_now() // 4) + 1) * 4
        wait_for(lambda: beat_now() > start + 8.2, 15.0, "two bars played back")
        engine.stop()  # silences GrooveBridge; the master's clock runs on
        wait_for(lambda: not engine.snapshot().playing, 2.0, "stopped")
        t_stop = time.monotonic()
        stop_beat = beat_now()
        report = json.loads(proc.stdout.readline())
        ideal = np.array(report["ideal"])
        proc.wait(timeout=20)
        check_capture_offsets(groove, got, ideal, report["sent"], strict, jack_xruns(jack_log))
        assert stop_beat < ideal.size / PPQN - 1, "the master stopped before our stop was tested"
        notes_after_stop = [t for t, m in list(rx.messages) if m[0] == 0x99 and m[2] > 0 and t > t_stop + 0.05]
        assert notes_after_stop == [], f"{len(notes_after_stop)} note-ons after /stop"
        all_off = any(m == [0xB9, 123, 0] for t, m in list(rx.messages) if t >= t_stop - 0.2)
        # (asynchronous JACK on a loaded machine drops an event now and then, this one too: seen
        # once in 6 runs; the note-ons that stopped are what /stop must achieve there)
        assert all_off or not strict, "no all-notes-off after /stop"

        played = [n for n in events.of("note") if start - 0.6 <= n.beat < start + 8]
        heard = [(t, m[1]) for t, m in list(rx.messages) if m[0] == 0x99 and m[2] > 0 and t < t_stop]
        errors, unheard = [], []
        for n in played:
            want = float(np.interp(n.beat * PPQN, np.arange(ideal.size), ideal))
            near = [t for t, p in heard if p == n.pitch and abs(t - want) < 0.05]
            if not near:
                unheard.append(n)
                continue
            errors.append((min(near, key=lambda t: abs(t - want)) - want) * 1000)
        # asynchronous JACK on a loaded machine drops a few events itself (the issue measured it)
        assert len(unheard) <= (0 if strict else len(played) // 10), f"not heard: {unheard}"
        errors = np.array(errors)
        print(f"playback vs the master's clock: median {np.median(errors):.2f} ms, max |e| {np.abs(errors).max():.2f} ms, "
              f"{len(errors)} notes, {len(unheard)} not heard; follower: {clock.duplicates} duplicates, {clock.lost_ticks} lost, "
              f"slips {events.of('sync_slip')}")
        assert len(errors) >= groove.num_hits // 2
        # in phase: the constant part is JACK's (a period each way and the clock's delivery);
        # single notes on this loaded 2-core machine (no real-time JACK) may wake late
        assert abs(np.median(errors)) < 3.0 and np.percentile(np.abs(errors), 90) < 3.0, errors
        # the injected faults were recognised (asynchronous JACK on a busy machine may add its own,
        # and may drop one copy of a duplicated tick: then there is nothing to recognise, as in 1 of
        # 8 asynchronous runs beside a busy loop, "1 duplicates, 4 lost", phase as good as the rest)
        assert clock.duplicates >= (2 if strict else 1) and clock.lost_ticks >= 4
    finally:
        if proc.poll() is None:
            try:
                proc.wait(timeout=25)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        Path(fh.name).unlink()
        rx.close()
        osc.close()
        engine.close()
        osc_rx.close()
