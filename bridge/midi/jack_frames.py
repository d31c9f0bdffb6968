"""JACK MIDI input that keeps each event's frame: a small C reader compiled on first use.

Why: python-rtmidi's JACK backend stamps every event with ``jack_get_time()`` when its process
callback copies it, not with the event's frame inside the period (checked: its library imports
``jack_get_time`` and neither ``jack_last_frame_time`` nor ``jack_frames_to_time``). So a
sender that places MIDI clock ticks on their exact frames, as a DAW on JACK or a2jmidid do,
reaches us quantised to the period: +-2.7 ms of noise at 256 frames, 10.7 ms at 1024, which the
clock follower can only average away, and which blurs a drummer's captured hits the same way.

``JackFrameMidiIn`` is a stand-in for the ``rtmidi.MidiIn`` calls ``bridge.midi.ports`` makes
(``open_virtual_port``, ``get_ports``, ``open_port``, ``get_message``, ``close_port``,
``delete``, ``ignore_types``). Its process callback is C (no GIL: it never waits on Python):
it copies each event of up to 3 bytes (no SysEx, no active sensing), with the time its period
is read (``jack_get_time``, as rtmidi stamps) and its frame offset, into a lock-free ring read by the polling thread
(``bridge.midi.input.PolledInput``). ``get_message()`` answers ``(bytes, delta, offset)``:
``delta`` between the periods' times, as rtmidi's (so ``ArrivalClock`` anchors them to the
monotonic clock exactly as before), and ``offset`` the seconds into the period, added after.
A sender that writes at frame 0 (python-rtmidi's output does) reads exactly as through rtmidi.

Built with the system C compiler against libjack.so.0 (no JACK headers needed); where that
fails (no compiler, no libjack) ``available()`` is False and rtmidi reads as before.
On by default under JACK (``enabled()``); ``GROOVEBRIDGE_MIDI_FRAMES=0`` reads through rtmidi.

Under a server started without ``-R`` JACK runs its clients' process threads at normal
priority; on a busy machine the OS wakes them late, and asynchronous JACK drops the cycles a
client misses, with the MIDI in them (bench_sync_scenario traced such losses at GrooveBridge
In). The reader asks for SCHED_FIFO (``RT_PRIORITY``) for its own process thread on its first
callback where the OS allows it; elsewhere it stays as JACK made it.
"""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
import threading
from typing import Any

from models.native_build import build_shared, compiler

