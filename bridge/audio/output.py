"""Audio outputs for the preview: JACK audio ports where a JACK server runs, PortAudio elsewhere.

Both call ``render(frames, block_start_sec, out)`` from their audio thread once per block:
``block_start_sec`` is the monotonic time (``time.monotonic()``, the engine clocks' time) of
the block's first frame and ``out`` a (frames, 2) float32 array to fill.

* JACK (``JACK-Client``): ports ``out_L``/``out_R`` of a client "GrooveBridge Preview",
  connected to the first two physical playback ports when there are any. A block's time is
  JACK's own estimate of its cycle start (``jack_frames_to_time`` of ``jack_last_frame_time``,
  JACK's filtered period clock, not the jittery wake-up of our callback), moved from JACK's
  clock to the monotonic clock by an offset measured every cycle (``JackTimeMap``; JACK2 on
  Linux counts CLOCK_MONOTONIC_RAW, which drifts slowly from CLOCK_MONOTONIC). Where that
  estimate is far from our wake-up (a stalled server's clock re-converging: seen off by seconds
  on a loaded machine with the dummy backend in synchronous mode), the wake-up time is used.
* PortAudio (``sounddevice``): the block's DAC time from the stream's time info.

A missing library, no server, no device: ``AudioOutError`` with one line.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from models.synth import SAMPLE_RATE

Render = Callable[[int, float, np.ndarray], None]
BACKENDS = ("auto", "jack", "portaudio")
CLIENT_NAME = "GrooveBridge Preview"


class AudioOutError(RuntimeError):
    """An audio output cannot open; the message is one line."""


class JackTimeMap:
    """JACK frame times -> monotonic seconds, for a JACK-Client ``jack.Client``."""

    def __init__(self, client: Any) -> None:
        import jack

        name = ctypes.util.find_library("jack") or "libjack.so.0"
        lib = ctypes.CDLL(name)
        lib.jack_get_time.restype = ctypes.c_uint64
        lib.jack_frames_to_time.restype = ctypes.c_uint64
        lib.jack_frames_to_time.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.jack_last_frame_time.restype = ctypes.c_uint32
        lib.jack_last_frame_time.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self._ptr = int(jack._ffi.cast("uintptr_t", client._ptr))
        self.offset_sec = self._measure_offset()

    def _measure_offset(self) -> float:
        """(JACK clock - monotonic) in seconds: the tightest of a few back-to-back readings."""
        best, best_span = 0.0, float("inf")
        for _ in range(5):
            a = time.monotonic()
            j = self._lib.jack_get_time()
            b = time.monotonic()
            if b - a < best_span:
                best, best_span = j / 1e6 - (a + b) / 2.0, b - a
        return best

    def update(self) -> None:
        """Follow the slow drift between JACK's clock and the monotonic clock (call once a cycle)."""
        self.offset_sec += 0.01 * (self._measure_offset() - self.offset_sec)

    def frame_sec(self, frame: int) -> float:
        return self._lib.jack_frames_to_time(self._ptr, frame & 0xFFFFFFFF) / 1e6 - self.offset_sec

    def cycle_start(self, now_sec: float, frames: int) -> tuple[int, float, bool]:
        """(first frame, monotonic time, whether JACK's clock was off) of the cycle being processed;
        call in the process callback with ``time.monotonic()`` read at its start.

        JACK's estimate unless it is far from our wake-up: a server whose cycles were held up (a
        dummy backend in synchronous mode waiting for a client on a loaded machine) re-converges
        its cycle clock over seconds; until it does, the wake-up is the better estimate."""
        frame = int(self._lib.jack_last_frame_time(self._ptr))
        start = self.frame_sec(frame)
        if -0.001 <= now_sec - start <= 4 * frames / SAMPLE_RATE + 0.005:
            return frame, start, False
        return frame, now_sec, True


