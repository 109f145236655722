"""System metrics of a run (tracking/sysmetrics.py): sampled into the run's metrics while it is
active, GPUs through a stand-in `nvidia-smi` on the PATH (or a stand-in pynvml), configured per
store or per run, and never raising into the user's code."""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from nb_mlops.errors import InvalidValue
from nb_mlops.store.pack import read_run_points
from nb_mlops.store.series import read_points
from nb_mlops.store.workspace import Workspace
from nb_mlops.tracking import sysmetrics
from nb_mlops.tracking.run import Run, start_run
from nb_mlops.tracking.sysmetrics import (
    NVIDIA_SMI_ARGS,
    STOP_WAIT_S,
    GpuReadError,
    hub,
    is_system_metric,
    parse_nvidia_smi,
    start_sampler,
)

PERIOD = 0.2  # seconds: short, so each test samples several times within a second or two
CORE = {
    "system.cpu_percent",
    "system.memory_used_mb",
    "system.memory_percent",
    "system.process_memory_mb",
    "system.disk_used_percent",
    "system.net_sent_mb",
    "system.net_recv_mb",
}
LOGGER = "nb_mlops.tracking.sysmetrics"
GOOD_ANSWER = "37, 1024, 16384\n85, 12288, 16384\n"  # two GPUs: util %, used MiB, total MiB


@pytest.fixture(autouse=True)
def _fresh_messages(monkeypatch: pytest.MonkeyPatch):
    """Each test starts with nothing said yet, and without pynvml (a machine with a GPU could
    have it), so the stand-in nvidia-smi is what is read."""
    sysmetrics.said_once.clear()
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError
    yield
    sysmetrics.said_once.clear()


def points(run: Run) -> dict[str, list[tuple[int, float, float]]]:
    """metric -> [(step, value, time)] as stored (the run's points file, or the pack)."""
    out: dict[str, list[tuple[int, float, float]]] = {}
    for key, value, step, ts in read_run_points(run.ws, {"run_id": run.run_id}):
        out.setdefault(key, []).append((step, value, ts))
    return out


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def sampled(run: Run, n: int) -> None:
    """Wait until the run's sampler has logged n samples."""
    wait_for(lambda: run.sampler.samples >= n)


def stand_in_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """A `nvidia-smi` shell script first on the PATH; each call appends its arguments to
    calls.log beside it, then `body` runs. Returns the script's folder."""
    folder = tmp_path / "gpu-bin"
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text(
        '#!/bin/sh\necho "$*" >> "$(dirname "$0")/calls.log"\n' + body, encoding="utf-8"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    return folder


def answering(text: str) -> str:
    """A script body that answers the CSV query with `text` and refuses other arguments."""
    query, fmt = NVIDIA_SMI_ARGS
    return (
        f'if [ $# -eq 2 ] && [ "$1" = "{query}" ] && [ "$2" = "{fmt}" ]\n'
        f"then printf '{text}'\n"
        'else echo "unexpected arguments: $*" >&2; exit 2\nfi\n'
    )


def calls(folder: Path) -> list[str]:
    log = folder / "calls.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def configure(ws: Workspace, text: str) -> None:
    with ws.config_path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= 30]


# --------------------------------------------------------------------------- sampling
def test_samples_land_in_the_runs_metrics_every_period(ws: Workspace) -> None:
    before = time.time()
    with start_run("sys", system_metrics=PERIOD) as run:
        assert run.sampler is not None and run.sampler.interval == PERIOD
        sampled(run, 4)
    after = time.time()
    assert run.sampler.closed and run.sampler not in hub.active()
    got = points(run)
    assert set(got) >= CORE, sorted(got)
    assert all(is_system_metric(key) for key in got)
    cpu = got["system.cpu_percent"]
    steps = [s for s, _, _ in cpu]
    assert steps == list(range(len(steps))) and len(steps) >= 4  # step = the sample's index
    for key, series in got.items():  # every metric of a sample shares its step
        assert [s for s, _, _ in series] == steps[: len(series)], key
    times = [t for _, _, t in cpu]
    assert before <= times[0] and times[-1] <= after
    mean_gap = (times[-1] - times[0]) / (len(times) - 1)  # on a grid of periods: no drift
    assert 0.5 * PERIOD <= mean_gap <= 5 * PERIOD, times
    assert all(0 <= v <= 100 for _, v, _ in cpu)
    assert all(0 < v <= 100 for _, v, _ in got["system.memory_percent"])
    assert all(v > 0 for _, v, _ in got["system.memory_used_mb"])
    assert all(v > 1 for _, v, _ in got["system.process_memory_mb"])  # this process: > 1 MB
    for key in ("system.net_sent_mb", "system.net_recv_mb", "system.disk_read_mb"):
        values = [v for _, v, _ in got.get(key, [])]
        assert values == sorted(values) and all(v >= 0 for v in values), key  # since start
    doc = ws.catalog.get("runs", run.run_id)
    assert doc["metrics"]["system.cpu_percent"] == cpu[-1][1]  # last values, as any metric


