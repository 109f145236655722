"""Row-level diffs: matching by key or content, changed cells, schema changes, paging, views."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nb_mlops.data.rowdiff import DiffError, DiffKeyError, RowDiff, diff_tables
from nb_mlops.data.tabular import TableReadError
from nb_mlops.errors import NbMlopsError

NAN = float("nan")

OLD = [
    {"id": 1, "name": "alpha", "price": 1.5, "qty": 10},
    {"id": 2, "name": "beta", "price": 2.0, "qty": 20},
    {"id": 3, "name": "gamma", "price": 3.0, "qty": 30},
    {"id": 4, "name": "delta", "price": 4.0, "qty": 40},
]
NEW = [
    {"id": 2, "name": "beta", "price": 2.0, "qty": 20},  # unchanged (moved up)
    {"id": 3, "name": "GAMMA", "price": 3.5, "qty": 30},  # 2 cells
    {"id": 4, "name": "delta", "price": 4.0, "qty": 41},  # 1 cell
    {"id": 5, "name": "epsilon", "price": 5.0, "qty": 50},  # added; id 1 removed
]


def write(path: Path, rows: list[dict]) -> Path:
    """`rows` as a file in the format of the path's suffix."""
    suffix = path.suffix
    if suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    else:
        sep = "\t" if suffix == ".tsv" else ","
        names = list(rows[0])
        lines = [sep.join(names)]
        lines += [sep.join("" if r[n] is None else str(r[n]) for n in names) for r in rows]
        path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def table(rows: list[dict], schema: pa.Schema | None = None) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def counts(diff: RowDiff) -> tuple[int, int, int, int, int]:
    return diff.added, diff.removed, diff.changed, diff.unchanged, diff.cells_changed


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_keyed_diff_of_files(tmp_path: Path, suffix: str) -> None:
    old = write(tmp_path / f"old{suffix}", OLD)
    new = write(tmp_path / f"new{suffix}", NEW)
    diff = diff_tables(old, new, key="id")
    assert counts(diff) == (1, 1, 2, 1, 3)
    assert diff.key == ["id"]
    assert diff.schema == {"added": [], "removed": [], "retyped": []}
    assert (diff.old_label, diff.new_label) == (str(old), str(new))
    by_key = {r["key"]["id"]: r for r in diff.rows(limit=10)}
    assert by_key[1]["kind"] == "removed" and by_key[1]["old"] == OLD[0]
    assert by_key[1]["new"] is None and by_key[1]["old_row"] == 0 and by_key[1]["new_row"] is None
    assert by_key[5]["kind"] == "added" and by_key[5]["new"] == NEW[3] and by_key[5]["old"] is None
    assert by_key[3]["cells"] == {"name": ["gamma", "GAMMA"], "price": [3.0, 3.5]}
    assert (by_key[3]["old_row"], by_key[3]["new_row"]) == (2, 1)
    assert by_key[4]["cells"] == {"qty": [40, 41]}
    assert by_key[4]["old"] == OLD[3] and by_key[4]["new"] == NEW[2]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (table(OLD), table(NEW)),
        (pd.DataFrame(OLD), pd.DataFrame(NEW)),
        (pd.DataFrame(OLD).set_index("id"), pd.DataFrame(NEW).set_index("id")),
        (pa.RecordBatch.from_pylist(OLD), table(NEW)),
    ],
    ids=["arrow", "pandas", "pandas-index", "record-batch"],
)
def test_in_memory_inputs(old, new) -> None:
    diff = diff_tables(old, new, key="id")
    assert counts(diff) == (1, 1, 2, 1, 3)
    assert (diff.old_label, diff.new_label) == ("old", "new")


def test_labels_name_the_sides() -> None:
    diff = diff_tables(table(OLD), table(NEW), key="id", labels=("v1", "v2"))
    assert "v1 → v2" in str(diff) and diff.to_dict()["old"] == "v1"


def test_composite_key() -> None:
    old = [
        {"region": "kr", "day": 1, "sales": 10},
        {"region": "kr", "day": 2, "sales": 20},
        {"region": "us", "day": 1, "sales": 30},
    ]
    new = [
        {"region": "us", "day": 1, "sales": 31},
        {"region": "kr", "day": 1, "sales": 10},
        {"region": "us", "day": 2, "sales": 40},
    ]
    diff = diff_tables(table(old), table(new), key=["region", "day"])
    assert counts(diff) == (1, 1, 1, 1, 1)
    records = diff.rows()
    # Records come in key order, whatever their kind.
    assert [(r["kind"], r["key"]) for r in records] == [
        ("removed", {"region": "kr", "day": 2}),
        ("changed", {"region": "us", "day": 1}),
        ("added", {"region": "us", "day": 2}),
    ]
    assert records[1]["cells"] == {"sales": [30, 31]}


