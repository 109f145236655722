"""%%track and %track in a real IPython shell."""

from __future__ import annotations

import json

import pytest
from IPython.utils.capture import capture_output

import nb_mlops as nm
from nb_mlops.jsonl import read_jsonl
from nb_mlops.tracking import active


def run(ip, code: str):
    with capture_output() as cap:
        result = ip.run_cell(code)
    return result, cap


def only_run(ws, name: str) -> dict:
    docs = [d for d in ws.catalog.docs("runs").values() if d["name"] == name]
    assert len(docs) == 1, docs
    return docs[0]


def test_tracked_cell_records_params_metrics_output_and_value(ip, ws):
    result, cap = run(
        ip,
        "%%track -n rf -e wine --tag team=nlp --tag owner=me\n"
        "n_estimators = 200\n"
        "max_depth: int = 8\n"
        "model = 'rf'\n"
        "grid = {'a': [1, 2], 'b': None}\n"
        "n_estimators = 300\n"
        "computed = len('abc')\n"
        "for i in range(3):\n"
        "    track.log(loss=1.0 / (i + 1), acc=0.5 + i / 10)\n"
        "track.param(extra=True)\n"
        "print('hello from the cell')\n"
        "n_estimators * 2\n",
    )
    assert result.error_in_exec is None
    assert result.result == 600  # the last expression is the cell's value, as usual
    doc = only_run(ws, "rf")
    assert doc["status"] == "finished"
    assert doc["experiment"] == "wine"
    assert doc["tags"] == {"team": "nlp", "owner": "me"}
    assert doc["params"] == {
        "n_estimators": 300,
        "max_depth": 8,
        "model": "rf",
        "grid": {"a": [1, 2], "b": None},
        "extra": True,
    }
    assert doc["metrics"] == {"loss": pytest.approx(1 / 3), "acc": pytest.approx(0.7)}
    assert doc["duration"] >= 0 and doc["end"] >= doc["start"]
    assert doc["source"]["kind"] == "cell"
    assert "hello from the cell" in cap.stdout
    assert "✓ run rf" in cap.stdout
    detail = nm.get_run("rf").to_dict()
    assert detail["stdout"].strip() == "hello from the cell"
    assert [p[0] for p in detail["series"]["loss"]] == [0, 1, 2]
    assert "n_estimators = 200" in detail["cells"][0]["source"]


def test_failed_cell_stores_traceback_and_still_raises(ip, ws):
    result, cap = run(ip, "%%track -n boom\nx = 1\nraise ValueError('kaboom')\n")
    assert isinstance(result.error_in_exec, ValueError)
    doc = only_run(ws, "boom")
    assert doc["status"] == "failed"
    assert doc["error"]["type"] == "ValueError"
    assert "kaboom" in doc["error"]["traceback"]
    assert "raise ValueError" in doc["error"]["traceback"]
    assert active.current() is None  # nothing left behind
    assert "✗ run boom" in cap.stdout


def test_interrupted_cell(ip, ws):
    result, _ = run(ip, "%%track -n stopped\nraise KeyboardInterrupt\n")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert only_run(ws, "stopped")["status"] == "interrupted"
    assert active.current() is None


def test_track_outside_a_run_says_how_to_start_one(ip, ws):
    result, _ = run(ip, "track.log(acc=1.0)")
    err = result.error_in_exec
    assert type(err).__name__ == "NoActiveRunError"
    assert "%%track" in str(err) and "nm.start_run" in str(err)
    result, _ = run(ip, "import nb_mlops as nm\nnm.log_metric('a', 1.0)")
    assert type(result.error_in_exec).__name__ == "NoActiveRunError"


def test_nb_mlops_errors_show_as_one_line(ip, ws):
    result, cap = run(ip, "%track show no-such-run")
    assert type(result.error_in_exec).__name__ == "RunNotFound"
    out = cap.stdout + cap.stderr
    assert "RunNotFound" in out and "no-such-run" in out
    assert "Traceback" not in out


