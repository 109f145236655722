"""The example notebooks run top to bottom (nbclient, a real kernel) in a temporary store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import cli
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def execute(name: str, project: Path) -> nbformat.NotebookNode:
    """Copy a notebook into the test's project folder and execute it there."""
    src = NOTEBOOKS / name
    dst = project / name
    shutil.copy(src, dst)
    nb = nbformat.read(dst, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(project)}}
    ).execute()
    nbformat.write(nb, dst)
    return nb


@pytest.mark.slow
def test_quickstart_leaves_runs_the_cli_lists(project: Path) -> None:
    execute("quickstart.ipynb", project)
    out = cli(project, "runs", "--json")
    assert out.returncode == 0, out.stderr
    runs = {r["name"]: r for r in json.loads(out.stdout)["runs"]}
    assert {"rf-baseline", "logreg", "depth-sweep", "depth=2", "depth=8"} <= set(runs)
    assert all(r["status"] == "finished" for r in runs.values())
    rf = runs["rf-baseline"]
    assert rf["params"] == {"n_estimators": 100, "max_depth": 4}
    assert 0.5 < rf["metrics"]["accuracy"] <= 1.0
    assert rf["experiment"] == "wine" and rf["tags"] == {"owner": "quickstart"}
    sweep = runs["depth-sweep"]
    assert runs["depth=5"]["parent"] == sweep["run_id"]
    detail = cli(project, "show", "rf-baseline", "--json")
    assert detail.returncode == 0, detail.stderr
    doc = json.loads(detail.stdout)
    assert doc["artifacts"][0]["name"] == "rf-baseline.joblib"
    assert doc["seeds"]["random"] == 0
    from nb_mlops.store.workspace import open_workspace
    from nb_mlops.tracking.history import lead_up

    cells = lead_up(open_workspace(project / ".nbmlops"), doc["history"])
    # the untracked cell that built X and y is in the run's lead-up, then the run's own cell
    assert "load_wine" in cells[0]["source"]
    assert cells[-1]["source"].startswith("%%track -n rf-baseline")


@pytest.mark.slow
def test_llm_judge_notebook_records_verdicts_labels_and_rag(project: Path) -> None:
    nb = execute("llm-judge.ipynb", project)
    text = json.dumps(nb.cells[0].source)
    assert "STAND-IN" in text  # the stand-in judge is labelled as one
    runs = json.loads(cli(project, "runs", "--json").stdout)["runs"]
    tasks = {r["name"]: r for r in runs}
    assert "judge-careful-bot" in tasks and "judge-pair-first-position" in tasks
    assert {"rag-wiki-rag", "rag-wiki-rag-ko"} <= set(tasks)
    labels = project / ".nbmlops" / "annotations" / "helpfulness" / "labels"
    assert sorted(p.name for p in labels.iterdir()) == ["min-ji.jsonl", "sam.jsonl"]
    agreement = cli(project, "annotate", "helpfulness", "--agreement")
    assert agreement.returncode == 0 and "Krippendorff's alpha" in agreement.stdout


CHECKED_APART = {"monitoring.ipynb"}
"""Notebooks whose own test below runs them from a git subfolder and checks what they left."""


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb") if p.name not in CHECKED_APART)
)
def test_notebook_runs_clean_from_a_git_subfolder(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every example notebook runs top to bottom without an error, as in a real project: in
    `repo/notebooks/`, no NB_MLOPS_HOME, so the store is made at the git root above it (deploy
    hooks run there too)."""
    in_git_subfolder(name, tmp_path, monkeypatch)


@pytest.mark.slow
def test_monitoring_notebook_watches_a_drifting_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import warnings

    from nb_mlops.monitor import Monitor, MonitorAlert
    from nb_mlops.store.workspace import open_workspace

    nb, repo = in_git_subfolder("monitoring.ipynb", tmp_path, monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MonitorAlert)
        mon = Monitor("cancer", ws=open_workspace(repo / ".nbmlops"))
    windows = mon.windows()
    assert list(windows["rows"])[:4] == [60, 60, 60, 60] and len(windows) == 5
    assert list(windows["labelled"]) == [60, 60, 60, 60, 0]
    assert windows["estimated_accuracy"].notna().all()  # the unlabelled day is estimated
    assert not windows["dataset_drift"][0] and windows["dataset_drift"].iloc[-1]
    kinds = {a["kind"] for a in mon.alerts()}
    assert kinds == {"drift", "threshold", "model-version"}, kinds
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("application/vnd.nbmlops.view+json" in o.get("data", {}) for o in shown)
    assert (repo / "notebooks" / "cancer.prom").read_text().count("nbmlops_monitor_") > 20


def in_git_subfolder(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[nbformat.NotebookNode, Path]:
    """Run a notebook in `repo/notebooks/` of a fresh git repo; fail on any error output."""
    import subprocess

    repo = tmp_path / "repo"
    folder = repo / "notebooks"
    folder.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    monkeypatch.delenv("NB_MLOPS_HOME", raising=False)
    monkeypatch.chdir(folder)
    shutil.copy(NOTEBOOKS / name, folder / name)
    nb = nbformat.read(folder / name, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, errors
    assert (repo / ".nbmlops").is_dir(), "the store is not at the git root"
    assert not (folder / ".nbmlops").exists(), "a second store was made beside the notebook"
    return nb, repo
