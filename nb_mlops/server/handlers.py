"""The handlers of /nb-mlops/api/...: each finds the store from the request's `path`, calls a verb
of `api.py` in a worker thread with that store in use, and answers its `to_dict()` as JSON.

Reads are GET; changes (a dataset checkout, an alias move) are POST only, so jupyter_server's
XSRF check guards them. Every handler requires an authenticated user. A path outside the
server's root, or a store reached through a symlink, is refused before any file is read.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from nb_mlops import api
from nb_mlops.errors import NbMlopsError
from nb_mlops.jsonl import strict_json

PREFIX = "nb-mlops/api"
PAGE_DEFAULT = 50
PAGE_MAX = 500


class ApiError(Exception):
    """A request refused with an HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def request_folder(root: str, rel: str) -> str:
    """The folder a request's `path` (a notebook or a folder, relative to the server's root)
    stands for, resolved with symlinks; an ApiError when it leaves the root or is missing."""
    if "\x00" in rel:
        raise ApiError(400, "path holds a NUL character")
    top = os.path.realpath(root)
    full = os.path.realpath(os.path.join(top, rel.lstrip("/")))
    if full != top and not full.startswith(top + os.sep):
        raise ApiError(403, f"path {rel!r} is outside the server's root")
    if os.path.isfile(full):
        full = os.path.dirname(full)
    if not os.path.isdir(full):
        raise ApiError(404, f"no such notebook or folder: {rel!r}")
    return full


def _int_arg(value: str | None, name: str, default: int, high: int | None = None) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number, not {value[:40]!r}") from None
    if number < 0 or (high is not None and number > high):
        limit = f" up to {high}" if high is not None else ""
        raise ApiError(400, f"{name} must be a whole number from 0{limit}, not {number}")
    return number


