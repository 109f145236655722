"""Loading a registered model, safely.

Reading a pickle (joblib, a whole torch module) runs code from the file. So an artifact in such a
format is read only from this store's own object, after its bytes are checked against the hash the
version recorded; and a version that came from an imported record (someone else's export) is
read only when the caller passes `trust=True`. Weights-only and native formats (a torch
state_dict, xgboost, lightgbm text) and plain files need neither.

What decides all this is the version's record in the store's catalog, read afresh: never a copy
of it a caller holds (a ModelVersion object), which may be stale or made up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nb_mlops.errors import ModelNotFound, ObjectCorrupt, RefusedError
from nb_mlops.registry import flavors
from nb_mlops.registry.names import version_uri
from nb_mlops.registry.versions import VERSIONS, ModelVersion, get_doc, materialize, version_id
from nb_mlops.store.workspace import Workspace


def load_model(ws: Workspace, ref: str | ModelVersion, *, trust: bool = False) -> Any:
    """The model a `models:/NAME/VERSION` or `models:/NAME@ALIAS` URI (or a ModelVersion) names.

    A ModelVersion is read from the store it came from (`ws` when it has none).
    """
    if isinstance(ref, ModelVersion):
        return load_version(ref.ws or ws, ref.doc, trust=trust)
    return load_version(ws, get_doc(ws, ref), trust=trust)


def load_version(ws: Workspace, doc: Mapping[str, Any], *, trust: bool = False) -> Any:
    """Read one version's artifact in its flavor (a Path for plain files and folders).

    `doc` only names the version: its record is read again from `ws`, and must still describe
    the same artifact.
    """
    doc = _current(ws, doc)
    flavor = doc["flavor"]
    art = doc["artifact"]
    uri = version_uri(doc["name"], doc["version"])
    meta = doc.get("meta") or {}
    try:
        runs_code = flavors.unpickles(flavor, art.get("file"))
    except flavors.FlavorError as exc:  # a record no registration writes: never read it
        raise RefusedError(f"{uri}: {exc}") from None
    if not runs_code:
        path = materialize(ws, doc)  # copied with its hash checked on the way
        return _read(uri, path, flavor, meta, art.get("file"))
    origin = doc.get("origin") or {}
    if origin.get("kind", "local") != "local" and not trust:
        source = origin.get("from") or "an imported record"
        raise RefusedError(
            f"{uri} came from {source}; loading it unpickles its file, which runs its code: "
            "pass trust=True if you trust where it came from"
        )
    # read once, checked against the registered hash: what is unpickled is what was checked
    data = ws.objects.read_bytes(art["md5"])
    sha = art.get("sha256")
    if sha is not None and hashlib.sha256(data).hexdigest() != sha:
        # the md5 matched but the sha256 does not: not the bytes that were registered
        raise ObjectCorrupt(
            f"{uri}: the stored file is not the one registered (its sha256 differs); "
            "refusing to unpickle it"
        )
    return _read(uri, data, flavor, meta, art["file"])


def _read(uri: str, source: Path | bytes, flavor: str, meta: Mapping[str, Any], file: Any) -> Any:
    try:
        return flavors.load(source, flavor, meta, file)
    except flavors.FlavorError as exc:
        raise flavors.FlavorError(f"cannot load {uri}: {exc}") from None
    except Exception as exc:  # the library's own error, about a file it cannot read
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise flavors.FlavorError(f"cannot load {uri} as {flavor}: {first}") from None


def _current(ws: Workspace, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The catalog's record of the version `doc` names, checked to hold the same artifact."""
    name, version = doc["name"], doc["version"]
    uri = version_uri(name, version)
    current = ws.catalog.get(VERSIONS, version_id(name, version))
    if current is None:
        get_doc(ws, uri)  # ModelNotFound naming the model or the versions it has
        raise ModelNotFound(f"{uri} is not in the store at {ws.home}")  # pragma: no cover
    held = (doc.get("artifact") or {}).get("md5")
    if current["artifact"]["md5"] != held or current["flavor"] != doc.get("flavor"):
        raise ModelNotFound(
            f"{uri} in the store at {ws.home} is not the version this record describes (its "
            "artifact differs); get it again with nm.get_model_version"
        )
    return current
