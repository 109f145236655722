"""`nb-mlops ...` from a shell: the same commands as the magic, text or JSON."""

from __future__ import annotations

import json

import pytest
from conftest import cli

import nb_mlops as nm
from nb_mlops.cli import main


@pytest.fixture
def two_runs(ws):
    with nm.start_run("rf", tags={"team": "nlp"}) as a:
        nm.log_params({"model": "rf", "depth": 8})
        nm.log_metric("accuracy", 0.91)
    with nm.start_run("lr") as b:
        nm.log_param("model", "lr")
        nm.log_metric("accuracy", 0.72)
    return a, b


def test_runs_text_and_json(two_runs, project):
    out = cli(project, "runs")
    assert out.returncode == 0, out.stderr
    assert "rf" in out.stdout and "lr" in out.stdout and "store" in out.stdout
    out = cli(project, "runs", "--json", "metrics.accuracy > 0.8 AND params.model = 'rf'")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [r["name"] for r in data["runs"]] == ["rf"]
    assert data["runs"][0]["params"] == {"model": "rf", "depth": 8}
    assert data["runs"][0]["tags"] == {"team": "nlp"}
    assert data["store"]["bytes"] > 0


def test_filter_given_as_several_shell_words(two_runs, project):
    out = cli(project, "runs", "--json", "metrics.accuracy", "<", "0.8")
    assert [r["name"] for r in json.loads(out.stdout)["runs"]] == ["lr"]


def test_show_by_name_prefix_and_json(two_runs, project):
    a, _ = two_runs
    out = cli(project, "show", "rf", "--json")
    data = json.loads(out.stdout)
    assert data["run_id"] == a.run_id
    assert data["metrics"] == {"accuracy": 0.91}
    assert data["series"]["accuracy"][0][:2] == [0, 0.91]
    out = cli(project, "show", a.run_id[:5])
    assert out.returncode == 0 and a.run_id in out.stdout and "accuracy" in out.stdout


def test_errors_are_one_line_with_exit_codes(two_runs, project):
    out = cli(project, "show", "nope")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "nb-mlops: error: no run has the id, id prefix or name 'nope'"
    ]
    out = cli(project, "frobnicate")
    assert out.returncode == 2 and "unknown subcommand 'frobnicate'" in out.stderr
    assert "usage:" in out.stderr
    out = cli(project, "runs", "metrics.accuracy >>")
    assert out.returncode == 1 and "column" in out.stderr
    out = cli(project, "start", "x")
    assert out.returncode == 1 and "nm.start_run" in out.stderr


def test_delete_gc_and_help(two_runs, project, capsys):
    assert main(["delete", "lr"]) == 0
    assert "deleted run lr" in capsys.readouterr().out
    assert main(["gc", "--json"]) == 0
    assert "bytes_freed" in json.loads(capsys.readouterr().out)
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for name in ("runs", "show", "delete", "gc", "repair"):
        assert name in text
    assert main(["runs", "--help"]) == 0
    assert "FILTER" in capsys.readouterr().out


