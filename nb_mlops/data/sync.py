"""`push` and `pull` of datasets: their objects, and the history of their versions.

Objects travel by store/transfer.py between the cache and the remote (remote.py), in DVC's
remote layout. Beside them, each dataset's version records go to
`<remote>/nbmlops/datasets/<path>.json`, so a fresh copy of the project (which has the `.dvc`
files from git but no store) pulls its whole history, not only the version its `.dvc` file
names. A pull then checks out that version, as `dvc pull` does.

A remote is not trusted. Before a pull records anything, every version list it reads is checked
whole: the dataset it names is the one asked for and stays inside the workspace (never in `.git`,
`.dvc` or the store), every version number is an int from 1 to MAX_VERSION, every md5 an object
hash, and every other field has its type. A damaged list stops the pull with one line naming the
dataset and the fault, before anything is recorded. A version is recorded only once its objects
are in this store's cache, arrived and verified; those that did not arrive are left out (a
later pull records them). A push writes a version into the remote's list only when its objects
reached the remote, and rewrites a damaged list without its unusable entries.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from nb_mlops.data.checkout import checkout, status
from nb_mlops.data.discover import dvcfile_datasets
from nb_mlops.data.dvcfile import dvc_path, read_dvcfile
from nb_mlops.data.remote import open_remote
from nb_mlops.data.snapshot import (
    TABLE,
    adopt_dvcfile,
    dataset_path,
    relpath,
    versions_of,
)
from nb_mlops.errors import NbMlopsError, RemoteError
from nb_mlops.results import Result
from nb_mlops.store.fsobjects import FsObjectDB
from nb_mlops.store.listing import is_safe_relpath
from nb_mlops.store.objects import HASH
from nb_mlops.store.transfer import TransferReport, transfer
from nb_mlops.store.workspace import Workspace

_MANIFESTS = "nbmlops/datasets"
_RECORD_KEYS = ("md5", "size", "nfiles", "isdir", "message", "time", "source", "rows", "tables")
MAX_VERSION = 2**31 - 1
"""The highest version number a remote's list may give (no dataset has two billion versions)."""
_PRIVATE_FOLDERS = (".git", ".dvc")


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
    return sorted(known | set(dvcfile_datasets(ws.root)))


def push(
    ws: Workspace,
    path: str | os.PathLike | None = None,
    remote: str | None = None,
    *,
    progress: bool = True,
) -> SyncResult:
    """Send every version of the dataset(s) to the remote; only missing objects move.

    What can be sent is sent. Objects that could not be (missing from the local cache, corrupt)
    are in the report's `failed`, their versions stay out of the remote's version list, and a
    RemoteError naming the first problem and the count is raised at the end. In the kernel of
    a record's replay (NB_MLOPS_REPLAY set) nothing is sent: the replay's data stays with it.
    """
    if os.environ.get("NB_MLOPS_REPLAY", "") not in ("", "0"):
        report = TransferReport(remote or "the default remote", "push")
        return SyncResult(report, [], notes=["push is off while replaying a record"])
    rels = _datasets(ws, path)
    hashes: set[str] = set()
    for rel in rels:
        adopt_dvcfile(ws, rel)
        docs = versions_of(ws, rel)
        if not docs and path is not None:
            raise NbMlopsError(f"{rel} has no versions to push; snapshot it first")
        hashes.update(d["md5"] for d in docs)
    target = open_remote(ws, remote, write=True)
    error: RemoteError | None = None
    try:
        report = transfer(ws.objects, target, sorted(hashes), progress=progress)
    except RemoteError as exc:
        if not isinstance(exc.report, TransferReport):
            raise  # the remote cannot be reached or written at all: no version list changes
        report, error = exc.report, exc
    failed = set(report.failed)
    notes = []
    for rel in rels:
        docs = [d for d in versions_of(ws, rel) if d["md5"] not in failed]
        if docs:
            notes += _write_manifest(target, rel, docs)
    if error is not None:
        raise error
    return SyncResult(report, rels, notes=notes)


