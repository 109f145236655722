"""Remotes: the named places datasets are pushed to and pulled from.

A remote is a name and a URL (a local folder or any fsspec URL) kept in ``.nbmlops/config.toml``,
with, for S3 (``s3://bucket/prefix``), a few options under DVC's own names::

    [core]
    default = "origin"

    [remotes.origin]
    url = "/mnt/backup/project"

    [remotes.team]
    url = "s3://team-data/project"
    endpointurl = "http://minio.local:9000"   # an S3-compatible server (MinIO, moto, ...)
    region = "eu-west-1"
    profile = "team"                          # a profile of ~/.aws/config and credentials

Credentials are never kept here (config.toml is tracked by git): they come from where every AWS
tool looks, the ``AWS_*`` environment variables, ``AWS_PROFILE`` and the files ``~/.aws/config``
and ``~/.aws/credentials``. Options naming a credential are refused, on the way in and when a
hand-edited config.toml holds one; every option read back is checked again.

`open_remote` gives the remote as an object store (store/fsobjects.py): objects sit at
``<url>/files/md5/ab/cdef...`` exactly as ``dvc push`` leaves them, so ``dvc push`` and
``dvc pull`` against the same folder interoperate with ours. What moves, and how, is
store/transfer.py's business; which datasets move is sync.py's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from nb_mlops.errors import RemoteError, StoreError
from nb_mlops.redact import is_secret_name, redact_text
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
S3_PROTOCOLS = ("s3", "s3a")
OPTIONS = ("endpointurl", "region", "profile")
"""The options an S3 remote takes, by DVC's names (`dvc remote modify NAME endpointurl ...`)."""
_CREDENTIALS = frozenset(
    {"accesskeyid", "awsaccesskeyid", "secretaccesskey", "sessiontoken", "credentials"}
)
_CREDENTIALS_HINT = (
    "nb-mlops never stores credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
    "AWS_PROFILE (or --profile) with ~/.aws/credentials"
)
_REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_PROFILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}")
_ENDPOINT = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(/[!-~]*)?")


@dataclass(frozen=True)
class Remote:
    """A configured remote: its name, its URL as written, whether it is the default, and its
    options (DVC's names: `endpointurl`, `region`, `profile`; never credentials)."""

    name: str
    url: str
    default: bool = False
    options: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def storage_options(self) -> dict[str, Any]:
        """The remote's options as s3fs takes them (credentials stay with botocore's lookup)."""
        client = {}
        if "endpointurl" in self.options:
            client["endpoint_url"] = self.options["endpointurl"]
        if "region" in self.options:
            client["region_name"] = self.options["region"]
        found: dict[str, Any] = {"client_kwargs": client} if client else {}
        if "profile" in self.options:
            found["profile"] = self.options["profile"]
        return found


# -- configuration --------------------------------------------------------------------------


def add_remote(
    ws: Workspace,
    name: str,
    url: str,
    *,
    default: bool = False,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    **options: str,
) -> Remote:
    """Record remote ``name`` at ``url`` in config.toml (comments kept); return it.

    The first remote becomes the default, as does any added with ``default=True``. Adding a
    name again is allowed only with the same URL and options (so scripts can re-run it). A
    relative local path is stored as written and resolved against the workspace root when used,
    so the project folder can move with its remote beside it. An S3 remote takes
    `endpoint_url`, `region` and `profile`, stored under DVC's names (`options` may also give
    them so: ``endpointurl=...``); credentials are refused (see the module notes).
    """
    _check_name(name)
    url = _check_url(name, url)
    given = {"endpointurl": endpoint_url, "region": region, "profile": profile, **options}
    wanted = _check_options(name, url, {k: v for k, v in given.items() if v is not None})
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
            old_options = {k: old.get(k) for k in OPTIONS if k in old}
            if old_options != wanted:
                raise RemoteError(
                    f"a remote named {name} already exists at {url} with other options "
                    f"({_shown_options(old_options)}); remove it first with "
                    f"`%track remote remove {name}`"
                )
        else:
            import tomlkit

            entry = tomlkit.table()
            entry["url"] = url
            for key, value in wanted.items():
                entry[key] = value
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
    return [Remote(n, u, n == default, o) for n, (u, o) in table.items()]


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
    url, options = table[name]
    return Remote(name, url, name == default, options)


