"""nb-mlops: experiment tracking, data versions, a model registry, evaluation and monitoring,
inside the notebook. `%load_ext nb_mlops` in IPython/Jupyter, `import nb_mlops as nm` in Python.
"""

from nb_mlops._version import __version__
from nb_mlops.api import (
    active_run,
    add_remote,
    checkout,
    compare,
    delete_run,
    diff,
    end_run,
    gc,
    get_run,
    init,
    log_artifact,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    pull,
    push,
    remotes,
    repair,
    runs,
    set_tag,
    set_tags,
    snapshot,
    start_run,
    status,
    versions,
    workspace,
)
from nb_mlops.errors import NbMlopsError
from nb_mlops.tracking.active import track

__all__ = [
    "NbMlopsError",
    "__version__",
    "active_run",
    "add_remote",
    "checkout",
    "compare",
    "delete_run",
    "diff",
    "end_run",
    "gc",
    "get_run",
    "init",
    "load_ipython_extension",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "pull",
    "push",
    "remotes",
    "repair",
    "runs",
    "set_tag",
    "set_tags",
    "snapshot",
    "start_run",
    "status",
    "track",
    "unload_ipython_extension",
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
