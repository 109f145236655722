"""`%track mlflow ...` and `nb-mlops mlflow ...`: the same command, both surfaces."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cli, cli_json
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

import nb_mlops as nm
from nb_mlops.store.workspace import Workspace


def test_magic_syncs_and_shows_the_report(ip, ws: Workspace, uri, client, unique):
    ip.run_cell(f"%%track -n from-cell -e magic-{unique}\ntrack.log(acc=0.75)")
    with capture_output() as shown:
        result = ip.run_line_magic("track", f"mlflow sync --tracking-uri {uri} --no-models")
    text = str(result) if result is not None else shown.stdout
    assert "synced 1 run" in text and "1 new" in text
    (run,) = client.search_runs([client.get_experiment_by_name(f"magic-{unique}").experiment_id])
    assert run.data.metrics == {"acc": 0.75}


def test_cli_sync_then_import_json(project: Path, ws: Workspace, uri, client, unique):
    with nm.start_run("cli", experiment=f"cli-{unique}", system_metrics=False):
        nm.log_metric("m", 3.0)
    pushed = cli_json(
        project, "mlflow", "sync", "--tracking-uri", uri, f"experiment = 'cli-{unique}'"
    )
    assert len(pushed["created"]) == 1 and pushed["points"] == 1
    again = cli_json(project, "mlflow", "sync", "--tracking-uri", uri)
    assert again["created"] == [] and again["unchanged"] >= 1
    back = cli_json(
        project, "mlflow", "import", "--tracking-uri", uri, "--experiment", f"cli-{unique}"
    )
    assert back["created"] == [] and back["unchanged"] == 1


def test_cli_errors_are_one_line(project: Path, ws: Workspace):
    out = cli(project, "mlflow", "sync", "--tracking-uri", "http://me:hunter2@host")
    assert out.returncode != 0
    assert out.stderr.count("\n") == 1 and "credentials" in out.stderr
    assert "hunter2" not in out.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("mlflow", "action"),
        ("mlflow push", "invalid choice"),
        ("mlflow import --no-models --tracking-uri http://x", "--no-models goes with sync"),
        ("mlflow sync --jobs 0 --tracking-uri http://x", "jobs"),
    ],
)
def test_usage_errors(ip, ws: Workspace, line: str, message: str):
    with pytest.raises(UsageError, match=message):
        ip.run_line_magic("track", line)