def open_remote(ws: Workspace, name: str | None = None, *, write: bool = False) -> FsObjectDB:
    """Remote `name` (default: the default remote) as an object store, opened on first use
    (`write`: for pushing, creating its folder when missing)."""
    remote = get_remote(ws, name)
    return FsObjectDB(
        remote.url, remote.name, base=ws.root, write=write, options=remote.storage_options()
    )


def _read_config(ws: Workspace) -> tuple[dict[str, tuple[str, dict[str, str]]], str | None]:
    """(name -> (url, options), default name) from config.toml (re-read when another process,
    the CLI in a `!` cell say, changed it). The file may have been edited by hand: every entry
    is checked as `add_remote` checks its arguments."""
    config = ws.config
    path = ws.config_path
    raw = config.get("remotes", {})
    if not isinstance(raw, dict):
        raise RemoteError(f"{path}: `remotes` must be a table of [remotes.NAME] sections")
    table: dict[str, tuple[str, dict[str, str]]] = {}
    for name, entry in raw.items():
        url = entry.get("url") if isinstance(entry, dict) else None
        if not isinstance(url, str) or not url.strip():
            raise RemoteError(f'{path}: [remotes.{name}] needs url = "..."')
        options = {k: v for k, v in entry.items() if k != "url"}
        try:
            table[name] = (url, _check_options(name, url.strip(), options))
        except RemoteError as exc:
            raise RemoteError(f"{path}: [remotes.{name}]: {exc}") from None
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


def _shown_options(options: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items()) or "none"


def _check_options(name: str, url: str, options: Mapping[str, Any]) -> dict[str, str]:
    """`options` under DVC's names (`endpoint_url` and `endpoint-url` mean `endpointurl`),
    checked; a credential, an unknown name, an option of another kind of remote or a bad value
    is refused in one line naming the remote."""
    from fsspec.core import split_protocol

    checked: dict[str, str] = {}
    for raw, value in options.items():
        given = str(raw)[:40]
        key = given.lower().replace("_", "").replace("-", "")
        if key in _CREDENTIALS or is_secret_name(given):
            raise RemoteError(f"remote {name}: {given} is a credential; {_CREDENTIALS_HINT}")
        if key not in OPTIONS:
            raise RemoteError(
                f"remote {name}: unknown option {given!r} (known: {', '.join(OPTIONS)})"
            )
        if split_protocol(url)[0] not in S3_PROTOCOLS:
            raise RemoteError(f"remote {name}: {key} applies to s3:// remotes only, not {url}")
        problem = _option_problem(key, value)
        if problem is not None:
            raise RemoteError(f"remote {name}: {problem}")
        checked[key] = value.strip()
    return {k: checked[k] for k in OPTIONS if k in checked}


def _option_problem(key: str, value: Any) -> str | None:
    """What is wrong with one option's value, or None."""
    if not isinstance(value, str):
        return f"{key} must be text, not {type(value).__name__} {str(value)[:40]!r}"
    value = value.strip()
    if key == "endpointurl":
        shown = redact_text(value)
        if shown != value:
            return f"endpointurl {shown} holds a password or token; {_CREDENTIALS_HINT}"
        if not _ENDPOINT.fullmatch(value):
            return f"endpointurl {value[:80]!r} is not an http:// or https:// URL"
    elif key == "region" and not _REGION.fullmatch(value):
        return f"region {value[:80]!r} is not a region name (like eu-west-1)"
    elif key == "profile" and not _PROFILE.fullmatch(value):
        return f"profile {value[:80]!r} is not a profile name of ~/.aws/config"
    return None


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
    protocol, path = url.split("://", 1) if "://" in url else (None, url)
    if protocol in S3_PROTOCOLS and not path.split("/", 1)[0]:
        raise RemoteError(f"remote {name} ({url}): the URL names no bucket (s3://BUCKET/PREFIX)")
    return url
