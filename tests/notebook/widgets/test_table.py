"""TableWidget: paging, sorting by header, filtering (`visible`), the column order and picker,
colours fixed per row, selection, escaping, the bounded static form, speed."""

from __future__ import annotations

import math
import random
import re
import time

import pytest
from ipywidgets.widgets import widget as widget_module

from nb_mlops.notebook.widgets.chart import VIEW_MIME, run_color
from nb_mlops.notebook.widgets.table import TableWidget, runs_order

EVIL = "<img src=x onerror=alert(1)>"
COLUMNS = ["id", "name", "status", "score", "lr"]


def make_rows(n: int) -> list[dict]:
    return [
        {
            "id": f"r{i:03d}",
            "name": f"run-{i}",
            "status": "failed" if i % 7 == 0 else "finished",
            "score": None if i % 10 == 3 else float(i % 13),
            "lr": 10.0 ** -(i % 4),
        }
        for i in range(n)
    ]


def page_rows(table: TableWidget) -> list[str]:
    return table.page_ids


def grid_rows(table: TableWidget) -> list[str]:
    """The row ids of the grid's HTML, top to bottom."""
    return re.findall(r"role='row' data-id='([^']*)'", table.html.value)


def header_names(table: TableWidget) -> list[str]:
    """The header buttons' column names, left to right (without the sort arrow)."""
    return [b.description.rstrip(" ▲▼") for b in table.header.children]


def test_pages_only_the_current_rows() -> None:
    table = TableWidget(COLUMNS, make_rows(60), page_size=25, status_column="status")
    assert table.page_count == 3
    assert page_rows(table) == [f"r{i:03d}" for i in range(25)]
    assert len(grid_rows(table)) == 25
    assert table.page_label.value.startswith("rows 1–25 of 60")
    assert table.prev_button.disabled and not table.next_button.disabled
    table.next_button.click()
    assert table.page == 1
    assert page_rows(table)[0] == "r025"
    table.go_to(99)  # clamped
    assert table.page == 2
    assert len(page_rows(table)) == 10
    assert table.next_button.disabled
    assert table.page_label.value.startswith("rows 51–60 of 60")


def test_sort_by_a_column_both_ways_missing_values_last() -> None:
    table = TableWidget(COLUMNS, make_rows(30), page_size=50)
    table.sort_by.value = "score"
    ids = table.visible_ids
    scores = [table.rows[int(i[1:])]["score"] for i in ids]
    present = [s for s in scores if s is not None]
    assert present == sorted(present)
    assert scores[len(present) :] == [None] * (len(scores) - len(present))
    table.ascending.value = False
    scores = [table.rows[int(i[1:])]["score"] for i in table.visible_ids]
    present = [s for s in scores if s is not None]
    assert present == sorted(present, reverse=True)
    assert scores[-1] is None
    table.sort_by.value = ""  # back to the order given
    assert table.visible_ids == [f"r{i:03d}" for i in range(30)]


def test_sort_mixed_numbers_and_text_does_not_fail() -> None:
    rows = [{"id": "a", "v": "x"}, {"id": "b", "v": 2}, {"id": "c", "v": [1, 2]}, {"id": "d"}]
    table = TableWidget(["id", "v"], rows)
    table.sort_by.value = "v"
    assert table.visible_ids == ["b", "c", "a", "d"]


def test_filter_matches_any_cell_case_insensitively_and_resets_the_page() -> None:
    table = TableWidget(COLUMNS, make_rows(60), page_size=10, status_column="status")
    table.go_to(3)
    table.filter.value = "FAILED"
    assert table.page == 0
    assert table.visible_ids == [f"r{i:03d}" for i in range(60) if i % 7 == 0]
    assert "(filtered from 60)" in table.page_label.value
    table.filter.value = "run-5"
    assert set(table.visible_ids) == {"r005"} | {f"r{i:03d}" for i in range(50, 60)}
    table.filter.value = "nothing like this"
    assert table.visible_ids == [] and table.page_label.value.startswith("no rows")
    table.filter.value = ""
    assert len(table.visible_ids) == 60


