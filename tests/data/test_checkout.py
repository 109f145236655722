"""`nm.checkout`, `nm.status` and file-level `nm.diff`: the workspace made to hold one version."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import nb_mlops as nm
from nb_mlops.data.checkout import remove_stale_staging
from nb_mlops.data.snapshot import DataError
from nb_mlops.errors import ObjectCorrupt, RefusedError, StoreError
from nb_mlops.store import objects as objects_module
from nb_mlops.store.workspace import Workspace


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def state(project: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) of the project outside the store."""
    out: dict[str, bytes | None] = {}
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project).as_posix()
        if rel == ".nbmlops" or rel.startswith(".nbmlops/"):
            continue
        out[rel] = path.read_bytes() if path.is_file() else None
    return out


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def temps_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".tmp-")]


V1 = {
    "a.txt": b"alpha v1\n",
    "b.txt": b"beta\n",
    "keep/same.bin": bytes(range(200)),
    "gone/deleted later.txt": b"deleted in v2\n",
}
V2 = {
    "a.txt": b"alpha v2, longer\n",
    "b.txt": b"beta\n",
    "keep/same.bin": bytes(range(200)),
    "new/added.txt": b"added in v2\n",
}


def write(folder: Path, content: dict[str, bytes]) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    for rel, data in content.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.fixture
def two_versions(project: Path) -> Path:
    """data/ at version 2 (the workspace), version 1 in the store."""
    folder = project / "data"
    write(folder, V1)
    nm.snapshot("data", "v1")
    write(folder, V2)
    nm.snapshot("data", "v2")
    return folder


# -- checkout -------------------------------------------------------------------------------


def test_checkout_restores_exactly_that_version(two_versions: Path, project: Path) -> None:
    v2_dvc = (project / "data.dvc").read_text()
    r = nm.checkout("data", 1)
    assert files(two_versions) == V1
    # added files removed, with the folders they leave empty; deleted files back
    assert not (two_versions / "new").exists()
    assert (two_versions / "gone" / "deleted later.txt").read_bytes() == V1[
        "gone/deleted later.txt"
    ]
    assert (r.version, r.written, r.removed, r.unchanged) == (1, 2, 1, 2)
    assert r.forced == []
    assert "version 1" in str(r)
    v1_dvc = (project / "data.dvc").read_text()
    assert v1_dvc != v2_dvc and nm.versions("data").to_dict()["versions"][0]["md5"] in v1_dvc
    assert nm.status("data").items[0].clean
    assert nm.versions("data").to_dict()["current"] == 1

    nm.checkout("data", 2)
    assert files(two_versions) == V2
    assert (project / "data.dvc").read_text() == v2_dvc
    assert not (two_versions / "gone").exists()


def test_checkout_removes_nested_folders_left_empty(project: Path) -> None:
    folder = project / "data"
    write(folder, {"a.txt": b"a"})
    nm.snapshot("data")
    write(folder, {"a.txt": b"a", "sub/deeper/x.txt": b"x"})
    nm.snapshot("data")
    nm.checkout("data", 1)
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == ["a.txt"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"a": b"a", "sub/x.txt": b"x"}, {"a": b"a", "sub": b"now a file"}),
        ({"a": b"a", "sub": b"a file"}, {"a": b"a", "sub/x.txt": b"now a folder"}),
    ],
    ids=["folder-became-file", "file-became-folder"],
)
def test_a_path_that_changed_between_file_and_folder(
    project: Path, old: dict[str, bytes], new: dict[str, bytes]
) -> None:
    # Both versions are in the cache, so nothing is at risk: checkout must swap the two kinds.
    folder = project / "data"
    write(folder, old)
    nm.snapshot("data")
    write(folder, new)
    nm.snapshot("data")
    nm.checkout("data", 1)
    assert files(folder) == old
    nm.checkout("data", 2)
    assert files(folder) == new


def test_an_empty_folder_version_is_checked_out_as_a_folder(project: Path) -> None:
    folder = project / "data"
    folder.mkdir()
    nm.snapshot("data", "empty")
    (folder / "a.txt").write_text("a")
    nm.snapshot("data")
    shutil.rmtree(folder)
    nm.checkout("data", 1)
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert nm.status("data").items[0].clean


