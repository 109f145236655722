"""Pushing registered models to MLflow's model registry: versions, their files, and aliases.

Each version is uploaded as an artifact of the MLflow run of the run that made it (synced
first), or of a run of its own for a version registered without one, then registered as the
next version of the same name there. A scikit-learn version is written in MLflow's own model
format (through mlflow.sklearn), so `mlflow.sklearn.load_model("models:/NAME@ALIAS")` reads it
on the other side; a version of another flavor is sent as its files, which MLflow's registry
holds but cannot load by flavor. MLflow numbers versions itself: ours are kept in the tags
`nbmlops.version` and `nbmlops.fingerprint`. Which versions and aliases the server has is read
from it at every sync (a request or two a model), never taken from the sync state, so a lost or
edited state neither registers a version twice nor leaves an alias wrong. Aliases follow ours:
set, moved back where the server's differs, and removed when we removed them (aliases others
set there on names we never had stay).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_mlops.errors import NbMlopsError, RefusedError, SyncError
from nb_mlops.redact import redact_text
from nb_mlops.registry.aliases import aliases_of
from nb_mlops.registry.load import load_version
from nb_mlops.registry.versions import model_names, versions_of
from nb_mlops.store.files import describe
from nb_mlops.store.workspace import Workspace
from nb_mlops.sync.names import MAX_TAG_VALUE, KeyFitter, fit_value, param_text
from nb_mlops.sync.report import SyncReport
from nb_mlops.sync.runs import TAG_RUN_ID, RunPush, usable_entry
from nb_mlops.sync.target import Server

__all__ = ["ModelPush", "model_run_ids"]

TAG_VERSION = "nbmlops.version"
TAG_FINGERPRINT = "nbmlops.fingerprint"
TAG_FLAVOR = "nbmlops.flavor"
HOLDER_EXPERIMENT = "nb-mlops models"
"""Where versions registered without a run get a run to hold their files."""


def model_run_ids(ws: Workspace) -> set[str]:
    """The runs that made a registered version (they are synced with the models)."""
    return {
        d["run_id"]
        for name in model_names(ws)
        for d in versions_of(ws, name)
        if d.get("run_id") and ("runs", d["run_id"]) in ws.catalog
    }


@dataclass
class ModelPush:
    """One push of the registry, after the runs (whose MLflow ids `runs` gives)."""

    ws: Workspace
    server: Server
    state: dict[str, Any]
    report: SyncReport
    runs: RunPush
    experiment: str | None = None
    remote_ids: dict[str, str] = field(default_factory=dict)

    def push(self) -> None:
        models = self.state.setdefault("models", {})
        for name in model_names(self.ws):
            docs = versions_of(self.ws, name)
            if not docs:
                continue
            entry = models.get(name)
            if not _usable(entry):
                entry = models[name] = {"versions": {}, "aliases": {}}
            try:
                self._versions(name, docs, entry)
                self._aliases(name, entry)
            except SyncError as exc:  # refused for this model: the other models go on
                if not self.server.is_refusal(exc):
                    raise
                self._note(f"model {name} not fully synced: {exc}")
            except NbMlopsError as exc:  # its files here do not read
                self._note(f"model {name} not fully synced: {exc}")
            except OSError as exc:
                self._note(f"model {name} not fully synced: {describe(exc)}")

    # -- versions ----------------------------------------------------------------------------
    def _versions(self, name: str, docs: list[dict[str, Any]], entry: dict[str, Any]) -> None:
        """Register the versions the server lacks. What it has is read from it (one request a
        model), never taken from the state file: an edited file cannot point an alias at
        another version."""
        there = self._versions_there(name)
        done: dict[str, str] = {}
        entry["versions"] = done
        for doc in docs:
            ours = str(doc["version"])
            remote = there.get((ours, str(doc.get("fingerprint") or "")))
            if remote is None:
                if not there and not done:
                    self._ensure_model(name)
                remote = self._create_version(name, doc)
                self.report.model_versions.append(f"{name}/{ours} -> version {remote}")
            done[ours] = remote

    def _ensure_model(self, name: str) -> None:
        client = self.server.client
        try:
            self.server.call(f"register model {name!r}", client.create_registered_model, name)
        except SyncError as exc:
            if not self.server.is_taken(exc):
                raise

    def _versions_there(self, name: str) -> dict[tuple[str, str], str]:
        """(our version number, its fingerprint) -> MLflow's version, for the versions of
        `name` a sync made (from this store or another: the same number from another store
        holds another model, told apart by its fingerprint)."""
        quoted = name.replace("'", "\\'")
        found = self.server.call(
            f"list the versions of {name!r}",
            self.server.client.search_model_versions,
            f"name = '{quoted}'",
        )
        out = {}
        for mv in found:
            tags = mv.tags or {}
            if tags.get(TAG_VERSION):
                key = (tags[TAG_VERSION], tags.get(TAG_FINGERPRINT, ""))
                out.setdefault(key, str(mv.version))
        return out

    def _create_version(self, name: str, doc: dict[str, Any]) -> str:
        run_entry = usable_entry(self.state.get("runs", {}).get(doc.get("run_id") or ""))
        synced = run_entry is not None and doc.get("run_id") not in self.report.skipped
        remote_run = run_entry["remote"] if synced else self._holder_run(name, doc)
        folder = f"nb_mlops/models/{name}/{doc['version']}"
        with self.ws.temp_folder("sync-model-") as tmp:
            local = Path(tmp, "model")
            flavor = self._write_model(name, doc, local)
            self.server.call(
                f"upload {name}/{doc['version']}",
                self.server.client.log_artifacts,
                remote_run,
                str(local),
                folder,
            )
        run = self.server.call("read a run", self.server.client.get_run, remote_run)
        ours = {
            TAG_VERSION: str(doc["version"]),
            TAG_FINGERPRINT: str(doc.get("fingerprint") or ""),
            TAG_FLAVOR: flavor,
        }
        fit = KeyFitter(tuple(ours))
        tags = {
            fit(key): fit_value(param_text(key, value), MAX_TAG_VALUE)
            for key, value in (doc.get("tags") or {}).items()
        }
        tags.update(ours)
        for key, sent_as in fit.changed:
            self._note(f"{name}/{doc['version']}: tag {key!r} is sent as {sent_as!r}")
        mv = self.server.call(
            f"register {name}/{doc['version']}",
            self.server.client.create_model_version,
            name,
            f"{run.info.artifact_uri}/{folder}",
            run_id=remote_run,
            tags=tags,
            description=redact_text(str(doc.get("description") or "")) or None,
            await_creation_for=0,
        )
        self.report.artifacts += 1
        return str(mv.version)

    def _holder_run(self, name: str, doc: dict[str, Any]) -> str:
        """A run to hold the files of a version registered without a run."""
        if "holder" not in self.remote_ids:
            self.remote_ids["holder"] = self.runs.experiment_id(
                self.experiment or HOLDER_EXPERIMENT
            )
        run = self.server.call(
            f"create a run for {name}/{doc['version']}",
            self.server.client.create_run,
            self.remote_ids["holder"],
            run_name=f"{name} version {doc['version']}",
            tags={TAG_RUN_ID: f"model:{name}/{doc['version']}"},
        )
        self.server.call("end a run", self.server.client.set_terminated, run.info.run_id)
        return run.info.run_id

    def _write_model(self, name: str, doc: dict[str, Any], dest: Path) -> str:
        """Write version `doc` into `dest` for upload; the flavor MLflow will know it by."""
        if doc.get("flavor") == "sklearn":
            try:
                model = load_version(self.ws, doc)
            except RefusedError:
                model = None  # an imported bundle: not unpickled without the user's word
                self._note(
                    f"{name}/{doc['version']} came from an imported bundle: sent as its files "
                    "(nb-mlops unpickles it only when told it is trusted)"
                )
            if model is not None:
                import mlflow.sklearn

                mlflow.sklearn.save_model(
                    model,
                    str(dest),
                    serialization_format="cloudpickle",
                    pip_requirements=_requirements(model),
                )
                return "sklearn"
        art = doc["artifact"]
        if art["md5"].endswith(".dir"):
            self.ws.objects.checkout_tree(art["md5"], dest)
        else:
            dest.mkdir(parents=True)
            self.ws.objects.checkout_file(
                art["md5"], dest / Path(str(art.get("file") or "model")).name
            )
        return str(doc.get("flavor") or "files")

    def _note(self, text: str) -> None:
        if text not in self.report.notes:
            self.report.notes.append(text)

    # -- aliases -----------------------------------------------------------------------------
    def _aliases(self, name: str, entry: dict[str, Any]) -> None:
        """Make the server's aliases of `name` ours: set or move each of ours, and remove those
        an earlier sync set that we no longer have (aliases set there by others stay)."""
        client = self.server.client
        want = {}
        for alias in aliases_of(self.ws, name):
            version = alias.get("version")
            remote = entry["versions"].get(str(version)) if version is not None else None
            if remote is not None:
                want[alias["alias"]] = remote
        ours_before: dict[str, str] = entry["aliases"]
        if not want and not ours_before:
            return
        model = self.server.call(f"read model {name!r}", client.get_registered_model, name)
        there = {str(k): str(v) for k, v in (model.aliases or {}).items()}
        for alias, remote in want.items():
            if there.get(alias) != remote:
                self.server.call(
                    f"set alias {name}@{alias}",
                    client.set_registered_model_alias,
                    name,
                    alias,
                    remote,
                )
                self.report.aliases.append(f"{name}@{alias} -> version {remote}")
        for alias in [a for a in ours_before if a not in want and a in there]:
            try:
                self.server.call(
                    f"remove alias {name}@{alias}",
                    client.delete_registered_model_alias,
                    name,
                    alias,
                )
            except SyncError as exc:
                if not self.server.is_missing(exc):
                    raise
            self.report.aliases.append(f"{name}@{alias} removed")
        entry["aliases"] = want


def _usable(entry: Any) -> bool:
    """Whether a model's entry from the state file has the shape this module writes (else the
    versions are found again on the server by their tags)."""
    return isinstance(entry, dict) and all(
        isinstance(entry.get(part), dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in entry[part].items())
        for part in ("versions", "aliases")
    )


def _requirements(model: Any) -> list[str]:
    """What loading the model needs: scikit-learn at the version that made it (given, so
    MLflow does not start a process to infer it)."""
    from importlib.metadata import version

    try:
        return [f"scikit-learn=={version('scikit-learn')}"]
    except Exception:  # not installed as a distribution: name it without a version
        return ["scikit-learn"]
