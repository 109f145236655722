"""The kernel's execution history: every cell executed since the extension was loaded.

Each kernel session appends to its own file, `history/<session>.jsonl`, one line per executed
cell: index, execution count, cell id (when the front end sends it), source, its hash, start
time, duration and status. A run points at the session and the index of its cell, so a record
can later replay exactly the cells that led to it, untracked ones included.

Sources and error messages are kept with secrets redacted (redact.py: `api_key = "sk-..."` is
recorded as `api_key = "[REDACTED]"`); the hash is of the cell as it ran, so re-runs of one cell
still link up. A replayed cell that needed a secret reads it from the environment.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from nb_mlops.clock import compact_stamp, utcnow
from nb_mlops.jsonl import read_jsonl
from nb_mlops.redact import redact_source, redact_text
from nb_mlops.store.files import append_line
from nb_mlops.store.workspace import Workspace
from nb_mlops.tracking.ids import new_run_id


def code_hash(source: str) -> str:
    """md5 of a cell's source (the same code in two cells hashes the same)."""
    return hashlib.md5(source.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class CellRecord:
    """One executed cell, filled in at pre-run and completed at post-run."""

    index: int
    source: str
    execution_count: int | None
    cell_id: str | None
    start: str
    hash: str
    t0: float = field(default_factory=time.perf_counter)
    status: str = "running"
    duration: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "i": self.index,
            "n": self.execution_count,
            "cell_id": self.cell_id,
            "hash": self.hash,
            "start": self.start,
            "duration": self.duration,
            "status": self.status,
            "error": self.error,
            "source": self.source,
        }

    def finish(self, status: str, error: str | None = None) -> None:
        self.status = status
        self.error = redact_text(error)[:2000] if error else error  # cut after: no half secret
        self.duration = round(time.perf_counter() - self.t0, 6)


class SessionHistory:
    """Append-only log of one kernel session's executed cells."""

    def __init__(self, ws: Workspace, session: str | None = None) -> None:
        self.ws = ws
        self.session = session or f"{compact_stamp()}-{new_run_id()[:6]}"
        self.path = ws.history_file(self.session)
        self.count = 0

    def begin(
        self, source: str, execution_count: int | None, cell_id: str | None = None
    ) -> CellRecord:
        """A record for a cell about to run (written when it ends), its source redacted."""
        self.count += 1
        return CellRecord(
            index=self.count,
            source=redact_source(source),
            execution_count=execution_count,
            cell_id=cell_id,
            start=utcnow(),
            hash=code_hash(source),
        )

    def end(self, record: CellRecord) -> None:
        """Append a finished cell to the session file."""
        line = json.dumps(record.to_dict(), ensure_ascii=False) + "\n"
        try:
            append_line(self.path, line.encode())
        except Exception:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            append_line(self.path, line.encode())

    def pointer(self, record: CellRecord) -> dict[str, Any]:
        """What a run stores to find its lead-up: this session, up to this cell."""
        return {"session": self.session, "index": record.index}


def lead_up(ws: Workspace, pointer: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The cells of a run's session up to (and including) its own cell, in order."""
    if not pointer:
        return []
    cells = read_jsonl(ws.history_file(pointer["session"]))
    return [c for c in cells if c.get("i", 0) <= pointer["index"]]
