"""Tabular files: format by suffix, whole reads, cheap summaries, one-line errors naming files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from nb_mlops.data import tabular
from nb_mlops.data.tabular import (
    TABULAR_SUFFIXES,
    TableReadError,
    read_table,
    table_format,
    table_summary,
)
from nb_mlops.errors import NbMlopsError

ROWS = [
    {"id": 1, "name": "alpha", "score": 0.5},
    {"id": 2, "name": "서울, 부산", "score": None},
    {"id": 3, "name": "<b>x</b>", "score": 2.25},
]


def write(path: Path, rows: list[dict], fmt: str | None = None) -> Path:
    """Write `rows` in the format of the path's suffix (or `fmt`)."""
    fmt = fmt or table_format(path)
    names = list(rows[0])
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    else:
        sep = "\t" if fmt == "tsv" else ","

        def cell(v: object) -> str:
            text = "" if v is None else str(v)
            return f'"{text}"' if sep in text or '"' in text else text

        lines = [sep.join(names)] + [sep.join(cell(r[n]) for n in names) for r in rows]
        path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("data.csv", "csv"),
        ("DATA.CSV", "csv"),
        ("a.b.tsv", "tsv"),
        ("x.parquet", "parquet"),
        ("x.PQ", "parquet"),
        ("x.jsonl", "jsonl"),
        ("x.ndjson", "jsonl"),
        ("x.json", None),
        ("x.txt", None),
        ("x.csv.gz", None),
        ("csv", None),
    ],
)
def test_table_format_by_suffix(name: str, expected: str | None) -> None:
    assert table_format(name) == expected
    assert table_format(Path("some/dir") / name) == expected


def test_suffix_table() -> None:
    assert TABULAR_SUFFIXES == {
        ".csv": "csv",
        ".tsv": "tsv",
        ".parquet": "parquet",
        ".pq": "parquet",
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
    }


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson"])
def test_read_and_summarize_every_format(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / f"t{suffix}", ROWS)
    table = read_table(path)
    assert table.column_names == ["id", "name", "score"]
    assert table.to_pylist() == ROWS
    summary = table_summary(path)
    assert summary == {
        "format": TABULAR_SUFFIXES[suffix],
        "rows": 3,
        "columns": [
            {"name": "id", "type": "int64"},
            {"name": "name", "type": "string"},
            {"name": "score", "type": "double"},
        ],
    }


def test_korean_column_names_and_values(tmp_path: Path) -> None:
    path = tmp_path / "한글.csv"
    path.write_text("번호,도시\n1,서울\n2,부산\n", "utf-8")
    assert read_table(path).to_pylist() == [
        {"번호": 1, "도시": "서울"},
        {"번호": 2, "도시": "부산"},
    ]
    assert [c["name"] for c in table_summary(path)["columns"]] == ["번호", "도시"]


def test_parquet_summary_reads_only_the_footer(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path / "t.parquet", ROWS)

    def refuse(*args, **kwargs):
        raise AssertionError("the summary must not read the data")

    monkeypatch.setattr(pq, "read_table", refuse)
    assert table_summary(path)["rows"] == 3


def test_csv_summary_streams(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i / 2}\n" for i in range(50_000)), "utf-8")

    def refuse(*args, **kwargs):
        raise AssertionError("the summary must not read the whole file")

    monkeypatch.setattr(pcsv, "read_csv", refuse)
    summary = table_summary(path)
    assert summary["rows"] == 50_000
    assert summary["columns"] == [{"name": "a", "type": "int64"}, {"name": "b", "type": "double"}]


@pytest.mark.parametrize(
    ("late_value", "late_type"),
    [("hello", "string"), ("1.5", "double"), ("2020-01-02", "string")],
)
def test_csv_summary_types_agree_with_a_whole_read(
    tmp_path: Path, late_value: str, late_type: str
) -> None:
    # Arrow's streaming reader infers types from the first block (1 MiB): a different value
    # after it must not break the summary, nor give it other types than read_table's.
    path = tmp_path / "late.csv"
    rows = "".join(f"{i},,x\n" for i in range(200_000))
    path.write_text(f"a,empty,c\n{rows}{late_value},2020-01-01,y\n", "utf-8")
    summary = table_summary(path)
    table = read_table(path)
    assert summary["rows"] == table.num_rows == 200_001
    assert summary["columns"] == [{"name": f.name, "type": str(f.type)} for f in table.schema]
    assert summary["columns"][0]["type"] == late_type


