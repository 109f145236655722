"""Notices in a notebook: the "created a store" line shows once, as a quiet note under the cell
that created the store, never as stderr (a real kernel, through nbclient)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from nb_mlops.notify import SINKS, notify, push_sink, remove_sink


def test_notices_go_to_stderr_without_a_sink(capsys: pytest.CaptureFixture[str]) -> None:
    notify("hello")
    assert capsys.readouterr().err == "nb-mlops: hello\n"


def test_a_pushed_sink_takes_notices_until_removed(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []
    push_sink(seen.append)
    try:
        notify("one")
    finally:
        remove_sink(seen.append)
    notify("two")
    assert seen == ["nb-mlops: one"] and capsys.readouterr().err == "nb-mlops: two\n"
    assert seen.append not in SINKS
    remove_sink(seen.append)  # removing twice is no error


@pytest.mark.slow
def test_the_store_notice_is_one_quiet_line_in_the_creating_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "fresh"
    project.mkdir()
    monkeypatch.setenv("NB_MLOPS_HOME", str(project / ".nbmlops"))
    nb = new_notebook(
        cells=[
            new_code_cell(s)
            for s in (
                "%load_ext nb_mlops",
                "import nb_mlops as nm\nnm.runs()",
                "%%track\nx = 1",
                "nm.runs()",
            )
        ]
    )
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(project)}}
    ).execute()
    notices = []
    for i, cell in enumerate(nb.cells):
        for out in cell.outputs:
            assert not (out.output_type == "stream" and out.name == "stderr"), (i, out.text)
            text = out.get("data", {}).get("text/plain", "") if "data" in out else ""
            if "created a store" in text:
                notices.append((i, out))
    assert len(notices) == 1, notices
    i, out = notices[0]
    assert out.output_type == "display_data" and "nbm-notice" in out.data["text/html"]
    assert (project / ".nbmlops").is_dir()
