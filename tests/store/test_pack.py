"""The pack of small runs' points: whole lines appended under a lock, read back by location and
checked, a hostile location refused in one line without reading outside the store."""

from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from nb_mlops.errors import StoreError
from nb_mlops.store import pack
from nb_mlops.store.layout import PACKED_POINTS_FILE
from nb_mlops.store.pack import (
    PACK_MAX_BYTES,
    PACK_MAX_POINTS,
    append_points,
    load_run_columns,
    pack_path,
    pack_run,
    packable_points,
    read_packed,
    read_run_points,
)
from nb_mlops.store.series import MetricWriter, flush_all, read_columns, read_points
from nb_mlops.store.workspace import Workspace

POINTS = [
    ("loss", 0.25, 0, 1764185400.123456),
    ("loss", 0.125, 1, 1764185401.5),
    ("acc", math.inf, 0, 1764185402.0),
    ("lr", 1e-3, 7, 1764185403.000001),
]


def _same(a: list[tuple], b: list[tuple]) -> bool:
    """Equal point lists, NaN equal to NaN."""
    return repr(a) == repr(b)


def _folder_run(ws: Workspace, run_id: str, points: list[tuple]) -> None:
    """A run folder holding `points` as series.py writes them, and a catalog document."""
    files = ws.run_files(run_id)
    files.folder.mkdir(parents=True)
    writer = MetricWriter(files.metrics)
    for key, value, step, ts in points:
        writer.add(key, value, step, ts)
    writer.close()
    ws.catalog.put("runs", run_id, {"run_id": run_id, "status": "finished"})


def test_a_line_reads_back_as_the_folder_file_did(ws: Workspace) -> None:
    _folder_run(ws, "r1", [*POINTS, ("nan", math.nan, 2, 1764185404.25)])
    files = ws.run_files("r1")
    before = read_points(files.metrics)
    where = pack_run(ws, files, "r1")
    assert where == {
        "pack": PACKED_POINTS_FILE,
        "offset": 0,
        "length": pack_path(ws).stat().st_size,
        "count": 5,
    }
    pack.remove_packed_folder(files)
    assert not files.folder.exists()
    ws.catalog.set("runs", "r1", {"points": where})
    doc = ws.catalog.get("runs", "r1")
    assert _same(read_run_points(ws, doc), before)
    columns = load_run_columns(ws, doc)
    assert list(columns) == ["loss", "acc", "lr", "nan"]
    assert columns["loss"][0].tolist() == [0, 1]
    assert columns["loss"][1].tolist() == [0.25, 0.125]


def test_lines_follow_each_other_and_each_reads_its_own(ws: Workspace) -> None:
    spots = [append_points(ws, f"run{i}", POINTS[: i + 1]) for i in range(4)]
    assert [s["offset"] for s in spots] == [0] + [
        sum(s["length"] for s in spots[: i + 1]) for i in range(3)
    ]
    for i, where in enumerate(spots):
        assert read_packed(ws, f"run{i}", where) == POINTS[: i + 1]
    lines = pack_path(ws).read_bytes().splitlines()
    assert [json.loads(line)["run"] for line in lines] == [f"run{i}" for i in range(4)]


def test_the_folder_file_wins_while_there_is_one(ws: Workspace) -> None:
    _folder_run(ws, "r1", POINTS)
    where = pack_run(ws, ws.run_files("r1"), "r1")
    ws.catalog.set("runs", "r1", {"points": where})
    (ws.run_files("r1").metrics).write_bytes(b'["only",1.0,0,1.0]\n')  # not what a kill leaves,
    doc = ws.catalog.get("runs", "r1")  # but it shows which copy is read
    assert read_run_points(ws, doc) == [("only", 1.0, 0, 1.0)]


def test_a_document_read_before_the_run_was_packed_still_finds_its_points(ws: Workspace) -> None:
    _folder_run(ws, "r1", POINTS)
    stale = ws.catalog.get("runs", "r1")
    where = pack_run(ws, ws.run_files("r1"), "r1")
    ws.catalog.set("runs", "r1", {"points": where})
    pack.remove_packed_folder(ws.run_files("r1"))
    assert "points" not in stale
    assert read_run_points(ws, stale) == POINTS
    assert read_run_points(ws, {"run_id": "never"}) == []


