"""Against the real `dvc` (installed by ./dev in .venv-dvc): what we write, DVC reads, and back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli

import nb_mlops as nm

REPO = Path(__file__).resolve().parents[2]
DVC = Path(os.environ.get("NB_MLOPS_TEST_DVC", REPO / ".venv-dvc" / "bin" / "dvc"))

pytestmark = pytest.mark.slow


def dvc(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    if not DVC.exists():
        pytest.fail(f"the real dvc is needed at {DVC}: run `./dev setup` (or NB_MLOPS_TEST_DVC)")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    out = subprocess.run(
        [str(DVC), *args], cwd=project, capture_output=True, text=True, env=env, check=False
    )
    if check and out.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)


def make_data(folder: Path, rows: int = 3) -> None:
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "train.csv").write_text("id,x\n" + "".join(f"{i},{i * 2}\n" for i in range(rows)))
    (folder / "sub" / "학습 데이터.txt").write_text("한국어 텍스트\n", encoding="utf-8")
    (folder / "with space.bin").write_bytes(bytes(range(256)))


@pytest.fixture
def repo(project: Path) -> Path:
    git(project, "init", "-q")
    make_data(project / "data")
    return project


def up_to_date(project: Path) -> bool:
    out = dvc(project, "status")
    return "up to date" in out.stdout


def test_dvc_files_are_byte_identical_to_dvc_add(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    dvc(other, "init", "-q")
    shutil.copytree(repo / "data", other / "data")
    shutil.copy(repo / "data" / "train.csv", other / "train.csv")
    dvc(other, "add", "-q", "data", "train.csv")
    shutil.copy(repo / "data" / "train.csv", repo / "train.csv")
    nm.snapshot("data")
    nm.snapshot("train.csv")
    assert (repo / "data.dvc").read_bytes() == (other / "data.dvc").read_bytes()
    assert (repo / "train.csv.dvc").read_bytes() == (other / "train.csv.dvc").read_bytes()
    assert (repo / ".gitignore").read_text() == (other / ".gitignore").read_text()


def test_dvc_sees_our_snapshot_and_restores_it(repo: Path) -> None:
    dvc(repo, "init", "-q")
    nm.snapshot("data", "v1")
    assert up_to_date(repo)
    shutil.rmtree(repo / "data")
    dvc(repo, "checkout", "-q", "data.dvc")
    restored = (repo / "data" / "sub" / "학습 데이터.txt").read_text(encoding="utf-8")
    assert restored == "한국어 텍스트\n"
    assert nm.status("data").items[0].clean


def test_dvc_init_after_our_first_snapshot(repo: Path) -> None:
    nm.snapshot("data", "before dvc existed")
    dvc(repo, "init", "-q")
    nm.status("data")  # any nm-mlops command on the dataset brings DVC's cache in line
    assert up_to_date(repo)


def test_dvc_gc_cannot_destroy_our_history(repo: Path) -> None:
    dvc(repo, "init", "-q")
    nm.snapshot("data", "v1")
    (repo / "data" / "train.csv").write_text("id,x\n9,9\n")
    nm.snapshot("data", "v2")
    dvc(repo, "gc", "--workspace", "--force", "-q")
    nm.checkout("data", 1)
    assert (repo / "data" / "train.csv").read_text().startswith("id,x\n0,0\n")
    assert up_to_date(repo)  # version 1's objects were placed back in DVC's cache


def test_a_version_made_by_dvc_add_is_taken_in(repo: Path) -> None:
    dvc(repo, "init", "-q")
    nm.snapshot("data", "ours")
    (repo / "data" / "train.csv").write_text("id,x\n0,0\n1,3\n7,7\n")
    (repo / "data" / "with space.bin").unlink()
    dvc(repo, "add", "-q", "data")
    table = nm.versions("data").to_dict()
    assert [v["version"] for v in table["versions"]] == [1, 2]
    assert table["versions"][1]["source"] == "dvc"
    assert table["versions"][1]["message"] == "added with dvc"
    assert table["current"] == 2
    d = nm.diff("data", 1, 2, key="id")
    assert d.deleted == ["with space.bin"] and d.modified == ["train.csv"]
    assert d.tables["train.csv"].added == 1 and d.tables["train.csv"].changed == 1
    nm.checkout("data", 1)
    assert (repo / "data" / "with space.bin").read_bytes() == bytes(range(256))
    assert up_to_date(repo)


# -- overlapping datasets (issue 10, point 14) ------------------------------------------------


def project_files(project: Path) -> dict[str, bytes]:
    """Every file outside the store, `.dvc` and `.git`: the .dvc files and .gitignore lines."""
    skip = (".nbmlops", ".dvc", ".git")
    return {
        p.relative_to(project).as_posix(): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file() and p.relative_to(project).parts[0] not in skip
    }


def test_a_folder_holding_a_dataset_is_refused_as_dvc_refuses_it(repo: Path) -> None:
    dvc(repo, "init", "-q")
    nm.snapshot("data/train.csv")
    before = project_files(repo)
    with pytest.raises(nm.NbMlopsError) as err:
        nm.snapshot("data")
    assert str(err.value) == (
        "cannot snapshot data: it overlaps data/train.csv, a dataset of its own "
        "(data/train.csv.dvc); to include it in data, remove data/train.csv.dvc, then snapshot data"
    )
    assert project_files(repo) == before  # no data.dvc, no .gitignore line hiding train.csv.dvc
    assert [d["path"] for d in nm.status().to_dict()["datasets"]] == ["data/train.csv"]
    # the real dvc refuses the same case
    out = dvc(repo, "add", "data", check=False)
    assert out.returncode != 0
    assert "overlapping with other DVC tracked output: 'data/train.csv'" in out.stderr
    # once the inner dataset's .dvc file is gone, the folder is one dataset
    (repo / "data" / "train.csv.dvc").unlink()
    assert nm.snapshot("data").created


def test_a_file_inside_a_dataset_is_refused(repo: Path) -> None:
    dvc(repo, "init", "-q")
    nm.snapshot("data")
    before = project_files(repo)
    with pytest.raises(nm.NbMlopsError) as err:
        nm.snapshot("data/sub/학습 데이터.txt")
    assert str(err.value) == (
        "cannot snapshot data/sub/학습 데이터.txt: it overlaps data, a dataset of its own "
        "(data.dvc); to version this change, snapshot data"
    )
    assert project_files(repo) == before
    # the real dvc never makes an output inside another one either: it updates `data` instead
    dvc(repo, "add", "-q", "data/sub/학습 데이터.txt")
    assert not (repo / "data" / "sub" / "학습 데이터.txt.dvc").exists()
    assert sorted(p.name for p in repo.rglob("*.dvc") if p.is_file()) == ["data.dvc"]


# -- hashing as `dvc add` does: ignore rules, nested repos, links (issue 15) -------------------

UP_TO_DATE = "Data and pipelines are up to date."


@pytest.fixture(scope="module")
def dvc_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git + dvc project, made once (`dvc init` takes a second) and copied for each case."""
    folder = tmp_path_factory.mktemp("template") / "p"
    folder.mkdir()
    git(folder, "init", "-q")
    dvc(folder, "init", "-q")
    return folder


