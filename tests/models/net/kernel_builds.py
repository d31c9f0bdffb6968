"""The native kernel's other builds, for tests that compare them with the native one."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from models.net.fast_kernel import load_variant


def build_or_skip(variant: str, simd_level: int) -> ctypes.CDLL:
    """``load_variant(variant)`` ("portable": plain flags, scalar code; "avx2": AVX2 + F16C + FMA),
    checked to run at ``simd_level``; the test is skipped where it does not compile or run."""
    dll = load_variant(variant)
    if dll is None:
        pytest.skip(f"the {variant} build does not compile here")
    cpuinfo = Path("/proc/cpuinfo")
    if variant == "avx2" and not (cpuinfo.exists() and " avx2" in cpuinfo.read_text() and " f16c" in cpuinfo.read_text()):
        pytest.skip("no AVX2 / F16C here (or no /proc/cpuinfo to tell)")
    assert dll.gb_simd_level() == simd_level
    return dll