class JackAudioOut:
    def __init__(self, render: Render, client_name: str = CLIENT_NAME, connect: bool = True) -> None:
        try:
            import jack
        except (ImportError, OSError) as e:
            raise AudioOutError(f"JACK audio is not available ({e})") from None
        from bridge.midi.jack_quiet import reset_after_jack_client

        jack.set_error_function(lambda message: None)  # "cannot connect to server": said below, once
        try:
            self.client = jack.Client(client_name, no_start_server=True)
        except jack.JackError:
            raise AudioOutError("no JACK server is running") from None
        finally:
            reset_after_jack_client()  # libjack's lines to the debug log, not its stderr printer
        if self.client.samplerate != SAMPLE_RATE:
            rate = self.client.samplerate
            self.client.close()
            raise AudioOutError(f"the JACK server runs at {rate} Hz; the preview needs {SAMPLE_RATE} Hz")
        self._render = render
        self._jack = jack
        self.ports = [self.client.outports.register(n) for n in ("out_L", "out_R")]
        self.timemap = JackTimeMap(self.client)
        self._scratch = np.zeros((self.client.blocksize, 2), np.float32)
        self.client.set_process_callback(self._process)
        self.client.set_blocksize_callback(self._blocksize)
        self._connect = connect
        self.name = "jack"
        self.clock_fallbacks = 0  # cycles timed by our wake-up because JACK's cycle clock was off

    @property
    def period_sec(self) -> float:
        return self.client.blocksize / SAMPLE_RATE

    def _blocksize(self, frames: int) -> None:
        self._scratch = np.zeros((frames, 2), np.float32)

    def _process(self, frames: int) -> None:
        now = time.monotonic()
        out = self._scratch if len(self._scratch) == frames else np.zeros((frames, 2), np.float32)
        _, start_sec, fell_back = self.timemap.cycle_start(now, frames)
        self.clock_fallbacks += fell_back
        self._render(frames, start_sec, out)
        for i, port in enumerate(self.ports):  # the port buffers without asking the server their size
            buf = self._jack._lib.jack_port_get_buffer(port._ptr, frames)
            np.frombuffer(self._jack._ffi.buffer(buf, frames * 4), dtype=np.float32)[:] = out[:, i]
        self.timemap.update()

    def start(self) -> None:
        self.client.activate()
        if self._connect:
            playback = self.client.get_ports(is_physical=True, is_input=True, is_audio=True)
            for src, dst in zip(self.ports, playback[:2], strict=False):
                try:
                    self.client.connect(src, dst)
                except Exception:  # already connected by a session manager, or refused: not fatal
                    pass

    def close(self) -> None:
        try:
            self.client.deactivate()
        finally:
            self.client.close()


class PortAudioOut:
    def __init__(self, render: Render, blocksize: int = 256) -> None:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as e:
            raise AudioOutError(f"PortAudio is not available ({e}; Debian/Ubuntu: apt install libportaudio2)") from None
        self._render = render
        try:
            self.stream = sd.OutputStream(samplerate=SAMPLE_RATE, channels=2, dtype="float32",
                                          blocksize=blocksize, latency="low", callback=self._callback)
        except Exception as e:  # PortAudioError, ValueError (no default device)
            raise AudioOutError(f"no audio output device ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        self.name = "portaudio"
        self._blocksize = blocksize

    @property
    def period_sec(self) -> float:
        return self._blocksize / SAMPLE_RATE + float(self.stream.latency)

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        start_sec = now + (time_info.outputBufferDacTime - time_info.currentTime) - float(self.stream.latency)
        self._render(frames, start_sec, outdata)

    def start(self) -> None:
        self.stream.start()

    def close(self) -> None:
        self.stream.stop()
        self.stream.close()


def open_audio_out(render: Render, backend: str = "auto") -> JackAudioOut | PortAudioOut:
    """``auto``: JACK when a server answers, else PortAudio; AudioOutError (one line) when neither opens."""
    if backend not in BACKENDS:
        raise AudioOutError(f"audio backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend in ("auto", "jack"):
        try:
            return JackAudioOut(render)
        except AudioOutError as e:
            if backend == "jack":
                raise
            jack_reason = str(e)
    try:
        return PortAudioOut(render)
    except AudioOutError as e:
        if backend == "auto":
            raise AudioOutError(f"no audio output: {jack_reason}; {e}") from None
        raise
