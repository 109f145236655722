"""The Prometheus exporter and the Grafana dashboard (nb_mlops/monitor/prometheus.py).

The end-to-end test starts a real Prometheus server (Debian's `prometheus`, installed by
`./dev setup`) on loopback that scrapes our exporter every second, and asks it, through its HTTP
API, for every PromQL expression of the shipped dashboard: each must return data, and every
metric family the exporter publishes must be charted by some panel.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import run_env

import nb_mlops as nm
from nb_mlops.monitor import Monitor, MonitorAlert
from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.prometheus import (
    FAMILIES,
    PREFIX,
    dashboard_json,
    registry,
    serve,
    write_textfile,
)

PROMETHEUS = os.environ.get("NB_MLOPS_TEST_PROMETHEUS", "/usr/bin/prometheus")
PROMTOOL = str(Path(PROMETHEUS).with_name("promtool"))
SHIPPED = Path(__file__).parents[2] / "nb_mlops" / "monitor" / "grafana" / "nb-mlops-monitor.json"
# What Grafana puts in place of its own variables when it sends a query.
GRAFANA_VARIABLES = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}


# --- real monitors: a classifier on make_classification, labelled batches, the last drifting ----

ROWS = 400  # rows per window; each batch fills one
DRIFTED = ("f0", "f1", "f2")  # shifted in the last batch: 3 of 5 columns, a dataset drift


@functools.cache
def classification_data() -> tuple[Any, pd.DataFrame, pd.Series]:
    """A fitted classifier (on the first 800 rows) and the rows and labels (cached: the fit is
    deterministic and nothing changes the model)."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    x, y = make_classification(
        n_samples=800 + 4 * ROWS, n_features=5, n_informative=3, n_redundant=0, random_state=7
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
    labels = pd.Series(y, name="label")
    model = LogisticRegression(max_iter=500).fit(frame[:800], labels[:800])
    return model, frame, labels


def batch(i: int, *, drifting: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """Batch `i` (0-based) after the reference rows, and its labels."""
    _, frame, labels = classification_data()
    rows = slice(800 + i * ROWS, 800 + (i + 1) * ROWS)
    out = frame[rows].reset_index(drop=True)
    if drifting:
        out[list(DRIFTED)] += 3.0
    return out, labels[rows].to_numpy()


def observed_monitor(name: str = "churn", *, batches: int = 3) -> Monitor:
    """A monitor of a registered classifier (followed through its `production` alias) in
    windows of ROWS rows, with `batches` labelled batches observed, the last one drifting."""
    model, frame, labels = classification_data()
    version = nm.register_model(name, model)
    nm.set_alias(name, "production", version.version)
    monitor = Monitor(
        name,
        model=f"models:/{name}@production",
        reference=frame[:800].assign(label=labels[:800]),
        target="label",
        rows=ROWS,
    )
    for i in range(batches):
        rows, y = batch(i, drifting=i == batches - 1)
        if i == batches - 1:
            with pytest.warns(MonitorAlert):  # the drift and the accuracy it costs
                monitor.observe(rows, labels=y)
        else:
            monitor.observe(rows, labels=y)
    return monitor


# --- a real Prometheus server ----------------------------------------------------------------


def prometheus_binary() -> str:
    if not (os.path.isfile(PROMETHEUS) and os.access(PROMETHEUS, os.X_OK)):
        pytest.fail(
            f"the real Prometheus server is needed at {PROMETHEUS}: run `./dev setup` (it installs "
            "Debian's `prometheus` package) or set NB_MLOPS_TEST_PROMETHEUS",
            pytrace=False,
        )
    return PROMETHEUS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@contextmanager
def prometheus_server(folder: Path, target: str) -> Iterator[str]:
    """A Prometheus server scraping `target` (host:port) every second; yields its base URL and
    stops it by its pid at the end."""
    binary = prometheus_binary()
    folder.mkdir()
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: nbmlops\n    scrape_interval: 1s\n"
        f"    static_configs:\n      - targets: ['{target}']\n",
        encoding="utf-8",
    )
    port = free_port()
    log = (folder / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"prometheus exited ({proc.returncode}): {log_tail(folder)}")
            try:
                urllib.request.urlopen(f"{base}/-/ready", timeout=1).close()
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"prometheus not ready in 30 s: {log_tail(folder)}")
                time.sleep(0.1)
        yield base
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def log_tail(folder: Path) -> str:
    path = folder / "prometheus.log"
    return path.read_text(encoding="utf-8", errors="replace")[-2000:] if path.exists() else ""


