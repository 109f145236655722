"""DataDiffWidget / RowDiffWidget: cards, file list, colored paged rows, old → new, escaping."""

from __future__ import annotations

import re
from pathlib import Path

import ipywidgets as widgets
import pytest

import nb_mlops as nm
from nb_mlops.data.rowdiff import diff_tables
from nb_mlops.data.rowdiff import shown_value as cell_text
from nb_mlops.notebook.widgets.chart import VIEW_MIME
from nb_mlops.notebook.widgets.datadiff import DataDiffWidget, RowDiffWidget

EVIL = "<img src=x onerror=alert(1)>"


def row_classes(html_text: str) -> list[str]:
    return re.findall(r"<tr class='(nbm-row-[a-z]+)'", html_text)


@pytest.fixture
def diff(ws, project: Path):
    """reviews.csv v1 -> v2 by key id: 1 changed, 2 removed, 30 added (one evil text).

    A single-file dataset's one table is `tables[""]` (its path inside the dataset is empty).
    """
    lines = ["id,text,score"] + [f"{i},row {i},{i}" for i in range(1, 6)]
    (project / "reviews.csv").write_text("\n".join(lines) + "\n")
    nm.snapshot("reviews.csv")
    new = ["id,text,score", "1,row 1,1", "2,changed,2.5", "3,row 3,3"]
    new += [f"{i},{EVIL if i == 10 else f'new {i}'},{i}" for i in range(10, 40)]
    (project / "reviews.csv").write_text("\n".join(new) + "\n")
    nm.snapshot("reviews.csv")
    return nm.diff("reviews.csv", 1, 2, key="id")


def test_cards_and_file_list(diff) -> None:
    widget = DataDiffWidget(diff)
    summary = widget.summary.value
    assert "nbm-datadiff" in widget._dom_classes
    assert "<b>30</b> rows added" in summary
    assert "<b>2</b> rows removed" in summary
    assert "<b>1</b> row changed" in summary
    assert "<b>1</b> schema change" in summary  # score: int -> double
    # a single file: no "0 files added" cards, no one-line file list; the title names it
    assert "file" not in re.sub(r"<h4>.*?</h4>", "", summary)
    assert "<h4>reviews.csv: version 1 → version 2</h4>" in summary
    assert "version 1" in summary and "version 2" in summary


def test_rows_are_colored_by_kind_and_changed_cells_show_old_and_new(diff) -> None:
    widget = DataDiffWidget(diff, page_size=10)
    view = widget.tables[""]
    assert isinstance(view, RowDiffWidget)
    html_text = view.table.value
    classes = row_classes(html_text)
    assert len(classes) == 10
    assert classes[:4] == ["nbm-row-changed", "nbm-row-removed", "nbm-row-removed", "nbm-row-added"]
    assert "<span class='nbm-old' style='color:var(--jp-error-color1, #bd2130)'>row 2</span>" in (
        html_text
    )
    assert (
        "<span class='nbm-new' style='color:var(--jp-success-color1, #1e7e34)'>changed</span>"
        in (html_text)
    )
    assert "row 2</span> → <span" in html_text
    assert "2.5" in html_text
    assert "rgba(40,167,69" in html_text and "rgba(220,53,69" in html_text  # green, red


def test_paging_and_kind_filter_ask_the_rowdiff_for_one_page(diff, monkeypatch) -> None:
    view = RowDiffWidget(diff.tables[""], page_size=10)
    asked = []
    real = view.rowdiff.rows

    def spy(kind=None, offset=0, limit=50, **kw):
        asked.append((kind, offset, limit))
        return real(kind, offset, limit, **kw)

    monkeypatch.setattr(view.rowdiff, "rows", spy)
    assert view.page_count == 4  # 33 records
    view.next_button.click()
    assert asked[-1] == (None, 10, 10)
    assert view.page_label.value == "rows 11–20 of 33"
    view.kind_picker.value = "removed"
    assert view.page == 0 and asked[-1] == ("removed", 0, 10)
    assert row_classes(view.table.value) == ["nbm-row-removed"] * 2
    assert view.next_button.disabled
    view.kind_picker.value = "added"
    view.go_to(2)
    assert asked[-1] == ("added", 20, 10)
    assert row_classes(view.table.value) == ["nbm-row-added"] * 10
    assert view.kind_picker.options[0] == ("all (33)", "")


