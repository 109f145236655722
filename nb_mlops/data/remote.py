"""Remotes: the named places datasets are pushed to and pulled from.

A remote is a name and a URL (a local folder or any fsspec URL) kept in ``.nbmlops/config.toml``::

    [core]
    default = "origin"

    [remotes.origin]
    url = "/mnt/backup/project"

`open_remote` gives the remote as an object store (store/fsobjects.py): objects sit at
``<url>/files/md5/ab/cdef...`` exactly as ``dvc push`` leaves them, so ``dvc push`` and
``dvc pull`` against the same folder interoperate with ours. What moves, and how, is
store/transfer.py's business; which datasets move is sync.py's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from nb_mlops.errors import RemoteError, StoreError
from nb_mlops.redact import redact_text
from nb_mlops.store.fsobjects import FsObjectDB, unknown_protocol
from nb_mlops.store.workspace import Workspace

__all__ = [
    "Remote",
    "add_remote",
    "get_remote",
    "list_remotes",
    "open_remote",
    "remove_remote",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ADD_HINT = "add one with `%track remote add NAME URL`"


@dataclass(frozen=True)
class Remote:
    """A configured remote: its name, its URL as written, and whether it is the default."""

    name: str
    url: str
    default: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- configuration --------------------------------------------------------------------------


def add_remote(ws: Workspace, name: str, url: str, *, default: bool = False) -> Remote:
    """Record remote ``name`` at ``url`` in config.toml (comments kept); return it.

    The first remote becomes the default, as does any added with ``default=True``. Adding a
    name again is allowed only with the same URL (so scripts can re-run it). A relative local path
    is stored as written and resolved against the workspace root when used, so the project folder
    can move with its remote beside it.
    """
    _check_name(name)
    url = _check_url(name, url)
    with _editing(ws) as doc:
        remotes = _table(doc, "remotes", super_table=True)
        old = remotes.get(name)
        if old is not None:
            old_url = old.get("url") if hasattr(old, "get") else None
            if old_url != url:
                raise RemoteError(
                    f"a remote named {name} already exists with URL {old_url}; "
                    f"remove it first with `%track remote remove {name}`"
                )
        else:
            import tomlkit

            entry = tomlkit.table()
            entry["url"] = url
            remotes[name] = entry
        core = doc.get("core")
        current = core.get("default") if hasattr(core, "get") else None
        if default or current is None or current not in remotes:
            _table(doc, "core")["default"] = name
    return get_remote(ws, name)


def remove_remote(ws: Workspace, name: str) -> None:
    """Forget remote ``name`` (its objects stay where they are); unset it as the default."""
    with _editing(ws) as doc:
        remotes = doc.get("remotes")
        if not hasattr(remotes, "get") or name not in remotes:
            raise RemoteError(_no_such(name, _names(remotes)))
        del remotes[name]
        core = doc.get("core")
        if hasattr(core, "get") and core.get("default") == name:
            del core["default"]
            if not core:
                del doc["core"]


def list_remotes(ws: Workspace) -> list[Remote]:
    """The configured remotes, in the order config.toml lists them."""
    table, default = _read_config(ws)
    return [Remote(n, u, n == default) for n, u in table.items()]


def get_remote(ws: Workspace, name: str | None = None) -> Remote:
    """Remote ``name``, or the default one (the only one, when just one is configured)."""
    table, default = _read_config(ws)
    if name is None:
        if default is not None:
            if default not in table:
                raise RemoteError(
                    f"the default remote {default} (config.toml [core] default) is not "
                    f"defined; {_ADD_HINT}"
                )
            name = default
        elif len(table) == 1:
            name = next(iter(table))
        elif not table:
            raise RemoteError(f"no default remote: no remote is configured; {_ADD_HINT}")
        else:
            raise RemoteError(
                f"no default remote among {', '.join(table)}; name the one to use, or "
                "re-add one with default=True"
            )
    if name not in table:
        raise RemoteError(_no_such(name, list(table)))
    return Remote(name, table[name], name == default)


def open_remote(ws: Workspace, name: str | None = None, *, write: bool = False) -> FsObjectDB:
    """Remote `name` (default: the default remote) as an object store, opened on first use
    (`write`: for pushing, creating its folder when missing)."""
    remote = get_remote(ws, name)
    return FsObjectDB(remote.url, remote.name, base=ws.root, write=write)


def _read_config(ws: Workspace) -> tuple[dict[str, str], str | None]:
    """(name -> url, default name) from config.toml (re-read when another process, the CLI in
    a `!` cell say, changed it)."""
    config = ws.config
    path = ws.config_path
    raw = config.get("remotes", {})
    if not isinstance(raw, dict):
        raise RemoteError(f"{path}: `remotes` must be a table of [remotes.NAME] sections")
    table: dict[str, str] = {}
    for name, entry in raw.items():
        url = entry.get("url") if isinstance(entry, dict) else None
        if not isinstance(url, str) or not url.strip():
            raise RemoteError(f'{path}: [remotes.{name}] needs url = "..."')
        table[name] = url
    core = config.get("core")
    default = core.get("default") if isinstance(core, dict) else None
    return table, default if isinstance(default, str) else None


@contextmanager
def _editing(ws: Workspace) -> Iterator[Any]:
    """config.toml as a tomlkit document, written back whole by the store (comments kept)."""
    try:
        with ws.edit_config() as doc:
            yield doc
    except StoreError as exc:
        raise RemoteError(str(exc)) from None


def _table(doc: Any, key: str, super_table: bool = False) -> Any:
    """``doc[key]``, created as an (implicit-header) table when missing."""
    import tomlkit

    found = doc.get(key)
    if found is None:
        found = tomlkit.table(is_super_table=super_table)
        doc[key] = found
    elif not hasattr(found, "get"):
        raise RemoteError(f"config.toml: `{key}` must be a table")
    return found


def _names(remotes: Any) -> list[str]:
    return list(remotes) if hasattr(remotes, "keys") else []


def _no_such(name: str, names: list[str]) -> str:
    known = f" (remotes: {', '.join(names)})" if names else ""
    return f"no remote named {name}{known}; {_ADD_HINT}"


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RemoteError(
            f"bad remote name {name!r}: use letters, digits, '-', '_' and '.', starting with "
            "a letter or digit (at most 64 characters)"
        )


def _check_url(name: str, url: object) -> str:
    """The URL stripped; refuse empty ones, control characters, credentials and protocols fsspec
    lacks. A password or token in the URL would be kept in config.toml, which git tracks."""
    if not isinstance(url, str) or not url.strip():
        raise RemoteError(f"remote {name}: the URL is empty")
    url = url.strip()
    if any(ord(c) < 32 for c in url):
        raise RemoteError(f"remote {name}: the URL holds a control character: {url!r}")
    shown = redact_text(url)
    if shown != url:
        raise RemoteError(
            f"remote {name} ({shown}): the URL holds a password or token; give credentials "
            "through the environment or the storage's own config files, not in the URL"
        )
    unknown = unknown_protocol(url)
    if unknown is not None:
        raise RemoteError(f"remote {name} ({url}): unknown protocol {unknown!r}")
    return url
