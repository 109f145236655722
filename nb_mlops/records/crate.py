"""The record as an RO-Crate: `ro-crate-metadata.json`, written and read with the `rocrate` library.

Every file of a record is a `File` entity of the crate with its `sha256`, `contentSize`,
`encodingFormat` and a `description`, so any RO-Crate reader can list and check a record
without knowing nb-mlops. The export streams its files straight into the zip and describes
them here afterwards (`crate_metadata`); `write_crate` does the same for a folder on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from nb_mlops.records.record import CRATE_METADATA, MAX_MANIFEST_BYTES, RecordError, safe_path


@dataclass(frozen=True)
class CrateFile:
    """One file of a crate: its path inside it, sha256, size in bytes, media type, description."""

    path: str
    sha256: str
    size: int
    encoding: str = "application/octet-stream"
    description: str = ""


def crate_metadata(
    name: str, files: Iterable[CrateFile], *, description: str | None = None
) -> bytes:
    """The bytes of `ro-crate-metadata.json` for a crate named `name` holding `files`."""
    from rocrate.rocrate import ROCrate

    crate = ROCrate()
    crate.name = name
    if description:
        crate.description = description
    for f in files:
        properties: dict[str, Any] = {
            "name": f.path.rsplit("/", 1)[-1],
            "sha256": f.sha256,
            "contentSize": str(f.size),
            "encodingFormat": f.encoding,
        }
        if f.description:
            properties["description"] = f.description
        crate.add_file(None, dest_path=safe_path(f.path, "crate file"), properties=properties)
    return b"".join(chunk for _, chunk in crate.metadata.stream())


def write_crate(
    folder: str | os.PathLike,
    name: str,
    *,
    descriptions: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, str]:
    """Describe every file under `folder` in a new `folder/ro-crate-metadata.json`; return
    {path: sha256}. `descriptions` maps a path to (media type, description)."""
    root = Path(folder)
    described = dict(descriptions or {})
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if rel == CRATE_METADATA:
            continue
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        encoding, text = described.get(rel, ("application/octet-stream", ""))
        files.append(CrateFile(rel, digest.hexdigest(), path.stat().st_size, encoding, text))
    (root / CRATE_METADATA).write_bytes(crate_metadata(name, files))
    return {f.path: f.sha256 for f in files}


def crate_files(source: str | os.PathLike) -> dict[str, str]:
    """{path: sha256} of every file a crate lists, read back with `rocrate` from a folder or
    from a record's zip (only its metadata is read from the zip, nothing is extracted)."""
    from rocrate.rocrate import ROCrate

    path = Path(source)
    try:
        if path.is_file() and zipfile.is_zipfile(path):
            crate = ROCrate(_metadata_from_zip(path))
        else:
            crate = ROCrate(path)
    except RecordError:
        raise
    except (ValueError, KeyError, TypeError, OSError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise RecordError(f"{path} is not an RO-Crate that can be read: {first}") from None
    found = {}
    for entity in crate.data_entities:
        if "File" not in entity.type:
            continue
        rel = unquote(entity.id)
        sha = entity.get("sha256")
        if not isinstance(sha, str):
            raise RecordError(f"{CRATE_METADATA}: file {rel!r} has no sha256")
        found[rel] = sha
    return found


def _metadata_from_zip(path: Path) -> dict[str, Any]:
    """The crate metadata of a zip as a dict, its size bounded before it is read."""
    with zipfile.ZipFile(path) as zf:
        try:
            info = zf.getinfo(CRATE_METADATA)
        except KeyError:
            raise RecordError(f"{path} holds no {CRATE_METADATA}") from None
        if info.file_size > MAX_MANIFEST_BYTES:
            raise RecordError(f"{path}: {CRATE_METADATA} is larger than a record's metadata")
        with zf.open(info) as fh:
            data = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise RecordError(f"{path}: {CRATE_METADATA} is larger than a record's metadata")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RecordError(f"{path}: {CRATE_METADATA} is not JSON") from None
    if not isinstance(doc, dict):
        raise RecordError(f"{path}: {CRATE_METADATA} is not a JSON-LD document")
    return doc