def test_column_picker_hides_columns() -> None:
    table = TableWidget(COLUMNS, make_rows(5))
    assert table.shown_columns == ["name", "status", "score", "lr"]  # id is the checkbox label
    assert header_names(table) == ["name", "status", "score", "lr"]
    table.column_picker.value = ("name", "score")
    assert table.shown_columns == ["name", "score"]
    assert header_names(table) == ["name", "score"]
    assert ">0.1<" not in table.html.value  # the lr cells are gone


def test_the_column_picker_is_checkboxes_narrowed_by_a_search_box() -> None:
    columns = ["run_id", "name", "status"] + [f"params.p{i}" for i in range(8)] + ["metrics.acc"]
    rows = [{c: f"{c}-{i}" for c in columns} for i in range(3)]
    table = TableWidget(columns, rows, status_column="status")
    picker = table.column_picker
    assert not picker.boxes and not picker.children  # nothing sent until the picker is opened
    table.columns_button.value = True
    assert table._picker_slot.children == (picker,)
    assert [b.description for b in picker.list.children] == table.shown_columns
    assert all(b.value for b in picker.list.children)
    picker.search.value = "P3"
    assert [b.description for b in picker.list.children] == ["params.p3"]
    picker.list.children[0].value = False
    assert "params.p3" not in table.shown_columns and "params.p3" not in header_names(table)
    picker.search.value = "params."
    assert len(picker.list.children) == 8
    picker.none_button.click()  # hides the matching columns only
    assert table.shown_columns == ["name", "status", "metrics.acc"]
    assert picker.count.value == "3 of 11 shown"
    picker.search.value = ""
    assert len(picker.list.children) == 11
    assert [b.description for b in picker.list.children if b.value] == table.shown_columns
    picker.all_button.click()
    assert len(table.shown_columns) == 11
    assert len({id(b.layout) for b in picker.boxes.values()}) == 1  # one shared layout
    table.columns_button.value = False
    assert table._picker_slot.children == ()


def test_runs_columns_come_name_status_metrics_params_then_the_rest() -> None:
    given = ["run_id", "experiment", "start", "params.lr", "status", "metrics.acc", "name"]
    rows = [dict.fromkeys(given, "x")]
    table = TableWidget(given, rows, status_column="status", id_column="run_id")
    expected = ["name", "status", "metrics.acc", "params.lr", "experiment", "start"]
    assert table.shown_columns == expected
    assert header_names(table) == expected
    assert runs_order(["a", "b"], id_column="a", status_column=None) == ["a", "b"]
    kept = TableWidget(given, rows, id_column="run_id", order=list)
    assert kept.columns == given
    with pytest.raises(ValueError, match="each column once"):
        TableWidget(given, rows, order=lambda cols: cols[:2])


def test_clicking_a_header_sorts_and_clicking_again_reverses() -> None:
    table = TableWidget(COLUMNS, make_rows(30), page_size=50)
    score = next(b for b in table.header.children if b.description == "score")
    score.click()
    assert table.sort_by.value == "score" and table.ascending.value
    assert score.description == "score ▲" and "nbm-sorted" in score._dom_classes
    scores = [table.rows[int(i[1:])]["score"] for i in table.visible_ids]
    present = [s for s in scores if s is not None]
    assert present == sorted(present) and scores[-1] is None
    assert grid_rows(table) == table.visible_ids
    score.click()
    assert not table.ascending.value and score.description == "score ▼"
    scores = [table.rows[int(i[1:])]["score"] for i in table.visible_ids]
    assert [s for s in scores if s is not None] == sorted(present, reverse=True)
    name = next(b for b in table.header.children if b.description == "name")
    name.click()  # another column: ascending again, the arrow moves
    assert table.sort_by.value == "name" and table.ascending.value
    assert score.description == "score" and "nbm-sorted" not in score._dom_classes
    assert name.description == "name ▲"
    with pytest.raises(ValueError, match="no column 'nope'"):
        table.sort("nope")


def test_header_and_rows_share_the_column_widths() -> None:
    rows = make_rows(5)
    rows[2]["name"] = "a much longer run name than the others"
    table = TableWidget(COLUMNS, rows, status_column="status")
    widths = table.header.layout.grid_template_columns.split()
    assert len(widths) == len(table.shown_columns) == len(table.header.children)
    templates = set(re.findall(r"grid-template-columns:([^']*)'", table.html.value))
    assert templates == {" ".join(["18px", *widths])}  # the swatch column, then the same widths
    assert table.header.layout.padding == "0 0 0 18px"
    name_width, status_width = int(widths[0][:-2]), int(widths[1][:-2])
    assert name_width > status_width  # sized from the text


