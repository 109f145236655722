"""The store API under /nb-mlops/api on a real jupyter_server: pages of runs, a run, datasets,
models, checkout and alias moves; refusals without credentials, outside the root and by GET."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.utils import url_path_join
from tornado.httpclient import HTTPClientError

import nb_mlops as nm
from nb_mlops import api
from nb_mlops.store.workspace import open_workspace

pytestmark = pytest.mark.filterwarnings("error::jupyter_server.utils.JupyterServerAuthWarning")


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"nb_mlops": True}}}


class Api:
    """Requests to the extension's API, answered as (status, JSON)."""

    def __init__(self, fetch: Any, loop: Any) -> None:
        self.fetch, self.loop = fetch, loop

    def __call__(
        self, *parts: str, method: str = "GET", headers: dict | None = None, **kw: Any
    ) -> tuple[int, Any]:
        body = kw.pop("body", None)
        params = {k: v for k, v in kw.items() if v is not None}
        request = self.fetch(
            "nb-mlops",
            "api",
            *parts,
            method=method,
            params=params if method == "GET" else None,
            body=json.dumps(body) if body is not None else None,
            headers=headers,
            raise_error=False,
        )
        response = self.loop.run_until_complete(request)
        text = response.body.decode() if response.body else ""
        return response.code, json.loads(text) if text.startswith("{") else text


@pytest.fixture
def call(jp_fetch: Any, jp_asyncio_loop: Any) -> Api:
    return Api(jp_fetch, jp_asyncio_loop)


def _project(root: Path, name: str, runs: int = 0) -> Path:
    """A project folder under the server's root with a store and `runs` runs (acc = i / 10)."""
    folder = root / name
    (folder / "notebooks").mkdir(parents=True)
    (folder / "notebooks" / "train.ipynb").write_text("{}")
    ws = open_workspace(folder / ".nbmlops")
    with api.using(ws):
        for i in range(runs):
            with nm.start_run(f"{name}-{i}", params={"i": i}) as run:
                run.log_metric("acc", i / 10)
    return folder


def test_a_page_of_runs_from_a_notebooks_path(call: Api, jp_root_dir: Path) -> None:
    _project(jp_root_dir, "proj", runs=7)
    code, page = call("runs", path="proj/notebooks/train.ipynb", offset="2", limit="3")
    assert code == 200, page
    assert page["store"] == os.path.join("proj", ".nbmlops")
    assert page["total"] == 7 and page["offset"] == 2 and page["limit"] == 3
    assert [r["name"] for r in page["runs"]] == ["proj-4", "proj-3", "proj-2"]  # newest first
    assert page["runs"][0]["metrics"] == {"acc": 0.4} and page["runs"][0]["params"] == {"i": 4}
    code, matching = call("runs", path="proj", filter="metrics.acc >= 0.5")
    assert code == 200 and matching["total"] == 2 and matching["filter"] == "metrics.acc >= 0.5"
    code, rest = call("runs", path="proj", offset="6")
    assert [r["name"] for r in rest["runs"]] == ["proj-0"]


def test_several_stores_under_one_root_answer_for_themselves(call: Api, jp_root_dir: Path) -> None:
    _project(jp_root_dir, "a", runs=2)
    _project(jp_root_dir, "b", runs=3)
    assert call("runs", path="a/notebooks")[1]["total"] == 2
    assert call("runs", path="b/notebooks/train.ipynb")[1]["total"] == 3
    (jp_root_dir / "plain").mkdir()
    code, answer = call("runs", path="plain")
    assert code == 404 and answer == {"error": "no nb-mlops store at or above plain"}
    assert not (jp_root_dir / "plain" / ".nbmlops").exists()  # a lookup never makes one


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ({"filter": "metrics.acc >"}, 400, "filter"),
        ({"offset": "-1"}, 400, "offset must be a whole number from 0"),
        ({"offset": "x"}, 400, "offset must be a whole number, not 'x'"),
        ({"limit": "501"}, 400, "limit must be a whole number from 0 up to 500"),
    ],
)
def test_bad_queries_are_refused_in_one_line(
    call: Api, jp_root_dir: Path, query: dict, status: int, words: str
) -> None:
    _project(jp_root_dir, "proj", runs=1)
    code, answer = call("runs", path="proj", **query)
    assert code == status and words in answer["error"] and "\n" not in answer["error"]


