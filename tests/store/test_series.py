"""Metric series files: background flushing, whole lines, non-finite values, last values."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nb_mlops.errors import StoreError
from nb_mlops.store import series
from nb_mlops.store.series import MetricWriter, flush_all, last_values, read_points
from nb_mlops.store.workspace import Workspace


@pytest.fixture
def writers() -> Iterator[list[MetricWriter]]:
    """Writers made by a test; unregistered afterwards so the shared flusher forgets them."""
    made: list[MetricWriter] = []
    yield made
    for w in made:
        series._flusher.unregister(w)


def _writer(made: list[MetricWriter], path: Path, **kw) -> MetricWriter:
    w = MetricWriter(path, **kw)
    made.append(w)
    return w


def _wait_for(predicate, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"not true within {timeout} s")


def test_points_reach_the_file_within_a_second_without_flush(
    tmp_path: Path, writers: list[MetricWriter]
) -> None:
    path = tmp_path / "metrics.jsonl"
    w = _writer(writers, path)
    t0 = time.time()
    for i in range(5):
        w.add("loss", 1.0 / (i + 1), None, t0 + i)
    waited = _wait_for(lambda: len(read_points(path)) == 5, timeout=2.0)
    assert waited < 1.1
    assert read_points(path) == [
        ("loss", 1.0 / (i + 1), i, pytest.approx(t0 + i, abs=1e-5)) for i in range(5)
    ]
    # points logged later are flushed by the same background thread
    w.add("acc", 0.5, 10, t0)
    _wait_for(lambda: len(read_points(path)) == 6, timeout=1.5)
    assert read_points(path)[-1][:3] == ("acc", 0.5, 10)


def test_each_point_is_one_whole_json_line(tmp_path: Path, writers: list[MetricWriter]) -> None:
    path = tmp_path / "metrics.jsonl"
    w = _writer(writers, path)
    w.add('we"ird\nkey ü', 0.25, 3, 1764185400.123456)
    w.add("x", 2, None, 1.0)
    w.flush()
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 2
    assert all(line.endswith(b"\n") for line in lines)
    assert json.loads(lines[0]) == ['we"ird\nkey ü', 0.25, 3, 1764185400.123456]
    assert read_points(path)[1] == ("x", 2.0, 0, 1.0)


def test_readers_only_ever_see_whole_lines_while_a_writer_runs(
    tmp_path: Path, writers: list[MetricWriter]
) -> None:
    path = tmp_path / "metrics.jsonl"
    w = _writer(writers, path)
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set() and i < 20000:
            w.add("loss", i * 0.001, i, 1.0)
            i += 1
            if i % 50 == 0:
                w.flush()

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        seen = 0
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            pts = read_points(path)
            assert len(pts) >= seen
            assert [p[2] for p in pts] == list(range(len(pts)))  # no gap, no torn point
            seen = len(pts)
    finally:
        stop.set()
        thread.join()
    w.flush()
    pts = read_points(path)
    assert [p[2] for p in pts] == list(range(len(pts)))
    assert seen > 0


def test_read_points_ignores_a_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'["loss",0.5,0,1.0]\n["loss",0.25,1,2.0]\n["loss",0.1')
    assert read_points(path) == [("loss", 0.5, 0, 1.0), ("loss", 0.25, 1, 2.0)]
    path.write_bytes(b'["loss",0.5,0')
    assert read_points(path) == []


def test_read_points_of_a_missing_file(tmp_path: Path) -> None:
    assert read_points(tmp_path / "nothing.jsonl") == []


def test_nan_and_infinities_round_trip(tmp_path: Path, writers: list[MetricWriter]) -> None:
    path = tmp_path / "metrics.jsonl"
    w = _writer(writers, path)
    w.add("a", math.nan, 0, 1.0)
    w.add("b", math.inf, 0, 1.0)
    w.add("c", -math.inf, 0, 1.0)
    w.add("d", -0.0, 0, 1.0)
    w.add("e", 1e-300, 0, 1.0)
    w.flush()
    got = {k: v for k, v, _, _ in read_points(path)}
    assert math.isnan(got["a"])
    assert got["b"] == math.inf
    assert got["c"] == -math.inf
    assert math.copysign(1, got["d"]) == -1
    assert got["e"] == 1e-300
    assert math.isnan(w.last["a"]) and w.last["b"] == math.inf
    assert b"NaN" in path.read_bytes() and b"-Infinity" in path.read_bytes()


def test_steps_count_up_and_last_follows_the_highest_step(
    tmp_path: Path, writers: list[MetricWriter]
) -> None:
    w = _writer(writers, tmp_path / "metrics.jsonl")
    w.add("loss", 1.0, None, 0.0)  # step 0
    w.add("loss", 0.8, None, 0.0)  # step 1
    w.add("loss", 0.5, 10, 0.0)
    w.add("loss", 0.9, 4, 0.0)  # an older step: not the last value
    w.add("acc", 0.1, None, 0.0)
    assert w.steps == {"loss": 10, "acc": 0}
    assert w.last == {"loss": 0.5, "acc": 0.1}
    w.add("loss", 0.7, None, 0.0)  # continues after the highest step
    assert w.steps["loss"] == 11
    w.flush()
    assert [p[2] for p in read_points(tmp_path / "metrics.jsonl") if p[0] == "loss"] == [
        0,
        1,
        10,
        4,
        11,
    ]


def test_last_values_picks_the_value_at_the_highest_step() -> None:
    points = [
        ("loss", 0.9, 0, 1.0),
        ("loss", 0.1, 7, 2.0),
        ("loss", 0.5, 3, 3.0),  # written later, lower step
        ("acc", 0.2, 2, 1.0),
        ("acc", 0.3, 2, 2.0),  # tie: the later one
        ("f1", math.nan, 0, 1.0),
    ]
    got = last_values(points)
    assert got["loss"] == 0.1
    assert got["acc"] == 0.3
    assert math.isnan(got["f1"])
    assert set(got) == {"loss", "acc", "f1"}
    assert last_values([]) == {}


def test_last_values_of_a_file_written_by_a_writer(
    tmp_path: Path, writers: list[MetricWriter]
) -> None:
    path = tmp_path / "metrics.jsonl"
    w = _writer(writers, path)
    for step, value in [(0, 5.0), (2, 3.0), (1, 4.0)]:
        w.add("loss", value, step, 0.0)
    w.flush()
    assert last_values(read_points(path)) == {"loss": 3.0} == w.last


def test_flush_all_writes_every_writer(tmp_path: Path, writers: list[MetricWriter]) -> None:
    a = _writer(writers, tmp_path / "a.jsonl")
    b = _writer(writers, tmp_path / "b.jsonl")
    for i in range(3):
        a.add("x", float(i), i, 0.0)
        b.add("y", float(-i), i, 0.0)
    flush_all()  # right away, before the background thread's next turn
    assert [p[1] for p in read_points(tmp_path / "a.jsonl")] == [0.0, 1.0, 2.0]
    assert [p[1] for p in read_points(tmp_path / "b.jsonl")] == [0.0, -1.0, -2.0]
    flush_all()  # nothing new: nothing written twice
    assert len(read_points(tmp_path / "a.jsonl")) == 3


def test_close_flushes_and_stops_background_writes(
    tmp_path: Path, writers: list[MetricWriter]
) -> None:
    path = tmp_path / "metrics.jsonl"
    w = _writer(writers, path)
    w.add("x", 1.0, 0, 0.0)
    w.close()
    assert w.closed
    assert len(read_points(path)) == 1
    assert w not in list(series._flusher._writers)


def test_heartbeat_is_touched_by_the_flusher(tmp_path: Path, writers: list[MetricWriter]) -> None:
    beat = tmp_path / "heartbeat"
    w = _writer(writers, tmp_path / "metrics.jsonl", heartbeat=beat)
    w.add("x", 1.0, 0, 0.0)
    _wait_for(beat.exists, timeout=1.5)


def test_the_first_flush_makes_the_runs_folder(tmp_path: Path, writers: list[MetricWriter]) -> None:
    folder = tmp_path / "runs" / "abc"
    w = _writer(writers, folder / "metrics.jsonl")
    series._flusher.unregister(w)  # only this test's own flushes
    w.flush()
    assert not folder.exists()  # nothing to write: no folder
    w.add("x", 1.0, 0, 0.0)
    w.flush()
    assert (folder / "metrics.jsonl").read_text() == '["x",1.0,0,0.000000]\n'


def test_a_folder_that_cannot_be_made_is_a_store_error(
    tmp_path: Path, writers: list[MetricWriter]
) -> None:
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    w = _writer(writers, blocker / "abc" / "metrics.jsonl")
    series._flusher.unregister(w)
    w.add("x", 1.0, 0, 0.0)
    with pytest.raises(StoreError, match=re.escape(f"cannot write to the store folder {blocker}")):
        w.flush()


def test_a_failed_flush_keeps_the_points_for_the_next_one(
    tmp_path: Path, writers: list[MetricWriter]
) -> None:
    """A failed write (folder unmakeable, disk full) must not silently drop the buffered
    points."""
    blocker = tmp_path / "runs"
    blocker.write_text("in the way")
    folder = blocker / "run"
    w = _writer(writers, folder / "metrics.jsonl")
    series._flusher.unregister(w)
    w.add("x", 1.0, 0, 0.0)
    w.add("x", 2.0, 1, 0.0)
    with pytest.raises(StoreError):
        w.flush()
    blocker.unlink()  # the condition clears
    w.add("x", 3.0, 2, 0.0)
    w.flush()
    assert [p[1] for p in read_points(folder / "metrics.jsonl")] == [1.0, 2.0, 3.0]


def test_columns_match_points_and_the_cache_is_used_only_while_fresh(tmp_path: Path) -> None:
    import numpy as np

    from nb_mlops.store.series import COLUMNS_FILE, load_columns, read_columns, write_columns

    w = MetricWriter(tmp_path / "metrics.jsonl")
    for i in range(50):
        w.add("loss", 1 / (i + 1), None, 1000.0 + i)
    w.add('a,b "q" 한', float("nan"), None, 1.0)
    w.add('a,b "q" 한', float("inf"), 7, 2.0)
    w.close()
    cols = read_columns(tmp_path / "metrics.jsonl")
    points = read_points(tmp_path / "metrics.jsonl")
    assert list(cols) == ["loss", 'a,b "q" 한']
    assert cols["loss"][0].tolist() == list(range(50))
    assert cols["loss"][1].tolist() == [p[1] for p in points if p[0] == "loss"]
    steps, values, _ = cols['a,b "q" 한']
    assert steps.tolist() == [0, 7] and np.isnan(values[0]) and values[1] == np.inf
    write_columns(tmp_path)
    assert (tmp_path / COLUMNS_FILE).exists()
    cached = load_columns(tmp_path)
    assert cached["loss"][1].tolist() == cols["loss"][1].tolist()
    with open(tmp_path / "metrics.jsonl", "a") as fh:  # the run grew: the cache is stale
        fh.write('["loss",9.0,50,2000.0]\n')
    assert load_columns(tmp_path)["loss"][0].tolist()[-1] == 50
    (tmp_path / COLUMNS_FILE).write_bytes(b"damaged")
    assert len(load_columns(tmp_path)["loss"][0]) == 51
    with open(tmp_path / "metrics.jsonl", "a") as fh:  # a damaged line: slow path, same answer
        fh.write("{not json\n")
    assert len(read_columns(tmp_path / "metrics.jsonl")["loss"][0]) == 51


def test_small_files_skip_pandas_and_both_parsers_agree(tmp_path: Path, monkeypatch) -> None:
    import numpy as np

    from nb_mlops.store import series

    w = MetricWriter(tmp_path / "metrics.jsonl")
    for i in range(200):
        w.add("loss", 1 / (i + 1), None, 1000.0 + i)
        w.add('a,b "q" 한', float("nan") if i % 7 == 0 else i / 3, None, 1000.0 + i)
    w.close()
    small = series.read_columns(tmp_path / "metrics.jsonl")  # under CSV_FROM: line by line
    monkeypatch.setattr(series, "CSV_FROM", 0)  # every file through pandas' reader
    fast = series.read_columns(tmp_path / "metrics.jsonl")
    assert list(small) == list(fast) == ["loss", 'a,b "q" 한']
    for key in small:
        for a, b in zip(small[key], fast[key], strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)  # NaN equals NaN here


# ------------------------------------------------------------------------------ full disk
_FILL_THE_DISK = r"""
import json, sys
from pathlib import Path

