"""Evaluation items from local data: files, DataFrames, lists, or a `datasets.Dataset` in hand.

`load_items` reads JSON lines, JSON (a list of objects), CSV/TSV or Parquet files, a pandas
DataFrame, a list of dicts, or a Hugging Face `datasets.Dataset` the user already loaded (found
by its shape, never imported: the package may not be installed). Nothing is downloaded.

Multiple-choice rows (`kind="choice"`) come in the common layouts and leave in one shape,
`{"id", "question", "choices", "answer", "subject", "raw"}` (`answer` a 0-based index):

- ARC: `question`, `choices: {"text": [...], "label": [...]}`, `answerKey` (a label: a letter
  or a digit);
- HellaSwag: `ctx` or `ctx_a`/`ctx_b` (joined as lm-evaluation-harness does: ctx_a, a space, ctx_b
  capitalized), `endings`, `label` (int or digit string), `activity_label` as the subject;
- MMLU: `question`, `choices` (a list), `answer` (index or letter); or columns `A`, `B`, `C`, ...
  with `answer` a letter;
- plain: `question` (or `query`), `choices` (or `options`), `answer` (or `gold`, `label`): an index,
  a digit string, a letter, or the text of one choice.

Text rows (`kind="text"`, for generation metrics) leave as `{"id", "prompt", "reference", "raw"}`:
the prompt from `prompt`, `input`, `source`, `question`, `document`, `article` or `text`; the
reference (one string or a list of acceptable ones) from `reference(s)`, `target`, `answer(s)`,
`summary` or `output`. `kind=None` takes the kind the first row looks like, and returns rows as
they are (with an `id`) when it looks like neither.

A bad row raises EvalError naming the source, the row and the field: `line N` (the file's line)
for JSON lines and CSV, `row N` (0-based position) for everything else.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nb_mlops.evals.model import EvalError

KINDS = ("choice", "text")
FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
ID_FIELDS = ("id", "ind", "idx", "doc_id", "question_id")
PROMPT_FIELDS = ("prompt", "input", "source", "question", "document", "article", "text")
REFERENCE_FIELDS = (
    "reference",
    "references",
    "target",
    "answer",
    "answers",
    "summary",
    "output",
)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class Row:
    """Where a row came from, for error messages: `data.jsonl line 3`, `DataFrame row 0`."""

    def __init__(self, source: str, where: str, data: dict[str, Any], position: int) -> None:
        self.source = source
        self.where = where
        self.data = data
        self.position = position

    def fail(self, message: str) -> EvalError:
        return EvalError(f"{self.source} {self.where}: {message}")


# ------------------------------------------------------------------------------- public
def load_items(
    source: Any, *, kind: str | None = "choice", limit: int | None = None
) -> list[dict[str, Any]]:
    """The items of `source` (see the module docstring), normalized for `kind`, at most `limit`."""
    if kind is not None and kind not in KINDS:
        raise EvalError(f"kind {kind!r}: choose choice, text or None")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise EvalError(f"limit {limit!r}: give a whole number >= 0")
    rows = read_rows(source, limit=limit)
    if kind is None and rows:
        kind = guess_kind(rows[0].data)
    if kind == "choice":
        items = [choice_item(row) for row in rows]
    elif kind == "text":
        items = [text_item(row) for row in rows]
    else:
        items = [{**row.data, "id": row_id(row)} for row in rows]
    check_ids(rows, items)
    return items


def dataset_hash(source: Any) -> str:
    """A stable sha256 of the data: of a file's bytes, or of the rows as canonical JSON."""
    if isinstance(source, str | os.PathLike):
        path = existing_file(source)
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    rows = [row.data for row in read_rows(source)]
    text = json.dumps(rows, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def guess_kind(row: Mapping[str, Any]) -> str | None:
    """The kind of item a row looks like: "choice", "text", or None for neither."""
    if choice_layout(row) is not None:
        return "choice"
    has_prompt = any(present(row.get(k)) for k in PROMPT_FIELDS)
    if has_prompt and any(present(row.get(k)) for k in REFERENCE_FIELDS):
        return "text"
    return None


# ------------------------------------------------------------------------------ reading
def read_rows(source: Any, *, limit: int | None = None) -> list[Row]:
    """Rows of any supported source as plain Python dicts (numpy values and NaN converted)."""
    if isinstance(source, str | os.PathLike):
        return read_file(source, limit)
    if is_frame(source):
        records = source.to_dict(orient="records")
        return in_memory("DataFrame", records, limit)
    names = getattr(source, "column_names", None)
    if names is not None and not isinstance(source, list | tuple):
        if isinstance(names, Mapping):
            splits = ", ".join(str(k) for k in names)
            first = next(iter(names), "test")
            raise EvalError(f"dataset has splits {splits}: pass one, e.g. dataset[{first!r}]")
        return in_memory(type(source).__name__, source, limit)
    if isinstance(source, list | tuple):
        return in_memory("list", source, limit)
    raise EvalError(
        f"dataset of type {type(source).__name__}: give a file path (.jsonl, .json, .csv, "
        ".parquet), a list of dicts, a pandas DataFrame or a datasets.Dataset"
    )


def is_frame(obj: Any) -> bool:
    return type(obj).__module__.startswith("pandas") and hasattr(obj, "to_dict")


def in_memory(name: str, records: Iterable[Any], limit: int | None) -> list[Row]:
    rows = []
    for i, record in enumerate(records):
        if limit is not None and i >= limit:
            break
        if not isinstance(record, Mapping):
            raise EvalError(f"{name} row {i}: expected a dict, got {type(record).__name__}")
        rows.append(Row(name, f"row {i}", plain(dict(record)), i))
    return rows


def existing_file(source: str | os.PathLike[str]) -> Path:
    path = Path(source)
    if not path.exists():
        raise EvalError(f"dataset {source}: no such file")
    if path.is_dir():
        raise EvalError(f"dataset {source}: is a folder, not a file")
    return path


def read_file(source: str | os.PathLike[str], limit: int | None) -> list[Row]:
    path = existing_file(source)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(FORMATS)
        raise EvalError(
            f"dataset {source}: unknown format {path.suffix or '(none)'!r}; use {known}"
        )
    name = str(source)
    if fmt == "parquet":
        return read_parquet(path, name, limit)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvalError(
            f"dataset {name}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    if fmt == "jsonl":
        return read_jsonl(text, name, limit)
    if fmt == "json":
        return read_json(text, name, limit)
    return read_csv(text, name, limit, "\t" if fmt == "tsv" else ",")


def read_jsonl(text: str, name: str, limit: int | None) -> list[Row]:
    rows: list[Row] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if limit is not None and len(rows) >= limit:
            break
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise EvalError(f"{name} line {number}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise EvalError(f"{name} line {number}: expected an object, got {kind_of(record)}")
        rows.append(Row(name, f"line {number}", record, len(rows)))
    return rows


def read_json(text: str, name: str, limit: int | None) -> list[Row]:
    try:
        records = json.loads(text)
    except ValueError as exc:
        raise EvalError(f"dataset {name}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(records, list):
        raise EvalError(f"dataset {name}: expected a list of objects, got {kind_of(records)}")
    rows: list[Row] = []
    for i, record in enumerate(records[:limit] if limit is not None else records):
        if not isinstance(record, dict):
            raise EvalError(f"{name} row {i}: expected an object, got {kind_of(record)}")
        rows.append(Row(name, f"row {i}", record, i))
    return rows


def read_csv(text: str, name: str, limit: int | None, delimiter: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[Row] = []
    for record in reader:
        if limit is not None and len(rows) >= limit:
            break
        if None in record:
            raise EvalError(f"{name} line {reader.line_num}: more cells than the header has")
        # Empty cells are missing values; a list column is written as JSON ("["a", "b"]").
        data = {k: (None if v == "" else v) for k, v in record.items()}
        rows.append(Row(name, f"line {reader.line_num}", data, len(rows)))
    return rows


def read_parquet(path: Path, name: str, limit: int | None) -> list[Row]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        first = str(exc).strip().splitlines()
        raise EvalError(
            f"dataset {name}: not a Parquet file ({first[0] if first else exc})"
        ) from None
    if limit is not None:
        table = table.slice(0, limit)
    return [Row(name, f"row {i}", plain(r), i) for i, r in enumerate(table.to_pylist())]


def plain(value: Any) -> Any:
    """Plain Python values: numpy arrays and scalars converted, NaN as None (a missing cell)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, str | bool | int) or value is None:
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars, pyarrow scalars
    if callable(tolist):
        return plain(tolist())
    return value


KIND_NAMES = {dict: "an object", list: "a list", str: "a string"}


def kind_of(value: Any) -> str:
    return KIND_NAMES.get(type(value), type(value).__name__)


def present(value: Any) -> bool:
    return value is not None and value != "" and value != []


# ------------------------------------------------------------------------------ choices
def choice_layout(row: Mapping[str, Any]) -> str | None:
    """Which multiple-choice layout a row has: arc, hellaswag, columns, plain, or None."""
    choices = row.get("choices")
    if isinstance(choices, Mapping) and "text" in choices:
        return "arc"
    if "endings" in row and ("ctx" in row or "ctx_a" in row):
        return "hellaswag"
    if choices is None and "options" not in row and "A" in row and "B" in row:
        return "columns"
    if (choices is not None or "options" in row) and ("question" in row or "query" in row):
        return "plain"
    return None


def choice_item(row: Row) -> dict[str, Any]:
    data = row.data
    layout = choice_layout(data)
    if layout is None:
        raise row.fail(
            "not a multiple-choice row: give question, choices and answer (or the ARC, "
            "HellaSwag or MMLU columns)"
        )
    subject = data.get("subject")
    if layout == "arc":
        question = text_field(row, "question")
        block = data["choices"]
        choices = choice_list(row, block.get("text"), "choices.text")
        labels = [str(x) for x in (block.get("label") or LETTERS[: len(choices)])]
        if len(labels) != len(choices):
            raise row.fail(f"choices.label has {len(labels)} labels for {len(choices)} choices")
        key = data.get("answerKey", data.get("answer"))
        field = "answerKey" if "answerKey" in data else "answer"
        if isinstance(key, str) and key.strip() in labels:
            answer = labels.index(key.strip())
        elif isinstance(key, str) and key.strip():
            shown = ", ".join(labels)
            raise row.fail(f"{field} {key!r} is not one of the labels {shown}")
        else:
            answer = answer_index(row, key, choices, field)
    elif layout == "hellaswag":
        if "ctx_a" in data:
            ctx_a = text_field(row, "ctx_a")
            ctx_b = data.get("ctx_b") or ""
            if not isinstance(ctx_b, str):
                raise row.fail(f"ctx_b must be text, got {kind_of(ctx_b)}")
            question = ctx_a + " " + ctx_b.capitalize()
        else:
            question = text_field(row, "ctx")
        choices = choice_list(row, data.get("endings"), "endings")
        field = next((f for f in ("label", "answer", "gold") if f in data), "label")
        answer = answer_index(row, data.get(field), choices, field)
        subject = data.get("activity_label", subject)
    elif layout == "columns":
        letters = []
        for letter in LETTERS:
            if not present(data.get(letter)):
                break
            letters.append(letter)
        question = text_field(row, "question")
        choices = [choice_text(row, data[letter], letter) for letter in letters]
        if len(choices) < 2:
            raise row.fail("needs at least 2 choices (columns A, B, ...)")
        field = next((f for f in ("answer", "label", "gold") if f in data), "answer")
        answer = answer_index(row, data.get(field), choices, field)
    else:
        qfield = "question" if "question" in data else "query"
        question = text_field(row, qfield)
        cfield = "choices" if data.get("choices") is not None else "options"
        choices = choice_list(row, data.get(cfield), cfield)
        field = next((f for f in ("answer", "gold", "label", "answerKey") if f in data), "answer")
        answer = answer_index(row, data.get(field), choices, field)
    if subject is not None and not isinstance(subject, str):
        subject = str(subject)
    raw = data.get("raw") if isinstance(data.get("raw"), dict) else dict(data)
    return {
        "id": row_id(row),
        "question": question,
        "choices": choices,
        "answer": answer,
        "subject": subject or None,
        "raw": raw,
    }


def text_field(row: Row, field: str) -> str:
    value = row.data.get(field)
    if not isinstance(value, str) or not value.strip():
        what = "missing" if value is None else "empty" if value == "" else kind_of(value)
        raise row.fail(f"{field} must be non-empty text, got {what}")
    return value


def choice_list(row: Row, value: Any, field: str) -> list[str]:
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = json.loads(value)  # a list column of a CSV file, written as JSON
        except ValueError:
            raise row.fail(f"{field} is not a JSON list: {short(value)}") from None
    if not isinstance(value, list):
        got = "missing" if value is None else kind_of(value)
        raise row.fail(f"{field} must be a list of choices, got {got}")
    if len(value) < 2:
        raise row.fail(f"{field} has {len(value)} choice(s); a question needs at least 2")
    return [choice_text(row, v, f"{field}[{i}]") for i, v in enumerate(value)]


def choice_text(row: Row, value: Any, field: str) -> str:
    if isinstance(value, bool) or value is None:
        raise row.fail(f"{field} must be text, got {value!r}")
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        raise row.fail(f"{field} must be text, got {kind_of(value)}")
    if not value.strip():
        raise row.fail(f"{field} is empty")
    return value


def answer_index(row: Row, value: Any, choices: list[str], field: str) -> int:
    """A 0-based index from an index, a digit string, a letter, or the text of a choice."""
    n = len(choices)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise row.fail(f"no {field}: give the correct choice as an index, a letter or its text")
    if isinstance(value, bool):
        raise row.fail(f"{field} {value!r} is not a choice")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if not 0 <= value < n:
            raise row.fail(f"{field} {value} is out of range for {n} choices")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return answer_index(row, int(text), choices, field)
        if len(text) == 1 and text in LETTERS:
            index = LETTERS.index(text)
            if index >= n:
                raise row.fail(f"{field} {text!r} is out of range for {n} choices")
            return index
        if value in choices:
            return choices.index(value)
        raise row.fail(f"{field} {short(value)!r} is neither an index, a letter nor a choice")
    raise row.fail(f"{field} must be an index or a letter, got {kind_of(value)}")


def short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --------------------------------------------------------------------------------- text
def text_item(row: Row) -> dict[str, Any]:
    data = row.data
    pfield = next((f for f in PROMPT_FIELDS if present(data.get(f))), None)
    if pfield is None:
        raise row.fail(f"no prompt: give one of {', '.join(PROMPT_FIELDS)}")
    prompt = data[pfield]
    if not isinstance(prompt, str):
        raise row.fail(f"{pfield} must be text, got {kind_of(prompt)}")
    rfield = next((f for f in REFERENCE_FIELDS if f in data and f != pfield), None)
    if rfield is None or data.get(rfield) is None:
        raise row.fail(f"no reference: give one of {', '.join(REFERENCE_FIELDS)}")
    reference = reference_value(row, data[rfield], rfield)
    raw = data.get("raw") if isinstance(data.get("raw"), dict) else dict(data)
    item: dict[str, Any] = {"id": row_id(row), "prompt": prompt, "reference": reference}
    if isinstance(data.get("subject"), str):
        item["subject"] = data["subject"]
    item["raw"] = raw
    return item


def reference_value(row: Row, value: Any, field: str) -> str | list[str]:
    if isinstance(value, Mapping) and "text" in value:  # SQuAD: {"text": [...], "answer_start"}
        value = value["text"]
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(v, str) for v in parsed):
            value = parsed
    if isinstance(value, str):
        if not value.strip():
            raise row.fail(f"{field} is empty")
        return value
    if isinstance(value, list):
        if not value:
            raise row.fail(f"{field} is an empty list; give at least one reference")
        for i, v in enumerate(value):
            if not isinstance(v, str) or not v.strip():
                raise row.fail(f"{field}[{i}] must be non-empty text, got {v!r}")
        return list(value)
    raise row.fail(f"{field} must be text or a list of texts, got {kind_of(value)}")


# ---------------------------------------------------------------------------------- ids
def row_id(row: Row) -> str:
    for field in ID_FIELDS:
        value = row.data.get(field)
        if present(value) and not isinstance(value, dict | list):
            return str(value)
    return str(row.position)


def check_ids(rows: list[Row], items: list[dict[str, Any]]) -> None:
    """Ids name items in caches and regressions, so two items may not share one."""
    seen: dict[str, Row] = {}
    for row, item in zip(rows, items, strict=True):
        first = seen.setdefault(item["id"], row)
        if first is not row:
            raise row.fail(f"id {item['id']!r} is already used by {first.where}")