def test_a_run_in_full(call: Api, jp_root_dir: Path) -> None:
    _project(jp_root_dir, "proj", runs=2)
    code, page = call("runs", path="proj")
    run_id = page["runs"][0]["run_id"]
    code, run = call("runs", run_id, path="proj")
    assert code == 200 and run["run_id"] == run_id and run["series"]["acc"][0][1] == 0.1
    code, missing = call("runs", "nosuchrun", path="proj")
    assert code == 400 and "nosuchrun" in missing["error"]


@pytest.mark.parametrize(
    "path",
    ["..", "../..", "/..", "proj/../../elsewhere", "../outside/notebooks", "link/notebooks"],
)
def test_no_path_reaches_a_store_outside_the_root(
    call: Api, jp_root_dir: Path, tmp_path: Path, path: str
) -> None:
    outside = _project(tmp_path, "outside", runs=1)  # a store beside the root, not under it
    (jp_root_dir / "link").symlink_to(outside, target_is_directory=True)
    _project(jp_root_dir, "proj", runs=1)
    code, answer = call("runs", path=path)
    assert code in (403, 404), answer
    assert "outside" in answer["error"] or "no nb-mlops store" in answer["error"]


def test_a_symlinked_store_inside_the_root_is_not_followed(
    call: Api, jp_root_dir: Path, tmp_path: Path
) -> None:
    outside = _project(tmp_path, "outside", runs=1)
    (jp_root_dir / "proj").mkdir()
    (jp_root_dir / "proj" / ".nbmlops").symlink_to(outside / ".nbmlops")
    code, answer = call("runs", path="proj")
    assert code == 404 and "no nb-mlops store" in answer["error"]


def test_a_nul_in_the_path_is_refused(call: Api, jp_root_dir: Path) -> None:
    _project(jp_root_dir, "proj")
    code, answer = call("runs", path="proj\x00/x")  # tornado turns it into a space
    assert code == 404 and answer == {"error": "no such notebook or folder: 'proj /x'"}
    body = {"path": "proj\x00", "dataset": "d.csv", "version": 1}
    code, answer = call("checkout", method="POST", body=body)
    assert code == 400 and answer == {"error": "path holds a NUL character"}


@pytest.mark.parametrize(
    ("method", "parts", "body"),
    [
        ("GET", ("runs",), None),
        ("GET", ("runs", "abc"), None),
        ("GET", ("datasets",), None),
        ("GET", ("models",), None),
        ("GET", ("store",), None),
        ("GET", ("evals",), None),
        ("GET", ("monitors",), None),
        ("GET", ("active",), None),
        ("POST", ("checkout",), {"path": "proj", "dataset": "d.csv", "version": 1}),
        ("POST", ("alias",), {"path": "proj", "model": "m", "alias": "prod", "version": 1}),
    ],
)
def test_every_handler_refuses_a_request_without_credentials(
    jp_serverapp: Any,
    http_server_client: Any,
    jp_asyncio_loop: Any,
    jp_base_url: str,
    jp_root_dir: Path,
    method: str,
    parts: tuple,
    body: Any,
) -> None:
    _project(jp_root_dir, "proj", runs=1)
    url = url_path_join(jp_base_url, "nb-mlops/api", *parts)
    url += "?path=proj" if method == "GET" else ""
    request = http_server_client.fetch(
        url, method=method, body=json.dumps(body) if body is not None else None
    )
    with pytest.raises(HTTPClientError) as info:
        jp_asyncio_loop.run_until_complete(request)
    assert info.value.code == 403
    assert len(open_workspace(jp_root_dir / "proj" / ".nbmlops").catalog.docs("models")) == 0


def test_changes_are_refused_by_get(call: Api, jp_root_dir: Path) -> None:
    _project(jp_root_dir, "proj")
    for endpoint in ("checkout", "alias"):
        code, _ = call(endpoint, path="proj")
        assert code == 405


