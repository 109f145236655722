"""Folder listings (`.dir` objects): the one place their bytes are parsed and checked.

A listing comes from our cache, from DVC's cache or from a remote, and any of them may have been
crafted. Before anything is written from one, every entry must be a `{"md5", "relpath"}` pair
whose md5 names a file object and whose relpath stays inside the folder it describes: relative,
`/`-separated, without empty, `.` or `..` parts, each path listed once, and no path both a file
and a folder of another entry (`a` and `a/b`).

The bytes alone cannot say whether a path passes through a symbolic link: that depends on the
folder it is written into. :func:`linked_folder` is the check made there, before anything is
written: a crafted folder could make `data/sub` a link to `/etc`, and writing `data/sub/x`
would then land outside the folder.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from nb_mlops.errors import ObjectCorrupt

FILE_HASH = re.compile(r"[0-9a-f]{32}")


def parse_listing(data: bytes, where: str) -> list[dict]:
    """The entries of a `.dir` object's bytes; ObjectCorrupt naming `where` when unusable."""
    try:
        entries = json.loads(data)
    except ValueError:
        raise ObjectCorrupt(f"folder object {where} is not valid JSON") from None
    if not isinstance(entries, list) or not all(_is_entry(e) for e in entries):
        raise ObjectCorrupt(f"folder object {where} is not a list of md5/relpath entries")
    seen: set[str] = set()
    for entry in entries:
        relpath = entry["relpath"]
        if not is_safe_relpath(relpath):
            raise ObjectCorrupt(f"folder object {where} lists an unsafe path: {relpath!r}")
        if relpath in seen:
            raise ObjectCorrupt(f"folder object {where} lists {relpath!r} twice")
        seen.add(relpath)
    for relpath in seen:
        parts = relpath.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in seen:
                raise ObjectCorrupt(
                    f"folder object {where} lists {folder!r} both as a file and as a folder"
                )
    return entries


def is_safe_relpath(relpath: str) -> bool:
    """Whether `relpath` (posix separators) names a file strictly inside its folder."""
    return not (
        relpath.startswith("/")
        or "\0" in relpath
        or any(p in ("", ".", "..") for p in relpath.split("/"))
    )


def linked_folder(root: Path | str, relpaths: Iterable[str]) -> Path | None:
    """The first folder on the way from `root` to one of `relpaths` that is a symbolic link.

    Only the folders strictly inside `root` that lead to each path are looked at (`root` itself
    and each path's last part are not: replacing or removing a link there touches the link, not
    what it points to). Folders that do not exist yet are fine: checkout makes them. Each folder
    is looked at once, so a listing of many files in few folders costs few `lstat` calls.
    """
    root = Path(root)
    checked: set[str] = set()
    for relpath in relpaths:
        parts = relpath.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder in checked:
                continue
            checked.add(folder)
            path = root.joinpath(*parts[:depth])
            try:
                mode = os.lstat(path).st_mode
            except OSError:  # missing (made later) or unreadable (the write will say so)
                break
            if stat.S_ISLNK(mode):
                return path
    return None


def _is_entry(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("relpath"), str)
        and isinstance(entry.get("md5"), str)
        and FILE_HASH.fullmatch(entry["md5"]) is not None
    )