def lay_out(folder: Path, spec: dict[str, str | bytes]) -> None:
    """Write files (str or bytes); a key ending in `/` is an empty folder; `->` makes a link."""
    for rel, content in spec.items():
        path = folder / rel
        if path.parent.is_file():  # `.dvcignore/x`: dvc init's .dvcignore becomes a folder
            path.parent.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith("/"):
            path.mkdir(exist_ok=True)
        elif isinstance(content, str) and content.startswith("->"):
            os.symlink(content[2:].strip(), path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def two_projects(project: Path, template: Path, spec: dict) -> Path:
    """`project` (ours, the test's cwd and store) and a twin for `dvc add`, laid out alike."""
    theirs = project.parent / "theirs"
    for folder in (project, theirs):
        shutil.copytree(template, folder, symlinks=True, dirs_exist_ok=True)
        lay_out(folder, spec)
    return theirs


def dir_object(cache: Path, md5: str) -> bytes:
    return (cache / "files" / "md5" / md5[:2] / md5[2:]).read_bytes()


def assert_hashed_as_dvc_add(project: Path, theirs: Path, target: str) -> list[str]:
    """Snapshot `target` here and `dvc add` it there: the same `.dvc` file, `.dir` object and
    `.gitignore`, and `dvc status` finds nothing changed right after the snapshot. Returns the
    files the version holds."""
    dvc(theirs, "add", "-q", target)
    r = nm.snapshot(target)
    ours_dvc = (project / f"{target}.dvc").read_bytes()
    assert ours_dvc == (theirs / f"{target}.dvc").read_bytes()
    md5 = r.snapshot.md5
    listing = dir_object(project / ".nbmlops" / "cache", md5)
    assert listing == dir_object(theirs / ".dvc" / "cache", md5)
    parent = Path(target).parent
    assert (project / parent / ".gitignore").read_text() == (
        theirs / parent / ".gitignore"
    ).read_text()
    assert dvc(project, "status").stdout.strip() == UP_TO_DATE
    assert nm.status(target).items[0].clean
    return sorted(e["relpath"] for e in json.loads(listing))


DATA = {
    f"data/{name}": name
    for name in (
        "a.csv",
        "b.log",
        "keep.log",
        "tmp/t.txt",
        "sub/c.csv",
        "sub/d.log",
        "sub/tmp/u.txt",
        "sub/deep/e.csv",
        "sub/deep/keep.log",
        "*.star",
        "#hash.txt",
        "x/y/z.bin",
    )
}


@pytest.mark.parametrize(
    ("case", "extra", "target", "expected"),
    [
        (
            "root .dvcignore: negation, anchored, folder-only and ** rules",
            {".dvcignore": "*.log\n!keep.log\n/data/x\ntmp/\ndata/**/deep/*.csv\n"},
            "data",
            ["#hash.txt", "*.star", "a.csv", "keep.log", "sub/c.csv", "sub/deep/keep.log"],
        ),
        (
            ".dvcignore in a folder above the dataset, its rules relative to that folder",
            {
                **{f"top/{k}": v for k, v in DATA.items()},
                "top/.dvcignore": (
                    "# a comment\n  *.csv  \n!/data/sub/c.csv\n/data/x\ndata/sub/tmp/\n"
                ),
            },
            "top/data",
            [
                "#hash.txt",
                "*.star",
                "b.log",
                "keep.log",
                "sub/c.csv",
                "sub/d.log",
                "sub/deep/keep.log",
                "tmp/t.txt",
            ],
        ),
        (
            "a .dvcignore inside the dataset that ignores itself (dvc reads it, then drops it)",
            {"data/sub/.dvcignore": ".dvcignore\n*.log\n/tmp\n!deep/keep.log\n"},
            "data",
            [
                "#hash.txt",
                "*.star",
                "a.csv",
                "b.log",
                "keep.log",
                "sub/c.csv",
                "sub/deep/e.csv",
                "sub/deep/keep.log",
                "tmp/t.txt",
                "x/y/z.bin",
            ],
        ),
        (
            "dvc's departures from git: `dir/**` ignores dir itself; a subfolder drops a `\\`",
            {
                ".dvcignore": "data/sub/**\n!data/sub/c.csv\n",
                "data/x/.dvcignore": ".dvcignore\n",
                "data/.dvcignore": ".dvcignore\n\\*.star\n\\#hash.txt\n",
            },
            "data",
            ["a.csv", "b.log", "keep.log", "tmp/t.txt", "x/y/z.bin"],
        ),
        (
            "nested .git folder, .git file (submodule, worktree) and .hg folder",
            {
                "data/sub/.git/HEAD": "ref: refs/heads/main\n",
                "data/sub/.git/objects/ab/cdef": "x",
                "data/x/.git": "gitdir: ../../.git/modules/x\n",
                "data/hg/.hg/store": "x",
                "data/hg/h.txt": "h",
            },
            "data",
            [
                "#hash.txt",
                "*.star",
                "a.csv",
                "b.log",
                "hg/h.txt",
                "keep.log",
                "sub/c.csv",
                "sub/d.log",
                "sub/deep/e.csv",
                "sub/deep/keep.log",
                "sub/tmp/u.txt",
                "tmp/t.txt",
                "x/y/z.bin",
            ],
        ),
        (
            "nested DVC projects (a .dvc folder, or a file named .dvc) are left out whole",
            {"data/sub/.dvc/config": "", "data/x/.dvc": "not a folder"},
            "data",
            ["#hash.txt", "*.star", "a.csv", "b.log", "keep.log", "tmp/t.txt"],
        ),
        (
            "a link to a folder (inside or outside) is not followed; a link to a file is read",
            {
                "outside/o.txt": "o",
                "data/linked": "-> sub",
                "data/out": "-> ../outside",
                "data/sub/up": "-> ..",
                "data/link.csv": "-> a.csv",
            },
            "data",
            [
                "#hash.txt",
                "*.star",
                "a.csv",
                "b.log",
                "keep.log",
                "link.csv",
                "sub/c.csv",
                "sub/d.log",
                "sub/deep/e.csv",
                "sub/deep/keep.log",
                "sub/tmp/u.txt",
                "tmp/t.txt",
                "x/y/z.bin",
            ],
        ),
    ],
    ids=[
        "root-dvcignore",
        "dvcignore-above",
        "dvcignore-inside-ignored",
        "dvc-quirks",
        "vcs-folders",
        "nested-projects",
        "links",
    ],
)
def test_a_snapshot_hashes_as_dvc_add_does(
    project: Path, dvc_template: Path, case: str, extra: dict, target: str, expected: list[str]
) -> None:
    theirs = two_projects(project, dvc_template, {**DATA, **extra})
    assert assert_hashed_as_dvc_add(project, theirs, target) == expected


@pytest.mark.parametrize(
    ("extra", "target", "ours"),
    [
        (
            {"data/sub/.dvcignore": "*.log\n"},
            "data",
            "data/sub/.dvcignore lies inside the dataset data, and dvc refuses a folder holding "
            "a .dvcignore",
        ),
        ({".dvcignore": "/data/\n"}, "data", "cannot snapshot data: .dvcignore:1 (`/data/`)"),
        ({".dvcignore": "*.csv\n"}, "data/a.csv", "cannot snapshot data/a.csv: .dvcignore:1"),
        ({".dvcignore": "ok\nfoo\\\n"}, "data", ".dvcignore:2: `foo\\` is not a valid pattern"),
        ({".dvcignore": b"\xff*.log\n"}, "data", "cannot read .dvcignore: it is not UTF-8 text"),
        ({".dvcignore/x": "x"}, "data", "cannot read .dvcignore: it is a folder"),
        ({"data/x/broken": "-> nowhere"}, "data", "broken symlink: "),
    ],
    ids=["dvcignore-inside", "ignored", "ignored-file", "bad-rule", "not-utf8", "folder", "link"],
)
def test_what_dvc_add_refuses_is_refused_in_one_line(
    project: Path, dvc_template: Path, extra: dict, target: str, ours: str
) -> None:
    theirs = two_projects(project, dvc_template, {**DATA, **extra})
    assert dvc(theirs, "add", "-q", target, check=False).returncode != 0
    with pytest.raises(nm.NbMlopsError) as err:
        nm.snapshot(target)
    message = str(err.value)
    assert ours in message and "\n" not in message
    assert not (project / f"{target}.dvc").exists()


def test_a_dataset_that_is_a_dvc_project_is_refused(project: Path, dvc_template: Path) -> None:
    # dvc add records such a folder as an empty one (it leaves nested projects out whole):
    # a snapshot refuses it rather than version nothing.
    theirs = two_projects(project, dvc_template, {**DATA, "data/.dvc/config": ""})
    dvc(theirs, "add", "-q", "data")
    assert "nfiles: 0" in (theirs / "data.dvc").read_text()
    with pytest.raises(nm.NbMlopsError) as err:
        nm.snapshot("data")
    assert str(err.value) == (
        "cannot snapshot data: it is a DVC project of its own (data/.dvc), which dvc leaves out "
        "whole (dvc add would record an empty folder); version it from inside that project"
    )


def test_an_edited_dvcignore_changes_the_dataset_for_both(
    project: Path, dvc_template: Path
) -> None:
    theirs = two_projects(project, dvc_template, DATA)
    assert_hashed_as_dvc_add(project, theirs, "data")
    (project / ".dvcignore").write_text("*.log\n")
    assert "modified" in dvc(project, "status").stdout
    st = nm.status("data").items[0]
    assert st.deleted == ["b.log", "keep.log", "sub/d.log", "sub/deep/keep.log"]
    assert nm.snapshot("data").snapshot.version == 2
    assert dvc(project, "status").stdout.strip() == UP_TO_DATE


# -- status, adoption, fresh clones (issue 15) -------------------------------------------------


def test_status_names_a_changed_single_file_dataset(repo: Path) -> None:
    dvc(repo, "init", "-q")
    nm.snapshot("data/train.csv")
    (repo / "data" / "train.csv").write_text("id,x\n0,1\n")
    assert "modified" in dvc(repo, "status").stdout
    out = cli(repo, "status")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "data/train.csv: version 1, changed (1 modified)",
        "  modified: train.csv",
    ]


