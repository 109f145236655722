"""Small runs give up their folder at the end: their points move to the shared pack
(store/pack.py), read back exactly as from the folder, by every view, by many processes at once,
and whatever instant a process is killed at."""

from __future__ import annotations

import json
import os
import random
import signal
import textwrap
import time
from pathlib import Path

import pytest
from conftest import spawn, wait_for

import nb_mlops as nm
from nb_mlops.store import pack
from nb_mlops.store.pack import PACK_MAX_POINTS, pack_path, read_packed, read_run_points
from nb_mlops.store.series import read_points
from nb_mlops.store.workspace import Workspace, forget_open_workspaces, open_workspace
from nb_mlops.tracking import compare as compare_module
from nb_mlops.tracking.run import NonFiniteMetricWarning


def _log(n: int, key: str = "loss") -> None:
    for i in range(n):
        nm.log_metric(key, 1 / (i + 3), step=i)


def _doc(ws: Workspace, run_id: str) -> dict:
    doc = ws.catalog.get("runs", run_id)
    assert doc is not None
    return doc


def test_a_small_run_ends_without_a_folder_and_reads_the_same(ws: Workspace) -> None:
    with nm.start_run("small") as run:
        _log(6)
        with pytest.warns(NonFiniteMetricWarning):
            nm.log_metrics({"acc": 0.5, "f1": float("nan")}, step=3)
        nm.active_run().flush()
        assert run.dir.is_dir()
        as_written = read_points(run.files.metrics)
    assert len(as_written) == PACK_MAX_POINTS - 2
    assert not run.dir.exists()
    doc = _doc(ws, run.run_id)
    assert doc["points"]["pack"] == "points.pack" and doc["points"]["count"] == 8
    assert repr(read_run_points(ws, doc)) == repr(as_written)
    assert doc["metrics"]["loss"] == pytest.approx(1 / 8)

    comparison = nm.compare(run.run_id)
    steps, values, times = comparison.series(run.run_id, "loss")
    assert steps.tolist() == list(range(6))
    assert values.tolist() == [p[1] for p in as_written if p[0] == "loss"]
    assert times.tolist() == [p[3] for p in as_written if p[0] == "loss"]


def test_get_run_shows_a_packed_runs_series(ws: Workspace) -> None:
    """Through tracking/query.py's run_detail, which must read points with read_run_points."""
    with nm.start_run("small") as run:
        _log(4)
    assert not run.dir.exists()
    series = nm.get_run(run.run_id)["series"]
    assert [p[:2] for p in series["loss"]] == [[i, 1 / (i + 3)] for i in range(4)]
    assert "4 points" in nm.get_run(run.run_id).to_text()


def test_larger_runs_and_runs_with_other_files_keep_their_folder(ws: Workspace) -> None:
    with nm.start_run("eleven") as eleven:
        _log(PACK_MAX_POINTS + 1)
    with nm.start_run("ten") as ten:
        _log(PACK_MAX_POINTS)
    with nm.start_run("cell") as cell:
        _log(2)
        cell.record_cell({"i": 1, "source": "x = 1"})
    with nm.start_run("printed") as printed:
        _log(2)
        printed.save_output("hello\n", "")
    assert eleven.dir.is_dir() and "points" not in _doc(ws, eleven.run_id)
    assert cell.dir.is_dir() and "points" not in _doc(ws, cell.run_id)
    assert printed.dir.is_dir() and "points" not in _doc(ws, printed.run_id)
    assert not ten.dir.exists() and _doc(ws, ten.run_id)["points"]["count"] == PACK_MAX_POINTS
    assert len(read_run_points(ws, _doc(ws, eleven.run_id))) == PACK_MAX_POINTS + 1
    assert len(read_run_points(ws, _doc(ws, cell.run_id))) == 2


def test_runs_without_points_and_failed_runs_are_packed_too(ws: Workspace) -> None:
    with nm.start_run("empty") as empty:
        nm.log_param("p", 1)
    with pytest.raises(ZeroDivisionError), nm.start_run("boom") as boom:
        _log(3)
        1 / 0  # noqa: B018
    assert not empty.dir.exists() and read_run_points(ws, _doc(ws, empty.run_id)) == []
    assert _doc(ws, boom.run_id)["status"] == "failed"
    assert not boom.dir.exists() and len(read_run_points(ws, _doc(ws, boom.run_id))) == 3