def test_jsonl_with_a_field_of_changing_type(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps({"a": i, "b": "x"}) for i in range(3)] + [json.dumps({"a": "n/a"})]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    table = read_table(path)
    assert table.column("a").to_pylist() == ["0", "1", "2", "n/a"]
    assert table.column("b").to_pylist() == ["x", "x", "x", None]
    assert table_summary(path)["rows"] == 4


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_empty_text_file_is_an_empty_table(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    assert read_table(path).num_rows == 0
    assert table_summary(path) == {"format": table_format(path), "rows": 0, "columns": []}


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("bad.csv", "a,b\n1,2\n3,4,5\n", "as CSV: CSV parse error"),
        ("bad.tsv", "a\tb\n1\t2\t3\n", "as TSV"),
        ("bad.parquet", "this is not parquet", "as Parquet"),
        ("bad.jsonl", '{"a": 1}\n{"a": \n', "as JSON lines"),
        ("bad file 한글.csv", 'a,b\n"1,2\n', "as CSV"),
    ],
)
def test_unparsable_file_is_a_one_line_error_naming_it(
    tmp_path: Path, name: str, content: str, fragment: str
) -> None:
    path = tmp_path / name
    path.write_text(content, "utf-8")
    for call in (read_table, table_summary):
        with pytest.raises(TableReadError) as info:
            call(path)
        message = str(info.value)
        assert "\n" not in message
        assert str(path) in message
        assert fragment in message
        assert isinstance(info.value, NbMlopsError)


def test_missing_folder_and_unknown_suffix(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    cases = {
        tmp_path / "nope.csv": "no such file",
        tmp_path / "dir.csv": "a folder",
        tmp_path / "notes.txt": "not a tabular file",
    }
    (tmp_path / "notes.txt").write_text("hi")
    for path, fragment in cases.items():
        for call in (read_table, table_summary):
            with pytest.raises(TableReadError, match=fragment) as info:
                call(path)
            assert str(path) in str(info.value)


def test_long_parser_messages_are_cut(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("a\n" + "x," * 500 + "\n", "utf-8")
    with pytest.raises(TableReadError) as info:
        read_table(path)
    assert len(str(info.value)) < tabular._MAX_MESSAGE + len(str(path)) + 40


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl"])
def test_format_given_for_a_path_without_suffix(tmp_path: Path, fmt: str) -> None:
    # Cache objects are named by their hash, without a suffix.
    path = write(tmp_path / "0cc175b9c0f1b6a831c399e269772661", ROWS, fmt)
    assert read_table(path, fmt).to_pylist() == ROWS
    assert table_summary(path, fmt=fmt)["rows"] == 3
    with pytest.raises(TableReadError, match="not a tabular file"):
        read_table(path)
    with pytest.raises(TableReadError, match="unknown table format 'xlsx'"):
        read_table(path, "xlsx")


def test_a_binary_file_gives_a_printable_line_naming_the_label(tmp_path: Path) -> None:
    # Issue 10, point 13: the parser quotes the bad row; bytes of a binary file must not reach
    # a terminal (an escape sequence) and a cache object is named by its workspace path.
    path = tmp_path / "0cc175b9c0f1b6a831c399e269772661"
    path.write_bytes(b"a,b\n\x1b[2J\xff\xfe\x00" + bytes(range(256)) * 8 + b"\n1,2,3\n")
    for call in (read_table, table_summary):
        with pytest.raises(TableReadError) as info:
            call(path, "csv", label="data/junk.csv (version 2)")
        message = str(info.value)
        assert message.startswith("cannot read data/junk.csv (version 2) as CSV: ")
        assert str(path) not in message and "\n" not in message
        assert message.isprintable() and "\ufffd" not in message
        assert message.endswith("… (binary data)")
        assert len(message) < 200