def query(base: str, expr: str) -> list[dict[str, Any]]:
    """Prometheus's answer to an instant query (the result vector), via /api/v1/query."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    answer = get_json(url)
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]


# --- the dashboard's expressions -------------------------------------------------------------


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))  # collapsed rows hold their panels


def dashboard_expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL expression) of every query of every panel."""
    return [
        (panel["title"], target["expr"])
        for panel in all_panels(dashboard["panels"])
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def substituted(expr: str, monitors: str) -> str:
    """`expr` as Grafana sends it, with the `monitor` variable set to the regex `monitors`."""
    values = {**GRAFANA_VARIABLES, "monitor": monitors}

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in values, f"unknown dashboard variable ${name} in {expr!r}"
        return values[name]

    out = re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)
    assert "$" not in out, out
    return out


def exposed_names(text: str) -> dict[str, set[str]]:
    """Family name -> the sample names it exposes, from a text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: {s.name for s in f.samples} for f in text_string_to_metric_families(text)}


def exposition(monitors: Any) -> dict[str, Any]:
    """Family name -> parsed family, of one scrape of `monitors` (no server)."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(registry(monitors)).decode()
    assert "NaN" not in text
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(families: dict[str, Any], family: str, **labels: str) -> dict[tuple, float]:
    """The samples of `family` (without the prefix) matching `labels`: label values -> value."""
    out = {}
    for sample in families[f"{PREFIX}_{family}"].samples:
        if all(sample.labels.get(k) == v for k, v in labels.items()):
            key = tuple(v for k, v in sorted(sample.labels.items()) if k not in labels)
            out[key] = sample.value
    return out


# --- tests -----------------------------------------------------------------------------------


