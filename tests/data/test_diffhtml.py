"""The data diffs' HTML, built once: the static views and the widgets show the same pieces."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

import nb_mlops as nm
from nb_mlops.data.diffhtml import (
    MAX_FILES,
    cards_html,
    datadiff_html,
    files_html,
    rowdiff_html,
    rows_html,
)
from nb_mlops.data.rowdiff import RowDiff, diff_tables

EVIL = "<img src=x onerror=alert(1)>"


def row_classes(text: str) -> list[str]:
    return re.findall(r"<tr class='(nbm-row-[a-z]+)'", text)


def small_diff() -> RowDiff:
    old = pa.Table.from_pylist([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}])
    new = pa.Table.from_pylist([{"id": 1, "v": "A"}, {"id": 3, "v": "c"}, {"id": 4, "v": EVIL}])
    return diff_tables(old, new, key="id")


def test_the_static_view_of_a_rowdiff_is_the_widgets_row_table() -> None:
    rd = small_diff()
    page = rd.to_html()
    assert rows_html(rd, rd.rows(limit=RowDiff.html_rows)) in page
    assert row_classes(page) == ["nbm-row-changed", "nbm-row-removed", "nbm-row-added"]
    assert page == rd._repr_html_() and str(rd) == rd.to_text()
    assert "<b>1</b> added" in page and "<b>1</b> removed" in page and "<b>1</b> changed" in page
    assert EVIL not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_note_only_when_rows_are_left_out() -> None:
    rd = small_diff()
    assert "differing rows" not in rowdiff_html(rd, 3)
    page = rowdiff_html(rd, 2)
    assert len(row_classes(page)) == 2
    assert "showing 2 of 3 differing rows" in page and ".rows(offset=2, limit=50)" in page
    assert "differing rows" not in rowdiff_html(rd, 2, None)
    assert "note 2/3" in rowdiff_html(rd, 2, lambda shown, total: f"note {shown}/{total}")


def test_cards_are_colored_by_kind_and_escaped() -> None:
    cards = cards_html([("rows added", 1200, "added"), (EVIL, 1, None)])
    assert "<b>1,200</b> rows added" in cards and "rgba(40,167,69" in cards
    assert EVIL not in cards and "background:none" in cards


def test_a_datadiff_renders_its_summary_files_and_rows(ws, project: Path) -> None:
    folder = project / "tables"
    folder.mkdir()
    (folder / "a.csv").write_text("id,v\n1,1\n2,2\n")
    (folder / "gone.txt").write_text("x")
    nm.snapshot("tables")
    (folder / "a.csv").write_text("id,v\n1,5\n")
    (folder / "gone.txt").unlink()
    (folder / f"{EVIL}.txt").write_text("new")
    nm.snapshot("tables")
    diff = nm.diff("tables", 1, 2, key="id")
    page = diff.to_html()
    assert page == datadiff_html(diff, RowDiff.html_rows) and page == diff._repr_html_()
    assert page.startswith("<div class='nbm-datadiff'>") and "<h4>tables: version 1" in page
    assert "<b>1</b> files added" in page and "<b>1</b> rows removed" in page
    assert "class='nbm-file-deleted'" in page and "class='nbm-file-modified'" in page
    assert row_classes(page) == ["nbm-row-changed", "nbm-row-removed"]
    assert "<h5>a.csv</h5>" in page
    assert EVIL not in page and "&lt;img src=x onerror=alert(1)&gt;.txt" in page


def test_the_file_list_is_bounded(ws, project: Path) -> None:
    folder = project / "many"
    folder.mkdir()
    (folder / "keep").write_text("k")
    nm.snapshot("many")
    for i in range(MAX_FILES + 5):
        (folder / f"f{i:03}").write_text(str(i))
    nm.snapshot("many")
    files = files_html(nm.diff("many", 1, 2))
    assert files.count("class='nbm-file-added'") == MAX_FILES
    assert "… 5 more files" in files