def test_no_key_matches_rows_as_a_multiset() -> None:
    a = {"x": 1, "y": "a"}
    b = {"x": 2, "y": "b"}
    c = {"x": 3, "y": "c"}
    diff = diff_tables(table([a, a, b, a]), table([a, c, a]))
    # three a's become two (the last one goes), b goes, c comes.
    assert counts(diff) == (1, 2, 0, 2, 0)
    assert diff.key is None
    assert [(r["kind"], r["key"], r["old_row"], r["new_row"]) for r in diff.rows()] == [
        ("added", {"row": 1}, None, 1),
        ("removed", {"row": 2}, 2, None),
        ("removed", {"row": 3}, 3, None),
    ]
    text = str(diff)
    assert "no key" in text and "old row 2" in text and "new row 1" in text


def test_no_key_a_modified_row_is_removed_plus_added() -> None:
    diff = diff_tables(table(OLD), table(NEW))
    assert counts(diff) == (3, 3, 0, 1, 0)
    assert diff.to_dict()["matching"] == "content"


def test_no_key_ignores_columns_only_one_side_has() -> None:
    old = table([{"id": 1, "x": 1}, {"id": 2, "x": 2}])
    new = table([{"id": 1, "extra": "e"}, {"id": 2, "extra": "f"}])
    diff = diff_tables(old, new)
    assert counts(diff) == (0, 0, 0, 2, 0)
    assert diff.schema == {"added": ["extra"], "removed": ["x"], "retyped": []}
    assert not diff.identical


def test_no_common_column_means_everything_changed() -> None:
    diff = diff_tables(table([{"a": 1}]), table([{"b": 1}, {"b": 2}]))
    assert counts(diff) == (2, 1, 0, 0, 0)


def test_schema_changes() -> None:
    old = table(
        [{"id": 1, "n": 1, "s": 1, "gone": "x"}, {"id": 2, "n": 2, "s": 2, "gone": "y"}],
    )
    new = pa.table(
        {
            "id": [1, 2],
            "n": pa.array([1.0, 2.5]),  # int64 -> double: 1 == 1.0, 2 != 2.5
            "s": pa.array(["1", "two"]),  # int64 -> string: compared by string form
            "extra": [True, False],
        }
    )
    diff = diff_tables(old, new, key="id")
    assert diff.schema == {
        "added": ["extra"],
        "removed": ["gone"],
        "retyped": [
            {"column": "n", "old": "int64", "new": "double"},
            {"column": "s", "old": "int64", "new": "string"},
        ],
    }
    assert counts(diff) == (0, 0, 1, 1, 2)
    (record,) = diff.rows()
    assert record["cells"] == {"n": [2, 2.5], "s": [2, "two"]}
    assert diff.compared == ["n", "s"]


