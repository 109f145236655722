"""Deleting runs: record and folder go, registered models protect their run, gc frees objects."""

from __future__ import annotations

from pathlib import Path

import pytest

import nb_mlops as nm
from nb_mlops.errors import RefusedError, RunNotFound
from nb_mlops.store.workspace import Workspace


def finished_run(name: str, project: Path, artifact: bytes | None = None) -> str:
    with nm.start_run(name) as run:
        nm.log_metric("loss", 0.5)
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
