"""Deleting runs: record and folder go, registered models protect their run, gc frees objects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import nb_mlops as nm
from nb_mlops.errors import RefusedError, RunNotFound
from nb_mlops.store.pack import PACK_MAX_POINTS
from nb_mlops.store.workspace import Workspace


def finished_run(name: str, project: Path, artifact: bytes | None = None) -> str:
    """A finished run that keeps its folder (more points than a packed run has)."""
    with nm.start_run(name) as run:
        for step in range(PACK_MAX_POINTS + 1):
            nm.log_metric("loss", 0.5, step=step)
        if artifact is not None:
            path = project / f"{name}.bin"
            path.write_bytes(artifact)
            nm.log_artifact(path)
    return run.run_id


def test_delete_removes_record_and_folder(ws: Workspace, project: Path) -> None:
    keep = finished_run("keep", project)
    gone = finished_run("gone", project)
    run_dir = ws.run_dir(gone)
    assert (run_dir / "metrics.jsonl").is_file()
    result = nm.delete_run(gone)
    assert result == {"run_id": gone, "name": "gone", "models": []}
    assert ws.catalog.get("runs", gone) is None
    assert not run_dir.exists()
    assert nm.runs()["run_id"].tolist() == [keep]
    assert ws.run_dir(keep).is_dir()
    with pytest.raises(RunNotFound):
        nm.get_run(gone)
    with pytest.raises(RunNotFound):
        nm.delete_run(gone)


def test_delete_by_name_takes_the_latest(ws: Workspace, project: Path) -> None:
    older = finished_run("same", project)
    newer = finished_run("same", project)
    nm.delete_run("same")
    assert ws.catalog.get("runs", newer) is None
    assert ws.catalog.get("runs", older) is not None


def test_delete_refused_for_a_run_a_model_came_from(ws: Workspace, project: Path) -> None:
    run_id = finished_run("trained", project)
    ws.catalog.put("models", "clf/1", {"run_id": run_id, "name": "clf", "version": 1})
    with pytest.raises(RefusedError) as info:
        nm.delete_run(run_id)
    message = str(info.value)
    assert "clf version 1" in message
    assert "--force" in message
    assert "\n" not in message
    assert ws.catalog.get("runs", run_id) is not None
    assert ws.run_dir(run_id).is_dir()

    result = nm.delete_run(run_id, force=True)
    assert result["models"] == ["clf"]
    assert ws.catalog.get("runs", run_id) is None
    assert not ws.run_dir(run_id).exists()
    assert ws.catalog.get("models", "clf/1") is not None  # the model record itself is kept


def test_delete_names_every_model_version(ws: Workspace, project: Path) -> None:
    run_id = finished_run("trained", project)
    other = finished_run("other", project)
    ws.catalog.put("models", "clf/1", {"run_id": run_id, "name": "clf", "version": 1})
    ws.catalog.put("models", "clf/2", {"run_id": run_id, "name": "clf", "version": 2})
    ws.catalog.put("models", "reg/1", {"run_id": other, "name": "reg", "version": 1})
    with pytest.raises(RefusedError) as info:
        nm.delete_run(run_id)
    assert "clf version 1" in str(info.value) and "clf version 2" in str(info.value)
    assert "reg version" not in str(info.value)


def test_delete_allowed_after_the_model_version_is_gone(ws: Workspace, project: Path) -> None:
    run_id = finished_run("trained", project)
    ws.catalog.put("models", "clf/1", {"run_id": run_id, "name": "clf", "version": 1})
    ws.catalog.delete("models", "clf/1")
    nm.delete_run(run_id)
    assert ws.catalog.get("runs", run_id) is None


def test_deleting_the_active_run_is_refused(ws: Workspace) -> None:
    with nm.start_run("busy") as run:
        with pytest.raises(RefusedError, match="still running"):
            nm.delete_run(run.run_id)
        with nm.start_run("child") as child:
            with pytest.raises(RefusedError):
                nm.delete_run(run.run_id)
            with pytest.raises(RefusedError):
                nm.delete_run(child.run_id)
    assert ws.catalog.get("runs", run.run_id)["status"] == "finished"
    nm.delete_run(run.run_id)
    assert ws.catalog.get("runs", run.run_id) is None


def test_gc_after_delete_frees_the_runs_artifacts(ws: Workspace, project: Path) -> None:
    kept = finished_run("kept", project, artifact=b"kept bytes")
    gone = finished_run("gone", project, artifact=b"gone bytes")
    kept_md5 = ws.catalog.get("runs", kept)["artifacts"][0]["md5"]
    gone_md5 = ws.catalog.get("runs", gone)["artifacts"][0]["md5"]
    assert nm.gc(grace_s=0).objects_removed == 0
    nm.delete_run(gone)
    assert ws.objects.has(gone_md5)  # objects stay until gc
    report = nm.gc(grace_s=0)
    assert gone_md5 in report.removed
    assert not ws.objects.has(gone_md5)
    assert ws.objects.has(kept_md5)
    assert report.bytes_freed >= len(b"gone bytes")


def test_gc_dry_run_removes_nothing(ws: Workspace, project: Path) -> None:
    gone = finished_run("gone", project, artifact=b"gone bytes")
    md5 = ws.catalog.get("runs", gone)["artifacts"][0]["md5"]
    nm.delete_run(gone)
    report = nm.gc(grace_s=0, dry_run=True)
    assert md5 in report.removed
    assert ws.objects.has(md5)


def test_gc_default_grace_keeps_fresh_objects(ws: Workspace, project: Path) -> None:
    gone = finished_run("gone", project, artifact=b"fresh bytes")
    md5 = ws.catalog.get("runs", gone)["artifacts"][0]["md5"]
    nm.delete_run(gone)
    assert md5 not in nm.gc().removed
    assert ws.objects.has(md5)


def test_new_run_after_delete_and_gc_still_has_its_environment(
    ws: Workspace, project: Path
) -> None:
    """A run's `env.packages` object must exist even when gc removed an earlier copy of it."""
    first = finished_run("first", project)
    nm.delete_run(first)
    nm.gc(grace_s=0)
    with nm.start_run("second") as run:
        pass
    packages = ws.catalog.get("runs", run.run_id)["env"]["packages"]
    assert ws.objects.has(packages), "the run refers to an environment object gc removed"


