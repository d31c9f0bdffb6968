"""Optional native decode kernel: the whole autoregressive GrooVAE decode loop in C.

For one or a few sequences the decoder is bound by streaming its weights (~3.3 MB a step for
groovae_4bar) and by per-step dispatch overhead. This kernel runs all steps in one call; with
N threads each thread owns a fixed slice of hidden units (its columns of every layer's weight,
so each core keeps its share hot in its own L2) and threads meet at a spin barrier twice per
layer step. The C source is compiled on first use with the system C compiler (``cc``) into the
user cache directory and loaded with ctypes; when no compiler is available, or
``GROOVEBRIDGE_NATIVE=0``, ``load_kernel()`` returns None and the TorchScript path is used.
Results equal the nn.LSTMCell loop within float tolerance (tests/models/test_generate.py).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

C_SOURCE = r"""
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int num_layers, batch, steps, nthreads, in0;   /* in0 = 27 */
    const int *hid;            /* (L,) hidden sizes */
    const float *const *w;     /* per layer (in_l + H_l, 4 H_l) row-major, columns unit-major (u*4+gate) */
    const float *const *b;     /* per layer (4 H_l) same column order; layer 0 unused */
    const float *zp;           /* (B, 4 H_0) z share + biases of layer 0 */
    const float *cp;           /* (T, B, 4 H_0) controls share or NULL */
    const float *w_out;        /* (H_last, 27) */
    const float *b_out;        /* (27) */
    const float *th;           /* (T, B, 9) hit thresholds on logits */
    float *state;              /* per layer: h (B,H), c (B,H); double-buffered h: 2 x (B,H) */
    float *out;                /* (B, T, 27) */
    float *y;                  /* (B, 27) previous output (shared, written by thread 0) */
    atomic_int count;
    atomic_int sense;
} Ctx;

typedef struct { Ctx *ctx; int tid; } Arg;

static void barrier(Ctx *c, int *local_sense) {
    if (c->nthreads == 1) return;
    int s = !*local_sense;
    *local_sense = s;
    if (atomic_fetch_add(&c->count, 1) == c->nthreads - 1) {
        atomic_store(&c->count, 0);
        atomic_store(&c->sense, s);
    } else {
        int spins = 0;
        while (atomic_load(&c->sense) != s) {
            if (++spins > 2000) { sched_yield(); spins = 0; }
        }
    }
}

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

