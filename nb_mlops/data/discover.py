"""Finding every dataset of the project by its `.dvc` file, as `dvc status` finds them.

A fresh clone has the `.dvc` files from git and an empty store: `status`, `push` and `pull`
must see every dataset all the same, not only those this store has read. The walk goes down from
the workspace root with the project's ignore rules (dvcignore.py: `.dvcignore` files, `.git`,
`.hg` and `.dvc` folders) and prunes what cannot hold a dataset of this project, so it stays
fast on a big project:

- a folder `dvc add` leaves out (ignored, or a DVC project of its own: it has its own datasets);
- the store, and a folder holding a store of its own (another nb-mlops workspace);
- a dataset's own folder (`data/` beside `data.dvc`: no dataset lies inside another);
- virtual environments (a folder holding `pyvenv.cfg` or `conda-meta`) and tool caches
  (`node_modules`, `__pycache__`, `.ipynb_checkpoints`, `.tox`, `.nox`, `.mypy_cache`,
  `.pytest_cache`, `.ruff_cache`);
- links to folders (never followed, as DVC never follows them).
"""

from __future__ import annotations

import os
from pathlib import Path

from nb_mlops.data.dvcignore import (
    DVC_DIR,
    IgnoreRules,
    join,
    list_folder,
    rules_for,
)
from nb_mlops.errors import StoreError
from nb_mlops.store.layout import STORE_DIRNAME

SKIPPED_NAMES = frozenset(
    {
        "node_modules",
        "__pycache__",
        ".ipynb_checkpoints",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        STORE_DIRNAME,
    }
)
"""Folders never searched for `.dvc` files."""

ENVIRONMENT_MARKERS = ("pyvenv.cfg", "conda-meta")
"""A folder holding one of these is a Python environment, never searched."""

_SUFFIX = ".dvc"


def dvcfile_datasets(ws_root: Path) -> list[str]:
    """The dataset paths (relative to `ws_root`, `/`-separated, sorted) named by `.dvc` files.

    The workspace root is taken as the project's root (the rules of its `.dvcignore` apply).
    """
    root = Path(ws_root)
    found: list[str] = []
    stack: list[tuple[str, str, IgnoreRules]] = [(str(root), "", rules_for(root, ""))]
    while stack:
        path, here, rules = stack.pop()
        try:
            dirs, files = list_folder(path)
        except StoreError:
            if not here:
                raise
            continue  # a folder this user cannot read holds no dataset of theirs (dvc skips it)
        names = {e.name for e in dirs} | {e.name for e in files}
        if here and (STORE_DIRNAME in names or any(m in names for m in ENVIRONMENT_MARKERS)):
            continue  # another workspace, or a Python environment
        datasets = set()
        for entry in files:
            name = entry.name
            if len(name) <= len(_SUFFIX) or not name.endswith(_SUFFIX) or not entry.is_file():
                continue
            if rules.ignored_by(join(here, name), False) is None:
                datasets.add(name[: -len(_SUFFIX)])
        found += [join(here, d) for d in datasets]
        for entry in dirs:
            name = entry.name
            if entry.is_symlink() or name in SKIPPED_NAMES or name in datasets:
                continue
            inner = join(here, name)
            if rules.ignored_by(inner, True) is not None:
                continue
            if os.path.lexists(os.path.join(entry.path, DVC_DIR)):
                continue  # a DVC project of its own
            stack.append((entry.path, inner, rules.with_file(root, inner)))
    return sorted(found)
