"""Putting a version back in the workspace, and telling how the workspace differs from one.

Checkout is all or nothing: every file to write is first copied out of the cache into a temporary
file beside its destination and verified against its hash; only when all are staged are they
renamed into place and the files the version lacks removed. A corrupt object therefore stops the
checkout before the workspace changes. Files whose content was never snapshotted (not in the
cache) are not overwritten or removed unless forced: they would be lost.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_mlops.data.dvccache import dvc_dir, place_in_dvc_cache, sync_current
from nb_mlops.data.dvcfile import write_dvcfile
from nb_mlops.data.snapshot import (
    DataError,
    adopt_dvcfile,
    current_version,
    dataset_path,
    hash_data,
    relpath,
    version_doc,
)
from nb_mlops.errors import RefusedError
from nb_mlops.results import Result
from nb_mlops.store.hashing import map_in_threads
from nb_mlops.store.workspace import Workspace


@dataclass(repr=False)
class Status(Result):
    """How the workspace differs from the version its `.dvc` file names."""

    path: str
    version: int | None
    md5: str | None
    workspace_md5: str | None
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.md5 is not None and self.md5 == self.workspace_md5

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "version": self.version,
            "md5": self.md5,
            "workspace_md5": self.workspace_md5,
            "clean": self.clean,
            "added": self.added,
            "deleted": self.deleted,
            "modified": self.modified,
        }

    def to_text(self) -> str:
        if self.version is None:
            return f"{self.path}: no version recorded yet (snapshot it)"
        if self.workspace_md5 is None:
            return f"{self.path}: version {self.version}, missing from the workspace"
        if self.clean:
            return f"{self.path}: version {self.version}, unchanged"
        parts = [f"{len(v)} {k}" for k, v in self.to_dict().items() if k in _KINDS and v]
        lines = [f"{self.path}: version {self.version}, changed ({', '.join(parts) or 'content'})"]
        for kind in _KINDS:
            lines += [f"  {kind}: {p}" for p in getattr(self, kind)[:20]]
        return "\n".join(lines)


_KINDS = ("added", "deleted", "modified")


def _files(ws: Workspace, full: Path, md5: str | None) -> dict[str, str]:
    """relpath -> md5 of the files of a version (one entry, '', for a single-file dataset)."""
    if md5 is None:
        return {}
    if md5.endswith(".dir"):
        return {e["relpath"]: e["md5"] for e in ws.objects.listing(md5)}
    return {"": md5}


def _workspace_files(ws: Workspace, full: Path) -> tuple[str | None, dict[str, str]]:
    if not os.path.lexists(full):
        return None, {}
    hashed = hash_data(ws, full)
    if hashed.entries is None:
        return hashed.md5, {"": hashed.md5}
    return hashed.md5, {e["relpath"]: e["md5"] for e in hashed.entries}


def status(ws: Workspace, path: str | os.PathLike) -> Status:
    """Compare the workspace with the version `PATH.dvc` names (stat only for unchanged files)."""
    full = dataset_path(ws, path, must_exist=False)
    rel = relpath(ws, full)
    adopt_dvcfile(ws, rel)
    doc = current_version(ws, rel)
    ws_md5, have = _workspace_files(ws, full)
    if doc is None:
        return Status(rel, None, None, ws_md5)
    sync_current(ws, doc["md5"])
    st = Status(rel, doc["version"], doc["md5"], ws_md5)
    if ws_md5 != doc["md5"]:  # only a changed dataset needs the version's file list
        want = _files(ws, full, doc["md5"])
        st.added = sorted(set(have) - set(want))
        st.deleted = sorted(set(want) - set(have))
        st.modified = sorted(p for p in set(want) & set(have) if want[p] != have[p])
    return st


def all_statuses(ws: Workspace) -> list[Status]:
    """Status of every dataset this store has versions of."""
    paths = sorted({d["path"] for d in ws.catalog.docs("snapshots").values()})
    return [status(ws, ws.root / p) for p in paths]


@dataclass(repr=False)
class CheckoutResult(Result):
    path: str
    version: int
    written: int
    removed: int
    unchanged: int
    forced: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def to_text(self) -> str:
        text = (
            f"{self.path} is now version {self.version}: {self.written} files written, "
            f"{self.removed} removed, {self.unchanged} already right"
        )
        if self.forced:
            text += f"; overwrote {len(self.forced)} unsaved files (--force)"
        return text


def checkout(
    ws: Workspace, path: str | os.PathLike, version: int | str, *, force: bool = False
) -> CheckoutResult:
    """Make the workspace hold exactly `version` of the dataset, and `PATH.dvc` describe it."""
    full = dataset_path(ws, path, must_exist=False)
    rel = relpath(ws, full)
    adopt_dvcfile(ws, rel)
    doc = version_doc(ws, rel, version)
    target = doc["md5"]
    if not ws.objects.has(target):
        raise DataError(
            f"the objects of {rel} version {doc['version']} are not in this store's cache; "
            "fetch them with `%track pull`"
        )
    want = _files(ws, full, target)
    _, have = _workspace_files(ws, full)
    is_dir = target.endswith(".dir")

    to_write = {p: m for p, m in want.items() if have.get(p) != m}
    to_remove = sorted(set(have) - set(want))
    at_risk = [p for p in [*to_write, *to_remove] if p in have and not ws.objects.has(have[p])]
    if at_risk and not force:
        shown = ", ".join(str(Path(rel, p)) if p else rel for p in sorted(at_risk)[:10])
        more = f" and {len(at_risk) - 10} more" if len(at_risk) > 10 else ""
        raise RefusedError(
            f"checkout would overwrite changes to {rel} that were never snapshotted: "
            f"{shown}{more}; snapshot them first, or pass --force to discard them"
        )

    def dest(p: str) -> Path:
        return full.joinpath(*p.split("/")) if p else full

    staged = _stage_all(ws, full, to_write)
    try:
        # removals first: a file may give way to a folder of the same name, and back
        for p in to_remove:
            os.unlink(dest(p))
        if full.is_dir():
            _remove_empty_dirs(full, keep_root=is_dir)
        for p, tmp in staged.items():
            final = dest(p)
            if final.is_dir():
                final.rmdir()  # emptied above: the version has a file here
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        if is_dir:
            full.mkdir(exist_ok=True)  # a version may be an empty folder
    finally:
        shutil.rmtree(_staging_dir(full), ignore_errors=True)
    _remember_hashes(ws, [(dest(p), m) for p, m in to_write.items()])
    write_dvcfile(full, target, doc["size"], doc.get("nfiles") if is_dir else None)
    if dvc_dir(ws) is not None:
        place_in_dvc_cache(ws, [target])
    return CheckoutResult(
        rel,
        doc["version"],
        written=len(to_write),
        removed=len(to_remove),
        unchanged=len(want) - len(to_write),
        forced=sorted(at_risk),
    )


def _staging_dir(full: Path) -> Path:
    return full.parent / f".{full.name}.nbmlops-checkout"


def _stage_all(ws: Workspace, full: Path, to_write: dict[str, str]) -> dict[str, str]:
    """Copy every object to write, verified, into a staging folder beside the dataset.

    Nothing in the dataset changes here: a corrupt object or a full disk stops the checkout
    with the workspace as it was (the staging folder is removed).
    """
    staging = _staging_dir(full)
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed checkout
    staged: dict[str, str] = {}
    if not to_write:
        return staged
    staging.mkdir(parents=True)
    items = sorted(to_write.items())

    def stage(index_item: tuple[int, tuple[str, str]]) -> None:
        index, (p, md5) = index_item
        final = full.joinpath(*p.split("/")) if p else full
        staged[p] = ws.objects.stage(md5, staging / str(index), label=final)

    try:
        map_in_threads(stage, list(enumerate(items)), ws.objects.workers)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staged


def _remove_empty_dirs(root: Path, keep_root: bool) -> None:
    """Remove folders left empty under `root` (deepest first), and `root` too unless kept."""
    for folder, _, _ in os.walk(root, topdown=False):
        if (folder != str(root) or not keep_root) and not os.listdir(folder):
            os.rmdir(folder)


def _remember_hashes(ws: Workspace, written: list[tuple[Path, str]]) -> None:
    """Tell the hash cache what was just written, so the next status need not read it."""
    cache = ws.objects.hash_cache
    if cache is None or not written:
        return
    items = []
    for path, md5 in written:
        try:
            items.append((path, os.stat(path), md5))
        except OSError:
            continue
    cache.put_many(items)
