"""Model bundles: one version exported as a zip another store can import.

A bundle holds `nbmlops-model.json` (the version's record: flavor, fingerprint, hash, lineage,
the run's params and metrics, the environment) and the artifact under `artifact/`. Importing
checks the artifact against the recorded hash and files it as the next version of the model,
marked as imported: `load_model` then reads a pickled artifact only with `trust=True`, because
whoever made the bundle chose the code a pickle runs.

Secrets are redacted both ways (see redact.py): what an export writes (the run's params and
metrics, tags, description, the environment), and what an import brings in, since a bundle made
elsewhere, or by hand, may carry them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from nb_mlops.clock import utcnow
from nb_mlops.errors import InvalidName, NbMlopsError, ObjectCorrupt
from nb_mlops.redact import redact_mapping, redact_strings, redact_text, redact_value
from nb_mlops.registry import flavors
from nb_mlops.registry.fingerprint import FINGERPRINT_SCHEME, fingerprint
from nb_mlops.registry.names import check_name
from nb_mlops.registry.versions import (
    ModelVersion,
    clean_tags,
    content_fingerprint,
    get_doc,
    record_version,
    who,
)
from nb_mlops.store.hashing import hash_tree, md5_file, sha256_file
from nb_mlops.store.workspace import Workspace

MANIFEST = "nbmlops-model.json"
BUNDLE_FORMAT = 1
_ARTIFACT = "artifact/"
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_HASH = re.compile(r"[0-9a-f]{32}(\.dir)?")
# what reading a damaged or unusual zip member raises (bad CRC, bad deflate stream, cut short,
# encrypted, a compression this Python lacks)
_ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError)


class BundleError(NbMlopsError):
    """A file is not a model bundle this nb-mlops reads."""


def export_model(ws: Workspace, ref: str, dest: str | os.PathLike) -> Path:
    """Write one version (by URI) as a bundle at `dest` (a .zip path or a folder to put it in)."""
    doc = get_doc(ws, ref)
    dest = bundle_path(dest, f"{doc['name']}-v{doc['version']}.zip")
    manifest = _manifest(ws, doc)
    tmp = dest.with_name(f".{dest.name}.tmp-{secrets.token_hex(4)}")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
            md5 = doc["artifact"]["md5"]
            if md5.endswith(".dir"):
                for entry in ws.objects.listing(md5):
                    ws.objects.verify(entry["md5"])  # never ship damaged bytes
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


def bundle_path(dest: str | os.PathLike, default_name: str) -> Path:
    """Where a bundle goes: into `dest` when it is a folder (or ends in a separator, which
    must then exist), else at `dest`, whose folder must exist."""
    text = os.fspath(dest)
    path = Path(text)
    if path.is_dir():
        return path / default_name
    if text.endswith((os.sep, "/")):
        raise NbMlopsError(f"no such folder to export into: {text}")
    if not path.parent.is_dir():
        raise NbMlopsError(f"no such folder to export into: {path.parent}")
    return path


def check_destination(dest: str | os.PathLike) -> None:
    """Refuse, before anything changes, a bundle destination that cannot be written."""
    folder = bundle_path(dest, "bundle.zip").parent
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".nbmlops-probe-"):
            pass
    except OSError as exc:
        raise NbMlopsError(f"cannot write a bundle into {folder}: {exc.strerror or exc}") from None


def _manifest(ws: Workspace, doc: Mapping[str, Any]) -> dict[str, Any]:
    run = ws.catalog.get("runs", doc["run_id"]) if doc.get("run_id") else None
    if run is None:  # deleted since (what the version kept), or imported (what its bundle said)
        run = doc.get("run_record") or (doc.get("origin") or {}).get("run")
    run_part = None
    if isinstance(run, Mapping):
        run_part = {
            "run_id": run.get("run_id"),
            "name": redact_text(run.get("name")),
            "params": redact_mapping(run.get("params") or {}),
            "metrics": redact_value("metrics", dict(run.get("metrics") or {})),
        }
    packages = None
    ref = (doc.get("env") or {}).get("packages")
    if ref and ws.objects.has(ref):
        packages = redact_strings(json.loads(ws.objects.read_bytes(ref)))
    keep = ("name", "version", "flavor", "fingerprint", "fingerprint_kind", "fingerprint_scheme")
    return {
        "format": BUNDLE_FORMAT,
        **{k: doc.get(k) for k in keep},
        "artifact": dict(doc["artifact"]),
        "meta": redact_strings({k: v for k, v in (doc.get("meta") or {}).items() if k != "source"}),
        "description": redact_text(doc.get("description") or ""),
        "tags": redact_mapping(doc.get("tags") or {}),
        "created": doc.get("created"),
        "data": redact_strings(list(doc.get("data") or [])),
        "run": run_part,
        "env": {
            **{k: (doc.get("env") or {}).get(k) for k in ("python", "platform")},
            "packages": packages,
        },
        "exported": {"at": utcnow(), "by": who()},
    }


def import_model(
    ws: Workspace,
    path: str | os.PathLike,
    name: str | None = None,
    *,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """File a bundle as the next version of its model (or of `name`), marked as imported;
    `description` replaces the bundle's and `tags` are added to its tags.

    Everything is checked before anything is recorded: a bundle that is damaged, not a bundle,
    or whose artifact does not match its hash leaves the store's catalog as it was.
    """
    path = Path(path)
    target = None if name is None else check_name(name)
    extra_tags = clean_tags(tags)
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BundleError(f"no such bundle: {path}") from None
    except IsADirectoryError:
        raise BundleError(f"{path} is a folder, not a model bundle (a .zip file)") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{path} is not a model bundle (not a readable zip: {exc})") from None
    with zf:
        manifest = _read_manifest(zf, path)
        with ws.temp_folder("import-") as tmp:
            stored = _ingest(ws, zf, manifest, Path(tmp), path)
    # what the bundle says is text the store keeps: secrets redacted (names, shapes)
    env = dict(manifest["env"])
    packages = env.pop("packages", None)
    env = redact_strings(env)
    if packages is not None:
        env["packages"] = ws.objects.add_bytes(
            json.dumps(redact_strings(packages), sort_keys=True, indent=1).encode()
        )
    stored["meta"] = redact_strings(stored["meta"])
    origin = {
        "kind": "imported",
        "from": redact_text(path.name),
        "name": manifest["name"],
        "version": manifest.get("version"),
        "created": redact_strings(manifest.get("created")),
        "exported": redact_strings(manifest.get("exported")),
        "run": redact_value("run", manifest["run"]),
        "imported_at": utcnow(),
    }
    return record_version(
        ws,
        target or manifest["name"],
        stored,
        run_doc=None,
        data=redact_strings(manifest["data"]),
        env=env,
        description=manifest["description"] if description is None else str(description),
        tags={**manifest["tags"], **extra_tags},
        origin=origin,
    )


def _read_manifest(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    """The bundle's record, checked field by field (BundleError naming the bundle if not)."""
    try:
        raw = zf.read(MANIFEST)
    except KeyError:
        raise BundleError(f"{path} is not a model bundle (it has no {MANIFEST})") from None
    except _ZIP_READ_ERRORS as exc:
        raise BundleError(f"{path}: {MANIFEST} cannot be read from the zip ({exc})") from None
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise BundleError(f"{path}: {MANIFEST} is not valid JSON ({exc})") from None
    got = manifest.get("format") if isinstance(manifest, dict) else None
    if type(got) is not int or got != BUNDLE_FORMAT:
        raise BundleError(
            f"{path}: bundle format {got!r} is not one this nb-mlops reads ({BUNDLE_FORMAT})"
        )
    art = manifest.get("artifact")
    flavor = manifest.get("flavor")
    if not isinstance(flavor, str) or flavor not in flavors.FLAVORS or not isinstance(art, dict):
        raise BundleError(
            f"{path}: {MANIFEST} lacks a known flavor and an artifact record (flavor {flavor!r})"
        )
    try:
        check_name(manifest.get("name"))
    except InvalidName as exc:
        raise BundleError(f"{path}: {MANIFEST} names the model badly: {exc}") from None
    md5 = art.get("md5")
    if not isinstance(manifest.get("fingerprint"), str) or not isinstance(md5, str):
        raise BundleError(f"{path}: {MANIFEST} lacks the fingerprint or the artifact's hash")
    if not _HASH.fullmatch(md5):
        raise BundleError(f"{path}: {MANIFEST} gives {md5!r} as the artifact's hash")
    if md5.endswith(".dir") != (flavor == "folder"):
        what = "a folder" if md5.endswith(".dir") else "a file"
        raise BundleError(f"{path}: {MANIFEST} gives flavor {flavor!r} to {what}")
    try:
        flavors.reader(flavor, None if flavor == "folder" else art.get("file"))
    except flavors.FlavorError as exc:  # e.g. a pickle passed off as weights
        raise BundleError(f"{path}: {exc}") from None
    if not _FINGERPRINT.fullmatch(manifest["fingerprint"]):
        raise BundleError(f"{path}: {MANIFEST} gives {manifest['fingerprint']!r} as fingerprint")
    expected = {
        "description": (str, ""),
        "tags": (dict, {}),
        "data": (list, []),
        "env": (dict, {}),
        "meta": (dict, {}),
    }
    for key, (kind, empty) in expected.items():
        value = manifest.get(key)
        if value is None:
            manifest[key] = empty
        elif not isinstance(value, kind):
            raise BundleError(f"{path}: {MANIFEST} field {key!r} is not a {kind.__name__}")
    if not all(isinstance(d, dict) for d in manifest["data"]):
        raise BundleError(f"{path}: {MANIFEST} field 'data' is not a list of records")
    if not isinstance(manifest.get("run"), (dict, type(None))):
        raise BundleError(f"{path}: {MANIFEST} field 'run' is not a record")
    manifest.setdefault("run", None)
    _check_shapes(manifest, path)
    try:
        manifest["tags"] = clean_tags(manifest["tags"])
    except NbMlopsError as exc:
        raise BundleError(f"{path}: {MANIFEST} has a bad tag: {exc}") from None
    return manifest


