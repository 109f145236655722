"""The READMEs' quickstart runs: its cells, extracted as written, in a fresh kernel (nbclient),
so the first thing a new user pastes cannot rot."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import cli
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from readme_cells import REPO, SCREENSHOT, quickstart_cells


def test_both_readmes_hold_the_same_quickstart_cells() -> None:
    english = quickstart_cells("README.md")
    assert len(english) >= 5
    assert quickstart_cells("README.ko.md") == english


def test_the_readme_links_korean_and_puts_dev_commands_first() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "README.ko.md" in text.split("\n## ")[0]
    commands = re.findall(r"^(\./dev \w+|pip install[^\n]*)", text, re.MULTILINE)
    assert commands[:2] == ["./dev lab", "./dev test"]
    assert any(c.startswith("pip install") for c in commands)
    top = text.split("\n## ")[0]
    assert SCREENSHOT.relative_to(REPO).as_posix() in top, "no runs-widget picture on top"
    assert SCREENSHOT.is_file(), (
        f"{SCREENSHOT} is missing: run tests/browser/test_readme_screenshot.py"
    )


@pytest.mark.slow
def test_the_quickstart_cells_run_in_a_fresh_kernel(project: Path) -> None:
    cells = quickstart_cells("README.md")
    magic_lines = [line for c in cells for line in c.splitlines() if line.startswith("%")]
    # one magic per cell, never a cell magic below a line magic
    assert all(c.count("%load_ext") + c.count("%%track") <= 1 for c in cells)
    assert all(not c.lstrip().startswith("%%") or c.startswith("%%") for c in cells)
    assert magic_lines
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(project)}}
    ).execute()
    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    runs = json.loads(cli(project, "runs", "--json").stdout)["runs"]
    names = {r["name"]: r for r in runs}
    assert {"rf-baseline", "depth-sweep"} <= set(names)
    assert names["rf-baseline"]["params"]["max_depth"] == 8
