"""The public verbs (`import nb_mlops as nm`): the one entry to the domain packages.

The `%track` magic and the `nb-mlops` CLI call these (through the command table), so a verb
behaves the same from a notebook, a script and a shell. Steps that join two domains are
composed here or in the higher package: a run that reads data versions (`data=`, resolved
here), a run that registers a model (`track.model`: the handle is registry/run.py's). Heavy
modules load inside the verb that needs them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from nb_mlops.store.workspace import STORE_DIRNAME, Workspace, open_workspace, pin
from nb_mlops.tracking import active

if TYPE_CHECKING:
    import pandas as pd

    from nb_mlops.evals.agreement import Agreement, JudgeAgreement
    from nb_mlops.evals.annotate import AnnotationSession
    from nb_mlops.evals.arena import ArenaRatings
    from nb_mlops.evals.judging import JudgeResult
    from nb_mlops.evals.rag import RagResult
    from nb_mlops.evals.run import EvalResult
    from nb_mlops.evals.scoreboard import ItemTable, Regressions, Scoreboard
    from nb_mlops.monitor.listing import MonitorTable
    from nb_mlops.monitor.monitor import Monitor
    from nb_mlops.records.verdict import Verdict
    from nb_mlops.registry.aliases import AliasMove
    from nb_mlops.registry.run import Run
    from nb_mlops.registry.versions import ModelVersion
    from nb_mlops.store.gc import GcReport
    from nb_mlops.sync.report import SyncReport
    from nb_mlops.tracking.compare import Comparison
    from nb_mlops.tracking.views import RunDetail, RunTable


def init(path: str | os.PathLike | None = None) -> Workspace:
    """Use (creating if needed) the store of the project at `path` for this process.

    `path` is a project folder (the store goes in its `.nbmlops/`) or a `.nbmlops` folder.
    Without `path`, the store is found from the cwd as usual and pinned.
    """
    if path is None:
        ws = open_workspace()
    else:
        home = Path(path).expanduser().absolute()
        if home.name != STORE_DIRNAME:
            home = home / STORE_DIRNAME
        ws = open_workspace(home)
    pin(ws)
    return ws


def workspace() -> Workspace:
    """The store in use: the one `init` pinned, else found from the cwd (created if none)."""
    return active.workspace()


def find_store(start: str | os.PathLike, *, within: str | os.PathLike) -> Workspace | None:
    """The store of the project holding `start` (a folder), found by walking up as the kernel
    does but never above `within` (a server's root); None when there is none. Never creates."""
    top = Path(os.path.realpath(within))
    folder = Path(os.path.realpath(start))
    if folder != top and top not in folder.parents:
        return None
    for place in (folder, *folder.parents):
        home = place / STORE_DIRNAME
        if home.is_dir() and not home.is_symlink():
            return open_workspace(home, create=False)
        if place == top:
            return None
    return None


def using(ws: Workspace) -> AbstractContextManager[Workspace]:
    """Use the store `ws` for the verbs called in this context (a thread or a task) only."""
    from nb_mlops.store.workspace import using as _using

    return _using(ws)


def reset() -> None:
    """Forget the pinned store (tests and long-lived kernels that change project)."""
    pin(None)


# ----------------------------------------------------------------------- runs
def start_run(
    name: str | None = None,
    *,
    experiment: str | None = None,
    tags: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int | None = None,
    nested: bool = True,
    data: list[str | os.PathLike] | None = None,
    source: Mapping[str, Any] | None = None,
    history: Mapping[str, Any] | None = None,
    system_metrics: bool | float | None = None,
) -> Run:
    """Start a run (a context manager): `with nm.start_run("sweep-1"): ...`.

    Inside a tracked cell or another active run it becomes a child run (unless nested=False).
    `data` names the datasets the run reads: the version of each is recorded (data with unsaved
    changes is snapshotted first), and `nm.versions(path)` shows the run beside that version.
    `source` and `history` are what the notebook records about the cell or session that
    started the run (a script's run records its file by itself). `system_metrics`: CPU,
    memory, disk, network and GPU sampled into `system.*` metrics while the run is active;
    None follows `[tracking] system_metrics_interval` (every 10 s by default), False is off,
    a number is the seconds between samples.
    """
    from nb_mlops.registry.run import Run
    from nb_mlops.tracking.ids import new_run_name
    from nb_mlops.tracking.run import start_run as start

    ws = workspace()
    name = name or new_run_name()
    inputs = None
    if data:
        from nb_mlops.data.snapshot import resolve_inputs

        inputs = resolve_inputs(ws, [str(p) for p in data], name)
    run = start(
        name,
        experiment=experiment,
        tags=tags,
        params=params,
        seed=seed,
        nested=nested,
        source=source,
        history=history,
        inputs=inputs,
        workspace=ws,
        cls=Run,
        system_metrics=system_metrics,
    )
    return cast("Run", run)


def end_run(status: str = "finished") -> None:
    """End the innermost active run (when it was not used with `with`)."""
    active.require("end_run").end(status)


def active_run() -> Run | None:
    """The innermost active run, or None."""
    return active.current()


def log_param(key: str, value: Any) -> None:
    active.require("nm.log_param").log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    active.require("nm.log_params").log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    active.require("nm.log_metric").log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    active.require("nm.log_metrics").log_metrics(metrics, step)


def log_artifact(path: str | os.PathLike, name: str | None = None) -> dict[str, Any]:
    return active.require("nm.log_artifact").log_artifact(path, name)


def set_tag(key: str, value: Any) -> None:
    active.require("nm.set_tag").set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    active.require("nm.set_tags").set_tags(tags)


_SIZE_BUDGET_S = 0.1
"""A listing's footer counts the store's bytes only when that is quick (None otherwise)."""


def run_table(
    filter: str | None = None,
    *,
    order_by: str | list[str] | None = None,
    max_results: int | None = None,
    with_size: bool = False,
) -> RunTable:
    """Runs matching `filter` as a result object (text, HTML, `to_dict`, `to_frame`)."""
    from nb_mlops.tracking.query import select_rows
    from nb_mlops.tracking.views import RunTable

    ws = workspace()
    rows = select_rows(ws, filter, order_by, max_results)
    store = {"path": str(ws.home), "bytes": ws.size(budget_s=_SIZE_BUDGET_S)} if with_size else {}
    clauses = [order_by] if isinstance(order_by, str) else list(order_by or [])
    return RunTable(rows, filter=filter or None, store=store, order_by=clauses)


def runs(
    filter: str | None = None,
    order_by: str | list[str] | None = None,
    max_results: int | None = None,
) -> pd.DataFrame:
    """Runs matching an MLflow-style filter as a DataFrame, newest first unless `order_by`.

    `order_by` takes MLflow's clauses (`["metrics.acc DESC", "start_time"]`; runs without the
    key come last); `max_results` keeps the first N. Columns: run_id, name, experiment, status,
    start, duration, params.*, metrics.* (last values), tags.*, parent. See docs/filter.md.
    """
    return run_table(filter, order_by=order_by, max_results=max_results).to_frame()


def get_run(run: str) -> RunDetail:
    """One run in full (by id, unique id prefix, or name = its latest run)."""
    from nb_mlops.tracking.query import run_detail
    from nb_mlops.tracking.views import RunDetail

    ws = workspace()
    return RunDetail(run_detail(ws, run), ws=ws)


def compare(*runs: str, filter: str | None = None) -> Comparison:
    """Runs side by side: `nm.compare("rf", "gbm")`, `nm.compare(filter="params.model = 'rf'")`.

    Runs are named by id, unique id prefix or name (its latest run); with neither runs nor a
    filter, every run. The named runs are selected, else the five newest. The result shows the
    params and metrics that differ, metric curves and data versions (a widget in the notebook,
    HTML/text elsewhere; `.to_dict()`, `.series(run_id, metric)` for the data).
    """
    from nb_mlops.tracking.compare import compare as _compare

    return _compare(workspace(), list(runs) or None, filter)


def delete_run(run: str, *, force: bool = False) -> dict[str, Any]:
    """Delete a run and its files; refused when a registered model came from it."""
    from nb_mlops.tracking.delete import delete_run as _delete

    return _delete(workspace(), run, force=force)


def gc(*, grace_s: float | None = None, dry_run: bool = False) -> GcReport:
    """Remove objects and run folders nothing references, and what killed processes left
    (cache temps, checkout staging folders: an hour old and held by no process); report the
    space freed. The store cannot see datasets' staging folders, so they are swept here."""
    from nb_mlops.data.checkout import remove_stale_staging
    from nb_mlops.store.gc import GRACE_S, TEMP_AGE_S, collect

    ws = workspace()
    report = collect(ws, GRACE_S if grace_s is None else grace_s, dry_run=dry_run)
    if not dry_run:
        report.staging_removed = remove_stale_staging(ws, older_than_s=TEMP_AGE_S)
    return report


def repair() -> dict[str, Any]:
    """Set damaged catalog lines aside so the store opens again; nothing readable is lost."""
    ws = workspace()
    kept, dropped, aside = ws.catalog.repair()
    return {"kept": kept, "set_aside": dropped, "copy": str(aside) if aside else None}


def scrub(secret: str, *, dry_run: bool = False) -> Any:
    """Replace a leaked string with [REDACTED] in every file of the store that can be rewritten
    safely, and list those that cannot (see docs/secrets.md). Pass the string from a prompt or
    a file, never as a literal in a cell: the cell's own source would keep it."""
    from nb_mlops.store.scrub import scrub as _scrub

    return _scrub(workspace(), secret, dry_run=dry_run)


# ------------------------------------------------------------------------------- data
def snapshot(path: str | os.PathLike, message: str | None = None) -> Any:
    """Make the next version of a file or folder (DVC-compatible `PATH.dvc`, cached objects).

    Snapshotting data that is already a version changes nothing and says so.
    """
    from nb_mlops.data.snapshot import snapshot as _snapshot

    return _snapshot(workspace(), path, message)


def versions(path: str | os.PathLike) -> Any:
    """A dataset's versions (messages, sizes, rows, the runs that used each); `.to_dict()`."""
    from nb_mlops.data.snapshot import (
        adopt_dvcfile,
        current_version,
        dataset_path,
        relpath,
        runs_using,
        versions_of,
    )
    from nb_mlops.data.views import VersionTable

    ws = workspace()
    rel = relpath(ws, dataset_path(ws, path, must_exist=False))
    adopt_dvcfile(ws, rel)
    docs = versions_of(ws, rel)
    if not docs:
        from nb_mlops.data.snapshot import DataError

        raise DataError(f"{rel} has no versions yet; make one with `%track snapshot {rel}`")
    current = current_version(ws, rel)
    return VersionTable(rel, docs, current["version"] if current else None, runs_using(ws, rel))


def delete_version(path: str | os.PathLike, version: int | str) -> Any:
    """Remove one version record of a dataset (one recorded wrongly, say); never the version
    its `.dvc` file names. Objects stay until `gc` frees those nothing else uses."""
    from nb_mlops.data.snapshot import delete_version as _delete_version

    return _delete_version(workspace(), path, version)


def checkout(path: str | os.PathLike, version: int | str, *, force: bool = False) -> Any:
    """Make the workspace hold exactly `version` of the dataset (files added since removed)."""
    from nb_mlops.data.checkout import checkout as _checkout

    return _checkout(workspace(), path, version, force=force)


def diff(
    path: str | os.PathLike,
    a: int | str,
    b: int | str = "workspace",
    *,
    key: str | list[str] | None = None,
) -> Any:
    """Files and rows that differ between two versions (`workspace` = the data as it is now)."""
    from nb_mlops.data.diff import diff as _diff

    return _diff(workspace(), path, a, b, key=key)


def status(path: str | os.PathLike | None = None) -> Any:
    """How the workspace differs from the version each dataset's `.dvc` file names."""
    from nb_mlops.data.checkout import all_statuses
    from nb_mlops.data.checkout import status as _status
    from nb_mlops.data.views import StatusList

    ws = workspace()
    return StatusList([_status(ws, path)] if path is not None else all_statuses(ws))


def add_remote(
    name: str,
    url: str,
    *,
    default: bool = False,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    **options: str,
) -> Any:
    """Register a remote (a local folder, ``s3://bucket/prefix`` or any fsspec URL) for push
    and pull. An S3 remote may name an S3-compatible server (`endpoint_url`), a `region` and an
    AWS `profile`; its credentials come from the AWS environment or config files, never from
    here (a credential given as an option is refused)."""
    from nb_mlops.data.remote import add_remote as _add

    return _add(
        workspace(),
        name,
        url,
        default=default,
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        **options,
    )


def remove_remote(name: str) -> None:
    """Forget a remote (its objects stay where they are); unset it as the default."""
    from nb_mlops.data.remote import remove_remote as _remove

    _remove(workspace(), name)


def remotes() -> list[Any]:
    """The remotes this store knows."""
    from nb_mlops.data.remote import list_remotes

    return list_remotes(workspace())


def push(
    path: str | os.PathLike | None = None, remote: str | None = None, *, progress: bool = True
) -> Any:
    """Send every version of a dataset (default: all) to a remote; only missing objects move."""
    from nb_mlops.data.sync import push as _push

    return _push(workspace(), path, remote, progress=progress)


def pull(
    path: str | os.PathLike | None = None,
    remote: str | None = None,
    *,
    force: bool = False,
    progress: bool = True,
) -> Any:
    """Fetch a dataset's versions (default: all) from a remote and check out what `.dvc` names."""
    from nb_mlops.data.sync import pull as _pull

    return _pull(workspace(), path, remote, force=force, progress=progress)


# ---------------------------------------------------------------------------- registry
def mlflow_sync(
    tracking_uri: str | None = None,
    *,
    experiment: str | None = None,
    filter: str | None = None,
    models: bool = True,
    jobs: int = 4,
) -> SyncReport:
    """Push runs (those matching `filter`, default all) and registered models to an MLflow
    tracking server (`tracking_uri`, default $MLFLOW_TRACKING_URI): params, metric series,
    tags, status, times, artifacts, cells, data versions as dataset inputs; model versions
    and aliases. Only what the server lacks is sent; runs go to their own experiment's name
    there, or all to `experiment`; `jobs` runs are sent at once."""
    from nb_mlops.sync.session import push_to_mlflow

    return push_to_mlflow(
        workspace(),
        _tracking_uri(tracking_uri),
        experiment=experiment,
        filter=filter,
        models=models,
        jobs=jobs,
    )


def mlflow_import(
    tracking_uri: str | None = None, *, experiment: str | None = None, filter: str | None = None
) -> SyncReport:
    """Bring the ended runs of an MLflow tracking server (one experiment, or all; those matching
    `filter`, in the grammar of `nm.runs`) into this store, so `nm.runs` and `nm.compare` see
    them; runs that started here or were imported before are passed over."""
    from nb_mlops.sync.session import import_from_mlflow

    return import_from_mlflow(
        workspace(), _tracking_uri(tracking_uri), experiment=experiment, filter=filter
    )


def _tracking_uri(given: str | None) -> str:
    """The tracking URI given, else MLflow's own environment variable."""
    from nb_mlops.errors import SyncError

    uri = given or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise SyncError(
            "name the MLflow tracking server: --tracking-uri URL (or set MLFLOW_TRACKING_URI)"
        )
    return uri


def register_model(
    name: str,
    model: Any = None,
    *,
    run: str | Run | None = None,
    artifact: str | None = None,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    data: str | os.PathLike | list[str | os.PathLike] | None = None,
    flavor: str | None = None,
) -> ModelVersion:
    """Make the next version of model `name`; returns a ModelVersion (.name, .version,
    .fingerprint, .uri).

    `model` is a fitted model object (scikit-learn, PyTorch module or state_dict, XGBoost,
    LightGBM, anything joblib can save) or the path of a model file or folder. Without it, the
    artifact `artifact` of run `run` is registered. The run (default: the active one) and its data
    versions are kept as the version's lineage; `data` adds datasets by path.
    """
    from nb_mlops.registry.versions import register

    return register(
        workspace(),
        name,
        model,
        run=run,
        artifact=artifact,
        description=description,
        tags=tags,
        data=data,
        flavor=flavor,
    )


def load_model(uri: str | ModelVersion, *, trust: bool = False) -> Any:
    """The model `models:/NAME/3`, `models:/NAME@production` or `models:/NAME@latest` names.

    Pickled artifacts are read only from this store after their hash is checked; one that came
    from an imported bundle needs `trust=True` (unpickling runs the bundle's code).
    """
    from nb_mlops.registry.load import load_model as _load

    return _load(workspace(), uri, trust=trust)


def get_model_version(uri: str, version: int | str | None = None) -> ModelVersion:
    """One version by URI (`models:/NAME/3`, `models:/NAME@staging`) or by name and version."""
    from nb_mlops.registry.versions import get_version

    return get_version(workspace(), uri, version)


def models(name: str | None = None) -> Any:
    """The registry (every model) or one model: versions, aliases, metrics, lineage, history."""
    from nb_mlops.registry.views import model_list, model_view

    ws = workspace()
    return model_list(ws) if name is None else model_view(ws, name)


def compare_versions(name: str, a: int | str, b: int | str) -> Any:
    """Two versions of a model side by side: params, metrics, data versions, fingerprint."""
    from nb_mlops.registry.views import version_comparison

    return version_comparison(workspace(), name, a, b)


def set_alias(
    name: str,
    alias: str,
    version: int | str,
    *,
    why: str | None = None,
    force: bool = False,
    protect: bool | None = None,
) -> AliasMove:
    """Point `NAME@ALIAS` at a version (kept in the alias history; deploy hooks run).

    A protected alias moves only with `force=True`; `protect=True` protects it from now on.
    """
    from nb_mlops.registry.aliases import set_alias as _set
    from nb_mlops.registry.names import check_version

    number = check_version(version, name)
    return _set(workspace(), name, alias, number, why=why, force=force, protect=protect)


def rollback(name: str, alias: str, *, why: str | None = None, force: bool = False) -> AliasMove:
    """Move an alias back to the version it pointed at before (deploy hooks run)."""
    from nb_mlops.registry.aliases import rollback as _rollback

    return _rollback(workspace(), name, alias, why=why, force=force)


def delete_alias(
    name: str, alias: str, *, why: str | None = None, force: bool = False
) -> AliasMove:
    """Remove an alias; its history stays. A protected alias needs `force=True`."""
    from nb_mlops.registry.aliases import remove_alias

    return remove_alias(workspace(), name, alias, why=why, force=force)


def protect_alias(
    name: str, alias: str, protected: bool = True, *, why: str | None = None, force: bool = False
) -> AliasMove:
    """Protect an alias (moves then need force); lifting protection needs `force=True`."""
    from nb_mlops.registry.aliases import protect_alias as _protect

    return _protect(workspace(), name, alias, protected, why=why, force=force)


def alias_view(name: str, alias: str) -> Any:
    """One alias's history as a view (text, HTML, `to_dict`): when, from → to, who, why."""
    from nb_mlops.registry.views import history_view

    return history_view(workspace(), name, alias)


def alias_history(name: str, alias: str | None = None) -> list[dict[str, Any]]:
    """Every move of a model's aliases (or one alias), oldest first: when, from, to, who, why,
    and what the deploy hooks did."""
    from nb_mlops.registry.aliases import history

    return history(workspace(), name, alias)


def update_model_version(
    name: str,
    version: int | str,
    *,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    remove_tags: list[str] | None = None,
    status: str | None = None,
) -> ModelVersion:
    """Set a version's description, tags and status (`active` or `archived`), all or nothing."""
    from nb_mlops.registry.versions import update_version

    return update_version(
        workspace(),
        name,
        version,
        description=description,
        tags=tags,
        remove_tags=remove_tags,
        status=status,
    )


def update_model(
    name: str,
    *,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    remove_tags: list[str] | None = None,
) -> dict[str, Any]:
    """Set a model's own description and tags."""
    from nb_mlops.registry.versions import update_model as _update

    return _update(workspace(), name, description=description, tags=tags, remove_tags=remove_tags)


def archive_model_version(name: str, version: int | str) -> ModelVersion:
    """Retire a version: it stays readable, no alias may point at it, @latest skips it."""
    from nb_mlops.registry.versions import ARCHIVED, set_status

    return set_status(workspace(), name, version, ARCHIVED)


def restore_model_version(name: str, version: int | str) -> ModelVersion:
    """Bring an archived version back."""
    from nb_mlops.registry.versions import ACTIVE, set_status

    return set_status(workspace(), name, version, ACTIVE)


def delete_model_version(name: str, version: int | str) -> dict[str, Any]:
    """Remove a version's record (refused while an alias points at it); `gc` frees its file."""
    from nb_mlops.registry.versions import delete_version

    return delete_version(workspace(), name, version)


def add_deploy_hook(
    name: str, hook: str | Callable[[str, int], Any], *, alias: str | None = None
) -> Any:
    """Run `hook` when an alias of `name` moves (only `alias`, when given).

    A command (a shell line) is kept with the model and runs in every process, with
    NB_MLOPS_MODEL_URI / _VERSION / _NAME / NB_MLOPS_ALIAS set and `{uri}`, `{version}` filled in;
    a callable is called as `hook(uri, version)` in this process only. Outcomes go into the alias
    history. Returns the kept command's record, or a function that removes the callable.
    """
    from nb_mlops.registry import hooks
    from nb_mlops.registry.versions import require_model

    ws = workspace()
    if isinstance(hook, str):
        return hooks.add_command(ws, name, hook, alias)
    require_model(ws, name)
    return hooks.on_alias_move(ws, hook, name, alias)


def deploy_hooks(name: str) -> list[dict[str, Any]]:
    """The deploy commands kept with a model (each with its alias, or None for any)."""
    from nb_mlops.registry.hooks import commands

    return commands(workspace(), name)


def remove_deploy_hooks(name: str, *, alias: str | None = None) -> int:
    """Drop the model's hook commands (those for `alias` only, when given); how many went."""
    from nb_mlops.registry.hooks import remove_commands

    return remove_commands(workspace(), name, alias)


def export_model(uri: str, dest: str | os.PathLike) -> Path:
    """Write one version as a zip bundle (artifact + record) that another store can import."""
    from nb_mlops.registry.bundle import export_model as _export

    return _export(workspace(), uri, dest)


def check_bundle_destination(dest: str | os.PathLike) -> None:
    """Refuse, before anything changes, a bundle destination that cannot be written."""
    from nb_mlops.registry.bundle import check_destination

    check_destination(dest)


def import_model(
    path: str | os.PathLike,
    name: str | None = None,
    *,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """File a bundle as the next version of its model (or `name`); it is marked imported, so
    loading a pickled artifact from it needs `trust=True`. `description` replaces the bundle's;
    `tags` are added to its tags."""
    from nb_mlops.registry.bundle import import_model as _import

    return _import(workspace(), path, name, description=description, tags=tags)


def fingerprint(model: Any) -> str:
    """The fingerprint of a model's fitted state (sha256 hex): equal for the same fitted model
    however it was saved and loaded, different for another seed or other data; what
    `ModelVersion.fingerprint` holds."""
    from nb_mlops.registry.fingerprint import fingerprint as _fingerprint

    return _fingerprint(model)


# ------------------------------------------------------------------------------- evals
def evaluate(
    model: Any,
    dataset: Any,
    *,
    metrics: list[str] | None = None,
    task: str | None = None,
    style: str | None = None,
    num_fewshot: int = 0,
    seed: int = 1234,
    limit: int | None = None,
    name: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, Any] | None = None,
    cache: bool = True,
    progress: bool | None = None,
    lang: str | None = None,
    options: Mapping[str, Any] | None = None,
    mode: str = "auto",
    model_options: Mapping[str, Any] | None = None,
) -> EvalResult:
    """Evaluate a model on a dataset and log it as a run; returns the scores with intervals.

    `model`: a callable `generate(prompt, **options) -> str` (optionally with
    `loglikelihood(context, continuation)`), an adapter, or a spec: `hf:PATH`,
    `openai:BASE_URL#MODEL`, `models:/NAME@ALIAS`, `py:module:attr`. `dataset`: a local
    JSON-lines/CSV/Parquet file, a DataFrame, a list of dicts, a `datasets.Dataset`, or
    `sample:NAME` (the sets nb-mlops ships). Multiple-choice items give acc and acc_norm
    (lm-evaluation-harness conventions; `style` arc, hellaswag, mmlu or plain, `num_fewshot`);
    items with references are generated and scored with `metrics` (bleu, chrf, rouge*,
    exact_match, f1); `metrics=["perplexity"]` scores texts with a local model. Answers are
    cached per model version (`cache=False` asks again); `options` are decoding settings,
    `model_options` the adapter's (`concurrency`, `timeout`, `batch_size`, ...).
    """
    from nb_mlops.evals.run import evaluate as _evaluate

    return _evaluate(
        workspace(),
        model,
        dataset,
        metrics=metrics,
        task=task,
        style=style,
        num_fewshot=num_fewshot,
        seed=seed,
        limit=limit,
        name=name,
        experiment=experiment,
        tags=tags,
        cache=cache,
        progress=progress,
        lang=lang,
        options=options,
        mode=mode,
        model_options=model_options,
    )


def eval_scoreboard(filter: str | None = None, *, latest: bool = True) -> Scoreboard:
    """Evaluation runs (matching a run filter) as models x metrics with intervals; the same
    model name with another reported version or fingerprint is another row, its change named."""
    from nb_mlops.evals.scoreboard import scoreboard

    return scoreboard(workspace(), filter, latest=latest)


def eval_regressions(a: str, b: str, *, threshold: float | None = None) -> Regressions:
    """Items evaluation run `a` got right and run `b` got wrong, and the reverse."""
    from nb_mlops.evals.scoreboard import regressions

    return regressions(workspace(), a, b, threshold=threshold)


def eval_examples(run: str) -> ItemTable:
    """The per-item rows of one evaluation run (inputs, outputs, scores, errors); `.to_frame()`."""
    from nb_mlops.evals.scoreboard import item_table

    return item_table(workspace(), run)


def eval_side_by_side(*runs: str) -> ItemTable:
    """Items of several evaluation runs of one dataset, one answer column per run."""
    from nb_mlops.evals.scoreboard import side_by_side

    return side_by_side(workspace(), list(runs))


def judge(
    judge: Any,
    items: Any = None,
    *,
    runs: list[str] | None = None,
    mode: str | None = None,
    lang: str = "en",
    retries: int = 2,
    limit: int | None = None,
    name: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Any] | None = None,
) -> JudgeResult:
    """Have an LLM judge grade replies (1-10 with a rationale) or compare two models' replies
    (asked in both orders; a verdict that flips with the order is a tie). Logged as eval runs.

    `judge`: a `nm.evals.Judge`, or a model spec/callable made into one (`lang` "en" or "ko",
    `retries`, decoding `options`). `items`: a file, DataFrame or dicts with `question` (or
    `turns`), `answer` (or `answers`) and `model`, optional `reference`; pairs have `answer_a`,
    `answer_b`, `model_a`, `model_b`. Or `runs`: one text evaluation run to grade, two to
    compare. `mode` "single" or "pair" (default: by the items).
    """
    from nb_mlops.evals.judge import Judge
    from nb_mlops.evals.judging import items_from_runs, judge_answers, judge_pairs, read_items
    from nb_mlops.evals.model import EvalError

    ws = workspace()
    if (items is None) == (not runs):
        raise EvalError("judge needs items or runs (one of the two)")
    if not isinstance(judge, Judge):
        judge = Judge(
            judge,
            lang=lang,
            retries=retries,
            options=options,
            workspace=ws,
            **dict(model_options or {}),
        )
    elif options or model_options:
        raise EvalError("options and model_options go to Judge(...) when you pass a Judge")
    if runs:
        rows = items_from_runs(ws, list(runs))
        source: Any = rows
    else:
        rows, _ = read_items(items, limit=limit)
        source = items if isinstance(items, str | os.PathLike) else rows
    if mode is None:
        mode = "pair" if any(k in rows[0] for k in ("answer_a", "answers_a")) else "single"
    if mode not in ("single", "pair"):
        raise EvalError(f"mode {mode!r}: choose single or pair")
    run = judge_pairs if mode == "pair" else judge_answers
    return run(ws, judge, rows, source=source, name=name, experiment=experiment, tags=tags)


