"""Print the package-level import graph of nb_mlops as a Mermaid diagram.

Usage: `.venv/bin/python docs/import_graph.py`. docs/architecture.md holds its output, and
tests/test_docs.py checks that the two still agree, so the picture never drifts from the code.
An arrow `A --> B` means some module of A imports some module of B (lazy imports included);
the small helpers every floor uses (the ground floor) are left out to keep the picture legible.
"""

from __future__ import annotations

import grimp

FLOORS = [
    ("8", ["notebook", "cli", "server"]),
    ("7", ["commands"]),
    ("6", ["api"]),
    ("5", ["evals", "monitor", "records", "sync"]),
    ("4", ["registry"]),
    ("3", ["data"]),
    ("2", ["tracking"]),
    ("1", ["store"]),
]


def unit(module: str) -> str | None:
    """The floor unit a module belongs to (`tracking`, `api`, ...), None for ground helpers."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    name = parts[1]
    known = {u for _, units in FLOORS for u in units} | {"__main__"}
    if name == "__main__":
        return "cli"
    return name if name in known else None


def edges() -> list[tuple[str, str]]:
    """(importer unit, imported unit) pairs, sorted, between different units."""
    graph = grimp.build_graph("nb_mlops", include_external_packages=False, cache_dir=None)
    found = set()
    for module in graph.modules:
        src = unit(module)
        if src is None:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            dst = unit(imported)
            if dst is not None and dst != src:
                found.add((src, dst))
    return sorted(found)


def mermaid() -> str:
    lines = ["flowchart TD"]
    for floor, units in FLOORS:
        lines.append(f"  subgraph floor{floor}[floor {floor}]")
        lines += [f"    {u}" for u in units]
        lines.append("  end")
    lines += [f"  {a} --> {b}" for a, b in edges()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(mermaid())
