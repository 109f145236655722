"""Replaying a record built here by hand: a seeded scikit-learn run reproduces, the same record
without its seed does not (the tier is named in advance), changed data and missing secrets stop
the replay before anything runs, and the user's store only gains the verdict run."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nb_mlops.records.record import RecordError, object_path, params_path
from nb_mlops.records.replay import (
    environment_differences,
    fill_secrets,
    kernel_env,
    reproduce,
    secret_variable,
)
from nb_mlops.store.workspace import Workspace, open_workspace

SECRET = "s3cret-value-42"
LOAD = """import numpy as np
from sklearn.ensemble import RandomForestClassifier
api_key = "[REDACTED]"
data = np.loadtxt("data/iris.csv", delimiter=",")
X, y = data[:, :4], data[:, 4].astype(int)"""
TRACK = """%%track -n fit{seed} --data data/iris.csv
n_estimators = 5
seed_drawn = np.random.randint(2**31 - 1)
model = RandomForestClassifier(n_estimators=n_estimators, random_state=seed_drawn).fit(X, y)
track.log(accuracy=model.score(X, y), draw=float(np.random.rand()), key_len=len(api_key))
track.model(model, "iris-clf")"""


@functools.lru_cache(maxsize=1)
def iris_csv() -> bytes:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    out = io.StringIO()
    np.savetxt(out, np.column_stack([X, y]), delimiter=",", fmt="%.1f")
    return out.getvalue().encode()


@functools.lru_cache(maxsize=2)
def original_run(csv: bytes) -> dict[str, Any]:
    """What the tracked cell gave in the original session (seed 0), computed here."""
    from sklearn.ensemble import RandomForestClassifier

    from nb_mlops.records.params import fitted_arrays, write_npz
    from nb_mlops.registry.fingerprint import fingerprint
    from nb_mlops.tracking.seeds import apply_seed

    data = np.loadtxt(io.BytesIO(csv), delimiter=",")
    X, y = data[:, :4], data[:, 4].astype(int)
    seeds = apply_seed(0)
    drawn = np.random.randint(2**31 - 1)
    model = RandomForestClassifier(n_estimators=5, random_state=drawn).fit(X, y)
    metrics = {
        "accuracy": model.score(X, y),
        "draw": float(np.random.rand()),
        "key_len": len(SECRET),
    }
    npz = io.BytesIO()
    write_npz(fitted_arrays(model), npz)
    return {"metrics": metrics, "fingerprint": fingerprint(model), "npz": npz.getvalue(), **seeds}


def build_record(
    path: Path, *, seed: bool = True, csv: bytes | None = None, included: bool = True
) -> Path:
    """A record of run `fit` (3 cells: load the extension, load data and a secret, train and
    register a seeded forest), with its data included, written as export would."""
    csv = iris_csv() if csv is None else csv
    original = original_run(iris_csv())
    cells = [
        ("%load_ext nb_mlops", "ok"),
        (LOAD, "ok"),
        (TRACK.format(seed=" --seed 0" if seed else ""), "ok"),
    ]
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{i}",
                "metadata": {"nbmlops": {"execution_count": i, "status": status}},
                "outputs": [],
                "source": source,
            }
            for i, (source, status) in enumerate(cells, 1)
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    md5 = hashlib.md5(iris_csv()).hexdigest()
    fp = original["fingerprint"]
    files = {
        "notebook.ipynb": json.dumps(notebook).encode(),
        "environment/requirements.txt": b"numpy==0.0.1\n",
        params_path("iris-clf", 1): original["npz"],
    }
    if included:
        files[object_path(md5)] = csv
    metrics = original["metrics"]
    run = {
        "run_id": "orig0001",
        "name": "fit",
        "experiment": "Default",
        "status": "finished",
        "start": None,
        "end": None,
        "params": {"n_estimators": 5},
        "metrics": metrics,
        "tags": {},
        "seeds": {"random": 0, "numpy": 0},
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
                "name": "fit",
                "params": {"n_estimators": 5},
                "metrics": metrics,
                "artifacts": [],
                "models": [{"name": "iris-clf", "version": 1, "fingerprint": fp}],
            }
        ],
        "determinism": {
            "PYTHONHASHSEED": "0",
            "threads": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": None},
            "seed": 0 if seed else None,
            "seeds": {"random": 0, "numpy": 0} if seed else {},
        },
        "environment": {
            "python": "3.0.1",
            "implementation": "CPython",
            "platform": "Elsewhere-1.0",
            "machine": "x86_64",
            "packages": {"numpy": "0.0.1"},
        },
        "git": None,
        "data": [
            {
                "path": "data/iris.csv",
                "version": 1,
                "md5": md5,
                "isdir": False,
                "files": [{"relpath": "iris.csv", "md5": md5, "size": len(csv)}],
                "included": included,
            }
        ],
        "artifacts": [],
        "models": [
            {
                "run": "fit",
                "name": "iris-clf",
                "version": 1,
                "flavor": "sklearn",
                "fingerprint": fp,
                "params": params_path("iris-clf", 1),
            }
        ],
        "cells": {"notebook": "notebook.ipynb", "count": 3, "session": None, "hidden_state": []},
        "secrets": ["api_key"],
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


def user_state(ws: Workspace) -> dict[str, Any]:
    """What a replay must never add to the user's store: models, aliases, snapshots."""
    return {t: sorted(ws.catalog.docs(t)) for t in ("models", "aliases", "snapshots")}


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(secret_variable("api_key"), SECRET)


