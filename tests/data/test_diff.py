"""`nm.diff` on damaged caches and unreadable tables (issue 10, points 4 and 13)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from conftest import cli

import nb_mlops as nm
from nb_mlops.errors import ObjectCorrupt, StoreError
from nb_mlops.store.workspace import Workspace

NOISE = random.Random(10)  # binary garbage, the same on every run


def flip_a_byte(path: Path, at: int = 0) -> None:
    path.chmod(0o644)
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x20
    path.write_bytes(bytes(raw))


@pytest.fixture
def table(project: Path) -> Path:
    """data/t.csv at version 2 (a changed cell), version 1 in the store."""
    folder = project / "data"
    folder.mkdir()
    path = folder / "t.csv"
    path.write_text("id,name\n1,a\n2,b\n")
    nm.snapshot("data/t.csv")
    path.write_text("id,name\n1,a\n2,B\n")
    nm.snapshot("data/t.csv")
    return path


def test_a_damaged_object_stops_the_diff_naming_the_version(
    table: Path, ws: Workspace, project: Path
) -> None:
    v1 = nm.versions("data/t.csv").to_dict()["versions"][0]["md5"]
    flip_a_byte(ws.objects.path_of(v1))  # "id" became "ID": a schema change that never was
    with pytest.raises(ObjectCorrupt) as err:
        nm.diff("data/t.csv", 1, 2)
    message = str(err.value)
    assert message.startswith("data/t.csv version 1 is damaged in the cache: object ")
    assert "\n" not in message

    out = cli(project, "diff", "data/t.csv", "1", "2")
    assert out.returncode == 1 and out.stdout == ""
    assert "data/t.csv version 1 is damaged in the cache" in out.stderr
    # the other direction and the workspace side too
    with pytest.raises(ObjectCorrupt, match="version 1 is damaged"):
        nm.diff("data/t.csv", 2, 1)
    with pytest.raises(ObjectCorrupt, match="version 1 is damaged"):
        nm.diff("data/t.csv", 1)


def test_a_damaged_listing_or_a_missing_object_is_named(project: Path, ws: Workspace) -> None:
    folder = project / "d"
    folder.mkdir()
    (folder / "t.csv").write_text("id\n1\n")
    nm.snapshot("d")
    (folder / "t.csv").write_text("id\n2\n")
    nm.snapshot("d")
    v1, v2 = (v["md5"] for v in nm.versions("d").to_dict()["versions"])
    ws.objects.remove(_file_of(ws, v2))
    with pytest.raises(StoreError, match=r"d/t\.csv version 2 cannot be read from the cache"):
        nm.diff("d", 1, 2)
    flip_a_byte(ws.objects.path_of(v1), at=5)
    with pytest.raises(ObjectCorrupt, match=r"^d version 1 is damaged in the cache: object .*dir"):
        nm.diff("d", 1, 2)


def _file_of(ws: Workspace, dir_md5: str) -> str:
    (entry,) = ws.objects.listing(dir_md5)
    return entry["md5"]


def test_one_unreadable_table_does_not_stop_the_folder_diff(project: Path) -> None:
    folder = project / "data"
    folder.mkdir()
    (folder / "a.csv").write_text("id,x\n1,1\n2,2\n")
    (folder / "b.csv").write_text("id,y\n1,1\n")
    (folder / "junk.csv").write_bytes(b"id,z\n" + NOISE.randbytes(64))
    nm.snapshot("data")
    (folder / "a.csv").write_text("id,x\n1,1\n2,20\n")
    (folder / "b.csv").write_text("id,y\n1,1\n3,3\n")
    (folder / "junk.csv").write_bytes(b"\x00\x1b[2J\xff\xfe,,\n" + NOISE.randbytes(4096))
    for b in (2, "workspace"):
        if b == 2:
            nm.snapshot("data")
        d = nm.diff("data", 1, b, key="id")
        assert d.modified == ["a.csv", "b.csv", "junk.csv"]
        assert set(d.tables) == {"a.csv", "b.csv"}
        assert d.tables["a.csv"].changed == 1 and d.tables["b.csv"].added == 1
        (error,) = d.table_errors.values()
        shown = r"unreadable as a table: cannot read data/junk\.csv \((version \d|workspace)\) as"
        assert re.match(shown, error), error
        assert ".nbmlops" not in error and "cache" not in error
        text = str(d)
        assert "row diff of junk.csv: unreadable as a table" in text
        assert all(ch.isprintable() for line in text.splitlines() for ch in line)
        assert "\x1b" not in text and "\ufffd" not in text


def test_a_single_unreadable_table_is_marked_not_raised(project: Path) -> None:
    path = project / "t.csv"
    path.write_text("id\n1\n")
    nm.snapshot("t.csv")
    path.write_bytes(b"\xff\xfe\x00garbage,\n" + bytes(range(256)) * 4)
    d = nm.diff("t.csv", 1)
    assert d.modified == [""] and d.tables == {}
    assert d.table_errors[""].startswith("unreadable as a table: cannot read t.csv (workspace)")