def test_each_row_keeps_its_colour_whatever_the_selection_or_sort() -> None:
    table = TableWidget(COLUMNS, make_rows(12), page_size=50)

    def swatches() -> dict[str, str]:
        found = re.findall(
            r"data-id='([^']*)'[^>]*><div class='nbm-cell nbm-swatch'[^>]*>"
            r"<span style='background:([^']*)'>",
            table.html.value,
        )
        return dict(found)

    first = swatches()
    assert first == {f"r{i:03d}": run_color(i) for i in range(12)}
    table.select(["r005", "r001"])
    table.sort("score")
    table.sort("score")
    assert swatches() == first
    assert table.color("r005") == run_color(5)
    table.filter.value = "run-1"
    assert swatches() == {k: v for k, v in first.items() if k in table.visible_ids}


def test_visible_holds_the_filtered_ids_in_sort_order() -> None:
    table = TableWidget(COLUMNS, make_rows(40), page_size=10)
    assert table.visible == [f"r{i:03d}" for i in range(40)]  # set from the start
    seen: list[list[str]] = []
    table.observe(lambda change: seen.append(change["new"]), "visible")
    table.filter.value = "failed"
    assert seen[-1] == [f"r{i:03d}" for i in range(40) if i % 7 == 0]  # every page, not one
    table.sort("name")
    table.sort("name")
    assert seen[-1] == sorted(seen[-2], key=lambda i: f"run-{int(i[1:])}", reverse=True)
    table.set_rows(make_rows(3))
    assert table.visible == ["r000"]


def test_few_widgets_however_many_rows_and_columns() -> None:
    columns = ["run_id", "name", "status"] + [f"params.p{i}" for i in range(40)]
    rows = [{c: f"{c}{i}" for c in columns} for i in range(1000)]
    before = len(widget_module._instances)
    TableWidget(columns, rows, status_column="status")
    made = len(widget_module._instances) - before
    # 25 row checkboxes + 43 header buttons + a few controls; no widget per cell or picker box
    assert made < 25 + 43 + 50, made


def test_checkboxes_select_rows_by_id() -> None:
    table = TableWidget(COLUMNS, make_rows(30), page_size=10)
    boxes = table._check_box.children[1:]
    assert [b.description for b in boxes] == table.page_ids
    assert all("nbm-select" in b._dom_classes for b in boxes)
    seen = []
    table.observe(lambda change: seen.append(change["new"]), "selected")
    boxes[2].value = True
    boxes[0].value = True
    assert table.selected == ["r002", "r000"]  # pick order
    assert seen[-1] == ["r002", "r000"]
    assert "<div class='nbm-row nbm-selected' role='row' data-id='r002'" in table.html.value
    table.next_button.click()  # the boxes are relabelled for the new page
    assert [b.description for b in table._check_box.children[1:]] == table.page_ids
    assert not any(b.value for b in table._check_box.children[1:])
    table.prev_button.click()
    assert table._check_box.children[3].value and table._check_box.children[1].value
    boxes[2].value = False
    assert table.selected == ["r000"]
    table.select(["r005", "nope", "r005"])
    assert table.selected == ["r005"]
    table.clear_button.click()
    assert table.selected == []
    assert "0 selected" in table.page_label.value


def test_status_cells_are_colored() -> None:
    table = TableWidget(COLUMNS, make_rows(8), status_column="status")
    assert "nbm-status-failed" in table.html.value
    assert "color:#d62728" in table.html.value


def test_every_cell_is_escaped() -> None:
    rows = [{"id": "x1", "name": EVIL, "status": EVIL, "score": 1.0, "lr": EVIL}]
    table = TableWidget(COLUMNS, rows, status_column="status")
    table.filter.value = "onerror"
    assert table.visible_ids == ["x1"]
    assert EVIL not in table.html.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in table.html.value
    bundle = table._repr_mimebundle_()
    assert EVIL not in bundle["text/html"]


