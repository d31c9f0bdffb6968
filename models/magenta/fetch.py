"""Download Magenta's published GrooVAE checkpoints (resumable) and import them.

``download(url, path)`` streams into ``path.part`` and resumes with an HTTP ``Range``
request when a partial file is there (a server that ignores Range restarts the file); the
size is checked against the server's declared length and, where known, the expected size,
then the file is renamed into place. ``fetch_pretrained(name)`` downloads the tar into the
user cache folder and imports it into the user's model folder (both via platformdirs,
overridable with ``GROOVEBRIDGE_CACHE_DIR`` / ``GROOVEBRIDGE_MODELS_DIR``). ``js_*`` names are
magenta.js folders: the manifest, then each shard it lists, then ``config.json``. The base URL
can be overridden with ``GROOVEBRIDGE_MAGENTA_BASE_URL`` (tests use a local server).
"""

from __future__ import annotations

import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import platformdirs

BASE_URL = "https://storage.googleapis.com/magentadata/models/music_vae/checkpoints/"
JS_BASE_URL = "https://storage.googleapis.com/magentadata/js/checkpoints/"
BASE_URL_ENV = "GROOVEBRIDGE_MAGENTA_BASE_URL"
CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class Published:
    file: str  # path under the base URL: a .tar, or a magenta.js folder
    config: str | None  # None: inferred from the shapes and the name
    expected_bytes: int | None = None  # not recorded yet: checked against the server's length
    kind: str = "tf"  # "tf" (a tar) | "js" (a magenta.js folder)


PUBLISHED: dict[str, Published] = {
    "groovae_4bar": Published("groovae_4bar.tar", "groovae_4bar"),
    "groovae_2bar_humanize": Published("groovae_2bar_humanize.tar", "groovae_2bar_humanize"),
    "groovae_2bar_humanize_nokl": Published(
        "groovae_2bar_humanize_nokl.tar", "groovae_2bar_humanize"
    ),
    "groovae_2bar_tap_fixed_velocity": Published(
        "groovae_2bar_tap_fixed_velocity.tar", "groovae_2bar_tap_fixed_velocity"
    ),
    "groovae_2bar_add_closed_hh": Published(
        "groovae_2bar_add_closed_hh.tar", "groovae_2bar_add_closed_hh"
    ),
    "groovae_2bar_hits_control": Published(
        "groovae_2bar_hits_control.tar", "groovae_2bar_hits_control"
    ),
    "groovae_2bar_hits_control_nokl": Published(
        "groovae_2bar_hits_control_nokl.tar", "groovae_2bar_hits_control"
    ),
}
_JS = {
    "js_groovae_4bar": "music_vae/groovae_4bar",
    "js_groovae_2bar_humanize": "music_vae/groovae_2bar_humanize",
    "js_groovae_tap2drum_2bar": "music_vae/groovae_tap2drum_2bar",
    "js_groovae_unquantize_4bar": "music_vae/groovae_unquantize_4bar",
    **{f"js_tap2drum_{n}bar": f"groovae/tap2drum_{n}bar" for n in (1, 2, 3, 4)},
}
PUBLISHED.update({name: Published(path, None, kind="js") for name, path in _JS.items()})


class FetchError(Exception):
    """A download or import that failed; one line for the user."""


def models_dir() -> Path:
    """The user's model folder (imported checkpoints live in ``<models_dir>/<name>/``)."""
    env = os.environ.get("GROOVEBRIDGE_MODELS_DIR")
    return (
        Path(env).expanduser()
        if env
        else Path(platformdirs.user_data_dir("groovebridge")) / "models"
    )


def cache_dir() -> Path:
    env = os.environ.get("GROOVEBRIDGE_CACHE_DIR")
    return (
        Path(env).expanduser()
        if env
        else Path(platformdirs.user_cache_dir("groovebridge")) / "downloads"
    )


def published_url(name: str, base_url: str | None = None) -> str:
    info = PUBLISHED[name]
    base = (
        base_url or os.environ.get(BASE_URL_ENV) or (JS_BASE_URL if info.kind == "js" else BASE_URL)
    )
    return base.rstrip("/") + "/" + info.file


class Progress:
    """A one-line text progress bar on a stream (silent when ``enabled`` is False)."""

    def __init__(
        self, label: str, total: int | None, stream: IO[str] | None, enabled: bool
    ) -> None:
        self.label, self.total, self.stream, self.enabled = (
            label,
            total,
            stream or sys.stderr,
            enabled,
        )
        self._last = 0.0

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self._last < 0.2):
            return
        self._last = now
        mib = done / (1 << 20)
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * int(frac * 30)
            text = f"\r{self.label} [{bar:<30}] {frac * 100:5.1f}% {mib:7.1f} MiB"
        else:
            text = f"\r{self.label} {mib:7.1f} MiB"
        self.stream.write(text + ("\n" if final else ""))
        self.stream.flush()


