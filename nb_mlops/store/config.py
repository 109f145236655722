"""The store's settings file, `.nbmlops/config.toml`: read fresh, edited whole.

Another process (the CLI in a `!` cell, a second kernel) may change the file at any time, so a
reader re-parses it when its stat changes, and an edit parses, changes and rewrites it under the
store's writers' lock, keeping the user's comments (tomlkit).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nb_mlops.errors import StoreError
from nb_mlops.store.files import atomic_write

TEMPLATE = """\
# nb-mlops settings for this workspace (TOML).
# [capture]
# env = ["MY_SETTING"]          # extra environment variables to record with each run
# stdout_limit = 65536          # bytes of stdout/stderr kept per run (head and tail)
# [tracking]
# system_metrics_interval = 10  # seconds between a run's CPU/memory/IO/GPU samples; 0 = off
"""


class ConfigFile:
    """`config.toml` of one store: `read()` is cheap when the file did not change."""

    def __init__(self, path: Path, lock: Any) -> None:
        self.path = Path(path)
        self._lock = lock  # a callable giving the writers' lock context
        self._seen: tuple[int, int, int, int] | None = None
        self._doc: dict[str, Any] = {}

    def read(self) -> dict[str, Any]:
        """The settings as plain dicts; `{}` when there is no file."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._doc = None, {}
            return self._doc
        key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if key != self._seen:
            self._doc = _parse(self.path)
            self._seen = key
        return self._doc

    @contextmanager
    def edit(self) -> Iterator[Any]:
        """Yield the file as a tomlkit document; it is written back whole when the block ends
        without an error (comments kept), under the writers' lock."""
        import tomlkit

        with self._lock():
            try:
                text = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
                doc = tomlkit.parse(text)
            except (ValueError, tomlkit.exceptions.TOMLKitError) as exc:
                raise StoreError(f"config file {self.path} is not valid TOML: {exc}") from None
            try:
                yield doc
                atomic_write(self.path, tomlkit.dumps(doc))
            finally:
                self._seen = None  # read afresh next time, whatever happened


def _parse(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise StoreError(f"config file {path} is not valid TOML: {exc}") from None