def _member_path(name: str) -> PurePosixPath | None:
    """A bundle member's path under the artifact, or None when it would leave it."""
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or "\\" in name:
        return None
    return rel


_SCALAR = (str, int, float, bool, type(None))


def _check_shapes(manifest: Mapping[str, Any], path: Path) -> None:
    """What views and exports read inside the record has the shape they expect."""
    run = manifest.get("run") or {}
    for key in ("params", "metrics"):
        if not isinstance(run.get(key) or {}, dict):
            raise BundleError(f"{path}: {MANIFEST} field 'run.{key}' is not a record")
    for key in ("run_id", "name"):
        if not isinstance(run.get(key), (str, type(None))):
            raise BundleError(f"{path}: {MANIFEST} field 'run.{key}' is not text")
    if not all(
        isinstance((run.get("metrics") or {}).get(k), _SCALAR) for k in run.get("metrics") or {}
    ):
        raise BundleError(f"{path}: {MANIFEST} field 'run.metrics' holds more than numbers")
    for item in manifest["data"]:
        if not isinstance(item.get("path"), str) or not isinstance(item.get("version"), int):
            raise BundleError(f"{path}: {MANIFEST} field 'data' needs a path and a version each")
    if not all(isinstance(v, _SCALAR) for v in manifest["meta"].values()):
        raise BundleError(f"{path}: {MANIFEST} field 'meta' holds more than plain values")


