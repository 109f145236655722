"""What a run ran on: git state read from `.git` files, packages, env variables, system facts."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import nb_mlops as nm
from nb_mlops.redact import REDACTED
from nb_mlops.store.workspace import Workspace
from nb_mlops.tracking import environment
from nb_mlops.tracking.environment import (
    env_vars,
    git_dirty_async,
    git_info,
    package_versions,
    system_info,
)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    return env


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=_git_env(), capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def make_repo(path: Path) -> Path:
    """A repo with one commit on branch `main` holding `train.py`."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("print('hi')\n")
    git(path, "add", "train.py")
    git(path, "commit", "-q", "-m", "first")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


# --------------------------------------------------------------------------- git_info
def test_git_info_reads_commit_branch_and_root(repo: Path) -> None:
    info = git_info(repo)
    assert info == {"commit": git(repo, "rev-parse", "HEAD"), "branch": "main", "root": str(repo)}


def test_git_info_from_a_subfolder(repo: Path) -> None:
    sub = repo / "src" / "pkg"
    sub.mkdir(parents=True)
    info = git_info(sub)
    assert info is not None
    assert info["commit"] == git(repo, "rev-parse", "HEAD")
    assert info["root"] == str(repo)


def test_git_info_follows_a_second_commit_and_branch_switch(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature/x")
    (repo / "train.py").write_text("print('changed')\n")
    git(repo, "commit", "-q", "-am", "second")
    info = git_info(repo)
    assert info is not None
    assert info["branch"] == "feature/x"
    assert info["commit"] == git(repo, "rev-parse", "HEAD")


def test_git_info_detached_head(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "--detach")
    info = git_info(repo)
    assert info == {"commit": head, "branch": None, "root": str(repo)}


def test_git_info_packed_refs(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "-a", "v1", "-m", "annotated tag")  # adds a peeled ^ line to packed-refs
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert "refs/heads/main" in (repo / ".git" / "packed-refs").read_text()
    info = git_info(repo)
    assert info is not None
    assert info["commit"] == head
    assert info["branch"] == "main"


def test_git_info_unborn_branch(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    info = git_info(empty)
    assert info == {"commit": None, "branch": "main", "root": str(empty)}


def test_git_info_in_a_worktree_reads_commit_and_branch(repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(wt))
    assert (wt / ".git").is_file()
    (wt / "train.py").write_text("print('wt')\n")
    git(wt, "commit", "-q", "-am", "on feature")
    info = git_info(wt)
    assert info is not None
    assert info["commit"] == git(wt, "rev-parse", "HEAD")
    assert info["commit"] != git(repo, "rev-parse", "HEAD")
    assert info["branch"] == "feature"


def test_git_info_in_a_worktree_roots_at_the_worktree(repo: Path, tmp_path: Path) -> None:
    """`root` is the working tree (where `git status` runs), not `.git/worktrees`."""
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(wt))
    info = git_info(wt)
    assert info is not None
    assert info["root"] == str(wt)
    assert git_dirty_async(info["root"]).result(timeout=30) is False


def test_git_info_outside_a_repo_is_none(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_info(plain) is None


# --------------------------------------------------------------------------- dirty flag
def test_git_dirty_async_clean_then_modified(repo: Path) -> None:
    assert git_dirty_async(repo).result(timeout=30) is False
    (repo / "untracked.txt").write_text("not tracked: does not count")
    assert git_dirty_async(repo).result(timeout=30) is False
    (repo / "train.py").write_text("print('edited')\n")
    assert git_dirty_async(repo).result(timeout=30) is True


def test_git_dirty_async_outside_a_repo_is_unknown(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_dirty_async(plain).result(timeout=30) is None


def test_run_in_a_git_project_records_git_and_dirty(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")  # the test's cwd and store's root
    (repo / "train.py").write_text("print('edited')\n")
    with nm.start_run("git-run") as run:
        run._git_dirty.result(timeout=30)  # let the probe finish before the run ends
    git_doc = nm.workspace().catalog.get("runs", run.run_id)["env"]["git"]
    assert git_doc["commit"] == git(repo, "rev-parse", "HEAD")
    assert git_doc["branch"] == "main"
    assert git_doc["root"] == str(repo)
    assert git_doc["dirty"] is True
    assert "(dirty) on main" in str(nm.get_run(run.run_id))


def test_run_outside_git_records_no_git(ws: Workspace) -> None:
    with nm.start_run("no-git") as run:
        pass
    assert ws.catalog.get("runs", run.run_id)["env"]["git"] is None


# --------------------------------------------------------------------------- packages
def test_package_versions_lists_installed_packages_and_is_cached() -> None:
    first = package_versions()
    import pandas

    assert first["pandas"] == pandas.__version__
    assert "numpy" in first
    assert list(first) == sorted(first, key=str.lower)
    assert package_versions() is first


def test_package_versions_recomputed_when_a_sys_path_folder_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    first = package_versions()
    assert package_versions() is first
    dist = site / "fake_pkg_for_test-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-pkg-for-test\nVersion: 1.2.3\n"
    )
    os.utime(site, ns=(0, 10**18))  # make the folder's mtime change visibly
    second = package_versions()
    assert second is not first
    assert second["fake-pkg-for-test"] == "1.2.3"


# --------------------------------------------------------------------------- env vars
def test_env_vars_allowlist_prefix_and_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name in environment.ENV_ALLOWLIST or name.startswith("NB_MLOPS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv("NB_MLOPS_PROFILE", "ci")
    monkeypatch.setenv("NB_MLOPS_API_TOKEN", "t0k3n")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-xyz")
    monkeypatch.setenv("PATH_LIKE_THING", "/bin")
    monkeypatch.setenv("EXTRA_ONE", "1")
    monkeypatch.setenv("EXTRA_PASSWORD", "pw")
    assert env_vars() == {
        "CUDA_VISIBLE_DEVICES": "0,1",
        "NB_MLOPS_API_TOKEN": REDACTED,
        "NB_MLOPS_PROFILE": "ci",
        "OMP_NUM_THREADS": "4",
    }
    got = env_vars(["EXTRA_ONE", "EXTRA_PASSWORD", "NOT_SET_ANYWHERE"])
    assert got["EXTRA_ONE"] == "1"
    assert got["EXTRA_PASSWORD"] == REDACTED
    assert "NOT_SET_ANYWHERE" not in got
    assert list(got) == sorted(got)


def test_system_info_facts() -> None:
    info = system_info()
    assert set(info) == {"python", "implementation", "platform", "machine", "executable"}
    assert info["python"].count(".") == 2


def test_dirty_flag_arriving_after_a_fast_run_ends_is_still_recorded(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    (repo / "train.py").write_text("print('edited again')\n")
    with nm.start_run("quick") as run:
        pass  # ends at once, most likely before `git status` answers
    run._git_dirty.result(timeout=30)
    for _ in range(100):  # the callback writes right after the result is set
        doc = nm.workspace().catalog.get("runs", run.run_id)
        if "dirty" in doc["env"]["git"]:
            break
        time.sleep(0.02)
    assert doc["env"]["git"]["dirty"] is True
