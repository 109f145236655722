"""Garbage collection: removing objects and run folders that nothing in the catalog references.

Any catalog document may hold `refs`, a list of object hashes it keeps alive (run artifacts,
figures and tables, the environment document, dataset versions, model files); a `.dir` hash keeps
every file in its listing alive. Objects younger than a grace period are kept even when
unreferenced, because another process may have just stored one and not yet written the record
that refers to it.

Records that `repair` set aside (lines of `journal.jsonl.damaged-*` that are not whole records)
keep their objects too: such a record may be fixed and put back, and its objects must still be
there then. Those lines are damaged, so they are read leniently: every object hash written
anywhere in them counts. Deleting a set-aside copy lets gc free what only it named.

The evaluator's kept answers (`cache/evals/<key>.jsonl`, one file per model identity) stay
while a run names the key in its `caches` list, or while the file is younger than the grace
period; the others go.

Temporary files that killed writers left in the cache go once they are an hour old and no
process holds them (see ObjectDB.remove_stale_temps), whatever the grace for objects.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_mlops.results import Result
from nb_mlops.store.layout import CHECKPOINT_FILE
from nb_mlops.store.workspace import Workspace
from nb_mlops.text import human_bytes

GRACE_S = 15 * 60
TEMP_AGE_S = 60 * 60
"""Temporary files (cache temps, checkout staging) older than this, and held by no process,
were left by a killed process."""

_HASH = re.compile(rb"(?<![0-9A-Za-z])[0-9a-f]{32}(?:\.dir)?(?![0-9A-Za-z])")


@dataclass
class GcReport(Result):
    """What a gc removed and how much space it freed."""

    objects_removed: int = 0
    run_folders_removed: int = 0
    temps_removed: int = 0
    bytes_freed: int = 0
    objects_kept: int = 0
    removed: list[str] = field(default_factory=list)
    kept_for_set_aside: int = 0
    set_aside_copies: list[str] = field(default_factory=list)
    staging_removed: int = 0
    eval_caches_removed: int = 0
    checkpoint: bool = False
    """Whether a fresh catalog checkpoint was written (store/checkpoint.py)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "objects_removed": self.objects_removed,
            "run_folders_removed": self.run_folders_removed,
            "temps_removed": self.temps_removed,
            "bytes_freed": self.bytes_freed,
            "objects_kept": self.objects_kept,
            "kept_for_set_aside": self.kept_for_set_aside,
            "set_aside_copies": list(self.set_aside_copies),
            "staging_removed": self.staging_removed,
            "eval_caches_removed": self.eval_caches_removed,
            "checkpoint": self.checkpoint,
        }

    def to_text(self) -> str:
        text = (
            f"freed {human_bytes(self.bytes_freed)}: {self.objects_removed} objects, "
            f"{self.run_folders_removed} run folders, {self.temps_removed} temporary files"
        )
        if self.staging_removed:
            text += f", {self.staging_removed} checkout staging folders"
        if self.eval_caches_removed:
            text += f", {self.eval_caches_removed} eval caches no run names"
        text += f" removed; {self.objects_kept} objects kept"
        if self.checkpoint:
            text += "; catalog checkpoint refreshed"
        if self.kept_for_set_aside:
            where = ", ".join(self.set_aside_copies)
            text += (
                f" ({self.kept_for_set_aside} only because records that repair set aside name "
                f"them, in {where}: delete a copy once its records are not needed to let gc "
                "free them)"
            )
        return text


def referenced(ws: Workspace) -> set[str]:
    """Every object hash some catalog document keeps alive."""
    refs: set[str] = set()
    for table in ws.catalog.tables():
        for doc in ws.catalog.scan(table):
            refs.update(r for r in doc.get("refs") or () if isinstance(r, str))
    return refs


def set_aside_refs(ws: Workspace) -> dict[str, set[Path]]:
    """Object hashes named anywhere in the set-aside (damaged) journal lines, with the copies
    that name them; only hashes the cache holds."""
    named: dict[str, set[Path]] = {}
    for copy, line in ws.catalog.set_aside_lines():
        for match in _HASH.findall(line):
            named.setdefault(match.decode(), set()).add(copy)
    return {md5: copies for md5, copies in named.items() if ws.objects.has(md5)}


def collect(ws: Workspace, grace_s: float = GRACE_S, dry_run: bool = False) -> GcReport:
    """Remove unreferenced objects and orphan run folders older than `grace_s` seconds, and
    temporary files older than an hour that no process holds."""
    report = GcReport()
    now = time.time()
    with ws.catalog.locked():
        live = ws.objects.expand(referenced(ws))
        aside = set_aside_refs(ws)
        run_ids = set(ws.catalog.docs("runs"))
        caches = {
            k
            for doc in ws.catalog.scan("runs")
            for k in doc.get("caches") or ()
            if isinstance(k, str)
        }
    aside_keep: dict[str, set[Path]] = {}  # kept only for set-aside lines -> their copies
    for md5, where in aside.items():
        for kept in ws.objects.expand([md5]) - live:
            aside_keep.setdefault(kept, set()).update(where)
    copies: set[Path] = set()
    for md5, size in list(ws.objects.all_objects()):
        if md5 in live or md5 in aside_keep:
            report.objects_kept += 1
            if md5 in aside_keep:
                report.kept_for_set_aside += 1
                copies.update(aside_keep[md5])
            continue
        path = ws.objects.path_of(md5)
        try:
            if now - path.stat().st_mtime < grace_s:
                report.objects_kept += 1
                continue
        except FileNotFoundError:
            continue
        report.objects_removed += 1
        report.removed.append(md5)
        report.bytes_freed += size if dry_run else ws.objects.remove(md5)
    report.set_aside_copies = sorted(str(c) for c in copies)
    if ws.runs_dir.is_dir():
        for folder in ws.runs_dir.iterdir():
            if folder.name in run_ids or not folder.is_dir():
                continue
            if now - folder.stat().st_mtime < grace_s:
                continue
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            report.run_folders_removed += 1
            report.bytes_freed += size
            if not dry_run:
                shutil.rmtree(folder, ignore_errors=True)
    _collect_eval_caches(ws, caches, now - grace_s, report, dry_run)
    if not dry_run:
        report.temps_removed = ws.objects.remove_stale_temps(older_than_s=TEMP_AGE_S)
        report.temps_removed += remove_checkpoint_temps(ws.catalog.folder, now - TEMP_AGE_S)
        report.checkpoint = ws.catalog.write_checkpoint()
    return report


def remove_checkpoint_temps(folder: Path, before: float) -> int:
    """Remove checkpoint temp files a killed writer left (older than `before`, held by none)."""
    from nb_mlops.store.lock import remove_unless_held

    removed = 0
    for path in folder.glob(f".{CHECKPOINT_FILE}.tmp-*"):
        try:
            if path.stat().st_mtime < before and remove_unless_held(path):
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def _collect_eval_caches(
    ws: Workspace, named: set[str], before: float, report: GcReport, dry_run: bool
) -> None:
    """Remove eval cache files no run names, last written before `before`."""
    if not ws.eval_cache_dir.is_dir():
        return
    for path in ws.eval_cache_dir.iterdir():
        if path.suffix != ".jsonl" or path.stem in named or not path.is_file():
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if stat.st_mtime >= before:
            continue
        report.eval_caches_removed += 1
        report.bytes_freed += stat.st_size
        if not dry_run:
            path.unlink(missing_ok=True)
