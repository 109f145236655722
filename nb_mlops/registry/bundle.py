"""Model bundles: one version exported as a zip another store can import.

A bundle holds `nbmlops-model.json` (the version's record: flavor, fingerprint, hash, lineage,
the run's params and metrics, the environment) and the artifact under `artifact/`. Importing
checks the artifact against the recorded hash and files it as the next version of the model,
marked as imported: `load_model` then reads a pickled artifact only with `trust=True`, because
whoever made the bundle chose the code a pickle runs.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from nb_mlops.errors import NbMlopsError, ObjectCorrupt
from nb_mlops.redact import redact_mapping
from nb_mlops.registry import flavors
from nb_mlops.registry.names import check_name
from nb_mlops.registry.versions import (
    ModelVersion,
    get_doc,
    record_version,
    utcnow,
    who,
)
from nb_mlops.store.hashing import md5_file
from nb_mlops.store.workspace import Workspace

MANIFEST = "nbmlops-model.json"
BUNDLE_FORMAT = 1
_ARTIFACT = "artifact/"


class BundleError(NbMlopsError):
    """A file is not a model bundle this nb-mlops reads."""


def export_model(ws: Workspace, ref: str, dest: str | os.PathLike) -> Path:
    """Write one version (by URI) as a bundle at `dest` (a .zip path or a folder to put it in)."""
    doc = get_doc(ws, ref)
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / f"{doc['name']}-v{doc['version']}.zip"
    manifest = _manifest(ws, doc)
    tmp = dest.with_name(f".{dest.name}.tmp-{secrets.token_hex(4)}")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
            md5 = doc["artifact"]["md5"]
            if md5.endswith(".dir"):
                for entry in ws.objects.listing(md5):
                    zf.write(ws.objects.path_of(entry["md5"]), _ARTIFACT + entry["relpath"])
            else:
                ws.objects.verify(md5)
                zf.write(ws.objects.path_of(md5), _ARTIFACT + doc["artifact"]["file"])
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise NbMlopsError(f"cannot write the bundle {dest}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _manifest(ws: Workspace, doc: Mapping[str, Any]) -> dict[str, Any]:
    run = ws.catalog.get("runs", doc["run_id"]) if doc.get("run_id") else None
    run_part = (doc.get("origin") or {}).get("run")
    if run is not None:
        run_part = {
            "run_id": run["run_id"],
            "name": run.get("name"),
            "params": redact_mapping(run.get("params") or {}),
            "metrics": dict(run.get("metrics") or {}),
        }
    packages = None
    ref = (doc.get("env") or {}).get("packages")
    if ref and ws.objects.has(ref):
        packages = json.loads(ws.objects.read_bytes(ref))
    keep = ("name", "version", "flavor", "fingerprint", "fingerprint_kind", "fingerprint_scheme")
    return {
        "format": BUNDLE_FORMAT,
        **{k: doc.get(k) for k in keep},
        "artifact": dict(doc["artifact"]),
        "meta": {k: v for k, v in (doc.get("meta") or {}).items() if k != "source"},
        "description": doc.get("description") or "",
        "tags": redact_mapping(doc.get("tags") or {}),
        "created": doc.get("created"),
        "data": list(doc.get("data") or []),
        "run": run_part,
        "env": {
            **{k: (doc.get("env") or {}).get(k) for k in ("python", "platform")},
            "packages": packages,
        },
        "exported": {"at": utcnow(), "by": who()},
    }


def import_model(ws: Workspace, path: str | os.PathLike, name: str | None = None) -> ModelVersion:
    """File a bundle as the next version of its model (or of `name`), marked as imported."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BundleError(f"no such bundle: {path}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{path} is not a model bundle (not a readable zip: {exc})") from None
    with zf:
        manifest = _read_manifest(zf, path)
        target = check_name(name or manifest["name"])
        tmp_root = ws.home / "tmp"
        tmp_root.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="import-", dir=tmp_root) as tmp:
            stored = _ingest(ws, zf, manifest, Path(tmp), path)
    env = dict(manifest.get("env") or {})
    packages = env.pop("packages", None)
    if packages is not None:
        env["packages"] = ws.objects.add_bytes(
            json.dumps(packages, sort_keys=True, indent=1).encode()
        )
    origin = {
        "kind": "imported",
        "from": path.name,
        "name": manifest["name"],
        "version": manifest.get("version"),
        "created": manifest.get("created"),
        "exported": manifest.get("exported"),
        "run": manifest.get("run"),
        "imported_at": utcnow(),
    }
    return record_version(
        ws,
        target,
        stored,
        run_doc=None,
        data=list(manifest.get("data") or []),
        env=env,
        description=manifest.get("description"),
        tags=manifest.get("tags") or {},
        origin=origin,
    )


def _read_manifest(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(zf.read(MANIFEST))
    except KeyError:
        raise BundleError(f"{path} is not a model bundle (it has no {MANIFEST})") from None
    except ValueError as exc:
        raise BundleError(f"{path}: {MANIFEST} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise BundleError(f"{path}: bundle format {got!r} is not one this nb-mlops reads (1)")
    art = manifest.get("artifact")
    if manifest.get("flavor") not in flavors.FLAVORS or not isinstance(art, dict):
        raise BundleError(f"{path}: {MANIFEST} lacks a known flavor and an artifact record")
    check_name(manifest.get("name"))
    if not isinstance(manifest.get("fingerprint"), str) or not isinstance(art.get("md5"), str):
        raise BundleError(f"{path}: {MANIFEST} lacks the fingerprint or the artifact's hash")
    return manifest


def _ingest(
    ws: Workspace, zf: zipfile.ZipFile, manifest: Mapping[str, Any], tmp: Path, path: Path
) -> dict[str, Any]:
    art = manifest["artifact"]
    members = [m for m in zf.infolist() if m.filename.startswith(_ARTIFACT) and not m.is_dir()]
    for member in members:
        rel = PurePosixPath(member.filename[len(_ARTIFACT) :])
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise BundleError(f"{path}: unsafe file name in the bundle: {member.filename!r}")
        out = tmp.joinpath(*rel.parts)
        out.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(member) as src, open(out, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    md5 = art["md5"]
    if md5.endswith(".dir"):
        info = ws.objects.add_tree(tmp)
        got = info.md5
    else:
        file = art.get("file")
        if not file or "/" in file or file in (".", "..") or not (tmp / file).is_file():
            raise BundleError(f"{path}: the bundle does not hold its artifact {file!r}")
        got = md5_file(tmp / file)
        if got == md5:
            info = ws.objects.add_file(tmp / file, md5)
    if got != md5:
        raise ObjectCorrupt(
            f"{path}: the artifact's bytes do not match the hash its record gives "
            f"({got} != {md5}); the bundle was changed or damaged"
        )
    meta = dict(manifest.get("meta") or {})
    meta["source"] = f"bundle:{path.name}"
    return {
        "flavor": manifest["flavor"],
        "artifact": {**info.to_dict(), "file": art.get("file")},
        "fingerprint": manifest["fingerprint"],
        "fingerprint_kind": manifest.get("fingerprint_kind", "state"),
        "fingerprint_scheme": manifest.get("fingerprint_scheme"),
        "meta": meta,
    }
