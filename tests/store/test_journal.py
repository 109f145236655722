"""The catalog journal on disk: replay, torn and damaged lines, repair and compaction."""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import on_small_tmpfs

from nb_mlops.errors import CatalogDamaged, StoreError
from nb_mlops.store import journal as journal_mod
from nb_mlops.store.catalog import Catalog
from nb_mlops.store.workspace import forget_open_workspaces, open_workspace


def _journal(folder: Path) -> Path:
    return folder / "journal.jsonl"


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _bulk_sets(cat: Catalog, table: str, doc_id: str, n: int) -> None:
    """n set records on one document, appended in one locked write (fast stand-in for n sets)."""
    cat.journal.append(
        {"op": "set", "tb": table, "id": doc_id, "set": [[["n"], i]]} for i in range(n)
    )


# ------------------------------------------------------------------------------------ replay
def test_put_set_delete_replay_in_a_fresh_reader(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    cat = Catalog(folder)
    cat.put("runs", "r1", {"run_id": "r1", "status": "running", "params": {"lr": 0.1}})
    cat.put("runs", "r2", {"run_id": "r2", "status": "running"})
    cat.put("models", "m1", {"name": "m1"})
    cat.set("runs", "r1", {"status": "done", ("params", "epochs"): 3, ("m", "acc", "best"): 0.9})
    cat.delete("runs", "r2")
    cat.delete("runs", "never-existed")

    want_r1 = {
        "run_id": "r1",
        "status": "done",
        "params": {"lr": 0.1, "epochs": 3},
        "m": {"acc": {"best": 0.9}},
    }
    assert cat.get("runs", "r1") == want_r1
    assert cat.get("runs", "r2") is None
    assert ("runs", "r2") not in cat
    assert ("runs", "r1") in cat

    fresh = Catalog(folder)  # a new process replaying the whole file
    assert fresh.docs("runs") == {"r1": want_r1}
    assert fresh.docs("models") == {"m1": {"name": "m1"}}
    assert sorted(fresh.tables()) == ["models", "runs"]
    # one whole JSON line per write
    lines = _lines(_journal(folder))
    assert len(lines) == 6
    assert all(line.endswith(b"\n") for line in lines)
    assert [json.loads(line)["op"] for line in lines] == ["put", "put", "put", "set", "del", "del"]


def test_set_replaces_a_non_dict_on_the_path_and_keeps_siblings(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog")
    cat.put("runs", "r", {"a": {"keep": 1, "b": 5}, "other": [1, 2]})
    cat.set("runs", "r", {("a", "b", "c"): "deep", ("a", "new"): None})
    assert cat.get("runs", "r") == {
        "a": {"keep": 1, "b": {"c": "deep"}, "new": None},
        "other": [1, 2],
    }
    assert Catalog(tmp_path / "catalog").get("runs", "r") == cat.get("runs", "r")


def test_set_on_a_deleted_document_does_not_bring_it_back(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog")
    cat.put("runs", "r", {"x": 1})
    cat.delete("runs", "r")
    cat.set("runs", "r", {"x": 2})
    assert cat.get("runs", "r") is None
    assert Catalog(tmp_path / "catalog").get("runs", "r") is None


def test_put_replaces_the_whole_document(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog")
    cat.put("runs", "r", {"a": 1, "b": 2})
    cat.put("runs", "r", {"c": 3})
    assert cat.get("runs", "r") == {"c": 3}
    assert Catalog(tmp_path / "catalog").get("runs", "r") == {"c": 3}


def test_unicode_and_non_finite_values_round_trip(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog")
    cat.put("runs", "r", {"name": 'größe 日本 "q" \n', "nan": math.nan, "inf": -math.inf})
    doc = Catalog(tmp_path / "catalog").get("runs", "r")
    assert doc["name"] == 'größe 日本 "q" \n'
    assert math.isnan(doc["nan"])
    assert doc["inf"] == -math.inf
    assert len(_lines(_journal(tmp_path / "catalog"))) == 1  # the newline inside was escaped


# ----------------------------------------------------------------------------- torn tail
def test_partial_last_line_is_ignored_by_readers(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    writer = Catalog(folder)
    writer.put("runs", "a", {"x": 1})
    partial = b'{"op":"put","tb":"runs","id":"b","doc":{"x":'
    with open(_journal(folder), "ab") as fh:
        fh.write(partial)

    reader = Catalog(folder)
    assert reader.docs("runs") == {"a": {"x": 1}}
    assert reader.sync() is False  # nothing whole to replay
    # the writer's own replay ignores it too
    assert writer.docs("runs") == {"a": {"x": 1}}


def test_next_writer_cuts_the_partial_last_line(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    writer = Catalog(folder)
    writer.put("runs", "a", {"x": 1})
    with open(_journal(folder), "ab") as fh:
        fh.write(b'{"op":"put","tb":"runs","id":"b","doc":{"x":2')

    other = Catalog(folder)
    other.put("runs", "c", {"x": 3})

    lines = _lines(_journal(folder))
    assert len(lines) == 2
    assert all(line.endswith(b"\n") for line in lines)
    assert [json.loads(line)["id"] for line in lines] == ["a", "c"]
    assert Catalog(folder).docs("runs") == {"a": {"x": 1}, "c": {"x": 3}}
    assert writer.docs("runs") == {"a": {"x": 1}, "c": {"x": 3}}


def test_a_journal_that_is_only_a_partial_line(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    _journal(folder).write_bytes(b'{"op":"put","tb":"ru')
    cat = Catalog(folder)
    assert cat.docs("runs") == {}
    cat.put("runs", "a", {"x": 1})
    assert _journal(folder).read_bytes() == b'{"op":"put","tb":"runs","id":"a","doc":{"x":1}}\n'


def test_store_opens_after_a_kill_mid_append(project: Path) -> None:
    ws = open_workspace(project / ".nbmlops")
    ws.catalog.put("runs", "r1", {"run_id": "r1"})
    with open(ws.home / "catalog" / "journal.jsonl", "ab") as fh:
        fh.write(b'{"op":"set","tb":"runs","id":"r1","set":[[["status"],"do')
    forget_open_workspaces()

    again = open_workspace(project / ".nbmlops")
    assert again is not ws
    assert again.catalog.docs("runs") == {"r1": {"run_id": "r1"}}
    again.catalog.set("runs", "r1", {"status": "done"})
    assert Catalog(ws.home / "catalog").get("runs", "r1") == {"run_id": "r1", "status": "done"}


# ----------------------------------------------------------------------- damaged by hand
def _damaged_catalog(folder: Path) -> Catalog:
    """Lines 1-2 good, line 3 not JSON, lines 4-5 good."""
    cat = Catalog(folder)
    cat.put("runs", "a", {"x": 1})
    cat.put("runs", "b", {"x": 2})
    with open(_journal(folder), "ab") as fh:
        fh.write(b'{"op":"put","tb":"runs","id":"zz",oops}\n')
    # records written after the damage
    with open(_journal(folder), "ab") as fh:
        fh.write(b'{"op":"put","tb":"runs","id":"c","doc":{"x":3}}\n')
        fh.write(b'{"op":"set","tb":"runs","id":"a","set":[[["x"],10]]}\n')
    return cat


def test_damaged_line_names_file_line_and_repair(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    _damaged_catalog(folder)
    reader = Catalog(folder)
    with pytest.raises(CatalogDamaged) as info:
        reader.docs("runs")
    msg = str(info.value)
    assert isinstance(info.value, StoreError)
    assert str(_journal(folder)) in msg
    assert re.search(r"\bline 3\b", msg), msg
    assert "nb-mlops repair" in msg
    assert "\n" not in msg


def test_damaged_line_is_reported_at_the_same_line_every_time(tmp_path: Path) -> None:
    """A reader that hit the damage and is asked again must name the same line, not a later one."""
    folder = tmp_path / "catalog"
    _damaged_catalog(folder)
    reader = Catalog(folder)
    reported = []
    for _ in range(3):
        with pytest.raises(CatalogDamaged) as info:
            reader.sync()
        reported.append(int(re.search(r"\bline (\d+)\b", str(info.value)).group(1)))
    assert reported == [3, 3, 3]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"[1, 2, 3]\n", "not a record"),
        (b'{"op":"upsert","tb":"runs","id":"a"}\n', "unknown op"),
        (b'{"op":"del","id":"a"}\n', "no table"),
        (b'{"op":"put","tb":"runs","id":7,"doc":{}}\n', "id not a string"),
        (b'{"op":"put","tb":"runs","id":"a"}\n', "put without a doc"),
        (b"\xff\xfe\n", "not UTF-8"),
    ],
)
def test_lines_that_are_not_records_are_damage(tmp_path: Path, line: bytes, why: str) -> None:
    folder = tmp_path / "catalog"
    cat = Catalog(folder)
    cat.put("runs", "a", {"x": 1})
    with open(_journal(folder), "ab") as fh:
        fh.write(line)
    with pytest.raises(CatalogDamaged, match=r"line 2\b"):
        Catalog(folder).docs("runs")


def test_store_opens_with_a_damaged_catalog_and_reading_it_explains(project: Path) -> None:
    ws = open_workspace(project / ".nbmlops")
    _damaged_catalog(ws.home / "catalog")
    forget_open_workspaces()
    again = open_workspace(project / ".nbmlops")  # the store itself still opens
    with pytest.raises(CatalogDamaged, match="nb-mlops repair"):
        again.catalog.docs("runs")


# -------------------------------------------------------------------------------- repair
def test_repair_keeps_every_valid_record_and_sets_damage_aside(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    _damaged_catalog(folder)
    original = _journal(folder).read_bytes()

    kept, aside_n, aside = Catalog(folder).repair()

    assert (kept, aside_n) == (4, 1)
    assert aside is not None
    assert aside.parent == folder
    assert aside.name.startswith("journal.jsonl.damaged-")
    assert aside.read_bytes() == original
    # the catalog opens, and every record around the damage survived (including the set after it)
    assert Catalog(folder).docs("runs") == {"a": {"x": 10}, "b": {"x": 2}, "c": {"x": 3}}
    assert b"oops" not in _journal(folder).read_bytes()


def test_repair_of_a_reader_that_already_hit_the_damage(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    _damaged_catalog(folder)
    cat = Catalog(folder)
    with pytest.raises(CatalogDamaged):
        cat.docs("runs")
    cat.repair()
    assert cat.docs("runs") == {"a": {"x": 10}, "b": {"x": 2}, "c": {"x": 3}}
    cat.put("runs", "d", {"x": 4})
    assert Catalog(folder).docs("runs") == {
        "a": {"x": 10},
        "b": {"x": 2},
        "c": {"x": 3},
        "d": {"x": 4},
    }


def test_repair_of_a_clean_journal_changes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    cat = Catalog(folder)
    cat.put("runs", "a", {"x": 1})
    cat.put("runs", "b", {"x": 2})
    before = _journal(folder).read_bytes()
    assert cat.repair() == (2, 0, None)
    assert _journal(folder).read_bytes() == before
    assert list(folder.glob("*damaged*")) == []


def test_repair_sets_aside_a_partial_last_line(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    cat = Catalog(folder)
    cat.put("runs", "a", {"x": 1})
    with open(_journal(folder), "ab") as fh:
        fh.write(b'{"op":"put","tb":"runs"')
    original = _journal(folder).read_bytes()
    kept, aside_n, aside = cat.repair()
    assert (kept, aside_n) == (1, 1)
    assert aside is not None and aside.read_bytes() == original
    assert Catalog(folder).docs("runs") == {"a": {"x": 1}}


def test_repair_fixes_valid_json_lines_that_are_not_whole_records(tmp_path: Path) -> None:
    """After `nb-mlops repair` (which the error message recommends) the catalog must open."""
    folder = tmp_path / "catalog"
    cat = Catalog(folder)
    cat.put("runs", "a", {"x": 1})
    with open(_journal(folder), "ab") as fh:
        fh.write(b'{"op":"del"}\n')  # JSON with a known op, but no table or id
    with open(_journal(folder), "ab") as fh:
        fh.write(b'{"op":"put","tb":"runs","id":"b","doc":{"x":2}}\n')
    with pytest.raises(CatalogDamaged):
        Catalog(folder).docs("runs")

    kept, aside_n, aside = Catalog(folder).repair()

    assert (kept, aside_n) == (2, 1)
    assert aside is not None
    assert Catalog(folder).docs("runs") == {"a": {"x": 1}, "b": {"x": 2}}


def test_a_second_repair_does_not_overwrite_the_first_set_aside_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen = time.gmtime()  # both repairs within the same second, deterministically
    monkeypatch.setattr(time, "gmtime", lambda *args: frozen)
    folder = tmp_path / "catalog"
    cat = Catalog(folder)
    cat.put("runs", "a", {"x": 1})
    with open(_journal(folder), "ab") as fh:
        fh.write(b"first damage\n")
    first_original = _journal(folder).read_bytes()
    _, _, first = cat.repair()
    with open(_journal(folder), "ab") as fh:
        fh.write(b"second damage\n")
    second_original = _journal(folder).read_bytes()
    _, _, second = cat.repair()  # within the same second as the first

    assert first is not None and second is not None
    assert first != second
    assert first.read_bytes() == first_original
    assert second.read_bytes() == second_original
    assert len(list(folder.glob("journal.jsonl.damaged-*"))) == 2


# ---------------------------------------------------------------------------- compaction
def test_compaction_through_repeated_sets(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    cat = Catalog(folder)
    early = Catalog(folder)
    cat.put("runs", "keep", {"run_id": "keep", "status": "running"})
    cat.put("models", "m", {"name": "m"})
    cat.put("runs", "gone", {"run_id": "gone"})
    assert early.docs("runs").keys() == {"keep", "gone"}  # synced before the compaction
    ino_before = _journal(folder).stat().st_ino
    held = early.get("runs", "keep")

    for i in range(journal_mod._COMPACT_MIN_RECORDS + 50):
        cat.set("runs", "keep", {("m", "step"): i})
    cat.delete("runs", "gone")

    assert _journal(folder).stat().st_ino != ino_before  # the file was replaced
    assert len(_lines(_journal(folder))) < 200
    want = {"keep": {"run_id": "keep", "status": "running", "m": {"step": 4049}}}
    assert cat.docs("runs") == want
    assert early.sync() is True
    assert early.docs("runs") == want
    assert early.docs("models") == {"m": {"name": "m"}}
    assert Catalog(folder).docs("runs") == want
    assert held == {"run_id": "keep", "status": "running"}  # a held document never changed
    # writes after the compaction reach both
    early.set("runs", "keep", {"status": "done"})
    assert cat.get("runs", "keep")["status"] == "done"
    assert not list(folder.glob(".journal.jsonl.compact-*"))


def test_reader_synced_mid_way_reads_correctly_after_compaction(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    cat = Catalog(folder)
    reader = Catalog(folder)
    cat.put("runs", "a", {"status": "x"})
    cat.put("runs", "b", {"status": "y"})
    _bulk_sets(cat, "runs", "a", 1000)
    assert reader.get("runs", "a") == {"status": "x", "n": 999}
    assert [d["status"] for d in reader.find("runs", "status", "y")] == ["y"]

    _bulk_sets(cat, "runs", "b", journal_mod._COMPACT_MIN_RECORDS)  # crosses the threshold
    cat.set("runs", "a", {"status": "y"})
    assert len(_lines(_journal(folder))) <= 3

    assert reader.docs("runs") == {
        "a": {"status": "y", "n": 999},
        "b": {"status": "y", "n": journal_mod._COMPACT_MIN_RECORDS - 1},
    }
    assert sorted(d["n"] for d in reader.find("runs", "status", "y")) == [999, 3999]
    assert reader.find("runs", "status", "x") == []


def test_damage_after_a_compaction_is_reported_at_its_real_line(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    cat = Catalog(folder)
    cat.put("runs", "a", {"x": 1})
    _bulk_sets(cat, "runs", "a", journal_mod._COMPACT_MIN_RECORDS + 10)
    cat.put("runs", "b", {"x": 2})
    n_lines = len(_lines(_journal(folder)))
    assert n_lines == 2
    with open(_journal(folder), "ab") as fh:
        fh.write(b"not json\n")
    with pytest.raises(CatalogDamaged) as info:
        cat.sync()
    assert re.search(rf"\bline {n_lines + 1}\b", str(info.value)), str(info.value)


def test_compaction_down_to_an_empty_catalog_is_noticed(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    cat = Catalog(folder)
    reader = Catalog(folder)
    cat.put("runs", "a", {"x": 1})
    _bulk_sets(cat, "runs", "a", journal_mod._COMPACT_MIN_RECORDS - 1)
    assert reader.get("runs", "a") == {"x": 1, "n": journal_mod._COMPACT_MIN_RECORDS - 2}
    cat.delete("runs", "a")  # record 4001 with nothing live: the journal is compacted to nothing
    assert _journal(folder).stat().st_size == 0

    assert reader.sync() is True  # "True when anything changed": the document went away
    assert reader.docs("runs") == {}


# ------------------------------------------------------------- a long partial last line
_KILLED_MID_APPEND = r"""
import os, signal, sys
from nb_mlops.store import journal
from nb_mlops.store.catalog import Catalog

def write_part_then_die(fd, data):
    os.write(fd, data[: 200 * 1024])  # 200 KiB of a longer record land, then the kill
    os.kill(os.getpid(), signal.SIGKILL)

journal.write_all = write_part_then_die
Catalog(sys.argv[1]).put("runs", "huge", {"run_id": "huge", "blob": "x" * (1024 * 1024)})
"""

_APPEND_ONE = r"""
import sys
from nb_mlops.store.catalog import Catalog
Catalog(sys.argv[1]).put("runs", "after", {"run_id": "after", "x": 2})
"""


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("before", [0, 1, 3])
def test_a_partial_line_over_64_kib_is_cut_before_the_next_append(
    tmp_path: Path, before: int
) -> None:
    """A real process killed 200 KiB into appending a 1 MiB record, then another process
    appends: the partial line is cut wherever its start is, and no record is damaged."""
    folder = tmp_path / "catalog"
    cat = Catalog(folder)
    for i in range(before):
        cat.put("runs", f"r{i}", {"run_id": f"r{i}", "x": i})
    whole = _journal(folder).read_bytes() if before else b""

    killed = _python(_KILLED_MID_APPEND, str(folder))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    raw = _journal(folder).read_bytes()
    assert len(raw) == len(whole) + 200 * 1024 and not raw.endswith(b"\n")

    appended = _python(_APPEND_ONE, str(folder))
    assert appended.returncode == 0, appended.stderr

    assert _journal(folder).read_bytes() == whole + _lines(_journal(folder))[-1]
    fresh = Catalog(folder)
    expected = {f"r{i}": {"run_id": f"r{i}", "x": i} for i in range(before)}
    assert fresh.docs("runs") == {**expected, "after": {"run_id": "after", "x": 2}}
    assert fresh.repair() == (before + 1, 0, None)  # nothing damaged, nothing set aside


def test_a_long_partial_line_is_cut_by_a_writer_already_open(tmp_path: Path) -> None:
    """A hand-written partial line of 200 KiB after whole ones, far past one 64 KiB chunk."""
    folder = tmp_path / "catalog"
    cat = Catalog(folder)
    cat.put("runs", "a", {"run_id": "a"})
    with open(_journal(folder), "ab") as fh:
        fh.write(b'{"op":"put","tb":"runs","id":"b","doc":{"blob":"' + b"y" * 200 * 1024)
    cat.put("runs", "c", {"run_id": "c"})
    assert [json.loads(line)["id"] for line in _lines(_journal(folder))] == ["a", "c"]
    assert Catalog(folder).docs("runs") == {"a": {"run_id": "a"}, "c": {"run_id": "c"}}


def test_interleaved_writers_keep_the_replayed_prefix_exact(tmp_path: Path) -> None:
    """A writer applies its own lines without reading them back; with another writer's lines
    before and between them, each replay still equals a fresh one, offset and CRC included."""
    import zlib

    folder = tmp_path / "catalog"
    one, two = Catalog(folder), Catalog(folder)
    for i in range(5):
        one.put("runs", f"a{i}", {"run_id": f"a{i}", "n": i})
        two.set("runs", f"a{i}", {"seen_by": "two"})
        two.put("runs", f"b{i}", {"run_id": f"b{i}"})
        one.set("runs", f"b{i}", {"seen_by": "one"})
    raw = _journal(folder).read_bytes()
    fresh = Catalog(folder).docs("runs")
    assert len(fresh) == 10
    for cat in (one, two):
        assert cat.docs("runs") == fresh
        with cat.journal.frozen() as prefix:
            assert prefix["offset"] == len(raw)
            assert prefix["crc"] == zlib.crc32(raw)
            assert prefix["lines"] == raw.count(b"\n")


# ------------------------------------------------------------------------- a full disk
_APPEND_ON_A_FULL_DISK = r"""
import json, sys
from pathlib import Path
from nb_mlops.errors import StoreError
from nb_mlops.store.catalog import Catalog

folder = Path(sys.argv[1])
cat = Catalog(folder)
cat.put("runs", "a", {"run_id": "a"})
before = (folder / "journal.jsonl").read_bytes()
try:
    cat.put("runs", "big", {"run_id": "big", "blob": "z" * 200_000})  # more than the disk holds
    message = None
except StoreError as exc:
    message = str(exc)
after = (folder / "journal.jsonl").read_bytes()
cat.put("runs", "b", {"run_id": "b"})
print(json.dumps({
    "message": message,
    "unchanged": after == before,
    "ids": sorted(Catalog(folder).docs("runs")),
}))
"""


def test_an_append_on_a_full_disk_leaves_the_journal_as_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    out = on_small_tmpfs(folder, _APPEND_ON_A_FULL_DISK)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert "no space left" in got["message"] and "nothing was half-written" in got["message"]
    assert got["unchanged"] is True
    assert got["ids"] == ["a", "b"]


# ------------------------------------------------------------- records of the wrong shape
_RUN = {"run_id": "r1", "name": "n", "status": "finished", "params": {}, "metrics": {"a": 1.0}}


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ({"op": "set", "tb": "runs", "id": "r1", "set": [[["metrics"], "oops"]]}, "'metrics'"),
        ({"op": "set", "tb": "runs", "id": "r1", "set": [[["metrics", "a"], "x"]]}, "'metrics.a'"),
        ({"op": "set", "tb": "runs", "id": "r1", "set": [[["status", "x"], 1]]}, "'status'"),
        ({"op": "set", "tb": "runs", "id": "r1", "set": [[["refs"], ["a", 7]]]}, "'refs'"),
        ({"op": "put", "tb": "runs", "id": "r2", "doc": {"name": "no id"}}, "'run_id'"),
        ({"op": "put", "tb": "runs", "id": "r2", "doc": {**_RUN, "params": []}}, "'params'"),
        ({"op": "put", "tb": "snapshots", "id": "d@1", "doc": {"path": "d"}}, "'version'"),
        (
            {"op": "put", "tb": "models", "id": "m/1", "doc": {"name": "m", "version": "1"}},
            "'version'",
        ),
        ({"op": "set", "tb": "aliases", "id": "m@p", "set": [[["history"], None]]}, "'history'"),
    ],
)
def test_records_of_the_wrong_shape_are_damage_and_repair_sets_them_aside(
    tmp_path: Path, record: dict, why: str
) -> None:
    from nb_mlops.store.catalog import SHAPES

    folder = tmp_path / "catalog"
    cat = Catalog(folder, SHAPES)
    cat.put("runs", "r1", _RUN)
    with open(_journal(folder), "a") as fh:
        fh.write(json.dumps(record) + "\n")
    with pytest.raises(CatalogDamaged) as info:
        Catalog(folder, SHAPES).docs("runs")
    message = str(info.value)
    assert f"{_journal(folder)} is damaged at line 2" in message
    assert why in message and "nb-mlops repair" in message and "\n" not in message

    kept, dropped, aside = Catalog(folder, SHAPES).repair()
    assert (kept, dropped) == (1, 1)
    assert aside is not None and json.dumps(record).encode() in aside.read_bytes()
    assert Catalog(folder, SHAPES).docs("runs") == {"r1": _RUN}
    # a bare catalog (no shapes) checks only that each line is a whole record
    assert Catalog(tmp_path / "bare").docs("runs") == {}


def test_every_shape_names_a_known_kind() -> None:
    """Each kind in SHAPES parses, and a value of another kind is named in the message."""
    from nb_mlops.store.catalog import SHAPES

    for table, shape in SHAPES.items():
        for field, kind in shape.items():
            for value in (0.5, "s", [0.5], {"k": "s"}):
                rec = {"op": "put", "tb": table, "id": "x", "doc": {field: value}}
                why = journal_mod.record_problem(rec, {table: {field: kind}})
                assert why is None or (f"{table} field {field!r}" in why and "expected" in why)
