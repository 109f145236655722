"""Pushing runs to an MLflow tracking server: only what it lacks, never a second copy.

Each run becomes one MLflow run tagged `nbmlops.run_id`, with its name, user, start and end,
status (MLFLOW_STATUS: a crashed run is FAILED with the tag `nbmlops.crashed`), params, tags,
every metric point with its step and time, its artifacts, the cells it executed and what they
printed (under `nb_mlops/`), and the data versions it read as dataset inputs. Child runs point
at their parent's MLflow run (`mlflow.parentRunId`), so parents go first.

What was sent is remembered per run in the sync state (store/syncstate.py): the MLflow run,
how many points of each metric, a digest of each param and tag, the artifacts and inputs, the
status, and a digest of the whole document. A finished run whose document has not changed
costs nothing (a sync with nothing new makes one request: is the server there); otherwise only
the difference is sent. For the runs with something to send the server is the authority: the
sync first lists the runs the target experiments hold with our tag, so a lost or stale state
adopts the run already there (sending it whole again, which MLflow takes without duplicating:
it keeps a metric point once, and a param logged again with its value is no change) instead of
creating another.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_mlops.errors import NbMlopsError, SyncError
from nb_mlops.redact import redact_source, redact_strings, redact_text
from nb_mlops.store.files import describe
from nb_mlops.store.hashing import map_in_threads
from nb_mlops.store.pack import read_run_cells, read_run_output, read_run_points
from nb_mlops.store.workspace import Workspace
from nb_mlops.sync.names import MAX_PARAM_VALUE, MAX_TAG_VALUE, KeyFitter, fit_value, param_text
from nb_mlops.sync.report import SyncReport
from nb_mlops.sync.target import Server
from nb_mlops.tracking import active
from nb_mlops.tracking.fields import MLFLOW_STATUS, epoch_ms

__all__ = [
    "PAGE",
    "TAG_CRASHED",
    "TAG_RUN_ID",
    "RemoteRun",
    "RunPush",
    "batches",
    "cells_script",
    "digest",
    "remote_runs",
    "usable_entry",
]

TAG_RUN_ID = "nbmlops.run_id"
TAG_CRASHED = "nbmlops.crashed"
TAG_EXPERIMENT = "nbmlops.experiment"
CELLS_ARTIFACT = "nb_mlops/cells.py"
MAX_METRICS = 1000
"""MLflow's limits on one log_batch request: metrics, params, tags, and all of them together."""
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_ENTITIES = 1000
PAGE = 1000


@dataclass(frozen=True)
class RemoteRun:
    """A run the server holds with our tag: its id, experiment and whether it was deleted."""

    run_id: str
    experiment_id: str
    deleted: bool


def remote_runs(server: Server, experiment_ids: list[str]) -> dict[str, RemoteRun]:
    """Our run id -> the MLflow run holding it, over the experiments given (deleted ones too),
    read a page of 1,000 at a time."""
    from mlflow.entities import ViewType

    found: dict[str, RemoteRun] = {}
    if not experiment_ids:
        return found
    token = None
    while True:
        page = server.call(
            "list the runs synced before",
            server.client.search_runs,
            experiment_ids,
            filter_string=f"tags.`{TAG_RUN_ID}` LIKE '%'",
            run_view_type=ViewType.ALL,
            max_results=PAGE,
            page_token=token,
        )
        for run in page:
            ours = run.data.tags.get(TAG_RUN_ID)
            if ours and ours not in found:
                deleted = run.info.lifecycle_stage == "deleted"
                found[ours] = RemoteRun(run.info.run_id, run.info.experiment_id, deleted)
        token = page.token
        if not token:
            return found


