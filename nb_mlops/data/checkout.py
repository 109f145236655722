"""Putting a version back in the workspace, and telling how the workspace differs from one.

Checkout is all or nothing: every file to write is first copied out of the cache into a temporary
file beside its destination and verified against its hash; only when all are staged are they
renamed into place and the files the version lacks removed. A corrupt object therefore stops the
checkout before the workspace changes. Files whose content was never snapshotted (not in the
cache) are not overwritten or removed unless forced: they would be lost.

Checkout writes and deletes nothing through a symbolic link, so that it never changes a file
outside the workspace. A dataset path that is a link (`data -> /mnt/elsewhere`), a folder on the
way to it that is one, or a folder inside the dataset on the way to a file the version writes or
removes (`data/sub -> /etc`), makes it refuse before anything is written, with one line naming
the link; it does not replace the link either (a link to another disk is usually on purpose, and
quietly cutting it would be a surprise). Reading through links is fine: a dataset path that is a
link, or a link to a file inside it, is read as what it names. A link to a folder inside a dataset
is no part of it (dvc add does not follow it either): checkout leaves it, and what it leads to,
alone, unless the version has files to write under its name (then it refuses, as above).

The staging folder (`.<name>.nbmlops-checkout` beside the dataset) is locked (`flock`) by the
checkout using it, so a leftover one is known to be stale when no process holds its lock: the
next checkout of that dataset removes it before staging, and `remove_stale_staging` (called by
gc) sweeps those older than an hour beside every dataset the store knows.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_mlops.data.discover import dvcfile_datasets
from nb_mlops.data.dvccache import dvc_dir, place_in_dvc_cache, sync_current
from nb_mlops.data.dvcfile import dvc_path, read_dvcfile, write_dvcfile
from nb_mlops.data.snapshot import (
    TABLE,
    DataError,
    adopt_dvcfile,
    current_version,
    dataset_path,
    hash_data,
    relpath,
    version_doc,
)
from nb_mlops.errors import NbMlopsError, RefusedError
from nb_mlops.results import Result
from nb_mlops.store.hashing import map_in_threads
from nb_mlops.store.listing import is_safe_relpath, linked_folder
from nb_mlops.store.workspace import Workspace

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: staging folders are judged by age alone
    fcntl = None  # type: ignore[assignment]

STAGING_SUFFIX = ".nbmlops-checkout"


@dataclass(repr=False)
class Status(Result):
    """How the workspace differs from the version its `.dvc` file names.

    File names are relative to a folder dataset; a single-file dataset's own name stands for it.
    `named` is the hash the `.dvc` file names when this store has no version of it (a fresh
    clone before a pull); `error` says why a dataset could not be looked at.
    """

    path: str
    version: int | None
    md5: str | None
    workspace_md5: str | None
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    named: str | None = None
    error: str | None = None

    @property
    def clean(self) -> bool:
        return self.md5 is not None and self.md5 == self.workspace_md5

    def to_dict(self) -> dict[str, Any]:
        out = {
            "path": self.path,
            "version": self.version,
            "md5": self.md5,
            "workspace_md5": self.workspace_md5,
            "clean": self.clean,
            "added": self.added,
            "deleted": self.deleted,
            "modified": self.modified,
        }
        if self.named is not None:
            out["named"] = self.named
        if self.error is not None:
            out["error"] = self.error
        return out

    def to_text(self) -> str:
        if self.error is not None:
            return f"{self.path}: {self.error}"
        if self.version is None:
            return self._unknown_text()
        if self.workspace_md5 is None:
            return f"{self.path}: version {self.version}, missing from the workspace"
        if self.clean:
            return f"{self.path}: version {self.version}, unchanged"
        parts = [f"{len(v)} {k}" for k, v in self.to_dict().items() if k in _KINDS and v]
        lines = [f"{self.path}: version {self.version}, changed ({', '.join(parts) or 'content'})"]
        for kind in _KINDS:
            lines += [f"  {kind}: {p}" for p in getattr(self, kind)[:20]]
        return "\n".join(lines)

    def _unknown_text(self) -> str:
        if self.named is None:
            return f"{self.path}: no version recorded yet (snapshot it)"
        dvcfile = f"{self.path}.dvc"
        if self.workspace_md5 is None:
            return (
                f"{self.path}: not in the workspace; {dvcfile} names {self.named}, which no cache "
                "here holds (fetch it with `pull`, or `dvc pull`)"
            )
        return (
            f"{self.path}: changed from what {dvcfile} names ({self.named}), which no cache here "
            "holds; snapshot it to record what is there, or `pull` to fetch that version"
        )


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
        dvcfile = dvc_path(full)
        named = read_dvcfile(dvcfile).md5 if dvcfile.is_file() else None
        return Status(rel, None, None, ws_md5, named=named)
    sync_current(ws, doc["md5"])
    st = Status(rel, doc["version"], doc["md5"], ws_md5)
    if ws_md5 != doc["md5"]:  # only a changed dataset needs the version's file list
        want = _files(ws, full, doc["md5"])

        def shown(paths: set[str]) -> list[str]:  # '' is the single-file dataset itself
            return sorted(p or full.name for p in paths)

        st.added = shown(set(have) - set(want))
        st.deleted = shown(set(want) - set(have))
        st.modified = shown({p for p in set(want) & set(have) if want[p] != have[p]})
    return st


def all_statuses(ws: Workspace) -> list[Status]:
    """Status of every dataset: those this store has versions of, and every `.dvc` file of the
    project (a fresh clone's, before anything was read). A dataset that cannot be looked at
    (a damaged `.dvc` file, an unreadable folder) gets a line saying why; the others still show.
    """
    paths = {d["path"] for d in ws.catalog.docs("snapshots").values()}
    paths.update(dvcfile_datasets(ws.root))
    out = []
    for rel in sorted(paths):
        try:
            out.append(status(ws, ws.root / rel))
        except NbMlopsError as exc:
            out.append(Status(rel, None, None, None, error=str(exc)))
    return out


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
    _refuse_link(ws, rel, _link_on_the_way(ws, rel))
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
    _refuse_link(ws, rel, linked_folder(full, [p for p in [*to_write, *to_remove] if p]))
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

    with _staging(full, rel, needed=bool(to_write)) as staging:
        staged = _stage_all(ws, full, to_write, staging)
        # removals first: a file may give way to a folder of the same name, and back
        for p in to_remove:
            os.unlink(dest(p))
        if full.is_dir():
            _remove_empty_dirs(full, keep_root=is_dir)
        for p, tmp in staged.items():
            final = dest(p)
            if final.is_dir() and not final.is_symlink():
                final.rmdir()  # emptied above: the version has a file here
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        if is_dir:
            full.mkdir(exist_ok=True)  # a version may be an empty folder
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


def _link_on_the_way(ws: Workspace, rel: str) -> Path | None:
    """The dataset path itself, or a folder on the way to it, when it is a symbolic link."""
    parts = rel.split("/")
    for depth in range(1, len(parts) + 1):
        path = ws.root.joinpath(*parts[:depth])
        if path.is_symlink():
            return path
        if not path.is_dir():
            return None
    return None


def _refuse_link(ws: Workspace, rel: str, link: Path | None) -> None:
    if link is None:
        return
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    raise RefusedError(
        f"cannot check out {rel}: {relpath(ws, link)} is a symbolic link (to {target}), and "
        "checkout writes nothing through a link, so as never to change files outside the "
        "workspace; replace the link with a real folder or file, then check out again"
    )


def _staging_dir(full: Path) -> Path:
    return full.parent / f".{full.name}{STAGING_SUFFIX}"


def _hold(folder: Path) -> int | None:
    """An open descriptor of `folder` holding an exclusive lock on it; None when another
    process (or another checkout in this one) holds that lock. Without `flock` (Windows), -1."""
    if fcntl is None:  # pragma: no cover
        return -1
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(folder, flags)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _release(fd: int) -> None:
    if fd >= 0:
        os.close(fd)  # closing the descriptor drops its lock


def _clear_leftover(staging: Path, rel: str) -> None:
    """Remove what a killed checkout of this dataset left; refuse while one is still running."""
    try:
        st = os.lstat(staging)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):  # a link or a file in our name: remove it, not its target
        os.unlink(staging)
        return
    fd = _hold(staging)
    if fd is None:
        raise RefusedError(
            f"another checkout of {rel} is under way (it holds {staging}); "
            "wait for it to finish, then check out again"
        )
    try:
        shutil.rmtree(staging, ignore_errors=True)
    finally:
        _release(fd)


@contextmanager
def _staging(full: Path, rel: str, *, needed: bool) -> Iterator[Path]:
    """The locked staging folder beside the dataset (made only when `needed`), removed after."""
    staging = _staging_dir(full)
    _clear_leftover(staging, rel)
    if not needed:
        yield staging
        return
    staging.mkdir(parents=True)
    fd = _hold(staging)
    if fd is None:  # another checkout made it in the instant since the leftover went
        raise RefusedError(f"another checkout of {rel} is under way (it holds {staging})")
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        _release(fd)


def _stage_all(
    ws: Workspace, full: Path, to_write: dict[str, str], staging: Path
) -> dict[str, str]:
    """Copy every object to write, verified, into the staging folder beside the dataset.

    Nothing in the dataset changes here: a corrupt object or a full disk stops the checkout
    with the workspace as it was (the staging folder is removed).
    """
    staged: dict[str, str] = {}
    if not to_write:
        return staged
    items = sorted(to_write.items())

    def stage(index_item: tuple[int, tuple[str, str]]) -> None:
        index, (p, md5) = index_item
        final = full.joinpath(*p.split("/")) if p else full
        staged[p] = ws.objects.stage(md5, staging / str(index), label=final)

    map_in_threads(stage, list(enumerate(items)), ws.objects.workers)
    return staged


def remove_stale_staging(ws: Workspace, older_than_s: float = 3600) -> int:
    """Remove staging folders that killed checkouts left beside the datasets the store knows.

    A folder goes when nothing in it changed for `older_than_s` seconds and no process holds
    its lock (a running checkout always does). Folders reached through a symbolic link are left
    alone. Returns how many were removed.
    """
    limit = time.time() - older_than_s
    paths = sorted({d.get("path") for d in ws.catalog.docs(TABLE).values()} - {None})
    removed = 0
    for rel in paths:
        if not isinstance(rel, str) or not is_safe_relpath(rel) or linked_folder(ws.root, [rel]):
            continue
        staging = _staging_dir(ws.root.joinpath(*rel.split("/")))
        if _newest_change(staging) >= limit:
            continue
        try:
            fd = _hold(staging)
        except OSError:  # gone meanwhile, or not a folder we may open
            continue
        if fd is None:
            continue
        try:
            shutil.rmtree(staging, ignore_errors=True)
        finally:
            _release(fd)
        if not os.path.lexists(staging):
            removed += 1
    return removed


def _newest_change(staging: Path) -> float:
    """The latest mtime of a staging folder and of what it holds (inf when it is no folder)."""
    try:
        st = os.lstat(staging)
    except OSError:
        return float("inf")
    if not stat.S_ISDIR(st.st_mode):
        return float("inf")
    newest = st.st_mtime
    for folder, dirs, names in os.walk(staging):
        for name in [*dirs, *names]:
            try:
                newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
            except OSError:
                continue
    return newest


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
