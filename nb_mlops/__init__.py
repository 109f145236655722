"""nb-mlops: experiment tracking, data versions and a model registry, inside the notebook.

`%load_ext nb_mlops` in IPython/Jupyter, `import nb_mlops as nm` in Python, `nb-mlops` in a shell.

The verbs (`nm.start_run`, `nm.snapshot`, ...) are api.py's, imported on first use: loading the
extension or importing the package does not open the store machinery until a verb is called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nb_mlops._version import __version__


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The jupyter_server extension: the store API the JupyterLab panel reads (server/)."""
    return [{"module": "nb_mlops.server"}]


if TYPE_CHECKING:  # what the names below are, for readers and type checkers
    from nb_mlops.api import (
        active_run,
        add_deploy_hook,
        add_remote,
        alias_history,
        annotate,
        archive_model_version,
        arena,
        checkout,
        compare,
        compare_versions,
        delete_alias,
        delete_model_version,
        delete_run,
        delete_version,
        diff,
        end_run,
        eval_examples,
        eval_regressions,
        eval_scoreboard,
        eval_side_by_side,
        evaluate,
        evaluate_rag,
        export_model,
        export_monitors,
        export_record,
        fingerprint,
        gc,
        get_model_version,
        get_monitor,
        get_run,
        import_model,
        init,
        judge,
        judge_agreement,
        load_model,
        log_artifact,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        mlflow_import,
        mlflow_sync,
        models,
        monitor_dashboard,
        monitors,
        protect_alias,
        pull,
        push,
        rater_agreement,
        register_model,
        remotes,
        remove_deploy_hooks,
        repair,
        reproduce,
        restore_model_version,
        rollback,
        runs,
        scrub,
        set_alias,
        set_tag,
        set_tags,
        snapshot,
        start_run,
        status,
        update_model,
        update_model_version,
        verify,
        versions,
        workspace,
    )
    from nb_mlops.errors import NbMlopsError
    from nb_mlops.tracking.active import track

__all__ = [
    "NbMlopsError",
    "__version__",
    "active_run",
    "add_deploy_hook",
    "add_remote",
    "alias_history",
    "annotate",
    "archive_model_version",
    "arena",
    "checkout",
    "compare",
    "compare_versions",
    "delete_alias",
    "delete_model_version",
    "delete_run",
    "delete_version",
    "diff",
    "end_run",
    "eval_examples",
    "eval_regressions",
    "eval_scoreboard",
    "eval_side_by_side",
    "evals",
    "evaluate",
    "evaluate_rag",
    "export_model",
    "export_monitors",
    "export_record",
    "fingerprint",
    "gc",
    "get_model_version",
    "get_monitor",
    "get_run",
    "import_model",
    "init",
    "judge",
    "judge_agreement",
    "load_ipython_extension",
    "load_model",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "mlflow_import",
    "mlflow_sync",
    "models",
    "monitor",
    "monitor_dashboard",
    "monitors",
    "protect_alias",
    "pull",
    "push",
    "rater_agreement",
    "records",
    "register_model",
    "remotes",
    "remove_deploy_hooks",
    "repair",
    "reproduce",
    "restore_model_version",
    "rollback",
    "runs",
    "scrub",
    "set_alias",
    "set_tag",
    "set_tags",
    "snapshot",
    "start_run",
    "status",
    "track",
    "unload_ipython_extension",
    "update_model",
    "update_model_version",
    "verify",
    "versions",
    "workspace",
]

_ELSEWHERE = {"NbMlopsError": "nb_mlops.errors", "track": "nb_mlops.tracking.active"}
_EAGER = {"__version__", "load_ipython_extension", "unload_ipython_extension"}
_SUBPACKAGES = {"evals", "monitor", "records"}
_LAZY = {
    name: _ELSEWHERE.get(name, "nb_mlops.api")
    for name in __all__
    if name not in _EAGER | _SUBPACKAGES
}


def __getattr__(name: str) -> Any:
    """`nm.start_run` and the other verbs: imported from their module the first time."""
    if name in _SUBPACKAGES:  # `nm.evals`: the sub-package, loaded when first named
        return importlib.import_module(f"nb_mlops.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nb_mlops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup finds it without coming here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext nb_mlops`: register `%track`/`%%track`, history recording and `track`."""
    from nb_mlops.notebook.extension import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext nb_mlops`: remove the magics' hooks; runs in progress are ended."""
    from nb_mlops.notebook.extension import unload

    unload(ipython)
