"""Living beside a real DVC project: its cache, its config, and versions `dvc add` made.

When the workspace has a `.dvc/` folder, the objects of each dataset's checked-out version are
also placed in DVC's cache, so `dvc status`, `dvc checkout` and `dvc push` work on what we wrote.
DVC's cache has our objects' layout, so it is one more object store and objects move between
the two by the same transfer as to and from a remote.
Our cache keeps every version, so `dvc gc` (which deletes what DVC's own files no longer
reference) can never destroy our history. Objects are hard-linked when DVC copies into its
workspace (its default): both caches then share read-only inodes at no cost. When DVC is set to
link its workspace to its cache, a hard link could let an in-place edit reach our object, so we
copy instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from nb_mlops.errors import RemoteError
from nb_mlops.store.objects import ObjectStore
from nb_mlops.store.transfer import transfer
from nb_mlops.store.workspace import Workspace


def dvc_dir(ws: Workspace) -> Path | None:
    """The project's `.dvc/` folder, when there is one."""
    folder = ws.root / ".dvc"
    return folder if folder.is_dir() else None


def _config_value(folder: Path, section: str, key: str) -> str | None:
    """`key` of `[section]` from `.dvc/config.local` or `.dvc/config` (configobj format)."""
    for name in ("config.local", "config"):
        path = folder / name
        if not path.is_file():
            continue
        current = None
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = raw.strip()
            if line.startswith("["):
                current = line.strip("[]").strip().strip("'\"")
            elif current == section:
                m = re.match(rf"{re.escape(key)}\s*=\s*(.+)", line)
                if m:
                    return m.group(1).strip().strip("'\"")
    return None


def dvc_cache_dir(ws: Workspace) -> Path | None:
    """Where DVC keeps its objects (`.dvc/cache` unless its config says otherwise)."""
    folder = dvc_dir(ws)
    if folder is None:
        return None
    configured = _config_value(folder, "cache", "dir")
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else (folder / path).resolve()
    return folder / "cache"


def _may_link(ws: Workspace) -> bool:
    folder = dvc_dir(ws)
    kinds = (_config_value(folder, "cache", "type") or "") if folder else ""
    return "hardlink" not in kinds and "symlink" not in kinds


def dvc_objects(ws: Workspace) -> ObjectStore | None:
    """DVC's cache as an object store (it shares our layout), or None outside a DVC project."""
    cache = dvc_cache_dir(ws)
    if cache is None:
        return None
    return ObjectStore(cache, name="DVC's cache", home=False, link=_may_link(ws))


def place_in_dvc_cache(ws: Workspace, md5s: Iterable[str]) -> int:
    """Put these objects (and the files of their listings) in DVC's cache; return how many."""
    dvc = dvc_objects(ws)
    if dvc is None:
        return 0
    return transfer(ws.objects, dvc, list(md5s), progress=False).moved


def sync_current(ws: Workspace, md5: str) -> int:
    """Place the checked-out version's objects in DVC's cache when they are not there yet.

    Looks at the top object only (a listing is placed after its files), so it costs one stat
    when DVC's cache is already in line.
    """
    dvc = dvc_objects(ws)
    if dvc is None or dvc.has(md5):
        return 0
    return place_in_dvc_cache(ws, [md5])


def take_from_dvc_cache(ws: Workspace, md5: str) -> bool:
    """Copy object `md5` (with a listing's files) from DVC's cache into ours, verified.

    Returns False when DVC's cache does not hold all of it, or holds a file of it damaged. A
    folder listing there that is damaged or unsafe (a path leaving the folder: DVC's cache may
    have been crafted) raises ObjectCorrupt naming it, so the caller can say so.
    """
    dvc = dvc_objects(ws)
    if dvc is None or not dvc.has(md5):
        return False
    if md5.endswith(".dir"):
        dvc.listing(md5)  # checked here, to tell a crafted listing from a missing file
    try:
        transfer(dvc, ws.objects, [md5], progress=False)
    except RemoteError:
        return False
    return True
