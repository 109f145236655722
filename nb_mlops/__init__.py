"""nb-mlops: experiment tracking, data versions and a model registry, inside the notebook.

`%load_ext nb_mlops` in IPython/Jupyter, `import nb_mlops as nm` in Python, `nb-mlops` in a shell.
"""

from nb_mlops._version import __version__
from nb_mlops.api import (
    active_run,
    add_deploy_hook,
    add_remote,
    alias_history,
    archive_model_version,
    checkout,
    compare,
    compare_versions,
    delete_alias,
    delete_model_version,
    delete_run,
    diff,
    end_run,
    export_model,
    fingerprint,
    gc,
    get_model_version,
    get_run,
    import_model,
    init,
    load_model,
    log_artifact,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    models,
    protect_alias,
    pull,
    push,
    register_model,
    remotes,
    remove_deploy_hooks,
    repair,
    restore_model_version,
    rollback,
    runs,
    set_alias,
    set_tag,
    set_tags,
    snapshot,
    start_run,
    status,
    update_model,
    update_model_version,
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
    "archive_model_version",
    "checkout",
    "compare",
    "compare_versions",
    "delete_alias",
    "delete_model_version",
    "delete_run",
    "diff",
    "end_run",
    "export_model",
    "fingerprint",
    "gc",
    "get_model_version",
    "get_run",
    "import_model",
    "init",
    "load_ipython_extension",
    "load_model",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "models",
    "protect_alias",
    "pull",
    "push",
    "register_model",
    "remotes",
    "remove_deploy_hooks",
    "repair",
    "restore_model_version",
    "rollback",
    "runs",
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
    "versions",
    "workspace",
]


def load_ipython_extension(ipython):
    """`%load_ext nb_mlops`: register `%track`/`%%track`, history recording and `track`."""
    from nb_mlops.notebook.extension import load

    load(ipython)


def unload_ipython_extension(ipython):
    """`%unload_ext nb_mlops`: remove the magics' hooks; runs in progress are ended."""
    from nb_mlops.notebook.extension import unload

    unload(ipython)