def test_a_version_made_by_dvc_add_gets_rows_and_schema(repo: Path) -> None:
    dvc(repo, "init", "-q")
    dvc(repo, "add", "-q", "data/train.csv")
    (repo / "data" / "train.csv").write_text("changed since\n")  # read from the cache, not here
    v = nm.versions("data/train.csv").to_dict()["versions"][0]
    assert v["source"] == "dvc" and v["rows"] == 3 and v["format"] == "csv"
    assert v["columns"] == [{"name": "id", "type": "int64"}, {"name": "x", "type": "int64"}]
    # a folder: each table summarised, the rows summed
    tables = repo / "tables"
    (tables / "more").mkdir(parents=True)
    (tables / "a.csv").write_text("k,v\n1,a\n2,b\n")
    (tables / "more" / "b.tsv").write_text("k\tw\n3\t0.5\n")
    (tables / "blob.bin").write_bytes(b"\0\1")
    dvc(repo, "add", "-q", "tables")
    folder = nm.versions("tables").to_dict()["versions"][0]
    assert folder["source"] == "dvc" and folder["rows"] == 3
    assert sorted(folder["tables"]) == ["a.csv", "more/b.tsv"]
    assert folder["tables"]["more/b.tsv"]["columns"][1] == {"name": "w", "type": "double"}
    # the same record as a snapshot of the same bytes would have made
    shutil.copytree(tables, repo / "copy")
    ours = nm.snapshot("copy").snapshot.doc
    assert {k: ours[k] for k in ("rows", "tables")} == {k: folder[k] for k in ("rows", "tables")}


