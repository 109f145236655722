"""`push` and `pull` of datasets against crafted and partial remotes: nothing escapes the
workspace, nothing wrong is recorded, and what can move moves."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from conftest import cli

import nb_mlops as nm
from nb_mlops import api
from nb_mlops.errors import RefusedError, RemoteError
from nb_mlops.store.workspace import Workspace


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def put_object(remote: Path, data: bytes, suffix: str = "") -> str:
    """Write `data` as an object of a remote folder in DVC 3's layout; return its name."""
    h = md5(data) + suffix
    path = remote / "files" / "md5" / h[:2] / h[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return h


def put_manifest(remote: Path, rel: str, doc: Any, name: str | None = None) -> Path:
    folder = remote / "nbmlops" / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or urllib.parse.quote(rel, safe="") + ".json")
    path.write_text(json.dumps(doc))
    return path


def version(number: Any, md5_: str, **extra: Any) -> dict[str, Any]:
    doc = {
        "version": number,
        "md5": md5_,
        "size": 6,
        "nfiles": 1,
        "isdir": md5_.endswith(".dir"),
        "message": "from the remote",
        "time": "2024-01-01T00:00:00+00:00",
    }
    doc.update(extra)
    return doc


@pytest.fixture
def remote(tmp_path: Path, project: Path) -> Path:
    folder = tmp_path / "remote"
    folder.mkdir()
    out = cli(project, "remote", "add", "origin", str(folder), "--default")
    assert out.returncode == 0, out.stderr
    return folder


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file beside the project that `data/../../victim.txt` would reach."""
    path = tmp_path / "victim.txt"
    path.write_text("original\n")
    return path


def recorded(project: Path) -> list[dict[str, Any]]:
    """Every dataset version the store holds (read in a fresh process's view)."""
    from nb_mlops.store.workspace import forget_open_workspaces, open_workspace

    forget_open_workspaces()
    ws = open_workspace(project / ".nbmlops")
    return sorted(ws.catalog.docs("snapshots").values(), key=lambda d: (d["path"], d["version"]))


# -- a crafted remote (issue 10, point 1a) ----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("with_manifest", [False, True], ids=["dvc-file-only", "with-manifest"])
def test_a_crafted_listing_on_a_remote_writes_nothing_outside(
    project: Path, remote: Path, victim: Path, with_manifest: bool
) -> None:
    payload = put_object(remote, b"pwned\n")
    listing = json.dumps([{"md5": payload, "relpath": "../../victim.txt"}]).encode()
    dir_md5 = put_object(remote, listing, ".dir")
    (project / "data.dvc").write_text(
        f"outs:\n- md5: {dir_md5}\n  nfiles: 1\n  hash: md5\n  path: data\n"
    )
    if with_manifest:
        put_manifest(remote, "data", {"path": "data", "versions": [version(1, dir_md5)]})

    out = cli(project, "pull")
    assert out.returncode == 1
    error = out.stderr.strip().splitlines()[-1]
    assert error.startswith("nb-mlops: error: folder object ") and "../../victim.txt" in error
    assert "object object" not in error
    assert victim.read_text() == "original\n"
    assert not (project / "data").exists()
    assert recorded(project) == []  # the remote's version was not recorded
    assert cli(project, "versions", "data").returncode == 1


# -- remote version lists are checked before anything is recorded (point 6) -------------------


@pytest.fixture
def good(remote: Path) -> str:
    """A sound file object on the remote."""
    return put_object(remote, b"sound\n")


BAD_ENTRIES = {
    "version-as-text": ({"version": "1"}, "version '1' is not a number from 1 to"),
    "version-bool": ({"version": True}, "version True is not a number"),
    "version-zero": ({"version": 0}, "version 0 is not a number"),
    "version-huge": ({"version": 10**30}, "version 1000000000000000000000000000000 is not"),
    "md5-bogus": ({"md5": "zz" * 16}, "md5 'zzzz"),
    "md5-traversal": ({"md5": "../../../etc/passwd"}, "md5 '../../../etc/passwd' is not an"),
    "size-text": ({"size": "big"}, "size 'big' is not a byte count"),
    "size-negative": ({"size": -1}, "size -1 is not a byte count"),
    "nfiles-of-a-file": ({"nfiles": 7}, "nfiles 7 is not a file count"),
    "isdir-wrong": ({"isdir": True}, "isdir True disagrees with md5"),
    "message-number": ({"message": 3}, "message 3 is not text"),
    "time-not-iso": ({"time": "yesterday"}, "time 'yesterday' is not an ISO 8601 time"),
    "rows-negative": ({"rows": -5}, "rows -5 is not a row count"),
    "tables-list": ({"tables": ["a.csv"]}, "tables is not a map"),
    "tables-columns": (
        {"tables": {"a.csv": {"columns": [{"name": 1}]}}},
        "tables is not a map",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ENTRIES), ids=list(BAD_ENTRIES))
def test_a_damaged_version_list_records_nothing(
    project: Path, remote: Path, good: str, victim: Path, case: str
) -> None:
    change, fragment = BAD_ENTRIES[case]
    bad = version(2, good, **change)
    put_manifest(remote, "data", {"path": "data", "versions": [version(1, good), bad]})
    with pytest.raises(RemoteError) as caught:
        nm.pull("data", progress=False)
    message = str(caught.value)
    assert message.startswith("the version list of data on remote origin is damaged: ")
    assert fragment in message and "\n" not in message
    assert "nothing was recorded" in message
    assert recorded(project) == []
    assert victim.read_text() == "original\n"


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"path": "../../victim.txt", "versions": []}, "names the dataset '../../victim.txt'"),
        ({"path": "data", "versions": {"1": {}}}, "not an object with a list of versions"),
        (["data"], "not an object with a list of versions"),
    ],
    ids=["path-traversal", "versions-not-a-list", "not-an-object"],
)
def test_a_version_list_for_another_path_is_refused(
    project: Path, remote: Path, good: str, doc: Any, fragment: str
) -> None:
    put_manifest(remote, "data", doc, name="data.json")
    with pytest.raises(RemoteError, match=fragment):
        nm.pull("data", progress=False)
    assert recorded(project) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["..%2F..%2Fvictim.txt.json", ".git%2Fhooks%2Fpost-checkout.json", ".nbmlops.json"]
)
def test_a_version_list_named_outside_the_workspace_is_refused(
    project: Path, remote: Path, good: str, victim: Path, name: str
) -> None:
    rel = urllib.parse.unquote(name[: -len(".json")])
    put_manifest(remote, rel, {"path": rel, "versions": [version(1, good)]}, name=name)
    (project / "victim.txt.dvc").write_text(f"outs:\n- md5: {good}\n  hash: md5\n  path: x\n")
    out = cli(project, "pull")
    assert out.returncode == 1
    assert "which is not a dataset path inside the workspace" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert victim.read_text() == "original\n"
    assert recorded(project) == []


