"""Filters and ordering against the real MLflow: the same runs in both stores, the same searches.

MLflow runs in its own venv (`.venv-mlflow`, made by `./dev setup`) as one subprocess
(tests/tracking/mlflow_peer.py) that logs the runs to a temporary SQLite store and answers every
search at once. Our side logs the same runs with nm.start_run (a crashed run from a process that
dies, an interrupted one, a failed one, one still running, child runs, data versions read) and
answers the same searches. For each filter string of tests/tracking/mlflow_filters.py both must
find the same runs, or both refuse it; the strings the table marks as intended differences must
differ, each for a reason that docs/filter.md lists under "Differences from MLflow".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from conftest import run_env
from tracking.mlflow_filters import AGREE, INTENDED, ORDERS, REASONS, REFUSED

import nb_mlops as nm
from nb_mlops import api
from nb_mlops.errors import FilterSyntaxError
from nb_mlops.store.workspace import forget_open_workspaces, open_workspace
from nb_mlops.tracking.fields import MLFLOW_STATUS, epoch_ms
from nb_mlops.tracking.order import OrderByError
from nb_mlops.tracking.query import all_runs, select_runs

REPO = Path(__file__).resolve().parents[2]
MLFLOW_VENV = Path(os.environ.get("NB_MLOPS_TEST_MLFLOW_VENV", REPO / ".venv-mlflow"))
MLFLOW_PYTHON = MLFLOW_VENV / "bin" / "python"
PEER = Path(__file__).with_name("mlflow_peer.py")
DOCS = REPO / "docs" / "filter.md"

pytestmark = pytest.mark.slow

# ------------------------------------------------------------------------------------- the runs
# key: name, experiment, user, params, metrics {name: [(value, step), ...]}, tags, data, how
# it ends (finished, failed, interrupted), children. Names have spaces, quotes, Korean, % and _.
RUNS: list[dict[str, Any]] = [
    {
        "key": "r01",
        "name": "rf baseline",
        "user": "kim",
        "params": {"model": "rf", "n_estimators": 100, "lr": 0.1, "depth": 8},
        "metrics": {"accuracy": [(0.5, 0), (0.81, 1)], "loss": [(0.4, 0)], "f1 score": [(0.78, 0)]},
        "tags": {"team": "nlp", "owner": "kim"},
        "data": ["data/train.csv"],
        "source": "train.py",
    },
    {
        "key": "r02",
        "name": "rf deep",
        "user": "lee",
        "params": {"model": "rf", "n_estimators": 1000, "lr": 0.01, "depth": 16},
        "metrics": {"accuracy": [(0.93, 0)], "loss": [(0.2, 0)]},
        "tags": {"team": "vision"},
        "data": ["data/train.csv@2", "data/test.csv"],
        "source": "train.py",
    },
    {
        "key": "r03",
        "name": "gbm-1",
        "user": "kim",
        "params": {"model": "gbm", "n_estimators": 200, "lr": 0.05},
        "metrics": {"accuracy": [(0.88, 0)], "loss": [(float("nan"), 0)]},
        "tags": {"team": "NLP"},
        "data": ["data/test.csv"],
    },
    {
        "key": "r04",
        "name": "logreg",
        "user": "park",
        "params": {"model": "LogisticRegression", "C": "1e-3", "max_iter": 50},
        "metrics": {"accuracy": [(0.8, 0)], "f1 score": [(0.75, 0)]},
        "end": "failed",
    },
    {"key": "r05", "name": "o'clock", "user": "lee", "end": "failed"},
    {
        "key": "r06",
        "name": 'say "hi"',
        "user": "kim",
        "params": {"note": 'say "hi"'},
        "metrics": {"accuracy": [(0.5, 0)]},
        "tags": {"quote": "it's"},
    },
    {
        "key": "r07",
        "name": "실험 1",
        "user": "김",
        "params": {"model": "랜덤포레스트", "학습률": 0.1},
        "metrics": {"정확도": [(0.9, 0)], "accuracy": [(0.9, 0)]},
        "tags": {"팀": "비전"},
    },
    {
        "key": "r08",
        "name": "50%_sample",
        "user": "park",
        "params": {"sample": "50%", "frac": 0.5},
        "metrics": {"accuracy": [(0.7, 0)]},
        "tags": {"note": "50% sample"},
    },
    {
        "key": "r09",
        "name": "svm_v2",
        "user": "lee",
        "params": {"model": "svm", "kernel": "rbf", "C": 1.0},
        "metrics": {"val-loss": [(1.5, 0)], "train/acc": [(0.5, 0)]},
        "end": "interrupted",
    },
    {
        "key": "r10",
        "name": "mlp",
        "user": "kim",
        "params": {"model": "mlp", "layers": [64, 32], "lr": 0.001, "early_stop": True},
        "metrics": {
            "accuracy": [(0.91, 0)],
            "delta": [(-1.5, 0)],
            "big": [(2e5, 0)],
            "loss": [(float("inf"), 0)],
        },
        "tags": {"team": "vision", "owner": "kim", "release.channel": "beta"},
    },
    {
        "key": "r11",
        "name": "mlp small",
        "user": "park",
        "params": {"model": "mlp", "layers": [8], "early_stop": False},
        "metrics": {"accuracy": [(0.6, 0)], "loss": [(float("-inf"), 0)]},
        "tags": {"release.channel": "stable"},
    },
    {
        "key": "r12",
        "name": "knn",
        "user": "lee",
        "params": {"model": "knn", "n_neighbors": 5, "weights": ""},
        "metrics": {"accuracy": [(0.72, 0)]},
        "tags": {"empty": ""},
        "data": ["data/images"],
    },
    {
        "key": "r13",
        "name": "rf baseline 2",
        "user": "kim",
        "params": {"model": "rf", "n_estimators": 100, "lr": 0.1},
        "metrics": {"accuracy": [(0.81, 0)]},
        "tags": {"team": "nlp"},
        "data": ["data/train.csv@2"],
    },
    {
        "key": "r16",
        "name": "sweep",
        "experiment": "sweeps",
        "user": "kim",
        "params": {"grid": "lr"},
        "metrics": {"best": [(0.87, 0)]},
        "tags": {"kind": "sweep"},
        "children": [
            {
                "key": "r17",
                "name": "sweep lr=0.1",
                "params": {"lr": 0.1},
                "metrics": {"accuracy": [(0.85, 0)]},
            },
            {
                "key": "r18",
                "name": "sweep lr=0.01",
                "params": {"lr": 0.01},
                "metrics": {"accuracy": [(0.87, 0)]},
                "data": ["data/train.csv@2"],
            },
            {
                "key": "r19",
                "name": "sweep lr=0.001",
                "params": {"lr": 0.001},
                "metrics": {"accuracy": [(0.83, 0)]},
                "end": "failed",
            },
        ],
    },
    {
        "key": "r20",
        "name": "한글 이름",
        "experiment": "실험",
        "user": "김",
        "params": {"model": "랜덤포레스트"},
        "metrics": {"accuracy": [(0.77, 0)]},
        "tags": {"설명": "첫 번째 실험"},
        "data": ["data/한글 데이터.csv"],
    },
    {
        "key": "r21",
        "name": "UPPER",
        "experiment": "실험",
        "user": "park",
        "params": {"model": "RF", "MODEL": "upper"},
        "metrics": {"ACCURACY": [(0.99, 0)], "accuracy": [(0.4, 0)]},
        "tags": {"Team": "NLP", "team": "Nlp"},
    },
    {
        "key": "r22",
        "name": "neg",
        "user": "lee",
        "params": {"n_estimators": 50},
        "metrics": {"delta": [(-3.0, 0)], "accuracy": [(0.0, 0)]},
    },
    {
        "key": "r24",
        "name": "long name with   spaces",
        "user": "kim",
        "params": {"path": "data/train.csv"},
        "tags": {"path": "a/b"},
        "metrics": {"accuracy": [(0.81, 0)]},
    },
    {
        "key": "r25",
        "name": "back\\slash",
        "user": "kim",
        "params": {"pattern": "a\\b", "under_score": "a_b"},
        "tags": {"regex": "^a.*$"},
    },
    {
        "key": "r26",
        "name": "dots",
        "user": "park",
        "params": {"model.depth": 12, "a.b.c": "x"},
        "metrics": {"accuracy.2.0": [(5.0, 0)]},
    },
    {
        "key": "r27",
        "name": "numeric strings",
        "user": "lee",
        "params": {"n_estimators": "500", "lr": "0.01", "seed": "007"},
        "metrics": {"accuracy": [(0.3, 0), (0.95, 2), (0.2, 1)]},
    },
    {
        "key": "r28",
        "name": "underscore_name",
        "user": "kim",
        "params": {"my_param": "A"},
        "tags": {"tag1": "C"},
        "metrics": {"key1": [(121.0, 0)]},
    },
    {
        "key": "r29",
        "name": "my param B",
        "user": "kim",
        "params": {"my_param": "B"},
        "tags": {"tag1": "D"},
        "metrics": {"key1": [(125.0, 0)]},
    },
]

CRASHER = textwrap.dedent(
    """
    import os, sys
    import nb_mlops as nm

    run = nm.start_run("crashed run", params={"model": "rf", "lr": 0.5}, tags={"team": "nlp"})
    nm.log_metric("loss", 0.9)
    nm.log_metric("loss", 0.4)
    nm.log_metric("accuracy", 0.75, step=3)
    run.flush()
    sys.stdout.flush()
    os._exit(1)   # no atexit, no finally: the run stays `running` until a reader sees it died
    """
)
RUNNING = {
    "key": "r15",
    "name": "still running",
    "user": "park",
    "params": {"model": "gbm"},
    "metrics": {"accuracy": [(0.66, 0)]},
}


def _write_data(project: Path) -> None:
    data = project / "data"
    (data / "images").mkdir(parents=True)
    (data / "train.csv").write_text("id,text\n1,good\n2,bad\n", encoding="utf-8")
    (data / "test.csv").write_text("id,text\n3,fine\n", encoding="utf-8")
    (data / "images" / "a.txt").write_text("a", encoding="utf-8")
    (data / "images" / "b.txt").write_text("b", encoding="utf-8")
    (data / "한글 데이터.csv").write_text("id,글\n1,좋다\n", encoding="utf-8")


def _log(spec: dict[str, Any], project: Path, mp: pytest.MonkeyPatch) -> None:
    """One run (and its children) through the public API, ending as the spec says."""
    if spec.get("user"):
        mp.setenv("LOGNAME", spec["user"])
    data = []
    for item in spec.get("data", []):
        path, _, version = item.partition("@")
        if version == "2" and "v2" not in (project / path).read_text(encoding="utf-8"):
            with open(project / path, "a", encoding="utf-8") as f:
                f.write("3,v2\n")
        data.append(path)
    source = {"kind": "script", "file": spec["source"]} if spec.get("source") else None
    time.sleep(0.003)  # distinct start milliseconds: ties would fall to the (different) run ids
    end = spec.get("end", "finished")
    try:
        with nm.start_run(
            spec["name"],
            experiment=spec.get("experiment"),
            params=spec.get("params"),
            tags=spec.get("tags"),
            data=data or None,
            source=source,
        ) as run:
            for key, points in spec.get("metrics", {}).items():
                for value, step in points:
                    nm.log_metric(key, value, step=step)
            for child in spec.get("children", []):
                _log(child, project, mp)
            if end == "interrupted":
                run.end("interrupted")
            elif end == "failed":
                raise ZeroDivisionError("as planned")
    except ZeroDivisionError:
        assert end == "failed"


def _crash(project: Path, user: str) -> None:
    env = {**run_env(project), "LOGNAME": user}
    done = subprocess.run(
        [sys.executable, "-c", CRASHER],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr


def _as_mlflow(docs: dict[str, dict[str, Any]], keys: dict[str, str]) -> list[dict[str, Any]]:
    """Our runs as MLflow's client would have logged them (strings, ms, MLflow's statuses)."""
    from nb_mlops.store.pack import read_run_points

    ws = api.workspace()
    out = []
    for doc in sorted(docs.values(), key=lambda d: d["start"]):
        tags = {k: str(v) for k, v in (doc.get("tags") or {}).items()}
        source = (doc.get("source") or {}).get("file")
        if source:
            tags["mlflow.source.name"] = source
        if doc["status"] == "crashed":
            tags["nbmlops.crashed"] = "true"
        metrics: dict[str, list[tuple[float, int]]] = {}
        for key, value, step, _ in read_run_points(ws, doc):
            metrics.setdefault(key, []).append((value, step))
        out.append(
            {
                "key": keys[doc["run_id"]],
                "name": doc["name"],
                "experiment": doc["experiment"],
                "status": MLFLOW_STATUS[doc["status"]],
                "start": epoch_ms(doc["start"]),
                "end": epoch_ms(doc["end"]) if doc.get("end") else None,
                "user": doc.get("user"),
                "parent": keys[doc["parent"]] if doc.get("parent") else None,
                "params": {k: str(v) for k, v in (doc.get("params") or {}).items()},
                "metrics": metrics,
                "tags": tags,
                "datasets": [
                    {"name": d["path"], "digest": d["md5"], "context": d.get("context")}
                    for d in doc.get("data") or ()
                ],
            }
        )
    return out


def _fill(text: str, ids: dict[str, str], facts: dict[str, dict[str, Any]]) -> str:
    """`{start:KEY}`, `{end:KEY}` (ms), `{md5:KEY}` (its first dataset's digest): the same on
    both sides; `{id:KEY}` -> this side's run id."""
    text = re.sub(
        r"\{(start|end|md5):([^}]+)\}", lambda m: str(facts[m.group(2)][m.group(1)]), text
    )
    return re.sub(r"\{id:([^}]+)\}", lambda m: ids[m.group(1)], text)


def _flatten(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for spec in specs:
        out.append(spec)
        out.extend(_flatten(spec.get("children", [])))
    return out


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every search answered by both stores: {"ours": ..., "mlflow": ...} per filter and order."""
    if not MLFLOW_PYTHON.exists():
        pytest.fail(
            f"MLflow is not installed in {MLFLOW_VENV}: run ./dev setup (it builds .venv-mlflow;"
            " this comparison must run, never be skipped)"
        )
    root = tmp_path_factory.mktemp("parity")
    (root / "mlflow").mkdir()
    # MLflow starts now: its import and table creation overlap with logging our runs
    peer = subprocess.Popen(
        [str(MLFLOW_PYTHON), str(PEER), str(root / "mlflow")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        return _both_stores(root, peer)
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.communicate()


def _both_stores(root: Path, peer: subprocess.Popen) -> dict[str, Any]:
    project = root / "project"
    project.mkdir()
    _write_data(project)
    home = project / ".nbmlops"
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NaN/inf metrics warn; they are logged on purpose
        mp.chdir(project)
        mp.setenv("NB_MLOPS_HOME", str(home))
        api.reset()
        forget_open_workspaces()
        nm.init(home)
        try:
            nm.snapshot("data/train.csv", message="first")
            for spec in RUNS[:6]:
                _log(spec, project, mp)
            _crash(project, "lee")
            for spec in RUNS[6:]:
                _log(spec, project, mp)
            mp.setenv("LOGNAME", RUNNING["user"])
            time.sleep(0.003)
            running = nm.start_run(RUNNING["name"], params=RUNNING["params"], nested=False)
            for key, points in RUNNING["metrics"].items():
                for value, step in points:
                    nm.log_metric(key, value, step=step)
            running.flush()
            try:
                return _answer_all(root, project, peer)
            finally:
                running.end("finished")
        finally:
            api.reset()
            forget_open_workspaces()


def _answer_all(root: Path, project: Path, peer: subprocess.Popen) -> dict[str, Any]:
    ws = open_workspace(project / ".nbmlops")
    docs = all_runs(ws)
    by_name = {spec["name"]: spec["key"] for spec in [*_flatten(RUNS), RUNNING]}
    by_name["crashed run"] = "r14"
    keys = {run_id: by_name[doc["name"]] for run_id, doc in docs.items()}
    assert len(keys) == len(set(keys.values())) == len(by_name), sorted(by_name)
    ids = {key: run_id for run_id, key in keys.items()}
    times = {
        keys[i]: {
            "start": epoch_ms(d["start"]),
            "end": epoch_ms(d["end"]) if d["end"] else 0,
            "md5": d["data"][0]["md5"] if d.get("data") else "",
        }
        for i, d in docs.items()
    }
    statuses = {keys[i]: d["status"] for i, d in docs.items()}
    assert statuses["r14"] == "crashed" and statuses["r15"] == "running"
    assert statuses["r09"] == "interrupted" and statuses["r19"] == "failed"

    filters = [*AGREE, *REFUSED, *(t for texts in INTENDED.values() for t in texts)]
    request = {
        "runs": _as_mlflow(docs, keys),
        "filters": [_fill(t, {k: f"{{id:{k}}}" for k in ids}, times) for t in filters],
        "orders": [
            {
                "filter": _fill(o["filter"], {k: f"{{id:{k}}}" for k in ids}, times),
                "order_by": o["order_by"],
                "max_results": o.get("max_results"),
            }
            for o in ORDERS
        ],
    }
    began = time.perf_counter()
    out, err = peer.communicate(json.dumps(request, ensure_ascii=False), timeout=300)
    assert peer.returncode == 0, err[-3000:]
    theirs = json.loads(out)
    peer_seconds = time.perf_counter() - began  # after our side: logging and searching

    def ours_filter(text: str) -> dict[str, Any]:
        try:
            rows = select_runs(ws, _fill(text, ids, times))
        except FilterSyntaxError as exc:
            return {"refused": str(exc)}
        return {"keys": [keys[d["run_id"]] for d in rows]}

    def ours_order(order: dict[str, Any]) -> dict[str, Any]:
        try:
            rows = select_runs(
                ws, _fill(order["filter"], ids, times), order["order_by"], order.get("max_results")
            )
        except (FilterSyntaxError, OrderByError) as exc:
            return {"refused": str(exc)}
        return {"keys": [keys[d["run_id"]] for d in rows]}

    return {
        "filters": {
            text: {"ours": ours_filter(text), "mlflow": answer}
            for text, answer in zip(filters, theirs["filters"], strict=True)
        },
        "orders": [
            {"order": order, "ours": ours_order(order), "mlflow": answer}
            for order, answer in zip(ORDERS, theirs["orders"], strict=True)
        ],
        "version": theirs["version"],
        "peer_seconds": peer_seconds,
        "peer_phases": theirs["seconds"],
    }


# ------------------------------------------------------------------------------------ the checks
def _outcome(answer: dict[str, Any], ordered: bool = False) -> Any:
    if "refused" in answer:
        return "refused"
    return answer["keys"] if ordered else sorted(answer["keys"])


def _describe(text: str, pair: dict[str, Any], ordered: bool = False) -> str:
    ours, theirs = pair["ours"], pair["mlflow"]
    return (
        f"{text!r}\n    ours:   {_outcome(ours, ordered)} {ours.get('refused', '')[:160]}"
        f"\n    mlflow: {_outcome(theirs, ordered)} {theirs.get('refused', '')[:160]}"
    )


def test_filters_agree_with_mlflow(answers: dict[str, Any]) -> None:
    results = answers["filters"]
    wrong = [
        _describe(text, results[text])
        for text in AGREE
        if _outcome(results[text]["ours"]) != _outcome(results[text]["mlflow"])
    ]
    assert not wrong, f"{len(wrong)} of {len(AGREE)} filters differ from MLflow:\n" + "\n".join(
        wrong
    )
    # the table exercises what it claims: most strings find some runs, not all of them nothing
    found = [t for t in AGREE if _outcome(results[t]["ours"]) not in ("refused", [])]
    assert len(found) > len(AGREE) // 2


def test_malformed_filters_are_refused_by_both(answers: dict[str, Any]) -> None:
    results = answers["filters"]
    wrong = [
        _describe(text, results[text])
        for text in REFUSED
        if _outcome(results[text]["ours"]) != "refused"
        or _outcome(results[text]["mlflow"]) != "refused"
    ]
    assert not wrong, "accepted by one side:\n" + "\n".join(wrong)
    for text in REFUSED:  # ours say where and why, on one line
        message = results[text]["ours"]["refused"]
        assert message.startswith("bad filter at column ") and "\n" not in message, message


def test_intended_differences_differ(answers: dict[str, Any]) -> None:
    """Each string marked as an intended difference does differ (else the mark is stale)."""
    results = answers["filters"]
    stale = [
        f"[{reason}] " + _describe(text, results[text])
        for reason, texts in INTENDED.items()
        for text in texts
        if _outcome(results[text]["ours"]) == _outcome(results[text]["mlflow"])
    ]
    assert not stale, "marked as differing, but both agree:\n" + "\n".join(stale)


def test_table_size_and_speed(answers: dict[str, Any]) -> None:
    total = len(AGREE) + len(REFUSED) + sum(len(t) for t in INTENDED.values())
    assert total >= 300
    everything = [*AGREE, *REFUSED, *(t for texts in INTENDED.values() for t in texts)]
    assert len(set(everything)) == len(everything), "a filter string is in the table twice"
    assert answers["peer_seconds"] < 60


def test_order_by_agrees_with_mlflow(answers: dict[str, Any]) -> None:
    wrong, stale = [], []
    for item in answers["orders"]:
        order = item["order"]
        label = f"{order['order_by']} max={order.get('max_results')} filter={order['filter']!r}"
        same = _outcome(item["ours"], True) == _outcome(item["mlflow"], True)
        if order.get("reason") is None and not same:
            wrong.append(_describe(label, item, True))
        if order.get("reason") is not None and same:
            stale.append(f"[{order['reason']}] " + _describe(label, item, True))
    assert not wrong, f"{len(wrong)} orderings differ from MLflow:\n" + "\n".join(wrong)
    assert not stale, "marked as differing, but both agree:\n" + "\n".join(stale)


def test_every_reason_is_documented() -> None:
    """docs/filter.md lists each intended difference under "Differences from MLflow"."""
    text = DOCS.read_text(encoding="utf-8")
    assert "## Differences from MLflow" in text
    section = text.split("## Differences from MLflow", 1)[1].split("\n## ", 1)[0]
    used = set(INTENDED) | {o["reason"] for o in ORDERS if o.get("reason")}
    assert used <= set(REASONS), used - set(REASONS)
    for reason, heading in REASONS.items():
        assert f"### {heading}" in section, f"docs/filter.md lacks '### {heading}' ({reason})"


def test_missing_mlflow_venv_says_how_to_install(tmp_path: Path) -> None:
    """Without .venv-mlflow the comparison fails, naming ./dev setup (it is never skipped)."""
    script = textwrap.dedent(
        f"""
        import os, sys
        os.environ["NB_MLOPS_TEST_MLFLOW_VENV"] = {str(tmp_path / "nowhere")!r}
        sys.exit(__import__("pytest").main([{str(Path(__file__))!r}, "-q", "-p",
            "no:cacheprovider", "-k", "test_filters_agree_with_mlflow"]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1
    assert "./dev setup" in done.stdout and "nowhere" in done.stdout