C_SOURCE = r"""
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <pthread.h>
#include <sched.h>

typedef struct _jack_client jack_client_t;
typedef struct _jack_port jack_port_t;
typedef uint32_t jack_nframes_t;
typedef uint64_t jack_time_t;
typedef struct { jack_nframes_t time; size_t size; unsigned char *buffer; } jack_midi_event_t;
extern jack_client_t *jack_client_open(const char *name, int options, int *status, ...);
extern int jack_client_close(jack_client_t *c);
extern jack_port_t *jack_port_register(jack_client_t *c, const char *name, const char *type,
                                       unsigned long flags, unsigned long size);
extern int jack_set_process_callback(jack_client_t *c, int (*cb)(jack_nframes_t, void *), void *arg);
extern void jack_on_shutdown(jack_client_t *c, void (*cb)(void *), void *arg);
extern int jack_activate(jack_client_t *c);
extern int jack_deactivate(jack_client_t *c);
extern void *jack_port_get_buffer(jack_port_t *p, jack_nframes_t n);
extern uint32_t jack_midi_get_event_count(void *buf);
extern int jack_midi_event_get(jack_midi_event_t *ev, void *buf, uint32_t i);
extern jack_time_t jack_get_time(void);
extern jack_nframes_t jack_get_sample_rate(jack_client_t *c);
extern const char *jack_port_name(const jack_port_t *p);
extern int jack_connect(jack_client_t *c, const char *src, const char *dst);
extern const char **jack_get_ports(jack_client_t *c, const char *name, const char *type, unsigned long flags);
extern void jack_free(void *p);

#define RING 16384u
typedef struct { uint64_t t_us; uint32_t frame; uint8_t len; uint8_t b[3]; } Rec;
typedef struct {
    jack_client_t *client;
    jack_port_t *port;
    _Atomic uint32_t w, r, dropped;
    _Atomic int dead;
    int rt_priority, rt_tried; /* SCHED_FIFO asked for the process thread (first callback) */
    double rate;
    Rec ring[RING];
} Reader;

static int process(jack_nframes_t n, void *arg) {
    Reader *rd = (Reader *)arg;
    if (!rd->rt_tried) { /* a server without -R runs its clients' threads at normal priority: */
        rd->rt_tried = 1; /* the OS wakes them late on a busy machine, and asynchronous JACK then */
        int policy;       /* drops the cycles they miss (and the MIDI in them); ours asks for FIFO */
        struct sched_param sp;
        if (rd->rt_priority > 0 && pthread_getschedparam(pthread_self(), &policy, &sp) == 0 && policy == SCHED_OTHER) {
            sp.sched_priority = rd->rt_priority;
            pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp); /* refused without rtprio: stays */
        }
    }
    if (!rd->port) return 0;
    void *buf = jack_port_get_buffer(rd->port, n);
    uint32_t count = jack_midi_get_event_count(buf);
    if (!count) return 0;
    uint64_t t_us = jack_get_time(); /* as rtmidi stamps: when the period is read (the frame
       counter's own time, jack_frames_to_time, strays from the wall clock where the driver runs
       late, e.g. the dummy backend's xruns) */
    uint32_t w = atomic_load_explicit(&rd->w, memory_order_relaxed);
    uint32_t r = atomic_load_explicit(&rd->r, memory_order_acquire);
    for (uint32_t i = 0; i < count; i++) {
        jack_midi_event_t ev;
        if (jack_midi_event_get(&ev, buf, i) != 0 || ev.size < 1 || ev.size > 3) continue;
        if (ev.buffer[0] == 0xFE || ev.buffer[0] == 0xF0) continue;
        if (w - r >= RING) { atomic_fetch_add(&rd->dropped, 1); continue; }
        Rec *rec = &rd->ring[w % RING];
        rec->t_us = t_us; rec->frame = ev.time; rec->len = (uint8_t)ev.size;
        memcpy(rec->b, ev.buffer, ev.size);
        w++;
    }
    atomic_store_explicit(&rd->w, w, memory_order_release);
    return 0;
}

static void on_shutdown(void *arg) { atomic_store(&((Reader *)arg)->dead, 1); }

void *gbm_open(const char *client_name, int rt_priority) {
    Reader *rd = (Reader *)malloc(sizeof(Reader));
    if (!rd) return NULL;
    memset(rd, 0, sizeof(Reader)); /* touched now: no page faults in the process callback */
    int status = 0;
    rd->client = jack_client_open(client_name, 0x01 /* JackNoStartServer */, &status);
    if (!rd->client) { free(rd); return NULL; }
    rd->rate = (double)jack_get_sample_rate(rd->client);
    rd->rt_priority = rt_priority;
    jack_set_process_callback(rd->client, process, rd);
    jack_on_shutdown(rd->client, on_shutdown, rd);
    return rd;
}

int gbm_register(void *h, const char *port_name) {
    Reader *rd = (Reader *)h;
    jack_port_t *p = jack_port_register(rd->client, port_name, "8 bit raw midi", 0x1 /* input */, 0);
    if (!p) return -1;
    rd->port = p;
    return jack_activate(rd->client);
}

int gbm_connect(void *h, const char *source) {
    Reader *rd = (Reader *)h;
    return rd->port ? jack_connect(rd->client, source, jack_port_name(rd->port)) : -1;
}

/* MIDI output ports of other clients, '\n'-separated into out (size bytes); the count */
int gbm_ports(void *h, char *out, int size) {
    Reader *rd = (Reader *)h;
    const char **names = jack_get_ports(rd->client, NULL, "8 bit raw midi", 0x2 /* output */);
    int n = 0, used = 0;
    out[0] = 0;
    for (int i = 0; names && names[i]; i++) {
        int len = (int)strlen(names[i]);
        if (used + len + 2 > size) break;
        memcpy(out + used, names[i], (size_t)len);
        used += len; out[used++] = '\n'; out[used] = 0;
        n++;
    }
    if (names) jack_free(names);
    return n;
}

/* up to max events: times (us of the period's first frame), frame offsets (s), 4 bytes each
   (length, then the bytes); the count */
int gbm_read(void *h, uint64_t *t_us, double *offset_sec, uint8_t *bytes, int max) {
    Reader *rd = (Reader *)h;
    uint32_t r = atomic_load_explicit(&rd->r, memory_order_relaxed);
    uint32_t w = atomic_load_explicit(&rd->w, memory_order_acquire);
    int n = 0;
    for (; r != w && n < max; r++, n++) {
        Rec *rec = &rd->ring[r % RING];
        t_us[n] = rec->t_us;
        offset_sec[n] = rd->rate > 0 ? rec->frame / rd->rate : 0.0;
        bytes[4 * n] = rec->len;
        memcpy(bytes + 4 * n + 1, rec->b, 3);
    }
    atomic_store_explicit(&rd->r, r, memory_order_release);
    return n;
}

unsigned gbm_dropped(void *h) { return atomic_load(&((Reader *)h)->dropped); }

void gbm_close(void *h) {
    Reader *rd = (Reader *)h;
    if (!atomic_load(&rd->dead)) {
        jack_deactivate(rd->client);
        jack_client_close(rd->client);
        free(rd);
    } /* a dead server's client is never closed (not safe after a restart) nor freed */
}
"""

BATCH = 256
RT_PRIORITY = 60  # SCHED_FIFO for the reader's JACK thread where the server did not make it real-time
# (jackd without -R) and the OS allows it (rtprio limit or CAP_SYS_NICE); below a -R server's clients (69)
_lock = threading.Lock()
_dll: Any = None
_tried = False


