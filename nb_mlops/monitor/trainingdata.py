"""The baseline of the data a registered model version was trained on.

`baseline_for_model("models:/NAME/3")` builds the baseline from the data versions the version's
run recorded (`%%track --data PATH`, `nm.start_run(data=...)`), or those given to
`register_model(data=...)` when the run recorded none. That data version's file is read from
the cache (CSV, TSV, Parquet or JSON lines; a folder dataset must hold one table, or `path=`
names the file).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.profile import MAX_CATEGORIES, SAMPLE_SIZE, Baseline, baseline

if TYPE_CHECKING:
    from nb_mlops.store.workspace import Workspace


# ------------------------------------------------------------------------------ models
def baseline_for_model(
    ref: Any,
    ws: Workspace | None = None,
    *,
    path: str | None = None,
    categorical: Iterable[Any] | None = None,
    numerical: Iterable[Any] | None = None,
    max_categories: int = MAX_CATEGORIES,
    sample_size: int = SAMPLE_SIZE,
    seed: int = 0,
) -> Baseline:
    """The baseline of the data a registered model version was trained on.

    `ref` is a models:/ URI (`models:/NAME/3`, `models:/NAME@production`) or a ModelVersion.
    The data is what the version's run recorded (`%%track --data PATH`), else the `data=` given
    when it was registered; `path` picks one dataset (or one file of a folder dataset) when
    there are several. The other options are `baseline`'s. `source` on the result says which
    model, run, dataset, version and file the baseline describes. A reference that names no
    model version is ModelNotFound; missing training data is a MonitorError saying what is
    missing.
    """
    from nb_mlops.registry.names import version_uri
    from nb_mlops.registry.versions import get_doc

    if ws is None:
        from nb_mlops.tracking.active import workspace

        ws = workspace()
    if hasattr(ref, "doc") and hasattr(ref, "version") and hasattr(ref, "name"):
        ref = version_uri(ref.name, ref.version)
    doc = get_doc(ws, ref)
    uri = version_uri(doc["name"], doc["version"])
    inputs, run = training_inputs(ws, doc, uri)
    item, file = chosen_input(ws, inputs, path, uri)
    frame = read_input(ws, item, file)
    result = baseline(
        frame,
        categorical=categorical,
        numerical=numerical,
        max_categories=max_categories,
        sample_size=sample_size,
        seed=seed,
    )
    result.source = {
        "model": uri,
        "run_id": run.get("run_id") if run else None,
        "run_name": run.get("name") if run else None,
        "dataset": item["path"],
        "version": item["version"],
        "md5": item["md5"],
        "file": file,
    }
    return result


def training_inputs(ws: Workspace, doc: Mapping[str, Any], uri: str) -> tuple[list[dict], dict]:
    """(data versions, run doc) the model version was trained on."""
    from nb_mlops.errors import RunNotFound
    from nb_mlops.tracking.query import resolve_run

    run: dict[str, Any] = {}
    if doc.get("run_id"):
        try:
            run = dict(resolve_run(ws, doc["run_id"]))
        except RunNotFound:
            run = {}
    inputs = list(run.get("data") or []) or list(doc.get("data") or [])
    if inputs:
        return inputs, run
    if not doc.get("run_id"):
        raise MonitorError(
            f"{uri} was registered without a run and without data=, so no training data is "
            "recorded: register it inside a run started with data=[PATH] (or `%%track --data "
            "PATH`), or give register_model data=PATH"
        )
    label = f"run {run.get('name')} ({doc['run_id']})" if run else f"run {doc['run_id']}"
    raise MonitorError(
        f"{label}, which made {uri}, recorded no data: start it with `%%track --data PATH` or "
        "nm.start_run(data=[PATH]) so the model's training data is known"
    )


def chosen_input(
    ws: Workspace, inputs: list[dict], path: str | None, uri: str
) -> tuple[dict[str, Any], str | None]:
    """(data version, file inside a folder dataset or None) to read."""
    from nb_mlops.data.formats import TABULAR_SUFFIXES, table_format

    readable = "CSV, TSV, Parquet or JSON lines: " + ", ".join(sorted(TABULAR_SUFFIXES))
    if path is not None:
        wanted = str(path).replace(os.sep, "/").strip("/")
        for item in inputs:
            if item["path"] == wanted:
                return item, folder_file(ws, item, None, readable)
            if wanted.startswith(item["path"] + "/") and str(item["md5"]).endswith(".dir"):
                return item, folder_file(ws, item, wanted[len(item["path"]) + 1 :], readable)
        have = ", ".join(i["path"] for i in inputs)
        raise MonitorError(f"{uri} was not trained on {wanted} (its data: {have})")
    if len(inputs) > 1:
        tables = [i for i in inputs if str(i["md5"]).endswith(".dir") or table_format(i["path"])]
        if len(tables) != 1:
            have = ", ".join(f"{i['path']} (version {i['version']})" for i in inputs)
            raise MonitorError(
                f"{uri} was trained on several datasets ({have}): name one with path="
            )
        inputs = tables
    item = inputs[0]
    return item, folder_file(ws, item, None, readable)


def folder_file(ws: Workspace, item: Mapping[str, Any], inner: str | None, readable: str) -> Any:
    """The file of a folder dataset to read (`inner`, or its one table); None for a file."""
    from nb_mlops.data.formats import table_format
    from nb_mlops.errors import StoreError

    label = f"{item['path']} (version {item['version']})"
    md5 = str(item["md5"])
    if not md5.endswith(".dir"):
        if inner is not None:
            raise MonitorError(f"{label} is a file, not a folder holding {inner}")
        if table_format(item["path"]) is None:
            raise MonitorError(f"{label} is not a tabular file ({readable})")
        return None
    try:
        listing = ws.objects.listing(md5)
    except StoreError as exc:
        raise MonitorError(f"{label} cannot be read from the cache ({exc})") from None
    files = [e["relpath"] for e in listing]
    if inner is not None:
        if inner not in files:
            raise MonitorError(f"{label} holds no file {inner}")
        if table_format(inner) is None:
            raise MonitorError(f"{item['path']}/{inner} is not a tabular file ({readable})")
        return inner
    tables = [f for f in files if table_format(f)]
    if len(tables) == 1:
        return tables[0]
    if not tables:
        raise MonitorError(
            f"{label} is a folder of {len(files)} files, none of them a table ({readable})"
        )
    listed = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
    raise MonitorError(
        f"{label} is a folder of {len(tables)} tables ({listed}): name one with "
        f"path='{item['path']}/{tables[0]}'"
    )


def read_input(ws: Workspace, item: Mapping[str, Any], file: str | None) -> Any:
    """The data version's table (the file `file` of a folder) as a DataFrame, read from the
    cache after its bytes are checked against their hash."""
    from nb_mlops.data.formats import table_format
    from nb_mlops.errors import NbMlopsError, StoreError

    label = f"{item['path']} version {item['version']}"
    md5 = str(item["md5"])
    if file is not None:
        entry = next(e for e in ws.objects.listing(md5) if e["relpath"] == file)
        md5, label, name = entry["md5"], f"{item['path']}/{file} (version {item['version']})", file
    else:
        name = item["path"]
    if not ws.objects.has(md5):
        raise MonitorError(
            f"{label} is not in this store's cache: fetch it with `%track pull {item['path']}`"
        )
    try:
        ws.objects.verify(md5)
    except StoreError as exc:
        raise MonitorError(f"{label} cannot be used: {exc}") from None
    from nb_mlops.data.tabular import read_table

    try:
        table = read_table(ws.objects.path_of(md5), table_format(name), label=label)
    except NbMlopsError as exc:
        raise MonitorError(str(exc)) from None
    if table.num_columns == 0 or table.num_rows == 0:
        raise MonitorError(f"{label} holds no rows to make a baseline of")
    return table.to_pandas()