def test_datasets_with_their_versions_and_a_checkout(call: Api, jp_root_dir: Path) -> None:
    folder = _project(jp_root_dir, "proj")
    data = folder / "data" / "table.csv"
    data.parent.mkdir()
    ws = open_workspace(folder / ".nbmlops")
    with api.using(ws):
        data.write_text("a,b\n1,2\n")
        nm.snapshot(data, "first")
        data.write_text("a,b\n1,2\n3,4\n")
        nm.snapshot(data, "second")
    code, listing = call("datasets", path="proj/notebooks/train.ipynb")
    assert code == 200, listing
    (entry,) = listing["datasets"]
    assert entry["path"] == "data/table.csv"
    assert [v["message"] for v in entry["versions"]] == ["first", "second"]
    body = {"path": "proj/notebooks", "dataset": "data/table.csv", "version": 1}
    code, done = call("checkout", method="POST", body=body)
    assert code == 200, done
    assert data.read_text() == "a,b\n1,2\n"
    escape = {"path": "proj", "dataset": "../../etc/passwd", "version": 1}
    code, refused = call("checkout", method="POST", body=escape)
    assert code == 400 and "outside the workspace" in refused["error"]
    code, refused = call("checkout", method="POST", body={"path": "proj", "dataset": "x"})
    assert code == 400 and refused == {"error": "version is missing (a number or a name expected)"}


def test_models_promote_and_rollback(call: Api, jp_root_dir: Path) -> None:
    folder = _project(jp_root_dir, "proj")
    with api.using(open_workspace(folder / ".nbmlops")):
        for c in (0.5, 1.0):
            nm.register_model("clf", {"kind": "stand-in", "c": c})
        nm.set_alias("clf", "production", 1)
    code, models = call("models", path="proj")
    assert code == 200, models
    assert "clf" in json.dumps(models)
    promote = {"path": "proj", "model": "clf", "alias": "production", "version": 2, "why": "t"}
    code, moved = call("alias", method="POST", body=promote)
    assert code == 200, moved
    with api.using(open_workspace(folder / ".nbmlops")):
        assert nm.get_model_version("models:/clf@production").version == 2
    back = {"path": "proj", "model": "clf", "alias": "production", "rollback": True}
    code, moved = call("alias", method="POST", body=back)
    assert code == 200, moved
    with api.using(open_workspace(folder / ".nbmlops")):
        assert nm.get_model_version("models:/clf@production").version == 1
    code, refused = call("alias", method="POST", body={"path": "proj", "model": "clf"})
    assert code == 400 and refused == {"error": "alias is missing (text expected)"}
    code, refused = call("alias", method="POST", body=["not", "an", "object"])
    assert code == 400 and refused == {"error": "the request body must be a JSON object"}


def test_the_store_summary_counts_what_it_holds(call: Api, jp_root_dir: Path) -> None:
    folder = _project(jp_root_dir, "proj", runs=3)
    with api.using(open_workspace(folder / ".nbmlops")):
        (folder / "d.csv").write_text("a\n1\n")
        nm.snapshot(folder / "d.csv")
        nm.register_model("clf", {"kind": "stand-in"})
        for name in ("w1", "w2"):
            with nm.start_run(name, experiment="wine"):
                pass
        running = nm.start_run("still going")
    try:
        code, summary = call("store", path="proj/notebooks/train.ipynb")
    finally:
        running.end()
    assert code == 200, summary
    assert (summary["runs"], summary["running"]) == (6, 1)
    assert summary["experiments"] == [
        {"name": "Default", "runs": 4},
        {"name": "wine", "runs": 2},
    ]
    assert call("evals", path="proj")[1]["rows"] == []
    assert call("monitors", path="proj")[1]["monitors"] == []


