"""Every name under `.nbmlops/`, in one place: folders, files, and the files of one run.

Nothing outside store/ builds a path inside the store; it asks the Workspace, which builds
them from these names. Changing a name here changes the store format (see workspace.FORMAT).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

STORE_DIRNAME = ".nbmlops"

FORMAT_FILE = "format.json"
CONFIG_FILE = "config.toml"
GITIGNORE_FILE = ".gitignore"
CATALOG_DIR = "catalog"
JOURNAL_FILE = "journal.jsonl"
JOURNAL_LOCK = "journal.lock"
LEGACY_CATALOG_FILE = "db.json"  # format 1
CHECKPOINT_FILE = "checkpoint.bin"
"""Under CATALOG_DIR: the journal's replayed state at an offset (derived; store/checkpoint.py)."""
CHECKPOINT_LOCK = "checkpoint.lock"
PACKED_POINTS_FILE = "points.pack"
"""Under RUNS_DIR: the points of small finished runs, one line per run, so a run of a few
points needs no folder of its own (format 3)."""
RUNS_DIR = "runs"
HISTORY_DIR = "history"
CACHE_DIR = "cache"
EVAL_CACHE_DIR = "evals"
"""Under CACHE_DIR: model answers kept by the evaluator, one file per model identity."""
ANNOTATIONS_DIR = "annotations"
"""Human labels: one folder per annotation task (its definition and one labels file per rater)."""
MONITORS_DIR = "monitors"
"""Model monitors: one folder per monitor (its definition, reference, batches, windows)."""
SYNC_DIR = "sync"
"""What was handed over to other engines: one file per target (store/syncstate.py)."""
STATE_FILE = "state"
MODELS_DIR = "models"
LOCKS_DIR = "locks"
TMP_DIR = "tmp"
BACKUPS_DIR = "backups"

PLAIN_NAME_CHARS = "._-@"
MAX_PLAIN_NAME = 100


def is_plain_name(name: object, max_length: int = MAX_PLAIN_NAME) -> bool:
    """Whether `name` can name a file or folder in the store as it is: letters, digits and
    `._-@`, no leading dot, at most `max_length` characters (annotation tasks, monitors)."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= max_length
        and name[0] != "."
        and all(c.isalnum() or c in PLAIN_NAME_CHARS for c in name)
    )


CREATED_DIRS = (CATALOG_DIR, RUNS_DIR, CACHE_DIR, HISTORY_DIR)
"""Folders a new store starts with (the others appear on first use)."""

METRICS_FILE = "metrics.jsonl"
COLUMNS_FILE = "metrics.npz"


class RunFiles:
    """The files of one run, under `runs/<run_id>/`: append-only records the catalog points at.

    Each path is built when first asked for: a tracked cell needs two or three of them.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @cached_property
    def metrics(self) -> Path:
        """Points, one JSON line each (store/series.py)."""
        return self.folder / METRICS_FILE

    @cached_property
    def columns(self) -> Path:
        """A cache of the points in columns, for plotting long series."""
        return self.folder / COLUMNS_FILE

    @cached_property
    def cells(self) -> Path:
        """The cells the run executed."""
        return self.folder / "cells.jsonl"

    @cached_property
    def heartbeat(self) -> Path:
        """Touched while the run's process lives (for readers on other hosts)."""
        return self.folder / "heartbeat"

    @property
    def stdout(self) -> Path:
        return self.folder / "stdout.txt"

    @property
    def stderr(self) -> Path:
        return self.folder / "stderr.txt"

    def output(self, stream: str) -> Path:
        """Where the run's captured `stdout` or `stderr` is kept."""
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"a run keeps stdout and stderr, not {stream!r}")
        return self.stdout if stream == "stdout" else self.stderr
