"""Deleting a run: its catalog record and its folder, unless a registered model came from it or
another process is still logging it."""

from __future__ import annotations

import shutil
from typing import Any

from nb_mlops.errors import RefusedError
from nb_mlops.store.pack import blank_run_line
from nb_mlops.store.workspace import Workspace
from nb_mlops.tracking import active
from nb_mlops.tracking.liveness import is_dead
from nb_mlops.tracking.query import resolve_run


def delete_run(ws: Workspace, ref: str, force: bool = False) -> dict[str, Any]:
    """Remove a run; refused while a model version was made from it, or while another process
    that is still alive is logging it (its writes would fail under it), unless `force`.

    Objects the run stored stay in the cache until `gc`, which removes what nothing references.
    A small run's points (and a `%%track` cell's source and output) live in the shared pack, not
    in a folder (store/pack.py): its line is overwritten with spaces where it is, so no other
    line moves.
    """
    doc = resolve_run(ws, ref)
    run_id, name = doc["run_id"], doc.get("name")
    if any(r.run_id == run_id for r in active.active_runs()):
        raise RefusedError(f"run {name} ({run_id}) is still running here; end it first")
    if not force and doc.get("status") == "running":
        proc = doc.get("proc")
        if not is_dead(proc, ws.run_files(run_id).heartbeat):
            who = (
                f"process {proc.get('pid')} on {proc.get('host')}"
                if isinstance(proc, dict) and proc.get("pid")
                else "another process"
            )
            raise RefusedError(
                f"run {name} ({run_id}) is still being logged by {who}; end it there first, "
                "or pass --force to delete it anyway"
            )
    with ws.catalog.locked():
        models = ws.catalog.find("models", "run_id", run_id)
        if models and not force:
            made = ", ".join(f"{m.get('name')} version {m.get('version')}" for m in models)
            raise RefusedError(
                f"run {name} ({run_id}) made the registered model {made}; "
                "delete that version first, or pass --force to delete the run anyway"
            )
        for m in models:  # the versions keep what they need to show their lineage
            record = {k: doc.get(k) for k in ("run_id", "name", "params", "metrics", "status")}
            ws.catalog.set("models", f"{m['name']}/{m['version']}", {"run_record": record})
        ws.catalog.delete("runs", run_id)
    shutil.rmtree(ws.run_dir(run_id), ignore_errors=True)
    if doc.get("points") is not None:
        blank_run_line(ws, run_id, doc["points"])
    return {"run_id": run_id, "name": name, "models": [m.get("name") for m in models]}