static void *run(void *argp) {
    Arg *a = (Arg *)argp;
    Ctx *c = a->ctx;
    int tid = a->tid, L = c->num_layers, B = c->batch;
    int local_sense = 0;
    /* offsets of each layer's buffers in c->state: h0 (B,H), h1 (B,H), c (B,H) */
    size_t off[16];
    size_t o = 0;
    for (int l = 0; l < L; l++) { off[l] = o; o += (size_t)3 * B * c->hid[l]; }
    int maxh = 0;
    for (int l = 0; l < L; l++) if (c->hid[l] > maxh) maxh = c->hid[l];
    float *g = (float *)malloc(sizeof(float) * 4 * maxh * B);
    float yloc[27];
    for (int t = 0; t < c->steps; t++) {
        int cur = t & 1;  /* h buffer holding the previous step's h */
        for (int l = 0; l < L; l++) {
            int H = c->hid[l], G = 4 * H;
            int in = (l == 0) ? c->in0 : c->hid[l - 1];
            int u0 = (int)((long)H * tid / c->nthreads), u1 = (int)((long)H * (tid + 1) / c->nthreads);
            int c0 = 4 * u0, c1 = 4 * u1;
            const float *W = c->w[l];
            float *hprev = c->state + off[l] + (size_t)cur * B * H;
            float *hnext = c->state + off[l] + (size_t)(1 - cur) * B * H;
            float *cell = c->state + off[l] + (size_t)2 * B * H;
            /* gates of this thread's units for all batch rows; each weight row is read once */
            for (int bi = 0; bi < B; bi++) {
                float *gb = g + (size_t)bi * G;
                if (l == 0) {
                    memcpy(gb + c0, c->zp + (size_t)bi * G + c0, sizeof(float) * (c1 - c0));
                    if (c->cp) {
                        const float *cpt = c->cp + ((size_t)t * B + bi) * G;
                        for (int j = c0; j < c1; j++) gb[j] += cpt[j];
                    }
                } else {
                    memcpy(gb + c0, c->b[l] + c0, sizeof(float) * (c1 - c0));
                }
            }
            const float *xin = (l == 0) ? c->y
                : c->state + off[l - 1] + (size_t)(1 - cur) * B * c->hid[l - 1];
            for (int r = 0; r < in + H; r++) {
                const float *wr = W + (size_t)r * G;
                for (int bi = 0; bi < B; bi++) {
                    float xv = (r < in) ? xin[(size_t)bi * in + r] : hprev[(size_t)bi * H + (r - in)];
                    if (xv == 0.0f) continue;
                    float *gb = g + (size_t)bi * G;
                    for (int j = c0; j < c1; j++) gb[j] += xv * wr[j];
                }
            }
            for (int bi = 0; bi < B; bi++) {
                const float *gb = g + (size_t)bi * G;
                float *cb = cell + (size_t)bi * H;
                float *hn = hnext + (size_t)bi * H;
                for (int u = u0; u < u1; u++) {
                    float ig = sigm(gb[4 * u]), fg = sigm(gb[4 * u + 1]), og = sigm(gb[4 * u + 2]);
                    float cc = fg * cb[u] + ig * tanhf(gb[4 * u + 3]);
                    cb[u] = cc;
                    hn[u] = og * tanhf(cc);
                }
            }
            barrier(c, &local_sense);
        }
        /* output projection (tiny): thread 0 computes and publishes y */
        int Hl = c->hid[L - 1];
        const float *hl = c->state + off[L - 1] + (size_t)(1 - cur) * B * Hl;
        for (int bi = 0; bi < B && tid == 0; bi++) {
            for (int k = 0; k < 27; k++) yloc[k] = c->b_out[k];
            for (int r = 0; r < Hl; r++) {
                float xv = hl[(size_t)bi * Hl + r];
                const float *wr = c->w_out + (size_t)r * 27;
                for (int k = 0; k < 27; k++) yloc[k] += xv * wr[k];
            }
            {
                const float *th = c->th + ((size_t)t * B + bi) * 9;
                float *yo = c->out + ((size_t)bi * c->steps + t) * 27;
                for (int k = 0; k < 9; k++) yo[k] = yloc[k] > th[k] ? 1.0f : 0.0f;
                for (int k = 9; k < 18; k++) yo[k] = sigm(yloc[k]);
                for (int k = 18; k < 27; k++) yo[k] = tanhf(yloc[k]);
                memcpy(c->y + bi * 27, yo, sizeof(float) * 27);
            }
        }
        barrier(c, &local_sense);
    }
    free(g);
    return NULL;
}