def test_key_column_retyped_still_matches() -> None:
    old = table([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
    new = table([{"id": "1", "v": "a"}, {"id": "2", "v": "B"}])
    diff = diff_tables(old, new, key="id")
    assert counts(diff) == (0, 0, 1, 1, 1)
    assert diff.schema["retyped"] == [{"column": "id", "old": "int64", "new": "string"}]


def test_dictionary_column_equals_its_plain_values() -> None:
    old = pd.DataFrame({"id": [1, 2], "c": pd.Categorical(["a", "b"])})
    new = pd.DataFrame({"id": [1, 2], "c": ["a", "c"]})
    diff = diff_tables(old, new, key="id")
    assert counts(diff) == (0, 0, 1, 1, 1)


@pytest.mark.parametrize(
    ("before", "after", "differs"),
    [
        (NAN, NAN, False),
        (None, None, False),
        (NAN, None, False),  # both missing, as pandas sees them
        (1.0, NAN, True),
        (NAN, 1.0, True),
        (None, 0.0, True),
        (0.0, -0.0, False),
        (1.0, 1.0, False),
    ],
)
def test_missing_floats(before: float | None, after: float | None, differs: bool) -> None:
    schema = pa.schema([("id", pa.int64()), ("v", pa.float64())])
    old = table([{"id": 1, "v": before}], schema)
    new = table([{"id": 1, "v": after}], schema)
    assert diff_tables(old, new, key="id").changed == int(differs)
    # Matching by content agrees: an equal row is unchanged.
    assert diff_tables(old, new).unchanged == int(not differs)


@pytest.mark.parametrize(
    ("before", "after", "differs"),
    [(None, None, False), (None, "", True), ("", "", False), ("a", None, True)],
)
def test_missing_strings(before: str | None, after: str | None, differs: bool) -> None:
    schema = pa.schema([("id", pa.int64()), ("v", pa.string())])
    old = table([{"id": 1, "v": before}], schema)
    new = table([{"id": 1, "v": after}], schema)
    assert diff_tables(old, new, key="id").changed == int(differs)


def test_nan_in_csv_files(tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    new = tmp_path / "new.csv"
    old.write_text("id,v,w\n1,NaN,1\n2,,2\n3,1.5,3\n", "utf-8")
    new.write_text("id,v,w\n1,nan,1\n2,NaN,2\n3,NaN,3\n", "utf-8")
    diff = diff_tables(old, new, key="id")
    assert counts(diff) == (0, 0, 1, 2, 1)


def test_null_key_values_match_each_other() -> None:
    schema = pa.schema([("id", pa.int64()), ("v", pa.int64())])
    old = table([{"id": None, "v": 1}, {"id": 1, "v": 1}], schema)
    new = table([{"id": 1, "v": 1}, {"id": None, "v": 2}], schema)
    diff = diff_tables(old, new, key="id")
    assert counts(diff) == (0, 0, 1, 1, 1)
    assert diff.rows()[0]["key"] == {"id": None}


def test_nested_values_compare_by_content() -> None:
    old = table([{"id": 1, "tags": [1, 2]}, {"id": 2, "tags": [3]}])
    new = table([{"id": 1, "tags": [1, 2]}, {"id": 2, "tags": [3, 4]}])
    diff = diff_tables(old, new, key="id")
    assert counts(diff) == (0, 0, 1, 1, 1)
    assert diff.rows()[0]["cells"] == {"tags": [[3], [3, 4]]}
    assert diff_tables(old, new).unchanged == 1


@pytest.mark.parametrize(
    ("key", "rows", "side", "shown"),
    [
        ("id", [{"id": 7, "v": 1}, {"id": 7, "v": 2}], "old", "id=7"),
        (
            ["a", "b"],
            [{"a": "x", "b": 1, "v": 1}, {"a": "x", "b": 1, "v": 2}],
            "new",
            "a='x', b=1",
        ),
        ("id", [{"id": "서울", "v": 1}, {"id": "서울", "v": 2}], "new", "id='서울'"),
    ],
)
def test_duplicate_key_is_refused(key, rows: list[dict], side: str, shown: str) -> None:
    unique = [{**rows[0]}]
    old, new = (rows, unique) if side == "old" else (unique, rows)
    with pytest.raises(DiffKeyError) as info:
        diff_tables(table(old), table(new), key=key)
    message = str(info.value)
    assert "not unique in " + side in message
    assert shown in message
    assert "\n" not in message
    assert isinstance(info.value, NbMlopsError)


def test_duplicate_key_in_a_file_names_the_file(tmp_path: Path) -> None:
    old = write(tmp_path / "old.csv", [*OLD, OLD[1]])
    new = write(tmp_path / "new.csv", NEW)
    with pytest.raises(DiffKeyError, match=rf"key id is not unique in {old}: id=2 is on 2 rows"):
        diff_tables(old, new, key="id")


@pytest.mark.parametrize(
    ("old_rows", "new_rows", "key", "side"),
    [
        ([{"id": 1}], [{"id": 1}], "missing", "old"),
        ([{"id": 1, "k": 1}], [{"id": 1}], ["id", "k"], "new"),
    ],
)
def test_missing_key_column_is_refused(old_rows, new_rows, key, side: str) -> None:
    with pytest.raises(DiffKeyError) as info:
        diff_tables(table(old_rows), table(new_rows), key=key)
    message = str(info.value)
    missing = "missing" if key == "missing" else "k"
    assert f"key column {missing!r} is not in {side}" in message


@pytest.mark.parametrize("key", [[], [1], ["id", "id"]])
def test_bad_key_argument(key) -> None:
    with pytest.raises(DiffKeyError):
        diff_tables(table(OLD), table(NEW), key=key)


def test_two_columns_of_one_name_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("a,a\n1,2\n", "utf-8")
    with pytest.raises(DiffError, match="two columns named 'a'"):
        diff_tables(path, path)


def test_unparsable_csv_names_the_file(tmp_path: Path) -> None:
    good = write(tmp_path / "good.csv", OLD)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\n1,a\n2,b,c\n", "utf-8")
    with pytest.raises(TableReadError) as info:
        diff_tables(good, bad, key="id")
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_other_inputs_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="cannot diff a list"):
        diff_tables([1, 2], table(NEW))


def test_identical_tables() -> None:
    diff = diff_tables(table(OLD), table(list(reversed(OLD))), key="id")
    assert diff.identical
    assert counts(diff) == (0, 0, 0, 4, 0)
    assert diff.rows() == []
    assert "0 added, 0 removed, 0 changed" in str(diff)


def test_empty_tables() -> None:
    schema = pa.schema([("id", pa.int64()), ("v", pa.string())])
    empty = schema.empty_table()
    assert counts(diff_tables(empty, empty, key="id")) == (0, 0, 0, 0, 0)
    assert counts(diff_tables(empty, table(OLD[:1]))) == (1, 0, 0, 0, 0)
    assert counts(diff_tables(table(OLD), empty, key="id")) == (0, 4, 0, 0, 0)


@pytest.fixture
def big() -> RowDiff:
    """120 added (ids 1000..1119), 30 removed (ids 0..29), 45 changed (ids 30..74)."""
    old = pa.table({"id": list(range(200)), "v": list(range(200))})
    ids = list(range(30, 200)) + list(range(1000, 1120))
    values = [i + 1 if i < 75 else i for i in range(30, 200)] + list(range(120))
    return diff_tables(old, pa.table({"id": ids, "v": values}), key="id")


def test_paging_by_kind(big: RowDiff) -> None:
    assert counts(big) == (120, 30, 45, 125, 45)
    assert big.count() == 195 and big.count("added") == 120
    pages = [big.rows("added", offset, 50) for offset in (0, 50, 100, 150)]
    assert [len(p) for p in pages] == [50, 50, 20, 0]
    ids = [r["key"]["id"] for page in pages for r in page]
    assert ids == list(range(1000, 1120))
    assert all(r["kind"] == "added" for page in pages for r in page)
    assert [r["key"]["id"] for r in big.rows("removed", 25, 10)] == [25, 26, 27, 28, 29]
    changed = big.rows("changed", 44, 5)
    assert [(r["key"], r["cells"]) for r in changed] == [({"id": 74}, {"v": [74, 75]})]


def test_paging_all_kinds_in_key_order(big: RowDiff) -> None:
    everything = big.rows(limit=1000)
    assert [r["key"]["id"] for r in everything] == list(range(75)) + list(range(1000, 1120))
    paged = [r for offset in range(0, 195, 40) for r in big.rows(None, offset, 40)]
    assert paged == everything
    assert big.rows(offset=500) == []
    assert big.rows(limit=0) == []


def test_paging_arguments_are_checked(big: RowDiff) -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        big.rows("modified")
    with pytest.raises(ValueError):
        big.rows(offset=-1)


def test_to_dict_is_json(big: RowDiff) -> None:
    data = big.to_dict(limit=10)
    assert data["counts"] == {
        "added": 120,
        "removed": 30,
        "changed": 45,
        "unchanged": 125,
        "cells_changed": 45,
        "old_rows": 200,
        "new_rows": 290,
    }
    assert data["key"] == ["id"] and data["rows_total"] == 195 and len(data["rows"]) == 10
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_to_dict_values_are_json_safe() -> None:
    day = dt.date(2024, 1, 2)
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("f", pa.float64()),
            ("d", pa.date32()),
            ("t", pa.timestamp("us", tz="UTC")),
            ("m", pa.decimal128(10, 3)),
            ("b", pa.binary()),
            ("span", pa.duration("s")),
        ]
    )
    old = table(
        [{"id": 1, "f": 1.0, "d": day, "t": when, "m": decimal.Decimal("1.250"), "b": b"x",
          "span": dt.timedelta(seconds=5)}],
        schema,
    )  # fmt: skip
    new = table(
        [{"id": 1, "f": NAN, "d": day + dt.timedelta(days=1), "t": when, "m": None, "b": b"y",
          "span": dt.timedelta(seconds=6)},
         {"id": 2, "f": math.inf, "d": None, "t": None, "m": decimal.Decimal("2.5"), "b": None,
          "span": None}],
        schema,
    )  # fmt: skip
    diff = diff_tables(old, new, key="id")
    text = json.dumps(diff.to_dict(), allow_nan=False)
    data = json.loads(text)
    changed = next(r for r in data["rows"] if r["kind"] == "changed")
    assert changed["cells"]["f"] == [1.0, None]
    assert changed["cells"]["d"] == ["2024-01-02", "2024-01-03"]
    assert changed["cells"]["m"] == ["1.250", None]
    assert changed["old"]["t"] == "2024-01-02T03:04:05+00:00"
    added = next(r for r in data["rows"] if r["kind"] == "added")
    assert added["new"]["f"] == "inf"
    # rows(jsonable=True) is the same conversion, for paging from a server.
    assert json.dumps(diff.rows(jsonable=True), allow_nan=False)


