"""Garbage collection: removing objects and run folders that nothing in the catalog references.

Any catalog document may hold `refs`, a list of object hashes it keeps alive (run artifacts,
figures and tables, the environment document, dataset versions, model files); a `.dir` hash keeps
every file in its listing alive. Objects younger than a grace period are kept even when
unreferenced, because another process may have just stored one and not yet written the record
that refers to it.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from nb_mlops.results import Result
from nb_mlops.store.workspace import Workspace
from nb_mlops.text import human_bytes

GRACE_S = 15 * 60


@dataclass
class GcReport(Result):
    """What a gc removed and how much space it freed."""

    objects_removed: int = 0
    run_folders_removed: int = 0
    temps_removed: int = 0
    bytes_freed: int = 0
    objects_kept: int = 0
    removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "objects_removed": self.objects_removed,
            "run_folders_removed": self.run_folders_removed,
            "temps_removed": self.temps_removed,
            "bytes_freed": self.bytes_freed,
            "objects_kept": self.objects_kept,
        }

    def to_text(self) -> str:
        return (
            f"freed {human_bytes(self.bytes_freed)}: {self.objects_removed} objects, "
            f"{self.run_folders_removed} run folders, {self.temps_removed} temporary files "
            f"removed; {self.objects_kept} objects kept"
        )


def referenced(ws: Workspace) -> set[str]:
    """Every object hash some catalog document keeps alive."""
    refs: set[str] = set()
    for table in ws.catalog.tables():
        for doc in ws.catalog.docs(table).values():
            refs.update(r for r in doc.get("refs") or () if isinstance(r, str))
    return refs


def collect(ws: Workspace, grace_s: float = GRACE_S, dry_run: bool = False) -> GcReport:
    """Remove unreferenced objects and orphan run folders older than `grace_s` seconds."""
    report = GcReport()
    now = time.time()
    with ws.catalog.locked():
        keep = ws.objects.expand(referenced(ws))
        run_ids = set(ws.catalog.docs("runs"))
    for md5, size in list(ws.objects.all_objects()):
        if md5 in keep:
            report.objects_kept += 1
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
    if not dry_run:
        report.temps_removed = ws.objects.remove_stale_temps(older_than_s=max(grace_s, 60.0))
    return report