# ------------------------------------------------------------------------- with a kernel
@pytest.mark.slow
def test_a_seeded_record_reproduces_and_the_verdict_is_kept_here(
    tmp_path: Path, ws: Workspace, secret: None
) -> None:
    record = build_record(tmp_path / "fit.zip")
    before = user_state(ws)
    work = tmp_path / "work"
    verdict = reproduce(ws, record, workdir=work, yes=True)
    assert verdict.tier in ("bitwise-identical", "identical-parameters"), verdict.to_text()
    assert verdict.tier == "bitwise-identical", verdict.differences
    assert verdict.differences == []
    # the recorded environment differs from this one, and the verdict says how
    assert f"python 3.0.1 -> {sys.version.split()[0]}" in verdict.environment
    assert any(line.startswith("package numpy 0.0.1 -> ") for line in verdict.environment)
    # the replay ran in its own store, in the work folder, with the data restored by hash
    replay_ws = open_workspace(work / ".nbmlops")
    assert [d["name"] for d in replay_ws.catalog.docs("runs").values()] == ["fit"]
    assert sorted(replay_ws.catalog.docs("models")) == ["iris-clf/1"]
    assert (work / "data" / "iris.csv").read_bytes() == iris_csv()
    # the secret reached the kernel (its length is logged), but the kept notebook has it nowhere
    assert verdict.metrics["key_len"] == {"recorded": len(SECRET), "replayed": len(SECRET)}
    executed = (work / ".replay" / "executed.ipynb").read_text()
    assert SECRET not in executed and "[REDACTED]" in executed
    # the user's store: no model, alias or snapshot from the replay; one verdict run
    assert user_state(ws) == before
    runs = list(ws.catalog.docs("runs").values())
    assert [r["name"] for r in runs] == ["reproduce-fit"]
    kept = runs[0]
    assert kept["run_id"] == verdict.verdict_run
    assert kept["tags"]["nbmlops.kind"] == "reproduction"
    assert kept["tags"]["reproduces"].startswith("sha256:")  # the original is not in this store
    assert kept["tags"]["record.run_id"] == "orig0001"
    assert kept["params"]["tier"] == "bitwise-identical"
    assert kept["metrics"]["accuracy"] == verdict.metrics["accuracy"]["replayed"]
    assert kept["metrics"]["differences"] == 0.0
    assert kept["status"] == "finished"