# ---------------------------------------------------- a run another process is still logging
_KEEPS_A_RUN_OPEN = r"""
import sys
import nb_mlops as nm

run = nm.start_run("busy")
nm.log_metric("loss", 1.0)
run.flush()
print(run.run_id, flush=True)
sys.stdin.read()  # the run stays open until the test closes stdin
nm.log_metric("loss", 0.5)
run.end()
print("ended", flush=True)
"""


def _open_run_elsewhere(project: Path) -> tuple[subprocess.Popen, str]:
    from conftest import run_env

    writer = subprocess.Popen(
        [sys.executable, "-c", _KEEPS_A_RUN_OPEN],
        cwd=project,
        env=run_env(project),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    run_id = writer.stdout.readline().strip()
    assert run_id, writer.stderr.read() if writer.stderr else ""
    return writer, run_id


def test_delete_is_refused_while_another_live_process_logs_the_run(
    ws: Workspace, project: Path
) -> None:
    from conftest import cli

    writer, run_id = _open_run_elsewhere(project)
    try:
        with pytest.raises(RefusedError) as info:
            nm.delete_run(run_id)
        message = str(info.value)
        assert f"is still being logged by process {writer.pid}" in message
        assert "--force" in message and "\n" not in message
        out = cli(project, "delete", "busy")
        assert out.returncode == 1
        assert out.stderr.count("\n") == 1 and "--force" in out.stderr
        assert ws.catalog.get("runs", run_id) is not None
        assert ws.run_dir(run_id).is_dir()

        # the writer, left alone, ends its run normally
        stdout, stderr = writer.communicate("", timeout=60)
        assert writer.returncode == 0, stderr
        assert "ended" in stdout
    finally:
        writer.kill()
        writer.wait()
    assert ws.catalog.get("runs", run_id)["status"] == "finished"
    nm.delete_run(run_id)  # its process is done: allowed
    assert ws.catalog.get("runs", run_id) is None


def test_delete_force_deletes_a_run_a_live_process_logs(ws: Workspace, project: Path) -> None:
    writer, run_id = _open_run_elsewhere(project)
    try:
        assert nm.delete_run(run_id, force=True)["run_id"] == run_id
        assert ws.catalog.get("runs", run_id) is None
        assert not ws.run_dir(run_id).exists()
    finally:
        writer.kill()
        writer.wait()


def test_delete_of_a_run_whose_process_died_is_allowed(ws: Workspace, project: Path) -> None:
    writer, run_id = _open_run_elsewhere(project)
    writer.kill()  # kill -9: the run is left `running` by a dead process
    writer.wait()
    assert nm.delete_run(run_id)["run_id"] == run_id
    assert ws.catalog.get("runs", run_id) is None