def test_repair_after_damage(two_runs, project, ws, capsys):
    journal = ws.home / "catalog" / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    lines.insert(1, b"{this is not json\n")
    journal.write_bytes(b"".join(lines))
    nm.api.reset()
    from nb_mlops.store.workspace import forget_open_workspaces

    forget_open_workspaces()
    assert main(["runs"]) == 1
    err = capsys.readouterr().err
    assert "journal.jsonl is damaged at line 2" in err and "nb-mlops repair" in err
    assert main(["repair"]) == 0
    assert "set 1 damaged lines aside" in capsys.readouterr().out
    forget_open_workspaces()
    assert main(["runs", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["runs"]) == 2


# -- what reaches a terminal -----------------------------------------------------------------


def test_escape_sequences_in_names_and_values_are_shown_not_obeyed(ws, project):
    clear = "\x1b[2J\x1b[H"
    with nm.start_run(f"evil{clear}run", tags={"note": f"bell\x07{clear}"}) as run:
        nm.log_param("model", f"rf{clear}")
    for args in (("runs",), ("show", run.run_id), ("show", "no\x1bsuch")):
        out = cli(project, *args)
        assert "\x1b" not in out.stdout + out.stderr and "\x07" not in out.stdout, args
    shown = cli(project, "show", f"evil{clear}run").stdout
    assert "evil\\x1b[2J\\x1b[Hrun" in shown and "bell\\x07" in shown
    data = json.loads(cli(project, "show", run.run_id, "--json").stdout)
    assert data["params"]["model"] == f"rf{clear}"  # JSON keeps the value, escaped by JSON


def test_a_closed_pipe_ends_quietly(ws, project):
    import subprocess
    import sys

    from conftest import run_env

    # more output than a pipe holds (64 KiB), so the writer meets the closed end for sure
    for i in range(1200):
        with nm.start_run(f"a-run-with-a-long-enough-name-{i:04d}"):
            nm.log_metric("m", float(i))
    code = (
        "import sys\nfrom nb_mlops.cli import main\n"
        "sys.stdout = open(sys.stdout.fileno(), 'w', buffering=1, closefd=False)\n"
        "sys.exit(main(['runs']))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=project,
        env=run_env(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.readline()  # `| head -1`: read one line, then go away
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_command_that_only_reads_ends_fast_with_all_its_output(ws, project):
    """`runs` and `show` skip the interpreter's teardown (os._exit): what they print still
    arrives whole, on stdout and stderr, with the exit status."""
    for i in range(300):  # more than a pipe holds
        with nm.start_run(f"quick-{i:03d}", params={"i": i}):
            nm.log_metric("m", float(i))
    out = cli(project, "runs", "metrics.m >= 0", "--json")
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["runs"]) == 300
    assert cli(project, "show", "quick-007").returncode == 0
    missing = cli(project, "show", "no-such-run")
    assert missing.returncode == 1 and missing.stderr.startswith("nb-mlops: error: ")
    typo = cli(project, "runs", "metrics.nope > 1")  # a warning on stderr, then a fast exit
    assert typo.returncode == 0 and "no run has metrics.nope" in typo.stderr


def test_a_symlink_loop_is_one_line(ws, project):
    (project / "loop").symlink_to("loop")
    out = cli(project, "snapshot", "loop")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [f"nb-mlops: error: symlink loop at {project}/loop"]


@pytest.mark.parametrize("seed", ["-5", str(10**26)])
def test_seeds_out_of_range_are_one_line(ip, ws, seed):
    from IPython.utils.capture import capture_output

    with capture_output() as cap:
        result = ip.run_cell(f"%track start s --seed {seed}")
    out = cap.stdout + cap.stderr
    assert "Traceback" not in out
    assert f"seed must be an integer in [0, 2**32), got {seed}" in out
    assert type(result.error_in_exec).__name__ == "InvalidValue"
    assert not ws.catalog.docs("runs")


@pytest.mark.filterwarnings("ignore::nb_mlops.tracking.run.NonFiniteMetricWarning")
def test_a_long_listing_prints_one_run_per_line_as_valid_json(ws, project):
    """Past a few hundred runs `--json` lays one run per line (json's indented writer is pure
    Python): still one JSON document, NaN written as the string the short form uses."""
    for i in range(260):
        with nm.start_run(f"n{i}", params={"i": i}, system_metrics=False):
            nm.log_metric("loss", float("nan") if i == 3 else i / 10)
    done = cli(project, "runs", "--json")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    data = json.loads(out)
    assert data["count"] == 260 == len(data["runs"])
    lines = out.splitlines()
    assert sum(1 for line in lines if line.startswith('    {"run_id"')) == 260
    nan = next(r for r in data["runs"] if r["name"] == "n3")
    assert nan["metrics"]["loss"] == "NaN"
    short = cli(project, "runs", "params.i < 3", "--json").stdout
    assert json.loads(short)["count"] == 3 and short.startswith('{\n  "filter"')
