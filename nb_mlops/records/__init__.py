"""Reproducible run records: export a run as one RO-Crate zip, replay it, get a verdict.

`export_record(ws, run)` writes the cells that led to a run (in the order the kernel ran
them), its params, seeds, environment, git state, data by hash, models with their fitted
arrays, metrics and outputs as one zip; `read_manifest` reads a record's `record.json`
without trusting it; `hidden_state` names the cells that read what no earlier cell defined;
`reproduce` replays a record in a fresh kernel (and `verify.verify` a run of this store), each
giving a `Verdict`. Names load on first use, so `import nb_mlops.records` stays cheap.
"""

from __future__ import annotations

from nb_mlops.lazy import exports

# Not `unpack` or `verify`: they are also module names (see nb_mlops/lazy.py).
_WHERE = {
    "FORMAT": "record",
    "RecordError": "record",
    "read_manifest": "record",
    "safe_path": "record",
    "fitted_arrays": "params",
    "read_npz": "params",
    "write_npz": "params",
    "CrateFile": "crate",
    "crate_files": "crate",
    "crate_metadata": "crate",
    "write_crate": "crate",
    "ExportResult": "export",
    "export_record": "export",
    "secret_names": "export",
    "Finding": "hidden",
    "hidden_state": "hidden",
    "Verdict": "verdict",
    "reproduce": "replay",
    "compare": "verdict",
    "TIERS": "verdict",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = exports(__name__, _WHERE)
