"""Folder listings (`.dir` objects): the one place their bytes are parsed and checked.

A listing comes from our cache, from DVC's cache or from a remote, and any of them may have been
crafted. Before anything is written from one, every entry must be a `{"md5", "relpath"}` pair
whose md5 names a file object and whose relpath stays inside the folder it describes: relative,
`/`-separated, without empty, `.` or `..` parts, and each path listed once.
"""

from __future__ import annotations

import json
import re

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
    return entries


def is_safe_relpath(relpath: str) -> bool:
    """Whether `relpath` (posix separators) names a file strictly inside its folder."""
    return not (
        relpath.startswith("/")
        or "\0" in relpath
        or any(p in ("", ".", "..") for p in relpath.split("/"))
    )


def _is_entry(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("relpath"), str)
        and isinstance(entry.get("md5"), str)
        and FILE_HASH.fullmatch(entry["md5"]) is not None
    )