def test_shipped_dashboard_is_a_provisionable_grafana_dashboard() -> None:
    dashboard = dashboard_json()
    assert dashboard == json.loads(SHIPPED.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "nb-mlops-monitor"
    assert "id" not in dashboard  # Grafana assigns it
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["monitor"]["definition"] == f"label_values({PREFIX}_up, monitor)"
    assert variables["monitor"]["multi"] and variables["monitor"]["includeAll"]
    ids = [p["id"] for p in all_panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))
    for panel in all_panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            # every query is for the monitors picked in the variable
            assert 'monitor=~"$monitor"' in target["expr"], (panel["title"], target["expr"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24


@pytest.mark.slow
def test_a_real_prometheus_scrapes_the_exporter_and_every_dashboard_query_has_data(
    tmp_path: Path,
) -> None:
    monitor = observed_monitor("churn")
    latest = monitor.windows().iloc[-1]
    assert latest["dataset_drift"] and latest["labelled"] == ROWS  # what the panels will show
    expressions = dashboard_expressions(dashboard_json())
    with (
        serve(monitor) as exporter,
        prometheus_server(tmp_path / "prometheus", f"127.0.0.1:{exporter.port}") as base,
    ):
        with urllib.request.urlopen(exporter.url, timeout=10) as response:
            families = exposed_names(response.read().decode())
        assert set(families) == {f"{PREFIX}_{name}" for name in FAMILIES}

        # wait until Prometheus has scraped enough for every query (rate() needs two scrapes)
        deadline = time.monotonic() + 30
        while True:
            empty = [
                (title, expr)
                for title, expr in expressions
                if not query(base, substituted(expr, re.escape(monitor.name)))
            ]
            if not empty:
                break
            if time.monotonic() > deadline:
                targets = get_json(f"{base}/api/v1/targets")["data"]["activeTargets"]
                pytest.fail(
                    f"dashboard queries without data after 30 s: {empty}; "
                    f"targets: {[(t['health'], t['lastError']) for t in targets]}"
                )
            time.sleep(0.25)

        # the `monitor` variable's query (label_values) lists the monitor
        answer = get_json(
            f"{base}/api/v1/label/monitor/values?"
            + urllib.parse.urlencode({"match[]": f"{PREFIX}_up"})
        )
        assert answer["data"] == [monitor.name]

        # what Prometheus holds is the monitor's latest window
        def value(expr: str) -> float:
            (sample,) = query(base, expr)
            return float(sample["value"][1])

        sel = f'{{monitor="{monitor.name}"}}'
        assert value(f"{PREFIX}_up{sel}") == 1
        assert value(f"{PREFIX}_window_index{sel}") == latest["index"] == 2
        assert value(f"{PREFIX}_window_rows{sel}") == ROWS
        assert value(f"{PREFIX}_rows_total{sel}") == 3 * ROWS
        assert value(f"{PREFIX}_dataset_drift{sel}") == 1
        assert value(f"{PREFIX}_drift_share{sel}") == pytest.approx(latest["drift_share"])
        assert value(f"{PREFIX}_model_version{sel}") == 1
        for metric in ("accuracy", "f1", "auc", "estimated_accuracy"):
            got = value(f'{PREFIX}_metric{{monitor="{monitor.name}",metric="{metric}"}}')
            assert got == pytest.approx(latest[metric]), metric
        drifted = {s["metric"]["feature"] for s in query(base, f"{PREFIX}_feature_drifted == 1")}
        assert drifted == set(DRIFTED) == set(monitor.feature_drift().drifted_columns)
        (info,) = query(base, f"{PREFIX}_model_info{sel}")
        assert info["metric"]["fingerprint"] == latest["fingerprint"]
        kinds = {s["metric"]["kind"]: float(s["value"][1]) for s in query(base, f"{PREFIX}_alerts")}
        assert kinds["threshold"] >= 1 and kinds["drift"] >= 1 and kinds["model-version"] == 0

    # every family the exporter publishes is charted by some panel
    for family, names in families.items():
        charted = [
            expr
            for _, expr in expressions
            if any(re.search(rf"\b{re.escape(n)}\b", expr) for n in names)
        ]
        assert charted, f"no dashboard panel charts {family} ({sorted(names)})"


def test_unknown_metrics_are_left_out_until_late_labels_make_them_known() -> None:
    monitor = observed_monitor("m", batches=1)
    rows, y = batch(1)
    ids = [f"r{i}" for i in range(len(rows))]
    monitor.observe(rows, ids=ids)  # no labels yet: a new window with no accuracy
    families = exposition(monitor)
    assert samples(families, "window_index", monitor="m") == {(): 1.0}
    assert samples(families, "window_labelled_rows", monitor="m") == {(): 0.0}
    metrics = samples(families, "metric", monitor="m")
    assert set(metrics) == {("estimated_accuracy",)}  # accuracy, F1, AUC: NaN, left out
    monitor.add_labels(ids, y)
    metrics = samples(exposition(monitor), "metric", monitor="m")
    latest = monitor.windows().iloc[-1]
    assert set(metrics) == {("accuracy",), ("auc",), ("estimated_accuracy",), ("f1",)}
    for (name,), got in metrics.items():
        assert got == pytest.approx(latest[name])


def test_a_regressor_publishes_mae_and_rmse_in_the_same_family() -> None:
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge

    x, y = make_regression(n_samples=600, n_features=3, noise=5.0, random_state=1)
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    model = Ridge().fit(frame[:400], y[:400])
    monitor = Monitor(
        "price", model=model, reference=frame[:400].assign(y=y[:400]), target="y", rows=200
    )
    monitor.observe(frame[400:], labels=y[400:])
    metrics = samples(exposition(monitor), "metric", monitor="price")
    latest = monitor.windows().iloc[-1]
    assert set(metrics) == {("mae",), ("rmse",)}
    assert metrics[("rmse",)] == pytest.approx(latest["rmse"])


def test_a_monitor_with_nothing_observed_is_up_with_zero_counts() -> None:
    model, frame, labels = classification_data()
    monitor = Monitor("new", model=model, reference=frame[:800].assign(label=labels[:800]),
                      target="label", rows=ROWS)  # fmt: skip
    families = exposition(monitor)
    assert samples(families, "up") == {("new",): 1.0}
    assert samples(families, "rows", monitor="new") == {(): 0.0}
    assert samples(families, "alerts", monitor="new") == {
        ("constraint",): 0.0,
        ("drift",): 0.0,
        ("model-version",): 0.0,
        ("threshold",): 0.0,
    }
    assert not samples(families, "metric") and not samples(families, "window_index")


@pytest.mark.slow
def test_a_scrape_shows_what_another_process_observed(project: Path) -> None:
    monitor = observed_monitor("churn", batches=1)
    rows, y = batch(1)
    folder = project / "batch"
    folder.mkdir()
    rows.to_parquet(folder / "rows.parquet")
    np.save(folder / "labels.npy", y)
    with serve(monitor) as exporter:
        before = exposition_at(exporter.url)
        assert before[f"{PREFIX}_rows_total"] == 1.0 * ROWS
        code = (
            "import sys, numpy as np, pandas as pd\n"
            "from nb_mlops.monitor import Monitor\n"
            "Monitor('churn').observe(pd.read_parquet(sys.argv[1] + '/rows.parquet'),"
            " labels=np.load(sys.argv[1] + '/labels.npy'))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(folder)],
            cwd=project,
            env=run_env(project),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        after = exposition_at(exporter.url)  # the same exporter, the same Monitor object
    assert after[f"{PREFIX}_rows_total"] == 2.0 * ROWS
    assert after[f"{PREFIX}_window_index"] == 1.0


def exposition_at(url: str) -> dict[str, float]:
    """Sample name -> value of one monitor's unlabelled-by-more samples, scraped from `url`."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        s.name: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if set(s.labels) == {"monitor"}
    }


def test_an_unreadable_monitor_is_down_and_the_others_still_publish(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good, broken = observed_monitor("good", batches=1), observed_monitor("broken", batches=1)
    # a window record damaged by hand: its drift report is not one
    with (broken.files.definition.parent / "windows.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"index": 0, "window": "rows 0-399", "rows": 400, "drift": "damaged"}\n')
    reg = registry([good, broken])
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    with caplog.at_level(logging.WARNING, logger="nb_mlops.monitor.prometheus"):
        for _ in range(3):
            text = generate_latest(reg).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert samples(families, "up") == {("good",): 1.0, ("broken",): 0.0}
    assert samples(families, "window_rows") == {("good",): float(ROWS)}
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 1 and "'broken'" in logged[0]  # once, not once per scrape


def test_textfile_parses_and_passes_promtool(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    first, second = observed_monitor("a", batches=1), observed_monitor("b", batches=2)
    folder = tmp_path / "textfiles"
    folder.mkdir()
    path = write_textfile([first, second], folder / "nbmlops.prom")
    assert path == folder / "nbmlops.prom"
    text = path.read_text(encoding="utf-8")
    assert [p.name for p in folder.iterdir()] == ["nbmlops.prom"]  # no temporary file left
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) == {f"{PREFIX}_{name}" for name in FAMILIES}
    assert samples(families, "up") == {("a",): 1.0, ("b",): 1.0}
    assert samples(families, "window_index") == {("a",): 0.0, ("b",): 1.0}
    assert all(s.timestamp is None for f in families.values() for s in f.samples)  # textfile rule
    if not os.access(PROMTOOL, os.X_OK):  # Debian's prometheus package brings it
        pytest.fail(f"promtool is needed at {PROMTOOL}: run `./dev setup`", pytrace=False)
    check = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0 and not check.stdout.strip(), check.stdout + check.stderr


def test_a_stopped_exporter_frees_its_port() -> None:
    monitor = observed_monitor("m", batches=1)
    exporter = serve(monitor)
    assert exporter.url == f"http://127.0.0.1:{exporter.port}/metrics"
    assert exporter.running and "serving" in exporter.to_text()
    with urllib.request.urlopen(exporter.url, timeout=10) as response:
        assert response.status == 200
        assert f'{PREFIX}_up{{monitor="m"}} 1.0' in response.read().decode()
    exporter.stop()
    exporter.stop()  # twice is fine
    assert not exporter.running and exporter.to_dict()["running"] is False
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(exporter.url, timeout=5)
    with serve(monitor, port=exporter.port) as again:  # the port is free again
        assert again.port == exporter.port
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(again.url, timeout=5)


def test_bad_inputs_get_one_line_errors(tmp_path: Path) -> None:
    monitor = observed_monitor("m", batches=1)
    with pytest.raises(MonitorError, match="no monitors"):
        serve([])
    with pytest.raises(MonitorError, match="two monitors named 'm'"):
        write_textfile([monitor, Monitor("m")], tmp_path / "x.prom")
    with pytest.raises(MonitorError, match="not a Monitor"):
        registry(["m"])
    with pytest.raises(MonitorError, match="port must be a number from 0 to 65535, not 70000"):
        serve(monitor, port=70000)
    with pytest.raises(MonitorError, match=r"cannot serve metrics on 192\.0\.2\.1:0"):
        serve(monitor, addr="192.0.2.1")  # TEST-NET: no address of this host
    with pytest.raises(MonitorError, match="no folder"):
        write_textfile(monitor, tmp_path / "missing" / "x.prom")
    with (
        serve(monitor) as exporter,
        pytest.raises(MonitorError, match=f"cannot serve metrics on 127.0.0.1:{exporter.port}"),
    ):
        serve(monitor, port=exporter.port)


def test_without_prometheus_client_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monitor = observed_monitor("m", batches=1)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails as if absent
    for call in (lambda: serve(monitor), lambda: write_textfile(monitor, tmp_path / "m.prom")):
        with pytest.raises(MonitorError, match=r"pip install 'nb-mlops\[monitor\]'"):
            call()


def test_scrapes_read_a_monitor_again_only_when_its_windows_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prometheus_client import generate_latest

    monitor = observed_monitor("m", batches=1)
    reads = []
    windows = monitor.windows
    monkeypatch.setattr(monitor, "windows", lambda: reads.append(1) or windows())
    reg = registry(monitor)
    first = generate_latest(reg)
    assert generate_latest(reg) == first and len(reads) == 1  # nothing changed: not read again
    rows, y = batch(1)
    monitor.observe(rows, labels=y)
    assert generate_latest(reg) != first and len(reads) == 2
    assert samples(exposition(monitor), "window_index") == {("m",): 1.0}