def test_checked_out_files_are_writable_copies(two_versions: Path, ws: Workspace) -> None:
    nm.checkout("data", 1)
    a = two_versions / "a.txt"
    assert os.access(a, os.W_OK)
    a.write_bytes(b"edited in place")  # must not reach the cache
    ws.objects.verify(md5(V1["a.txt"]))


def test_latest_and_current(two_versions: Path) -> None:
    nm.checkout("data", "1")
    assert nm.checkout("data", "current").version == 1
    r = nm.checkout("data", "current")
    assert (r.written, r.removed) == (0, 0)
    assert nm.checkout("data", "latest").version == 2
    assert files(two_versions) == V2


def test_refuses_to_lose_changes_never_snapshotted(two_versions: Path, project: Path) -> None:
    (two_versions / "a.txt").write_bytes(b"edited, never snapshotted\n")  # would be overwritten
    (two_versions / "new" / "scratch.txt").write_bytes(b"mine\n")  # would be removed
    (two_versions / "b.txt").unlink()  # deleted: nothing lost by restoring it
    before = state(project)
    with pytest.raises(RefusedError) as err:
        nm.checkout("data", 1)
    msg = str(err.value)
    assert "data/a.txt" in msg and "data/new/scratch.txt" in msg
    assert "new/added.txt" not in msg  # in the cache: nothing would be lost
    assert "--force" in msg and "\n" not in msg
    assert state(project) == before
    assert temps_under(project) == []

    r = nm.checkout("data", 1, force=True)
    assert files(two_versions) == V1
    assert r.forced == ["a.txt", "new/scratch.txt"]
    assert "--force" in str(r)


def test_a_file_dataset(project: Path) -> None:
    f = project / "model.bin"
    f.write_bytes(b"first")
    nm.snapshot("model.bin")
    f.write_bytes(b"second, longer")
    nm.snapshot("model.bin")
    r = nm.checkout("model.bin", 1)
    assert f.read_bytes() == b"first"
    assert (r.written, r.removed) == (1, 0)
    assert md5(b"first") in (project / "model.bin.dvc").read_text()
    f.write_bytes(b"unsaved")
    with pytest.raises(RefusedError, match=r"model\.bin"):
        nm.checkout("model.bin", 2)
    assert f.read_bytes() == b"unsaved"
    nm.checkout("model.bin", 2, force=True)
    assert f.read_bytes() == b"second, longer"


def test_checkout_when_the_data_was_deleted(two_versions: Path, project: Path) -> None:
    shutil.rmtree(two_versions)
    st = nm.status("data").items[0]
    assert st.workspace_md5 is None and "missing" in str(st)
    nm.checkout("data", 1)
    assert files(two_versions) == V1
    (project / "f.txt").write_text("f")
    nm.snapshot("f.txt")
    (project / "f.txt").unlink()
    nm.checkout("f.txt", "latest")
    assert (project / "f.txt").read_text() == "f"


def test_a_folder_replaced_by_an_unsaved_file_is_refused_then_forced(
    two_versions: Path, project: Path
) -> None:
    shutil.rmtree(two_versions)
    two_versions.write_text("now a file")
    before = state(project)
    with pytest.raises(RefusedError) as err:
        nm.checkout("data", 1)
    assert "data" in str(err.value) and "never snapshotted" in str(err.value)
    assert "\n" not in str(err.value)
    assert state(project) == before
    nm.checkout("data", 1, force=True)
    assert two_versions.is_dir()
    assert nm.status("data").items[0].clean


def test_a_file_replaced_by_an_unsaved_folder_is_refused_then_forced(project: Path) -> None:
    (project / "x").write_text("file")
    nm.snapshot("x")
    (project / "x").unlink()
    (project / "x").mkdir()
    (project / "x" / "inner.txt").write_text("inner")
    before = state(project)
    with pytest.raises(RefusedError, match=r"x/inner\.txt"):
        nm.checkout("x", 1)
    assert state(project) == before
    nm.checkout("x", 1, force=True)
    assert (project / "x").read_text() == "file"


def test_non_ascii_and_spaced_names_round_trip(project: Path) -> None:
    folder = project / "리뷰 데이터"
    v1 = {
        "학습 데이터.csv": "id,text\n1,좋아요\n".encode(),
        "하위 폴더/with space.txt": b"x y\n",
        "émoji 🎉.txt": "🎉".encode(),
    }
    write(folder, v1)
    nm.snapshot("리뷰 데이터")
    write(folder, {"학습 데이터.csv": b"id,text\n"})
    nm.snapshot("리뷰 데이터")
    nm.checkout("리뷰 데이터", 1)
    assert files(folder) == v1
    assert nm.status("리뷰 데이터").items[0].clean


