"""Living beside a real DVC project: its cache, its config, and versions `dvc add` made.

When the workspace has a `.dvc/` folder, the objects of each dataset's checked-out version are
also placed in DVC's cache, so `dvc status`, `dvc checkout` and `dvc push` work on what we wrote.
Our cache keeps every version, so `dvc gc` (which deletes what DVC's own files no longer
reference) can never destroy our history. Objects are hard-linked when DVC copies into its
workspace (its default): both caches then share read-only inodes at no cost. When DVC is set to
link its workspace to its cache, a hard link could let an in-place edit reach our object, so we
copy instead.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from nb_mlops.store.workspace import Workspace

_OBJECT_MODE = 0o444


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


def dvc_object_path(cache: Path, md5: str) -> Path:
    return cache / "files" / "md5" / md5[:2] / md5[2:]


def place_in_dvc_cache(ws: Workspace, md5s: Iterable[str]) -> int:
    """Put these objects (and the files of their listings) in DVC's cache; return how many."""
    cache = dvc_cache_dir(ws)
    if cache is None:
        return 0
    link = _may_link(ws)
    placed = 0
    # files before listings: a listing in DVC's cache then means its files are there too
    for md5 in sorted(ws.objects.expand(md5s), key=lambda h: (h.endswith(".dir"), h)):
        dest = dvc_object_path(cache, md5)
        if dest.exists():
            continue
        src = ws.objects.path_of(md5)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.nbmlops-{os.getpid()}")
        try:
            if link:
                try:
                    os.link(src, tmp)
                except OSError:  # another file system, or links not allowed
                    shutil.copyfile(src, tmp)
            else:
                shutil.copyfile(src, tmp)
            os.chmod(tmp, _OBJECT_MODE)
            os.replace(tmp, dest)
        finally:
            if tmp.exists():
                tmp.unlink()
        placed += 1
    return placed


def sync_current(ws: Workspace, md5: str) -> int:
    """Place the checked-out version's objects in DVC's cache when they are not there yet.

    Looks at the top object only (a listing is placed after its files), so it costs one stat
    when DVC's cache is already in line.
    """
    cache = dvc_cache_dir(ws)
    if cache is None or dvc_object_path(cache, md5).exists():
        return 0
    return place_in_dvc_cache(ws, [md5])


def take_from_dvc_cache(ws: Workspace, md5: str) -> bool:
    """Copy object `md5` (with a listing's files) from DVC's cache into ours, verified.

    Returns False when DVC's cache does not hold all of it.
    """
    cache = dvc_cache_dir(ws)
    if cache is None:
        return False
    top = dvc_object_path(cache, md5)
    if not top.is_file():
        return False
    if md5.endswith(".dir"):
        import json

        try:
            entries = json.loads(top.read_bytes())
        except ValueError:
            return False
        files = [e.get("md5") for e in entries if isinstance(e, dict)]
        if not all(isinstance(h, str) and dvc_object_path(cache, h).is_file() for h in files):
            return False
        for h in files:
            if not ws.objects.has(h):
                ws.objects.add_file(dvc_object_path(cache, h), h)
        return ws.objects.add_listing(top.read_bytes()) == md5
    ws.objects.add_file(top, md5)
    return True
