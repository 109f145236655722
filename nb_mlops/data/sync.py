"""`push` and `pull` of datasets: their objects, and the history of their versions.

Objects travel by store/transfer.py between the cache and the remote (remote.py), in DVC's
remote layout. Beside them, each dataset's version records go to
`<remote>/nbmlops/datasets/<path>.json`, so a fresh copy of the project (which has the `.dvc`
files from git but no store) pulls its whole history, not only the version its `.dvc` file
names. A pull then checks out that version, as `dvc pull` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_mlops.data.checkout import checkout, status
from nb_mlops.data.dvcfile import dvc_path, read_dvcfile
from nb_mlops.data.remote import open_remote
from nb_mlops.data.snapshot import (
    TABLE,
    adopt_dvcfile,
    dataset_path,
    relpath,
    versions_of,
)
from nb_mlops.errors import NbMlopsError
from nb_mlops.results import Result
from nb_mlops.store.fsobjects import FsObjectDB
from nb_mlops.store.transfer import transfer
from nb_mlops.store.workspace import Workspace

_MANIFESTS = "nbmlops/datasets"
_RECORD_KEYS = ("md5", "size", "nfiles", "isdir", "message", "time", "source", "rows", "tables")


@dataclass(repr=False)
class SyncResult(Result):
    """A push or pull: the transfer, and for a pull what was checked out."""

    transfer: Any
    datasets: list[str]
    checked_out: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.transfer.to_dict(),
            "datasets": self.datasets,
            "checked_out": self.checked_out,
            "notes": self.notes,
        }

    def to_text(self) -> str:
        lines = [str(self.transfer), *self.notes]
        lines += [str(c) for c in self.checked_out]
        return "\n".join(lines)


def _manifest_name(rel: str) -> str:
    return urllib.parse.quote(rel, safe="") + ".json"


def _datasets(ws: Workspace, path: str | os.PathLike | None) -> list[str]:
    if path is not None:
        return [relpath(ws, dataset_path(ws, path, must_exist=False))]
    known = {d["path"] for d in ws.catalog.docs(TABLE).values()}
    return sorted(known | set(_dvcfiles(ws)))


def _dvcfiles(ws: Workspace) -> list[str]:
    """Datasets named by `.dvc` files in the project (git's list when it has one)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "*.dvc"],
            cwd=ws.root,
            capture_output=True,
            check=True,
        )
        names = [n for n in out.stdout.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = []
        skip = {".git", ".dvc", ws.home.name, ".venv", "node_modules", "__pycache__"}
        for folder, dirs, files in os.walk(ws.root):
            dirs[:] = [d for d in dirs if d not in skip]
            found = [os.path.join(folder, f) for f in files if f.endswith(".dvc")]
            names += [os.path.relpath(f, ws.root) for f in found]
    return sorted(Path(n).as_posix()[: -len(".dvc")] for n in names if Path(n).name != ".dvc")


def push(
    ws: Workspace,
    path: str | os.PathLike | None = None,
    remote: str | None = None,
    *,
    progress: bool = True,
) -> SyncResult:
    """Send every version of the dataset(s) to the remote; only missing objects move."""
    rels = _datasets(ws, path)
    hashes: set[str] = set()
    for rel in rels:
        adopt_dvcfile(ws, rel)
        docs = versions_of(ws, rel)
        if not docs and path is not None:
            raise NbMlopsError(f"{rel} has no versions to push; snapshot it first")
        hashes.update(d["md5"] for d in docs)
    target = open_remote(ws, remote, write=True)
    report = transfer(ws.objects, target, sorted(hashes), progress=progress)
    for rel in rels:
        docs = versions_of(ws, rel)
        if docs:
            _write_manifest(target, rel, docs)
    return SyncResult(report, rels)


def _write_manifest(target: FsObjectDB, rel: str, docs: list[dict[str, Any]]) -> None:
    merged = {d["md5"]: d for d in _read_manifest(target, rel)}
    for d in docs:
        merged[d["md5"]] = {k: d[k] for k in ("version", *_RECORD_KEYS) if k in d}
    data = json.dumps(
        {"path": rel, "versions": sorted(merged.values(), key=lambda d: d["version"])},
        ensure_ascii=False,
        indent=1,
    ).encode()
    target.put_file(f"{_MANIFESTS}/{_manifest_name(rel)}", data)


def _read_manifest(target: FsObjectDB, rel: str) -> list[dict[str, Any]]:
    try:
        raw = target.read_file(f"{_MANIFESTS}/{_manifest_name(rel)}")
        doc = json.loads(raw) if raw is not None else {}
    except (OSError, ValueError) as exc:
        raise NbMlopsError(f"the remote's version list of {rel} is unreadable: {exc}") from None
    versions = doc.get("versions") if isinstance(doc, dict) else None
    return [v for v in versions or [] if isinstance(v, dict) and isinstance(v.get("md5"), str)]


def _import_versions(ws: Workspace, rel: str, docs: list[dict[str, Any]]) -> int:
    """Record versions known to the remote but not here (keeping their numbers when free)."""
    added = 0
    with ws.catalog.locked():
        have = versions_of(ws, rel)
        known = {d["md5"] for d in have}
        taken = {d["version"] for d in have}
        for d in sorted(docs, key=lambda d: d.get("version", 0)):
            if d["md5"] in known:
                continue
            number = d.get("version")
            if not isinstance(number, int) or number in taken:
                number = max(taken, default=0) + 1
            record = {k: d[k] for k in _RECORD_KEYS if k in d}
            ws.catalog.put(
                TABLE,
                f"{rel}@{number}",
                {"path": rel, "version": number, **record, "refs": [d["md5"]]},
            )
            taken.add(number)
            known.add(d["md5"])
            added += 1
    return added


def pull(
    ws: Workspace,
    path: str | os.PathLike | None = None,
    remote: str | None = None,
    *,
    force: bool = False,
    progress: bool = True,
) -> SyncResult:
    """Fetch the dataset(s)' versions from the remote, then check out what `.dvc` names."""
    target = open_remote(ws, remote)
    target.connect()
    rels = _datasets(ws, path)
    if path is None:
        for name in target.list_files(_MANIFESTS):
            if name.endswith(".json"):
                rels.append(urllib.parse.unquote(name[: -len(".json")]))
        rels = sorted(set(rels))
    notes = []
    hashes: set[str] = set()
    wanted: dict[str, str] = {}
    for rel in rels:
        remote_docs = _read_manifest(target, rel)
        added = _import_versions(ws, rel, remote_docs)
        if added:
            notes.append(f"{rel}: {added} version(s) recorded from remote {target.name}")
        hashes.update(d["md5"] for d in versions_of(ws, rel))
        dvcfile = dvc_path(ws.root / rel)
        if dvcfile.exists():
            wanted[rel] = read_dvcfile(dvcfile).md5
            hashes.add(wanted[rel])
    report = transfer(target, ws.objects, sorted(hashes), progress=progress)
    result = SyncResult(report, rels, notes=notes)
    for rel, md5 in wanted.items():
        adopt_dvcfile(ws, rel)
        if not ws.objects.has(md5):
            result.notes.append(f"{rel}: the version its .dvc file names is not on the remote")
            continue
        st = status(ws, ws.root / rel)
        if not st.clean:
            result.checked_out.append(checkout(ws, ws.root / rel, "current", force=force))
    return result
