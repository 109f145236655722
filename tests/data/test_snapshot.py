"""`nm.snapshot`: versions of a file or folder, hashed as DVC 3 does, stored read-only."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import stat
import subprocess
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import nb_mlops as nm
from nb_mlops.data.snapshot import DataError
from nb_mlops.errors import NbMlopsError
from nb_mlops.store import objects as objects_module
from nb_mlops.store.hashing import hash_tree
from nb_mlops.store.objects import ObjectStore
from nb_mlops.store.workspace import Workspace


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def git_init(folder: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True, capture_output=True)


def temps_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".tmp-")]


def snapshots(ws: Workspace) -> dict:
    return dict(ws.catalog.docs("snapshots"))


@pytest.fixture
def data(project: Path) -> Path:
    folder = project / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"alpha\n")
    (folder / "sub" / "b.bin").write_bytes(bytes(range(256)))
    (folder / "c.txt").write_bytes(b"")  # an empty file is a file too
    return folder


# -- a file -------------------------------------------------------------------------------


def test_file_versions_count_up_with_md5_size_message_and_utc_time(project: Path) -> None:
    f = project / "model-input.bin"
    f.write_bytes(b"one\n")
    before = dt.datetime.now(dt.timezone.utc)
    r1 = nm.snapshot("model-input.bin", "first export")
    f.write_bytes(b"two, longer\n")
    r2 = nm.snapshot(f)  # an absolute path names the same dataset
    after = dt.datetime.now(dt.timezone.utc)

    assert (r1.created, r2.created) == (True, True)
    assert (r1.snapshot.version, r2.snapshot.version) == (1, 2)
    d1, d2 = r1.to_dict(), r2.to_dict()
    assert d1["path"] == d2["path"] == "model-input.bin"
    assert d1["md5"] == md5(b"one\n") and d2["md5"] == md5(b"two, longer\n")
    assert (d1["size"], d2["size"]) == (4, 12)
    assert d1["nfiles"] == 1 and d1["isdir"] is False
    assert d1["message"] == "first export" and d2["message"] == ""
    for d in (d1, d2):
        when = dt.datetime.fromisoformat(d["time"])
        assert when.utcoffset() == dt.timedelta(0)
        assert before - dt.timedelta(seconds=1) <= when <= after + dt.timedelta(seconds=1)
    assert d1["dvcfile"] == str(project / "model-input.bin.dvc")
    assert "version 1" in str(r1) and md5(b"one\n") in str(r1)
    assert [v["version"] for v in nm.versions("model-input.bin").to_dict()["versions"]] == [1, 2]


def test_a_folder_hashes_as_hash_tree_does(data: Path, ws: Workspace) -> None:
    r = nm.snapshot("data", "raw")
    want_md5, entries, listing = hash_tree(data)
    d = r.to_dict()
    assert d["md5"] == want_md5 and d["md5"].endswith(".dir")
    assert d["size"] == 6 + 256 + 0
    assert d["nfiles"] == 3 and d["isdir"] is True
    assert d["version"] == 1 and d["message"] == "raw"
    # the listing object holds exactly DVC's `.dir` bytes, and every file is an object
    assert ws.objects.path_of(want_md5).read_bytes() == listing
    assert sorted(e["relpath"] for e in ws.objects.listing(want_md5)) == [
        "a.txt",
        "c.txt",
        "sub/b.bin",
    ]
    for e in entries:
        ws.objects.verify(e["md5"])
    assert f"{want_md5}" in str(r) and "3 files" in str(r)


def test_dvc_test_vector(project: Path) -> None:
    folder = project / "vec"
    folder.mkdir()
    (folder / "1").write_text("1")
    (folder / "2").write_text("2")
    assert nm.snapshot("vec").snapshot.md5 == "5fb6b29836c388e093ca0715c872fe2a.dir"


def test_two_datasets_number_their_versions_apart(project: Path) -> None:
    (project / "x.txt").write_text("same")
    (project / "y.txt").write_text("same")
    assert nm.snapshot("x.txt").snapshot.version == 1
    assert nm.snapshot("y.txt").snapshot.version == 1
    (project / "y.txt").write_text("other")
    assert nm.snapshot("y.txt").snapshot.version == 2
    assert [v["version"] for v in nm.versions("x.txt").to_dict()["versions"]] == [1]


def test_paths_are_kept_relative_to_the_workspace_root(project: Path, monkeypatch) -> None:
    (project / "sub").mkdir()
    (project / "sub" / "x.txt").write_text("x")
    monkeypatch.chdir(project / "sub")
    assert nm.snapshot("x.txt").snapshot.doc["path"] == "sub/x.txt"
    assert nm.snapshot("../sub/./x.txt").created is False
    assert (project / "sub" / "x.txt.dvc").is_file()
    monkeypatch.chdir(project)
    assert nm.versions("sub/x.txt").to_dict()["path"] == "sub/x.txt"


# -- rows and schema ------------------------------------------------------------------------


def write_table(path: Path, fmt: str) -> None:
    if fmt == "csv":
        path.write_text("id,name,score\n1,a,0.5\n2,b,1.5\n3,c,2.5\n")
    elif fmt == "tsv":
        path.write_text("id\tname\tscore\n1\ta\t0.5\n2\tb\t1.5\n3\tc\t2.5\n")
    elif fmt == "jsonl":
        path.write_text(
            "".join(
                json.dumps({"id": i, "name": n, "score": s}) + "\n"
                for i, n, s in [(1, "a", 0.5), (2, "b", 1.5), (3, "c", 2.5)]
            )
        )
    else:
        pq.write_table(
            pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"], "score": [0.5, 1.5, 2.5]}), path
        )


SCHEMA = [
    {"name": "id", "type": "int64"},
    {"name": "name", "type": "string"},
    {"name": "score", "type": "double"},
]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl"])
def test_a_tabular_file_records_rows_and_schema(project: Path, fmt: str) -> None:
    path = project / f"table.{fmt}"
    write_table(path, fmt)
    r = nm.snapshot(path.name)
    assert "3 rows" in str(r)
    d = r.to_dict()
    assert d["rows"] == 3
    assert d["columns"] == SCHEMA
    assert d["format"] == fmt
    (version,) = nm.versions(path.name).to_dict()["versions"]
    assert version["rows"] == 3 and version["columns"] == SCHEMA


def test_a_folder_records_each_table_and_the_total_rows(project: Path) -> None:
    folder = project / "tables"
    (folder / "nested").mkdir(parents=True)
    for fmt in ("csv", "tsv", "parquet", "jsonl"):
        write_table(folder / f"t.{fmt}", fmt)
    (folder / "nested" / "more.csv").write_text("k\n1\n2\n")
    (folder / "README.txt").write_text("not a table")
    d = nm.snapshot("tables").to_dict()
    assert set(d["tables"]) == {"t.csv", "t.tsv", "t.parquet", "t.jsonl", "nested/more.csv"}
    for fmt in ("csv", "tsv", "parquet", "jsonl"):
        assert d["tables"][f"t.{fmt}"]["rows"] == 3
        assert d["tables"][f"t.{fmt}"]["columns"] == SCHEMA
    assert d["tables"]["nested/more.csv"] == {
        "format": "csv",
        "rows": 2,
        "columns": [{"name": "k", "type": "int64"}],
    }
    assert d["rows"] == 4 * 3 + 2


def test_a_folder_with_no_tables_records_no_rows(data: Path) -> None:
    d = nm.snapshot("data").to_dict()
    assert "rows" not in d and "tables" not in d


def test_an_unreadable_table_in_a_folder_is_noted_not_fatal(project: Path) -> None:
    folder = project / "d"
    folder.mkdir()
    (folder / "bad.csv").write_text("a,b\n1,2,3\n")
    (folder / "good.csv").write_text("a\n1\n")
    d = nm.snapshot("d").to_dict()
    assert d["version"] == 1
    assert "bad.csv" in d["tables"]["bad.csv"]["error"]
    assert d["tables"]["good.csv"]["rows"] == 1
    assert "rows" not in d  # no total when one table could not be counted


@pytest.mark.parametrize(
    "content",
    [b"a,b\n1,2,3\n", b"id,name"],  # a ragged row; a header alone without a final newline
)
def test_a_csv_file_that_does_not_parse_is_still_versioned(
    project: Path, ws: Workspace, content: bytes
) -> None:
    # The bytes are the data: a CSV that Arrow cannot read must be versioned like any file (a
    # folder holding it already is, with the parse error noted), not refused outright.
    (project / "bad.csv").write_bytes(content)
    r = nm.snapshot("bad.csv", "odd export")
    assert r.created and r.snapshot.version == 1
    assert r.snapshot.md5 == md5(content)
    assert (project / "bad.csv.dvc").is_file()


# -- the cache ------------------------------------------------------------------------------


def test_objects_are_read_only_in_dvc_layout(data: Path, ws: Workspace) -> None:
    r = nm.snapshot("data")
    cache = ws.home / "cache" / "files" / "md5"
    hashes = [r.snapshot.md5, md5(b"alpha\n"), md5(bytes(range(256))), md5(b"")]
    for h in hashes:
        path = cache / h[:2] / h[2:]
        assert path.is_file(), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert sorted(h for h, _ in ws.objects.all_objects()) == sorted(hashes)
    # the workspace keeps its own writable copies (never a link into the cache)
    assert os.stat(data / "a.txt").st_ino != os.stat(cache / hashes[1][:2] / hashes[1][2:]).st_ino
    assert os.access(data / "a.txt", os.W_OK)


# -- unchanged data -------------------------------------------------------------------------


def test_unchanged_data_makes_no_version_and_writes_nothing(data: Path, ws: Workspace) -> None:
    git_init(ws.root)
    nm.snapshot("data", "v1")
    journal = ws.home / "catalog" / "journal.jsonl"
    watched = [journal, ws.root / "data.dvc", ws.root / ".gitignore"]
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in watched}
    objects = sorted(ws.objects.all_objects())

    r = nm.snapshot("data", "again")
    assert r.created is False
    assert r.snapshot.version == 1
    assert "unchanged" in str(r) and "version 1" in str(r)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in watched} == before
    assert sorted(ws.objects.all_objects()) == objects
    assert [v["message"] for v in nm.versions("data").to_dict()["versions"]] == ["v1"]


def test_data_equal_to_an_older_version_names_that_version(data: Path, project: Path) -> None:
    nm.snapshot("data", "v1")
    (data / "a.txt").write_bytes(b"changed\n")
    nm.snapshot("data", "v2")
    nm.snapshot("data", "v2")  # still v2
    nm.checkout("data", 1)
    r = nm.snapshot("data", "would be v3")
    assert r.created is False and r.snapshot.version == 1
    assert "unchanged" in str(r) and "version 1" in str(r)
    assert [v["version"] for v in nm.versions("data").to_dict()["versions"]] == [1, 2]

    # edited back by hand (no checkout): the data is version 2 again, and PATH.dvc says so
    (data / "a.txt").write_bytes(b"changed\n")
    r = nm.snapshot("data")
    assert r.created is False and r.snapshot.version == 2
    assert r.snapshot.md5 in (project / "data.dvc").read_text()
    assert nm.versions("data").to_dict()["current"] == 2


def test_a_deleted_dvc_file_is_written_again(data: Path, project: Path) -> None:
    nm.snapshot("data")
    text = (project / "data.dvc").read_text()
    (project / "data.dvc").unlink()
    r = nm.snapshot("data")
    assert r.created is False and "wrote data.dvc" in str(r)
    assert (project / "data.dvc").read_text() == text


# -- .gitignore -----------------------------------------------------------------------------


def test_gitignore_entry_beside_the_data_inside_a_git_repo(project: Path) -> None:
    git_init(project)
    (project / "raw").mkdir()
    (project / "raw" / "x.csv").write_text("a\n1\n")
    (project / "top.txt").write_text("t")
    (project / ".gitignore").write_text("*.pyc")  # no final newline: kept, entry on its own line
    r = nm.snapshot("raw/x.csv")
    assert "added x.csv to raw/.gitignore" in str(r)
    nm.snapshot("top.txt")
    assert (project / "raw" / ".gitignore").read_text() == "/x.csv\n"
    assert (project / ".gitignore").read_text() == "*.pyc\n/top.txt\n"
    (project / "top.txt").write_text("t2")
    nm.snapshot("top.txt")  # a second version adds no second entry
    assert (project / ".gitignore").read_text() == "*.pyc\n/top.txt\n"
    ignored = subprocess.run(
        ["git", "check-ignore", "raw/x.csv", "top.txt"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.stdout.split() == ["raw/x.csv", "top.txt"]


def test_no_gitignore_outside_a_git_repo(data: Path, project: Path) -> None:
    r = nm.snapshot("data")
    assert not (project / ".gitignore").exists()
    assert ".gitignore" not in str(r)


def test_special_names_are_escaped_in_gitignore(project: Path) -> None:
    git_init(project)
    names = ["*.csv", "#x", "a b", "!bang", "q?[x]"]
    for name in names:
        (project / name).write_text("a\n1\n")
        nm.snapshot(name)
    (project / "other.csv").write_text("not data")
    lines = (project / ".gitignore").read_text().splitlines()
    assert lines == ["/\\*.csv", "/\\#x", "/a b", "/\\!bang", "/q\\?\\[x\\]"]
    out = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "-z"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ignored = {item[3:] for item in out.split("\0") if item.startswith("!! ")}
    assert set(names) <= ignored
    assert "other.csv" not in ignored  # `*.csv` the file name, not the pattern


# -- bad input ------------------------------------------------------------------------------


def nothing_recorded(ws: Workspace, project: Path) -> None:
    assert snapshots(ws) == {}
    assert list(project.glob("*.dvc")) == []
    assert list(ws.objects.all_objects()) == []


def test_a_missing_path_is_named(ws: Workspace, project: Path) -> None:
    with pytest.raises(DataError) as err:
        nm.snapshot("no-such-data", "m")
    assert "no-such-data" in str(err.value) and "\n" not in str(err.value)
    nothing_recorded(ws, project)


def test_a_path_outside_the_workspace_is_refused(ws: Workspace, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.txt").write_text("x")
    with pytest.raises(DataError) as err:
        nm.snapshot(elsewhere)
    msg = str(err.value)
    assert str(elsewhere) in msg and "outside the workspace" in msg and "\n" not in msg
    assert not (tmp_path / "elsewhere.dvc").exists()
    with pytest.raises(DataError, match="outside the workspace"):
        nm.snapshot("../elsewhere/x.txt")
    nothing_recorded(ws, ws.root)


@pytest.mark.parametrize("where", [".nbmlops", ".nbmlops/cache", "."])
def test_the_store_or_the_root_is_not_a_dataset(ws: Workspace, project: Path, where: str) -> None:
    with pytest.raises(DataError) as err:
        nm.snapshot(where)
    assert where in str(err.value) and "\n" not in str(err.value)
    nothing_recorded(ws, project)


def test_a_symlink_loop_is_one_line_naming_it(data: Path, ws: Workspace, project: Path) -> None:
    os.symlink("loop", data / "sub" / "loop")  # a link to itself: neither file nor folder
    with pytest.raises(NbMlopsError) as err:
        nm.snapshot("data")
    msg = str(err.value)
    assert "loop" in msg and str(data / "sub" / "loop") in msg and "\n" not in msg
    nothing_recorded(ws, project)


def test_a_link_to_a_folder_is_not_followed(data: Path, ws: Workspace) -> None:
    # As dvc add (os.walk, links not followed): the link and what it leads to are no part of
    # the dataset, so a link back up the tree is no loop either.
    before = nm.snapshot("data").snapshot.md5
    os.symlink(data, data / "sub" / "loop")
    r = nm.snapshot("data")
    assert r.snapshot.md5 == before and not r.created


def test_korean_and_spaced_names(project: Path, ws: Workspace) -> None:
    folder = project / "한국어 데이터"
    (folder / "하위 폴더").mkdir(parents=True)
    (folder / "리뷰 데이터.csv").write_text("id,text\n1,좋아요\n2,별로\n", encoding="utf-8")
    (folder / "하위 폴더" / "with space.txt").write_text("x y")
    r = nm.snapshot("한국어 데이터", "한글 메시지")
    assert r.snapshot.md5 == hash_tree(folder)[0]
    assert r.to_dict()["tables"]["리뷰 데이터.csv"]["rows"] == 2
    assert sorted(e["relpath"] for e in ws.objects.listing(r.snapshot.md5)) == [
        "리뷰 데이터.csv",
        "하위 폴더/with space.txt",
    ]
    assert "path: 한국어 데이터\n" in (project / "한국어 데이터.dvc").read_text(encoding="utf-8")
    table = nm.versions("한국어 데이터").to_dict()
    assert table["path"] == "한국어 데이터"
    assert table["versions"][0]["message"] == "한글 메시지"


# -- interrupted --------------------------------------------------------------------------


def many_files(project: Path, n: int = 12) -> Path:
    folder = project / "many"
    (folder / "deep").mkdir(parents=True)
    for i in range(n):
        (folder / ("deep" if i % 2 else ".") / f"f{i:02}.txt").write_bytes(
            f"content {i}\n".encode() * (i + 1)
        )
    return folder


def cut_copy(monkeypatch: pytest.MonkeyPatch, after: int, exc: BaseException) -> None:
    """The write into the cache fails on call number `after + 1`, having written part of a temp.

    Every object's bytes, of large files and small, reach their temp file through _write_all.
    """
    real = objects_module._write_all
    lock = threading.Lock()
    calls = [0]

    def cut_here() -> bool:
        with lock:
            calls[0] += 1
            return calls[0] > after

    def write_all(fout, data):
        if cut_here():
            real(fout, data[: len(data) // 2])
            raise exc
        return real(fout, data)

    monkeypatch.setattr(objects_module, "_write_all", write_all)


def cut_store_file(monkeypatch: pytest.MonkeyPatch, after: int, exc: BaseException) -> None:
    """Every object copy goes through ObjectStore._store_file or _store_small: fail after a few."""
    real_file, real_small = ObjectStore._store_file, ObjectStore._store_small
    lock = threading.Lock()
    calls = [0]

    def cut_here() -> bool:
        with lock:
            calls[0] += 1
            return calls[0] > after

    def store_file(self, src, md5, size_hint):
        if cut_here():
            raise exc
        return real_file(self, src, md5, size_hint)

    def store_small(self, src):
        if cut_here():
            raise exc
        return real_small(self, src)

    monkeypatch.setattr(ObjectStore, "_store_file", store_file)
    monkeypatch.setattr(ObjectStore, "_store_small", store_small)


@pytest.mark.parametrize(
    ("cut", "exc"),
    [
        (cut_copy, KeyboardInterrupt()),
        (cut_copy, OSError(errno.EIO, "Input/output error")),
        (cut_store_file, KeyboardInterrupt()),
        (cut_store_file, RuntimeError("killed")),
    ],
)
def test_an_interrupted_snapshot_is_completed_by_running_it_again(
    project: Path, ws: Workspace, monkeypatch: pytest.MonkeyPatch, cut, exc
) -> None:
    folder = many_files(project)
    want_md5, entries, _ = hash_tree(folder)
    with monkeypatch.context() as mp, pytest.raises((type(exc), NbMlopsError)):
        cut(mp, 3, exc)
        nm.snapshot("many", "first try")

    assert snapshots(ws) == {}
    assert not (project / "many.dvc").exists()
    assert not ws.objects.has(want_md5)  # the listing comes last
    stored = [h for h, _ in ws.objects.all_objects()]
    assert len(stored) < len(entries)
    for h in stored:  # whatever is under an object's name is whole
        ws.objects.verify(h)
    assert temps_under(project) == []

    r = nm.snapshot("many", "second try")
    assert r.created and r.snapshot.version == 1 and r.snapshot.md5 == want_md5
    assert r.snapshot.doc["message"] == "second try"
    for e in entries:
        ws.objects.verify(e["md5"])
    ws.objects.verify(want_md5)
    assert len(snapshots(ws)) == 1
    assert want_md5 in (project / "many.dvc").read_text()


def test_a_secret_in_a_message_is_not_kept(project: Path, ws: Workspace) -> None:
    (project / "t.csv").write_text("id\n1\n")
    result = nm.snapshot("t.csv", "export from postgres://reader:s3cret-pass-99@db/prod")
    assert "s3cret-pass-99" not in result.snapshot.doc["message"]
    assert "postgres://reader:[REDACTED]@db/prod" in result.snapshot.doc["message"]
    assert b"s3cret-pass-99" not in (ws.home / "catalog" / "journal.jsonl").read_bytes()
