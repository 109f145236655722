"""Registering model versions, and reading, describing, archiving and deleting them.

A version is a catalog document in the `models` table (id `NAME/VERSION`) that points at the
artifact in the content-addressed store and keeps the model's flavor, its fingerprint, the run
that made it, the data versions that run read and the environment. Version numbers are given
under the catalog lock, so two processes registering at once get different numbers; a deleted
version's number is never given again (`registered_models` keeps the last one).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb_mlops.clock import utcnow
from nb_mlops.errors import ModelNotFound, NbMlopsError, RefusedError
from nb_mlops.redact import redact_text
from nb_mlops.registry import flavors
from nb_mlops.registry.fingerprint import FINGERPRINT_SCHEME, fingerprint, fingerprint_bytes
from nb_mlops.registry.names import LATEST, ModelRef, check_name, parse_ref, version_uri
from nb_mlops.results import Result
from nb_mlops.store.hashing import sha256_file
from nb_mlops.store.workspace import Workspace
from nb_mlops.values import clean_fields

if TYPE_CHECKING:
    from nb_mlops.tracking.run import Run

VERSIONS = "models"
MODELS = "registered_models"
ALIASES = "aliases"
ACTIVE, ARCHIVED = "active", "archived"


def who() -> str:
    """`user@host` of whoever makes a change (NB_MLOPS_USER overrides the login name)."""
    user = os.environ.get("NB_MLOPS_USER")
    if not user:
        try:
            user = getpass.getuser()
        except (OSError, KeyError):  # no login name in some containers
            user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


class ModelVersion(Result):
    """One registered version: `.name`, `.version`, `.fingerprint`, `.uri`, and the rest."""

    def __init__(self, doc: Mapping[str, Any], ws: Workspace | None = None) -> None:
        self.doc = dict(doc)
        self.ws = ws
        self.name: str = doc["name"]
        self.version: int = doc["version"]
        self.fingerprint: str = doc["fingerprint"]
        self.flavor: str = doc["flavor"]

    @property
    def uri(self) -> str:
        return version_uri(self.name, self.version)

    @property
    def run_id(self) -> str | None:
        return self.doc.get("run_id")

    @property
    def status(self) -> str:
        return self.doc.get("status", ACTIVE)

    @property
    def description(self) -> str:
        return self.doc.get("description") or ""

    @property
    def tags(self) -> dict[str, Any]:
        return dict(self.doc.get("tags") or {})

    @property
    def data(self) -> list[dict[str, Any]]:
        return list(self.doc.get("data") or [])

    @property
    def aliases(self) -> list[str]:
        """The aliases that point at this version now."""
        if self.ws is None:
            return []
        return sorted(
            d["alias"]
            for d in self.ws.catalog.find(ALIASES, "name", self.name)
            if d.get("version") == self.version
        )

    def load(self, *, trust: bool = False) -> Any:
        """The model object (see `nm.load_model`)."""
        from nb_mlops.registry.load import load_version

        if self.ws is None:
            raise NbMlopsError(f"{self.uri} is detached from its store; use nm.load_model")
        return load_version(self.ws, self.doc, trust=trust)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.doc.items() if k != "refs"}
        out["uri"] = self.uri
        out["aliases"] = self.aliases
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelVersion) and other.doc == self.doc

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"ModelVersion({self.name!r}, version={self.version}, "
            f"fingerprint={self.fingerprint[:12]!r}, flavor={self.flavor!r})"
        )

    def to_text(self) -> str:
        from nb_mlops.registry.views import version_text

        return version_text(self)

    def to_html(self) -> str:
        from nb_mlops.registry.views import version_html

        return version_html(self)


# --------------------------------------------------------------------------- reading
def version_id(name: str, version: int) -> str:
    return f"{name}/{version}"


def versions_of(ws: Workspace, name: str) -> list[dict[str, Any]]:
    """Every version document of a model, oldest first."""
    return sorted(ws.catalog.find(VERSIONS, "name", name), key=lambda d: d["version"])


def model_names(ws: Workspace) -> list[str]:
    """Every registered model's name, sorted."""
    names = {d["name"] for d in ws.catalog.docs(VERSIONS).values()}
    names.update(ws.catalog.docs(MODELS))
    return sorted(names)


