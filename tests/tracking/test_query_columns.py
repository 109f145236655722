"""Runs selected from the store's columns are the runs, in the order, that evaluating the filter
on every run document gives, and their frame is the documents' frame: with and without a
checkpoint, with running, deleted and oddly typed runs in the store."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

import nb_mlops as nm
from nb_mlops import api
from nb_mlops.tracking.filter import compile_filter
from nb_mlops.tracking.order import parse_order_by, sort_runs
from nb_mlops.tracking.query import RunRows, live_metrics, runs_frame, select_rows

pytestmark = pytest.mark.filterwarnings("ignore::nb_mlops.tracking.run.NonFiniteMetricWarning")

FILTERS = [
    None,
    "metrics.acc > 0.5",
    "metrics.acc <= 0.25 AND params.model = 'rf'",
    "metrics.acc != 0.5",
    "metrics.loss IS NULL",
    "metrics.loss IS NOT NULL OR params.depth > 3",
    "params.depth = '4'",
    "params.depth IN (3, 4, '5')",
    "params.depth NOT IN (3)",
    "params.flag = true",
    "params.model LIKE 'r%'",
    "params.model ILIKE 'G%'",
    "params.odd = '[1, 2]'",
    "tags.team = 'nlp'",
    "tags.mlflow.runName LIKE 'sweep-1%'",
    "status = 'FINISHED'",
    "status != 'failed'",
    "attributes.name = 'sweep-3'",
    "start_time > 0",
    "run_name LIKE '%-2'",
    "metrics.acc > 0.3 AND (params.model = 'gbm' OR tags.team = 'cv')",
    "metrics.nope > 1",
]


def _fill(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    ids = []
    for i in range(n):
        params = {"model": rng.choice(["rf", "gbm", "RF"]), "depth": rng.choice([3, 4, "5"])}
        if i % 4 == 0:
            params["flag"] = rng.choice([True, False, "true"])
        if i % 9 == 0:
            params["odd"] = [1, 2]
        with nm.start_run(f"sweep-{i % 5}", params=params, system_metrics=False) as run:
            if i % 6:
                run.log_metric("acc", rng.choice([0.5, rng.random(), float("nan"), 1]))
            if i % 7 == 0:
                run.log_metric("loss", rng.random())
            if i % 3 == 0:
                run.set_tag("team", rng.choice(["nlp", "cv"]))
        ids.append(run.run_id)
    return ids


def _reference(ws, filter, order_by=None):
    """The documents' answer: the filter evaluated on every run document (a running run with
    the metrics it logged so far), then sorted."""
    pred = compile_filter(filter, runs_uri=ws.runs_dir.absolute().as_uri())
    docs = [
        {**d, "metrics": live_metrics(ws, d)} if d["status"] == "running" else d
        for d in ws.catalog.docs("runs").values()
    ]
    docs = [d for d in docs if pred(d)]
    clauses = parse_order_by(order_by)
    if clauses:
        return sort_runs(docs, clauses, runs_uri=ws.runs_dir.absolute().as_uri())
    docs.sort(key=lambda d: d["run_id"])  # no clause: start to the microsecond, then run id
    docs.sort(key=lambda d: d.get("start") or "", reverse=True)
    return docs


@pytest.fixture
def store(tmp_path: Path) -> Path:
    home = tmp_path / ".nbmlops"
    nm.init(home)
    ids = _fill(120)
    nm.delete_run(ids[5])
    return home


@pytest.mark.parametrize("checkpointed", [False, True])
def test_columns_answer_as_the_documents_do(store: Path, checkpointed: bool) -> None:
    ws = api.workspace()
    if checkpointed:
        assert ws.catalog.write_checkpoint()
        from nb_mlops.store.workspace import forget_open_workspaces

        forget_open_workspaces()
        nm.init(store)  # a fresh Workspace: its catalog opens from the checkpoint
        ws = api.workspace()
        nm.start_run("still-running", params={"model": "rf"}, system_metrics=False)
        nm.log_metric("acc", 0.75)
        assert ws.catalog.journal.base is not None
    try:
        for filter in FILTERS:
            for order_by in (None, ["metrics.acc DESC"], ["params.model", "name DESC"]):
                rows = select_rows(ws, filter, order_by)
                want = _reference(ws, filter, order_by)
                got = list(rows)
                assert [d["run_id"] for d in got] == [d["run_id"] for d in want], filter
                frame = runs_frame(rows)
                pd.testing.assert_frame_equal(frame, runs_frame(got), check_like=False)
                assert [s["run_id"] for s in rows.summaries()] == [d["run_id"] for d in got]
                for s, d in zip(rows.summaries(), got, strict=True):
                    for key in ("name", "status", "start", "params", "tags", "experiment"):
                        assert s.get(key) == d.get(key)
        limited = select_rows(ws, "metrics.acc > 0.1", None, 3)
        assert len(limited) == 3 and isinstance(limited, RunRows)
    finally:
        if checkpointed:
            nm.end_run()


def test_a_running_run_is_filtered_and_framed_with_its_live_metrics(store: Path) -> None:
    ws = api.workspace()
    with nm.start_run("live", system_metrics=False) as run:
        run.log_metric("acc", 0.999)
        rows = select_rows(ws, "metrics.acc > 0.99")
        assert run.run_id in [d["run_id"] for d in rows]
        frame = runs_frame(rows)
        assert frame.loc[frame.run_id == run.run_id, "metrics.acc"].item() == 0.999


def test_the_frame_of_every_run_is_kept_until_the_store_changes(store: Path) -> None:
    """A second nm.runs() with nothing changed reuses the columns it built; a change (a new run,
    a deleted one) is in the next frame; and changing a returned frame changes no later one."""
    first = nm.runs()
    first.loc[0, "name"] = "changed by the caller"
    again = nm.runs()
    assert again.loc[0, "name"] != "changed by the caller"
    pd.testing.assert_frame_equal(again, runs_frame(list(select_rows(api.workspace()))))
    with nm.start_run("newest", params={"model": "new"}, system_metrics=False):
        pass
    after = nm.runs()
    assert len(after) == len(again) + 1 and after.loc[0, "name"] == "newest"
    nm.delete_run(after.loc[1, "run_id"])
    assert after.loc[1, "run_id"] not in set(nm.runs().run_id)
    pd.testing.assert_frame_equal(nm.runs(), runs_frame(list(select_rows(api.workspace()))))
