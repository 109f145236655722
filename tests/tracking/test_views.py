"""Run result objects: JSON-able dicts, text, and HTML that escapes every user string."""

from __future__ import annotations

import json
import math
import re
import time

import pytest
from conftest import sanitized

import nb_mlops as nm
from nb_mlops import api
from nb_mlops.clock import local_time
from nb_mlops.store.workspace import Workspace
from nb_mlops.text import fmt_duration, fmt_value, human_duration, text_table
from nb_mlops.tracking.views import RunDetail, RunTable

EVIL_NAME = "<img src=x onerror=alert(1)>"


def two_runs() -> tuple[str, str]:
    with nm.start_run("alpha-run", tags={"team": "nlp"}) as a:
        nm.log_params({"model": "rf", "layers": [64, 32]})
        nm.log_metric("accuracy", 0.8125)
    with nm.start_run("beta-run") as b:
        nm.log_params({"model": "gbm"})
        nm.log_metric("accuracy", 0.9375)
        nm.log_metric("loss", 0.25)
    return a.run_id, b.run_id


def test_run_table_to_dict_is_json_and_complete(ws: Workspace) -> None:
    a, _ = two_runs()
    table = api.run_table("params.model = 'rf'")
    d = json.loads(json.dumps(table.to_dict()))
    assert d["filter"] == "params.model = 'rf'"
    assert d["count"] == 1
    (row,) = d["runs"]
    assert row["run_id"] == a and row["name"] == "alpha-run"
    assert row["params"] == {"model": "rf", "layers": [64, 32]}
    assert row["metrics"] == {"accuracy": 0.8125}
    assert row["tags"] == {"team": "nlp"}
    assert row["status"] == "finished" and row["end"] and row["duration"] >= 0
    full = api.run_table(with_size=True).to_dict()
    assert full["count"] == 2 and full["filter"] is None
    assert full["store"]["bytes"] > 0


def test_run_table_text_shows_names_and_values(ws: Workspace) -> None:
    a, b = two_runs()
    text = str(api.run_table())
    assert "alpha-run" in text and "beta-run" in text
    assert a in text and b in text
    assert "0.8125" in text and "0.9375" in text and "0.25" in text
    assert "metrics.accuracy" in text and "params.model" in text
    assert "[64,32]" in text
    assert "2 runs" in text
    assert text.index("beta-run") < text.index("alpha-run")  # newest first
    assert repr(api.run_table()) == str(api.run_table())


def test_run_table_empty_and_filtered_text(ws: Workspace) -> None:
    assert "no runs" in str(api.run_table())
    two_runs()
    text = str(api.run_table("metrics.accuracy > 0.99"))
    assert "no runs match metrics.accuracy > 0.99" in text


def test_run_table_html_escapes_user_strings(ws: Workspace) -> None:
    with nm.start_run(EVIL_NAME, experiment="<b>exp</b>", tags={"<i>t": "<u>v"}):
        nm.log_params({"snippet": "<script>", "<svg onload=x>": 1})
        nm.log_metric("acc", 0.5)
    html = api.run_table("name LIKE '%img%'")._repr_html_()
    assert "<img" not in html
    assert "<script>" not in html
    assert "<svg" not in html and "<b>exp" not in html and "<u>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;" in html
    assert "<table" in html and "0.5" in html
    assert "name LIKE &#x27;%img%&#x27;" in html


def test_run_detail_to_dict_text_and_html(ws: Workspace) -> None:
    with nm.start_run(EVIL_NAME, seed=3) as run:
        nm.log_params({"payload": "<script>", "lr": 0.1})
        nm.log_metric("loss", 0.75)
        nm.log_metric("loss", 0.5)
        nm.set_tag("note", "</td><script>alert(2)</script>")
    detail = nm.get_run(run.run_id)
    assert isinstance(detail, RunDetail)
    d = json.loads(json.dumps(detail.to_dict()))
    assert d["run_id"] == run.run_id
    assert d["params"]["payload"] == "<script>"
    text = str(detail)
    assert EVIL_NAME in text  # text is not HTML: shown as is
    assert "0.5  (2 points)" in text
    assert "seed.random" in text
    html = detail._repr_html_()
    assert "<img" not in html and "<script>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;" in html
    assert "&lt;/td&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "nbm-status-finished" in html


def test_failed_run_detail_shows_the_traceback(ws: Workspace) -> None:
    def fit() -> None:
        raise ValueError("bad <shape> (3, 4)")

    with pytest.raises(ValueError), nm.start_run("crashy") as run:
        fit()
    detail = nm.get_run("crashy")
    text = str(detail)
    assert "failed" in text
    assert "Traceback:" in text
    assert "in fit" in text
    assert "ValueError: bad <shape> (3, 4)" in text
    html = detail._repr_html_()
    assert "<h4>Traceback</h4>" in html
    assert "ValueError: bad &lt;shape&gt; (3, 4)" in html
    assert "<shape>" not in html
    d = json.loads(json.dumps(detail.to_dict()))
    assert d["error"]["type"] == "ValueError"
    assert run.run_id in str(api.run_table("status = 'failed'"))