import nb_mlops as nm
from nb_mlops.errors import StoreError
from nb_mlops.store import series
from nb_mlops.store.series import read_points

series.FLUSH_INTERVAL_S = 3600  # this script flushes; the background thread stays out of it
runs = Path(sys.argv[1])
filler = runs / "filler"
filler.write_bytes(b"x" * 24 * 1024)  # what is freed once the disk is full
out = {"errors": [], "partial": []}
step = 0
with nm.start_run("fills-the-disk") as run:
    metrics = run.ws.run_files(run.run_id).metrics
    while not out["errors"]:
        for _ in range(97):  # not a divisor of a page: the failing write lands part-way
            run.log_metric("loss", step / 7, step=step)
            step += 1
        try:
            run.flush()
        except StoreError as exc:
            out["errors"].append(str(exc))
            raw = metrics.read_bytes()
            out["partial"].append(bool(raw) and not raw.endswith(b"\n"))
    for _ in range(3):  # the disk is still full: the retries keep failing, and write nothing
        try:
            run.flush()
        except StoreError as exc:
            raw = metrics.read_bytes()
            out["partial"].append(bool(raw) and not raw.endswith(b"\n"))
    filler.unlink()
    for _ in range(50):
        run.log_metric("loss", step / 7, step=step)
        step += 1
    run.flush()
    out["logged"] = step
    out["steps"] = [p[2] for p in read_points(metrics)]
    out["shown"] = len(nm.get_run(run.run_id).to_dict()["series"]["loss"])
