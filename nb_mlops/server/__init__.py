"""The jupyter_server extension: a JSON API over the stores under the server's root.

JupyterLab's MLOps panel reads it. Every request names a notebook's or a folder's path (relative
to the server's root, as the contents API does) and the store is found from there as a kernel
finds it, walking up, but never above the root: several projects with their own stores can live
under one server. Handlers are in `handlers.py`; they answer with what the verbs of `api.py`
return (`to_dict()`), as `nb-mlops ... --json` does.
"""

from __future__ import annotations

from typing import Any


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from nb_mlops.server.handlers import setup_handlers

    setup_handlers(serverapp.web_app)
    serverapp.log.info("nb-mlops: the store API is at /nb-mlops/api")
