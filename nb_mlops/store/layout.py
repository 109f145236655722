"""Every name under `.nbmlops/`, in one place: folders, files, and the files of one run.

Nothing outside store/ builds a path inside the store; it asks the Workspace, which builds
them from these names. Changing a name here changes the store format (see workspace.FORMAT).
"""

from __future__ import annotations

from pathlib import Path

STORE_DIRNAME = ".nbmlops"

FORMAT_FILE = "format.json"
CONFIG_FILE = "config.toml"
GITIGNORE_FILE = ".gitignore"
CATALOG_DIR = "catalog"
JOURNAL_FILE = "journal.jsonl"
JOURNAL_LOCK = "journal.lock"
LEGACY_CATALOG_FILE = "db.json"  # format 1
RUNS_DIR = "runs"
HISTORY_DIR = "history"
CACHE_DIR = "cache"
STATE_FILE = "state"
MODELS_DIR = "models"
LOCKS_DIR = "locks"
TMP_DIR = "tmp"
BACKUPS_DIR = "backups"

CREATED_DIRS = (CATALOG_DIR, RUNS_DIR, CACHE_DIR, HISTORY_DIR)
"""Folders a new store starts with (the others appear on first use)."""

METRICS_FILE = "metrics.jsonl"
COLUMNS_FILE = "metrics.npz"


class RunFiles:
    """The files of one run, under `runs/<run_id>/`: append-only records the catalog points at."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.metrics = self.folder / METRICS_FILE  # points, one JSON line each (series.py)
        self.columns = self.folder / COLUMNS_FILE  # a cache of the points in columns
        self.cells = self.folder / "cells.jsonl"  # the cells the run executed
        self.heartbeat = self.folder / "heartbeat"  # touched while the run's process lives
        self.stdout = self.folder / "stdout.txt"
        self.stderr = self.folder / "stderr.txt"

    def output(self, stream: str) -> Path:
        """Where the run's captured `stdout` or `stderr` is kept."""
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"a run keeps stdout and stderr, not {stream!r}")
        return self.stdout if stream == "stdout" else self.stderr
