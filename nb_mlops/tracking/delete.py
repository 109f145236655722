"""Deleting a run: its catalog record and its folder, unless a registered model came from it."""

from __future__ import annotations

import shutil
from typing import Any

from nb_mlops.errors import RefusedError
from nb_mlops.store.workspace import Workspace
from nb_mlops.tracking import active
from nb_mlops.tracking.query import resolve_run


def delete_run(ws: Workspace, ref: str, force: bool = False) -> dict[str, Any]:
    """Remove a run; refused while a model version was made from it (unless `force`).

    Objects the run stored stay in the cache until `gc`, which removes what nothing references.
    """
    doc = resolve_run(ws, ref)
    run_id, name = doc["run_id"], doc.get("name")
    if any(r.run_id == run_id for r in active.active_runs()):
        raise RefusedError(f"run {name} ({run_id}) is still running here; end it first")
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
    return {"run_id": run_id, "name": name, "models": [m.get("name") for m in models]}