def require_model(ws: Workspace, name: str) -> list[dict[str, Any]]:
    """The versions of `name`, or ModelNotFound listing the models there are."""
    check_name(name)
    docs = versions_of(ws, name)
    if docs or ws.catalog.get(MODELS, name) is not None:
        return docs
    known = model_names(ws)
    hint = f"; registered: {', '.join(known[:10])}" if known else "; none is registered yet"
    raise ModelNotFound(f"no model named {name!r}{hint}")


def get_doc(ws: Workspace, ref: str | ModelRef, version: int | str | None = None) -> dict:
    """The version document a reference names (number, alias, or latest)."""
    parsed = ref if isinstance(ref, ModelRef) else parse_ref(ref, version)
    docs = require_model(ws, parsed.name)
    if parsed.version is not None:
        doc = ws.catalog.get(VERSIONS, version_id(parsed.name, parsed.version))
        if doc is None:
            have = ", ".join(str(d["version"]) for d in docs) or "none"
            raise ModelNotFound(f"{parsed.name} has no version {parsed.version} (versions: {have})")
        return doc
    if parsed.alias in (None, LATEST):
        live = [d for d in docs if d.get("status", ACTIVE) == ACTIVE]
        if not live:
            raise ModelNotFound(f"{parsed.name} has no active version for @latest")
        return live[-1]
    alias_doc = ws.catalog.get(ALIASES, f"{parsed.name}@{parsed.alias}")
    if alias_doc is None or alias_doc.get("version") is None:
        known = sorted(
            d["alias"] for d in ws.catalog.find(ALIASES, "name", parsed.name) if d.get("version")
        )
        hint = f" (aliases: {', '.join(known)})" if known else " (it has no aliases)"
        raise ModelNotFound(f"{parsed.name} has no alias {parsed.alias!r}{hint}")
    return get_doc(ws, ModelRef(parsed.name, alias_doc["version"]))


def get_version(ws: Workspace, ref: str, version: int | str | None = None) -> ModelVersion:
    return ModelVersion(get_doc(ws, ref, version), ws)