@pytest.mark.slow
def test_without_its_seed_the_record_is_not_reproduced(
    tmp_path: Path, ws: Workspace, secret: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Named in advance: without --seed the forest's random_state is drawn afresh, so its
    fingerprint and arrays differ and the `draw` metric is far off: not-reproduced."""
    import tempfile

    record = build_record(tmp_path / "fit.zip", seed=False)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    verdict = reproduce(ws, record, yes=True)  # in a temporary folder, removed afterwards
    assert verdict.tier == "not-reproduced", verdict.to_text()
    assert verdict.workdir is None and not any((tmp_path / "tmp").iterdir())
    diffs = verdict.differences
    assert any(d.startswith("model iris-clf: fingerprint ") for d in diffs), diffs
    assert any(d.startswith("metric draw: ") and d.endswith("(rtol 0.001)") for d in diffs)
    # the parameter tier was tried on the arrays the replay's own kernel wrote
    assert any(d.startswith("model iris-clf: array ") for d in diffs), diffs
    assert ws.catalog.docs("runs")[verdict.verdict_run]["params"]["tier"] == "not-reproduced"


# ----------------------------------------------------------------- refused before running
def test_a_changed_data_file_is_caught_by_hash_before_execution(
    tmp_path: Path, ws: Workspace, secret: None
) -> None:
    """The data object in the record was changed (and its sha256 in the manifest with it, so
    the zip itself checks out): its md5 no longer matches, and nothing runs."""
    changed = iris_csv().replace(b"5.1", b"9.9", 1)
    record = build_record(tmp_path / "fit.zip", csv=changed)
    asked: list[str] = []
    work = tmp_path / "work"
    with pytest.raises(RecordError, match=r"data data/iris\.csv could not be restored") as err:
        reproduce(ws, record, workdir=work, confirm=lambda s: asked.append(s) or True)
    assert "corrupt" in str(err.value) and "\n" not in str(err.value)
    assert asked == []  # refused before the question, so before anything ran
    assert not work.exists()
    assert ws.catalog.docs("runs") == {}


def test_data_not_in_the_record_comes_from_this_cache_or_a_remote(
    tmp_path: Path, ws: Workspace, secret: None
) -> None:
    """Restored by hash before the question is asked: from this store's cache when it has the
    object, else from the remote named (a URL here), else refused naming the data."""
    from nb_mlops.store.objects import ObjectStore

    record = build_record(tmp_path / "fit.zip", included=False)

    def no(summary: str) -> bool:  # refuse to run: only the restore is wanted
        return False

    with pytest.raises(RecordError, match=r"data data/iris\.csv is not in the record nor in"):
        reproduce(ws, record, workdir=tmp_path / "w0", confirm=no)
    assert not (tmp_path / "w0").exists()

    remote = tmp_path / "remote"
    ObjectStore(remote).add_bytes(iris_csv())
    (tmp_path / "w1").mkdir()  # given, empty: kept after the refusal, with what was restored
    with pytest.raises(RecordError, match="was not confirmed"):
        reproduce(ws, record, workdir=tmp_path / "w1", remote=str(remote), confirm=no)
    assert (tmp_path / "w1" / "data" / "iris.csv").read_bytes() == iris_csv()

    (tmp_path / "data.csv").write_bytes(iris_csv())
    ws.objects.add(tmp_path / "data.csv")
    (tmp_path / "w2").mkdir()
    with pytest.raises(RecordError, match="was not confirmed"):
        reproduce(ws, record, workdir=tmp_path / "w2", confirm=no)
    assert (tmp_path / "w2" / "data" / "iris.csv").read_bytes() == iris_csv()


def test_a_missing_secret_is_named_before_execution(
    tmp_path: Path, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(secret_variable("api_key"), raising=False)
    record = build_record(tmp_path / "fit.zip")
    with pytest.raises(RecordError, match=r"set NB_MLOPS_SECRET_API_KEY to replay them"):
        reproduce(ws, record, yes=True)
    assert ws.catalog.docs("runs") == {}


def test_running_needs_yes_or_a_confirmation(tmp_path: Path, ws: Workspace, secret: None) -> None:
    record = build_record(tmp_path / "fit.zip")
    with pytest.raises(RecordError, match=r"pass yes=True \(--yes\)"):
        reproduce(ws, record)
    asked: list[str] = []

    def no(summary: str) -> bool:
        asked.append(summary)
        return False

    with pytest.raises(RecordError, match="was not confirmed"):
        reproduce(ws, record, workdir=tmp_path / "work", confirm=no)
    assert len(asked) == 1 and "\n" not in asked[0]
    assert "runs its 3 recorded cell(s) in a fresh kernel" in asked[0]
    assert "data restored by hash: data/iris.csv" in asked[0]
    assert "NB_MLOPS_SECRET_API_KEY" in asked[0] and SECRET not in asked[0]
    assert ws.catalog.docs("runs") == {}


def test_a_work_folder_that_holds_anything_is_refused(tmp_path: Path, ws: Workspace) -> None:
    record = build_record(tmp_path / "fit.zip")
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.txt").write_text("keep")
    with pytest.raises(RecordError, match="is not empty"):
        reproduce(ws, record, workdir=work, yes=True)
    assert (work / "mine.txt").read_text() == "keep"


def test_a_lock_with_pip_options_is_refused(tmp_path: Path, ws: Workspace, secret: None) -> None:
    from nb_mlops.records import replay

    req = tmp_path / "requirements.txt"
    req.write_text("numpy==2.0.0\nnb-mlops==0.1.0\n\n# a comment\n")
    assert replay.read_requirements(req) == ["numpy==2.0.0"]  # nb-mlops comes from here
    for bad in (
        "--index-url http://elsewhere/simple",
        "numpy>=1",
        "-r /etc/passwd",
        "x @ http://y",
    ):
        req.write_text(f"numpy==2.0.0\n{bad}\n")
        with pytest.raises(RecordError, match=r"line 2: .* is not NAME==VERSION"):
            replay.read_requirements(req)


# ------------------------------------------------------------------------------ the parts
def test_secrets_are_filled_where_the_placeholder_is_assigned() -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            'api_key = "[REDACTED]"\n'
            'opts = {"api_key": "[REDACTED]"}\n'
            "os.environ['HF_TOKEN'] = '[REDACTED]'\n"
            'client(api_key="[REDACTED]", other="[REDACTED]")\n'
            'self.api_key: str = b"[REDACTED]"\n'
            "!deploy --HF_TOKEN [REDACTED] --x 1\n"
            'other = "[REDACTED]"'
        ),
        nbformat.v4.new_markdown_cell('api_key = "[REDACTED]"'),
    ]
    filled = fill_secrets(nb, ["api_key", "HF_TOKEN"], {"api_key": "k'1", "HF_TOKEN": "t 2"})
    assert filled.cells[0].source == (
        'api_key = "k\'1"\n'
        'opts = {"api_key": "k\'1"}\n'
        "os.environ['HF_TOKEN'] = 't 2'\n"
        'client(api_key="k\'1", other="[REDACTED]")\n'
        'self.api_key: str = b"k\'1"\n'
        "!deploy --HF_TOKEN 't 2' --x 1\n"
        'other = "[REDACTED]"'
    )
    assert filled.cells[1].source == 'api_key = "[REDACTED]"'  # markdown is not code
    assert nb.cells[0].source.count("[REDACTED]") == 8  # the record's notebook is unchanged
    assert secret_variable("hf-token.v2") == "NB_MLOPS_SECRET_HF_TOKEN_V2"


def test_cell_outcomes_are_compared_with_the_recorded_ones() -> None:
    import nbformat

    from nb_mlops.records.replay import cell_failures, hide_secrets

    def code(status: str, error: str | None = None) -> Any:
        cell = nbformat.v4.new_code_cell("x", metadata={"nbmlops": {"status": status}})
        if error:
            cell.outputs = [
                nbformat.v4.new_output("error", ename=error, evalue="bad", traceback=[])
            ]
        return cell

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        code("ok"),
        code("error", "NameError"),  # failed then, fails now: as recorded
        code("ok", "ValueError"),
        code("error"),
        code("added"),
        code("ok"),
    ]
    assert cell_failures(nb, ran=5) == [
        "cell 3 failed: ValueError: bad",
        "cell 4 ran without error; it had ended error when recorded",
        "cell 6 was not run",
    ]
    assert hide_secrets("token tok-123 sent", {"t": "tok-123"}) == "token [REDACTED] sent"


def test_environment_differences_name_python_and_packages() -> None:
    recorded = {"python": "3.10.1", "platform": "A", "packages": {"NumPy": "1.0", "gone": "2"}}
    current = {"python": "3.11.7", "platform": "A", "packages": {"numpy": "1.1", "new_pkg": "3"}}
    assert environment_differences(recorded, current) == [
        "python 3.10.1 -> 3.11.7",
        "package NumPy 1.0 -> 1.1",
        "package gone 2 is not installed here",
        "package new_pkg 3 is installed here only",
    ]
    many = {"packages": {f"p{i}": "1" for i in range(100)}}
    lines = environment_differences(many, {"packages": {}})
    assert len(lines) == 40 and lines[-1] == "and 61 more environment differences"


def test_the_kernel_gets_its_own_store_replay_mode_and_recorded_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nb_mlops.records.replay import Replay

    monkeypatch.setenv("PYTHONHASHSEED", "123")
    monkeypatch.setenv("NB_MLOPS_SECRET_X", "hidden")
    replay = Replay(tmp_path / "w")
    env = kernel_env({"PYTHONHASHSEED": None, "threads": {"OMP_NUM_THREADS": 2}}, replay, None)
    assert env["NB_MLOPS_HOME"] == str(tmp_path / "w" / ".nbmlops")
    assert env["NB_MLOPS_REPLAY"] == "1"
    assert "PYTHONHASHSEED" not in env  # recorded as unset: random, as it was
    assert env["OMP_NUM_THREADS"] == "2"
    assert "NB_MLOPS_SECRET_X" not in env
    venv = kernel_env({"PYTHONHASHSEED": "0", "threads": {}}, replay, tmp_path / "v/bin/python")
    assert venv["PYTHONHASHSEED"] == "0"
    assert venv["PATH"].split(os.pathsep)[0] == str(tmp_path / "v/bin")


@pytest.mark.slow
def test_env_runs_the_kernel_from_the_built_environment(
    tmp_path: Path, ws: Workspace, secret: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`env=True` runs the kernel from the environment build_venv gives. Installing a real lock
    takes a minute or more here (pip), so the build is stood in for by a new venv whose path
    holds this one's packages; the lock's checks, the kernel spec and the environment probe
    are real."""
    import sysconfig

    from nb_mlops.records import replay

    built: list[list[str]] = []

    def fake_build(rp: replay.Replay, requirements: list[str]) -> Path:
        built.append(requirements)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(rp.venv)], check=True)
        python = rp.venv / "bin" / "python"
        purelib = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        Path(purelib, "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        replay.link_nb_mlops(rp, python)  # as the real build does
        return python

    monkeypatch.setattr(replay, "build_venv", fake_build)
    record = build_record(tmp_path / "fit.zip")
    work = tmp_path / "work"
    verdict = reproduce(ws, record, workdir=work, env=True, yes=True)
    assert built == [["numpy==0.0.1"]]
    assert verdict.tier == "bitwise-identical", verdict.to_text()
    assert ws.catalog.docs("runs")[verdict.verdict_run]["params"]["env"] is True
    replay_ws = open_workspace(work / ".nbmlops")
    (run,) = replay_ws.catalog.docs("runs").values()
    assert run["env"]["vars"]["VIRTUAL_ENV"] == str(work / ".replay" / "venv")


# ------------------------------------------------------------------- hooks and push are off
def test_replay_mode_turns_deploy_hooks_and_push_off(
    tmp_path: Path, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.linear_model import LogisticRegression

    from nb_mlops.data.remote import add_remote
    from nb_mlops.data.snapshot import snapshot
    from nb_mlops.data.sync import push
    from nb_mlops.registry.aliases import set_alias
    from nb_mlops.registry.hooks import add_command
    from nb_mlops.registry.versions import register

    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    register(ws, "m", model)
    register(ws, "m", model)
    deployed = tmp_path / "deployed"
    add_command(ws, "m", f"touch {deployed}")
    (ws.root / "d.csv").write_text("a\n1\n")
    snapshot(ws, ws.root / "d.csv")
    add_remote(ws, "origin", str(tmp_path / "remote"))
    (tmp_path / "remote").mkdir()

    monkeypatch.setenv("NB_MLOPS_REPLAY", "1")
    move = set_alias(ws, "m", "production", 1)
    assert move.to_version == 1 and move.hooks == [] and not deployed.exists()
    result = push(ws, progress=False)
    assert result.notes == ["push is off while replaying a record"]
    assert not any((tmp_path / "remote").iterdir())

    monkeypatch.delenv("NB_MLOPS_REPLAY")
    set_alias(ws, "m", "production", 2)
    assert deployed.exists()
    push(ws, progress=False)
    assert any((tmp_path / "remote").iterdir())