def test_nested_runs_are_packed_each(ws: Workspace) -> None:
    with nm.start_run("parent") as parent:
        with nm.start_run("child") as child:
            _log(2)
        _log(1)
    for run, n in ((parent, 1), (child, 2)):
        assert not run.dir.exists()
        assert len(read_run_points(ws, _doc(ws, run.run_id))) == n


def test_a_pack_that_cannot_be_written_leaves_the_run_as_it_was(ws: Workspace) -> None:
    pack.pack_path(ws).mkdir(parents=True)  # a folder where the pack file goes: no write works
    with nm.start_run("kept") as run:
        _log(3)
    doc = _doc(ws, run.run_id)
    assert doc["status"] == "finished" and "points" not in doc
    assert run.dir.is_dir() and len(read_run_points(ws, doc)) == 3


def test_deleting_a_packed_run_blanks_its_line_in_place(ws: Workspace) -> None:
    with nm.start_run("gone") as gone:
        _log(2)
    with nm.start_run("kept") as kept:
        _log(3)
    size = pack_path(ws).stat().st_size
    where = _doc(ws, gone.run_id)["points"]
    nm.delete_run(gone.run_id)
    assert ws.catalog.get("runs", gone.run_id) is None
    data = pack_path(ws).read_bytes()
    assert len(data) == size  # nothing moved
    line = data[where["offset"] : where["offset"] + where["length"]]
    assert line.strip() == b"" and line.endswith(b"\n") and gone.run_id.encode() not in data
    assert len(read_run_points(ws, _doc(ws, kept.run_id))) == 3
    nm.gc(grace_s=0)
    assert len(read_run_points(ws, _doc(ws, kept.run_id))) == 3


def test_a_deleted_run_naming_another_runs_line_blanks_nothing(ws: Workspace) -> None:
    """A hand-edited record pointing at another run's line: that line is not the run's."""
    with nm.start_run("victim") as victim:
        _log(2)
    with nm.start_run("forged") as forged:
        _log(1)
    ws.catalog.set("runs", forged.run_id, {"points": _doc(ws, victim.run_id)["points"]})
    before = pack_path(ws).read_bytes()
    nm.delete_run(forged.run_id)
    assert pack_path(ws).read_bytes() == before
    assert len(read_run_points(ws, _doc(ws, victim.run_id))) == 2


def test_the_column_reader_of_compare_sees_packed_and_folder_runs(ws: Workspace) -> None:
    with nm.start_run("a") as a:
        _log(3)
    with nm.start_run("b") as b:
        _log(PACK_MAX_POINTS + 2)
    comparison = compare_module.compare(ws, [a.run_id, b.run_id])
    assert comparison.series(a.run_id, "loss")[0].tolist() == [0, 1, 2]
    assert len(comparison.series(b.run_id, "loss")[0]) == PACK_MAX_POINTS + 2


def _disk(folder: Path) -> int:
    """Bytes `folder` and everything in it take on disk (allocated blocks)."""
    total = os.lstat(folder).st_blocks * 512
    for path in folder.rglob("*"):
        total += os.lstat(path).st_blocks * 512
    return total


def test_a_small_run_costs_a_few_hundred_bytes_under_runs(ws: Workspace) -> None:
    rng = random.Random(20)
    runs = 200
    for r in range(runs):
        with nm.start_run(f"r{r}"):
            nm.log_params({f"param_{i}": rng.choice(["rf", 0.1, 64, True]) for i in range(20)})
            nm.log_metrics({f"metric_{i}": rng.random() for i in range(10)})
    per_run = _disk(ws.runs_dir) / runs
    print(f"runs/ takes {per_run:.0f} bytes per run on disk")
    assert not [p for p in ws.runs_dir.iterdir() if p.is_dir()]
    assert per_run <= 600


