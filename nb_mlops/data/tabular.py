"""Tabular files (CSV, TSV, Parquet, JSON lines): recognise, read into Arrow, summarise cheaply.

Snapshots record a row count and a schema for every tabular file, so `table_summary` must stay
cheap on big files: Parquet answers from its footer, the text formats are streamed batch by batch.
Row-level diffs need the whole table, which `read_table` gives as a `pyarrow.Table` (no pandas,
no Python objects per value). Every failure is a `TableReadError` whose one-line message names
the file (the workspace path a caller gives as `label`, else the path read) and holds no raw
bytes of it: a parser's excerpt of a binary file is escaped and cut short.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

import pyarrow as pa

from nb_mlops.data.formats import TABULAR_SUFFIXES, table_format
from nb_mlops.errors import NbMlopsError

_FORMAT_NAMES = {"csv": "CSV", "tsv": "TSV", "parquet": "Parquet", "jsonl": "JSON lines"}
_CSV_COLUMN = re.compile(r"In CSV column #(\d+)")
_MAX_MESSAGE = 300
_MAX_ESCAPES = 8  # past this many unprintable characters, the excerpt is binary: cut it


class TableReadError(NbMlopsError, ValueError):
    """A tabular file is missing, of an unknown format, or cannot be parsed."""


def read_table(
    path: str | os.PathLike[str], fmt: str | None = None, *, label: str | None = None
) -> pa.Table:
    """The whole file as an Arrow table, types inferred over all rows (not just the first block).

    `fmt` ("csv", "tsv", "parquet", "jsonl") overrides the suffix: cache objects have none.
    `label` is how errors name the file (its workspace path, when `path` is a cache object).
    """
    fmt = _format_of(path, fmt, label)
    if fmt != "parquet" and os.path.getsize(path) == 0:
        return pa.table({})  # an empty text file is a table without columns, not an error
    try:
        if fmt in ("csv", "tsv"):
            import pyarrow.csv as pcsv

            return pcsv.read_csv(path, parse_options=_csv_parse_options(fmt))
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        return _read_jsonl(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _read_error(label or path, fmt, exc) from exc


def table_summary(
    path: str | os.PathLike[str], fmt: str | None = None, *, label: str | None = None
) -> dict[str, Any]:
    """{"format", "rows", "columns": [{"name", "type"}]} without holding the whole table.

    Parquet: from the footer alone. CSV/TSV: streamed; Arrow's streaming reader infers types from
    the first block only, so when a later block contradicts a column's type, that one column is
    read alone (as `read_table` would infer it) and the stream restarts with its type fixed —
    the summary's types always equal `read_table`'s. JSON lines: streamed when this pyarrow can,
    else read whole. `fmt` overrides the suffix and `label` names the file, as for `read_table`.
    """
    fmt = _format_of(path, fmt, label)
    if fmt != "parquet" and os.path.getsize(path) == 0:
        return _summary(fmt, 0, pa.schema([]))
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path)
            return _summary(fmt, meta.metadata.num_rows, meta.schema_arrow)
        if fmt in ("csv", "tsv"):
            return _csv_summary(path, fmt)
        return _jsonl_summary(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _read_error(label or path, fmt, exc) from exc


def _format_of(
    path: str | os.PathLike[str], fmt: str | None = None, label: str | None = None
) -> str:
    if fmt is not None:
        if fmt not in _FORMAT_NAMES:
            raise TableReadError(
                f"unknown table format {fmt!r} (known: {', '.join(_FORMAT_NAMES)})"
            )
    else:
        fmt = table_format(path)
    if fmt is None:
        known = ", ".join(sorted(TABULAR_SUFFIXES))
        shown = label or os.fspath(path)
        raise TableReadError(f"{shown} is not a tabular file (suffixes read: {known})")
    if not Path(path).is_file():
        what = "a folder, not a file" if Path(path).is_dir() else "no such file"
        raise TableReadError(f"{label or os.fspath(path)}: {what}")
    return fmt


def _read_error(path: str | os.PathLike[str], fmt: str, exc: BaseException) -> TableReadError:
    """One line naming the file and the format, with the parser's own reason (made printable)."""
    reason = _printable_reason(" ".join(str(exc).split()) or type(exc).__name__)
    if len(reason) > _MAX_MESSAGE:
        reason = reason[: _MAX_MESSAGE - 1] + "…"
    return TableReadError(f"cannot read {os.fspath(path)} as {_FORMAT_NAMES[fmt]}: {reason}")


