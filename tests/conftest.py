"""Shared fixtures: every test runs in its own temporary store, never the user's or the repo's."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import nb_mlops
from nb_mlops import api
from nb_mlops.store.workspace import Workspace, forget_open_workspaces, open_workspace
from nb_mlops.tracking import active


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Each test: cwd = a fresh project folder, NB_MLOPS_HOME = its .nbmlops, no pinned store,
    no background checkpoint refresh."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("NB_MLOPS_HOME", str(project / ".nbmlops"))
    # no detached checkpoint refreshes outliving the test (test_checkpoint turns one on)
    monkeypatch.setenv("NB_MLOPS_CHECKPOINT_REFRESH", "0")
    api.reset()
    forget_open_workspaces()
    yield
    for run in reversed(active.active_runs()):
        run.end("finished")
    api.reset()
    forget_open_workspaces()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project folder the test runs in (the cwd)."""
    return tmp_path / "project"


@pytest.fixture
def ws(project: Path) -> Workspace:
    """The test's store, created."""
    return open_workspace(project / ".nbmlops")


@pytest.fixture
def ip():
    """A real IPython shell with nb_mlops loaded; unloaded afterwards."""
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    shell.run_line_magic("load_ext", "nb_mlops")
    yield shell
    shell.run_line_magic("unload_ext", "nb_mlops")


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory):
    """A local S3-compatible server (moto from .venv-moto), started once for the session."""
    from store.moto_s3 import moto_session

    yield from moto_session(tmp_path_factory.mktemp("moto"))


@pytest.fixture
def s3(moto, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A fresh bucket on the moto server, the AWS environment pointed at fake credentials."""
    from store.moto_s3 import new_bucket

    return new_bucket(moto, monkeypatch, tmp_path)


def cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    """`nb-mlops ARGS...` in a subprocess, in the project folder and the test's store."""
    return subprocess.run(
        [sys.executable, "-m", "nb_mlops", *args],
        cwd=project,
        env=run_env(project),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def cli_json(project: Path, *args: str) -> Any:
    """`nb-mlops ARGS... --json`, which must succeed, parsed."""
    out = cli(project, *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def run_env(project: Path) -> dict[str, str]:
    """Environment for a subprocess that must use the test's store."""
    env = dict(os.environ)
    env["NB_MLOPS_HOME"] = str(project / ".nbmlops")
    return env


def on_small_tmpfs(
    folder: Path, code: str, *, size: str = "64k", cwd: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run Python `code` (with `folder` as sys.argv[1]) in a subprocess that sees a tmpfs of
    `size` mounted at `folder`: a real full disk (root only: `unshare -m`, which CI has)."""
    return subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            f'mount -t tmpfs -o size={size} tmpfs "$1" && exec "$2" -c "$3" "$1"',
            "sh",
            str(folder),
            sys.executable,
            code,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


__all__ = ["cli", "cli_json", "nb_mlops", "on_small_tmpfs", "run_env"]


def sanitized(markup: str) -> str:
    """The text a strict public notebook viewer leaves readable: nh3's default rules (no <style>,
    no style attributes, no <svg>), then the tags dropped and runs of spaces folded."""
    import nh3

    text = re.sub(r"<[^>]+>", " ", nh3.clean(markup))
    return re.sub(r"\s+", " ", html.unescape(text))


def spawn(script: Path, *args: str, home: Path | None = None) -> subprocess.Popen:
    """Start `python script args...` (with NB_MLOPS_HOME = `home` when given), pipes text."""
    env = dict(os.environ)
    if home is not None:
        env["NB_MLOPS_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, procs: list[subprocess.Popen], timeout: float = 30.0) -> None:
    """Wait until `path` exists; fail when one of `procs` exits first or after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        for p in procs:
            if p.poll() is not None:
                _, err = p.communicate()
                pytest.fail(f"a process exited early ({p.returncode}) before {path.name}:\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {path.name} after {timeout} s")
        time.sleep(0.01)
