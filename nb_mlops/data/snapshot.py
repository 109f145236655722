"""Dataset versions: snapshotting a file or folder, listing its versions, and which runs used them.

A snapshot hashes the data the way DVC 3 does, over the files `dvc add` takes (dvcignore.py:
`.dvcignore` rules, nested `.git` and DVC projects and links to folders left out), stores its
objects in the cache, records version N in the catalog (table `snapshots`, id `PATH@N`) with our
extras (message, size, file count, row count and schema of tabular files), and writes `PATH.dvc`
exactly as `dvc add` would. What `dvc add` refuses (an ignored path, a `.dvcignore` inside the
folder, a folder that is a DVC project of its own) is refused with one line. A version `dvc add`
made is taken in with the same extras, read from its objects. Paths are kept relative to the
workspace root, with `/` separators.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_mlops.data.dvccache import sync_current, take_from_dvc_cache
from nb_mlops.data.dvcfile import (
    DvcFileError,
    dvc_path,
    ensure_gitignored,
    read_dvcfile,
    write_dvcfile,
)
from nb_mlops.data.dvcignore import project_root, walk_dataset, why_left_out
from nb_mlops.errors import NbMlopsError, ObjectCorrupt, RefusedError
from nb_mlops.redact import redact_text
from nb_mlops.results import Result
from nb_mlops.store.files import read_error
from nb_mlops.store.hashing import (
    cached_md5s,
    map_in_threads,
    md5_file,
    tree_listing,
    unchanged,
)
from nb_mlops.store.workspace import Workspace

TABLE = "snapshots"
_MAX_SUMMARIZED_FILES = 200


class DataError(NbMlopsError):
    """A dataset path or version that cannot be used."""


@dataclass
class Snapshot:
    """One version of a dataset, as the catalog records it."""

    doc: dict[str, Any]

    @property
    def version(self) -> int:
        return self.doc["version"]

    @property
    def md5(self) -> str:
        return self.doc["md5"]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.doc)


@dataclass(repr=False)
class SnapshotResult(Result):
    """What `snapshot` did: a new version, or nothing because the data was already a version."""

    snapshot: Snapshot
    created: bool
    dvcfile: str
    notes: list[str] = field(default_factory=list)

    def to_text(self) -> str:
        d = self.snapshot.doc
        from nb_mlops.text import human_bytes

        what = f"{d['path']} version {d['version']}"
        size = f"{human_bytes(d['size'])}" + (f" in {d['nfiles']} files" if d.get("isdir") else "")
        rows = f", {d['rows']:,} rows" if d.get("rows") is not None else ""
        if self.created:
            text = f"snapshot {what}: {size}{rows} ({d['md5']})"
        else:
            text = f"unchanged: {d['path']} is already version {d['version']} ({d['md5']})"
        return "; ".join([text, *self.notes])

    def to_dict(self) -> dict[str, Any]:
        return {"created": self.created, "dvcfile": self.dvcfile, **self.snapshot.doc}


# ------------------------------------------------------------------------------- paths
def dataset_path(ws: Workspace, path: str | os.PathLike, *, must_exist: bool = True) -> Path:
    """The absolute path of a dataset, checked to be inside the workspace."""
    raw = Path(path).expanduser()
    full = raw if raw.is_absolute() else Path.cwd() / raw
    full = Path(os.path.normpath(full))
    try:
        full.relative_to(ws.root)
    except ValueError:
        raise DataError(
            f"{path} is outside the workspace {ws.root}; datasets are versioned relative to it"
        ) from None
    if full == ws.root or ws.home in (full, *full.parents):
        raise DataError(f"{path} is the workspace or its store, not a dataset")
    if full.name.endswith(".dvc"):
        full = full.with_name(full.name[: -len(".dvc")])
    if must_exist:
        if not os.path.lexists(full):
            raise DataError(f"no such file or folder: {path}")
        try:
            os.stat(full)  # a symlink loop or a dangling link: one line naming it, not a traceback
        except OSError as exc:
            raise read_error(full, exc) from None
    return full


def relpath(ws: Workspace, full: Path) -> str:
    return full.relative_to(ws.root).as_posix()


# ---------------------------------------------------------------------------- versions
def versions_of(ws: Workspace, rel: str) -> list[dict[str, Any]]:
    """Every recorded version of dataset `rel`, oldest first."""
    return sorted(ws.catalog.find(TABLE, "path", rel), key=lambda d: d["version"])


def version_doc(ws: Workspace, rel: str, version: int | str) -> dict[str, Any]:
    """Version `version` of `rel` (a number, `latest`, or `current` = what PATH.dvc names)."""
    docs = versions_of(ws, rel)
    if not docs:
        raise DataError(f"{rel} has no versions yet; make one with `%track snapshot {rel}`")
    if version == "latest":
        return docs[-1]
    if version == "current":
        current = current_version(ws, rel)
        if current is None:
            raise DataError(f"{rel}.dvc names no version this store knows")
        return current
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise DataError(f"a version is a number, `latest` or `current`; got {version!r}") from None
    for doc in docs:
        if doc["version"] == number:
            return doc
    known = ", ".join(str(d["version"]) for d in docs)
    raise DataError(f"{rel} has no version {number} (it has {known})")


def current_version(ws: Workspace, rel: str) -> dict[str, Any] | None:
    """The version `PATH.dvc` describes (what the workspace should hold), if known."""
    dvcfile = dvc_path(ws.root / rel)
    if not dvcfile.exists():
        return None
    out = read_dvcfile(dvcfile)
    for doc in reversed(versions_of(ws, rel)):
        if doc["md5"] == out.md5:
            return doc
    return None


@dataclass(repr=False)
class RemovedVersion(Result):
    """A version record removed from the catalog (its objects stay until gc frees them)."""

    path: str
    version: int
    md5: str
    runs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version, "md5": self.md5, "runs": self.runs}

    def to_text(self) -> str:
        text = (
            f"removed {self.path} version {self.version} ({self.md5}); its objects stay in the "
            "cache until gc frees those nothing else uses"
        )
        if self.runs:
            text += f"; {len(self.runs)} run(s) read it and still name its md5"
        return text


def delete_version(ws: Workspace, path: str | os.PathLike, version: int | str) -> RemovedVersion:
    """Remove one version record of a dataset (a version recorded wrongly, say).

    The version `PATH.dvc` names is refused: the workspace is meant to hold it. Objects are never
    deleted here; gc frees those no record names any more.
    """
    full = dataset_path(ws, path, must_exist=False)
    rel = relpath(ws, full)
    with ws.catalog.locked():
        doc = version_doc(ws, rel, version)
        dvcfile = dvc_path(full)
        if dvcfile.exists() and read_dvcfile(dvcfile).md5 == doc["md5"]:
            raise RefusedError(
                f"{rel} version {doc['version']} is the one {dvcfile.name} names (what the "
                f"workspace holds); check out another version first (`checkout {rel} N`), "
                "then remove this one"
            )
        ids = [
            doc_id
            for doc_id, d in ws.catalog.docs(TABLE).items()
            if d.get("path") == rel and d.get("version") == doc["version"]
        ]
        for doc_id in ids:
            ws.catalog.delete(TABLE, doc_id)
    runs = runs_using(ws, rel).get(doc["version"], [])
    return RemovedVersion(rel, doc["version"], doc["md5"], [r["run_id"] for r in runs])


def _next_version(ws: Workspace, rel: str) -> int:
    docs = versions_of(ws, rel)
    return docs[-1]["version"] + 1 if docs else 1


def _record(ws: Workspace, rel: str, info: dict[str, Any]) -> dict[str, Any]:
    """Add a version under the catalog lock (two processes never get the same number)."""
    with ws.catalog.locked():
        for doc in versions_of(ws, rel):
            if doc["md5"] == info["md5"]:
                return doc
        version = _next_version(ws, rel)
        doc = {"path": rel, "version": version, **info, "refs": [info["md5"]]}
        ws.catalog.put(TABLE, f"{rel}@{version}", doc)
        return doc


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


# ------------------------------------------------------------------------------- hashing
@dataclass
class Hashed:
    """A file's or folder's hash as DVC 3 computes it, with what it took to get there."""

    md5: str
    size: int
    nfiles: int
    entries: list[dict] | None = None  # a folder's files: md5, relpath, size
    listing: bytes | None = None  # a folder's `.dir` object


def scan_dataset(ws: Workspace, full: Path) -> tuple[list[tuple[str, os.stat_result]], dict]:
    """The files of folder `full` as `dvc add` takes them (see dvcignore.py): (relpath, stat)
    of each, and the md5s the hash cache already knows (relpath -> md5)."""
    found = walk_dataset(project_root(ws.root, full), full)
    return found, cached_md5s(ws.objects.hash_cache, full, found)


def _hash_misses(
    ws: Workspace, full: Path, misses: list[tuple[str, os.stat_result]], seen_ns: int
) -> dict[str, str]:
    """md5 of each file the hash cache did not know (read in threads), remembered after."""
    paths = [full / rel for rel, _ in misses]
    md5s = map_in_threads(md5_file, paths, ws.objects.workers)
    cache = ws.objects.hash_cache
    if cache is not None:
        fresh = [
            (path, st, md5)
            for path, (_, st), md5 in zip(paths, misses, md5s, strict=True)
            if unchanged(path, st)
        ]
        cache.put_many(fresh, seen_ns=seen_ns)
    return {rel: md5 for (rel, _), md5 in zip(misses, md5s, strict=True)}


def hash_data(ws: Workspace, full: Path) -> Hashed:
    """Hash a file or folder as `dvc add` would, the hash cache sparing unchanged files."""
    if full.is_dir():
        seen_ns = time.time_ns()
        found, md5s = scan_dataset(ws, full)
        misses = [(rel, st) for rel, st in found if rel not in md5s]
        if misses:
            md5s.update(_hash_misses(ws, full, misses, seen_ns))
        return _tree_hashed(found, md5s)
    return Hashed(md5_file(full, cache=ws.objects.hash_cache), full.stat().st_size, 1)


def store_data(ws: Workspace, full: Path, hashed: Hashed) -> None:
    """Copy into the cache what it lacks (each file verified; a folder's listing last)."""
    if hashed.entries is None:
        ws.objects.add_file(full, hashed.md5)
    else:
        ws.objects.add_tree(full, (hashed.md5, hashed.entries, hashed.listing or b""))


def _known_version(ws: Workspace, rel: str, md5: str) -> dict[str, Any] | None:
    return next((d for d in versions_of(ws, rel) if d["md5"] == md5), None)


def _tree_hashed(found: list, md5s: dict[str, str]) -> Hashed:
    md5, entries, listing = tree_listing(found, md5s)
    return Hashed(md5, sum(e["size"] for e in entries), len(entries), entries, listing)


def ingest_data(ws: Workspace, rel: str, full: Path) -> tuple[Hashed, dict[str, Any] | None]:
    """Hash a file or folder and store what the cache lacks, reading each new file once.

    Returns the hash and the version it already is (None for new data). Unchanged data known to
    the hash cache costs a walk and one lookup: nothing is read and nothing is written.
    """
    cache = ws.objects.hash_cache
    if not full.is_dir():
        st = full.stat()
        md5 = cache.get(full, st) if cache is not None else None
        if md5 is None or not ws.objects.has(md5):
            md5 = ws.objects.add_file(full, md5).md5
        return Hashed(md5, st.st_size, 1), _known_version(ws, rel, md5)
    found, md5s = scan_dataset(ws, full)
    _refuse_nested_datasets(rel, [r for r, _ in found])
    if len(md5s) == len(found):
        hashed = _tree_hashed(found, md5s)
        known = _known_version(ws, rel, hashed.md5)
        if known is not None:
            return hashed, known
    misses = [(r, st) for r, st in found if r not in md5s]
    md5s.update(ws.objects.ingest(full, misses))
    hashed = _tree_hashed(found, md5s)
    known = _known_version(ws, rel, hashed.md5)
    if known is None:
        store_data(ws, full, hashed)  # files the hash cache knew but the cache lacks; listing last
    return hashed, known


# DVC's rule: no output lies inside another. `dvc add data` refuses when `data/t.csv.dvc` exists
# ("Cannot add 'data', because it is overlapping with other DVC tracked output: 'data/t.csv'");
# `dvc add data/t.csv` under a tracked `data` updates `data` instead. A snapshot refuses both,
# before anything is written: it would otherwise add a `.gitignore` line hiding `data/t.csv.dvc`.
def _refuse_enclosing_dataset(ws: Workspace, rel: str) -> None:
    """Refuse to snapshot `rel` when a folder holding it is a dataset (has its `.dvc` file)."""
    parts = rel.split("/")
    for depth in range(1, len(parts)):
        outer = "/".join(parts[:depth])
        if dvc_path(ws.root.joinpath(*parts[:depth])).is_file():
            raise DataError(
                f"cannot snapshot {rel}: it overlaps {outer}, a dataset of its own "
                f"({outer}.dvc); to version this change, snapshot {outer}"
            )


def _refuse_left_out(ws: Workspace, full: Path, rel: str) -> None:
    """Refuse what `dvc add` refuses or empties: a path its ignore rules leave out, a DVC project
    of its own (dvcignore.py)."""
    root = project_root(ws.root, full)
    why = why_left_out(root, full.relative_to(root).as_posix(), full.is_dir())
    if why is not None:
        raise DataError(f"cannot snapshot {rel}: {why}")


def _refuse_nested_datasets(rel: str, relpaths: list[str]) -> None:
    """Refuse to snapshot folder `rel` when a `.dvc` file inside it makes a dataset of a part."""
    nested = sorted(r for r in relpaths if r.endswith(".dvc") and len(os.path.basename(r)) > 4)
    if nested:
        inner = f"{rel}/{Path(nested[0]).as_posix()}"
        more = f" (and {len(nested) - 1} more)" if len(nested) > 1 else ""
        raise DataError(
            f"cannot snapshot {rel}: it overlaps {inner[: -len('.dvc')]}, a dataset of its own "
            f"({inner}){more}; to include it in {rel}, remove {inner}, then snapshot {rel}"
        )


def _tabular(rel: str, files: list[tuple[str, Path]] | Path) -> dict[str, Any]:
    """Row counts and schemas of the tabular files (CSV, TSV, Parquet, JSON lines).

    `files` is a single-file dataset's path, or a folder's (relpath, path to read) pairs; the
    path read may be a cache object (no suffix): the format comes from the relpath, and errors
    name the workspace path.
    """
    from nb_mlops.data.formats import table_format

    single = isinstance(files, Path)
    items = [(rel, files)] if isinstance(files, Path) else files
    if not any(table_format(name) for name, _ in items):
        return {}  # no table here: spare the pyarrow import
    from nb_mlops.data.tabular import table_summary

    if single:
        ((name, path),) = items
        try:
            return table_summary(path, table_format(name), label=rel)
        except NbMlopsError as exc:  # versioned all the same; the summary says why it is missing
            return {"table_error": str(exc)}
    tables = {}
    for name, path in items:
        if len(tables) >= _MAX_SUMMARIZED_FILES:
            break
        fmt = table_format(name)
        if fmt:
            try:
                tables[name] = table_summary(path, fmt, label=f"{rel}/{name}")
            except NbMlopsError as exc:
                tables[name] = {"error": str(exc)}
    if not tables:
        return {}
    rows = [t.get("rows") for t in tables.values()]
    out: dict[str, Any] = {"tables": tables}
    if all(isinstance(r, int) for r in rows):
        out["rows"] = sum(rows)
    return out


def _workspace_tables(rel: str, full: Path, entries: list[dict] | None) -> dict[str, Any]:
    if entries is None:
        return _tabular(rel, full)
    return _tabular(rel, [(e["relpath"], full.joinpath(*e["relpath"].split("/"))) for e in entries])


def _cached_tables(ws: Workspace, rel: str, md5: str, entries: list[dict] | None) -> dict[str, Any]:
    """The summary of a version read from its objects in the cache (a version `dvc add` made:
    the workspace may hold other bytes by now)."""
    if entries is None:
        return _tabular(rel, ws.objects.path_of(md5))
    return _tabular(rel, [(e["relpath"], ws.objects.path_of(e["md5"])) for e in entries])


# ------------------------------------------------------------------------------ snapshot
def snapshot(ws: Workspace, path: str | os.PathLike, message: str | None = None) -> SnapshotResult:
    """Make the next version of a file or folder (nothing changes when the data is a version)."""
    full = dataset_path(ws, path)
    rel = relpath(ws, full)
    _refuse_enclosing_dataset(ws, rel)
    _refuse_left_out(ws, full, rel)
    repaired = []
    try:
        adopt_dvcfile(ws, rel)
    except DvcFileError as exc:  # the snapshot writes a sound one below
        dvc_path(full).unlink()
        repaired.append(f"replaced {dvc_path(full).name}, which could not be used ({exc})")
    hashed, known = ingest_data(ws, rel, full)
    if known is not None:
        notes = repaired + _finish(ws, full, known)
        return SnapshotResult(Snapshot(known), False, str(dvc_path(full)), notes)
    doc = _record(
        ws,
        rel,
        {
            "md5": hashed.md5,
            "size": hashed.size,
            "nfiles": hashed.nfiles,
            "isdir": hashed.entries is not None,
            "message": redact_text(message or ""),
            "time": _now(),
            "source": "nb-mlops",
            **_workspace_tables(rel, full, hashed.entries),
        },
    )
    notes = repaired + _finish(ws, full, doc)
    return SnapshotResult(Snapshot(doc), True, str(dvc_path(full)), notes)


def _finish(ws: Workspace, full: Path, doc: dict[str, Any]) -> list[str]:
    """PATH.dvc, .gitignore and DVC's cache brought in line with version `doc`."""
    notes = []
    dvcfile = dvc_path(full)
    try:
        current = read_dvcfile(dvcfile).md5 if dvcfile.exists() else None
    except NbMlopsError:
        current = None
    if current != doc["md5"]:
        write_dvcfile(full, doc["md5"], doc["size"], doc["nfiles"] if doc.get("isdir") else None)
        notes.append(f"wrote {relpath(ws, dvcfile)}")
    if _in_git(ws.root) and ensure_gitignored(full):
        notes.append(f"added {full.name} to {relpath(ws, full.parent / '.gitignore')}")
    sync_current(ws, doc["md5"])
    return notes


def _in_git(root: Path) -> bool:
    return any((folder / ".git").exists() for folder in (root, *root.parents))


def adopt_dvcfile(ws: Workspace, rel: str) -> dict[str, Any] | None:
    """Take in the version a `.dvc` file names when `dvc add` made it (not this store).

    Its objects come from DVC's cache, or from the workspace when the data there matches.
    Returns the new version's record, or None when there was nothing to take in.
    """
    full = ws.root / rel
    dvcfile = dvc_path(full)
    if not dvcfile.exists():
        return None
    out = read_dvcfile(dvcfile)
    if any(d["md5"] == out.md5 for d in versions_of(ws, rel)):
        return None
    damaged = None
    try:
        taken = ws.objects.has(out.md5) or take_from_dvc_cache(ws, out.md5)
    except ObjectCorrupt as exc:  # DVC's cache holds a damaged or crafted listing
        taken, damaged = False, str(exc)
    if not taken:
        hashed = hash_data(ws, full) if os.path.lexists(full) else None
        if hashed is None or hashed.md5 != out.md5:
            if damaged is not None:
                raise DvcFileError(
                    f"{relpath(ws, dvcfile)} names {out.md5}, which DVC's cache holds "
                    f"damaged and the workspace does not hold: {damaged}"
                )
            return None  # nothing holds those bytes here: nothing to version
        store_data(ws, full, hashed)
    isdir = out.md5.endswith(".dir")
    entries = ws.objects.listing(out.md5) if isdir else None
    size = out.size
    if size is None:
        size = sum(
            ws.objects.path_of(e["md5"]).stat().st_size for e in (entries or [{"md5": out.md5}])
        )
    when = dt.datetime.fromtimestamp(dvcfile.stat().st_mtime, dt.timezone.utc).isoformat()
    return _record(
        ws,
        rel,
        {
            "md5": out.md5,
            "size": size,
            "nfiles": out.nfiles if isdir else 1,
            "isdir": isdir,
            "message": "added with dvc",
            "time": when,
            "source": "dvc",
            **_cached_tables(ws, rel, out.md5, entries),
        },
    )


# ------------------------------------------------------------------------------- lineage
def resolve_inputs(ws: Workspace, paths: list[str], run_name: str) -> list[dict[str, Any]]:
    """The version of each dataset a run is about to read, snapshotting unsaved data first."""
    inputs = []
    for path in paths:
        full = dataset_path(ws, path)
        rel = relpath(ws, full)
        adopt_dvcfile(ws, rel)
        md5 = hash_data(ws, full).md5
        doc = next((d for d in versions_of(ws, rel) if d["md5"] == md5), None)
        if doc is None:
            doc = snapshot(ws, full, f"taken for run {run_name}").snapshot.doc
            from nb_mlops.notify import notify

            notify(f"{rel} had unsaved changes: snapshot as version {doc['version']}")
        inputs.append({"path": rel, "version": doc["version"], "md5": doc["md5"]})
    return inputs


def runs_using(ws: Workspace, rel: str) -> dict[int, list[dict[str, Any]]]:
    """version -> runs (id, name, status) that read that version of dataset `rel`."""
    from nb_mlops.tracking.query import all_runs

    used: dict[int, list[dict[str, Any]]] = {}
    for doc in all_runs(ws).values():
        for item in doc.get("data") or ():
            if item.get("path") == rel:
                used.setdefault(item["version"], []).append(
                    {"run_id": doc["run_id"], "name": doc.get("name"), "status": doc.get("status")}
                )
    return used
