"""The preview's child process does not import the user's files (trial finding 29): started
from a folder holding ``inspect.py`` (a stdlib module's name), the child still starts."""

from __future__ import annotations

import pytest

from bridge.audio.preview_proc import PreviewProcess
from models.synth import find_soundfont


def test_a_user_file_named_like_a_stdlib_module_in_the_current_folder_is_not_imported(tmp_path, monkeypatch):
    soundfont = find_soundfont()
    if soundfont is None:
        pytest.skip("no GM SoundFont installed (scripts/system-deps.sh installs fluid-soundfont-gm)")
    marker = tmp_path / "imported"
    for name in ("inspect.py", "json.py"):
        (tmp_path / name).write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit('user {name} imported')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    proc = PreviewProcess(str(soundfont), backend="auto")
    try:
        assert proc.proc is not None
        assert "audio process ended" not in proc._reason  # old code: the child died importing ./inspect.py
        assert proc.proc.poll() is None and not marker.exists()
    finally:
        proc.close()
