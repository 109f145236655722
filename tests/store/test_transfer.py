"""Moving objects between object stores: push and pull with a remote in DVC 3's layout."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from nb_mlops.data.remote import Remote, add_remote, open_remote
from nb_mlops.errors import RemoteError
from nb_mlops.store import fsobjects, transfer
from nb_mlops.store import objects as objects_module
from nb_mlops.store.transfer import TransferReport
from nb_mlops.store.workspace import Workspace, open_workspace


def push(ws: Workspace, hashes: list[str], remote: str | None = None, **options):
    """Objects from the store's cache to a remote: a transfer from the cache."""
    return transfer.transfer(ws.objects, open_remote(ws, remote, write=True), hashes, **options)


def pull(ws: Workspace, hashes: list[str], remote: str | None = None, **options):
    """Objects from a remote into the store's cache: a transfer into the cache."""
    return transfer.transfer(open_remote(ws, remote), ws.objects, hashes, **options)


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def dataset(ws: Workspace, project: Path) -> tuple[str, list[str]]:
    """A folder with Korean and spaced names stored in the cache: (.dir hash, its file hashes)."""
    folder = project / "data"
    (folder / "하위 폴더").mkdir(parents=True)
    (folder / "리뷰 데이터.csv").write_text("id,text\n1,좋아요\n2,별로\n", encoding="utf-8")
    (folder / "하위 폴더" / "file two.txt").write_bytes(b"two\n" * 100)
    (folder / "a.txt").write_bytes(b"a")
    (folder / "same as a.txt").write_bytes(b"a")  # a repeated object moves once
    info = ws.objects.add(folder)
    files = sorted({e["md5"] for e in ws.objects.listing(info.md5)})
    return info.md5, files


@pytest.fixture
def remote_dir(tmp_path: Path) -> Path:
    return tmp_path / "remote"


@pytest.fixture
def origin(ws: Workspace, remote_dir: Path) -> Remote:
    return add_remote(ws, "origin", str(remote_dir))


@pytest.fixture
def other(tmp_path: Path, remote_dir: Path, capsys: pytest.CaptureFixture[str]) -> Workspace:
    """A second copy of the project with its own store, its remote pointing at the same folder."""
    other_ws = open_workspace(tmp_path / "other" / ".nbmlops")
    add_remote(other_ws, "origin", str(remote_dir))
    capsys.readouterr()  # the "created a store" notice
    return other_ws


def remote_objects(remote_dir: Path) -> set[str]:
    base = remote_dir / "files" / "md5"
    return {p.parent.name + p.name for p in base.glob("??/*") if not p.name.startswith(".")}


def temps(folder: Path) -> list[Path]:
    return list(folder.rglob(".tmp-*"))


# -- push and pull --------------------------------------------------------------------------


def test_push_then_pull_into_a_fresh_store(
    ws: Workspace, origin: Remote, other: Workspace, dataset: tuple[str, list[str]], remote_dir
) -> None:
    dir_md5, files = dataset
    note = ws.objects.add_bytes(b'{"note": "a lone object"}')
    report = push(ws, [dir_md5, note], progress=False)
    assert (report.remote, report.direction) == ("origin", "push")
    assert (report.moved, report.skipped, report.failed) == (len(files) + 2, 0, [])
    assert report.bytes == sum(
        ws.objects.path_of(h).stat().st_size for h in [*files, dir_md5, note]
    )
    assert str(report).startswith(f"pushed {len(files) + 2} objects (")
    # DVC 3's remote layout, so `dvc pull` from the same folder finds them
    assert remote_objects(remote_dir) == {*files, dir_md5, note}
    for h in files:
        assert (remote_dir / "files" / "md5" / h[:2] / h[2:]).is_file()
    assert temps(remote_dir) == []

    got = pull(other, [dir_md5, note], progress=False)
    assert (got.moved, got.skipped, got.failed) == (len(files) + 2, 0, [])
    assert str(got).startswith(f"pulled {len(files) + 2} objects (")
    for h in [*files, dir_md5, note]:
        assert other.objects.read_bytes(h) == ws.objects.read_bytes(h)
        assert other.objects.path_of(h).stat().st_mode & 0o777 == 0o444
    assert temps(other.cache_dir) == []
    copy = other.root / "data"
    other.objects.checkout_tree(dir_md5, copy)
    assert (copy / "리뷰 데이터.csv").read_text(encoding="utf-8").endswith("2,별로\n")
    assert (copy / "하위 폴더" / "file two.txt").read_bytes() == b"two\n" * 100