# -- bad input ------------------------------------------------------------------------------


def test_an_unknown_version_lists_the_versions(two_versions: Path, project: Path) -> None:
    before = state(project)
    with pytest.raises(DataError) as err:
        nm.checkout("data", 7)
    assert str(err.value) == "data has no version 7 (it has 1, 2)"
    with pytest.raises(DataError) as err:
        nm.checkout("data", "v1")
    assert "'v1'" in str(err.value) and "number" in str(err.value)
    assert state(project) == before


def test_checkout_of_data_never_snapshotted(project: Path) -> None:
    (project / "x.txt").write_text("x")
    with pytest.raises(DataError, match=r"x\.txt has no versions yet"):
        nm.checkout("x.txt", 1)
    with pytest.raises(DataError, match="no-such"):
        nm.checkout("no-such", 1)
    assert (project / "x.txt").read_text() == "x"


def test_checkout_outside_the_workspace(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="outside the workspace"):
        nm.checkout(tmp_path / "elsewhere", 1)
    with pytest.raises(DataError, match="store"):
        nm.checkout(ws.home, 1)


def test_a_corrupt_object_stops_the_checkout_before_anything_changes(
    two_versions: Path, project: Path, ws: Workspace
) -> None:
    victim = ws.objects.path_of(md5(V1["gone/deleted later.txt"]))
    victim.chmod(0o644)
    raw = bytearray(victim.read_bytes())
    raw[3] ^= 0xFF
    victim.write_bytes(bytes(raw))
    before = state(project)
    with pytest.raises(ObjectCorrupt) as err:
        nm.checkout("data", 1)
    assert str(victim) in str(err.value) and "\n" not in str(err.value)
    after = state(project)
    assert {k: v for k, v in after.items() if v is not None} == {
        k: v for k, v in before.items() if v is not None
    }
    assert temps_under(project) == []
    assert nm.versions("data").to_dict()["current"] == 2
    # nor a folder made for the version's files (`data/gone` did not exist in version 2)
    assert sorted(k for k, v in after.items() if v is None) == sorted(
        k for k, v in before.items() if v is None
    )


def test_a_corrupt_listing_is_named(two_versions: Path, project: Path, ws: Workspace) -> None:
    listing = ws.objects.path_of(nm.versions("data").to_dict()["versions"][0]["md5"])
    listing.chmod(0o644)
    listing.write_bytes(listing.read_bytes().replace(b"a.txt", b"A.txt"))
    before = state(project)
    with pytest.raises(ObjectCorrupt) as err:
        nm.checkout("data", 1)
    assert str(listing) in str(err.value)
    assert state(project) == before


def fail_copy_once(monkeypatch: pytest.MonkeyPatch, exc: OSError, on_call: int = 2) -> None:
    """The copy out of the cache fails once, on call `on_call`, having written half a temp."""
    real = objects_module._copy_hashing
    lock = threading.Lock()
    calls = [0]

    def copy(fin, fout, on_bytes, size_hint):
        with lock:
            calls[0] += 1
            n = calls[0]
        if n == on_call:
            fout.write(b"partial")
            raise exc
        return real(fin, fout, on_bytes, size_hint)

    monkeypatch.setattr(objects_module, "_copy_hashing", copy)


def test_a_full_disk_while_staging_changes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = project / "flat"
    v1 = {f"f{i}.txt": f"version one {i}\n".encode() for i in range(6)}
    write(folder, v1)
    nm.snapshot("flat")
    write(folder, dict.fromkeys(v1, b"version two\n"))
    nm.snapshot("flat")
    before = state(project)
    with monkeypatch.context() as mp, pytest.raises(StoreError) as err:
        fail_copy_once(mp, OSError(errno.ENOSPC, "No space left on device"), on_call=3)
        nm.checkout("flat", 1)
    assert "disk full" in str(err.value) and "\n" not in str(err.value)
    assert str(folder) in str(err.value)
    assert state(project) == before
    assert temps_under(project) == []
    nm.checkout("flat", 1)  # with room again it completes
    assert files(folder) == v1