def test_html_escapes_values_and_column_names() -> None:
    old = table([{"id": 1, "<b>col</b>": "safe"}, {"id": 2, "<b>col</b>": "x"}])
    new = table(
        [{"id": 1, "<b>col</b>": "<script>alert(1)</script>"}, {"id": 3, "<b>col</b>": "<i>"}]
    )
    diff = diff_tables(old, new, key="id", labels=("<old>", "new & improved"))
    page = diff._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>col" not in page and "&lt;b&gt;col&lt;/b&gt;" in page
    assert "<i>" not in page and "&lt;old&gt;" in page and "new &amp; improved" in page
    assert "safe</span> → <span" in page  # the changed cell shows old → new
    assert "rgba(40,167,69" in page and "rgba(220,53,69" in page  # added green, removed red


def test_html_and_text_with_korean() -> None:
    old = table([{"번호": 1, "도시": "서울", "인구": 10}])
    new = table([{"번호": 1, "도시": "부산", "인구": 10}, {"번호": 2, "도시": "대구", "인구": 5}])
    diff = diff_tables(old, new, key="번호")
    assert "도시: 서울 → 부산" in str(diff)
    page = diff._repr_html_()
    assert "서울" in page and "부산" in page and "대구" in page and "도시" in page
    data = json.loads(json.dumps(diff.to_dict(), ensure_ascii=False, allow_nan=False))
    assert data["rows"][0]["cells"] == {"도시": ["서울", "부산"]}