@pytest.mark.parametrize("probe_limit", [32, 0], ids=["probe-each", "list-prefixes"])
def test_only_missing_objects_move(
    ws: Workspace,
    origin: Remote,
    other: Workspace,
    dataset: tuple[str, list[str]],
    remote_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    probe_limit: int,
) -> None:
    monkeypatch.setattr(fsobjects, "PROBE_LIMIT", probe_limit)
    dir_md5, files = dataset
    n = len(files) + 1
    assert push(ws, [dir_md5], progress=False).moved == n
    again = push(ws, [dir_md5], progress=False)
    assert (again.moved, again.skipped, again.bytes) == (0, n, 0)
    assert str(again) == f"nothing to push: {n} objects already there (to origin)"

    # a stale temp from a killed push is ignored; a lost object is sent again, alone
    lost = files[0]
    stale = remote_dir / "files" / "md5" / lost[:2] / ".tmp-deadbeef"
    stale.write_bytes(b"half")
    (remote_dir / "files" / "md5" / lost[:2] / lost[2:]).unlink()
    third = push(ws, [dir_md5], progress=False)
    assert (third.moved, third.skipped) == (1, n - 1)
    assert str(third) == f"pushed 1 object ({third.bytes} B) to origin; {n - 1} already there"

    pull(other, [dir_md5], progress=False)
    later = pull(other, [dir_md5], progress=False)
    assert (later.moved, later.skipped) == (0, n)
    # a file gone from the local cache comes back alone, its .dir being already here
    other.objects.remove(lost)
    fourth = pull(other, [dir_md5], progress=False)
    assert (fourth.moved, fourth.skipped) == (1, n - 1)
    assert other.objects.has(lost)


