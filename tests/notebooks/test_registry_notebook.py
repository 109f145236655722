"""The model-registry notebook leaves what it describes: versions, aliases, hooks, a bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import cli_json
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "model-registry.ipynb"


def printed(nb: nbformat.NotebookNode, needle: str) -> str:
    """The text a code cell holding `needle` printed or returned."""
    for cell in nb.cells:
        if cell.cell_type == "code" and needle in cell.source:
            parts = []
            for out in cell.outputs:
                if out.output_type == "stream":
                    parts.append(out.text)
                elif "data" in out:
                    parts.append(out.data.get("text/plain", ""))
            return "".join(parts)
    raise AssertionError(f"no cell holds {needle!r}")


@pytest.mark.slow
def test_registry_notebook_records_what_it_says(project: Path) -> None:
    shutil.copy(NOTEBOOK, project / NOTEBOOK.name)
    nb = nbformat.read(project / NOTEBOOK.name, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(project)}}
    ).execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert not errors, errors

    model = cli_json(project, "models", "iris-clf")
    versions = model["versions"]
    assert [v["version"] for v in versions] == [1, 2, 3, 4]
    assert [v["status"] for v in versions] == ["archived", "active", "active", "active"]
    assert [v["run"]["name"] for v in versions] == [
        "logreg",
        "forest-shallow",
        "forest-deep",
        "forest-shallow",
    ]
    assert [v["run"]["imported"] for v in versions] == [False, False, False, True]
    assert versions[3]["run"]["from"] == "iris-clf-v2.zip"
    assert [v["same_as"] for v in versions] == [None, None, None, None]  # v4: a claim only
    assert versions[0]["params"] == {"C": 0.05}
    assert versions[2]["params"] == {"n_estimators": 50, "max_depth": 6}
    for v in versions:
        assert 0.8 < v["metrics"]["accuracy"] <= 1.0
        assert [(d["path"], d["version"]) for d in v["data"]] == [("data/iris.csv", 1)]
    assert versions[1]["description"].startswith("shallow forest")
    assert versions[1]["tags"] == {"reviewed": "yes"}
    assert versions[3]["tags"] == {"reviewed": "yes"}  # carried in the bundle

    assert model["aliases"] == [{"alias": "production", "version": 2, "protected": True}]
    history = model["history"]
    assert [(e["event"], e["from"], e["to"], e["forced"]) for e in history] == [
        ("rollback", 3, 2, True),
        ("set", 2, 3, True),
        ("set", 1, 2, False),
        ("set", None, 1, False),
    ]
    assert history[0]["why"] == "latency too high"
    for entry in history[:3]:
        assert [(h["kind"], h["ok"]) for h in entry["hooks"]] == [
            ("command", True),
            ("callable", True),
        ]
        assert entry["hooks"][1]["target"] == "announce"
    assert history[3]["hooks"] == []  # the hooks were added after the first move
    assert [h["command"] for h in model["hooks"]] == [
        "echo deploying $NB_MLOPS_MODEL_URI >> deploy.log"
    ]
    assert (project / "deploy.log").read_text().split("\n") == [
        "deploying models:/iris-clf/2",
        "deploying models:/iris-clf/3",
        "deploying models:/iris-clf/2",
        "",
    ]
    assert (project / "iris-clf-v2.zip").is_file()

    assert "is protected (it points at version 2)" in printed(nb, "try the deep forest")
    assert "pass trust=True" in printed(nb, "nm.import_model")
    assert printed(nb, "fingerprint(reloaded)") == "(True, True)"
    assert "now serving models:/iris-clf/2" in printed(nb, "--protect")