def _printable_reason(text: str) -> str:
    """`text` with unprintable characters escaped (`\\x1b`, `\\ufffd` for undecodable bytes);
    past a few of them the rest is binary noise, so it is cut with a note saying so."""
    out: list[str] = []
    escaped = 0
    for ch in text:
        if ch == "\ufffd" or unicodedata.category(ch)[0] == "C":
            escaped += 1
            if escaped > _MAX_ESCAPES:
                out.append("… (binary data)")
                break
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _summary(fmt: str, rows: int, schema: pa.Schema) -> dict[str, Any]:
    columns = [{"name": field.name, "type": str(field.type)} for field in schema]
    return {"format": fmt, "rows": int(rows), "columns": columns}


def _csv_parse_options(fmt: str) -> Any:
    import pyarrow.csv as pcsv

    return pcsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")


def _csv_summary(path: str | os.PathLike[str], fmt: str) -> dict[str, Any]:
    import pyarrow.csv as pcsv

    parse = _csv_parse_options(fmt)
    fixed: dict[str, pa.DataType] = {}
    while True:
        reader = pcsv.open_csv(
            path, parse_options=parse, convert_options=pcsv.ConvertOptions(column_types=fixed)
        )
        schema = reader.schema
        rows = 0
        try:
            for batch in reader:
                rows += batch.num_rows
        except pa.ArrowInvalid as exc:
            column = _failed_csv_column(exc, schema, fixed)
            if column is None:
                raise
            # The first block misled the inference for this column: infer it over every row.
            whole = pcsv.read_csv(
                path,
                parse_options=parse,
                convert_options=pcsv.ConvertOptions(include_columns=[column]),
            )
            fixed[column] = whole.schema.field(column).type
            continue
        return _summary(fmt, rows, schema)


def _failed_csv_column(
    exc: pa.ArrowInvalid, schema: pa.Schema, fixed: dict[str, pa.DataType]
) -> str | None:
    """The column a streaming conversion error is about, if it is one we have not fixed yet."""
    match = _CSV_COLUMN.search(str(exc))
    if not match or "conversion error" not in str(exc):
        return None
    index = int(match.group(1))
    if index >= len(schema.names):
        return None
    name = schema.names[index]
    if name in fixed or schema.names.count(name) > 1:
        return None
    return name


def _read_jsonl(path: str | os.PathLike[str]) -> pa.Table:
    import pyarrow.json as pj

    try:
        return pj.read_json(path)
    except pa.ArrowInvalid as exc:
        if "changed from" not in str(exc):
            raise
    # A field holds values of different JSON types (number here, string there): Arrow's reader
    # refuses, so parse in Python and keep such fields as their JSON text.
    return _read_jsonl_mixed(path)


def _read_jsonl_mixed(path: str | os.PathLike[str]) -> pa.Table:
    records: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {number}: {exc.msg}") from None
            if not isinstance(value, dict):
                raise ValueError(f"line {number}: a JSON object was expected")
            records.append(value)
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    columns = {}
    for name in names:
        values = [record.get(name) for record in records]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array(
                [v if v is None or isinstance(v, str) else json.dumps(v) for v in values],
                pa.string(),
            )
    return pa.table(columns)


def _jsonl_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    import pyarrow.json as pj

    open_json = getattr(pj, "open_json", None)
    if open_json is not None:
        try:
            reader = open_json(path)
            schema = reader.schema
            rows = sum(batch.num_rows for batch in reader)
            return _summary("jsonl", rows, schema)
        except pa.ArrowInvalid:
            pass  # types that change after the first block: infer over the whole file instead
    table = _read_jsonl(path)
    return _summary("jsonl", table.num_rows, table.schema)