def test_values_and_names_are_escaped(diff) -> None:
    widget = DataDiffWidget(diff)
    view = widget.tables[""]
    view.kind_picker.value = "added"
    assert EVIL not in view.table.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in view.table.value
    bundle = widget._repr_mimebundle_()
    assert VIEW_MIME in bundle
    assert EVIL not in bundle["text/html"] and "nbm-datadiff" in bundle["text/html"]


def test_static_fallback_has_the_classed_rows_of_the_first_page(diff) -> None:
    widget = DataDiffWidget(diff, page_size=5)
    static = widget._repr_mimebundle_()["text/html"]
    assert row_classes(static) == row_classes(widget.tables[""].table.value)
    assert len(row_classes(static)) == 5
    assert "first 5 of 33 differing rows" in static
    assert "<b>30</b> rows added" in static
    assert widget._repr_mimebundle_()["text/plain"] == str(diff)


def test_a_diff_without_key_says_which_row(ws, project) -> None:
    rd = diff_tables(
        __import__("pandas").DataFrame({"a": [1, 2, 3]}),
        __import__("pandas").DataFrame({"a": [1, 3, 4]}),
    )
    view = RowDiffWidget(rd)
    assert "no key" in view.header.value
    assert "<td>old 1</td>" in view.table.value and "<td>new 2</td>" in view.table.value


def test_several_tables_get_a_tab_each_with_escaped_file_names(ws, project) -> None:
    folder = project / "tables"
    folder.mkdir()
    (folder / "a.csv").write_text("id,v\n1,1\n")
    (folder / f"{EVIL}.csv").write_text("id,v\n1,1\n")
    nm.snapshot("tables")
    (folder / "a.csv").write_text("id,v\n1,2\n")
    (folder / f"{EVIL}.csv").write_text("id,v\n1,3\n")
    (folder / "b.txt").write_text("new file")
    nm.snapshot("tables")
    widget = DataDiffWidget(nm.diff("tables", 1, 2, key="id"))
    tabs = [c for c in widget.children if isinstance(c, widgets.Tab)]
    assert len(tabs) == 1
    assert sorted(tabs[0].titles) == sorted(["a.csv", f"{EVIL}.csv"])  # titles are text
    assert EVIL not in widget.summary.value
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in widget.summary.value
    assert "class='nbm-file-added'" in widget.summary.value


def test_an_identical_diff(ws, project) -> None:
    (project / "same.csv").write_text("id\n1\n")
    nm.snapshot("same.csv")
    widget = DataDiffWidget(nm.diff("same.csv", 1, "workspace"))
    assert "identical" in widget.summary.value
    assert widget.tables == {}


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "null"), (float("nan"), "NaN"), ([1, "a"], '[1, "a"]'), ("x" * 100, "x" * 79 + "…")],
)
def test_cell_text(value, shown) -> None:
    assert cell_text(value) == shown


def test_the_widget_shows_the_html_the_static_view_is_made_of(diff) -> None:
    from nb_mlops.data.diffhtml import datadiff_html, header_html, rows_html, summary_html

    widget = DataDiffWidget(diff, page_size=5)
    view = widget.tables[""]
    assert widget.summary.value == summary_html(diff)
    assert view.header.value == header_html(view.rowdiff)
    assert view.table.value == rows_html(view.rowdiff, view.records())
    static = widget._repr_mimebundle_()["text/html"]
    note = (
        "<div style='opacity:.7'>first 5 of 33 differing rows "
        "(the widget pages through all of them)</div>"
    )
    assert static.replace(note, "") == datadiff_html(diff, 5, None)  # the same, plus a note
    assert diff.to_html() == datadiff_html(diff, 20)


def test_a_single_file_shows_its_rows_without_empty_cards_or_repeated_titles(diff) -> None:
    widget = DataDiffWidget(diff)
    titles = [c.value for c in widget.children if isinstance(c, widgets.HTML)]
    assert titles == [widget.summary.value]  # no second "reviews.csv" heading
    cards = re.findall(r"<b>([\d,]+)</b> ([^<]*)</span>", widget.summary.value)
    assert cards == [
        ("30", "rows added"),
        ("2", "rows removed"),
        ("1", "row changed"),
        ("1", "schema change"),
    ]
    static = widget._repr_mimebundle_()["text/html"]
    assert "<h5>" not in static and static.count("rows added") == 1
    assert "33 rows, 2 unchanged, 2 cells changed" in widget.tables[""].header.value
