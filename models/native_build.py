"""Build a C source into a shared library once, cached in the user cache directory (pure stdlib).

Used by the model kernels (``models.net.fast_kernel``) and the JACK MIDI frame reader
(``bridge.midi.jack_frames``): both compile on first use with the system C compiler and load
the result with ctypes. The file name carries a hash of the source, compiler, flags and machine,
so an edited source or another CPU builds anew; a build goes to a temporary folder first and is
renamed into place (two processes building at once both end with a whole library).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("groovebridge")) / "native"
    except Exception:  # pragma: no cover
        return Path(tempfile.gettempdir()) / "groovebridge-native"


def compiler() -> str | None:
    """``$CC``, else cc / gcc / clang on the PATH; None on Windows or without one."""
    if platform.system() == "Windows":
        return None
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def build_shared(source: str, name: str, cc: str, flags: list[str], libs: list[str]) -> Path | None:
    """``name_<hash>.so`` built from ``source`` (cached), or None when the compiler fails.
    Raises OSError / subprocess.SubprocessError when it cannot run at all."""
    key = hashlib.sha256((source + cc + " ".join(flags + libs) + platform.node() + platform.machine()).encode()).hexdigest()[:16]
    out_dir = cache_dir()
    lib = out_dir / f"{name}_{key}.so"
    if lib.exists():
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        src = Path(tmp) / f"{name}.c"
        src.write_text(source, encoding="utf-8")
        tmp_lib = Path(tmp) / lib.name
        if subprocess.run([cc, *flags, str(src), "-o", str(tmp_lib), *libs], capture_output=True, timeout=120).returncode != 0:
            return None
        os.replace(tmp_lib, lib)
    return lib
