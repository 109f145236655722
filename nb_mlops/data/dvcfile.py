"""`PATH.dvc` files, written exactly as DVC 3 writes them and read back strictly.

A `.dvc` file is what git tracks in place of the data: the hash, size and (for a folder) file
count of the one version the workspace should hold. Only DVC's own fields go in `outs`; our
extras (message, row count, schema) live in the catalog.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb_mlops.errors import NbMlopsError
from nb_mlops.store.files import atomic_write

_HASH = re.compile(r"[0-9a-f]{32}(\.dir)?")


class DvcFileError(NbMlopsError):
    """A `.dvc` file that cannot be used (invalid YAML, no outs, a hash that is not md5)."""


@dataclass(frozen=True)
class DvcOut:
    """The one output a `.dvc` file describes."""

    md5: str
    size: int | None
    nfiles: int | None
    path: str

    @property
    def isdir(self) -> bool:
        return self.md5.endswith(".dir")


def dvc_path(data_path: Path) -> Path:
    """`data.csv` -> `data.csv.dvc`, beside the data."""
    return data_path.with_name(data_path.name + ".dvc")


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip mode writes block style, unicode as is, like DVC
    return yaml


def write_dvcfile(data_path: Path, md5: str, size: int, nfiles: int | None) -> Path:
    """Write `data_path.dvc` describing this version (atomically: old file or new, never half)."""
    out: dict[str, Any] = {"md5": md5, "size": size}
    if md5.endswith(".dir"):
        out["nfiles"] = nfiles
    out["hash"] = "md5"
    out["path"] = data_path.name
    buf = io.StringIO()
    _yaml().dump({"outs": [out]}, buf)
    target = dvc_path(data_path)
    atomic_write(target, buf.getvalue())
    return target


_parsed: dict[str, tuple[tuple[int, int, int], DvcOut]] = {}


def read_dvcfile(path: Path) -> DvcOut:
    """The output of a `.dvc` file; a one-line DvcFileError naming the file when it is unusable.

    Parsed files are remembered by (inode, mtime_ns, size): YAML parsing costs milliseconds, and
    status and snapshot read the same file several times.
    """
    try:
        st = os.stat(path)
    except OSError:
        st = None
    key = (st.st_ino, st.st_mtime_ns, st.st_size) if st else None
    hit = _parsed.get(str(path))
    if key is not None and hit is not None and hit[0] == key:
        return hit[1]
    out = _read_dvcfile(path)
    if key is not None:
        _parsed[str(path)] = (key, out)
    return out


def _read_dvcfile(path: Path) -> DvcOut:
    from ruamel.yaml.error import YAMLError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DvcFileError(f"no such .dvc file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DvcFileError(f"cannot read {path}: {exc}") from None
    try:
        doc = _yaml().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise DvcFileError(
            f"{path} is not valid YAML{where}; restore it with git (`git checkout -- {path}`) "
            "or snapshot the data again"
        ) from None
    outs = doc.get("outs") if isinstance(doc, dict) else None
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], dict):
        raise DvcFileError(f"{path} does not describe exactly one output under `outs`")
    out = outs[0]
    md5 = out.get("md5")
    if not isinstance(md5, str) or not _HASH.fullmatch(md5):
        kind = out.get("hash") or ("etag" if "etag" in out else "unknown")
        raise DvcFileError(f"{path} has no md5 hash this store can use (hash: {kind})")
    size = out.get("size")
    nfiles = out.get("nfiles")
    return DvcOut(
        md5=md5,
        size=int(size) if isinstance(size, int) else None,
        nfiles=int(nfiles) if isinstance(nfiles, int) else None,
        path=str(out.get("path") or ""),
    )


def _gitignore_entry(name: str) -> str:
    """`/name` with git's special characters escaped (a file named `*.csv` stays literal)."""
    escaped = re.sub(r"([*?\[\]\\])", r"\\\1", name)
    if escaped[:1] in ("#", "!"):
        escaped = "\\" + escaped
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped


def ensure_gitignored(data_path: Path) -> bool:
    """Add the data to the `.gitignore` beside it (as `dvc add` does); True when it was added."""
    gitignore = data_path.parent / ".gitignore"
    entry = _gitignore_entry(data_path.name)
    text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    if entry in text.splitlines():
        return False
    if text and not text.endswith("\n"):
        text += "\n"
    atomic_write(gitignore, text + entry + "\n")
    return True