def usable_entry(entry: Any) -> dict[str, Any] | None:
    """A run's entry from the state file when it has the shape this module writes, else None
    (the run is then checked against the server and sent whole)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("remote"), str):
        return None
    sent = entry.get("sent", {})
    if not isinstance(sent, dict) or not all(
        isinstance(k, str) and type(n) is int and n >= 0 for k, n in sent.items()
    ):
        return None
    for key in ("params", "tags"):
        if not isinstance(entry.get(key, {}), dict):
            return None
    artifacts = entry.get("artifacts", [])
    if not isinstance(artifacts, list) or not all(isinstance(a, str) for a in artifacts):
        return None
    return entry


def digest(value: Any) -> str:
    """A short digest of a JSON-able value (what the state keeps instead of the value)."""
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass
class RunPush:
    """One push of runs: the server, where each experiment is, the state, the report."""

    ws: Workspace
    server: Server
    state: dict[str, Any]
    report: SyncReport
    experiment: str | None = None
    jobs: int = 4
    experiments: dict[str, str] = field(default_factory=dict)
    there: dict[str, RemoteRun] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the whole push ----------------------------------------------------------------------
    def push(self, docs: list[dict[str, Any]]) -> dict[str, str]:
        """Sync `docs` (parents are added when missing); our run id -> MLflow's."""
        docs = [d for d in self._with_parents(docs) if self._needs_sending(d)]
        if not docs:  # nothing new: not a request more
            return {k: v["remote"] for k, v in self.state.setdefault("runs", {}).items()}
        names = sorted({self._experiment_of(d) for d in docs})
        for name in names:
            self.experiments[name] = self.experiment_id(name)
        self.there = remote_runs(self.server, list(self.experiments.values()))
        for level in _levels(docs):
            map_in_threads(self._one, level, self.jobs)
        return {k: v["remote"] for k, v in self.state.setdefault("runs", {}).items()}

    def experiment_id(self, name: str) -> str:
        """The id of experiment `name` on the server, created when missing."""
        client = self.server.client
        found = self.server.call(f"find experiment {name!r}", client.get_experiment_by_name, name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                raise SyncError(
                    f"MLflow at {self.server.uri}: experiment {name!r} is deleted there; "
                    "restore it or sync to another with --experiment"
                )
            return found.experiment_id
        try:
            return self.server.call(f"create experiment {name!r}", client.create_experiment, name)
        except SyncError as exc:  # another sync created it meanwhile
            if not self.server.is_taken(exc):
                raise
            return self.server.call(
                f"find experiment {name!r}", client.get_experiment_by_name, name
            ).experiment_id

    def _experiment_of(self, doc: Mapping[str, Any]) -> str:
        return redact_text(self.experiment or str(doc.get("experiment") or "Default"))

    def _with_parents(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`docs` and every ancestor of theirs (a child's MLflow run names its parent's)."""
        have = {d["run_id"] for d in docs}
        out = list(docs)
        todo = [d.get("parent") for d in docs]
        while todo:
            parent = todo.pop()
            if not parent or parent in have:
                continue
            doc = self.ws.catalog.get("runs", parent)
            have.add(parent)
            if doc is not None:
                out.append(doc)
                todo.append(doc.get("parent"))
        return out

    # -- one run -----------------------------------------------------------------------------
    def _needs_sending(self, doc: dict[str, Any]) -> bool:
        """Whether `doc` has anything to send: not a run that came from this server, nor a
        finished run whose record has not changed since it was sent (those are counted)."""
        origin = doc.get("origin") or {}
        if origin.get("kind") == "mlflow" and origin.get("tracking_uri") == self.server.uri:
            self._skip(
                doc["run_id"], f"it came from this server (MLflow run {origin.get('run_id')})"
            )
            return False
        entry = usable_entry(self.state.setdefault("runs", {}).get(doc["run_id"]))
        if entry and doc.get("status") != "running" and entry.get("sig") == digest(doc):
            self.report.unchanged += 1
            return False
        return True

    def _one(self, doc: dict[str, Any]) -> None:
        """Sync one run. A run the server refuses (a value it will not take) or whose files
        here do not read is reported and left for the next sync; the others go on. A server
        that cannot be reached stops the sync."""
        try:
            self._sync_run(doc)
        except SyncError as exc:
            if not self.server.is_refusal(exc):
                raise
            self._skip(doc["run_id"], f"not sent: {exc}")
        except NbMlopsError as exc:  # a missing object in the cache, say
            self._skip(doc["run_id"], f"not sent: {exc}")
        except OSError as exc:  # a file that does not read
            self._skip(doc["run_id"], f"not sent: {describe(exc)}")

    def _sync_run(self, doc: dict[str, Any]) -> None:
        local = doc["run_id"]
        runs = self.state.setdefault("runs", {})
        entry = usable_entry(runs.get(local))
        remote = self.there.get(local)
        if remote is not None and remote.deleted:
            self._skip(local, f"its MLflow run {remote.run_id} is deleted there; left as it is")
            return
        sig = digest(doc) if doc.get("status") != "running" else None
        if remote is None:
            entry = {"remote": self._create(doc)}
            created = True
        else:
            if not entry or entry.get("remote") != remote.run_id:
                entry = {"remote": remote.run_id}  # adopted: everything is sent again
            created = False
        try:
            self._send(doc, entry)
        finally:  # what did go is remembered even when a later request failed
            with self._lock:
                runs[local] = entry
        entry["sig"] = sig
        with self._lock:
            (self.report.created if created else self.report.updated).append(local)
            self.report.runs[local] = entry["remote"]

    def _skip(self, local: str, why: str) -> None:
        with self._lock:
            self.report.skipped[local] = why

    def _create(self, doc: dict[str, Any]) -> str:
        exp = self.experiments[self._experiment_of(doc)]
        run = self.server.call(
            f"create the run of {doc['run_id']}",
            self.server.client.create_run,
            exp,
            start_time=int(epoch_ms(doc.get("start")) or 0) or None,
            tags={TAG_RUN_ID: doc["run_id"]},
            run_name=redact_text(str(doc.get("name") or doc["run_id"])),
        )
        return run.info.run_id

    def _send(self, doc: dict[str, Any], entry: dict[str, Any]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        remote = entry["remote"]
        params = self._params(doc, entry, KeyFitter())
        system = self._system_tags(doc)
        tags = self._tags(doc, entry, system, KeyFitter(tuple(system)))
        metrics, counts = self._metrics(doc, entry, KeyFitter())
        for p_chunk, t_chunk, m_chunk in batches(params, tags, metrics):
            self.server.call(
                f"log the params and metrics of {doc['run_id']}",
                self.server.client.log_batch,
                remote,
                metrics=[Metric(k, v, ts, step) for k, v, ts, step in m_chunk],
                params=[Param(k, v) for k, v in p_chunk],
                tags=[RunTag(k, v) for k, v in t_chunk],
            )
        entry.setdefault("params", {}).update((k, digest(v)) for k, v in params)
        entry.setdefault("tags", {}).update((k, digest(v)) for k, v in tags)
        entry["sent"] = counts
        with self._lock:
            self.report.points += len(metrics)
            self.report.params += len(params)
            self.report.tags += len(tags)
        self._inputs(doc, entry)
        self._artifacts(doc, entry)
        self._end(doc, entry)

    # -- what to send ------------------------------------------------------------------------
    def _params(
        self, doc: dict[str, Any], entry: dict[str, Any], fit: KeyFitter
    ) -> list[tuple[str, str]]:
        sent = entry.get("params", {})
        out = []
        for key, value in (doc.get("params") or {}).items():
            name = fit(key)
            text = fit_value(param_text(key, value), MAX_PARAM_VALUE)
            if name not in sent:
                out.append((name, text))
            elif sent[name] != digest(text):
                self._note(
                    f"run {doc['run_id']}: param {key!r} changed after it was synced; MLflow "
                    "keeps a param's first value"
                )
        self._renames(fit)
        return out

    def _tags(
        self, doc: dict[str, Any], entry: dict[str, Any], system: dict[str, str], fit: KeyFitter
    ) -> list[tuple[str, str]]:
        """The user's tags (none may take a name of the `system` tags) and the system tags,
        those whose value changed since they were sent."""
        sent = entry.get("tags", {})
        want = {
            fit(k): fit_value(param_text(k, v), MAX_TAG_VALUE)
            for k, v in (doc.get("tags") or {}).items()
        }
        want.update(system)
        self._renames(fit)
        return [(k, v) for k, v in want.items() if sent.get(k) != digest(v)]

    def _system_tags(self, doc: dict[str, Any]) -> dict[str, str]:
        """MLflow's own tags for our fields, and ours (`nbmlops.*`)."""
        tags = {TAG_RUN_ID: doc["run_id"], "mlflow.runName": redact_text(str(doc.get("name")))}
        if doc.get("user"):
            tags["mlflow.user"] = redact_text(str(doc["user"]))
        source = doc.get("source") or {}
        if source.get("kind") == "script" and source.get("file"):
            tags["mlflow.source.type"] = "LOCAL"
            tags["mlflow.source.name"] = redact_text(str(source["file"]))
        elif source.get("kind"):
            tags["mlflow.source.type"] = "NOTEBOOK"
        parent = doc.get("parent")
        if parent:
            parent_entry = usable_entry(self.state.get("runs", {}).get(parent))
            if parent_entry:
                tags["mlflow.parentRunId"] = parent_entry["remote"]
        if self.experiment and doc.get("experiment") != self.experiment:
            tags[TAG_EXPERIMENT] = redact_text(str(doc.get("experiment")))
        if doc.get("status") == "crashed":
            tags[TAG_CRASHED] = "true"
        return tags

    def _metrics(
        self, doc: dict[str, Any], entry: dict[str, Any], fit: KeyFitter
    ) -> tuple[list[tuple[str, float, int, int]], dict[str, int]]:
        """The points not sent yet (key, value, ms, step) and the new count per metric."""
        for run in active.active_runs():
            if run.run_id == doc["run_id"]:
                run.flush()  # this process's buffered points belong in the sync
        counts = dict(entry.get("sent") or {})
        seen: dict[str, int] = {}
        out = []
        for key, value, step, ts in read_run_points(self.ws, doc):
            n = seen[key] = seen.get(key, 0) + 1
            if n > counts.get(key, 0):
                out.append((fit(key), value, int(ts * 1000), int(step)))
        counts.update(seen)
        self._renames(fit)
        return out, counts

    def _renames(self, fit: KeyFitter) -> None:
        """Say once per name which names were sent under another (MLflow refused them as
        they were, or two of them fitted to one)."""
        for key, name in fit.changed:
            self._note(f"{key!r} is sent as {name!r} (MLflow refuses the name as it is)")

    def _note(self, text: str) -> None:
        with self._lock:
            if text not in self.report.notes:
                self.report.notes.append(text)

    # -- dataset inputs, artifacts, the end --------------------------------------------------
    def _inputs(self, doc: dict[str, Any], entry: dict[str, Any]) -> None:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        data = [d for d in doc.get("data") or () if isinstance(d, dict)]
        if not data or entry.get("inputs") == digest(data):
            return
        inputs = []
        for item in data:
            name = str(item.get("path") or item.get("name") or "dataset")
            source = {k: redact_strings(item[k]) for k in ("path", "version", "md5") if k in item}
            tags = (
                [InputTag("mlflow.data.context", redact_text(str(item["context"])))]
                if item.get("context")
                else []
            )
            dataset = Dataset(
                name=redact_text(name),
                digest=str(item.get("md5") or item.get("hash") or "")[:36],
                source_type="nb-mlops",
                source=json.dumps(source, sort_keys=True),
            )
            inputs.append(DatasetInput(dataset, tags=tags))
        self.server.call(
            f"log the data versions of {doc['run_id']}",
            self.server.client.log_inputs,
            entry["remote"],
            datasets=inputs,
        )
        entry["inputs"] = digest(data)

    def _artifacts(self, doc: dict[str, Any], entry: dict[str, Any]) -> None:
        sent = set(entry.get("artifacts") or ())
        files = [
            a for a in doc.get("artifacts") or () if f"{a.get('name')}:{a.get('md5')}" not in sent
        ]
        texts = _kept_texts(self.ws, doc)
        new_texts = {k: v for k, v in texts.items() if f"{k}:{digest(v)}" not in sent}
        if not files and not new_texts:
            return
        with self.ws.temp_folder("sync-") as tmp:
            for i, art in enumerate(files):  # each in its own folder: `a` and `a/b` can be
                self._upload_artifact(doc, entry, art, Path(tmp, "files", str(i)))
                sent.add(f"{art['name']}:{art['md5']}")
            for name, text in new_texts.items():
                path = Path(tmp, "kept", name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                self.server.call(
                    f"upload {name} of {doc['run_id']}",
                    self.server.client.log_artifact,
                    entry["remote"],
                    str(path),
                    name.rsplit("/", 1)[0],
                )
                sent.add(f"{name}:{digest(text)}")
        entry["artifacts"] = sorted(sent)
        with self._lock:
            self.report.artifacts += len(files) + len(new_texts)

    def _upload_artifact(
        self, doc: dict[str, Any], entry: dict[str, Any], art: dict, tmp: Path
    ) -> None:
        name = str(art.get("name") or "")
        parts = [p for p in name.split("/") if p not in ("", ".", "..")]
        if not parts or not isinstance(art.get("md5"), str):
            self._note(
                f"run {doc['run_id']}: artifact {name!r} has no usable name or hash; not sent"
            )
            return
        local = tmp.joinpath(*parts)
        local.parent.mkdir(parents=True, exist_ok=True)
        client = self.server.client
        if art["md5"].endswith(".dir"):  # a folder's files go under its name
            self.ws.objects.checkout_tree(art["md5"], local)
            upload, under = client.log_artifacts, "/".join(parts)
        else:  # a file goes into the folder its name gives (the top when none)
            self.ws.objects.checkout_file(art["md5"], local)
            upload, under = client.log_artifact, "/".join(parts[:-1]) or None
        self.server.call(
            f"upload artifact {name} of {doc['run_id']}", upload, entry["remote"], str(local), under
        )

    def _end(self, doc: dict[str, Any], entry: dict[str, Any]) -> None:
        status = doc.get("status")
        if status == "running" or entry.get("status") == status:
            return
        theirs = MLFLOW_STATUS.get(str(status), "FAILED")
        end = epoch_ms(doc.get("end"))
        self.server.call(
            f"end the run of {doc['run_id']}",
            self.server.client.set_terminated,
            entry["remote"],
            theirs,
            end_time=int(end) if end is not None else None,
        )
        entry["status"] = status


def _kept_texts(ws: Workspace, doc: dict[str, Any]) -> dict[str, str]:
    """The cells the run executed (a percent-format script) and what they printed, redacted
    again, by artifact name."""
    out = {}
    cells = read_run_cells(ws, doc)
    if cells:
        out[CELLS_ARTIFACT] = cells_script(doc, cells)
    for stream in ("stdout", "stderr"):
        text = read_run_output(ws, doc, stream)
        if text:
            out[f"nb_mlops/{stream}.txt"] = redact_text(text)
    return out


def cells_script(doc: Mapping[str, Any], cells: list[dict[str, Any]]) -> str:
    """The cells as a script MLflow's UI shows and jupytext or VS Code open as cells."""
    name = redact_text(str(doc.get("name")))
    lines = [f"# The cells run {name} ({doc.get('run_id')}) executed, in order (nb-mlops)"]
    for cell in cells:
        count = cell.get("n")
        label = f"In [{count}]" if count is not None else "cell"
        when = cell.get("start") or ""
        status = cell.get("status") or ""
        lines.append(f"\n# %% {label} {status} {when}".rstrip())
        lines.append(redact_source(str(cell.get("source") or "")).rstrip("\n"))
    return "\n".join(lines) + "\n"


def _levels(docs: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """`docs` in waves: top-level runs first, then their children, then theirs."""
    by_id = {d["run_id"]: d for d in docs}
    depth: dict[str, int] = {}

    def level(run_id: str, seen: frozenset = frozenset()) -> int:
        if run_id in depth:
            return depth[run_id]
        parent = by_id[run_id].get("parent")
        d = 0 if parent not in by_id or parent in seen else level(parent, seen | {run_id}) + 1
        depth[run_id] = d
        return d

    waves: dict[int, list[dict[str, Any]]] = {}
    for doc in sorted(docs, key=lambda d: str(d.get("start") or "")):
        waves.setdefault(level(doc["run_id"]), []).append(doc)
    for d in sorted(waves):
        yield waves[d]


def batches(
    params: list[tuple[str, str]],
    tags: list[tuple[str, str]],
    metrics: list[tuple[str, float, int, int]],
) -> Iterator[tuple[list, list, list]]:
    """log_batch requests within MLflow's limits: params and tags go first, metrics fill the
    rest of each request."""
    p, t, m = 0, 0, 0
    while p < len(params) or t < len(tags) or m < len(metrics):
        p_chunk = params[p : p + MAX_PARAMS]
        t_chunk = tags[t : t + MAX_TAGS]
        room = min(MAX_METRICS, MAX_ENTITIES - len(p_chunk) - len(t_chunk))
        m_chunk = metrics[m : m + room]
        p, t, m = p + len(p_chunk), t + len(t_chunk), m + len(m_chunk)
        yield p_chunk, t_chunk, m_chunk
