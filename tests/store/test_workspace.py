"""Finding, creating, versioning, migrating and refusing the `.nbmlops` store."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from tinydb import TinyDB
from tinydb.storages import JSONStorage

from nb_mlops._version import __version__
from nb_mlops.errors import StoreError, StoreVersionError
from nb_mlops.store import workspace as wsmod
from nb_mlops.store.workspace import (
    FORMAT,
    Workspace,
    default_home,
    find_home,
    forget_open_workspaces,
    open_workspace,
)


def _no_store_or_git_above(path: Path) -> bool:
    return not any(
        (p / ".nbmlops").exists() or (p / ".git").exists() for p in (path, *path.parents)
    )


# ------------------------------------------------------------------------------- finding
def test_find_home_walks_up_from_a_subfolder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NB_MLOPS_HOME")
    root = tmp_path / "proj"
    (root / ".nbmlops").mkdir(parents=True)
    deep = root / "a" / "b" / "c"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_home() == root / ".nbmlops"
    assert find_home(root / "a") == root / ".nbmlops"
    # the nearest store wins
    (root / "a" / ".nbmlops").mkdir()
    assert find_home() == root / "a" / ".nbmlops"
    ws = open_workspace()
    assert ws.home == root / "a" / ".nbmlops"
    assert ws.root == root / "a"


def test_find_home_ignores_a_file_named_like_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NB_MLOPS_HOME")
    root = tmp_path / "proj"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / ".nbmlops").write_text("not a folder")
    (root / ".nbmlops").mkdir()
    assert find_home(root / "sub") == root / ".nbmlops"


def test_find_home_is_none_without_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NB_MLOPS_HOME")
    if not _no_store_or_git_above(tmp_path):
        pytest.skip(f"a .nbmlops or .git exists above {tmp_path}")
    monkeypatch.chdir(tmp_path)
    assert find_home() is None
    with pytest.raises(StoreError, match=r"no \.nbmlops store here"):
        open_workspace(create=False)
    assert not (tmp_path / ".nbmlops").exists()


def test_nb_mlops_home_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "proj"
    (root / ".nbmlops").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere" / "store"
    monkeypatch.chdir(root)
    monkeypatch.setenv("NB_MLOPS_HOME", str(elsewhere))
    assert find_home() == elsewhere
    assert default_home() == elsewhere
    ws = open_workspace()
    assert ws.home == elsewhere
    assert (elsewhere / "format.json").is_file()
    assert not (root / ".nbmlops" / "format.json").exists()


def test_nb_mlops_home_expands_the_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NB_MLOPS_HOME", "~/stores/x")
    assert find_home() == tmp_path / "stores" / "x"


def test_default_home_is_the_git_root_inside_a_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NB_MLOPS_HOME")
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True, capture_output=True)
    assert (repo / ".git").is_dir()
    sub = repo / "notebooks" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)

    assert not (repo / ".nbmlops").exists()
    assert default_home() == repo / ".nbmlops"
    ws = open_workspace()
    assert ws.home == repo / ".nbmlops"
    assert ws.root == repo
    assert not (sub / ".nbmlops").exists()
    assert f"created a store at {repo / '.nbmlops'}" in capsys.readouterr().err


def test_default_home_is_the_cwd_outside_a_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NB_MLOPS_HOME")
    if not _no_store_or_git_above(tmp_path):
        pytest.skip(f"a .nbmlops or .git exists above {tmp_path}")
    cwd = tmp_path / "plain" / "folder"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    assert default_home() == cwd / ".nbmlops"
    assert open_workspace().home == cwd / ".nbmlops"


# ------------------------------------------------------------------------------ creating
def test_creating_writes_the_layout_and_format(project: Path) -> None:
    home = project / ".nbmlops"
    ws = open_workspace(home)
    assert isinstance(ws, Workspace)
    for sub in ("catalog", "runs", "cache", "history"):
        assert (home / sub).is_dir(), sub
    fmt = json.loads((home / "format.json").read_text())
    assert fmt["format"] == FORMAT == 3
    assert fmt["written_by"] == __version__
    assert fmt["updated"].endswith("Z")
    assert (home / ".gitignore").read_text().splitlines()[1:] == [
        "*",
        "!.gitignore",
        "!config.toml",
    ]
    assert ws.config == {}  # the template is all comments, and valid TOML
    assert not list(home.glob(".*.tmp-*"))
    assert ws.run_dir("abc") == home / "runs" / "abc"


def test_creating_prints_one_notice_once(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = project / "fresh" / ".nbmlops"
    capsys.readouterr()
    open_workspace(home)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"nb-mlops: created a store at {home}\n"

    open_workspace(home)
    forget_open_workspaces()
    open_workspace(home)  # reopened as a new process would
    assert capsys.readouterr().err == ""


def test_open_workspace_returns_the_same_object(project: Path) -> None:
    a = open_workspace(project / ".nbmlops")
    b = open_workspace(project / ".nbmlops")
    assert a is b
    assert a.catalog is b.catalog


def test_open_existing_without_create(project: Path, tmp_path: Path) -> None:
    open_workspace(project / ".nbmlops")
    forget_open_workspaces()
    assert open_workspace(project / ".nbmlops", create=False).home == project / ".nbmlops"
    with pytest.raises(StoreError, match="no store at"):
        open_workspace(tmp_path / "nowhere" / ".nbmlops", create=False)
    assert not (tmp_path / "nowhere").exists()


def test_the_store_found_from_the_cwd_follows_every_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found once, the store is remembered per place, but a move of the cwd, a store made
    nearer, another NB_MLOPS_HOME or a deleted store are seen at the next lookup."""
    monkeypatch.delenv("NB_MLOPS_HOME")
    root = tmp_path / "proj"
    sub = root / "nb" / "deep"
    sub.mkdir(parents=True)
    if not _no_store_or_git_above(tmp_path):
        pytest.skip("a store or git repo above the temp folder")
    top = open_workspace(root / ".nbmlops")
    monkeypatch.chdir(sub)
    assert open_workspace() is top
    assert open_workspace() is top  # the remembered answer
    nearer = open_workspace(root / "nb" / ".nbmlops")
    assert open_workspace() is nearer  # made since, nearer the cwd: it wins, as in find_home
    monkeypatch.chdir(root)
    assert open_workspace() is top  # another cwd
    elsewhere = tmp_path / "elsewhere" / ".nbmlops"
    monkeypatch.setenv("NB_MLOPS_HOME", str(elsewhere))
    assert open_workspace().home == elsewhere
    shutil.rmtree(elsewhere)
    assert open_workspace().home == elsewhere  # deleted: made again, as on a first lookup
    assert (elsewhere / "format.json").is_file()