def test_status_in_a_fresh_clone_lists_every_dvc_file(repo: Path, tmp_path: Path) -> None:
    dvc(repo, "init", "-q")
    (repo / "models").mkdir()
    (repo / "models" / "m.bin").write_bytes(b"weights")
    nm.snapshot("data", "ours")
    (repo / "nested").mkdir()
    dvc(repo / "nested", "init", "-q", "--subdir")
    (repo / "nested" / "n.txt").write_text("n")
    dvc(repo / "nested", "add", "-q", "n.txt")  # another project's dataset: not listed
    (repo / "ignored").mkdir()
    (repo / "ignored" / "i.txt").write_text("i")
    dvc(repo, "add", "-q", "models/m.bin", "ignored/i.txt")
    (repo / ".dvcignore").write_text("/ignored/\n")  # dvc no longer sees it: neither do we
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "datasets")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True, capture_output=True)
    assert (clone / "nested" / "n.txt.dvc").is_file() and (
        clone / "ignored" / "i.txt.dvc"
    ).is_file()
    env = {**os.environ, "NB_MLOPS_HOME": str(clone / ".nbmlops")}
    out = subprocess.run(
        [sys.executable, "-m", "nb_mlops", "status", "--json"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)["datasets"]
    assert [d["path"] for d in listed] == ["data", "models/m.bin"]
    named = [(clone / f"{d['path']}.dvc").read_text().split("md5: ")[1].split()[0] for d in listed]
    assert [d["named"] for d in listed] == named
    assert [d["workspace_md5"] for d in listed] == [None, None]
    # dvc reports the same two datasets, and only them
    dvc_out = dvc(clone, "status", check=False).stdout
    assert "data.dvc" in dvc_out and "models/m.bin.dvc" in dvc_out and "i.txt" not in dvc_out


def test_a_new_store_keeps_git_out_of_all_but_its_settings(repo: Path) -> None:
    dvc(repo, "init", "-q")
    nm.snapshot("data", "v1")
    with nm.start_run(name="r"):
        nm.log_metric("acc", 0.5)
    out = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    store = sorted(line[3:] for line in out.splitlines() if line[3:].startswith(".nbmlops/"))
    assert store == [".nbmlops/.gitignore", ".nbmlops/config.toml"]
    assert (repo / ".nbmlops" / "cache").is_dir() and (repo / ".nbmlops" / "catalog").is_dir()
    ignored = subprocess.run(
        [
            "git",
            "check-ignore",
            ".nbmlops/cache",
            ".nbmlops/catalog",
            ".nbmlops/state",
            ".nbmlops/runs",
            ".nbmlops/format.json",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert ignored == [
        ".nbmlops/cache",
        ".nbmlops/catalog",
        ".nbmlops/state",
        ".nbmlops/runs",
        ".nbmlops/format.json",
    ]
