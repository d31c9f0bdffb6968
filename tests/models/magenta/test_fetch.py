"""fetch-pretrained against a real HTTP server on 127.0.0.1 (ephemeral port); no internet.

The server serves a tar of the TensorFlow-made small_4bar fixture (see
tests/fixtures/magenta/README.md), honours ``Range`` requests, and can be told to cut the
connection halfway through the first response or to ignore ``Range``.
"""

from __future__ import annotations

import http.server
import io
import re
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.cli.fetch import main as fetch_main
from models.magenta.fetch import PUBLISHED, FetchError, Published, download, download_with_retries
from models.train.checkpoint import load_checkpoint

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "magenta"


def _tar_bytes() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for f in sorted((FIXTURES / "small_4bar").iterdir()):
            tar.add(f, arcname=f"small_4bar/{f.name}")
    return buf.getvalue()


TAR = _tar_bytes()


class Server:
    """Serves TAR at /<anything>.tar; records the Range header of every request."""

    def __init__(self) -> None:
        self.cut_first = False
        self.ignore_range = False
        self.ranges: list[str | None] = []
        self.files: dict[str, bytes] = {}  # other paths served, e.g. a magenta.js folder
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                outer.ranges.append(self.headers.get("Range"))
                if self.path in outer.files:
                    data = outer.files[self.path]
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if not self.path.endswith(".tar"):
                    self.send_error(404)
                    return
                start = 0
                m = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
                if m and not outer.ignore_range:
                    start = int(m.group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(TAR) - 1}/{len(TAR)}")
                else:
                    self.send_response(200)
                body = TAR[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut_first and len(outer.ranges) == 1:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture()
def small_published(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register the small fixture under a published-style name (config inferred)."""
    monkeypatch.setitem(PUBLISHED, "small_4bar", Published("small_4bar.tar", None))
    return "small_4bar"


def test_fetch_pretrained_downloads_and_imports(
    server: Server, small_published: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = fetch_main(
        [
            small_published,
            "--base-url",
            server.url,
            "--dest",
            str(tmp_path / "models"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "100.0%" in out.err  # the progress bar reached the end
    ckpt = tmp_path / "models" / "small_4bar"
    model, config, meta = load_checkpoint(ckpt, "cpu")
    assert meta["step"] == 1234 and config.z_size == 8
    assert (tmp_path / "cache" / "small_4bar.tar").read_bytes() == TAR
    assert not list((tmp_path / "cache").glob("*.part"))
    # second run: already there
    assert (
        fetch_main(
            [
                small_published,
                "--base-url",
                server.url,
                "--dest",
                str(tmp_path / "models"),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--quiet",
            ]
        )
        == 1
    )
    assert "already exists" in capsys.readouterr().err


def test_base_url_from_environment(
    server: Server, small_published: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROOVEBRIDGE_MAGENTA_BASE_URL", server.url)
    monkeypatch.setenv("GROOVEBRIDGE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("GROOVEBRIDGE_CACHE_DIR", str(tmp_path / "cache"))
    assert fetch_main([small_published, "--quiet"]) == 0
    assert (tmp_path / "models" / "small_4bar" / "model.safetensors").is_file()


def test_resume_after_a_cut_connection(server: Server, tmp_path: Path) -> None:
    server.cut_first = True
    target = tmp_path / "x.tar"
    with pytest.raises(FetchError, match="interrupted at .* run again to resume"):
        download(server.url + "x.tar", target, progress=False)
    part = tmp_path / "x.tar.part"
    assert 0 < part.stat().st_size < len(TAR) and not target.exists()
    half = part.stat().st_size
    download(server.url + "x.tar", target, progress=False)
    assert server.ranges == [None, f"bytes={half}-"]  # the second request resumed
    assert target.read_bytes() == TAR and not part.exists()


def test_retries_resume_within_one_call(server: Server, tmp_path: Path) -> None:
    server.cut_first = True
    download_with_retries(server.url + "x.tar", tmp_path / "x.tar", retries=2, progress=False)
    assert (tmp_path / "x.tar").read_bytes() == TAR
    assert server.ranges[0] is None and server.ranges[1].startswith("bytes=")


def test_server_ignoring_range_restarts_cleanly(server: Server, tmp_path: Path) -> None:
    (tmp_path / "x.tar.part").write_bytes(b"garbage that must not stay in front")
    server.ignore_range = True
    download(server.url + "x.tar", tmp_path / "x.tar", progress=False)
    assert (tmp_path / "x.tar").read_bytes() == TAR


def test_size_check_failure(server: Server, tmp_path: Path) -> None:
    with pytest.raises(
        FetchError, match=f"size check failed: server offers {len(TAR)} bytes, expected 1234"
    ):
        download(server.url + "x.tar", tmp_path / "x.tar", expected_bytes=1234, progress=False)
    assert not (tmp_path / "x.tar").exists()


def test_size_check_on_published_entry(
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(PUBLISHED, "small_4bar", Published("small_4bar.tar", None, len(TAR) + 1))
    code = fetch_main(
        [
            "small_4bar",
            "--base-url",
            server.url,
            "--dest",
            str(tmp_path / "m"),
            "--cache-dir",
            str(tmp_path / "c"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "size check failed" in err and err.count("\n") == 1
    assert not (tmp_path / "m" / "small_4bar").exists()


def test_http_error_and_unknown_name(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        download(server.url + "missing.bin", tmp_path / "m.bin", progress=False)
    assert fetch_main(["groovae_9bar", "--dest", str(tmp_path)]) == 1
    assert "unknown checkpoint 'groovae_9bar'" in capsys.readouterr().err


def test_no_network_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connection refused
    code = fetch_main(
        [
            "groovae_4bar",
            "--base-url",
            f"http://127.0.0.1:{port}/",
            "--dest",
            str(tmp_path / "m"),
            "--cache-dir",
            str(tmp_path / "c"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert (
        err
        == f"fetch-pretrained: cannot reach 127.0.0.1:{port}: connection refused (no network or server down)\n"
    )
    assert not (tmp_path / "m").exists()


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert fetch_main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "groovae_2bar_humanize" in out
    assert (
        "https://storage.googleapis.com/magentadata/models/music_vae/checkpoints/groovae_4bar.tar"
        in out
    )


def _serve_js(server: Server, manifest: bytes | None = None) -> None:
    for f in (FIXTURES / "small_4bar_js").iterdir():
        server.files[f"/js/small_4bar_js/{f.name}"] = f.read_bytes()
    if manifest is not None:
        server.files["/js/small_4bar_js/weights_manifest.json"] = manifest


def test_fetch_magenta_js_folder(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(PUBLISHED, "js_small_4bar", Published("small_4bar_js", None, kind="js"))
    _serve_js(server)
    assert (
        fetch_main(
            [
                "js_small_4bar",
                "--base-url",
                server.url + "js/",
                "--dest",
                str(tmp_path / "m"),
                "--cache-dir",
                str(tmp_path / "c"),
                "--quiet",
            ]
        )
        == 0
    )
    _, config, meta = load_checkpoint(tmp_path / "m" / "js_small_4bar", "cpu")
    assert meta["source_format"] == "magenta.js" and config.num_steps == 64
    assert (tmp_path / "c" / "js_small_4bar" / "group1-shard2of2").read_bytes() == (
        FIXTURES / "small_4bar_js" / "group1-shard2of2"
    ).read_bytes()


def test_fetch_magenta_js_refuses_unsafe_shard_paths(
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    monkeypatch.setitem(PUBLISHED, "js_small_4bar", Published("small_4bar_js", None, kind="js"))
    manifest = json.loads((FIXTURES / "small_4bar_js" / "weights_manifest.json").read_text())
    manifest[0]["paths"][0] = "../../outside"
    _serve_js(server, json.dumps(manifest).encode())
    assert (
        fetch_main(
            [
                "js_small_4bar",
                "--base-url",
                server.url + "js/",
                "--dest",
                str(tmp_path / "m"),
                "--cache-dir",
                str(tmp_path / "c"),
                "--quiet",
            ]
        )
        == 1
    )
    assert "refusing shard path '../../outside'" in capsys.readouterr().err
    assert not (tmp_path / "m").exists() and not (tmp_path / "outside").exists()