def test_a_full_disk_on_a_file_dataset(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = project / "f.bin"
    f.write_bytes(b"one")
    nm.snapshot("f.bin")
    f.write_bytes(b"two")
    nm.snapshot("f.bin")
    with monkeypatch.context() as mp, pytest.raises(StoreError, match="disk full"):
        fail_copy_once(mp, OSError(errno.ENOSPC, "No space left on device"), on_call=1)
        nm.checkout("f.bin", 1)
    assert f.read_bytes() == b"two"
    assert temps_under(project) == []


# -- symbolic links: nothing is written or deleted through one (issue 10, points 1c and 3) ----


def outside_folder(tmp_path: Path) -> Path:
    """A folder beside the project, holding one file."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "x.txt").write_text("outside, never to change\n")
    return folder


@pytest.mark.parametrize("force", [False, True])
def test_a_link_inside_the_dataset_is_never_written_through(
    project: Path, tmp_path: Path, force: bool
) -> None:
    data = project / "data"
    write(data, {"a.txt": b"a1\n", "sub/x.txt": b"version one\n"})
    nm.snapshot("data")
    write(data, {"a.txt": b"a2\n"})
    nm.snapshot("data")
    outside = outside_folder(tmp_path)
    os.symlink(outside, data / "sub")  # crafted: `data/sub` now leads out of the workspace
    before = files(outside)
    with pytest.raises(RefusedError) as err:  # version 1 writes sub/x.txt through the link
        nm.checkout("data", 1, force=force)
    message = str(err.value)
    assert "data/sub is a symbolic link" in message and str(outside) in message
    assert "\n" not in message
    assert files(outside) == before
    assert temps_under(project) == [] and not (project / ".data.nbmlops-checkout").exists()
    # A link to a folder is no part of a dataset (as for dvc): version 2 has nothing there to
    # write or remove, and the folder it leads to is left alone.
    assert nm.status("data").items[0].clean
    assert nm.checkout("data", 2, force=force).written == 0
    assert files(outside) == before and (data / "sub").is_symlink()


def test_a_listing_through_a_link_from_a_crafted_cache_is_refused(
    project: Path, tmp_path: Path, ws: Workspace
) -> None:
    # The version's listing itself is sound; the workspace holds a link where it has a folder.
    data = project / "data"
    write(data, {"deep/er/x.txt": b"mine\n"})
    nm.snapshot("data")
    shutil.rmtree(data)
    data.mkdir()
    outside = outside_folder(tmp_path)
    os.symlink(outside, data / "deep")
    with pytest.raises(RefusedError, match="data/deep is a symbolic link"):
        nm.checkout("data", 1, force=True)
    assert not (outside / "er").exists()


@pytest.mark.parametrize("where", ["dataset", "parent"])
def test_a_dataset_path_that_links_outside_is_refused(
    project: Path, tmp_path: Path, where: str
) -> None:
    outside = outside_folder(tmp_path)
    if where == "dataset":
        os.symlink(outside, project / "data")
        path, link = "data", "data"
    else:
        (outside / "data").mkdir()
        (outside / "data" / "y.txt").write_text("y\n")
        os.symlink(outside, project / "mnt")
        path, link = "mnt/data", "mnt"
    nm.snapshot(path)  # reading through a link is fine
    (project / path / "new.txt").write_text("added\n")
    nm.snapshot(path)
    before = files(outside)
    with pytest.raises(RefusedError) as err:
        nm.checkout(path, 1, force=True)
    message = str(err.value)
    assert message.startswith(f"cannot check out {path}: {link} is a symbolic link (to {outside}")
    assert "replace the link with a real folder" in message and "\n" not in message
    assert files(outside) == before  # new.txt was not deleted through the link
    assert (project / link).is_symlink()  # and the link was left as it was


def test_a_file_dataset_that_is_a_link_is_refused(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.csv"
    target.write_text("a\n1\n")
    os.symlink(target, project / "t.csv")
    nm.snapshot("t.csv")
    target.write_text("a\n2\n")
    nm.snapshot("t.csv")
    with pytest.raises(RefusedError, match=r"t\.csv is a symbolic link"):
        nm.checkout("t.csv", 1, force=True)
    assert target.read_text() == "a\n2\n" and (project / "t.csv").is_symlink()


# -- staging folders left by killed checkouts (point 18) --------------------------------------

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def holder(folder: Path) -> subprocess.Popen:
    """Another process that holds a staging folder's lock, as a running checkout does."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def age(folder: Path, seconds: float) -> None:
    """Set the mtime of a folder and of all it holds `seconds` in the past."""
    when = time.time() - seconds
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, (when, when), follow_symlinks=False)