def test_run_detail_lists_children_and_artifacts(ws: Workspace, project) -> None:
    (project / "w.bin").write_bytes(b"12345")
    with nm.start_run("parent-run") as parent:
        nm.log_artifact(project / "w.bin")
        with nm.start_run("kid") as kid:
            pass
    text = str(nm.get_run(parent.run_id))
    (children,) = [line for line in text.splitlines() if line.strip().startswith("children")]
    assert children.split()[-1] == kid.run_id
    assert "w.bin" in text and "5 B" in text
    kid_text = str(nm.get_run("kid"))
    (parent_line,) = [ln for ln in kid_text.splitlines() if ln.strip().startswith("parent ")]
    assert parent_line.split()[-1] == parent.run_id


def test_nonfinite_flags_show_in_detail(ws: Workspace) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with nm.start_run("nanrun"):
            nm.log_metric("loss", math.nan)
    text = str(nm.get_run("nanrun"))
    assert "Flags:" in text and "non-finite" in text
    assert "nan" in str(api.run_table())


def test_direct_construction_of_result_objects() -> None:
    doc = {
        "run_id": "r1",
        "name": "n",
        "status": "weird",
        "start": "2026-01-02T03:04:05.000000+00:00",
        "duration": 150.0,
        "params": {"p": None},
        "metrics": {"m": 1234567.891},
    }
    table = RunTable([doc])
    assert "1.23457e+06" in str(table)
    assert "2.5 min" in str(table)
    assert "2026-01-02 03:04:05" in str(table)
    assert "#7f7f7f" in table._repr_html_()  # an unknown status gets the neutral colour
    detail = RunDetail(doc)
    assert "r1" in str(detail) and detail._repr_html_().startswith('<div class="nbm-run">')


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, ""),
        (0.1 + 0.2, "0.3"),
        (math.nan, "nan"),
        (math.inf, "inf"),
        (3, "3"),
        ([1, "a"], '[1,"a"]'),
        ({"k": "값"}, '{"k":"값"}'),
        ("text", "text"),
    ],
)
def test_fmt_value(value, shown: str) -> None:
    assert fmt_value(value) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, ""),
        (math.nan, ""),
        (0.25, "250 ms"),
        (5.0, "5.0 s"),
        (600, "10.0 min"),
        (7200, "2.0 h"),
    ],
)
def test_fmt_duration(seconds, shown: str) -> None:
    assert fmt_duration(seconds) == shown


def test_text_table_aligns_and_cuts() -> None:
    out = text_table(["a", "bb"], [["x" * 50, "y\nz"]], max_width=10).splitlines()
    assert out[0].startswith("a")
    assert set(out[1].replace(" ", "")) == {"-"}
    assert out[2].startswith("x" * 9 + "…")
    assert out[2].endswith("y z")


def test_run_detail_html_is_its_sections_one_under_another(ws: Workspace) -> None:
    with nm.start_run("sections") as run:
        nm.log_param("lr", 0.1)
        for i in range(3):
            nm.log_metric("loss", 1 / (i + 1))
    detail = nm.get_run(run.run_id)
    assert detail.sections() == ["overview", "metrics", "artifacts", "data", "cells", "environment"]
    page = detail.to_html()
    assert page.startswith('<div class="nbm-run">' + RunDetail.STYLE)
    for name in detail.sections():
        assert f"<h4>{name.capitalize()}</h4>{detail.section_html(name)}" in page
    assert "no artifacts" in detail.section_html("artifacts")
    assert "3 points" in detail.section_html("metrics")
    steps, values = detail.metric_series()["loss"]
    assert list(steps) == [0, 1, 2] and values[-1] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="no section 'plots'"):
        detail.section_html("plots")


# ------------------------------------------------------------------- static forms, times, env
def fake_runs(n: int) -> list[dict]:
    return [
        {
            "run_id": f"r{i:04d}",
            "name": f"run-{i}",
            "experiment": "exp",
            "status": "failed" if i % 2 else "finished",
            "start": "2026-12-05T08:14:03+00:00",
            "duration": 72.0,
            "params": {"lr": 0.1},
            "metrics": {"acc": i / 1000},
        }
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("count", "note"), [(100, None), (101, "1 more run "), (1000, "900 more runs ")]
)
def test_run_table_html_is_bounded_to_a_hundred_rows(count: int, note: str | None) -> None:
    page = RunTable(fake_runs(count)).to_html()
    assert page.count("<tr>") == min(count, 100) + 1  # the header row, then the runs
    assert "r0099" in page and "r0100" not in page
    if note is None:
        assert "more run" not in page
    else:
        assert f"{note}— <code>nm.runs()</code> has them all" in page
    assert len(RunTable(fake_runs(1000)).to_html()) < 60_000


