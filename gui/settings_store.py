"""The app's own preferences: a TOML file in the platform config folder.

Holds what the GUI remembers between runs (window geometry and layout, last folders, the
training form, the active model, OSC fields); engine settings proper belong to
``bridge.settings``. ``GROOVEBRIDGE_CONFIG_DIR`` points it elsewhere (tests, portable installs).
Writes are atomic (temp file + rename); a damaged file is set aside, never a crash.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import tomli_w

from models.atomic_io import write_text_atomic

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FILE_NAME = "app.toml"


def config_dir() -> Path:
    env = os.environ.get("GROOVEBRIDGE_CONFIG_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("groovebridge", appauthor=False))


class SettingsStore:
    """A flat key -> value store (str, int, float, bool, lists) saved as TOML."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else config_dir() / FILE_NAME
        self._data: dict[str, Any] = {}
        self.load_error: str | None = None
        self._load()

    def _load(self) -> None:
        try:
            self._data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self._data = {}
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            self._data = {}
            self.load_error = f"settings file {self.path} unreadable ({e}); starting with defaults"
            try:
                self.path.replace(self.path.with_suffix(".toml.bad"))
            except OSError:
                pass

    def get(self, key: str, default: Any = None) -> Any:
        value = self._data.get(key, default)
        if default is not None and value is not None and not isinstance(value, type(default)):
            if isinstance(default, float) and isinstance(value, int):
                return float(value)
            return default
        return value

    def set(self, key: str, value: Any) -> None:
        if value is None:
            self._data.pop(key, None)
        else:
            self._data[key] = value

    def get_bytes(self, key: str) -> bytes | None:
        value = self._data.get(key)
        if not isinstance(value, str):
            return None
        try:
            return bytes.fromhex(value)
        except ValueError:
            return None

    def set_bytes(self, key: str, value: bytes) -> None:
        self._data[key] = bytes(value).hex()

    def save(self) -> str | None:
        """Write the file; returns a one-line error instead of raising."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, tomli_w.dumps(self._data))
        except OSError as e:
            return f"could not save settings to {self.path}: {e.strerror or e}"
        return None