def leftover(project: Path, name: str, seconds: float) -> Path:
    staging = project / f".{name}.nbmlops-checkout"
    (staging / "sub").mkdir(parents=True)
    (staging / "0").write_bytes(b"half a staged file")
    (staging / "sub" / ".tmp-0123").write_bytes(b"x")
    age(staging, seconds)
    return staging


def test_stale_staging_folders_are_swept(project: Path, ws: Workspace) -> None:
    for name in ("old", "fresh", "busy", "inner"):
        (project / name).write_text(name)
        nm.snapshot(name)
    old = leftover(project, "old", 2 * 3600)
    fresh = leftover(project, "fresh", 10)
    busy = leftover(project, "busy", 2 * 3600)
    inner = leftover(project, "inner", 2 * 3600)
    os.utime(inner / "0")  # a file staged just now: the folder is in use
    unknown = leftover(project, "not-a-dataset", 2 * 3600)
    proc = holder(busy)
    try:
        assert remove_stale_staging(ws) == 1
        assert not old.exists()
        assert fresh.is_dir() and busy.is_dir() and inner.is_dir() and unknown.is_dir()
    finally:
        proc.kill()
        proc.wait()
    assert remove_stale_staging(ws) == 1  # its process gone, the busy one is stale too
    assert not busy.exists()
    assert remove_stale_staging(ws, older_than_s=0) == 2  # fresh and inner, without the hour
    assert unknown.is_dir()  # beside no dataset the store knows: not ours to judge


def test_a_stale_staging_folder_reached_through_a_link_is_left(
    project: Path, tmp_path: Path, ws: Workspace
) -> None:
    outside = tmp_path / "outside"
    (outside / "d").mkdir(parents=True)
    (outside / "d" / "f.txt").write_text("f")
    os.symlink(outside, project / "mnt")
    nm.snapshot("mnt/d")
    staging = leftover(outside, "d", 2 * 3600)
    assert remove_stale_staging(ws) == 0
    assert staging.is_dir()


def test_checkout_clears_a_leftover_staging_folder_but_not_a_busy_one(
    two_versions: Path, project: Path
) -> None:
    staging = leftover(project, "data", 5)  # a killed checkout's, however young
    nm.checkout("data", 1)
    assert files(two_versions) == V1 and not staging.exists()

    staging = leftover(project, "data", 5)
    proc = holder(staging)
    try:
        with pytest.raises(RefusedError, match="another checkout of data is under way"):
            nm.checkout("data", 2)
        assert files(two_versions) == V1 and (staging / "0").is_file()
    finally:
        proc.kill()
        proc.wait()
    nm.checkout("data", 2)
    assert files(two_versions) == V2 and not staging.exists()


# -- status ---------------------------------------------------------------------------------


def test_status_clean_after_snapshot_then_each_kind_of_change(two_versions: Path) -> None:
    st = nm.status("data").items[0]
    assert st.clean and st.version == 2 and "unchanged" in str(st)
    (two_versions / "a.txt").write_bytes(b"modified")
    (two_versions / "b.txt").unlink()
    (two_versions / "keep" / "extra.txt").write_bytes(b"extra")
    st = nm.status("data").items[0]
    assert not st.clean
    assert (st.added, st.deleted, st.modified) == (["keep/extra.txt"], ["b.txt"], ["a.txt"])
    d = st.to_dict()
    assert d["clean"] is False and d["version"] == 2
    assert json.loads(json.dumps(d)) == d
    assert "1 added" in str(st) and "1 deleted" in str(st) and "1 modified" in str(st)


def test_status_of_data_with_no_version(project: Path) -> None:
    (project / "x.txt").write_text("x")
    st = nm.status("x.txt").items[0]
    assert st.version is None and not st.clean
    assert "no version recorded yet" in str(st)
    assert "no version recorded yet" in str(nm.status("never-existed"))