# -------------------------------------------------------------------------------- format
def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "new" / ".nbmlops"
    (home / "catalog").mkdir(parents=True)
    fmt = json.dumps({"format": 99, "written_by": "9.9.0", "updated": "2031-01-01T00:00:00Z"})
    (home / "format.json").write_text(fmt)
    with pytest.raises(StoreVersionError) as info:
        open_workspace(home)
    msg = str(info.value)
    assert isinstance(info.value, StoreError)
    assert "9.9.0" in msg
    assert "99" in msg
    assert str(home) in msg
    assert "\n" not in msg
    # refused, not touched
    assert json.loads((home / "format.json").read_text())["format"] == 99
    assert not (home / "backups").exists()
    with pytest.raises(StoreVersionError):
        open_workspace(home)  # not cached as opened


@pytest.mark.parametrize(
    "content", ["{not json", "", "[]", '{"format": "two"}', '{"written_by": "0.1.0"}', "null"]
)
def test_a_damaged_format_file_names_it(tmp_path: Path, content: str) -> None:
    home = tmp_path / "s" / ".nbmlops"
    open_workspace(home)
    forget_open_workspaces()
    (home / "format.json").write_text(content)
    with pytest.raises(StoreError) as info:
        open_workspace(home)
    assert str(home / "format.json") in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value", ["0", "-1", "1e400", "true", '"2"', "2.5", "null", "[2]"])
def test_a_format_that_is_not_a_positive_whole_number_is_damage(tmp_path: Path, value: str) -> None:
    home = tmp_path / "s" / ".nbmlops"
    open_workspace(home)
    forget_open_workspaces()
    (home / "format.json").write_text(f'{{"format": {value}}}')
    for _ in range(2):  # each attempt says the same and changes nothing
        with pytest.raises(StoreError) as info:
            open_workspace(home)
        message = str(info.value)
        assert str(home / "format.json") in message
        assert "positive whole number" in message and f'{{"format": {FORMAT}}}' in message
        assert "\n" not in message
    assert not (home / "backups").exists()
    assert (home / "format.json").read_text() == f'{{"format": {value}}}'