int gb_decode(int num_layers, int batch, int steps, int nthreads, const int *hid,
              const float *const *w, const float *const *b, const float *zp, const float *cp,
              const float *w_out, const float *b_out, const float *th, float *state,
              float *out, float *y) {
    if (num_layers > 16 || nthreads < 1 || nthreads > 64) return -1;
    Ctx c;
    c.num_layers = num_layers; c.batch = batch; c.steps = steps; c.nthreads = nthreads; c.in0 = 27;
    c.hid = hid; c.w = w; c.b = b; c.zp = zp; c.cp = cp; c.w_out = w_out; c.b_out = b_out;
    c.th = th; c.state = state; c.out = out; c.y = y;
    atomic_init(&c.count, 0);
    atomic_init(&c.sense, 0);
    pthread_t tids[64];
    Arg args[64];
    for (int i = 0; i < nthreads; i++) { args[i].ctx = &c; args[i].tid = i; }
    for (int i = 1; i < nthreads; i++)
        if (pthread_create(&tids[i], NULL, run, &args[i]) != 0) return -2;
    run(&args[0]);
    for (int i = 1; i < nthreads; i++) pthread_join(tids[i], NULL);
    return 0;
}
"""

_lock = threading.Lock()
_loaded: ctypes.CDLL | None = None
_tried = False


def _cache_dir() -> Path:
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("groovebridge")) / "native"
    except Exception:  # pragma: no cover
        return Path(tempfile.gettempdir()) / "groovebridge-native"


def _build() -> ctypes.CDLL | None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None or platform.system() == "Windows":
        return None
    base = ["-O3", "-fPIC", "-shared", "-pthread", "-std=c11"]
    tuned = ["-march=native", "-mprefer-vector-width=512"]
    key = hashlib.sha256((C_SOURCE + cc + platform.node() + platform.machine()).encode()).hexdigest()[:16]
    out_dir = _cache_dir()
    lib = out_dir / f"gb_decode_{key}.so"
    if not lib.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
            src = Path(tmp) / "gb_decode.c"
            src.write_text(C_SOURCE, encoding="utf-8")
            tmp_lib = Path(tmp) / lib.name
            for flags in (base + tuned, base):  # plain flags when the compiler rejects the tuning
                cmd = [cc, *flags, str(src), "-o", str(tmp_lib), "-lm"]
                if subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0:
                    break
            else:
                return None
            os.replace(tmp_lib, lib)
    dll = ctypes.CDLL(str(lib))
    dll.gb_decode.restype = ctypes.c_int
    return dll


def load_kernel() -> ctypes.CDLL | None:
    """The compiled kernel, or None (no compiler, disabled, or build failed). Cached."""
    global _loaded, _tried
    with _lock:
        if not _tried:
            _tried = True
            if os.environ.get("GROOVEBRIDGE_NATIVE", "1") != "0":
                try:
                    _loaded = _build()
                except (OSError, subprocess.SubprocessError):
                    _loaded = None
        return _loaded


def _fptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


class NativeDecoder:
    """Decoder weights in the kernel's layout (float32 numpy, unit-major gate columns)."""

    def __init__(self, dll: ctypes.CDLL, rows: list[np.ndarray], biases: list[np.ndarray],
                 w_out: np.ndarray, b_out: np.ndarray) -> None:
        """``rows[l]``: (in + H, 4H) with gate column blocks (i, f, o, g); biases (4H,)."""
        self.dll = dll
        self.hid = np.array([r.shape[1] // 4 for r in rows], np.int32)
        self.w = [self._unit_major(r) for r in rows]
        self.b = [self._unit_major(b[None, :])[0].copy() for b in biases]
        self.w_out = np.ascontiguousarray(w_out, np.float32)
        self.b_out = np.ascontiguousarray(b_out, np.float32)
        self._wp = (ctypes.c_void_p * len(rows))(*[w.ctypes.data for w in self.w])
        self._bp = (ctypes.c_void_p * len(rows))(*[b.ctypes.data for b in self.b])

    @staticmethod
    def _unit_major(m: np.ndarray) -> np.ndarray:
        h = m.shape[1] // 4
        return np.ascontiguousarray(m.reshape(m.shape[0], 4, h).transpose(0, 2, 1).reshape(m.shape[0], 4 * h), np.float32)

    def decode(self, zp: np.ndarray, cp: np.ndarray | None, h0: list[np.ndarray], c0: list[np.ndarray],
               thresholds: np.ndarray, num_threads: int) -> np.ndarray:
        """zp (B, 4H0) and cp (T, B, 4H0) in (i, f, o, g) block order; returns (B, T, 27)."""
        t_steps, b = thresholds.shape[0], thresholds.shape[1]
        zp_u = self._unit_major(zp)
        cp_u = None if cp is None else self._unit_major(cp.reshape(-1, cp.shape[-1])).reshape(cp.shape)
        state = np.concatenate(
            [np.concatenate([h.ravel(), np.zeros(h.size, np.float32), c.ravel()]) for h, c in zip(h0, c0, strict=True)]
        ).astype(np.float32)
        out = np.empty((b, t_steps, 27), np.float32)
        y = np.zeros((b, 27), np.float32)
        th = np.ascontiguousarray(thresholds, np.float32)
        rc = self.dll.gb_decode(
            ctypes.c_int(len(self.w)), ctypes.c_int(b), ctypes.c_int(t_steps), ctypes.c_int(max(1, num_threads)),
            _fptr(self.hid), self._wp, self._bp, _fptr(zp_u),
            _fptr(cp_u) if cp_u is not None else ctypes.c_void_p(0),
            _fptr(self.w_out), _fptr(self.b_out), _fptr(th), _fptr(state), _fptr(out), _fptr(y),
        )
        if rc != 0:
            raise RuntimeError(f"native decode failed ({rc})")
        return out
