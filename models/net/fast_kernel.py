"""Optional native kernels: the autoregressive GrooVAE decode loop and the encoder's LSTM in C.

For one or a few sequences both networks are bound by streaming their weights (~3.3 MB a step
for groovae_4bar's decoder in fp32, ~8 MB for the bidirectional encoder) and by per-step
dispatch overhead. These kernels run all steps in one call:
* weights are packed in blocks of 4 x UB gate columns (UB = 32 units with AVX-512); a block's
  gate sums stay in 8 vector registers while its rows stream in, so each weight is loaded once
  per step and nothing else touches memory (two sequences of a batch at a time share each
  load, 16 accumulators); sigmoid / tanh are vectorised (Cephes expf);
* weights are stored as IEEE fp16 by default (half the bytes a step: the decoder's 1.6 MB then
  stays in one core's 2 MB L2) and widened to fp32 on load (``vcvtph2ps``, F16C / AVX-512);
  products and sums are fp32, so the only change is the weights' rounding to 11 significant
  bits (gate sums move by ~1e-4; a model stored in fp16, like the shipped one, loses nothing).
  ``weights="fp32"`` / ``GROOVEBRIDGE_NATIVE_WEIGHTS=fp32`` keeps fp32 storage;
* decoder: with N threads each thread owns a fixed set of blocks (its share of every layer's
  weights stays hot in its own L2) and threads meet at a spin barrier once per layer step;
  each thread computes the small output projection itself (no second barrier);
* encoder: one thread per direction, no synchronisation; input projections precomputed.
The C source (``models.net.fast_kernel_src``) is compiled on first use with the system C compiler
(``cc``) into the user cache directory and loaded with ctypes: with ``-march=native``
(AVX-512 or AVX2+F16C+FMA intrinsics), else ``-mavx2 -mfma -mf16c``, else plain flags (portable
scalar code with a software fp16 widening; fp32 weights are then the default). No compiler, or
``GROOVEBRIDGE_NATIVE=0``: ``load_kernel()`` returns None and the TorchScript / oneDNN paths
are used. Agreement with the plain nn.LSTMCell loop: tests/models/net/test_fast_kernel.py.
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
import torch

from models.net.fast_kernel_src import C_SOURCE

_FLAGS = {
    "native": ["-march=native", "-mprefer-vector-width=512"],
    "avx2": ["-mavx2", "-mfma", "-mf16c"],
    "portable": [],
}
_lock = threading.Lock()  # builds
_kernel_lock = threading.Lock()  # the choice of build
_loaded: ctypes.CDLL | None = None
_tried = False
_variants: dict[str, ctypes.CDLL | None] = {}


def _cache_dir() -> Path:
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("groovebridge")) / "native"
    except Exception:  # pragma: no cover
        return Path(tempfile.gettempdir()) / "groovebridge-native"


def _compile(cc: str, variant: str) -> ctypes.CDLL | None:
    base = ["-O3", "-fPIC", "-shared", "-pthread", "-std=c11"]
    flags = base + _FLAGS[variant]
    key = hashlib.sha256((C_SOURCE + cc + " ".join(flags) + platform.node() + platform.machine()).encode()).hexdigest()[:16]
    out_dir = _cache_dir()
    lib = out_dir / f"gb_kernels_{variant}_{key}.so"
    if not lib.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
            src = Path(tmp) / "gb_kernels.c"
            src.write_text(C_SOURCE, encoding="utf-8")
            tmp_lib = Path(tmp) / lib.name
            cmd = [cc, *flags, str(src), "-o", str(tmp_lib), "-lm"]
            if subprocess.run(cmd, capture_output=True, timeout=120).returncode != 0:
                return None
            os.replace(tmp_lib, lib)
    dll = ctypes.CDLL(str(lib))
    p, i = ctypes.c_void_p, ctypes.c_int
    dll.gb_decode.restype = i
    dll.gb_decode.argtypes = [i, i, i, i, i, ctypes.c_float, ctypes.c_float, p, p, p, p, p, p, p, p, p]
    dll.gb_encode.restype = i
    dll.gb_encode.argtypes = [i, i, i, i, i, i, p, p, p]
    dll.gb_block_units.restype = i
    dll.gb_simd_level.restype = i
    return dll


def load_variant(variant: str) -> ctypes.CDLL | None:
    """One build of the kernels: "native" (-march=native), "avx2" or "portable" (plain flags)."""
    with _lock:
        if variant not in _variants:
            cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
            dll = None
            if cc is not None and platform.system() != "Windows":
                try:
                    dll = _compile(cc, variant)
                except (OSError, subprocess.SubprocessError):
                    dll = None
            _variants[variant] = dll
        return _variants[variant]


def load_kernel() -> ctypes.CDLL | None:
    """The fastest build that compiles here, or None (no compiler, disabled, failed). Cached."""
    global _loaded, _tried
    with _kernel_lock:
        if not _tried:
            if os.environ.get("GROOVEBRIDGE_NATIVE", "1") != "0":
                for variant in ("native", "avx2", "portable"):
                    _loaded = load_variant(variant)
                    if _loaded is not None:
                        break
            _tried = True
        return _loaded


def default_weights(dll: ctypes.CDLL) -> str:
    """fp16 where the build widens fp16 in hardware (F16C / AVX-512), else fp32."""
    env = os.environ.get("GROOVEBRIDGE_NATIVE_WEIGHTS", "")
    if env in ("fp16", "fp32"):
        return env
    return "fp16" if dll.gb_simd_level() > 0 else "fp32"


def pack_columns(m: torch.Tensor, h: int, hp: int, ub: int) -> torch.Tensor:
    """(..., 4h) in gate blocks (i, f, o, g) -> (..., 4hp) in the kernel's order: blocks of ub
    units, each [i(ub) f(ub) o(ub) g(ub)]; padded units get zero columns."""
    lead = m.shape[:-1]
    m4 = m.reshape(*lead, 4, h)
    if hp > h:
        m4 = torch.cat([m4, m4.new_zeros(*lead, 4, hp - h)], -1)
    return m4.reshape(*lead, 4, hp // ub, ub).transpose(-3, -2).reshape(*lead, 4 * hp).contiguous()


def pad_rows(m: torch.Tensor, parts: list[tuple[int, int]]) -> torch.Tensor:
    """Rows of m split into parts of (size, padded size); zero rows fill each part's padding."""
    out, i = [], 0
    for n, npad in parts:
        out.append(m[i : i + n])
        if npad > n:
            out.append(m.new_zeros(npad - n, *m.shape[1:]))
        i += n
    return torch.cat(out, 0)