def test_dir_objects_travel_after_their_files(
    ws: Workspace,
    origin: Remote,
    other: Workspace,
    dataset: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dir_md5, files = dataset
    sent: list[str] = []
    real_copy = transfer._copy_one

    def send(src, dst, md5, bar):
        sent.append(md5)
        return real_copy(src, dst, md5, bar)

    monkeypatch.setattr(transfer, "_copy_one", send)
    push(ws, [dir_md5], progress=False)
    assert sorted(sent[:-1]) == files and sent[-1] == dir_md5

    received: list[str] = []

    def receive(src, dst, md5, bar):
        assert not other.objects.has(dir_md5)  # the .dir lands only after every file
        received.append(md5)
        return real_copy(src, dst, md5, bar)

    monkeypatch.setattr(transfer, "_copy_one", receive)
    pull(other, [dir_md5], progress=False)
    assert sorted(received) == files
    assert other.objects.has(dir_md5)


def test_memory_remote(ws: Workspace, dataset: tuple[str, list[str]], tmp_path: Path) -> None:
    import fsspec

    bucket = f"nbm-test-{uuid.uuid4().hex[:8]}"
    mem = fsspec.filesystem("memory")
    try:
        add_remote(ws, "cloud", f"memory://{bucket}")
        dir_md5, files = dataset
        assert push(ws, [dir_md5], progress=False).moved == len(files) + 1
        assert mem.isfile(f"/{bucket}/files/md5/{dir_md5[:2]}/{dir_md5[2:]}")
        assert not [p for p in mem.find(f"/{bucket}") if "/.tmp-" in p]
        assert push(ws, [dir_md5], "cloud", progress=False).moved == 0

        fresh = open_workspace(tmp_path / "fresh" / ".nbmlops")
        add_remote(fresh, "cloud", f"memory://{bucket}")
        got = pull(fresh, [dir_md5], "cloud", progress=False)
        assert got.moved == len(files) + 1
        for h in [*files, dir_md5]:
            assert fresh.objects.read_bytes(h) == ws.objects.read_bytes(h)
    finally:
        if mem.exists(f"/{bucket}"):
            mem.rm(f"/{bucket}", recursive=True)


def test_unreachable_remotes(
    ws: Workspace, tmp_path: Path, dataset: tuple[str, list[str]], monkeypatch
) -> None:
    dir_md5, _ = dataset
    gone = tmp_path / "unmounted" / "drive"
    add_remote(ws, "usb", str(gone))
    with pytest.raises(RemoteError, match=r"remote usb \(.*drive\) is unreachable: .* mounted"):
        push(ws, [dir_md5], "usb", progress=False)
    assert not gone.parent.exists()  # nothing was created on the local disk instead
    with pytest.raises(RemoteError, match=r"remote usb .* folder .*drive does not exist"):
        pull(ws, [dir_md5], "usb", progress=False)

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    add_remote(ws, "file", str(a_file))
    with pytest.raises(RemoteError, match=r"remote file .* is not a folder"):
        push(ws, [dir_md5], "file", progress=False)

    config = ws.home / "config.toml"  # an unknown protocol written by hand
    config.write_text(config.read_text() + '[remotes.odd]\nurl = "nosuch://x"\n')
    with pytest.raises(RemoteError, match=r"remote odd \(nosuch://x\) is unreachable"):
        pull(ws, [dir_md5], "odd", progress=False)

    from fsspec.implementations.local import LocalFileSystem

    def denied(self, path, exist_ok=False):
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(LocalFileSystem, "makedirs", denied)
    add_remote(ws, "locked", str(tmp_path / "locked"))
    with pytest.raises(RemoteError, match=r"remote locked .* unreachable: permission denied"):
        push(ws, [dir_md5], "locked", progress=False)


def test_corrupt_object_on_the_remote_is_rejected(
    ws: Workspace,
    origin: Remote,
    other: Workspace,
    dataset: tuple[str, list[str]],
    remote_dir: Path,
) -> None:
    dir_md5, files = dataset
    push(ws, [dir_md5], progress=False)
    bad = files[0]
    on_remote = remote_dir / "files" / "md5" / bad[:2] / bad[2:]
    on_remote.chmod(0o644)
    on_remote.write_bytes(b"bit rot")
    with pytest.raises(RemoteError) as caught:
        pull(other, [dir_md5], progress=False)
    message = str(caught.value)
    assert f"object {bad} from remote origin is corrupt (bytes hash to " in message
    report = caught.value.report
    assert report is not None and set(report.failed) == {bad, dir_md5}
    assert report.moved == len(files) - 1  # the rest did arrive
    assert not other.objects.has(bad) and not other.objects.has(dir_md5)
    assert temps(other.cache_dir) == []
    # once the remote is repaired, pulling again completes it
    on_remote.unlink()
    push(ws, [dir_md5], progress=False)
    assert pull(other, [dir_md5], progress=False).moved == 2


def test_missing_on_remote_and_corrupt_local_objects(
    ws: Workspace, origin: Remote, other: Workspace, dataset: tuple[str, list[str]], remote_dir
) -> None:
    dir_md5, files = dataset
    remote_dir.mkdir()
    with pytest.raises(RemoteError, match=f"object {dir_md5} is not on remote origin"):
        pull(other, [dir_md5], progress=False)

    victim = ws.objects.path_of(files[0])
    victim.chmod(0o644)
    victim.write_bytes(b"changed in the cache")
    with pytest.raises(RemoteError, match=f"local object {files[0]} is corrupt") as caught:
        push(ws, [dir_md5], progress=False)
    assert set(caught.value.report.failed) == {files[0], dir_md5}
    assert remote_objects(remote_dir) == set(files[1:])  # neither the bad one nor its .dir

    with pytest.raises(RemoteError, match="not an object hash"):
        push(ws, ["data/reviews.csv"], progress=False)


@pytest.mark.parametrize("jobs", [1, 4])
def test_interrupted_push_is_completed_by_the_next(
    ws: Workspace,
    origin: Remote,
    dataset: tuple[str, list[str]],
    remote_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    jobs: int,
) -> None:
    dir_md5, files = dataset
    real_copy = objects_module._copy_hashing
    calls = []

    def copy_then_die(fin, fout, on_bytes, size_hint):
        calls.append(1)
        if len(calls) == 2:
            fout.write(fin.read(2))  # half an object reaches the temp, then Ctrl-C
            raise KeyboardInterrupt
        return real_copy(fin, fout, on_bytes, size_hint)

    monkeypatch.setattr(objects_module, "_copy_hashing", copy_then_die)
    with pytest.raises(KeyboardInterrupt):
        push(ws, [dir_md5], jobs=jobs, progress=False)
    monkeypatch.setattr(objects_module, "_copy_hashing", real_copy)

    there = remote_objects(remote_dir)
    assert dir_md5 not in there and len(there) < len(files)
    for h in there:  # whatever is under a final name is whole
        assert (remote_dir / "files" / "md5" / h[:2] / h[2:]).read_bytes() == (
            ws.objects.read_bytes(h)
        )
    assert temps(remote_dir) == []

    second = push(ws, [dir_md5], jobs=jobs, progress=False)
    assert second.moved == len(files) + 1 - len(there)
    assert second.skipped == len(there)
    assert remote_objects(remote_dir) == {*files, dir_md5}


def _disk_full(fin, fout, on_bytes, size_hint):
    fout.write(fin.read(1))
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_on_push(
    ws: Workspace, origin: Remote, remote_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    md5 = ws.objects.add_bytes(b"a bigger object" * 10)
    monkeypatch.setattr(objects_module, "_copy_hashing", _disk_full)
    with pytest.raises(RemoteError, match=r"remote's disk is full while pushing object .*origin"):
        push(ws, [md5], progress=False)
    assert remote_objects(remote_dir) == set() and temps(remote_dir) == []


def test_disk_full_on_pull(
    ws: Workspace, origin: Remote, other: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    md5 = ws.objects.add_bytes(b"a bigger object" * 10)
    push(ws, [md5], progress=False)
    monkeypatch.setattr(objects_module, "_copy_hashing", _disk_full)
    with pytest.raises(RemoteError, match=r"the local disk is full .* partial copy was removed"):
        pull(other, [md5], progress=False)
    assert not other.objects.has(md5) and temps(other.cache_dir) == []


def test_a_failed_copy_stops_the_others(
    ws: Workspace, origin: Remote, remote_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = ws.objects.add_bytes(b"a" * 10), ws.objects.add_bytes(b"b" * 10)
    b_started = threading.Event()
    stopped = []

    def copy(fin, fout, on_bytes, size_hint):
        data = fin.read()
        if data.startswith(b"a"):
            assert b_started.wait(5)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fout.write(data[:1])
        on_bytes(1)
        b_started.set()
        assert on_bytes.cancel.wait(5)  # a's failure reaches b while b is still copying
        try:
            on_bytes(1)
        except BaseException:
            stopped.append(b)
            raise

    monkeypatch.setattr(objects_module, "_copy_hashing", copy)
    with pytest.raises(RemoteError, match="disk is full"):
        push(ws, [a, b], jobs=2, progress=False)
    assert stopped == [b]
    assert remote_objects(remote_dir) == set() and temps(remote_dir) == []


def test_a_push_sends_what_it_can_when_local_objects_are_missing(
    ws: Workspace, origin: Remote, remote_dir: Path, dataset: tuple[str, list[str]]
) -> None:
    # Issue 10 changed this: a missing local object no longer stops every other object.
    dir_md5, files = dataset
    lone = ws.objects.add_bytes(b"a lone object")
    missing = ["0" * 32, "1" * 32 + ".dir"]
    with pytest.raises(RemoteError) as caught:
        push(ws, [missing[0], dir_md5, missing[1], lone], progress=False)
    message = str(caught.value)
    assert message == (
        f"object {missing[0]} is not in the local cache; and 1 more (see .report.failed)"
    )
    report = caught.value.report
    assert sorted(report.failed) == sorted(missing)
    assert report.moved == len(files) + 2
    assert remote_objects(remote_dir) == {*files, dir_md5, lone}

    # a folder whose file is missing locally is not pushed; its other files are
    victim = files[0]
    ws.objects.remove(victim)
    other_remote = add_remote(ws, "second", str(remote_dir.parent / "second"))
    with pytest.raises(RemoteError, match=f"object {victim} is not in the local cache") as caught:
        push(ws, [dir_md5], other_remote.name, progress=False)
    assert sorted(caught.value.report.failed) == sorted([victim, dir_md5])
    assert remote_objects(remote_dir.parent / "second") == set(files[1:])


def test_nothing_is_created_when_no_local_object_is_there(
    ws: Workspace, origin: Remote, remote_dir: Path
) -> None:
    with pytest.raises(RemoteError, match="cannot push to origin: 1 object not in the local"):
        push(ws, ["0" * 32], progress=False)
    assert not remote_dir.exists()


def test_progress(
    ws: Workspace,
    origin: Remote,
    other: Workspace,
    dataset: tuple[str, list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    dir_md5, _ = dataset
    capsys.readouterr()
    push(ws, [dir_md5], progress=False)
    pull(other, [dir_md5], progress=False)
    assert capsys.readouterr() == ("", "")

    md5 = ws.objects.add_bytes(b"shown")
    push(ws, [md5])
    assert "push origin" in capsys.readouterr().err  # tqdm's bar, on stderr


def test_report_to_dict_and_text() -> None:
    report = TransferReport("origin", "push", 12, 40, int(3.4 * 1024 * 1024), [], 0.5)
    assert str(report) == "pushed 12 objects (3.4 MiB) to origin; 40 already there"
    assert report.to_dict() == {
        "remote": "origin",
        "direction": "push",
        "moved": 12,
        "skipped": 40,
        "bytes": int(3.4 * 1024 * 1024),
        "failed": [],
        "seconds": 0.5,
    }
    pulled = TransferReport("b", "pull", 1, 0, 10, ["a" * 32], 0.1)
    assert str(pulled) == "pulled 1 object (10 B) from b; 1 failed"
    assert str(TransferReport("b", "pull")) == "nothing to pull (from b)"
    assert "&lt;" in TransferReport("<b>", "pull")._repr_html_()


def test_relative_url_resolves_against_the_workspace_root(
    ws: Workspace, project: Path, tmp_path: Path
) -> None:
    add_remote(ws, "near", "../beside")
    md5 = ws.objects.add_bytes(b"x")
    push(ws, [md5], progress=False)
    assert remote_objects(tmp_path / "beside") == {md5}


# -- the real dvc ---------------------------------------------------------------------------

_REPO = Path(__file__).resolve().parents[2]
_DVC = Path(os.environ.get("NB_MLOPS_TEST_DVC", _REPO / ".venv-dvc" / "bin" / "dvc"))


def _dvc(folder: Path, *args: str) -> str:
    if not _DVC.exists():
        pytest.fail(
            f"the real dvc is needed at {_DVC}: run `./dev setup` (or set NB_MLOPS_TEST_DVC)"
        )
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    out = subprocess.run(
        [str(_DVC), *args], cwd=folder, capture_output=True, text=True, env=env, check=False
    )
    assert out.returncode == 0, f"dvc {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.mark.slow
def test_dvc_push_and_pull_share_the_remote(
    ws: Workspace, dataset: tuple[str, list[str]], project: Path, tmp_path: Path
) -> None:
    # ours -> dvc: `dvc pull` of a .dvc file naming our folder object finds what we pushed
    dir_md5, _ = dataset
    shared = tmp_path / "shared"
    add_remote(ws, "shared", str(shared))
    push(ws, [dir_md5], progress=False)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    _dvc(theirs, "init", "--no-scm", "-q")
    _dvc(theirs, "remote", "add", "-d", "store", str(shared))
    (theirs / "data.dvc").write_text(f"outs:\n- md5: {dir_md5}\n  path: data\n  hash: md5\n")
    _dvc(theirs, "pull", "-q")
    assert _tree(theirs / "data") == _tree(project / "data")

    # dvc -> ours: what `dvc push` sent, we pull and check out
    (theirs / "data" / "새 파일.txt").write_text("added by dvc\n", encoding="utf-8")
    _dvc(theirs, "add", "-q", "data")
    _dvc(theirs, "push", "-q")
    new_md5 = re.search(r"md5: ([0-9a-f]{32}\.dir)", (theirs / "data.dvc").read_text()).group(1)
    fresh = open_workspace(tmp_path / "fresh" / ".nbmlops")
    add_remote(fresh, "shared", str(shared))
    got = pull(fresh, [new_md5], progress=False)
    assert (
        got.failed == []
        and got.moved == len({e["md5"] for e in fresh.objects.listing(new_md5)}) + 1
    )
    fresh.objects.checkout_tree(new_md5, tmp_path / "back")
    assert _tree(tmp_path / "back") == _tree(theirs / "data")


def test_a_push_sweeps_temps_a_killed_push_left_in_the_folders_it_lists(
    ws: Workspace, origin: Remote, remote_dir: Path
) -> None:
    # Issue 10, point 18: enough objects that the push lists their folders instead of probing.
    md5s = [ws.objects.add_bytes(f"object {i}".encode()) for i in range(fsobjects.PROBE_LIMIT + 8)]
    folder = remote_dir / "files" / "md5" / md5s[0][:2]
    folder.mkdir(parents=True)
    old, fresh = folder / ".tmp-killed", folder / ".tmp-running"
    for path, age in ((old, 2 * 3600), (fresh, 30)):
        path.write_bytes(b"half")
        os.utime(path, (time.time() - age, time.time() - age))
    report = push(ws, md5s, progress=False)
    assert report.moved == len(md5s)
    assert not old.exists() and fresh.exists()
