"""The ignore rules and the folder walk of `dvc add`, without dvc (test_dvc_interop.py checks
the same cases against the real dvc)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import nb_mlops as nm
from nb_mlops.data.dvcignore import (
    DvcIgnoreError,
    IgnoreRules,
    project_root,
    read_ignore_file,
    rebase,
    rules_for,
    walk_dataset,
    why_left_out,
)
from nb_mlops.errors import StoreError


def lay_out(folder: Path, spec: dict[str, str]) -> None:
    for rel, content in spec.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith("->"):
            os.symlink(content[2:].strip(), path)
        else:
            path.write_text(content, encoding="utf-8")


def walked(root: Path, folder: str = "data") -> list[str]:
    return sorted(Path(rel).as_posix() for rel, _ in walk_dataset(root, root / folder))


@pytest.mark.parametrize(
    ("line", "folder", "rebased"),
    [
        ("*.csv", "", "*.csv"),  # the root's own rules stay as written
        ("*.csv", "a", "a/**/*.csv"),
        ("/tmp", "a/b", "a/b/tmp"),
        ("x/y", "a", "a/x/y"),
        ("tmp/", "a", "a/**/tmp/"),  # a trailing slash alone does not anchor
        ("x/y/", "a", "a/x/y/"),
        ("**/deep/*.csv", "a", "a/**/deep/*.csv"),
        ("!keep.csv", "a", "!/a/**/keep.csv"),
        ("!/x/keep.csv", "a", "!/a/x/keep.csv"),
        ("\\*.star", "a", "a/**/*.star"),  # dvc drops the backslash: `*` is a wildcard again
        ("\\#hash", "a", "a/**/#hash"),
    ],
)
def test_rules_of_a_folder_are_rewritten_as_dvc_rewrites_them(
    line: str, folder: str, rebased: str
) -> None:
    assert rebase(line, folder) == rebased


def test_dvcs_own_rules() -> None:
    rules = IgnoreRules.builtin()
    for path, is_dir in [(".git", True), (".git", False), ("a/b/.git", False), ("a/.hg", True)]:
        assert rules.ignored_by(path, is_dir) is not None, path
    assert rules.ignored_by("a/.dvc", True) is not None
    assert rules.ignored_by("a/.hg", False) is None  # `.hg/` and `.dvc/` are folder rules
    assert rules.ignored_by("a/.dvc", False) is None
    assert rules.ignored_by("a/.gitignore", False) is None
    assert rules.ignored_by("a/.git/HEAD", False).source == "dvc's built-in rules"


def test_later_rules_win_and_a_folder_keeps_what_is_inside_ignored(tmp_path: Path) -> None:
    (tmp_path / ".dvcignore").write_text("*.log\n!keep.log\nbuild/\n!build/x.txt\ndata/sub/**\n")
    rules = rules_for(tmp_path, "")
    assert rules.ignored_by("a.log", False).describe() == ".dvcignore:1 (`*.log`)"
    assert rules.ignored_by("deep/keep.log", False) is None
    assert rules.ignored_by("build/x.txt", False).source == ".dvcignore:3"  # as in git
    assert rules.ignored_by("build", False) is None  # `build/` names folders only
    # dvc tests a folder as `sub` and `sub/`: `data/sub/**` leaves out the folder itself
    assert rules.ignored_by("data/sub", True).source == ".dvcignore:5"


def test_a_dvcignore_that_is_ignored_is_not_read(tmp_path: Path) -> None:
    lay_out(tmp_path, {".dvcignore": "a/.dvcignore\n", "a/.dvcignore": "*.csv\n"})
    assert rules_for(tmp_path, "a").ignored_by("a/x.csv", False) is None
    (tmp_path / ".dvcignore").write_text("")
    assert rules_for(tmp_path, "a").ignored_by("a/x.csv", False).source == "a/.dvcignore:1"


def test_lines_are_stripped_and_comments_skipped(tmp_path: Path) -> None:
    path = tmp_path / ".dvcignore"
    path.write_bytes(b"# comment\r\n\r\n  a b.txt  \r\n\\#not-a-comment\n   # indented comment\n")
    assert read_ignore_file(path, ".dvcignore") == [(3, "a b.txt"), (4, "\\#not-a-comment")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"ok\nfoo\\\n", ".dvcignore:2: `foo\\` is not a valid pattern (Invalid git pattern)"),
        (b"!\n", ".dvcignore:1: `!` is not a valid pattern"),
        (b"ok\n\xff\xfe\n", "cannot read .dvcignore: it is not UTF-8 text (byte 3)"),
        (None, "cannot read .dvcignore: it is a folder, not a file"),
    ],
)
def test_an_unusable_dvcignore_is_one_line_naming_it(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    if content is None:
        (tmp_path / ".dvcignore").mkdir()
    else:
        (tmp_path / ".dvcignore").write_bytes(content)
    with pytest.raises(DvcIgnoreError) as err:
        rules_for(tmp_path, "")
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_rules_pathspec_reads_as_none_are_dropped(tmp_path: Path) -> None:
    (tmp_path / ".dvcignore").write_text("[\n/\n*.csv\n")
    assert [r.pattern for r in rules_for(tmp_path, "").rules[4:]] == ["*.csv"]


def test_the_project_root_is_the_nearest_dvc_folder(tmp_path: Path) -> None:
    ws_root = tmp_path / "ws"
    (ws_root / "a" / "b").mkdir(parents=True)
    assert project_root(ws_root, ws_root / "a" / "b" / "data") == ws_root  # no dvc init yet
    (ws_root / "a" / ".dvc").write_text("a file makes no root")
    assert project_root(ws_root, ws_root / "a" / "b" / "data") == ws_root
    (ws_root / ".dvc").mkdir()
    assert project_root(ws_root, ws_root / "a" / "b" / "data") == ws_root
    (ws_root / "a" / "b" / ".dvc").mkdir()
    assert project_root(ws_root, ws_root / "a" / "b" / "data") == ws_root / "a" / "b"
    (tmp_path / ".dvc").mkdir()  # above the workspace: never looked at
    assert project_root(ws_root, ws_root / "x") == ws_root


def test_the_walk_leaves_out_what_dvc_leaves_out(tmp_path: Path) -> None:
    lay_out(
        tmp_path,
        {
            ".dvcignore": "*.log\n",
            "outside/o.txt": "o",
            "data/a.csv": "a",
            "data/b.log": "b",
            "data/sub/.git/HEAD": "h",
            "data/sub/s.txt": "s",
            "data/gitfile/.git": "gitdir: x",
            "data/gitfile/g.txt": "g",
            "data/proj/.dvc/config": "",
            "data/proj/p.txt": "p",
            "data/projfile/.dvc": "x",
            "data/projfile/q.txt": "q",
            "data/.hg": "a file named .hg is data",
            "data/linked": "-> sub",
            "data/out": "-> ../outside",
            "data/sub/up": "-> ..",
            "data/link.csv": "-> a.csv",
            "data/inner/.dvcignore": ".dvcignore\n*.csv\n",
            "data/inner/i.csv": "i",
            "data/inner/i.txt": "i",
        },
    )
    assert walked(tmp_path) == [
        ".hg",
        "a.csv",
        "gitfile/g.txt",
        "inner/i.txt",
        "link.csv",
        "sub/s.txt",
    ]


def test_the_walk_refuses_a_dvcignore_inside_and_broken_links(tmp_path: Path) -> None:
    lay_out(tmp_path, {"data/sub/x": "x", "data/sub/.dvcignore": "*.csv\n"})
    with pytest.raises(DvcIgnoreError) as err:
        walked(tmp_path)
    assert str(err.value).startswith("data/sub/.dvcignore lies inside the dataset data")
    (tmp_path / "data" / "sub" / ".dvcignore").unlink()
    os.symlink("nowhere", tmp_path / "data" / "sub" / "dangling")
    with pytest.raises(StoreError, match=r"broken symlink: .*dangling -> nowhere"):
        walked(tmp_path)
    (tmp_path / ".dvcignore").write_text("dangling\n")  # an ignored broken link is no matter
    assert walked(tmp_path) == ["sub/x"]


def test_why_a_dataset_is_left_out(tmp_path: Path) -> None:
    lay_out(tmp_path, {".dvcignore": "*.tmp\n", "data/x": "x", "a/.dvc": "x", "a/d/y": "y"})
    assert why_left_out(tmp_path, "data", True) is None
    assert why_left_out(tmp_path, "data/x.tmp", False).startswith(".dvcignore:1 (`*.tmp`)")
    assert why_left_out(tmp_path, "a/d", True).startswith("it is inside a, a DVC project")


# -- through the API ---------------------------------------------------------------------------


def test_a_snapshot_and_status_honour_the_rules(project: Path) -> None:
    lay_out(project, {"data/a.csv": "id\n1\n", "data/scratch.tmp": "x", "data/.git/HEAD": "h"})
    (project / ".dvcignore").write_text("*.tmp\n")
    r = nm.snapshot("data")
    assert r.snapshot.doc["nfiles"] == 1 and r.snapshot.doc["rows"] == 1
    (project / "data" / "other.tmp").write_text("ignored, so no change")
    assert nm.status("data").items[0].clean
    (project / ".dvcignore").write_text("")  # the ignored files now count
    st = nm.status("data").items[0]
    assert st.added == ["other.tmp", "scratch.tmp"] and not st.clean


def test_checkout_leaves_ignored_files_alone(project: Path) -> None:
    lay_out(project, {"data/a.csv": "id\n1\n", ".dvcignore": "*.tmp\n"})
    nm.snapshot("data")
    (project / "data" / "a.csv").write_text("id\n2\n")
    nm.snapshot("data")
    (project / "data" / "notes.tmp").write_text("mine")
    (project / "data" / ".git").mkdir()
    (project / "data" / ".git" / "HEAD").write_text("h")
    nm.checkout("data", 1)
    assert (project / "data" / "a.csv").read_text() == "id\n1\n"
    assert (project / "data" / "notes.tmp").read_text() == "mine"
    assert (project / "data" / ".git" / "HEAD").read_text() == "h"


def test_snapshot_refusals_are_one_line(project: Path) -> None:
    lay_out(project, {"data/a.csv": "a", "data/sub/.dvcignore": "*.x\n", "other/.dvc/config": ""})
    with pytest.raises(DvcIgnoreError, match=r"^data/sub/\.dvcignore lies inside the dataset"):
        nm.snapshot("data")
    (project / ".dvcignore").write_text("/data\n")
    with pytest.raises(nm.NbMlopsError) as err:
        nm.snapshot("data")
    assert str(err.value) == (
        "cannot snapshot data: .dvcignore:1 (`/data`) ignores it, and dvc add refuses an "
        "ignored path"
    )
    with pytest.raises(nm.NbMlopsError, match="cannot snapshot other: it is a DVC project"):
        nm.snapshot("other")
    assert not (project / "data.dvc").exists() and not (project / "other.dvc").exists()
