"""The data diffs' HTML, built once: the static views and the widgets show the same pieces."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

import nb_mlops as nm
from nb_mlops.data.diffhtml import (
    MAX_FILES,
    cards_html,
    counted,
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
    assert "<b>1</b> row added" in page and "<b>1</b> row removed" in page
    assert "<b>1</b> row changed" in page
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
    cards = cards_html([("row added", 1200, "added"), (EVIL, 1, None), ("file renamed", 0, None)])
    assert "<b>1,200</b> rows added" in cards and "rgba(40,167,69" in cards
    assert EVIL not in cards and "background:none" in cards
    assert "renamed" not in cards  # a card counting nothing is left out
    assert cards_html([("file added", 0, "added")]) == ""


@pytest.mark.parametrize(
    ("count", "label", "shown"),
    [
        (1, "file modified", "file modified"),
        (2, "file modified", "files modified"),
        (0, "file added", "files added"),
        (1, "row added", "row added"),
        (3, ("schema change", "schema changes"), "schema changes"),
        (1, ("schema change", "schema changes"), "schema change"),
        (2, "match found", "matches found"),
    ],
)
def test_counted_labels_are_correct_english(count: int, label, shown: str) -> None:
    assert counted(count, label) == shown


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
    assert "<b>1</b> file added" in page and "<b>1</b> row removed" in page
    assert "<b>1</b> file deleted" in page and "<b>1</b> file modified" in page
    assert "renamed" not in page  # no empty card
    assert page.count("row removed") == 1  # one table: its counts are not repeated under it
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


def test_a_single_file_dataset_has_no_file_cards_or_list(ws, project: Path) -> None:
    (project / "one.csv").write_text("id,v\n1,1\n2,2\n")
    nm.snapshot("one.csv")
    (project / "one.csv").write_text("id,v\n1,5\n2,2\n3,3\n")
    nm.snapshot("one.csv")
    page = nm.diff("one.csv", 1, 2, key="id").to_html()
    cards = re.findall(r"<span class='nbm-card'[^>]*><b>([\d,]+)</b> ([^<]*)</span>", page)
    assert cards == [("1", "row added"), ("1", "row changed")]  # nothing empty, no "file" card
    assert "<table class='nbm-table nbm-files'>" not in page and "file modified" not in page
    assert "2 → 3 rows, 1 unchanged, 1 cell changed" in page
    (project / "blob.bin").write_bytes(b"a")
    nm.snapshot("blob.bin")
    (project / "blob.bin").write_bytes(b"b")
    nm.snapshot("blob.bin")
    blob = nm.diff("blob.bin", 1, 2).to_html()  # no rows to count: the file card says it
    assert re.findall(r"<b>(\d+)</b> ([^<]*)</span>", blob) == [("1", "file modified")]


def test_colours_follow_the_theme_and_sit_beside_text(ws, project: Path) -> None:
    page = small_diff().to_html()
    assert "var(--jp-error-color1, #bd2130)" in page and "var(--jp-success-color1, #1e7e34)" in page
    assert "var(--jp-border-color2," in page
    assert "table.nbm-rowdiff-table.nbm-rowdiff-table td" in page  # outranks JupyterLab's rules
    plain = re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", page))
    assert "+" in plain and "−" in plain and "→" in plain  # kinds are marked in text too