def _write_manifest(target: FsObjectDB, rel: str, docs: list[dict[str, Any]]) -> list[str]:
    """Merge `docs` into the remote's version list of `rel`; notes on entries left out."""
    kept, dropped = _manifest_entries(target, rel, strict=False)
    merged = {d["md5"]: d for d in kept}
    for d in docs:
        merged[d["md5"]] = {k: d[k] for k in ("version", *_RECORD_KEYS) if k in d}
    data = json.dumps(
        {"path": rel, "versions": sorted(merged.values(), key=lambda d: d["version"])},
        ensure_ascii=False,
        indent=1,
    ).encode()
    target.put_file(f"{_MANIFESTS}/{_manifest_name(rel)}", data)
    if not dropped:
        return []
    return [
        f"{rel}: the version list on remote {target.name} was damaged ({dropped[0]}); "
        f"rewritten without {len(dropped)} unusable entr{'y' if len(dropped) == 1 else 'ies'}"
    ]


def _manifest_entries(
    target: FsObjectDB, rel: str, *, strict: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    """The checked versions of the remote's list for `rel`, and the problems of those left out.

    `strict` (a pull): any problem raises a RemoteError naming it, so nothing is recorded from
    a damaged list. Otherwise (a push, about to rewrite the list) unusable entries are dropped.
    """
    where = f"the version list of {rel} on remote {target.name}"
    try:
        raw = target.read_file(f"{_MANIFESTS}/{_manifest_name(rel)}")
    except OSError as exc:  # not damage: the list may be fine, so it is never rewritten blind
        raise RemoteError(f"{where} cannot be read: {' '.join(str(exc).split())[:200]}") from None
    try:
        doc = json.loads(raw) if raw is not None else {"path": rel, "versions": []}
    except ValueError as exc:
        problem = f"it is not JSON: {' '.join(str(exc).split())[:200]}"
        if strict:
            raise RemoteError(f"{where} is damaged: {problem}; nothing was recorded") from None
        return [], [problem]
    problem = None
    if not isinstance(doc, dict) or not isinstance(doc.get("versions"), list):
        problem = "it is not an object with a list of versions"
    elif doc.get("path") != rel:
        problem = f"it names the dataset {_shown(doc.get('path'))}, not {rel}"
    if problem is not None:
        if strict:
            raise RemoteError(f"{where} is damaged: {problem}; nothing was recorded")
        return [], [problem]
    kept: list[dict[str, Any]] = []
    dropped: list[str] = []
    seen: set[str] = set()
    for entry in doc["versions"]:
        problem = _version_problem(entry)
        if problem is not None:
            if strict:
                raise RemoteError(
                    f"{where} is damaged: {problem}; nothing was recorded (push from a copy "
                    "that has the right versions to rewrite it)"
                )
            dropped.append(problem)
        elif entry["md5"] not in seen:
            seen.add(entry["md5"])
            kept.append(entry)
    return kept, dropped


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _is_count(value: Any) -> bool:
    """A non-negative int that fits in 64 bits (views and tables hold them as int64)."""
    return type(value) is int and 0 <= value < 2**63


def _version_problem(entry: Any) -> str | None:
    """What is wrong with one entry of a remote's version list, or None when it is usable."""
    if not isinstance(entry, dict):
        return f"an entry is {_shown(entry)}, not an object"
    number = entry.get("version")
    if type(number) is not int or not 1 <= number <= MAX_VERSION:
        return f"version {_shown(number)} is not a number from 1 to {MAX_VERSION}"
    md5 = entry.get("md5")
    if not isinstance(md5, str) or not HASH.fullmatch(md5):
        return f"version {number}: md5 {_shown(md5)} is not an object hash"
    isdir = md5.endswith(".dir")
    if not _is_count(entry.get("size")):
        return f"version {number}: size {_shown(entry.get('size'))} is not a byte count"
    if "nfiles" in entry and not (_is_count(entry["nfiles"]) and (isdir or entry["nfiles"] == 1)):
        return f"version {number}: nfiles {_shown(entry['nfiles'])} is not a file count"
    if "isdir" in entry and entry["isdir"] is not isdir:
        return f"version {number}: isdir {_shown(entry['isdir'])} disagrees with md5 {md5}"
    for key in ("message", "source", "time"):
        if key in entry and not isinstance(entry[key], str):
            return f"version {number}: {key} {_shown(entry[key])} is not text"
    if "time" in entry:
        try:
            dt.datetime.fromisoformat(entry["time"])
        except ValueError:
            return f"version {number}: time {_shown(entry['time'])} is not an ISO 8601 time"
    if entry.get("rows") is not None and not _is_count(entry["rows"]):
        return f"version {number}: rows {_shown(entry['rows'])} is not a row count"
    if "tables" in entry and not _tables_ok(entry["tables"]):
        return f"version {number}: tables is not a map of file names to table summaries"
    return None


def _tables_ok(tables: Any) -> bool:
    """A snapshot's `tables`: {relpath: {"format", "rows", "columns": [{"name", "type"}]}} or
    {relpath: {"error": text}}."""
    if not isinstance(tables, dict):
        return False
    for name, summary in tables.items():
        if not isinstance(name, str) or not isinstance(summary, dict):
            return False
        if "error" in summary and not isinstance(summary["error"], str):
            return False
        if "format" in summary and not isinstance(summary["format"], str):
            return False
        if "rows" in summary and not _is_count(summary["rows"]):
            return False
        columns = summary.get("columns", [])
        if not isinstance(columns, list) or not all(_column_ok(c) for c in columns):
            return False
    return True


def _column_ok(column: Any) -> bool:
    return (
        isinstance(column, dict)
        and isinstance(column.get("name"), str)
        and isinstance(column.get("type"), str)
    )


def _remote_dataset(ws: Workspace, name: str, target: FsObjectDB) -> str:
    """The dataset a version list on the remote is named for, checked to be one of ours."""
    rel = urllib.parse.unquote(name[: -len(".json")])
    parts = rel.split("/")
    if (
        not is_safe_relpath(rel)
        or parts[0] in (*_PRIVATE_FOLDERS, ws.home.name)
        or rel.endswith(".dvc")
    ):
        raise RemoteError(
            f"remote {target.name} holds a version list for {_shown(rel)}, which is not a "
            f"dataset path inside the workspace; remove {_MANIFESTS}/{name} from the remote"
        )
    return rel


def _import_versions(ws: Workspace, rel: str, docs: list[dict[str, Any]]) -> int:
    """Record versions known to the remote but not here (keeping their numbers when free).

    `docs` were checked (see _version_problem) and their objects are in the cache.
    """
    added = 0
    with ws.catalog.locked():
        have = versions_of(ws, rel)
        known = {d["md5"] for d in have}
        taken = {d["version"] for d in have}
        for d in sorted(docs, key=lambda d: d["version"]):
            if d["md5"] in known:
                continue
            number = d["version"]
            if number in taken:
                number = max(taken, default=0) + 1
            record = {k: d[k] for k in _RECORD_KEYS if k in d}
            record.setdefault("isdir", d["md5"].endswith(".dir"))
            record.setdefault("nfiles", 1)
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
    """Fetch the dataset(s)' versions from the remote, then check out what `.dvc` names.

    Every version list is checked before anything is recorded; a version is recorded once its
    objects arrived. When some objects could not be fetched, the versions that did arrive are
    recorded and a RemoteError naming the first problem and the count is raised (no checkout).
    """
    target = open_remote(ws, remote)
    target.connect()
    rels = _datasets(ws, path)
    if path is None:
        for name in target.list_files(_MANIFESTS):
            if name.endswith(".json"):
                rels.append(_remote_dataset(ws, name, target))
        rels = sorted(set(rels))
    remote_docs = {rel: _manifest_entries(target, rel, strict=True)[0] for rel in rels}
    hashes: set[str] = set()
    wanted: dict[str, str] = {}
    for rel in rels:
        hashes.update(d["md5"] for d in remote_docs[rel])
        hashes.update(d["md5"] for d in versions_of(ws, rel))
        dvcfile = dvc_path(ws.root / rel)
        if dvcfile.exists():
            wanted[rel] = read_dvcfile(dvcfile).md5
            hashes.add(wanted[rel])
    error: RemoteError | None = None
    try:
        report = transfer(target, ws.objects, sorted(hashes), progress=progress)
    except RemoteError as exc:
        if not isinstance(exc.report, TransferReport):
            raise
        report, error = exc.report, exc
    notes = []
    for rel in rels:
        arrived = [d for d in remote_docs[rel] if ws.objects.has(d["md5"])]
        added = _import_versions(ws, rel, arrived)
        if added:
            notes.append(f"{rel}: {added} version(s) recorded from remote {target.name}")
    if error is not None:
        raise error
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