def test_a_version_is_recorded_only_once_its_objects_arrived(
    project: Path, remote: Path, good: str
) -> None:
    absent = md5(b"never pushed\n")
    put_manifest(
        remote, "data", {"path": "data", "versions": [version(1, good), version(2, absent)]}
    )
    with pytest.raises(RemoteError, match=f"object {absent} is not on remote origin"):
        nm.pull("data", progress=False)
    assert [(d["version"], d["md5"]) for d in recorded(project)] == [(1, good)]

    put_object(remote, b"never pushed\n")  # the remote is completed: the next pull records it
    result = nm.pull("data", progress=False)
    assert [(d["version"], d["md5"]) for d in recorded(project)] == [(1, good), (2, absent)]
    assert "1 version(s) recorded" in str(result)


def test_a_sound_version_list_is_recorded_with_its_fields(
    project: Path, remote: Path, good: str
) -> None:
    put_manifest(
        remote,
        "data",
        {"path": "data", "versions": [version(3, good, rows=2, tables={"x": {"rows": 2}})]},
    )
    nm.pull("data", progress=False)
    (doc,) = recorded(project)
    assert doc["version"] == 3 and doc["rows"] == 2 and doc["refs"] == [good]


# -- removing a version recorded wrongly (point 6) --------------------------------------------