def test_format_1_without_its_catalog_is_damage_not_a_migration(tmp_path: Path) -> None:
    """A current store whose format file says 1: there is no db.json to migrate."""
    home = tmp_path / "s" / ".nbmlops"
    ws = open_workspace(home)
    ws.catalog.put("runs", "r1", {"run_id": "r1"})
    forget_open_workspaces()
    journal = (home / "catalog" / "journal.jsonl").read_bytes()
    (home / "format.json").write_text('{"format": 1}')
    for _ in range(2):
        with pytest.raises(StoreError) as info:
            open_workspace(home)
        message = str(info.value)
        assert "is damaged" in message and "format 1" in message
        assert str(home / "catalog" / "db.json") in message
        assert f'{{"format": {FORMAT}}}' in message and "\n" not in message
    assert not (home / "backups").exists()
    assert (home / "catalog" / "journal.jsonl").read_bytes() == journal  # untouched

    (home / "format.json").write_text(f'{{"format": {FORMAT}}}')  # the fix the message gives
    assert open_workspace(home).catalog.get("runs", "r1") == {"run_id": "r1"}


@pytest.mark.parametrize("content", ["[1, 2]", '{"runs": 5}', '{"runs": {"1": "x"}}'])
def test_a_failed_migration_leaves_no_backup_and_can_be_retried(
    tmp_path: Path, content: str
) -> None:
    home = tmp_path / "old" / ".nbmlops"
    (home / "catalog").mkdir(parents=True)
    (home / "catalog" / "db.json").write_text(content)
    for _ in range(3):
        with pytest.raises(StoreError) as info:
            open_workspace(home)
        assert str(home / "catalog" / "db.json") in str(info.value)
        assert "\n" not in str(info.value)
        assert not (home / "backups").exists()  # no copy per attempt
        assert (home / "catalog" / "db.json").read_text() == content
        assert not (home / "format.json").exists()

    runs = _format_1_store_in(home)  # fixed by hand: the next open migrates, with one backup
    ws = open_workspace(home)
    assert ws.catalog.docs("runs") == {r["run_id"]: r for r in runs}
    assert len(list((home / "backups").iterdir())) == 1
    assert not (home / "catalog" / "db.json").exists()