def test_what_may_be_packed(ws: Workspace) -> None:
    _folder_run(ws, "few", POINTS)
    assert packable_points(ws.run_files("few")) == POINTS
    (ws.run_files("few").heartbeat).touch()
    assert packable_points(ws.run_files("few")) == POINTS

    many = [("m", float(i), i, 1.0) for i in range(PACK_MAX_POINTS + 1)]
    _folder_run(ws, "many", many)
    assert packable_points(ws.run_files("many")) is None
    _folder_run(ws, "ten", many[:PACK_MAX_POINTS])
    assert packable_points(ws.run_files("ten")) == many[:PACK_MAX_POINTS]

    long = [("k" * 500, 1.0, i, 1.0) for i in range(PACK_MAX_POINTS)]
    _folder_run(ws, "long", long)
    assert ws.run_files("long").metrics.stat().st_size > PACK_MAX_BYTES
    assert packable_points(ws.run_files("long")) is None

    for extra in ("cells.jsonl", "stdout.txt", "metrics.npz", "figure.png"):
        _folder_run(ws, f"with-{extra}", POINTS)
        (ws.run_files(f"with-{extra}").folder / extra).write_text("x")
        assert packable_points(ws.run_files(f"with-{extra}")) is None, extra

    _folder_run(ws, "cut", POINTS)
    with open(ws.run_files("cut").metrics, "ab") as fh:
        fh.write(b'["loss",0.5,')  # a line cut short: left alone, with its folder
    assert packable_points(ws.run_files("cut")) is None

    _folder_run(ws, "none", [])
    assert not ws.run_files("none").metrics.exists()
    assert packable_points(ws.run_files("none")) == []


def test_a_failed_write_leaves_no_partial_line(ws: Workspace, monkeypatch) -> None:
    first = append_points(ws, "a", POINTS)
    size = pack_path(ws).stat().st_size

    def half_then_full(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pack, "write_all", half_then_full)
    with pytest.raises(StoreError, match="nothing was half-written"):
        append_points(ws, "b", POINTS)
    assert pack_path(ws).stat().st_size == size
    monkeypatch.undo()
    second = append_points(ws, "c", POINTS)
    assert second["offset"] == size
    assert read_packed(ws, "a", first) == read_packed(ws, "c", second) == POINTS


def test_a_tail_that_could_not_be_cut_starts_no_line(ws: Workspace) -> None:
    append_points(ws, "a", POINTS)
    with open(pack_path(ws), "ab") as fh:
        fh.write(b'{"run":"b","points":[["lo')  # a write cut short whose cut failed too
    where = append_points(ws, "c", POINTS)
    data = pack_path(ws).read_bytes()
    assert data[where["offset"] - 1 : where["offset"]] == b"\n"
    assert read_packed(ws, "c", where) == POINTS


# ------------------------------------------------------------------------- hostile locations
def _packed(ws: Workspace) -> dict[str, Any]:
    append_points(ws, "other", POINTS)
    return append_points(ws, "r1", POINTS)


def _refused(ws: Workspace, location: Any, *words: str) -> str:
    with pytest.raises(StoreError) as info:
        read_packed(ws, "r1", location)
    message = str(info.value)
    assert "\n" not in message
    assert "r1" in message and str(pack_path(ws)) in message, message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"pack": "other.pack"}, ["'points.pack'"]),
        ({"pack": "../../../../etc/passwd"}, ["etc/passwd"]),
        ({"pack": None}, ["pack null"]),
        ({"offset": -5}, ["offset -5"]),
        ({"offset": True}, ["offset true"]),
        ({"offset": 1.5}, ["offset 1.5"]),
        ({"offset": "0"}, ["offset"]),
        ({"length": 0}, ["length 0"]),
        ({"length": 10**9}, ["length 1000000000"]),
        ({"count": -1}, ["count -1"]),
        ({"count": 10**6}, ["count"]),
    ],
)
def test_a_damaged_location_is_refused(ws: Workspace, change: dict, words: list[str]) -> None:
    where = {**_packed(ws), **change}
    _refused(ws, where, "damaged", *words)


def test_a_location_that_is_not_a_mapping_is_refused(ws: Workspace) -> None:
    _packed(ws)
    _refused(ws, ["points.pack", 0, 10, 1], "expected a mapping")
    _refused(ws, "points.pack", "expected a mapping")


