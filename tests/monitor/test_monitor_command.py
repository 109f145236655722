"""`nb-mlops monitor` and `%track monitor`: list, show, a window's drift, Prometheus textfile,
Grafana dashboard; the API verbs behind them."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import cli, cli_json
from sklearn.linear_model import LogisticRegression

import nb_mlops as nm
from nb_mlops.monitor import Monitor, MonitorAlert, MonitorError


@pytest.fixture
def filled(ws):
    rng = np.random.default_rng(5)
    ref = pd.DataFrame(rng.normal(size=(400, 3)), columns=["x", "y", "z"])
    label = (ref["x"] + rng.normal(0, 0.5, 400) > 0).astype(int)
    model = LogisticRegression().fit(ref, label)
    mon = Monitor("churn", model=model, reference=ref.assign(label=label), target="label", ws=ws)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MonitorAlert)
        for day in range(3):
            batch = pd.DataFrame(rng.normal(day, 1, size=(200, 3)), columns=["x", "y", "z"])
            mon.observe(batch, timestamp=f"2026-06-0{day + 1}T10:00:00Z")
    return mon


def test_cli_lists_shows_and_exports(filled, project, tmp_path):
    listed = cli(project, "monitor")
    assert listed.returncode == 0, listed.stderr
    assert "churn" in listed.stdout and "1 day of time" in listed.stdout
    assert cli_json(project, "monitor")["monitors"][0]["windows"] == 3
    shown = cli(project, "monitor", "churn")
    assert "3 windows, 600 rows observed" in shown.stdout
    assert "ALERT 2026-06-03T00:00:00Z" in shown.stdout
    doc = cli_json(project, "monitor", "churn")
    assert doc["windows"][0]["window"] == "2026-06-01T00:00:00Z"
    drift = cli_json(project, "monitor", "churn", "--drift", "2026-06-03T00:00:00Z")
    assert drift["dataset_drift"] is True and drift["n_current"] == 200
    first = cli_json(project, "monitor", "churn", "--drift", str(doc["windows"][0]["index"]))
    assert first["dataset_drift"] is False
    prom = tmp_path / "m.prom"
    assert cli(project, "monitor", "--textfile", str(prom)).returncode == 0
    assert 'nbmlops_monitor_drift_share{monitor="churn"} 1.0' in prom.read_text()
    dash = tmp_path / "dash.json"
    assert cli(project, "monitor", "--dashboard", str(dash)).returncode == 0
    assert json.loads(dash.read_text())["panels"]


def test_cli_errors_name_the_fault(filled, project):
    missing = cli(project, "monitor", "nope")
    assert missing.returncode != 0
    assert "no monitor named 'nope' (monitors: churn)" in missing.stderr
    both = cli(project, "monitor", "--serve", "0", "--textfile", "x.prom")
    assert both.returncode != 0 and "choose one of" in both.stderr
    two = cli(project, "monitor", "churn", "other")
    assert "name one monitor to show" in two.stderr
    window = cli(project, "monitor", "churn", "--drift", "1999-01-01")
    assert "has no window '1999-01-01'" in window.stderr


def test_api_verbs(filled, tmp_path):
    assert [r["name"] for r in nm.monitors().to_dict()["monitors"]] == ["churn"]
    again = nm.get_monitor("churn")
    assert len(again.windows()) == 3
    with nm.export_monitors(port=0) as exporter:
        import urllib.request

        body = urllib.request.urlopen(exporter.url, timeout=10).read().decode()
        assert 'nbmlops_monitor_up{monitor="churn"} 1.0' in body
    assert not exporter.running
    with pytest.raises(MonitorError, match="one of the two"):
        nm.export_monitors()


def test_magic_shows_the_monitor(filled, ip):
    from IPython.utils.capture import capture_output

    with capture_output() as out:
        result = ip.run_cell("%track monitor churn")
    assert result.error_in_exec is None
    assert result.result is None or "churn" in str(result.result)
    shown = out.stdout + "".join(str(o.data) for o in out.outputs)
    assert "churn" in shown


def test_a_damaged_monitor_is_listed_with_its_problem(filled, project):
    filled.files.definition.write_text("{")
    table = nm.monitors().to_dict()["monitors"]
    assert table[0]["name"] == "churn" and table[0]["task"].startswith("damaged:")
    shown = cli(project, "monitor", "churn")
    assert shown.returncode != 0 and "unreadable" in shown.stderr
