"""The quickstart's round trip: executed for real, exported, reproduced from the shell."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import cli, cli_json
from nbclient import NotebookClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture
def quickstart(project: Path) -> Path:
    """The quickstart notebook executed in the test's project (its own store)."""
    dst = project / "quickstart.ipynb"
    shutil.copy(NOTEBOOKS / "quickstart.ipynb", dst)
    nb = nbformat.read(dst, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(project)}}
    ).execute()
    return dst


def test_quickstart_run_exported_and_reproduced_from_the_shell(project, quickstart):
    out = cli_json(project, "export", "rf-baseline", "--out", "rf.zip")
    record = project / "rf.zip"
    assert Path(out["path"]).resolve() == record.resolve()
    with zipfile.ZipFile(record) as zf:
        manifest = json.loads(zf.read("record.json"))
        cells = nbformat.reads(zf.read("notebook.ipynb").decode(), as_version=4).cells
    sources = [c.source for c in cells]
    # the untracked cell that loaded the data comes before the tracked one
    data_cell = next(i for i, s in enumerate(sources) if "load_wine" in s)
    tracked = next(i for i, s in enumerate(sources) if s.startswith("%%track -n rf-baseline"))
    assert data_cell < tracked
    assert manifest["run"]["name"] == "rf-baseline"

    refused = cli(project, "reproduce", "rf.zip")  # no terminal to confirm at, no --yes
    assert refused.returncode != 0 and "--yes" in refused.stderr

    verdict = cli_json(project, "reproduce", "rf.zip", "--yes")
    assert verdict["tier"] in ("bitwise-identical", "identical-parameters"), verdict
    runs = cli_json(project, "runs", "tags.`nbmlops.kind` = 'reproduction'")["runs"]
    assert len(runs) == 1
    models = cli_json(project, "models", "wine-clf")
    assert len(models["versions"]) == 1  # the replay registered nothing here


def test_verify_a_quickstart_run(project, quickstart):
    verdict = cli_json(project, "verify", "rf-baseline", "--yes")
    assert verdict["tier"] in ("bitwise-identical", "identical-parameters"), verdict