def test_the_runs_a_kernel_is_tracking(
    call: Api, jp_fetch: Any, jp_asyncio_loop: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """The status bar's question: which runs is the kernel of this notebook tracking now."""
    import socket

    import psutil

    folder = _project(jp_root_dir, "proj", runs=1)
    started = jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    kernel = json.loads(jp_asyncio_loop.run_until_complete(started).body)
    pid = jp_serverapp.kernel_manager.get_kernel(kernel["id"]).provisioner.pid
    ws = open_workspace(folder / ".nbmlops")
    with api.using(ws):
        run = nm.start_run("in the kernel")
    proc = {"host": socket.gethostname(), "pid": pid, "started": psutil.Process(pid).create_time()}
    ws.catalog.set("runs", run.run_id, {"proc": proc})  # as the kernel's own run would say
    try:
        code, active = call("active", path="proj", kernel=kernel["id"])
        assert code == 200, active
        assert [r["name"] for r in active["runs"]] == ["in the kernel"]
        assert call("active", path="proj", kernel="no-such-kernel")[1]["runs"] == []
        assert call("active", path="proj")[1]["runs"] == []
    finally:
        run.end()


def test_evaluations_and_monitors_with_their_alerts(call: Api, jp_root_dir: Path) -> None:
    import warnings

    import numpy as np
    import pandas as pd
    from eval_toys import CHOICE_ITEMS, Chooser
    from sklearn.linear_model import LogisticRegression

    from nb_mlops.monitor import Monitor, MonitorAlert

    folder = _project(jp_root_dir, "proj")
    ws = open_workspace(folder / ".nbmlops")
    rng = np.random.default_rng(5)
    ref = pd.DataFrame(rng.normal(size=(300, 3)), columns=["x", "y", "z"])
    label = (ref["x"] > 0).astype(int)
    with api.using(ws):
        nm.evaluate(Chooser(version="v1"), CHOICE_ITEMS, name="mc-v1")
        model = LogisticRegression().fit(ref, label)
        mon = Monitor(
            "churn", model=model, reference=ref.assign(label=label), target="label", ws=ws
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MonitorAlert)
            shifted = pd.DataFrame(rng.normal(3, 1, size=(200, 3)), columns=["x", "y", "z"])
            mon.observe(shifted, timestamp="2026-06-01T10:00:00Z")
    code, board = call("evals", path="proj")
    assert code == 200 and board["metrics"] == ["acc", "acc_norm"]
    assert board["rows"][0]["scores"]["acc"]["score"] == 1.0
    code, monitors = call("monitors", path="proj")
    (churn,) = monitors["monitors"]
    assert churn["name"] == "churn" and churn["alerts"] >= 1  # the shifted day drifted


def test_a_change_by_cookie_without_the_xsrf_token_is_refused(
    jp_serverapp: Any,
    http_server_client: Any,
    jp_asyncio_loop: Any,
    jp_base_url: str,
    jp_root_dir: Path,
) -> None:
    """A browser's session cookie alone never moves an alias: POSTs need the XSRF token too."""
    folder = _project(jp_root_dir, "proj")
    with api.using(open_workspace(folder / ".nbmlops")):
        for c in (0.5, 1.0):
            nm.register_model("clf", {"kind": "stand-in", "c": c})
        nm.set_alias("clf", "production", 1)
    token = jp_serverapp.identity_provider.token
    login = http_server_client.fetch(
        url_path_join(jp_base_url, "tree") + f"?token={token}",
        follow_redirects=False,
        raise_error=False,
    )
    response = jp_asyncio_loop.run_until_complete(login)
    cookies = [c.split(";")[0] for c in response.headers.get_list("Set-Cookie")]
    session = "; ".join(c for c in cookies if not c.startswith("_xsrf"))
    assert session, response.headers
    body = {"path": "proj", "model": "clf", "alias": "production", "version": 2}
    request = http_server_client.fetch(
        url_path_join(jp_base_url, "nb-mlops/api/alias"),
        method="POST",
        body=json.dumps(body),
        headers={"Cookie": session},
        raise_error=False,
    )
    refused = jp_asyncio_loop.run_until_complete(request)
    assert refused.code == 403, refused.body
    with api.using(open_workspace(folder / ".nbmlops")):
        assert nm.get_model_version("models:/clf@production").version == 1
    # the same cookie with the page's XSRF token (as JupyterLab sends it) is let through
    xsrf = next(c for c in cookies if c.startswith("_xsrf=")).split("=", 1)[1]
    request = http_server_client.fetch(
        url_path_join(jp_base_url, "nb-mlops/api/alias"),
        method="POST",
        body=json.dumps(body),
        headers={"Cookie": f"{session}; _xsrf={xsrf}", "X-XSRFToken": xsrf},
        raise_error=False,
    )
    allowed = jp_asyncio_loop.run_until_complete(request)
    assert allowed.code == 200, allowed.body
    with api.using(open_workspace(folder / ".nbmlops")):
        assert nm.get_model_version("models:/clf@production").version == 2