def _total_from(resp: object, start: int) -> int | None:
    headers = resp.headers  # type: ignore[attr-defined]
    content_range = headers.get("Content-Range")
    if content_range:
        m = re.match(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", content_range)
        if m and m.group(3) != "*":
            return int(m.group(3))
    length = headers.get("Content-Length")
    return start + int(length) if length and length.isdigit() else None


def _network_error(url: str, e: BaseException) -> FetchError:
    host = urlsplit(url).netloc or url
    reason = getattr(e, "reason", e)
    if isinstance(reason, ConnectionRefusedError):
        return FetchError(f"cannot reach {host}: connection refused (no network or server down)")
    if isinstance(reason, OSError) and reason.strerror:
        return FetchError(f"cannot reach {host}: {reason.strerror} (no network?)")
    return FetchError(f"cannot reach {host}: {reason} (no network?)")


def download(
    url: str,
    path: Path,
    expected_bytes: int | None = None,
    progress: bool = True,
    stream: IO[str] | None = None,
    timeout_sec: float = 30.0,
    opener: Callable[..., object] = urllib.request.urlopen,
) -> Path:
    """Download ``url`` to ``path``, resuming ``path.part``; raises FetchError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "groovebridge-fetch"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        resp = opener(request, timeout=timeout_sec)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start and expected_bytes in (None, start):
            part.replace(path)  # the partial file was already complete
            return path
        raise FetchError(f"download failed: HTTP {e.code} {e.reason} for {url}") from None
    except (urllib.error.URLError, OSError, HTTPException) as e:
        raise _network_error(url, e) from None
    with resp:  # type: ignore[attr-defined]
        status = getattr(resp, "status", 200)
        if start and status != 206:
            start = 0  # server ignored the Range request: start again
        total = _total_from(resp, start)
        if expected_bytes is not None and total is not None and total != expected_bytes:
            raise FetchError(
                f"size check failed: server offers {total} bytes, expected {expected_bytes} for {url}"
            )
        bar = Progress(f"{path.name}", total, stream, progress)
        done = start
        try:
            with open(part, "ab" if start else "wb") as out:
                while True:
                    chunk = resp.read(CHUNK_BYTES)  # type: ignore[attr-defined]
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    bar.update(done)
        except (OSError, HTTPException) as e:
            bar.update(done, final=True)
            raise FetchError(
                f"download interrupted at {done} of {total or '?'} bytes ({e.__class__.__name__}); "
                "run again to resume"
            ) from None
        bar.update(done, final=True)
    if total is not None and done < total:
        raise FetchError(f"download interrupted at {done} of {total} bytes; run again to resume")
    want = expected_bytes if expected_bytes is not None else total
    if want is not None and done != want:
        part.unlink(missing_ok=True)
        raise FetchError(f"size check failed: downloaded {done} bytes, expected {want}")
    part.replace(path)
    return path


def download_with_retries(url: str, path: Path, retries: int = 3, **kw: object) -> Path:
    """``download`` again (resuming) after an interruption, up to ``retries`` attempts."""
    for attempt in range(1, retries + 1):
        try:
            return download(url, path, **kw)  # type: ignore[arg-type]
        except FetchError as e:
            if attempt == retries or "run again to resume" not in str(e):
                raise
    raise AssertionError("unreachable")


def download_magenta_js(url: str, folder: Path, retries: int = 3, **kw: object) -> Path:
    """The manifest, every shard it lists (plain file names only) and config.json if any."""
    import json

    from models.magenta.js import CONFIG_FILE, MANIFEST_FILE

    base = url.rstrip("/") + "/"
    manifest_path = folder / MANIFEST_FILE
    manifest_path.unlink(missing_ok=True)  # the manifest is the "complete" marker: last
    tmp_manifest = folder / (MANIFEST_FILE + ".download")
    download_with_retries(base + MANIFEST_FILE, tmp_manifest, retries=retries, **kw)
    try:
        manifest = json.loads(tmp_manifest.read_text(encoding="utf-8"))
        paths = [p for group in manifest for p in group["paths"]]
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise FetchError(f"{base}{MANIFEST_FILE} is not a weights manifest") from None
    for rel in paths:
        if (
            not isinstance(rel, str)
            or not re.fullmatch(r"[A-Za-z0-9_.-]+", rel)
            or rel in (".", "..")
        ):
            raise FetchError(
                f"{MANIFEST_FILE}: refusing shard path {rel!r} (not a plain file name)"
            )
        download_with_retries(base + rel, folder / rel, retries=retries, **kw)
    try:
        download(base + CONFIG_FILE, folder / CONFIG_FILE, **kw)  # type: ignore[arg-type]
    except FetchError as e:
        if "HTTP 404" not in str(e):
            raise
    tmp_manifest.replace(manifest_path)
    return folder


def fetch_pretrained(
    name: str,
    dest: Path | None = None,
    base_url: str | None = None,
    cache: Path | None = None,
    force: bool = False,
    progress: bool = True,
    retries: int = 3,
    stream: IO[str] | None = None,
) -> tuple[Path, str]:
    """Download ``name`` and import it into ``dest/name``; returns (checkpoint dir, note)."""
    from models.magenta.importer import MagentaImportError, import_magenta

    if name not in PUBLISHED:
        raise FetchError(f"unknown checkpoint {name!r}; choose one of: {', '.join(PUBLISHED)}")
    info = PUBLISHED[name]
    out = (dest or models_dir()) / name
    if out.exists() and any(out.iterdir()) and not force:
        raise FetchError(f"{out} already exists (use --force to replace it)")
    url = published_url(name, base_url)
    if info.kind == "js":
        local = (cache or cache_dir()) / name
        if force or not (local / "weights_manifest.json").is_file():
            download_magenta_js(url, local, retries=retries, progress=progress, stream=stream)
    else:
        local = (cache or cache_dir()) / Path(info.file).name
        if force or not local.is_file():
            download_with_retries(
                url,
                local,
                retries=retries,
                expected_bytes=info.expected_bytes,
                progress=progress,
                stream=stream,
            )
    try:
        result = import_magenta(local, out, info.config)
    except MagentaImportError as e:
        raise FetchError(
            f"import of {info.file} failed: {e} (use --force to download it again)"
        ) from None
    return result.output, result.note