def test_a_run_shorter_than_a_period_has_none_and_ends_at_once(ws: Workspace) -> None:
    run = start_run("quick", system_metrics=10)
    time.sleep(0.5)  # past the baselines (a quarter second in), far from the first sample
    t0 = time.monotonic()
    run.end()
    assert time.monotonic() - t0 < 2  # not a sleep to the next tick (9.5 s away)
    assert run.sampler.samples == 0 and run.sampler.closed
    assert not [k for k in points(run) if is_system_metric(k)]
    assert not [k for k in ws.catalog.get("runs", run.run_id)["metrics"] if is_system_metric(k)]


def test_sampling_ends_with_the_run_also_when_it_fails(ws: Workspace) -> None:
    with pytest.raises(ZeroDivisionError), start_run("boom", system_metrics=PERIOD) as run:
        sampled(run, 2)
        1 / 0  # noqa: B018
    assert run.status == "failed"
    assert run.sampler.closed and run.sampler not in hub.active()
    size = run.files.metrics.stat().st_size
    time.sleep(4 * PERIOD)
    assert run.files.metrics.stat().st_size == size  # nothing was read or written after
    assert len(points(run)["system.cpu_percent"]) >= 2


def test_a_failing_tracked_cell_in_the_notebook_stops_its_sampling(ip, ws: Workspace) -> None:
    configure(ws, f"[tracking]\nsystem_metrics_interval = {PERIOD}\n")
    result = ip.run_cell("%%track -n cell-boom\nimport time\ntime.sleep(1.0)\n1 / 0\n")
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    doc = ws.catalog.newest("runs", "name", "cell-boom")
    assert doc["status"] == "failed"
    assert not hub.active()
    path = ws.run_files(doc["run_id"]).metrics
    keys = {key for key, *_ in read_points(path)}
    assert keys >= CORE
    size = path.stat().st_size
    time.sleep(4 * PERIOD)
    assert path.stat().st_size == size


def test_child_runs_do_not_sample_their_parent_does(ws: Workspace) -> None:
    with (
        start_run("parent", system_metrics=PERIOD) as parent,
        start_run("child", system_metrics=PERIOD) as child,
    ):
        assert child.parent == parent.run_id and child.sampler is None
        sampled(parent, 2)
        child.log_metric("loss", 0.5)
    assert set(points(child)) == {"loss"}
    assert set(points(parent)) >= CORE


# --------------------------------------------------------------------------- configuration
def test_the_store_config_sets_the_period_and_0_turns_it_off(ws: Workspace) -> None:
    with start_run("default") as run:
        assert run.sampler.interval == sysmetrics.DEFAULT_INTERVAL_S == 10
    configure(ws, "[tracking]\nsystem_metrics_interval = 0.5\n")
    with start_run("configured") as run:
        assert run.sampler.interval == 0.5
    with start_run("off by option", system_metrics=False) as run:
        assert run.sampler is None
    with start_run("by option", system_metrics=2) as run:
        assert run.sampler.interval == 2
    ws.config_path.write_text("[tracking]\nsystem_metrics_interval = 0\n", encoding="utf-8")
    with start_run("off by config") as run:
        assert run.sampler is None
        time.sleep(0.3)
    assert not points(run)
    with start_run("on by option", system_metrics=True) as run:
        assert run.sampler.interval == 10  # True with the config at 0: the default period