def _build() -> ctypes.CDLL | None:
    cc = compiler()
    if cc is None or platform.system() != "Linux":
        return None
    lib = build_shared(C_SOURCE, "gb_jack_frames", cc, ["-O2", "-fPIC", "-shared", "-std=c11"], ["-l:libjack.so.0"])
    if lib is None:
        return None
    dll = ctypes.CDLL(str(lib))
    p, c = ctypes.c_void_p, ctypes.c_char_p
    dll.gbm_open.restype, dll.gbm_open.argtypes = p, [c, ctypes.c_int]
    dll.gbm_register.argtypes = [p, c]
    dll.gbm_connect.argtypes = [p, c]
    dll.gbm_ports.argtypes = [p, c, ctypes.c_int]
    dll.gbm_read.argtypes = [p, p, p, p, ctypes.c_int]
    dll.gbm_dropped.restype, dll.gbm_dropped.argtypes = ctypes.c_uint, [p]
    dll.gbm_close.argtypes = [p]
    return dll


def library() -> ctypes.CDLL | None:
    """The compiled reader, or None (no compiler, no libjack). Built once."""
    global _dll, _tried
    with _lock:
        if not _tried:
            _tried = True
            try:
                _dll = _build()
            except (OSError, subprocess.SubprocessError):
                _dll = None
        return _dll


def available() -> bool:
    return library() is not None


def enabled() -> bool:
    """Whether ``bridge.midi.ports`` reads JACK input with it: where it builds, unless
    ``GROOVEBRIDGE_MIDI_FRAMES=0``. (Session 18 kept it opt-in for a capture outlier in
    tests/bridge/clock/test_sync_jack.py, one hit 7 ms off in 2 of 5 runs; session 19 saw the
    same with rtmidi's input, 1 of 8 interleaved runs against 0 of 8 with this reader: the master's
    own lateness on a loaded machine, which the test now takes out.)"""
    return os.environ.get("GROOVEBRIDGE_MIDI_FRAMES", "1") != "0" and available()


class JackFrameError(RuntimeError):
    """The reader's JACK client or port could not be made (the message is one line)."""


class JackFrameMidiIn:
    """The ``rtmidi.MidiIn`` calls ``bridge.midi.ports`` makes, on a frame-keeping C reader."""

    def __init__(self, client_name: str, rt_priority: int = RT_PRIORITY) -> None:
        dll = library()
        if dll is None:
            raise JackFrameError("the JACK frame reader is not available")
        self._dll = dll
        self._h = dll.gbm_open(client_name.encode(), max(0, min(99, int(rt_priority))))
        if not self._h:
            raise JackFrameError(f"JACK client {client_name!r} could not be opened (is a JACK server running?)")
        self._open = False
        self._last_us: int | None = None
        self._t = (ctypes.c_uint64 * BATCH)()
        self._off = (ctypes.c_double * BATCH)()
        self._bytes = (ctypes.c_uint8 * (4 * BATCH))()
        self._queue: list[tuple[list[int], float, float]] = []

    def ignore_types(self, **_kw: Any) -> None:
        """SysEx and active sensing are always left out; clock and notes kept (as rtmidi is set)."""

    def get_ports(self) -> list[str]:
        buf = ctypes.create_string_buffer(1 << 16)
        self._dll.gbm_ports(self._h, buf, len(buf))
        return [n for n in buf.value.decode(errors="replace").split("\n") if n]

    def open_virtual_port(self, name: str) -> None:
        if self._dll.gbm_register(self._h, name.encode()) != 0:
            raise JackFrameError(f"JACK port {name!r} could not be made")
        self._open = True

    def open_port(self, index: int, name: str = "") -> None:
        source = self.get_ports()[index]
        self.open_virtual_port(name or "in")
        self._dll.gbm_connect(self._h, source.encode())

    def is_port_open(self) -> bool:
        return self._open

    @property
    def dropped(self) -> int:
        """Events the ring had no room for (the reader thread stalled for seconds)."""
        return int(self._dll.gbm_dropped(self._h))

    def get_message(self) -> tuple[list[int], float, float] | None:
        """(bytes, seconds since the previous event's period, seconds into its period), or None."""
        if not self._queue:
            n = self._dll.gbm_read(self._h, self._t, self._off, self._bytes, BATCH)
            for i in range(n):
                t_us, length = int(self._t[i]), self._bytes[4 * i]
                delta = 0.0 if self._last_us is None else max(0, t_us - self._last_us) / 1e6
                self._last_us = t_us
                self._queue.append((list(self._bytes[4 * i + 1 : 4 * i + 1 + length]), delta, float(self._off[i])))
            self._queue.reverse()
        return self._queue.pop() if self._queue else None

    def close_port(self) -> None:
        self._open = False

    def delete(self) -> None:
        if self._h:
            self._dll.gbm_close(self._h)
            self._h = None