class StoreHandler(APIHandler):
    """What every handler shares: the store of the request's path, errors as JSON."""

    def root(self) -> str:
        return str(self.settings.get("server_root_dir") or os.getcwd())

    def store(self, rel: str) -> Any:
        folder = request_folder(self.root(), rel)
        ws = api.find_store(folder, within=self.root())
        if ws is None:
            shown = rel.strip("/") or "the server's root"
            raise ApiError(404, f"no nb-mlops store at or above {shown}")
        return ws

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise ApiError(400, "the request body is not JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return data

    async def answer(self, rel: str, work: Callable[[], Any]) -> None:
        """Run `work` with the store of `rel` in use (in a thread) and send what it returned."""
        try:
            ws = self.store(rel)

            def in_store() -> Any:
                with api.using(ws):
                    result = work()
                    data = result.to_dict() if hasattr(result, "to_dict") else result
                    # the store as a path under the root (what a listing says of it otherwise,
                    # an absolute path, is not the browser's business)
                    return {**data, "store": os.path.relpath(ws.home, self.root())}

            data = await asyncio.to_thread(in_store)
        except ApiError as exc:
            self._refuse(exc.status, exc.message)
            return
        except NbMlopsError as exc:
            self._refuse(400, str(exc))
            return
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(strict_json(data))

    async def answer_body(self, plan: Callable[[dict[str, Any]], Callable[[], Any]]) -> None:
        """A POST: `plan` checks the JSON body's fields (an ApiError for a bad one) and gives
        the work, which runs as `answer` runs it, in the store of the body's `path`."""
        try:
            body = self.body()
            work = plan(body)
        except ApiError as exc:
            self._refuse(exc.status, exc.message)
            return
        await self.answer(str(body.get("path") or ""), work)

    def _refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(strict_json({"error": message}))

    def arg(self, name: str) -> str:
        return self.get_query_argument(name, "")


class RunsHandler(StoreHandler):
    """GET runs?path=&filter=&offset=&limit=: a page of the runs matching the filter (the
    grammar of `%track runs`), newest first, with the total count."""

    @tornado.web.authenticated
    async def get(self) -> None:
        try:
            query = self.get_query_argument
            offset = _int_arg(query("offset", None), "offset", 0)
            limit = _int_arg(query("limit", None), "limit", PAGE_DEFAULT, PAGE_MAX)
        except ApiError as exc:
            self._refuse(exc.status, exc.message)
            return
        wanted = self.arg("filter").strip() or None

        def page() -> dict[str, Any]:
            table = api.run_table(wanted)
            shown = table.page(offset, limit).to_dict()
            return {**shown, "total": len(table.runs), "offset": offset, "limit": limit}

        await self.answer(self.arg("path"), page)


class RunHandler(StoreHandler):
    """GET runs/ID?path=: one run in full (params, metrics and their series, cells, output)."""

    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        await self.answer(self.arg("path"), lambda: api.get_run(run_id))


class DatasetsHandler(StoreHandler):
    """GET datasets?path=: every dataset of the store with its state and its versions."""

    @tornado.web.authenticated
    async def get(self) -> None:
        def listing() -> dict[str, Any]:
            ws = api.workspace()
            out = []
            for item in api.status().to_dict()["datasets"]:
                entry = dict(item)
                try:
                    entry["versions"] = api.versions(ws.root / item["path"]).to_dict()["versions"]
                except NbMlopsError as exc:
                    entry["versions"], entry["error"] = [], str(exc)
                out.append(entry)
            return {"datasets": out}

        await self.answer(self.arg("path"), listing)


class ModelsHandler(StoreHandler):
    """GET models?path=: the registry: every model with its versions and aliases."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await self.answer(self.arg("path"), lambda: api.models())


class CheckoutHandler(StoreHandler):
    """POST checkout {path, dataset, version}: make the project hold that version (the panel
    asks the user first; a dataset with unsaved changes is refused, as `%track checkout`)."""

    @tornado.web.authenticated
    async def post(self) -> None:
        def plan(body: dict[str, Any]) -> Callable[[], Any]:
            dataset, version = _text(body, "dataset"), _version(body)
            return lambda: api.checkout(api.workspace().root / dataset, version)

        await self.answer_body(plan)


class AliasHandler(StoreHandler):
    """POST alias {path, model, alias, version, why?}: point MODEL@ALIAS at a version (promote);
    POST alias with "rollback": true and no version moves it back to where it was before."""

    @tornado.web.authenticated
    async def post(self) -> None:
        def plan(body: dict[str, Any]) -> Callable[[], Any]:
            model, alias = _text(body, "model"), _text(body, "alias")
            why = body.get("why")
            if why is not None and not isinstance(why, str):
                raise ApiError(400, "why must be text")
            if body.get("rollback") is True:
                return lambda: api.rollback(model, alias, why=why)
            version = _version(body)
            return lambda: api.set_alias(model, alias, version, why=why)

        await self.answer_body(plan)


class SummaryHandler(StoreHandler):
    """GET store?path=: the store's runs counted, with how many are running and the
    experiments. What a panel asks every few seconds while runs are running: read from the
    catalog's columns only (datasets, models, evaluations and monitors have their own calls)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        def counts() -> dict[str, Any]:
            every = api.run_table()  # one selection: its columns answer all three
            named = Counter(n for n in every.runs.values(("experiment",)) if isinstance(n, str))
            return {
                "runs": len(every.runs),
                "running": sum(s == "running" for s in every.runs.values(("status",))),
                "experiments": [{"name": n, "runs": c} for n, c in named.most_common()],
            }

        await self.answer(self.arg("path"), counts)


class EvalsHandler(StoreHandler):
    """GET evals?path=: the scoreboard of the store's evaluation runs (models x metrics)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await self.answer(self.arg("path"), lambda: api.eval_scoreboard())


class MonitorsHandler(StoreHandler):
    """GET monitors?path=: the store's monitors with their windows and alerts."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await self.answer(self.arg("path"), lambda: api.monitors())


_ACTIVE_FIELDS = ("run_id", "name", "experiment", "status", "start", "parent")


class ActiveHandler(StoreHandler):
    """GET active?path=&kernel=ID: the runs the kernel `ID` (one this server started) is
    tracking now, innermost last: what the status bar shows."""

    @tornado.web.authenticated
    async def get(self) -> None:
        kernel_id = self.arg("kernel")
        pid = self._kernel_pid(kernel_id) if kernel_id else None

        def active() -> dict[str, Any]:
            if pid is None:
                return {"kernel": kernel_id or None, "runs": []}
            host, mine = socket.gethostname(), []
            # a running run's document is at hand (its live metrics are read anyway): no
            # detail, no points are read for this question, asked every few seconds
            for doc in api.run_table("status = 'running'").runs:
                proc = doc.get("proc") or {}
                if proc.get("pid") == pid and proc.get("host") == host:
                    mine.append({k: doc.get(k) for k in _ACTIVE_FIELDS})
            mine.sort(key=lambda r: str(r.get("start") or ""))
            return {"kernel": kernel_id, "runs": mine}

        await self.answer(self.arg("path"), active)

    def _kernel_pid(self, kernel_id: str) -> int | None:
        """The process id of a kernel this server runs on this host (None: unknown here)."""
        try:
            kernel = self.kernel_manager.get_kernel(kernel_id)
        except (KeyError, tornado.web.HTTPError):  # not a kernel of this server
            return None
        pid = getattr(getattr(kernel, "provisioner", None), "pid", None)
        return pid if isinstance(pid, int) else None


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{key} is missing (text expected)")
    return value


def _version(body: dict[str, Any]) -> int | str:
    value = body.get("version")
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
        raise ApiError(400, "version is missing (a number or a name expected)")
    return value


def setup_handlers(web_app: Any) -> None:
    """Register the handlers under the server's base URL."""
    base = url_path_join(web_app.settings["base_url"], PREFIX)
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "runs"), RunsHandler),
            (url_path_join(base, "runs", r"([^/]+)"), RunHandler),
            (url_path_join(base, "datasets"), DatasetsHandler),
            (url_path_join(base, "models"), ModelsHandler),
            (url_path_join(base, "checkout"), CheckoutHandler),
            (url_path_join(base, "alias"), AliasHandler),
            (url_path_join(base, "store"), SummaryHandler),
            (url_path_join(base, "evals"), EvalsHandler),
            (url_path_join(base, "monitors"), MonitorsHandler),
            (url_path_join(base, "active"), ActiveHandler),
        ],
    )
