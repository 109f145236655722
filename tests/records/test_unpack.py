"""Unpacking an untrusted record: every refusal, and nothing written outside the target folder."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest

from nb_mlops.records.record import RecordError
from nb_mlops.records.unpack import unpack

NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'


def manifest(files: dict[str, bytes]) -> dict[str, Any]:
    """The smallest manifest read_manifest accepts, listing `files` with their sha256."""
    return {
        "format": 1,
        "kind": "nb-mlops-record",
        "written_by": "test",
        "created": "2025-01-01T00:00:00Z",
        "run": {
            "run_id": "r1",
            "name": "fit",
            "experiment": "Default",
            "status": "finished",
            "start": None,
            "end": None,
            "params": {},
            "metrics": {"accuracy": 0.5},
            "tags": {},
            "seeds": {},
            "children": [],
        },
        "runs": [],
        "determinism": {"PYTHONHASHSEED": None, "threads": {}, "seed": None, "seeds": {}},
        "environment": {
            "python": None,
            "implementation": None,
            "platform": None,
            "machine": None,
            "packages": {},
        },
        "git": None,
        "data": [],
        "artifacts": [],
        "models": [],
        "cells": {"notebook": "notebook.ipynb", "count": 0, "session": None, "hidden_state": []},
        "secrets": [],
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in files.items()
        },
    }


def write_record(
    path: Path,
    files: dict[str, bytes] | None = None,
    *,
    listed: dict[str, bytes] | None = None,
    extra: list[tuple[zipfile.ZipInfo | str, bytes]] = (),
    doc: dict[str, Any] | None = None,
) -> Path:
    """A record zip holding `files` (plus notebook.ipynb), with a manifest listing `listed`
    (default: the same files) and then `extra` entries written as given."""
    files = {"notebook.ipynb": NOTEBOOK, **(files or {})}
    listed = files if listed is None else {"notebook.ipynb": NOTEBOOK, **listed}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("record.json", json.dumps(doc or manifest(listed)))
        for name, data in files.items():
            zf.writestr(name, data)
        for info, data in extra:
            zf.writestr(info, data)
    return path


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "out" / "work"


def refused(record: Path, dest: Path, match: str, **bounds: Any) -> RecordError:
    """Unpacking is refused with a one-line error matching `match`, leaving nothing behind."""
    with pytest.raises(RecordError, match=match) as caught:
        unpack(record, dest, **bounds)
    assert "\n" not in str(caught.value)
    assert not dest.exists() or not any(dest.iterdir())
    return caught.value


def test_a_record_unpacks_with_every_file_verified(tmp_path: Path, dest: Path) -> None:
    record = write_record(tmp_path / "r.zip", {"params/m-v1.npz": b"\x00" * 100, "a/b.txt": b"x"})
    assert unpack(record, dest) == dest
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "a/b.txt",
        "notebook.ipynb",
        "params/m-v1.npz",
        "record.json",
    ]
    assert (dest / "params/m-v1.npz").read_bytes() == b"\x00" * 100
    assert json.loads((dest / "record.json").read_bytes())["run"]["name"] == "fit"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../x", r"refused zip entry: path '\.\./x' has an empty, '\.' or '\.\.' part"),
        ("a/../../x", r"'a/\.\./\.\./x' has an empty"),
        ("/etc/x", r"refused zip entry: path '/etc/x' is absolute"),
        ("C:/x", r"path 'C:/x' is absolute"),
        ("a\\..\\..\\x", r"holds a backslash"),
    ],
)
def test_entries_that_would_land_outside_are_refused(
    tmp_path: Path, dest: Path, name: str, why: str
) -> None:
    record = write_record(tmp_path / "r.zip", extra=[(zipfile.ZipInfo(name), b"owned")])
    refused(record, dest, why)
    assert not (tmp_path / "out" / "x").exists() and not (tmp_path / "x").exists()
    assert not Path("/etc/x").exists()


def test_a_symlink_entry_is_refused(tmp_path: Path, dest: Path) -> None:
    link = zipfile.ZipInfo("notebook.ipynb.link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    record = write_record(tmp_path / "r.zip", extra=[(link, b"/etc/passwd")])
    refused(record, dest, r"zip entry 'notebook\.ipynb\.link' is a symbolic link")


def test_duplicate_names_and_file_folder_clashes_are_refused(tmp_path: Path, dest: Path) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        record = write_record(tmp_path / "r.zip", extra=[("notebook.ipynb", b"other")])
    refused(record, dest, r"zip entry 'notebook\.ipynb' is named twice")
    record = write_record(tmp_path / "c.zip", extra=[("NoteBook.ipynb", b"other")])
    refused(record, dest, r"'NoteBook\.ipynb' is named twice in the zip \(as 'notebook\.ipynb'")
    record = write_record(tmp_path / "d.zip", {"a": b"1"}, extra=[("a/b", b"2")])
    refused(record, dest, r"zip entry 'a' is both a file and a folder")


def test_too_many_entries_are_refused(tmp_path: Path, dest: Path) -> None:
    files = {f"f{i}.txt": b"x" for i in range(6)}
    record = write_record(tmp_path / "r.zip", files)
    refused(record, dest, r"r\.zip: 8 zip entries, more than the 5", max_entries=5)


def test_a_total_above_the_bound_is_refused_before_writing(tmp_path: Path, dest: Path) -> None:
    record = write_record(tmp_path / "r.zip", {"big.bin": bytes(range(256)) * 40})
    refused(record, dest, r"zip entry 'big\.bin': the record unpacks to more than", max_bytes=4096)
    assert not dest.exists()  # refused from the central directory: the folder was never made


def test_a_member_larger_than_it_declares_stops_while_streaming(tmp_path: Path, dest: Path) -> None:
    """The central directory says 100 bytes; the member inflates to 1 MiB. Reading stops at the
    declared size and the member is refused (damaged), with what was written removed."""
    data = bytes(range(256)) * 4096
    record = write_record(tmp_path / "r.zip", {"big.bin": data}, listed={"big.bin": data[:100]})
    raw = bytearray(record.read_bytes())
    name = b"big.bin"
    for sig, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = 0
        while (at := raw.find(sig, at)) >= 0:
            name_at = at + (30 if sig == b"PK\x03\x04" else 46)
            if raw[name_at : name_at + len(name)] == name:
                raw[at + size_at : at + size_at + 4] = struct.pack("<I", 100)
            at += 4
    record.write_bytes(bytes(raw))
    refused(record, dest, r"zip entry 'big\.bin' (is damaged|holds more than)")


def test_bytes_beyond_the_declared_size_are_counted_and_stopped(
    tmp_path: Path, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the zip reader yields is counted as it streams: a reader that ignored the
    declared size (zipfile stops there itself) would still be stopped, and nothing kept."""
    record = write_record(tmp_path / "r.zip", {"a.bin": bytes(100)})
    real_open = zipfile.ZipFile.open

    def generous(self: zipfile.ZipFile, name: Any, *args: Any, **kwargs: Any) -> Any:
        inner = real_open(self, name, *args, **kwargs)
        if getattr(name, "filename", name) != "a.bin":
            return inner
        return io.BufferedReader(io.BytesIO(inner.read() + bytes(10 << 20)))

    monkeypatch.setattr(zipfile.ZipFile, "open", generous)
    refused(record, dest, r"zip entry 'a\.bin' holds more than the 100 bytes it declares")