@pytest.mark.parametrize("value", [0, -1, 0.05, math.nan, math.inf, "10", [10]])
def test_a_bad_system_metrics_option_is_a_clear_error(ws: Workspace, value: object) -> None:
    with pytest.raises(InvalidValue, match=r"^system_metrics must be True, False or a number") as e:
        start_run("bad", system_metrics=value)
    assert "\n" not in str(e.value)
    if value == 0:
        assert "use system_metrics=False to turn sampling off" in str(e.value)
    assert ws.catalog.docs("runs") == {}  # refused before anything was written


@pytest.mark.parametrize("text", ["-5", '"ten"', "true", "0.01", "[10]", "nan"])
def test_a_bad_configured_interval_is_a_clear_error_naming_the_file(
    ws: Workspace, text: str
) -> None:
    configure(ws, f"[tracking]\nsystem_metrics_interval = {text}\n")
    with pytest.raises(InvalidValue) as e:
        start_run("bad")
    message = str(e.value)
    assert message.startswith(f"{ws.config_path}: [tracking] system_metrics_interval must be")
    assert "0 turns system metrics off" in message and "\n" not in message
    assert ws.catalog.docs("runs") == {}
    with start_run("still possible", system_metrics=False) as run:  # the option wins
        assert run.sampler is None


def test_a_tracking_key_that_is_not_a_table_is_a_clear_error(ws: Workspace) -> None:
    configure(ws, "tracking = 5\n")
    with pytest.raises(InvalidValue, match=r"config\.toml: tracking must be a table"):
        start_run("bad")


# --------------------------------------------------------------------------- GPUs
def test_a_stand_in_nvidia_smi_gives_per_gpu_metrics(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = stand_in_nvidia_smi(tmp_path, monkeypatch, answering(GOOD_ANSWER.replace("\n", r"\n")))
    with start_run("gpu", system_metrics=PERIOD) as run:
        sampled(run, 2)
    got = points(run)
    last = {key: series[-1][1] for key, series in got.items()}
    assert last["system.gpu0.utilization_percent"] == 37
    assert last["system.gpu0.memory_used_mb"] == pytest.approx(1024 * 1.048576)  # MiB -> MB
    assert last["system.gpu0.memory_percent"] == pytest.approx(6.25)
    assert last["system.gpu1.utilization_percent"] == 85
    assert last["system.gpu1.memory_used_mb"] == pytest.approx(12288 * 1.048576)
    assert last["system.gpu1.memory_percent"] == pytest.approx(75.0)
    assert len(got["system.gpu0.utilization_percent"]) == len(got["system.cpu_percent"])
    assert set(calls(folder)) == {" ".join(NVIDIA_SMI_ARGS)}  # asked the CSV query only
    assert len(calls(folder)) == run.sampler.samples


def test_without_nvidia_smi_or_pynvml_there_are_no_gpu_metrics_and_nothing_is_said(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = os.environ.get("PATH", "").split(os.pathsep)
    keep = [p for p in path if p and not (Path(p) / "nvidia-smi").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(keep))
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with start_run("no-gpu", system_metrics=PERIOD) as run:
        sampled(run, 2)
    got = points(run)
    assert set(got) >= CORE
    assert not [k for k in got if k.startswith("system.gpu")]
    assert warnings_of(caplog) == []


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ('echo "NVIDIA-SMI has failed: no driver" >&2\nexit 1\n', "exited with status 1: NVIDIA"),
        ("echo 'hello world'\n", "not 3 CSV fields"),
        ("printf '[N/A], [N/A], [N/A]\\n'\n", "gave no numbers"),
    ],
    ids=["exit-1", "garbage", "no-numbers"],
)
def test_a_failing_nvidia_smi_is_ignored_after_one_log_line(
    ws: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    body: str,
    said: str,
) -> None:
    folder = stand_in_nvidia_smi(tmp_path, monkeypatch, body)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    with start_run("bad-gpu", system_metrics=PERIOD) as run:
        sampled(run, 3)
    got = points(run)
    assert set(got) >= CORE and len(got["system.cpu_percent"]) >= 3  # the rest goes on
    assert not [k for k in got if k.startswith("system.gpu")]
    assert len(calls(folder)) == 1  # not asked again in this run
    (line,) = warnings_of(caplog)
    assert str(folder / "nvidia-smi") in line and said in line and run.run_id in line
    assert "\n" not in line
    with start_run("bad-gpu-again", system_metrics=PERIOD) as again:
        sampled(again, 2)
    assert len(calls(folder)) == 2  # each run tries once more...
    assert len(warnings_of(caplog)) == 1  # ...and the failure was said once per process