def test_run_table_html_columns_and_plain_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        page = RunTable(fake_runs(3)).to_html()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    head = re.findall(r"<th>([^<]*)</th>", page)
    expected = ["run_id", "name", "status", "metrics.acc", "params.lr"]
    assert head == [*expected, "experiment", "start", "duration"]
    text = sanitized(page)
    assert "r0001 run-1 failed 0.001 0.1 exp 2026-12-05 09:14:03 CET 1 min 12 s" in text
    assert "var(--jp-ui-font-color1," in page and "var(--jp-border-color2," in page


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, ""),
        (math.nan, ""),
        (0.25, "250 ms"),
        (4.25, "4.2 s"),
        (42.4, "42 s"),
        (60, "1 min"),
        (72, "1 min 12 s"),
        (3600 * 2 + 300, "2 h 5 min"),
        (86400 * 3 + 3600 * 4 + 5, "3 d 4 h"),
    ],
)
def test_human_duration(seconds, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_local_time_is_in_the_users_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Seoul")
    time.tzset()
    try:
        assert local_time("2026-12-05T09:14:03.123456+00:00") == "2026-12-05 18:14:03 KST"
        assert local_time("2026-12-05T09:14:03") == "2026-12-05 18:14:03 KST"  # stored as UTC
        assert local_time(None) == "" and local_time("soon") == "soon"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_run_detail_shows_local_times_final_metrics_and_packages(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    with nm.start_run("detailed") as run:
        nm.log_param("lr", 0.1)
        nm.log_metric("loss", 0.9)
        nm.log_metric("loss", 0.4)
        nm.log_metric("acc", 0.75)
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        detail = nm.get_run(run.run_id)
        overview = detail.section_html("overview")
        text = str(detail)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    start = detail.doc["start"]
    assert local_time(start).endswith(" CET") or local_time(start).endswith(" UTC")
    plain = sanitized(overview)
    assert re.search(r"start \d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T", plain), plain
    assert re.search(r"start +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T", text), text
    assert "Final metrics acc 0.75 loss 0.4" in plain  # the last values, in the overview
    assert re.search(r"acc +0.75  \(1 point\)", text) and "loss  0.4  (2 points)" in text
    assert "<td>1 point</td>" in detail.section_html("metrics")
    assert "Params lr 0.1" in plain
    env = detail.section_html("environment")
    packages = detail.packages()
    assert "pytest" in packages and "numpy" in packages
    assert list(packages) == sorted(packages, key=str.lower)
    assert f"{len(packages):,} packages installed" in env
    assert f"<tr><td>pytest</td><td>{packages['pytest']}</td></tr>" in env
    assert "packages (object)" not in env
    assert detail.doc["env"]["packages"] not in env  # the hash is not what is shown


def test_run_detail_without_a_store_says_the_packages_are_not_readable() -> None:
    doc = {"run_id": "r1", "status": "finished", "env": {"packages": "0" * 32}}
    env = RunDetail(doc).section_html("environment")
    assert "packages not readable from this store" in env
    assert "packages not recorded" in RunDetail({"run_id": "r2"}).section_html("environment")


def test_run_detail_whose_environment_object_is_gone(ws: Workspace) -> None:
    with nm.start_run("envless") as run:
        pass
    doc = dict(nm.get_run(run.run_id).doc)
    doc["env"] = {**doc["env"], "packages": "f" * 32}  # an object no store holds
    env = RunDetail(doc, ws=ws).section_html("environment")
    assert "packages not readable from this store" in env


def test_a_page_of_a_run_table_is_that_slice_of_it(ws) -> None:
    for i in range(6):
        with nm.start_run(f"r{i}") as run:
            run.log_metric("acc", i / 10)
    table = api.run_table("metrics.acc > 0.05")
    names = [r["name"] for r in table.to_dict()["runs"]]
    assert names == ["r5", "r4", "r3", "r2", "r1"]
    page = table.page(1, 3).to_dict()
    assert [r["name"] for r in page["runs"]] == names[1:4]
    assert page["filter"] == "metrics.acc > 0.05" and page["count"] == 3
    assert table.page(4, 10).to_dict()["runs"][0]["metrics"] == {"acc": 0.1}
    assert table.page(9, 10).to_dict()["runs"] == []