def test_a_migration_that_fails_writing_its_format_keeps_format_1_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """db.json goes only once the new format is written: a failure just before that leaves a
    store that migrates on the next open, and no backup."""
    home = tmp_path / "old" / ".nbmlops"
    runs = _format_1_store(home)

    def full_disk(_home: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(wsmod, "_write_format", full_disk)
    with pytest.raises(StoreError, match="no space left"):
        open_workspace(home)
    assert (home / "catalog" / "db.json").exists()
    assert not (home / "backups").exists()
    monkeypatch.undo()
    assert open_workspace(home).catalog.docs("runs") == {r["run_id"]: r for r in runs}
    assert len(list((home / "backups").iterdir())) == 1


def test_a_damaged_config_names_it(ws: Workspace) -> None:
    path = ws.home / "config.toml"
    path.write_text("[capture\nenv = = [\n")
    with pytest.raises(StoreError) as info:
        ws.config  # noqa: B018
    assert str(path) in str(info.value)
    assert "TOML" in str(info.value)


def test_config_is_read(ws: Workspace) -> None:
    (ws.home / "config.toml").write_text('[capture]\nenv = ["MY_SETTING"]\nstdout_limit = 10\n')
    assert ws.config == {"capture": {"env": ["MY_SETTING"], "stdout_limit": 10}}


def test_size_counts_the_bytes_on_disk(ws: Workspace) -> None:
    before = ws.size()
    (ws.runs_dir / "r1").mkdir()
    (ws.runs_dir / "r1" / "out.txt").write_bytes(b"x" * 1000)
    assert ws.size() == before + 1000


# ----------------------------------------------------------------------------- migration
def _format_1_store(home: Path) -> list[dict]:
    """The prototype's layout: catalog/db.json written by TinyDB's JSONStorage, no format.json."""
    (home / "catalog").mkdir(parents=True)
    runs = [
        {"run_id": "brave-otter-1", "status": "done", "params": {"lr": 0.1}, "metrics": {"a": 1}},
        {"run_id": "calm-heron-2", "status": "failed", "params": {}, "name": "ünï"},
    ]
    db = TinyDB(str(home / "catalog" / "db.json"), storage=JSONStorage)
    db.table("runs").insert_multiple(runs)
    db.table("models").insert({"name": "clf", "version": 1})
    db.close()
    return runs


def _format_1_store_in(home: Path) -> list[dict]:
    """A format-1 catalog in place of whatever the catalog folder holds now."""
    shutil.rmtree(home / "catalog")
    return _format_1_store(home)


def test_migration_from_format_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "old" / ".nbmlops"
    runs = _format_1_store(home)
    original = (home / "catalog" / "db.json").read_bytes()
    assert b"brave-otter-1" in original
    assert not (home / "format.json").exists()

    ws = open_workspace(home)

    assert ws.catalog.docs("runs") == {r["run_id"]: r for r in runs}
    assert list(ws.catalog.docs("models").values()) == [{"name": "clf", "version": 1}]
    assert (home / "catalog" / "journal.jsonl").is_file()
    assert not (home / "catalog" / "db.json").exists()
    backups = list((home / "backups").glob("format-1-*/catalog/db.json"))
    assert len(backups) == 1
    assert backups[0].read_bytes() == original
    fmt = json.loads((home / "format.json").read_text())
    assert fmt["format"] == FORMAT
    assert fmt["written_by"] == __version__
    for sub in ("runs", "cache", "history"):
        assert (home / sub).is_dir()
    err = capsys.readouterr().err
    assert "migrated the store" in err
    assert str(backups[0].parent.parent) in err

    # a second open (another process) migrates nothing more
    forget_open_workspaces()
    again = open_workspace(home)
    assert again.catalog.docs("runs") == {r["run_id"]: r for r in runs}
    assert len(list((home / "backups").iterdir())) == 1
    assert "migrated" not in capsys.readouterr().err


def test_migration_from_format_2_keeps_every_run_and_a_backup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A format-2 store (every run in a folder of its own) opens as format 3 unchanged, after a
    backup of its catalog; its runs' points are still read from their folders."""
    import nb_mlops as nm

    home = tmp_path / "v2" / ".nbmlops"
    nm.init(home)
    with nm.start_run("old", system_metrics=False) as run:
        nm.log_metric("loss", 0.5)
    forget_open_workspaces()
    folder = home / "runs" / run.run_id
    if not folder.exists():  # made the format-2 way: the points in the run's own folder
        folder.mkdir()
        (folder / "metrics.jsonl").write_text('["loss",0.5,0,1764185400.0]\n')
        journal = home / "catalog" / "journal.jsonl"
        lines = [json.loads(x) for x in journal.read_text().splitlines()]
        for rec in lines:
            for pair in rec.get("set", []):
                if pair[0] == ["points"]:
                    rec["set"].remove(pair)
        journal.write_text("".join(json.dumps(x) + "\n" for x in lines))
    before = (home / "catalog" / "journal.jsonl").read_bytes()
    (home / "format.json").write_text('{"format": 2}')
    capsys.readouterr()
    ws = open_workspace(home)
    assert json.loads((home / "format.json").read_text())["format"] == FORMAT == 3
    backups = list((home / "backups").glob("format-2-*/catalog/journal.jsonl"))
    assert len(backups) == 1 and backups[0].read_bytes() == before
    assert "migrated the store" in capsys.readouterr().err
    assert ws.catalog.get("runs", run.run_id)["metrics"] == {"loss": 0.5}
    nm.init(home)
    assert nm.get_run(run.run_id)["series"]["loss"][0][1] == 0.5


def test_migration_of_an_unreadable_format_1_catalog_stops_and_keeps_it(tmp_path: Path) -> None:
    home = tmp_path / "old" / ".nbmlops"
    (home / "catalog").mkdir(parents=True)
    (home / "catalog" / "db.json").write_text('{"runs": {"1": {"run_id": "x"')
    with pytest.raises(StoreError) as info:
        open_workspace(home)
    assert str(home / "catalog" / "db.json") in str(info.value)
    assert (home / "catalog" / "db.json").exists()  # nothing destroyed
    assert not (home / "format.json").exists()  # still format 1


def test_migration_keeps_a_backup_even_for_an_empty_catalog(tmp_path: Path) -> None:
    home = tmp_path / "old" / ".nbmlops"
    (home / "catalog").mkdir(parents=True)
    TinyDB(str(home / "catalog" / "db.json")).close()
    ws = open_workspace(home)
    assert list(ws.catalog.tables()) == []
    assert json.loads((home / "format.json").read_text())["format"] == FORMAT
    assert list((home / "backups").glob("format-1-*/catalog/db.json"))


# ---------------------------------------------------------------------------- unwritable
_AS_NOBODY = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from nb_mlops.errors import StoreError
    from nb_mlops.store.workspace import open_workspace
    if os.geteuid() == 0:  # the interpreter could not be started as nobody: drop here
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    assert os.geteuid() == 65534, os.geteuid()
    home = Path(sys.argv[1])
    try:
        ws = open_workspace(home)
        if sys.argv[2] == "put":
            ws.catalog.put("runs", "r", {"run_id": "r"})
        print("OK: wrote to the store")
    except StoreError as exc:
        print("StoreError:", exc)
    """
)


def _drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def _run_as_nobody(home: Path, what: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NB_MLOPS_HOME=str(home))
    args = [sys.executable, "-c", _AS_NOBODY, str(home), what]
    try:
        return subprocess.run(
            args,
            preexec_fn=_drop_to_nobody,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except PermissionError:
        # nobody may not reach the interpreter (e.g. a pyenv under /root, mode 0700); start it
        # as root and let the child drop to nobody itself before it touches the store
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def reachable_dir():
    """A folder under /tmp that uid 65534 can reach (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    path.chmod(0o755)
    yield path
    for folder, dirs, _ in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(folder, d), 0o755)
    shutil.rmtree(path, ignore_errors=True)


def _expect_unwritable(out: subprocess.CompletedProcess[str], folder: Path) -> None:
    if "No module named" in out.stderr:
        pytest.skip(f"uid 65534 cannot import nb_mlops from {sys.executable}: {out.stderr}")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1, out.stdout
    assert lines[0].startswith(f"StoreError: cannot write to the store folder {folder}"), lines[0]
    assert "permission denied" in lines[0]


def test_creating_a_store_in_a_read_only_folder(reachable_dir: Path, tmp_path: Path) -> None:
    home = reachable_dir / ".nbmlops"
    home.mkdir()
    if os.geteuid() == 0:
        home.chmod(0o555)  # owned by root: nobody cannot write
        out = _run_as_nobody(home, "open", reachable_dir)
        _expect_unwritable(out, home)
    else:
        home.chmod(0o555)
        try:
            with pytest.raises(StoreError) as info:
                open_workspace(home)
        finally:
            home.chmod(0o755)
        assert str(info.value).startswith(f"cannot write to the store folder {home}")
        assert "\n" not in str(info.value)
    assert not (home / "format.json").exists()


def test_writing_to_a_read_only_store(reachable_dir: Path) -> None:
    home = reachable_dir / ".nbmlops"
    ws = open_workspace(home)
    ws.catalog.put("runs", "first", {"run_id": "first"})
    catalog_dir = home / "catalog"
    for path in (home, catalog_dir):
        path.chmod(0o555)
    if os.geteuid() == 0:
        out = _run_as_nobody(home, "put", reachable_dir)
        _expect_unwritable(out, catalog_dir)
    else:
        forget_open_workspaces()
        try:
            with pytest.raises(StoreError) as info:
                open_workspace(home).catalog.put("runs", "r", {"run_id": "r"})
        finally:
            for path in (home, catalog_dir):
                path.chmod(0o755)
        assert str(info.value).startswith(f"cannot write to the store folder {catalog_dir}")
        assert "\n" not in str(info.value)
    for path in (home, catalog_dir):
        path.chmod(0o755)
    forget_open_workspaces()
    assert set(open_workspace(home).catalog.docs("runs")) == {"first"}


def test_notice_goes_through_notify(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    from nb_mlops import notify

    monkeypatch.setattr(notify, "notify", said.append)
    open_workspace(project / "x" / ".nbmlops")
    assert said == [f"created a store at {project / 'x' / '.nbmlops'}"]
