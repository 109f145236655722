"""`reproduce(..., env=True)` for real: pip installs the recorded lock into a new venv, the
replay's kernel runs from it, and the record reproduces.

One test, slow (pip reaches the package index; its cache makes a second run quicker). The record
is built by hand as export writes it: `%load_ext nb_mlops` and a seeded `%%track` cell that logs
statistics of draws from Python's `random`. Its lock is the smallest set of pins with which
that kernel loads nb-mlops and runs the cell without a warning (build_venv adds ipykernel), plus
`six` at a version this environment does not have, which the cells never import: finding it
at the recorded version in the kernel's own package list shows the lock was installed and the
kernel ran from it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import random
import statistics
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pytest

from nb_mlops.records.replay import reproduce
from nb_mlops.store.workspace import Workspace, open_workspace

PINNED = "six"
PINNED_VERSION = "1.16.0"
NEEDED = {"tinydb": "4.9.0"}
"""Found by trying, at this .venv's versions: in a venv holding ipykernel and its dependencies
alone (psutil among them), `%load_ext nb_mlops` and the `%%track` cell below need tinydb (the
catalog) and nothing else; without it the cell fails with "No module named 'tinydb'"."""
LOCK = {**NEEDED, PINNED: PINNED_VERSION}
N = 1000
CELLS = [
    "%load_ext nb_mlops",
    f"""%%track -n draws --seed 0
import random, statistics
n = {N}
draws = [random.random() for _ in range(n)]
track.log(mean=statistics.fmean(draws), spread=statistics.pstdev(draws), first=draws[0])""",
]


def recorded_metrics() -> dict[str, float]:
    """What the tracked cell logs after `--seed 0` seeded Python's `random` with 0."""
    rng = random.Random(0)
    draws = [rng.random() for _ in range(N)]
    return {
        "mean": statistics.fmean(draws),
        "spread": statistics.pstdev(draws),
        "first": draws[0],
    }


def build_record(path: Path) -> Path:
    """A record of run `draws` whose environment is this Python's with the lock's packages."""
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{i}",
                "metadata": {"nbmlops": {"execution_count": i, "status": "ok"}},
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(CELLS, 1)
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    lock = "".join(f"{name}=={ver}\n" for name, ver in sorted(LOCK.items()))
    files = {
        "notebook.ipynb": json.dumps(notebook).encode(),
        "environment/requirements.txt": lock.encode(),
    }
    metrics = recorded_metrics()
    run = {
        "run_id": "orig0001",
        "name": "draws",
        "experiment": "Default",
        "status": "finished",
        "start": None,
        "end": None,
        "params": {"n": N},
        "metrics": metrics,
        "tags": {},
        "seeds": {"random": 0},
        "children": [],
    }
    manifest = {
        "format": 1,
        "kind": "nb-mlops-record",
        "written_by": "test",
        "created": "2025-01-01T00:00:00Z",
        "run": run,
        "runs": [
            {
                "run_id": "orig0001",
                "name": "draws",
                "params": {"n": N},
                "metrics": metrics,
                "artifacts": [],
                "models": [],
            }
        ],
        "determinism": {
            "PYTHONHASHSEED": "0",
            "threads": {"OMP_NUM_THREADS": "1"},
            "seed": 0,
            "seeds": {"random": 0},
        },
        "environment": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "packages": dict(LOCK),
        },
        "git": None,
        "data": [],
        "artifacts": [],
        "models": [],
        "cells": {
            "notebook": "notebook.ipynb",
            "count": len(CELLS),
            "session": None,
            "hidden_state": [],
        },
        "secrets": [],
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in files.items()
        },
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("record.json", json.dumps(manifest))
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def this_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_env_installs_the_lock_and_runs_the_kernel_from_it(tmp_path: Path, ws: Workspace) -> None:
    assert this_version(PINNED) != PINNED_VERSION  # else the pin would prove nothing
    record = build_record(tmp_path / "draws.zip")
    work = tmp_path / "work"
    verdict = reproduce(ws, record, workdir=work, env=True, yes=True)

    # seeded `random` in the same Python: the same draws, so the same metrics to the bit
    assert verdict.tier == "bitwise-identical", verdict.to_text()
    assert verdict.differences == []
    assert verdict.metrics["first"] == {
        "recorded": recorded_metrics()["first"],
        "replayed": recorded_metrics()["first"],
    }
    assert ws.catalog.docs("runs")[verdict.verdict_run]["params"]["env"] is True

    # the cells ran without an error and without a warning on stderr (a missing dependency of
    # nb-mlops shows there when the history cannot be recorded)
    executed = json.loads((work / ".replay" / "executed.ipynb").read_text(encoding="utf-8"))
    outputs = [o for cell in executed["cells"] for o in cell.get("outputs", [])]
    assert [o for o in outputs if o["output_type"] == "error" or o.get("name") == "stderr"] == []

    # the kernel ran from the new venv: the replayed run's environment, written by the kernel,
    # names the venv's interpreter and holds the pinned package at the recorded version
    venv = work / ".replay" / "venv"
    replay_ws = open_workspace(work / ".nbmlops")
    (run,) = replay_ws.catalog.docs("runs").values()
    env: dict[str, Any] = json.loads(replay_ws.objects.read_bytes(run["env"]["packages"]))
    assert Path(env["system"]["executable"]).parent == venv / "bin"
    assert run["env"]["vars"]["VIRTUAL_ENV"] == str(venv)
    assert env["packages"][PINNED] == PINNED_VERSION
    for name, ver in NEEDED.items():
        assert env["packages"][name] == ver
    # and the verdict's environment lines compare the record with that venv: the lock matched
    assert not any(
        line.startswith(("python ", "package ")) and " -> " in line for line in verdict.environment
    ), verdict.environment
    assert not any(f"package {PINNED} " in line for line in verdict.environment)