def test_a_location_off_the_line_is_refused(ws: Workspace) -> None:
    where = _packed(ws)
    size = pack_path(ws).stat().st_size
    _refused(ws, {**where, "offset": size + 100}, "past the file's end")
    _refused(ws, {**where, "length": where["length"] + 1}, "past the file's end")
    _refused(ws, {**where, "offset": where["offset"] + 1, "length": 10}, "not the start of a line")
    _refused(ws, {**where, "length": where["length"] - 1}, "not a whole line")
    other = {**where, "offset": 0, "length": where["length"] + len("other") - len("r1")}
    _refused(ws, other, 'points of run "other"')
    _refused(ws, {**where, "count": 3}, "holds 4 points, not 3")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"not json at all", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'["a list"]', "not a line of packed points"),
        (b'{"run":"r1"}', "not a line of packed points"),
        (b'{"run":"r1","points":[["k",1.0,0]]}', "point 0 of its line"),
        (b'{"run":"r1","points":[["k","1",0,1.0]]}', "point 0 of its line"),
        (b'{"run":"r1","points":[["k",true,0,1.0]]}', "point 0 of its line"),
        (b'{"run":"r1","points":[[1,1.0,0,1.0]]}', "point 0 of its line"),
        (b'{"run":"r1","points":[["k",1.0,-1,1.0]]}', "point 0 of its line"),
        (b'{"run":"r1","points":[["k",1.0,0.5,1.0]]}', "point 0 of its line"),
        (b'{"run":"r1","points":[["k",1.0,0,1.0]],"cells":"x"}', 'its cells are "x"'),
        (b'{"run":"r1","points":[["k",1.0,0,1.0]],"cells":[1]}', "its cells are [1]"),
        (b'{"run":"r1","points":[["k",1.0,0,1.0]],"output":[]}', "its output is []"),
        (b'{"run":"r1","points":[["k",1.0,0,1.0]],"output":{"stdout":1}}', "its output is"),
        (b'{"run":"r1","points":[["k",1.0,0,1.0]],"output":{"log":"x"}}', "not stdout and"),
    ],
)
def test_a_line_of_the_wrong_shape_is_refused(ws: Workspace, body: bytes, words: str) -> None:
    path = pack_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x\n" + body + b"\n")
    where = {"pack": PACKED_POINTS_FILE, "offset": 2, "length": len(body) + 1, "count": 1}
    _refused(ws, where, words)


def test_a_missing_pack_is_a_clear_error(ws: Workspace) -> None:
    where = {"pack": PACKED_POINTS_FILE, "offset": 0, "length": 10, "count": 1}
    _refused(ws, where, "missing")


def test_a_pack_that_is_a_symlink_is_not_followed(ws: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    line = b'{"run":"r1","points":[["k",1.0,0,1.0]]}\n'
    outside.write_bytes(line)
    pack_path(ws).symlink_to(outside)
    with pytest.raises(StoreError) as info:
        read_packed(
            ws, "r1", {"pack": PACKED_POINTS_FILE, "offset": 0, "length": len(line), "count": 1}
        )
    assert "\n" not in str(info.value)


def test_a_run_document_pointing_at_a_bad_location_fails_in_one_line(ws: Workspace) -> None:
    _packed(ws)
    ws.catalog.put(
        "runs",
        "r1",
        {"run_id": "r1", "points": {"pack": "../db.json", "offset": 0, "length": 9, "count": 1}},
    )
    with pytest.raises(StoreError, match="run r1: the catalog's record"):
        read_run_points(ws, ws.catalog.get("runs", "r1"))


def test_flushes_land_in_the_folder_until_the_end(ws: Workspace) -> None:
    """A run's points go to its folder file as today; the pack is written only at its end."""
    files = ws.run_files("live")
    files.folder.mkdir(parents=True)
    writer = MetricWriter(files.metrics, heartbeat=files.heartbeat)
    writer.add("m", 1.0, None, 1.0)
    flush_all()
    assert read_points(files.metrics) == [("m", 1.0, 0, 1.0)]
    assert not pack_path(ws).exists()
    writer.close()
    assert list(read_columns(files.metrics)) == ["m"]


def test_cells_and_output_travel_in_the_line_and_read_back(ws: Workspace) -> None:
    """A run's cells and output packed with its points; the folder's files win while there."""
    cells = [{"i": 1, "source": "x = 1\nprint('héllo')", "status": "ok"}]
    output = {"stdout": "héllo\n", "stderr": "careful\n"}
    where = append_points(ws, "r1", POINTS[:1], {"cells": cells, "output": output})
    doc = {"run_id": "r1", "points": where}
    ws.catalog.put("runs", "r1", doc)
    assert pack.read_run_cells(ws, doc) == cells
    assert pack.read_run_output(ws, doc, "stdout") == "héllo\n"
    assert pack.read_run_output(ws, doc, "stderr") == "careful\n"
    assert _same(read_run_points(ws, doc), POINTS[:1])
    files = ws.run_files("r1")
    files.folder.mkdir(parents=True)
    files.stdout.write_text("from the folder\n")
    assert pack.read_run_output(ws, doc, "stdout") == "from the folder\n"
    bare = {"run_id": "r2", "points": append_points(ws, "r2", [])}
    assert pack.read_run_cells(ws, bare) == [] and pack.read_run_output(ws, bare, "stdout") is None


def test_text_past_the_limit_keeps_the_folder(ws: Workspace) -> None:
    files = ws.run_files("r1")
    long_cell = {"cells": [{"source": "x = 1\n" * (pack.PACK_MAX_TEXT // 6 + 1)}]}
    assert pack_run(ws, files, "r1", long_cell) is None
    assert not pack_path(ws).exists()
    assert pack_run(ws, files, "r1", {"cells": [{"source": "x = 1\n"}]}) is not None
