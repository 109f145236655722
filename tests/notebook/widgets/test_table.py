"""TableWidget: paging, sorting, filtering, the column picker, selection, escaping, speed."""

from __future__ import annotations

import math
import random
import time

import pytest

from nb_mlops.notebook.widgets.render import WIDGET_VIEW
from nb_mlops.notebook.widgets.table import TableWidget

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


def test_pages_only_the_current_rows() -> None:
    table = TableWidget(COLUMNS, make_rows(60), page_size=25, status_column="status")
    assert table.page_count == 3
    assert page_rows(table) == [f"r{i:03d}" for i in range(25)]
    assert table.html.value.count("<tr data-id=") == 25
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
    assert table.ascending.description == "descending"
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
    assert "<th>lr</th>" in table.html.value
    table.column_picker.value = ("name", "score")
    assert table.shown_columns == ["name", "score"]
    assert "<th>lr</th>" not in table.html.value and "<th>score</th>" in table.html.value


def test_without_selection_the_id_is_a_table_column() -> None:
    table = TableWidget(COLUMNS, make_rows(5), selectable=False)
    assert "<th>id</th>" in table.html.value
    assert not table._checks


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
    assert "<tr data-id='r002' class='nbm-selected'" in table.html.value
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
    bundle = table._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == table.model_id
    assert "<table class='nbm-table nbm-runs-table'>" in bundle["text/html"]
    assert "r002" in bundle["text/html"]
    assert bundle["text/plain"] == "<table of 3 rows × 5 columns>"


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
    assert table.html.value.count("<tr data-id=") == 25
    t0 = time.perf_counter()
    table.sort_by.value = "params.p3"
    table.filter.value = "run00"
    assert time.perf_counter() - t0 < 0.2
    assert table.page_count == math.ceil(len(table.visible_ids) / 25)


@pytest.mark.parametrize("bad", [[], ()])
def test_needs_columns(bad: list) -> None:
    with pytest.raises(ValueError, match="at least one column"):
        TableWidget(bad, [])