print(json.dumps(out))
"""


def test_a_full_disk_during_a_flush_never_writes_a_point_twice(
    ws: Workspace, project: Path
) -> None:
    """A real size-limited tmpfs under the store's runs/ folder: points are logged until the
    disk is full, space is freed, more are logged. Each point is stored exactly once."""
    from conftest import on_small_tmpfs, run_env

    out = on_small_tmpfs(ws.runs_dir, _FILL_THE_DISK, cwd=project, env=run_env(project))
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(got["errors"]) == 1
    message = got["errors"][0]
    assert "no space left" in message and "nothing was half-written" in message
    assert "\n" not in message
    assert got["partial"] == [False] * 4  # every failed write was cut back
    steps = got["steps"]
    assert len(steps) == len(set(steps)) == got["logged"]  # none twice, none lost
    assert steps == sorted(steps)
    assert got["shown"] == got["logged"]


def test_a_heartbeat_makes_the_folder_while_open_and_never_after_close(
    tmp_path: Path, writers: list[MetricWriter]
) -> None:
    """A run's folder may be packed away once its writer is closed: no beat makes it again."""
    folder = tmp_path / "runs" / "abc"
    w = _writer(writers, folder / "metrics.jsonl", heartbeat=folder / "heartbeat")
    series._flusher.unregister(w)
    w.beat()
    assert (folder / "heartbeat").is_file()
    w.close()
    (folder / "heartbeat").unlink()
    folder.rmdir()
    w._last_beat = 0.0  # due again
    w.beat()
    assert not folder.exists()