def _blocks(w: torch.Tensor, hp: int, ub: int, weights: str) -> np.ndarray:
    """(rows, 4hp) packed columns -> (hp/ub, rows, 4ub) contiguous, fp16 or fp32 numpy."""
    rows = w.shape[0]
    b = w.reshape(rows, hp // ub, 4 * ub).transpose(0, 1).contiguous().numpy()
    return np.ascontiguousarray(b.astype(np.float16 if weights == "fp16" else np.float32))


def _padded(h: int, ub: int) -> int:
    return -(-h // ub) * ub


def _ptr(t: torch.Tensor | np.ndarray | None) -> int | None:
    if t is None:
        return None
    return t.data_ptr() if isinstance(t, torch.Tensor) else t.ctypes.data


class NativeDecoder:
    """The decoder's weights in the kernel's layout, and its decode call."""

    def __init__(self, dll: ctypes.CDLL, rows: list[torch.Tensor], biases: list[torch.Tensor],
                 w_z: torch.Tensor, w_c: torch.Tensor, init_w: torch.Tensor, init_b: torch.Tensor,
                 w_out: torch.Tensor, b_out: torch.Tensor, weights: str | None = None) -> None:
        """``rows[l]``: (in + H, 4H) fp32 with gate column blocks (i, f, o, g) (layer 0's input
        part: the 27 previous outputs only); ``biases`` (4H,) (layer 0's is added to zp);
        ``w_z`` (Z, 4H0), ``w_c`` (C, 4H0); ``init_w`` (Z, 2 sum H) with columns [c1, h1, c2, h2, ...]."""
        self.dll = dll
        self.weights = weights or default_weights(dll)
        ub = dll.gb_block_units()
        sizes = [r.shape[1] // 4 for r in rows]
        hp = [_padded(h, ub) for h in sizes]
        self.sizes, self.padded = sizes, hp
        self.hid = np.array(hp, np.int32)
        self.w: list[np.ndarray] = []
        self.b: list[torch.Tensor] = []
        for li, (r, h) in enumerate(zip(rows, sizes, strict=True)):
            in_parts = [(27, 27)] if li == 0 else [(sizes[li - 1], hp[li - 1])]
            m = pad_rows(pack_columns(r, h, hp[li], ub), [*in_parts, (h, hp[li])])
            self.w.append(_blocks(m, hp[li], ub, self.weights))
            self.b.append(pack_columns(biases[li], h, hp[li], ub))
        self.b0 = self.b[0]
        self.w_z = pack_columns(w_z, sizes[0], hp[0], ub)
        self.w_c = pack_columns(w_c, sizes[0], hp[0], ub)
        # initial states straight into the kernel's layout [h_1, c_1, h_2, c_2, ...] (padded)
        cols, zero = [], init_w.new_zeros(init_w.shape[0], 1)
        bias_parts, zb = [], init_b.new_zeros(1)
        i = 0
        for h, p in zip(sizes, hp, strict=True):
            c_w, h_w = init_w[:, i : i + h], init_w[:, i + h : i + 2 * h]
            c_b, h_b = init_b[i : i + h], init_b[i + h : i + 2 * h]
            pad = [zero] * (p - h)
            cols += [h_w, *pad, c_w, *pad]
            bias_parts += [h_b, *[zb] * (p - h), c_b, *[zb] * (p - h)]
            i += 2 * h
        self.init_w = torch.cat(cols, 1).contiguous()
        self.init_b = torch.cat(bias_parts).contiguous()
        self.w_out = pad_rows(torch.cat([w_out, w_out.new_zeros(w_out.shape[0], 5)], 1), [(sizes[-1], hp[-1])]).contiguous()
        self.b_out = torch.cat([b_out, b_out.new_zeros(5)]).contiguous()
        self._wp = (ctypes.c_void_p * len(rows))(*[_ptr(w) for w in self.w])
        self._bp = (ctypes.c_void_p * len(rows))(*[_ptr(b) for b in self.b])
        # per-call constants, prepared once (ctypes marshalling of numpy pointers costs µs each)
        self.state_size = self.init_w.shape[1]
        self.init_zp_w = torch.cat([self.init_w, self.w_z], 1).contiguous()
        self.init_zp_b = torch.cat([self.init_b, self.b0]).contiguous()
        self._num_layers, self._f16 = len(rows), int(self.weights == "fp16")
        self._max_threads = max(hp) // ub  # at least one block per thread
        self._hid_p, self._w_out_p, self._b_out_p = _ptr(self.hid), _ptr(self.w_out), _ptr(self.b_out)

    def decode(self, z: torch.Tensor, thresholds: torch.Tensor, controls: torch.Tensor | None,
               num_threads: int, floors: tuple[float, float] = (1.0, 1.0)) -> torch.Tensor:
        """z (B, Z) fp32 CPU, thresholds (T, B, 9), controls (B, T, C) -> outputs (B, T, 27).
        ``floors``: hit-probability floors of the given-a-hit velocities / offsets
        (models.net.fast_decode.conditional_outputs; 1.0 = the raw output)."""
        t_steps, b = thresholds.shape[0], thresholds.shape[1]
        pre = torch.addmm(self.init_zp_b, z, self.init_zp_w)  # one product: [initial states | zp]
        pre[:, : self.state_size].tanh_()
        cp = None
        if controls is not None and controls.shape[-1]:
            cp = torch.matmul(controls.transpose(0, 1), self.w_c).contiguous()
        th = thresholds.contiguous()
        out = torch.empty(b, t_steps, 27)
        rc = self.dll.gb_decode(
            self._num_layers, b, t_steps, max(1, min(num_threads, self._max_threads)), self._f16, float(floors[0]), float(floors[1]),
            self._hid_p,
            self._wp, self._bp, pre.data_ptr(), None if cp is None else cp.data_ptr(),
            self._w_out_p, self._b_out_p, th.data_ptr(), out.data_ptr(),
        )
        if rc != 0:
            raise RuntimeError(f"native decode failed ({rc})")
        return out


class NativeEncoder:
    """A single-layer bidirectional LSTM (the GrooVAE encoder) in the kernel's layout."""

    def __init__(self, dll: ctypes.CDLL, directions: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                 weights: str | None = None) -> None:
        """``directions``: per direction (w_ih (4H, D), w_hh (4H, H), bias (4H,)) in torch's gate
        order (i, f, g, o), bias = bias_ih + bias_hh."""
        self.dll = dll
        self.weights = weights or default_weights(dll)
        ub = dll.gb_block_units()
        h = directions[0][1].shape[1]
        self.size, self.hp = h, _padded(h, ub)
        self.w_ih: list[torch.Tensor] = []
        self.bias: list[torch.Tensor] = []
        self.w_hh: list[np.ndarray] = []
        for w_ih, w_hh, bias in directions:
            def ifog(m: torch.Tensor) -> torch.Tensor:
                return torch.cat([m[: 2 * h], m[3 * h :], m[2 * h : 3 * h]], 0)

            self.w_ih.append(pack_columns(ifog(w_ih).t(), h, self.hp, ub))
            self.bias.append(pack_columns(ifog(bias), h, self.hp, ub))
            rec = pad_rows(pack_columns(ifog(w_hh).t(), h, self.hp, ub), [(h, self.hp)])
            self.w_hh.append(_blocks(rec, self.hp, ub, self.weights))
        self._wp = (ctypes.c_void_p * len(self.w_hh))(*[_ptr(w) for w in self.w_hh])

    def final_states(self, x: torch.Tensor, num_threads: int) -> torch.Tensor:
        """x (B, T, D) fp32 CPU -> (B, 2H): [h_fw(T-1), h_bw(0)] (backward runs over x reversed)."""
        b, t, _ = x.shape
        xs = [x, x.flip(1)]
        xp = [torch.empty(b, t, self.bias[d].shape[0]) for d in range(len(self.w_hh))]
        for d, xd in enumerate(xs):
            for i in range(b):  # one product per sequence: results do not depend on the batch size
                torch.addmm(self.bias[d], xd[i], self.w_ih[d], out=xp[d][i])
        h_out = torch.empty(b, len(xp), self.hp)
        ptrs = (ctypes.c_void_p * len(xp))(*[_ptr(p) for p in xp])
        rc = self.dll.gb_encode(len(xp), b, t, self.hp, max(1, num_threads), int(self.weights == "fp16"),
                                self._wp, ptrs, _ptr(h_out))
        if rc != 0:
            raise RuntimeError(f"native encode failed ({rc})")
        return h_out[:, :, : self.size].reshape(b, -1)
