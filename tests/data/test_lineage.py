"""Versions and lineage: which version of each dataset a run read, seen from both sides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

import nb_mlops as nm
from nb_mlops.data.snapshot import DataError
from nb_mlops.store.workspace import Workspace


@pytest.fixture
def data(project: Path) -> Path:
    folder = project / "data"
    folder.mkdir()
    (folder / "train.csv").write_text("id,x\n1,2\n2,4\n")
    (folder / "notes.txt").write_text("v1")
    nm.snapshot("data", "raw export")
    return folder


def runs_of(table: dict, version: int) -> list[str]:
    (entry,) = [v for v in table["versions"] if v["version"] == version]
    return [r["name"] for r in entry["runs"]]


def named(ws: Workspace, name: str) -> dict:
    docs = [d for d in ws.catalog.docs("runs").values() if d["name"] == name]
    assert len(docs) == 1, docs
    return docs[0]


# -- versions -------------------------------------------------------------------------------


def test_versions_list_messages_sizes_and_the_current_one(data: Path) -> None:
    (data / "notes.txt").write_text("v2, longer")
    nm.snapshot("data", "second")
    table = nm.versions("data")
    d = table.to_dict()
    assert d["path"] == "data" and d["current"] == 2
    assert [(v["version"], v["message"]) for v in d["versions"]] == [
        (1, "raw export"),
        (2, "second"),
    ]
    assert [v["size"] for v in d["versions"]] == [15, 23]
    assert all(v["nfiles"] == 2 and v["rows"] == 2 for v in d["versions"])
    assert all("refs" not in v for v in d["versions"])
    assert json.loads(json.dumps(d)) == d
    lines = str(table).splitlines()
    assert lines[0] == "data"
    assert any(line.startswith("* 2") and "second" in line for line in lines)
    assert any(line.startswith("  1") and "raw export" in line for line in lines)

    nm.checkout("data", 1)  # the marker follows the checkout
    assert nm.versions("data").to_dict()["current"] == 1
    assert any(line.startswith("* 1") for line in str(nm.versions("data")).splitlines())
    html = nm.versions("data")._repr_html_()
    assert "raw export" in html and "<table" in html


def test_versions_of_data_never_snapshotted(project: Path) -> None:
    (project / "x.txt").write_text("x")
    with pytest.raises(DataError, match=r"x\.txt has no versions yet"):
        nm.versions("x.txt")


def test_no_current_version_when_the_dvc_file_is_gone(data: Path, project: Path) -> None:
    (project / "data.dvc").unlink()
    assert nm.versions("data").to_dict()["current"] is None


# -- runs -----------------------------------------------------------------------------------


def test_start_run_records_the_version_on_both_sides(data: Path, project: Path) -> None:
    (project / "labels.bin").write_bytes(b"labels")
    nm.snapshot("labels.bin")
    with nm.start_run("train-1", data=["data", project / "labels.bin"]) as run:
        nm.log_metric("acc", 0.9)
    (data / "notes.txt").write_text("v2")
    nm.snapshot("data", "v2")
    with nm.start_run("train-2", data=["data/"]) as run2:
        pass

    v1_md5, v2_md5 = (v["md5"] for v in nm.versions("data").to_dict()["versions"])
    assert nm.get_run(run.run_id)["data"] == [
        {"path": "data", "version": 1, "md5": v1_md5},
        {
            "path": "labels.bin",
            "version": 1,
            "md5": nm.versions("labels.bin").to_dict()["versions"][0]["md5"],
        },
    ]
    assert nm.get_run("train-2")["data"] == [{"path": "data", "version": 2, "md5": v2_md5}]
    table = nm.versions("data").to_dict()
    assert runs_of(table, 1) == ["train-1"] and runs_of(table, 2) == ["train-2"]
    (entry,) = table["versions"][0]["runs"]
    assert entry == {"run_id": run.run_id, "name": "train-1", "status": "finished"}
    assert runs_of(nm.versions("labels.bin").to_dict(), 1) == ["train-1"]
    assert f"train-1 ({run.run_id})" in str(nm.versions("data"))
    assert run2.run_id in str(nm.versions("data"))


def test_unsaved_data_is_snapshotted_for_the_run(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    (data / "notes.txt").write_text("edited, not snapshotted")
    with nm.start_run("reader", data=["data"]) as run:
        pass
    err = capsys.readouterr().err
    assert "data had unsaved changes" in err and "version 2" in err
    table = nm.versions("data").to_dict()
    assert [v["version"] for v in table["versions"]] == [1, 2]
    assert "reader" in table["versions"][1]["message"]
    assert table["current"] == 2
    assert nm.get_run(run.run_id)["data"][0]["version"] == 2
    assert runs_of(table, 2) == ["reader"]
    assert nm.status("data").items[0].clean


def test_a_missing_dataset_stops_the_run_before_it_starts(ws: Workspace) -> None:
    with pytest.raises(DataError, match="no-such-data"):
        nm.start_run("never", data=["no-such-data"])
    assert [d for d in ws.catalog.docs("runs").values() if d["name"] == "never"] == []
    assert nm.active_run() is None


# -- %%track --data -------------------------------------------------------------------------
def said(cap) -> str:
    """Everything a cell showed: stdout, stderr and displayed text (a notebook's notices are
    quiet displayed lines, not stderr)."""
    shown = [o.data.get("text/plain", "") for o in cap.outputs]
    return "\n".join([cap.stdout, cap.stderr, *shown])


def test_track_cell_records_the_data_it_read(ip, ws: Workspace, data: Path) -> None:
    with capture_output() as cap:
        result = ip.run_cell("%%track -n cell-reader --data data\nrows = 2\nrows * 3\n")
    assert result.error_in_exec is None and result.result == 6
    assert "data had unsaved changes" not in said(cap)
    doc = named(ws, "cell-reader")
    assert doc["status"] == "finished"
    v1 = nm.versions("data").to_dict()["versions"][0]
    assert doc["data"] == [{"path": "data", "version": 1, "md5": v1["md5"]}]
    assert nm.get_run(doc["run_id"])["data"] == doc["data"]
    assert runs_of(nm.versions("data").to_dict(), 1) == ["cell-reader"]
    shown = ip.run_line_magic("track", "versions data")
    assert "cell-reader" in str(shown)


def test_track_cell_snapshots_unsaved_data_with_a_notice(
    ip, ws: Workspace, data: Path, project: Path
) -> None:
    (data / "train.csv").write_text("id,x\n1,2\n2,4\n3,6\n")
    (project / "extra.txt").write_text("never snapshotted")
    with capture_output() as cap:
        result = ip.run_cell("%%track -n cell-fresh --data data --data extra.txt\nprint('ran')\n")
    assert result.error_in_exec is None
    assert "data had unsaved changes: snapshot as version 2" in said(cap)
    assert "extra.txt had unsaved changes: snapshot as version 1" in said(cap)
    assert "unsaved" not in cap.stderr  # a quiet note, not red stderr
    doc = named(ws, "cell-fresh")
    assert [(d["path"], d["version"]) for d in doc["data"]] == [("data", 2), ("extra.txt", 1)]
    table = nm.versions("data").to_dict()
    assert table["versions"][1]["message"] == "taken for run cell-fresh"
    assert table["versions"][1]["rows"] == 3
    assert runs_of(table, 2) == ["cell-fresh"]
    assert runs_of(nm.versions("extra.txt").to_dict(), 1) == ["cell-fresh"]
    assert (project / "extra.txt.dvc").is_file()


def test_track_cell_with_missing_data_runs_nothing(ip, ws: Workspace) -> None:
    ip.user_ns.pop("side_effect", None)
    with capture_output():
        result = ip.run_cell("%%track -n bad-data --data nowhere\nside_effect = 1\n")
    assert isinstance(result.error_in_exec, DataError)
    assert "nowhere" in str(result.error_in_exec)
    assert "side_effect" not in ip.user_ns
    assert [d for d in ws.catalog.docs("runs").values() if d["name"] == "bad-data"] == []


def test_track_start_records_the_data_a_session_reads(ip, ws: Workspace, data: Path) -> None:
    with capture_output() as cap:
        ip.run_line_magic("track", "start eda --data data --tag stage=explore")
        ip.run_cell("rows = 2")
        (data / "notes.txt").write_text("changed while the session ran")
        ip.run_line_magic("track", "stop")
    assert "data had unsaved changes" not in said(cap)  # the version was taken at the start
    doc = named(ws, "eda")
    v1 = nm.versions("data").to_dict()["versions"][0]
    assert doc["data"] == [{"path": "data", "version": 1, "md5": v1["md5"]}]
    assert doc["tags"] == {"stage": "explore"} and doc["status"] == "finished"
    assert runs_of(nm.versions("data").to_dict(), 1) == ["eda"]


def test_track_start_with_missing_data_starts_nothing(ip, ws: Workspace) -> None:
    with pytest.raises(DataError, match=r"no such file or folder: absent\.csv"):
        ip.run_line_magic("track", "start eda --data absent.csv")
    assert not ws.catalog.docs("runs")
    with pytest.raises(Exception, match="nothing to stop"):
        ip.run_line_magic("track", "stop")


def test_run_detail_shows_the_data_versions(project: Path) -> None:
    (project / "d.csv").write_text("id\n1\n")
    nm.snapshot("d.csv")
    with nm.start_run("reads-d", data=["d.csv"]):
        pass
    detail = nm.get_run("reads-d")
    assert "Data:" in str(detail) and "d.csv  version 1" in str(detail)
    assert "d.csv" in detail._repr_html_()