def test_mimebundle_has_the_widget_and_a_static_table() -> None:
    table = TableWidget(COLUMNS, make_rows(3), status_column="status")
    table.select(["r001"])
    bundle = table._repr_mimebundle_()
    assert bundle[VIEW_MIME]["model_id"] == table.model_id
    page = bundle["text/html"]
    assert "<table class='nbm-table nbm-static-table nbm-runs-table'>" in page
    assert "r002" in page and "more run" not in page
    assert "<tr><td>✓</td><td>r001</td>" in page  # the selection is a mark, not a colour
    assert bundle["text/plain"] == "<table of 3 rows × 5 columns>"


@pytest.mark.parametrize(("count", "note"), [(250, "150 more runs "), (101, "1 more run ")])
def test_the_static_table_is_bounded_to_a_hundred_rows(count: int, note: str) -> None:
    table = TableWidget(COLUMNS, make_rows(count), status_column="status")
    table.sort("name")
    page = table._repr_mimebundle_()["text/html"]
    assert page.count("<tr>") == 100 + 1  # the header row and 100 rows
    first = re.findall(r"<tr><td></td><td>(r\d+)</td>", page)
    assert first == table.visible_ids[:100]  # in the table's current order
    assert f"{note}— <code>nm.runs()</code> has them all" in page


def test_the_grid_uses_the_themes_colours() -> None:
    table = TableWidget(COLUMNS, make_rows(3), status_column="status")
    table.select(["r001"])
    page = table.html.value
    for var in ("--jp-ui-font-color1", "--jp-border-color2"):
        assert f"var({var}," in page  # with a fallback after the comma
    # selected rows are a translucent tint: the theme's text stays readable on it, light or dark
    assert ".nbm-row.nbm-selected{background:rgba(" in page
    assert not re.search(r"(background|color):\s*(#fff|white|#000|black)\b", page)


def test_set_rows_keeps_the_selection_still_present() -> None:
    table = TableWidget(COLUMNS, make_rows(10))
    table.select(["r001", "r009"])
    table.set_rows(make_rows(5))
    assert table.selected == ["r001"]
    assert len(table.visible_ids) == 5


def test_builds_a_thousand_rows_by_thirty_columns_fast() -> None:
    rng = random.Random(0)
    columns = ["run_id", "name", "status"] + [f"params.p{i}" for i in range(27)]
    rows = [
        {
            "run_id": f"run{i:05d}",
            "name": f"{EVIL}-{i}",
            "status": rng.choice(["finished", "failed"]),
            **{f"params.p{j}": rng.random() for j in range(27)},
        }
        for i in range(1000)
    ]
    t0 = time.perf_counter()
    table = TableWidget(columns, rows, status_column="status")
    built = time.perf_counter() - t0
    assert built < 0.5, f"building took {built:.3f} s"
    assert len(grid_rows(table)) == 25
    t0 = time.perf_counter()
    table.sort_by.value = "params.p3"
    table.filter.value = "run00"
    assert time.perf_counter() - t0 < 0.2
    assert table.page_count == math.ceil(len(table.visible_ids) / 25)


@pytest.mark.parametrize("bad", [[], ()])
def test_needs_columns(bad: list) -> None:
    with pytest.raises(ValueError, match="at least one column"):
        TableWidget(bad, [])


def test_track_runs_shows_name_status_metrics_params_then_the_rest(ws) -> None:
    import nb_mlops as nm
    from nb_mlops import api
    from nb_mlops.notebook.widgets.render import widget_for

    for i in range(3):
        with nm.start_run(f"run-{i}", params={"lr": 0.1 * i, "depth": i}) as run:
            run.log_metric("acc", i / 10)
    table = widget_for(api.run_table()).table
    assert table.shown_columns[:6] == [
        "name",
        "status",
        "metrics.acc",
        "params.depth",
        "params.lr",
        "experiment",
    ]
    assert header_names(table) == table.shown_columns
    ids = [d["run_id"] for d in api.run_table().runs]
    table.select([ids[2], ids[0]])
    table.sort("name")
    assert [table.color(i) for i in ids] == [run_color(n) for n in range(3)]