def evaluate_rag(
    items: Any,
    *,
    method: str = "lexical",
    lang: str | None = "en",
    judge: Any = None,
    embed: Callable[[list[str]], Any] | str | None = None,
    thresholds: Mapping[str, float] | None = None,
    measures: list[str] | None = None,
    system: str = "rag",
    name: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> RagResult:
    """Evaluate retrieval-augmented answers and log an eval run: faithfulness (claims of the
    answer supported by the retrieved chunks / all claims), answer relevance and context
    relevance (share of relevant chunks), each with the method named and a per-item
    explanation (the unsupported claims, the irrelevant chunks).

    `items`: a file, DataFrame or dicts with `question`, `answer`, `contexts` (the retrieved
    chunks). `method`: "lexical" (fuzzy word overlap, no model), "embeddings" (with `embed`,
    your function texts -> vectors, or `py:module:attr` naming it) or "judge" (an LLM
    `judge`: a Judge or a model spec). `lang` "en", "ko" or None (detected). `system` names
    the pipeline on the scoreboard.
    """
    from nb_mlops.evals.model import python_target
    from nb_mlops.evals.rag import MEASURES
    from nb_mlops.evals.ragrun import evaluate_rag as _evaluate_rag

    if isinstance(embed, str):
        embed = python_target(embed, what="embed")

    return _evaluate_rag(
        workspace(),
        items,
        method=method,
        lang=lang,
        judge=judge,
        embed=embed,
        thresholds=thresholds,
        measures=tuple(measures or MEASURES),
        system=system,
        name=name,
        experiment=experiment,
        tags=tags,
    )


def annotate(
    name: str,
    items: Any = None,
    *,
    rater: str,
    mode: str | None = None,
    criteria: Any = None,
    seed: int = 0,
) -> AnnotationSession:
    """Human evaluation: `rater` labels the items of the annotation task `name` one at a time
    (in a notebook, an annotation widget with keyboard shortcuts; labels are stored as given,
    so a session resumes where that rater stopped).

    The first call creates the task from `items` (a DataFrame or dicts): `prompt` and
    `response` rated on `criteria` (default fluency, helpfulness, faithfulness, harmlessness,
    1-5), or `response_a`/`response_b` (with `model_a`/`model_b`) compared; the judge's names
    (`question`, `answer_a`, ...) work too. Later calls open it by name.
    """
    from nb_mlops.evals.annotate import AnnotationSession, AnnotationTask

    if isinstance(items, str | os.PathLike):
        items = _file_rows(items)
    task = AnnotationTask.open(workspace(), name, items, mode=mode, criteria=criteria, seed=seed)
    return AnnotationSession(task, rater)


def rater_agreement(task: str, *, criterion: str | None = None) -> Agreement:
    """Agreement between the raters of an annotation task, per criterion: Krippendorff's
    alpha at the criterion's level (nominal, ordinal, interval) and Cohen's kappa per pair."""
    from nb_mlops.evals.annotate import AnnotationTask

    return AnnotationTask.open(workspace(), task).agreement(criterion)


def judge_agreement(*sources: Any, humans_as_one: bool = False) -> JudgeAgreement:
    """How often judges agree on the same pairs, with and without ties, as a table per judge.

    Sources: results of `nm.judge(..., mode="pair")`, pairwise judging runs (id or name),
    pairwise annotation tasks (by name: each rater is `human:<rater>`), or vote tables
    (judge, item, model_a, model_b, winner). `humans_as_one` pools the human raters.
    """
    from nb_mlops.evals.agreement import judge_agreement as _agreement

    return _agreement(_votes(sources), humans_as_one=humans_as_one)


FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
"""A source named with one of these is a file of rows, not a run or an annotation task."""


def arena(
    battles: Any = None,
    *,
    runs: list[str] | None = None,
    method: str = "bradley_terry",
    **options: Any,
) -> ArenaRatings:
    """Arena ratings from pairwise battles: Bradley-Terry (maximum likelihood on the Elo
    scale, bootstrap intervals) or `method="elo"` (online Elo). `battles`: Chatbot Arena rows
    (model_a, model_b, winner), a pairwise judge result or annotation task name, or a list of
    those; `runs`: pairwise judging runs. `options` go to `nm.evals.bradley_terry` / `elo`."""
    from nb_mlops.evals import arena as arenas
    from nb_mlops.evals.model import EvalError

    if method not in ("bradley_terry", "elo"):
        raise EvalError(f"method {method!r}: choose bradley_terry or elo")
    sources = list(runs or [])
    if isinstance(battles, os.PathLike) or (
        isinstance(battles, str) and os.path.splitext(battles)[1] in FILE_SUFFIXES
    ):
        battles = _file_rows(battles)
    if battles is not None:
        sources += (
            list(battles) if isinstance(battles, list | tuple) and not _rows(battles) else [battles]
        )
    if not sources:
        raise EvalError("arena needs battles or runs")
    rate = arenas.bradley_terry if method == "bradley_terry" else arenas.elo
    return rate(_votes(sources), **options)


def _file_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a .jsonl/.json/.csv/.parquet file as dicts."""
    from nb_mlops.evals.datasets import read_rows

    return [row.data for row in read_rows(path)]


def _rows(value: Any) -> bool:
    """Whether a list is battle rows (dicts) rather than a list of sources."""
    return bool(value) and all(isinstance(v, Mapping) for v in value)


def _votes(sources: Any) -> Any:
    """One vote table (judge, item, model_a, model_b, winner) from any mix of sources."""
    import pandas as pd

    from nb_mlops.evals.annotate import AnnotationTask
    from nb_mlops.evals.judging import battles_from_runs
    from nb_mlops.evals.model import EvalError

    ws = workspace()
    parts = []
    for source in sources:
        if isinstance(source, str):
            if (ws.annotations_dir() / source).is_dir():
                parts.append(AnnotationTask.open(ws, source).battles())
            else:
                parts.append(battles_from_runs(ws, [source]).rename(columns={"id": "item"}))
        elif isinstance(source, AnnotationTask):
            parts.append(source.battles())
        elif hasattr(source, "votes"):
            parts.append(source.votes())
        elif hasattr(source, "battles"):
            parts.append(source.battles())
        elif isinstance(source, pd.DataFrame):
            parts.append(source)
        elif isinstance(source, list | tuple) and _rows(source):
            parts.append(pd.DataFrame(list(source)))
        else:
            raise EvalError(f"{type(source).__name__} holds no pairwise votes")
    if not parts:
        raise EvalError("no votes given")
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- records
def export_record(
    run: str, out: str | os.PathLike | None = None, *, with_data: bool = False
) -> Any:
    """Write a run as a reproducible record: one RO-Crate zip with the cells that led to it
    (tracked or not, in execution order, as a runnable notebook), params, seeds, environment
    lock, git state, data inputs by hash (the data itself with `with_data`), artifacts and
    model fingerprints and fitted arrays, metrics and outputs; secrets redacted."""
    from nb_mlops.records.export import export_record as _export

    return _export(workspace(), run, out, with_data=with_data)


def reproduce(
    record: str | os.PathLike,
    *,
    workdir: str | os.PathLike | None = None,
    env: bool = False,
    remote: str | None = None,
    yes: bool = False,
    confirm: Callable[[str], bool] | None = None,
    rtol_params: float = 1e-6,
    rtol_metrics: float = 1e-3,
) -> Verdict:
    """Re-execute a record in a fresh folder and kernel (its own store: nothing is registered,
    promoted, deployed or pushed in yours) and return a tiered verdict (`.tier`,
    `.differences`), kept here as a run linked to the original. Executing the record's code
    needs `yes=True` or a `confirm(summary) -> bool`; `env=True` first builds a virtual
    environment from the recorded lock."""
    from nb_mlops.records.replay import reproduce as _reproduce

    return _reproduce(
        workspace(),
        record,
        workdir=workdir,
        env=env,
        remote=remote,
        yes=yes,
        confirm=confirm,
        rtol_params=rtol_params,
        rtol_metrics=rtol_metrics,
    )


def verify(
    run: str,
    *,
    workdir: str | os.PathLike | None = None,
    remote: str | None = None,
    yes: bool = False,
    confirm: Callable[[str], bool] | None = None,
    rtol_params: float = 1e-6,
    rtol_metrics: float = 1e-3,
) -> Verdict:
    """Reproduce a run of this store without writing a record first: its cells are replayed in
    a fresh kernel and compared with the run (see `reproduce`)."""
    from nb_mlops.records.verify import verify as _verify

    return _verify(
        workspace(),
        run,
        workdir=workdir,
        remote=remote,
        yes=yes,
        confirm=confirm,
        rtol_params=rtol_params,
        rtol_metrics=rtol_metrics,
    )


# ---------------------------------------------------------------------------- monitor
def monitors() -> MonitorTable:
    """The store's monitors, one row each (task, windows, rows observed, alerts)."""
    from nb_mlops.monitor.listing import monitor_table

    return monitor_table(workspace())


def get_monitor(name: str) -> Monitor:
    """The monitor `name` of the store in use, reopened (its model loads when first needed)."""
    from nb_mlops.monitor.monitor import Monitor

    return Monitor(name, ws=workspace())


def export_monitors(
    names: list[str] | None = None,
    *,
    textfile: str | os.PathLike | None = None,
    port: int | None = None,
    addr: str = "127.0.0.1",
) -> Any:
    """Publish monitors (all of the store's when `names` is empty) to Prometheus: a textfile
    for node_exporter's textfile collector, or an HTTP endpoint served from a background thread
    (port 0: a free one). Returns the file's path or the running Exporter."""
    from nb_mlops.monitor import prometheus
    from nb_mlops.monitor.errors import MonitorError
    from nb_mlops.monitor.state import monitors as monitor_names

    ws = workspace()
    chosen = list(names or monitor_names(ws))
    if not chosen:
        raise MonitorError("no monitors to export: make one with nm.monitor.Monitor(...)")
    found = [get_monitor(name) for name in chosen]
    if (textfile is None) == (port is None):
        raise MonitorError("export to a textfile or to a port, one of the two")
    if textfile is not None:
        return prometheus.write_textfile(found, textfile)
    return prometheus.serve(found, port=port, addr=addr)


def monitor_dashboard(path: str | os.PathLike) -> Path:
    """Write the Grafana dashboard JSON for the monitors' Prometheus metrics to `path`."""
    import json

    from nb_mlops.monitor.prometheus import dashboard_json
    from nb_mlops.store.files import atomic_write

    out = Path(path)
    atomic_write(out, json.dumps(dashboard_json(), indent=2) + "\n")
    return out