def test_remove_a_version_but_never_the_checked_out_one(project: Path, ws: Workspace) -> None:
    data = project / "t.csv"
    data.write_text("a\n1\n")
    v1 = nm.snapshot("t.csv").snapshot.doc
    data.write_text("a\n2\n")
    nm.snapshot("t.csv")

    with pytest.raises(RefusedError, match=r"t.csv version 2 is the one t.csv.dvc names") as e:
        api.delete_version("t.csv", 2)
    assert "check out another version first" in str(e.value)
    with pytest.raises(RefusedError):
        api.delete_version("t.csv", "current")

    removed = api.delete_version("t.csv", 1)
    assert removed.to_dict() == {"path": "t.csv", "version": 1, "md5": v1["md5"], "runs": []}
    assert "until gc frees" in str(removed)
    assert [d["version"] for d in nm.versions("t.csv").to_dict()["versions"]] == [2]
    assert ws.objects.has(v1["md5"])  # objects stay: gc frees them later
    with pytest.raises(nm.NbMlopsError, match="has no version 1"):
        api.delete_version("t.csv", 1)


@pytest.mark.slow
def test_remove_through_the_cli(project: Path) -> None:
    (project / "t.csv").write_text("a\n1\n")
    assert cli(project, "snapshot", "t.csv").returncode == 0
    (project / "t.csv").write_text("a\n2\n")
    assert cli(project, "snapshot", "t.csv").returncode == 0
    refused = cli(project, "versions", "t.csv", "--remove", "2")
    assert refused.returncode == 1 and "check out another version first" in refused.stderr
    done = cli(project, "versions", "t.csv", "--remove", "1", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["version"] == 1
    assert [d["version"] for d in recorded(project)] == [2]
    missing = cli(project, "versions", "t.csv", "--remove", "7")
    assert missing.returncode == 1 and "has no version 7" in missing.stderr


# -- push sends what it can (point 17) --------------------------------------------------------


@pytest.mark.slow
def test_a_push_with_a_missing_local_object_sends_the_rest(
    project: Path, remote: Path, ws: Workspace
) -> None:
    (project / "a.txt").write_text("one\n")
    first = nm.snapshot("a.txt").snapshot.md5
    (project / "a.txt").write_text("two\n")
    second = nm.snapshot("a.txt").snapshot.md5
    (project / "b.txt").write_text("other dataset\n")
    other = nm.snapshot("b.txt").snapshot.md5
    ws.objects.remove(first)

    out = cli(project, "push")
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]  # after the progress bar
    assert last == f"nb-mlops: error: object {first} is not in the local cache"
    on_remote = {p.parent.name + p.name for p in (remote / "files" / "md5").glob("??/*")}
    assert on_remote == {second, other}
    manifest = json.loads((remote / "nbmlops" / "datasets" / "a.txt.json").read_text())
    assert [v["version"] for v in manifest["versions"]] == [2]  # version 1 never arrived
    assert (remote / "nbmlops" / "datasets" / "b.txt.json").is_file()


def test_a_push_rewrites_a_damaged_version_list_without_its_bad_entries(
    project: Path, remote: Path, good: str
) -> None:
    (project / "a.txt").write_text("one\n")
    mine = nm.snapshot("a.txt").snapshot.md5
    put_manifest(
        remote,
        "a.txt",
        {"path": "a.txt", "versions": [version(5, good), version("x", good), "junk"]},
    )
    result = nm.push(progress=False)
    assert "rewritten without 2 unusable entries" in str(result)
    manifest = json.loads((remote / "nbmlops" / "datasets" / "a.txt.json").read_text())
    assert [(v["version"], v["md5"]) for v in manifest["versions"]] == [(1, mine), (5, good)]


def test_a_version_list_that_is_not_json(project: Path, remote: Path, good: str) -> None:
    path = put_manifest(remote, "a.txt", {})
    path.write_bytes(b"\xff\xfe not json")
    with pytest.raises(RemoteError, match=r"a\.txt on remote origin is damaged: it is not JSON"):
        nm.pull("a.txt", progress=False)
    assert recorded(project) == []
    (project / "a.txt").write_text("one\n")
    nm.snapshot("a.txt")
    assert "rewritten without 1 unusable entry" in str(nm.push(progress=False))
    assert json.loads(path.read_text())["path"] == "a.txt"