def test_html_shows_schema_changes_and_the_rest_count(big: RowDiff) -> None:
    page = big._repr_html_()
    assert page.count("<tr") == RowDiff.html_rows + 1
    assert "showing 20 of 195 differing rows" in page
    schema_diff = diff_tables(table([{"id": 1, "a": 1}]), table([{"id": 1, "b": 1}]), key="id")
    page = schema_diff._repr_html_()
    assert "+b" in page and "−a" in page


def test_text_view(big: RowDiff) -> None:
    text = str(big)
    lines = text.splitlines()
    assert lines[0].startswith("rows old → new: 120 added, 30 removed, 45 changed (45 cells)")
    assert lines[1] == "  - id=0  v=0"
    assert lines[-1].startswith("  … 175 more")
    assert "RowDiff" in repr(big)


def test_format_for_paths_without_suffix(tmp_path: Path) -> None:
    old = write(tmp_path / "old.csv", OLD).rename(tmp_path / "a1b2")
    new = write(tmp_path / "new.csv", NEW).rename(tmp_path / "c3d4")
    assert counts(diff_tables(old, new, key="id", fmt="csv")) == (1, 1, 2, 1, 3)


def test_matching_is_vectorized() -> None:
    # A guard against a Python loop over rows creeping in: 200k rows take ~0.1 s here.
    import time

    n = 200_000
    old = pa.table({"id": pa.array(range(n)), "v": pa.array([i % 97 for i in range(n)])})
    new = old.set_column(1, "v", pa.array([(i % 97) + (i % 1000 == 0) for i in range(n)]))
    start = time.perf_counter()
    diff = diff_tables(old, new, key="id")
    no_key = diff_tables(old, new)
    assert time.perf_counter() - start < 5
    assert counts(diff) == (0, 0, 200, n - 200, 200)
    assert counts(no_key) == (200, 200, 0, n - 200, 0)
