"""Which files are tables, by suffix: a check cheap enough to run before importing pyarrow."""

from __future__ import annotations

import os
from pathlib import Path

TABULAR_SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def table_format(path: str | os.PathLike[str]) -> str | None:
    """The format named by the file's suffix (any case): csv, tsv, parquet, jsonl, or None."""
    return TABULAR_SUFFIXES.get(Path(path).suffix.lower())