def test_rerunning_a_cell_links_to_the_earlier_run(ip, ws):
    cell = "%%track -n again\nx = 1\n"
    run(ip, cell)
    run(ip, cell)
    runs = sorted(
        (d for d in ws.catalog.docs("runs").values() if d["name"] == "again"),
        key=lambda d: d["start"],
    )
    assert len(runs) == 2
    assert runs[0]["previous"] is None
    assert runs[1]["previous"] == runs[0]["run_id"]
    assert runs[0]["source"]["key"] == runs[1]["source"]["key"]


def test_a_rerun_cell_gets_ipython_syntax_each_time(ip, ws):
    """A rerun of the same text reuses the transformed code; IPython syntax still works."""
    cell = "%%track -n syntax\nout = !echo hi\nwidth = %precision 3\nn = len(out)\nn"
    for _ in range(2):
        result, _ = run(ip, cell)
        assert result.success, result.error_in_exec
        assert result.result == 1 and list(ip.user_ns["out"]) == ["hi"]
    ip.run_line_magic("precision", "")


def test_a_user_input_transform_runs_at_every_rerun(ip, ws):
    """A transform the user added may depend on more than the text: never skipped."""
    calls = []

    def count(lines: list[str]) -> list[str]:
        # the cell's own lines only: the outer cell is one `run_cell_magic(...)` line by now
        if lines and lines[0].startswith("value = CALLS"):
            calls.append(1)
            lines = [lines[0].replace("CALLS", str(len(calls))), *lines[1:]]
        return lines

    ip.input_transformers_post.append(count)
    try:
        seen = []
        for _ in range(2):
            result, _ = run(ip, "%%track -n counted\nvalue = CALLS\nvalue")
            assert result.success, result.error_in_exec
            seen.append(result.result)
    finally:
        ip.input_transformers_post.remove(count)
    assert seen == [1, 2]


def test_start_run_inside_a_tracked_cell_makes_children(ip, ws):
    result, _ = run(
        ip,
        "%%track -n sweep\n"
        "import nb_mlops as nm\n"
        "for lr in (0.1, 0.01):\n"
        "    with nm.start_run(f'lr={lr}'):\n"
        "        nm.log_param('lr', lr)\n"
        "        nm.log_metric('score', lr * 10)\n",
    )
    assert result.error_in_exec is None
    parent = only_run(ws, "sweep")
    children = ws.catalog.find("runs", "parent", parent["run_id"])
    assert sorted(c["name"] for c in children) == ["lr=0.01", "lr=0.1"]
    assert all(c["status"] == "finished" for c in children)
    assert all(c["experiment"] == parent["experiment"] for c in children)


def test_start_stop_session_records_cells_and_child_runs(ip, ws):
    run(ip, "%track start exploring -e eda --tag stage=1")
    run(ip, "a = 1")
    run(ip, "b = a + 1\nraise RuntimeError('oops')")
    run(ip, "%%track -n inner\nc = 3\n")
    run(ip, "%track stop")
    session = only_run(ws, "exploring")
    assert session["status"] == "finished"
    assert session["experiment"] == "eda"
    assert session["tags"] == {"stage": "1"}
    inner = only_run(ws, "inner")
    assert inner["parent"] == session["run_id"]
    assert inner["experiment"] == "eda"
    cells = read_jsonl(ws.run_dir(session["run_id"]) / "cells.jsonl")
    sources = [c["source"] for c in cells]
    assert sources[0] == "a = 1"
    assert sources[1].startswith("b = a + 1")
    assert sources[2].startswith("%%track -n inner")
    assert sources[3] == "%track stop"
    assert [c["status"] for c in cells[:3]] == ["ok", "error", "ok"]
    assert all(c["duration"] is not None for c in cells[:3])
    result, _ = run(ip, "%track stop")
    assert "nothing to stop" in str(result.error_in_exec)