# ------------------------------------------------------------------------- many processes
ENDER = """
    import sys, time
    from pathlib import Path
    import nb_mlops as nm

    ready, go, writer = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    nm.workspace().catalog.sync()
    ready.write_text("ready")
    while not go.exists():
        time.sleep(0.001)
    for r in range(100):
        with nm.start_run(f"w{writer}-{r}") as run:
            for i in range(1 + r % 10):
                nm.log_metric(f"w{writer}", r * 100 + i, step=i)
        print(run.run_id, flush=True)
"""


def _script(tmp_path: Path, name: str, code: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    return path


def _fresh(home: Path) -> Workspace:
    forget_open_workspaces()
    ws = open_workspace(home, create=False)
    ws.catalog.sync()
    return ws


@pytest.mark.slow
def test_three_processes_ending_small_runs_at_once(tmp_path: Path, ws: Workspace) -> None:
    script = _script(tmp_path, "ender.py", ENDER)
    go = tmp_path / "go"
    readies = [tmp_path / f"ready-{w}" for w in range(3)]
    procs = [spawn(script, str(readies[w]), str(go), str(w), home=ws.home) for w in range(3)]
    try:
        for ready in readies:
            wait_for(ready, procs, timeout=60.0)
        go.write_text("go")
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err

    ws = _fresh(ws.home)
    docs = ws.catalog.docs("runs")
    assert len(docs) == 300
    assert not [p for p in ws.runs_dir.iterdir() if p.is_dir()], "a small run kept its folder"
    offsets = set()
    for doc in docs.values():
        writer, r = doc["name"][1:].split("-")
        expected = [(f"w{writer}", float(int(r) * 100 + i), i) for i in range(1 + int(r) % 10)]
        assert [p[:3] for p in read_run_points(ws, doc)] == expected, doc["name"]
        offsets.add(doc["points"]["offset"])
    assert len(offsets) == 300
    lines = pack_path(ws).read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert sorted(json.loads(line)["run"] for line in lines[:-1]) == sorted(docs)


# ------------------------------------------------------------------------------- kill -9
VICTIM = """
    import os, sys
    from pathlib import Path
    import nb_mlops as nm

    ready, life = Path(sys.argv[1]), sys.argv[2]
    r = 0
    while True:
        with nm.start_run(f"{life}-{r}"):
            for i in range(5):
                nm.log_metric("m", r * 10 + i, step=i)
        if r == 0:
            ready.write_text("ready")
        r += 1
"""


@pytest.mark.slow
def test_a_process_killed_while_ending_small_runs_loses_none(tmp_path: Path) -> None:
    seed = int(os.environ.get("NB_MLOPS_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"kill-instant seed: {seed} (rerun with NB_MLOPS_TEST_SEED={seed})")
    rng = random.Random(seed)
    home = tmp_path / "victim" / ".nbmlops"
    open_workspace(home)
    script = _script(tmp_path, "victim.py", VICTIM)
    finished = 0
    for life in range(6):  # one store: each life appends after what the last kill left
        ready = tmp_path / f"ready-{life}"
        proc = spawn(script, str(ready), f"life{life}", home=home)
        try:
            wait_for(ready, [proc], timeout=60.0)
            time.sleep(rng.uniform(0.05, 0.6))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL

        ws = _fresh(home)
        nm.init(home)
        nm.runs()  # the store opens; the run the kill interrupted reads as crashed
        data = pack_path(ws).read_bytes() if pack_path(ws).exists() else b""
        whole = data.rfind(b"\n") + 1  # a kill in the middle of an append may leave a tail
        for doc in ws.catalog.docs("runs").values():
            if "points" in doc:  # named only once the whole line is there: never a cut line
                where = doc["points"]
                assert where["offset"] + where["length"] <= whole, (doc, len(data))
                points = read_packed(ws, doc["run_id"], where)
                assert len(points) == where["count"]
            if doc["status"] != "finished":
                continue
            finished += 1
            r = int(doc["name"].split("-")[1])
            assert ws.run_dir(doc["run_id"]).is_dir() or "points" in doc, doc
            points = read_run_points(ws, doc)
            assert [p[:3] for p in points] == [("m", float(r * 10 + i), i) for i in range(5)]
    print(f"{finished} finished runs checked over 6 kills")
    assert finished > 6