def _ingest(
    ws: Workspace, zf: zipfile.ZipFile, manifest: Mapping[str, Any], tmp: Path, path: Path
) -> dict[str, Any]:
    """Unpack the artifact into `tmp`, check it against the recorded hash, then store it."""
    art = manifest["artifact"]
    members = [m for m in zf.infolist() if m.filename.startswith(_ARTIFACT) and not m.is_dir()]
    for member in members:
        rel = _member_path(member.filename[len(_ARTIFACT) :])
        if rel is None:
            raise BundleError(f"{path}: unsafe file name in the bundle: {member.filename!r}")
    for member in members:
        out = tmp.joinpath(*PurePosixPath(member.filename[len(_ARTIFACT) :]).parts)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(out, "xb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
        except _ZIP_READ_ERRORS as exc:
            raise ObjectCorrupt(
                f"{path}: {member.filename} is damaged ({exc}); the bundle was changed or damaged"
            ) from None
        except FileExistsError:
            raise BundleError(f"{path}: {member.filename!r} is in the bundle twice") from None
        except OSError as exc:
            raise BundleError(
                f"{path}: cannot unpack {member.filename!r}: {exc.strerror or exc}"
            ) from None
    md5 = art["md5"]
    file = art.get("file")
    sha = None
    if md5.endswith(".dir"):
        hashed = hash_tree(tmp)  # checked before anything enters the store
        got = hashed[0]
        if got == md5:
            info = ws.objects.add_tree(tmp, hashed)
        file = None
    else:
        rel = _member_path(file) if isinstance(file, str) else None
        if rel is None or not tmp.joinpath(*rel.parts).is_file():
            raise BundleError(f"{path}: the bundle does not hold its artifact {file!r}")
        got = md5_file(tmp.joinpath(*rel.parts))
        sha = sha256_file(tmp.joinpath(*rel.parts))
        claimed_sha = art.get("sha256")
        if got == md5 and claimed_sha is not None and claimed_sha != sha:
            raise ObjectCorrupt(
                f"{path}: the artifact's bytes do not match the sha256 its record gives; "
                "the bundle was changed or damaged"
            )
        if got == md5:
            info = ws.objects.add_file(tmp.joinpath(*rel.parts), md5)
    if got != md5:
        raise ObjectCorrupt(
            f"{path}: the artifact's bytes do not match the hash its record gives "
            f"({got} != {md5}); the bundle was changed or damaged"
        )
    meta = dict(manifest["meta"])
    meta["source"] = f"bundle:{path.name}"
    fp, kind = _own_fingerprint(manifest, tmp, md5, file)
    if fp is not None and fp != manifest["fingerprint"]:
        meta["claimed_fingerprint"] = manifest["fingerprint"]  # ours is what the file holds
    return {
        "flavor": manifest["flavor"],
        "artifact": {**info.to_dict(), "file": file, **({"sha256": sha} if sha else {})},
        "fingerprint": fp or manifest["fingerprint"],
        "fingerprint_kind": kind,
        "fingerprint_scheme": FINGERPRINT_SCHEME if fp else manifest.get("fingerprint_scheme"),
        "meta": meta,
    }


def _own_fingerprint(
    manifest: Mapping[str, Any], tmp: Path, md5: str, file: str | None
) -> tuple[str | None, str]:
    """The fingerprint of what the bundle holds, computed here when reading it runs no code;
    otherwise the bundle's own word for it, marked `claimed`."""
    flavor = manifest["flavor"]
    how = flavors.reader(flavor, file)
    if how == "path":
        return content_fingerprint(md5), "content"
    if flavors.unpickles(flavor, file):
        return None, "claimed"
    assert file is not None
    try:
        obj = flavors.load(tmp.joinpath(*PurePosixPath(file).parts), flavor, manifest["meta"], file)
    except Exception as exc:
        raise BundleError(f"the bundle's {flavor} artifact {file!r} does not read: {exc}") from None
    return fingerprint(obj), "state"
