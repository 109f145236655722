"""Verifying a run of this store: export it to a temporary record and reproduce that.

The record is written without its data (`with_data=False`): the replay restores the data by
hash from this store's cache, where the run's inputs already are, so a verify of a run that
read 500 MB copies them once, into the work folder, and never into a zip. The record is
removed afterwards; the work folder too, unless one was named (as `reproduce` does).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nb_mlops.records.replay import DEFAULT_TIMEOUT_S, reproduce
from nb_mlops.records.verdict import Verdict
from nb_mlops.store.workspace import Workspace


def verify(
    ws: Workspace,
    run: Any,
    *,
    workdir: str | os.PathLike | None = None,
    remote: str | None = None,
    yes: bool = False,
    confirm: Callable[[str], bool] | None = None,
    rtol_params: float = 1e-6,
    rtol_metrics: float = 1e-3,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Verdict:
    """Replay the cells that led to `run` (a RUN argument or a run handle) in a fresh kernel
    and compare with the run; the verdict is kept in `ws` as a run linked to it. The options
    are `reproduce`'s."""
    from nb_mlops.records.export import export_record
    from nb_mlops.records.record import RecordError

    if not yes and confirm is None:  # before the export: a refusal should cost nothing
        raise RecordError(
            "verifying a run runs its cells again: pass yes=True (--yes) to run them without "
            "asking, or a confirm callable"
        )
    with tempfile.TemporaryDirectory(prefix="nbmlops-verify-") as tmp:
        exported = export_record(ws, run, Path(tmp), with_data=False)
        verdict = reproduce(
            ws,
            exported.path,
            workdir=workdir,
            remote=remote,
            yes=yes,
            confirm=confirm,
            rtol_params=rtol_params,
            rtol_metrics=rtol_metrics,
            timeout=timeout,
        )
    verdict.record = None  # it was a temporary file, gone now
    verdict.notes[:0] = [
        f"export: {item}" for item in exported.left_out if "--with-data" not in item
    ]
    return verdict