def test_status_without_a_path_lists_every_dataset(two_versions: Path, project: Path) -> None:
    assert nm.status("data").items[0].clean
    (project / "m.bin").write_bytes(b"m")
    nm.snapshot("m.bin")
    (project / "m.bin").write_bytes(b"changed")
    listed = nm.status()
    assert [s.path for s in listed.items] == ["data", "m.bin"]
    assert [s.clean for s in listed.items] == [True, False]
    assert listed.to_dict()["datasets"][1]["modified"] == ["m.bin"]
    assert str(listed).splitlines()[1:] == [
        "m.bin: version 1, changed (1 modified)",
        "  modified: m.bin",
    ]
    assert str(listed).splitlines()[0] == "data: version 2, unchanged"


def test_status_with_no_datasets(ws: Workspace) -> None:
    assert nm.status().items == []
    assert "no datasets" in str(nm.status())


# -- diff (file level) ----------------------------------------------------------------------


def test_diff_between_versions(two_versions: Path) -> None:
    d = nm.diff("data", 1, 2)
    assert d.added == ["new/added.txt"]
    assert d.deleted == ["gone/deleted later.txt"]
    assert d.modified == ["a.txt"]
    assert d.renamed == []
    assert not d.identical
    s = d.summary()
    assert (s["files_added"], s["files_deleted"], s["files_modified"]) == (1, 1, 1)
    data = d.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["files"] == {
        "added": ["new/added.txt"],
        "deleted": ["gone/deleted later.txt"],
        "modified": ["a.txt"],
        "renamed": [],
    }
    assert (data["a"]["version"], data["b"]["version"]) == (1, 2)
    back = nm.diff("data", 2, 1)
    assert (back.added, back.deleted) == (d.deleted, d.added)


def test_a_moved_file_is_renamed_not_added_and_deleted(two_versions: Path) -> None:
    (two_versions / "keep" / "same.bin").rename(two_versions / "moved.bin")
    nm.snapshot("data", "moved")
    d = nm.diff("data", 2, 3)
    assert d.renamed == [{"old": "keep/same.bin", "new": "moved.bin"}]
    assert (d.added, d.deleted, d.modified) == ([], [], [])
    assert d.summary()["files_renamed"] == 1
    assert "keep/same.bin → moved.bin" in str(d)


def test_diff_against_the_workspace(two_versions: Path) -> None:
    (two_versions / "b.txt").rename(two_versions / "b renamed.txt")
    (two_versions / "z.txt").write_bytes(b"z")
    d = nm.diff("data", 2)
    assert d.b["label"] == "workspace" and d.b["version"] is None
    assert d.added == ["z.txt"] and d.deleted == [] and d.modified == []
    assert d.renamed == [{"old": "b.txt", "new": "b renamed.txt"}]
    assert nm.diff("data", "workspace", 2).renamed == [{"old": "b renamed.txt", "new": "b.txt"}]


def test_identical_versions(two_versions: Path) -> None:
    d = nm.diff("data", 2, "workspace")
    assert d.identical
    assert (d.added, d.deleted, d.modified, d.renamed) == ([], [], [], [])
    assert "identical" in str(d)
    assert d.to_dict()["identical"] is True
    assert nm.diff("data", 1, 1).identical
    assert "identical" in d._repr_html_()


def test_diff_of_a_file_dataset(project: Path) -> None:
    (project / "m.bin").write_bytes(b"1")
    nm.snapshot("m.bin")
    (project / "m.bin").write_bytes(b"2")
    nm.snapshot("m.bin")
    d = nm.diff("m.bin", 1, 2)
    assert d.modified == [""] and d.added == [] and d.deleted == []
    assert "m.bin" in str(d)


def test_diff_bad_input(two_versions: Path) -> None:
    with pytest.raises(DataError, match=r"has no version 9 \(it has 1, 2\)"):
        nm.diff("data", 9, 1)
    with pytest.raises(DataError, match="'x'"):
        nm.diff("data", 1, "x")
    shutil.rmtree(two_versions)
    with pytest.raises(DataError, match="not in the workspace"):
        nm.diff("data", 1)


def test_diff_html_escapes_file_names(project: Path) -> None:
    folder = project / "web"
    folder.mkdir()
    (folder / "ok.txt").write_text("ok")
    nm.snapshot("web")
    nasty = "<img src=x onerror=alert(1)>.txt"
    (folder / nasty).write_text("boom")
    d = nm.diff("web", 1)
    assert d.added == [nasty]
    html = d._repr_html_()
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in html