def test_a_hung_nvidia_smi_is_killed_when_the_run_ends(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pid_file = tmp_path / "hung.pid"
    stand_in_nvidia_smi(tmp_path, monkeypatch, f'echo $$ > "{pid_file}"\nexec sleep 60\n')
    caplog.set_level(logging.WARNING, logger=LOGGER)
    run = start_run("hung", system_metrics=PERIOD)
    wait_for(pid_file.exists)  # the first sample is stuck in nvidia-smi
    wait_for(lambda: pid_file.read_text().strip() != "")
    pid = int(pid_file.read_text())
    t0 = time.monotonic()
    run.end()
    assert time.monotonic() - t0 < 2 * STOP_WAIT_S + 1.0
    assert run.sampler.closed and run.sampler not in hub.active()

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone, timeout=5)
    assert warnings_of(caplog) == []  # killed by the run's end: not a fault to report


def test_pynvml_is_used_when_it_imports_and_finds_gpus(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = stand_in_nvidia_smi(tmp_path, monkeypatch, answering(r"1, 1, 2\n"))
    nvml = types.ModuleType("pynvml")
    state = {"init": 0}
    devices = [(55, 2_000_000_000, 8_000_000_000), (5, 0, 8_000_000_000)]

    def init() -> None:
        state["init"] += 1

    nvml.nvmlInit = init
    nvml.nvmlShutdown = lambda: None
    nvml.nvmlDeviceGetCount = lambda: len(devices)
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=devices[h][0])
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(
        used=devices[h][1], total=devices[h][2]
    )
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    with start_run("nvml", system_metrics=PERIOD) as run:
        sampled(run, 2)
    with start_run("nvml-again", system_metrics=PERIOD) as again:
        sampled(again, 1)
    last = {key: series[-1][1] for key, series in points(run).items()}
    assert last["system.gpu0.utilization_percent"] == 55
    assert last["system.gpu0.memory_used_mb"] == 2000
    assert last["system.gpu0.memory_percent"] == 25
    assert last["system.gpu1.utilization_percent"] == 5
    assert last["system.gpu1.memory_used_mb"] == 0
    assert calls(folder) == []  # NVML first: no subprocess per sample
    assert state["init"] == 1  # initialised once for the process, not per run


# --------------------------------------------------------------------------- failures
def test_a_failing_log_ends_that_runs_sampling_with_one_line(
    ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    tries = []

    def log_metrics(values: dict[str, float], step: int) -> None:
        tries.append(step)
        raise OSError("No space left on device")

    sampler = start_sampler(log_metrics, PERIOD, label="run x (abc)")
    assert sampler is not None
    wait_for(lambda: sampler.closed)
    assert sampler not in hub.active()
    time.sleep(3 * PERIOD)
    assert tries == [0]  # not tried again
    sampler.stop()  # at the run's end: no error
    (line,) = warnings_of(caplog)
    assert line.startswith("nb-mlops: system metrics stopped for run x (abc): OSError: No space")


def test_nvidia_smi_lines_are_parsed_and_unavailable_fields_left_out() -> None:
    gpus = parse_nvidia_smi("37, 1024, 16384\n[N/A], 512, [N/A]\n\n")
    assert gpus[0] == {
        "utilization_percent": 37,
        "memory_used_mb": pytest.approx(1073.741824),
        "memory_percent": 6.25,
    }
    assert gpus[1] == {"memory_used_mb": pytest.approx(536.870912)}
    assert parse_nvidia_smi("") == []
    with pytest.raises(GpuReadError, match="not 3 CSV fields"):
        parse_nvidia_smi("37, 1024\n")
    with pytest.raises(GpuReadError, match="gave no numbers"):
        parse_nvidia_smi("[Not Supported], [N/A], [N/A]\n")