def test_history_records_every_cell_and_runs_point_into_it(ip, ws):
    run(ip, "X = [1, 2, 3]")
    run(ip, "y = sum(X)")
    run(ip, "%%track -n uses-x\nz = y * 2\n")
    doc = only_run(ws, "uses-x")
    pointer = doc["history"]
    cells = read_jsonl(ws.history_dir / f"{pointer['session']}.jsonl")
    lead = [c for c in cells if c["i"] <= pointer["index"]]
    sources = [c["source"] for c in lead]
    assert "X = [1, 2, 3]" in sources and "y = sum(X)" in sources
    assert sources[-1].startswith("%%track -n uses-x")
    assert [c["i"] for c in lead] == sorted(c["i"] for c in lead)
    assert all(len(c["hash"]) == 32 and c["status"] == "ok" for c in lead)


def test_seed_makes_cells_reproducible(ip, ws):
    cell = (
        "%%track -n seeded --seed 7\n"
        "import random, numpy as np\n"
        "v = (random.random(), float(np.random.rand()))\n"
    )
    run(ip, cell)
    first = ip.user_ns["v"]
    run(ip, cell)
    assert ip.user_ns["v"] == first
    doc = only_run_latest(ws, "seeded")
    assert doc["seeds"]["random"] == 7 and doc["seeds"]["numpy"] == 7


def only_run_latest(ws, name):
    return max(
        (d for d in ws.catalog.docs("runs").values() if d["name"] == name),
        key=lambda d: d["start"],
    )


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("%track frobnicate", "unknown subcommand 'frobnicate'"),
        ("%track show", "the following arguments are required: run"),
        ("%track delete x --bogus", "unrecognized arguments: --bogus"),
        ("%track gc --now=3", "ignored explicit argument"),
        ("%%track --nope\nx=1", "unrecognized arguments: --nope"),
        ("%%track --seed abc\nx=1", "invalid int value: 'abc'"),
        ("%%track --tag novalue\nx=1", "--tag expects K=V"),
        ("%%track -n 'unclosed\nx=1", "No closing quotation"),
    ],
)
def test_bad_arguments_raise_usage_error_with_usage_line(ip, ws, line, fragment):
    result, cap = run(ip, line)
    out = cap.stdout + cap.stderr
    assert type(result.error_in_exec).__name__ == "UsageError" or "UsageError" in out
    assert fragment in out
    assert "usage: %" in out
    assert not ws.catalog.docs("runs")  # nothing recorded


def test_bad_filter_points_at_the_position(ip, ws):
    result, _ = run(ip, "%track runs metrics.acc >")
    err = result.error_in_exec
    assert type(err).__name__ == "FilterSyntaxError"
    assert "column 14" in str(err)


def test_runs_show_and_filter(ip, ws):
    run(ip, "%%track -n a\nmodel = 'rf'\ntrack.log(accuracy=0.9)")
    run(ip, "%%track -n b\nmodel = 'lr'\ntrack.log(accuracy=0.7)")
    result, _ = run(ip, '%track runs metrics.accuracy > 0.8 AND params.model = "rf"')
    table = result.result
    assert [r["name"] for r in table.to_dict()["runs"]] == ["a"]
    assert table.store["bytes"] > 0
    assert "store" in str(table) and "a" in str(table)
    result, _ = run(ip, "%track runs")
    assert [r["name"] for r in result.result.to_dict()["runs"]] == ["b", "a"]
    result, _ = run(ip, "%track show a")
    assert result.result.to_dict()["params"] == {"model": "rf"}
    html = result.result._repr_html_()
    assert "accuracy" in html


def test_delete_and_gc_from_the_magic(ip, ws, project):
    (project / "weights.bin").write_bytes(b"w" * 1000)
    run(ip, "%%track -n keep\ntrack.artifact('weights.bin')")
    (project / "other.bin").write_bytes(b"o" * 2000)
    run(ip, "%%track -n drop\ntrack.artifact('other.bin')")
    result, _ = run(ip, "%track delete drop")
    assert "deleted run drop" in str(result.result)
    result, _ = run(ip, "%track gc --now")
    report = result.result.to_dict()
    assert report["objects_removed"] == 1
    assert report["bytes_freed"] == 2000
    assert "freed" in str(result.result)
    assert ws.objects.has(only_run(ws, "keep")["artifacts"][0]["md5"])


