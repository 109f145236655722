"""A failed tracked cell's traceback looks exactly like an untracked cell's: the user's frames
only, with the cell's own In[n]; the cell still fails (a real kernel, through nbclient)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import cli_json, run_env
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

ANSI = re.compile(r"\x1b\[[0-9;]*m")

pytestmark = pytest.mark.slow


def run_cells(project: Path, sources: list[str], monkeypatch: pytest.MonkeyPatch) -> list:
    for key, value in run_env(project).items():
        monkeypatch.setenv(key, value)
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(project)}},
    )
    client.execute()
    return nb.cells


def error_of(cell) -> dict:
    [error] = [o for o in cell.outputs if o.output_type == "error"]
    return error


def plain(traceback: list[str]) -> list[str]:
    return [ANSI.sub("", line) for line in traceback]


def test_tracked_and_untracked_tracebacks_have_the_same_shape(project, monkeypatch) -> None:
    cells = run_cells(
        project,
        [
            "%load_ext nb_mlops",
            "def f(x):\n    return 1 / x",
            "%%track --name boom\nvalue = 1\nf(0)",
            "value = 1\nf(0)",
            "print('not reached by a Run All')",
        ],
        monkeypatch,
    )
    tracked, untracked = plain(error_of(cells[2]).traceback), plain(error_of(cells[3]).traceback)
    assert cells[2].execution_count == 3 and cells[3].execution_count == 4
    assert any("Cell In[3], line 2" in line for line in tracked), tracked
    assert any("Cell In[4], line 2" in line for line in untracked), untracked
    normal = [line.replace("In[3]", "In[N]") for line in tracked]
    assert normal == [line.replace("In[4]", "In[N]") for line in untracked]
    text = "\n".join(tracked)
    for leak in ("run_cell_magic", "skipping hidden", "nb_mlops", "commands.py", "magics.py"):
        assert leak not in text, f"{leak!r} in the tracked cell's traceback:\n{text}"
    summary = [o for o in cells[2].outputs if o.output_type == "stream"]
    assert summary and "✗ run boom" in summary[0].text  # the summary comes first, in its cell
    assert cells[2].outputs.index(summary[0]) < cells[2].outputs.index(error_of(cells[2]))
    stored = cli_json(project, "show", "boom")["error"]["traceback"]
    assert stored.strip() == "\n".join(tracked).strip()  # as shown: no temp paths, none of ours
    assert "ipykernel" not in stored and "/tmp" not in stored


def test_a_tracked_cell_error_stops_execution(project, monkeypatch) -> None:
    nb = new_notebook(
        cells=[new_code_cell(s) for s in ("%load_ext nb_mlops", "%%track\n1 / 0", "x = 1")]
    )
    for key, value in run_env(project).items():
        monkeypatch.setenv(key, value)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(project)}}
    )
    with pytest.raises(Exception, match="ZeroDivisionError"):
        client.execute()
    assert nb.cells[2].get("execution_count") is None  # never ran