def test_a_zip_bomb_ratio_is_refused(tmp_path: Path, dest: Path) -> None:
    record = write_record(tmp_path / "r.zip", {"zeros.bin": bytes(8 << 20)})
    assert record.stat().st_size < 100_000
    refused(record, dest, r"zip entry 'zeros\.bin' inflates \d+ times .* refused as a zip bomb")
    # the bound is the caller's to move
    assert unpack(record, dest, max_ratio=10_000) == dest


def test_overlapping_entries_are_refused(tmp_path: Path, dest: Path) -> None:
    """Two directory entries sharing one member's data: the trick of the smallest zip bombs."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a", bytes(1000))
    raw = buf.getvalue()
    cd_at = raw.find(b"PK\x01\x02")
    end_at = raw.find(b"PK\x05\x06")
    central = raw[cd_at:end_at]
    twin = central[:46] + b"b" + central[47:]  # the same entry, named b
    eocd = bytearray(raw[end_at:])
    eocd[8:10] = struct.pack("<H", 2)
    eocd[10:12] = struct.pack("<H", 2)
    eocd[12:16] = struct.pack("<I", 2 * len(central))
    record = tmp_path / "r.zip"
    record.write_bytes(raw[:cd_at] + central + twin + bytes(eocd))
    refused(record, dest, r"zip entry 'a' overlaps the next one")


def test_a_sha256_mismatch_is_refused(tmp_path: Path, dest: Path) -> None:
    record = write_record(
        tmp_path / "r.zip", {"a.txt": b"changed"}, listed={"a.txt": b"original"[:7]}
    )
    refused(record, dest, r"zip entry 'a\.txt' does not match its sha256 in record\.json")


def test_unlisted_and_missing_files_are_refused(tmp_path: Path, dest: Path) -> None:
    record = write_record(tmp_path / "r.zip", {"a.txt": b"1"}, listed={})
    refused(record, dest, r"zip entry 'a\.txt' is not listed in record\.json")
    record = write_record(tmp_path / "m.zip", {}, listed={"gone.txt": b"1"})
    refused(record, dest, r"record\.json lists 'gone\.txt', which the zip does not hold")


def test_not_a_record_is_refused(tmp_path: Path, dest: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"not a zip at all")
    refused(tmp_path / "x.zip", dest, r"x\.zip is not a record \(not a readable zip")
    with zipfile.ZipFile(tmp_path / "y.zip", "w") as zf:
        zf.writestr("notebook.ipynb", NOTEBOOK)
    refused(tmp_path / "y.zip", dest, r"y\.zip is not a record: it has no record\.json")
    doc = manifest({"notebook.ipynb": NOTEBOOK})
    doc["kind"] = "something else"
    refused(write_record(tmp_path / "z.zip", doc=doc), dest, r"not an nb-mlops record")
    refused(tmp_path / "nowhere.zip", dest, r"no such record")


def test_a_folder_that_is_not_empty_is_refused(tmp_path: Path, dest: Path) -> None:
    record = write_record(tmp_path / "r.zip")
    dest.mkdir(parents=True)
    (dest / "mine.txt").write_text("keep me")
    with pytest.raises(RecordError, match="the folder is not empty"):
        unpack(record, dest)
    assert (dest / "mine.txt").read_text() == "keep me"


def test_an_empty_folder_given_is_kept_when_refused(tmp_path: Path, dest: Path) -> None:
    record = write_record(tmp_path / "r.zip", {"a.txt": b"changed"}, listed={"a.txt": b"other!!"})
    dest.mkdir(parents=True)
    refused(record, dest, "does not match its sha256")
    assert dest.is_dir() and not any(dest.iterdir())