def test_help_is_complete(ip, ws):
    with capture_output() as cap:
        ip.run_line_magic("track", "--help")
    for name in ("start", "stop", "runs", "show", "delete", "gc"):
        assert name in cap.stdout
    with capture_output() as cap:
        ip.run_line_magic("track", "runs --help")
    assert "FILTER" in cap.stdout
    doc = ip.find_line_magic("track").__doc__
    assert "--seed" in doc and "--tag" in doc and "runs" in doc


def test_quiet_config(ip, ws):
    ip.run_line_magic("config", "TrackMagics.quiet = True")
    try:
        _, cap = run(ip, "%%track -n hush\nx = 1\n")
        assert "run hush" not in cap.stdout
    finally:
        ip.run_line_magic("config", "TrackMagics.quiet = False")


def test_stdout_is_bounded(ip, ws):
    ip.run_line_magic("config", "TrackMagics.stdout_limit = 100")
    try:
        run(ip, "%%track -n chatty\nfor i in range(1000): print(i)\n")
    finally:
        ip.run_line_magic("config", "TrackMagics.stdout_limit = 65536")
    text = nm.get_run("chatty").to_dict()["stdout"]
    assert text.startswith("0\n1\n")
    assert text.rstrip().endswith("999")
    assert "cut" in text and len(text) < 300


def test_small_tracked_cells_make_no_folder_and_keep_everything(ip, ws, project):
    """A quick cell of a few points packs its points, cell and output in one pack line: no
    folder, about 2 KB a run; a long cell keeps a folder for its source."""
    runs_dir = ws.runs_dir
    for i in range(20):
        result, _ = run(ip, f"%%track -n small\nprint('step', {i})\ntrack.log(loss=1 / {i + 1})")
        assert result.success
    assert [p.name for p in runs_dir.iterdir()] == ["points.pack"]
    detail = nm.get_run("small").to_dict()
    assert detail["stdout"] == "step 19\n"
    assert detail["cells"][0]["source"].endswith("track.log(loss=1 / 20)")
    assert detail["series"]["loss"][0][1] == 1 / 20
    per_run = sum(f.stat().st_size for f in ws.home.rglob("*") if f.is_file()) / 20
    assert per_run < 3000, per_run
    long_source = "%%track -n long\n" + "x = 1\n" * 4000
    run(ip, long_source)
    folder = ws.run_dir(only_run(ws, "long")["run_id"])
    assert (folder / "cells.jsonl").is_file()
    assert nm.get_run("long").to_dict()["cells"][0]["source"].count("x = 1") == 4000


def test_unload_leaves_no_hooks(ws):
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    before = {e: list(cbs) for e, cbs in shell.events.callbacks.items()}
    shell.run_line_magic("load_ext", "nb_mlops")
    assert "track" in shell.magics_manager.magics["cell"]
    assert "track" in shell.user_ns
    shell.run_line_magic("unload_ext", "nb_mlops")
    assert {e: list(cbs) for e, cbs in shell.events.callbacks.items()} == before
    assert "track" not in shell.magics_manager.magics["cell"]
    assert "track" not in shell.magics_manager.magics["line"]
    assert "track" not in shell.user_ns
    assert shell.custom_exceptions == ()


def test_load_ext_imports_nothing_heavy(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, time\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "t = time.perf_counter()\n"
        "ip.run_line_magic('load_ext', 'nb_mlops')\n"
        "dt = time.perf_counter() - t\n"
        "heavy = [m for m in ('pandas', 'numpy', 'pyarrow', 'scipy', 'plotly', 'ipywidgets',"
        " 'psutil', 'sklearn') if m in sys.modules]\n"
        "import json; print(json.dumps({'heavy': heavy, 'seconds': dt}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["heavy"] == []
