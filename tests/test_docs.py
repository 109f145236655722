"""The design document tells the truth: its import graph is the code's."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _graph_module():
    spec = importlib.util.spec_from_file_location("import_graph", REPO / "docs" / "import_graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_architecture_graph_is_the_code_s() -> None:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    shown = re.search(r"```mermaid\n(.*?)\n```", text, re.DOTALL)
    assert shown is not None, "docs/architecture.md has no mermaid graph"
    assert shown.group(1) == _graph_module().mermaid(), (
        "docs/architecture.md's graph is stale: paste `.venv/bin/python docs/import_graph.py`"
    )


def test_every_arrow_points_down_a_floor() -> None:
    graph = _graph_module()
    floor_of = {u: int(f) for f, units in graph.FLOORS for u in units}
    for src, dst in graph.edges():
        assert floor_of[src] > floor_of[dst], f"{src} (floor {floor_of[src]}) imports {dst}"


def test_the_readme_links_the_design_document() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/architecture.md" in readme


def test_the_cheat_sheet_names_every_command() -> None:
    from nb_mlops.commands import COMMANDS

    text = (REPO / "docs" / "cheatsheet.md").read_text(encoding="utf-8")
    missing = [
        name for name in COMMANDS if f"%track {name}" not in text and f"nb-mlops {name}" not in text
    ]
    assert not missing, f"docs/cheatsheet.md does not name: {missing}"