# --------------------------------------------------------------------------- registering
def register(
    ws: Workspace,
    name: str,
    model: Any = None,
    *,
    run: Run | str | None = None,
    artifact: str | None = None,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    data: str | os.PathLike | list[str | os.PathLike] | None = None,
    flavor: str | None = None,
    origin: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Make the next version of `name` from a model object, a file or folder, or a run's artifact.

    The run defaults to the active one. Its data versions, and those of `data`, are kept as the
    version's lineage.
    """
    check_name(name)
    tag_values = clean_tags(tags)
    if flavor is not None and flavor not in flavors.FLAVORS:
        raise flavors.FlavorError(f"unknown flavor {flavor!r}; one of {', '.join(flavors.FLAVORS)}")
    run_doc = _run_doc(ws, run, needed=model is None)
    lineage = list(run_doc.get("data") or []) if run_doc else []
    if data:
        from nb_mlops.data.snapshot import resolve_inputs

        paths = [data] if isinstance(data, (str, os.PathLike)) else list(data)
        for item in resolve_inputs(ws, [str(p) for p in paths], f"model {name}"):
            if item not in lineage:
                lineage.append(item)
    with ws.temp_folder("register-") as tmp:
        if model is None:
            stored = _from_run_artifact(ws, run_doc, artifact, flavor)
        elif isinstance(model, (str, os.PathLike)):
            stored = _from_path(ws, model, flavor)
        else:
            stored = _from_object(ws, model, flavor, Path(tmp))
    return record_version(
        ws,
        name,
        stored,
        run_doc=run_doc,
        data=lineage,
        env=_environment(ws, run_doc),
        description=None if description is None else str(description),
        tags=tag_values,
        origin=origin,
    )


def record_version(
    ws: Workspace,
    name: str,
    stored: Mapping[str, Any],
    *,
    run_doc: Mapping[str, Any] | None,
    data: list[dict[str, Any]],
    env: Mapping[str, Any],
    description: str | None,
    tags: Mapping[str, Any],
    origin: Mapping[str, Any] | None,
) -> ModelVersion:
    """Write the next version of `name` for an artifact already in the store."""
    doc: dict[str, Any] = {
        "name": name,
        "created": utcnow(),
        "by": who(),
        "status": ACTIVE,
        "description": redact_text(description or ""),  # secrets redacted, as in all kept text
        "tags": dict(tags),
        **stored,
        "run_id": run_doc.get("run_id") if run_doc else None,
        "run_name": run_doc.get("name") if run_doc else None,
        "data": data,
        "env": dict(env),
        "origin": dict(origin) if origin else {"kind": "local"},
    }
    doc["refs"] = [r for r in (doc["artifact"]["md5"], env.get("packages")) if r]
    with ws.catalog.batch():  # the version, the model's counter and the run's list: one write
        version = next_version(ws, name)
        doc["version"] = version
        ws.catalog.put(VERSIONS, version_id(name, version), doc)
        _bump_model(ws, name, version)
        run = ws.catalog.get("runs", run_doc["run_id"]) if run_doc else None
        if run is not None:
            made = [*run.get("models", []), {"name": name, "version": version}]
            ws.catalog.set("runs", run["run_id"], {"models": made})
    return ModelVersion(doc, ws)


def next_version(ws: Workspace, name: str) -> int:
    """The number the next version of `name` gets (call under the catalog lock)."""
    last = (ws.catalog.get(MODELS, name) or {}).get("last_version", 0)
    for d in versions_of(ws, name):
        last = max(last, d["version"])
    return last + 1


def _bump_model(ws: Workspace, name: str, version: int) -> None:
    doc = ws.catalog.get(MODELS, name)
    if doc is None:
        ws.catalog.put(
            MODELS,
            name,
            {
                "name": name,
                "created": utcnow(),
                "description": "",
                "tags": {},
                "last_version": version,
                "hooks": [],
            },
        )
    else:
        ws.catalog.set(MODELS, name, {"last_version": max(version, doc.get("last_version", 0))})


def clean_tags(tags: Mapping[str, Any] | None) -> dict[str, Any]:
    """Tags of a model or version as stored: keys checked, values JSON-able and redacted."""
    if tags is not None and not isinstance(tags, Mapping):
        raise NbMlopsError(f"tags are a dict of names to values, got {type(tags).__name__}")
    return clean_fields("tag", tags or {})


def _run_doc(ws: Workspace, run: Run | str | None, *, needed: bool) -> dict[str, Any] | None:
    from nb_mlops.tracking import active
    from nb_mlops.tracking.query import resolve_run

    if run is None:
        current = active.current()
        if current is None:
            if needed:
                raise NbMlopsError(
                    "register a model object or a path, or name the run whose artifact to register"
                )
            return None
        run = current
    if isinstance(run, str):
        return dict(resolve_run(ws, run))
    if not hasattr(run, "run_id"):
        raise NbMlopsError(f"run= takes a run id, a run name or a Run, got {type(run).__name__}")
    doc = ws.catalog.get("runs", run.run_id)
    if doc is None:
        raise NbMlopsError(f"run {run.name} ({run.run_id}) is not in this store")
    return dict(doc)


def _from_object(ws: Workspace, model: Any, flavor: str | None, tmp: Path) -> dict[str, Any]:
    kind = flavor or flavors.detect(model)
    flavors.check_object(model, kind)
    fp = fingerprint(model)
    saved = flavors.save(model, kind, tmp)
    info = {
        **ws.objects.add_file(tmp / saved.file).to_dict(),
        "sha256": sha256_file(tmp / saved.file),
    }
    return stored_artifact(kind, info, saved.file, fp, "state", saved.meta)


def _from_path(ws: Workspace, given: str | os.PathLike, flavor: str | None) -> dict[str, Any]:
    if not os.fspath(given):
        raise ModelNotFound("an empty path names no model file or folder")
    path = Path(given)
    if not path.exists():
        raise ModelNotFound(f"no such model file or folder: {path}")
    full, home = path.resolve(), ws.home.resolve()
    if full == home or home.is_relative_to(full) or full.is_relative_to(home):
        raise RefusedError(f"{path} holds the store {ws.home} itself; register the model's files")
    kind = flavor or flavors.detect_path(path)
    if path.is_dir() != (kind == "folder"):
        what = "a folder" if path.is_dir() else "a file"
        raise flavors.FlavorError(f"{path} is {what}, which flavor {kind!r} cannot hold")
    obj = flavors.read_path(path, kind)
    meta: dict[str, Any] = {"source": str(path.absolute())}
    if obj is not None:
        if kind == "pytorch" and flavors.detect(obj) == "pytorch-state-dict":
            kind = "pytorch-state-dict"  # weights only: loads without running code
        meta["class"] = flavors.qualname(obj)
    file = None if kind == "folder" else path.name
    sha = None if file is None else sha256_file(path)
    info = ws.objects.add(path).to_dict()
    if sha is not None:
        info["sha256"] = sha
    if obj is not None:
        return stored_artifact(kind, info, file, fingerprint(obj), "state", meta)
    return stored_artifact(kind, info, file, content_fingerprint(info["md5"]), "content", meta)


def _from_run_artifact(
    ws: Workspace, run_doc: dict[str, Any] | None, artifact: str | None, flavor: str | None
) -> dict[str, Any]:
    assert run_doc is not None
    found = list(run_doc.get("artifacts") or [])
    label = f"run {run_doc.get('name')} ({run_doc['run_id']})"
    if not found:
        raise ModelNotFound(f"{label} has no artifacts; log the model with track.artifact first")
    if artifact is None:
        if len(found) > 1:
            names = ", ".join(a["name"] for a in found)
            raise NbMlopsError(f"{label} has several artifacts ({names}); name one with --artifact")
        chosen = found[0]
    else:
        chosen = next((a for a in found if artifact in (a.get("name"), a.get("path"))), None)
        if chosen is None:
            names = ", ".join(a["name"] for a in found)
            raise ModelNotFound(f"{label} has no artifact {artifact!r} (it has: {names})")
    md5 = chosen["md5"]
    isdir = md5.endswith(".dir")
    kind = flavor or ("folder" if isdir else flavors.detect_path(Path(chosen["name"])))
    if isdir != (kind == "folder"):
        raise flavors.FlavorError(f"artifact {chosen['name']!r} cannot be read as {kind!r}")
    file = None if isdir else chosen["name"]
    info = {k: chosen[k] for k in ("md5", "size", "nfiles")}
    meta: dict[str, Any] = {"source": f"run:{run_doc['run_id']}/{chosen['name']}"}
    obj = None
    if not isdir:
        info["sha256"] = sha256_file(ws.objects.path_of(md5))
    if not isdir and kind not in ("file", "folder"):
        ws.objects.verify(md5)  # our own object, checked before it is read
        obj = flavors.read_path(ws.objects.path_of(md5), kind, file)
    if obj is None:
        return stored_artifact(kind, info, file, content_fingerprint(md5), "content", meta)
    if kind == "pytorch" and flavors.detect(obj) == "pytorch-state-dict":
        kind = "pytorch-state-dict"
    meta["class"] = flavors.qualname(obj)
    return stored_artifact(kind, info, file, fingerprint(obj), "state", meta)


def content_fingerprint(md5: str) -> str:
    """The fingerprint of an artifact we do not interpret: its content."""
    return fingerprint_bytes(md5.encode())


def stored_artifact(
    kind: str, info: dict, file: str | None, fp: str, fp_kind: str, meta: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "flavor": kind,
        "artifact": {**info, "file": file},
        "fingerprint": fp,
        "fingerprint_kind": fp_kind,
        "fingerprint_scheme": FINGERPRINT_SCHEME,
        "meta": dict(meta),
    }


def _environment(ws: Workspace, run_doc: Mapping[str, Any] | None) -> dict[str, Any]:
    if run_doc and run_doc.get("env"):
        env = run_doc["env"]
        return {k: env.get(k) for k in ("python", "platform", "packages")}
    import sys

    from nb_mlops.tracking.environment import environment_ref

    return {
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "packages": environment_ref(ws),
    }


# --------------------------------------------------------------------------- changing
def update_version(
    ws: Workspace,
    ref: str,
    version: int | str | None = None,
    *,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    remove_tags: list[str] | None = None,
    status: str | None = None,
) -> ModelVersion:
    """Set a version's description, tags and status (`remove_tags` drops tags by key), all or
    nothing: every change is checked first, then written as one record. An aliased version
    cannot be archived."""
    with ws.catalog.locked():
        doc = get_doc(ws, ref, version)
        doc_id = version_id(doc["name"], doc["version"])
        changes = _described(doc, _label(doc), description, tags, remove_tags)
        if status is not None:
            if status not in (ACTIVE, ARCHIVED):
                raise NbMlopsError(f"a version's status is {ACTIVE} or {ARCHIVED}, not {status!r}")
            pointing = aliases_at(ws, doc["name"], doc["version"])
            if status == ARCHIVED and pointing:
                raise RefusedError(
                    f"{_label(doc)} is in use by {_aliases_text(doc['name'], pointing)}; "
                    "move those aliases first"
                )
            changes["status"] = status
        if changes:
            ws.catalog.set(VERSIONS, doc_id, changes)
        return ModelVersion(ws.catalog.get(VERSIONS, doc_id), ws)


def update_model(
    ws: Workspace,
    name: str,
    *,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    remove_tags: list[str] | None = None,
) -> dict[str, Any]:
    """Set a model's own description and tags (as opposed to one version's)."""
    require_model(ws, name)
    with ws.catalog.locked():
        doc = ws.catalog.get(MODELS, name) or {}
        changes = _described(doc, f"model {name}", description, tags, remove_tags)
        if changes:
            ws.catalog.set(MODELS, name, changes)
        return dict(ws.catalog.get(MODELS, name) or {})


def _described(
    doc: Mapping[str, Any],
    label: str,
    description: str | None,
    tags: Mapping[str, Any] | None,
    remove_tags: list[str] | None,
) -> dict[str, Any]:
    """The changes that set a description and add or drop tags on a document."""
    changes: dict[str, Any] = {}
    if description is not None:
        changes["description"] = redact_text(str(description))
    if tags or remove_tags:
        merged = dict(doc.get("tags") or {})
        merged.update(clean_tags(tags))
        for key in remove_tags or ():
            if key not in merged:
                raise NbMlopsError(f"{label} has no tag {key!r}")
            merged.pop(key)
        changes["tags"] = merged
    return changes


def aliases_at(ws: Workspace, name: str, version: int) -> list[str]:
    return sorted(
        d["alias"] for d in ws.catalog.find(ALIASES, "name", name) if d.get("version") == version
    )


def set_status(ws: Workspace, ref: str, version: int | str | None, status: str) -> ModelVersion:
    """Archive (retire) or restore a version; an aliased version cannot be archived."""
    return update_version(ws, ref, version, status=status)


def delete_version(ws: Workspace, ref: str, version: int | str | None = None) -> dict[str, Any]:
    """Remove a version's record; refused while an alias points at it. Its artifact stays in the
    store until `gc` finds nothing else using it."""
    with ws.catalog.locked():
        doc = get_doc(ws, ref, version)
        pointing = aliases_at(ws, doc["name"], doc["version"])
        if pointing:
            raise RefusedError(
                f"cannot delete {_label(doc)}: {_aliases_text(doc['name'], pointing)} point at it; "
                "move or remove those aliases first"
            )
        ws.catalog.delete(VERSIONS, version_id(doc["name"], doc["version"]))
    remove_materialized(ws, doc["name"], doc["version"])
    return {"name": doc["name"], "version": doc["version"]}


def _label(doc: Mapping[str, Any]) -> str:
    return f"{doc['name']} version {doc['version']}"


def _aliases_text(name: str, aliases: list[str]) -> str:
    return ", ".join(f"{name}@{a}" for a in aliases)


def materialize(ws: Workspace, doc: Mapping[str, Any]) -> Path:
    """A verified copy of a version's artifact under `.nbmlops/models/NAME/VERSION/`."""
    md5 = doc["artifact"]["md5"]
    dest = ws.model_dir(doc["name"], doc["version"])
    target = dest if md5.endswith(".dir") else dest / (doc["artifact"].get("file") or "model")
    if not target.resolve().is_relative_to(dest.resolve()):  # a record edited by hand
        raise RefusedError(f"{_label(doc)} names its file {doc['artifact']['file']!r}, outside")
    # one process at a time: a folder checkout prunes what another one is staging
    with ws.locked(f"checkout-{doc['name']}@{doc['version']}"):
        if md5.endswith(".dir"):
            ws.objects.checkout_tree(md5, dest, prune=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            ws.objects.checkout_file(md5, target)
    return target


def remove_materialized(ws: Workspace, name: str, version: int) -> None:
    shutil.rmtree(ws.model_dir(name, version), ignore_errors=True)
