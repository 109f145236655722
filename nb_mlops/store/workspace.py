"""Finding, creating, versioning and migrating the `.nbmlops/` store beside a project.

`%load_ext nb_mlops` imports this module, so what only a new, migrating or configured store needs
(settings, notices, time stamps) is imported where it is used.

The workspace root is the folder that holds `.nbmlops/`, found by walking up from the cwd like
git finds `.git`. With none, the store is made at the git root (inside a git repo) or the cwd,
with a one-line notice. `NB_MLOPS_HOME` names the `.nbmlops` folder itself.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from functools import cached_property
from pathlib import Path
from typing import Any

from nb_mlops._version import __version__
from nb_mlops.errors import StoreError, StoreVersionError
from nb_mlops.store import layout
from nb_mlops.store.catalog import SHAPES, Catalog
from nb_mlops.store.files import atomic_write, read_error, unwritable
from nb_mlops.store.journal import dumps as journal_line
from nb_mlops.store.layout import STORE_DIRNAME, RunFiles

__all__ = ["FORMAT", "STORE_DIRNAME", "RunFiles", "Workspace", "open_workspace"]

FORMAT = 3
"""Format 2: journal catalog (catalog/journal.jsonl). Format 1 was the prototype's single TinyDB
JSONStorage file (catalog/db.json); it is migrated on open."""

_GITIGNORE = """\
# The nb-mlops store stays local; share it with `nb-mlops push` or an MLflow server.
*
!.gitignore
!config.toml
"""
"""`.nbmlops/.gitignore`, written when the store is created, as `dvc init` writes its own.

What belongs in git is what a teammate's clone needs to work with the same project, and nothing
that grows or changes with each run: this file and `config.toml` (remotes and settings, shared as
`.dvc/config` is; a remote URL holding a password is refused, so no secret lands there). All the
rest stays out: `cache/` (objects, like `.dvc/cache`: they travel by push and pull), `state` (the
hash cache), the catalog, `runs/` and `history/` (records that change with every cell, would
conflict on every merge and may hold private outputs; dataset versions travel by push and pull, a
run as an exported record), `models/`, `annotations/`, `monitors/`, `locks/`, `tmp/`, `backups/` and
`format.json` (which describes the local catalog). An allow-list rather than a deny-list: a file
a later release adds to the store stays out of git until it is listed here on purpose.
"""


def find_home(start: Path | None = None) -> Path | None:
    """The existing `.nbmlops` folder for `start` (default: cwd), or None."""
    env = os.environ.get("NB_MLOPS_HOME")
    if env:
        return Path(env).expanduser().absolute()
    here = Path(start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / STORE_DIRNAME).is_dir():
            return folder / STORE_DIRNAME
    return None


def default_home(start: Path | None = None) -> Path:
    """Where a new store goes: NB_MLOPS_HOME, else the git root, else the cwd."""
    env = os.environ.get("NB_MLOPS_HOME")
    if env:
        return Path(env).expanduser().absolute()
    here = Path(start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder / STORE_DIRNAME
    return here / STORE_DIRNAME


class Workspace:
    """One store on disk: its folders, catalog, object cache and settings, and the path of
    everything else it keeps (run files, history, model copies, locks)."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.root = self.home.parent
        self.runs_dir = self.home / layout.RUNS_DIR
        self.history_dir = self.home / layout.HISTORY_DIR
        self.cache_dir = self.home / layout.CACHE_DIR
        self.eval_cache_dir = self.cache_dir / layout.EVAL_CACHE_DIR
        self.models_dir = self.home / layout.MODELS_DIR
        self.config_path = self.home / layout.CONFIG_FILE
        self.format_file = os.path.join(self.home, layout.FORMAT_FILE)
        self._locks: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Workspace({str(self.home)!r})"

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.home / layout.CATALOG_DIR, SHAPES)

    @cached_property
    def objects(self) -> Any:
        from nb_mlops.store.hashing import HashCache
        from nb_mlops.store.objects import ObjectStore

        return ObjectStore(self.cache_dir, hash_cache=HashCache(self.home / layout.STATE_FILE))

    # ------------------------------------------------------------------ settings
    @cached_property
    def _config(self) -> Any:
        from nb_mlops.store.config import ConfigFile

        return ConfigFile(self.config_path, self.writers_lock)

    @property
    def config(self) -> dict[str, Any]:
        """The settings in config.toml, re-read whenever the file changed (read-only)."""
        return self._config.read()

    def edit_config(self) -> AbstractContextManager[Any]:
        """Edit config.toml as a tomlkit document (comments kept), written whole at the end."""
        return self._config.edit()

    def writers_lock(self) -> AbstractContextManager[None]:
        """The store's writers' lock (the catalog's): one writer at a time for check-then-write."""
        return self.catalog.locked()

    # --------------------------------------------------------------------- paths
    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def run_files(self, run_id: str) -> RunFiles:
        """The files of run `run_id` (metrics, cells, output, heartbeat)."""
        return RunFiles(self.runs_dir / run_id)

    def history_file(self, session: str) -> Path:
        """The execution history of one kernel session (one JSON line per cell)."""
        return self.history_dir / f"{session}.jsonl"

    def eval_cache_file(self, key: str) -> Path:
        """The evaluator's kept answers of one model identity (`key`: hex, from the identity)."""
        if not key or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"an eval cache key is lowercase hex, not {key!r}")
        return self.eval_cache_dir / f"{key}.jsonl"

    def annotations_dir(self, task: str | None = None) -> Path:
        """The folder of annotation task `task` (a plain folder name), or of all tasks."""
        return self.named_folder(layout.ANNOTATIONS_DIR, "an annotation task", task)

    def monitor_dir(self, name: str | None = None) -> Path:
        """The folder of monitor `name` (a plain folder name), or of all monitors."""
        return self.named_folder(layout.MONITORS_DIR, "a monitor", name)

    def sync_state_file(self, key: str) -> Path:
        """The file recording what was handed over to one target (store/syncstate.py)."""
        if not layout.is_plain_name(key):
            raise ValueError(f"a sync target key is a plain file name, not {key!r}")
        return self.home / layout.SYNC_DIR / f"{key}.json"

    def named_folder(self, top: str, kind: str, name: str | None) -> Path:
        """`<store>/<top>/<name>` for a plain folder name (ValueError otherwise), or the
        folder `top` itself when `name` is None."""
        folder = self.home / top
        if name is None:
            return folder
        if not layout.is_plain_name(name):
            raise ValueError(f"{kind} name is a plain folder name, not {name!r}")
        return folder / name

    def model_dir(self, name: str, version: int) -> Path:
        """Where a model version's verified copy is checked out for loading."""
        return self.models_dir / name / str(version)

    def temp_folder(self, prefix: str) -> tempfile.TemporaryDirectory:
        """A scratch folder inside the store (same file system as the cache, so finished files
        move in cheaply), removed when the `with` block ends."""
        folder = self.home / layout.TMP_DIR
        folder.mkdir(exist_ok=True)
        return tempfile.TemporaryDirectory(prefix=prefix, dir=folder)

    @contextmanager
    def locked(self, key: str, timeout: float = 600.0) -> Iterator[None]:
        """Hold the inter-process lock named `key` (a file under `locks/`), apart from the
        catalog's, for work that is slow or must run one at a time (checkouts, deploy hooks)."""
        from nb_mlops.store.lock import StoreLock, holding

        lock = self._locks.get(key)
        if lock is None:
            safe = "".join(c if c.isalnum() or c in "._-@" else "_" for c in key)
            path = self.home / layout.LOCKS_DIR / f"{safe}.lock"
            lock = self._locks[key] = StoreLock(path, timeout)
        with holding(lock, "the lock"):
            yield

    def size(self, budget_s: float | None = None) -> int | None:
        """Bytes the store takes on disk; None when counting takes longer than `budget_s`
        (a store of many run folders, where a listing must not wait for a full walk)."""
        total = 0
        stack = [str(self.home)]
        deadline = None if budget_s is None else time.monotonic() + budget_s
        while stack:
            with os.scandir(stack.pop()) as entries:
                for seen, entry in enumerate(entries):
                    if deadline is not None and seen % 256 == 0 and time.monotonic() > deadline:
                        return None
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_size
        return total


_OPEN: dict[Path, Workspace] = {}


_FOUND: dict[tuple[str, str, str], Workspace] = {}
"""(NB_MLOPS_HOME, cwd, HOME) -> the workspace found from them (each cell looks it up twice)."""


def _place() -> tuple[str, str, str] | None:
    env = os.environ.get("NB_MLOPS_HOME") or ""
    try:
        cwd = os.getcwd()
    except OSError:  # the cwd was deleted: find_home says what to do
        return None
    return env, cwd, os.environ.get("HOME", "") if env.startswith("~") else ""


def _found_before(place: tuple[str, str, str]) -> Workspace | None:
    """The workspace found from `place` before, when finding it again gives the same one:
    without NB_MLOPS_HOME a store made since nearer the cwd wins, as in `find_home`."""
    ws = _FOUND.get(place)
    if ws is None or _OPEN.get(ws.home) is not ws:
        return None
    if not place[0]:
        folder, root = place[1], str(ws.root)
        while folder != root:
            if os.path.isdir(os.path.join(folder, STORE_DIRNAME)):
                return None
            parent = os.path.dirname(folder)
            if parent == folder:
                return None
            folder = parent
    return ws if os.path.exists(ws.format_file) else None


def open_workspace(home: Path | None = None, *, create: bool = True) -> Workspace:
    """The workspace for `home` (default: found from the cwd), created and migrated as needed."""
    if home is None:
        place = _place()
        ws = _found_before(place) if place is not None else None
        if ws is not None:
            return ws
        ws = open_workspace(find_home() or _default_or_refuse(create), create=create)
        if place is not None:
            _FOUND[place] = ws
        return ws
    home = Path(home).absolute()
    ws = _OPEN.get(home)
    fmt_file = home / layout.FORMAT_FILE
    if ws is not None and fmt_file.exists():
        return ws
    legacy = home / layout.CATALOG_DIR / layout.LEGACY_CATALOG_FILE
    if not fmt_file.exists() and not legacy.exists():
        if not create and not home.is_dir():
            raise StoreError(f"no store at {home}")
        _create(home)
    check_format(home)
    ws = Workspace(home)
    _OPEN[home] = ws
    return ws


def _default_or_refuse(create: bool) -> Path:
    """Where a new store goes when none is found; a StoreError when none may be made."""
    if not create:
        raise StoreError(
            f"no {STORE_DIRNAME} store here ({Path.cwd()}) or above; "
            "run `nb-mlops init` or set NB_MLOPS_HOME"
        )
    return default_home()


PINNED: list[Workspace] = []
"""The store `nm.init` pinned for this process (at most one)."""


def pin(ws: Workspace | None) -> None:
    """Use `ws` for this process from now on (None: find the store from the cwd again)."""
    PINNED[:] = [] if ws is None else [ws]


_USING: ContextVar[Workspace | None] = ContextVar("nb_mlops_store", default=None)


@contextmanager
def using(ws: Workspace) -> Iterator[Workspace]:
    """Use `ws` in this context only (a thread, a task): what a server answering for several
    stores at once needs, where a pin would be seen by every request."""
    token = _USING.set(ws)
    try:
        yield ws
    finally:
        _USING.reset(token)


def workspace_in_use() -> Workspace:
    """The store `using` set in this context, else the pinned one, else the one found from the
    cwd (created if none)."""
    ws = _USING.get()
    if ws is not None:
        return ws
    return PINNED[0] if PINNED else open_workspace()


def open_workspaces() -> list[Workspace]:
    """The stores this process has opened, most recent last."""
    return list(_OPEN.values())


def forget_open_workspaces() -> None:
    """Drop cached workspaces (tests and `nm.init` use it after switching stores)."""
    _OPEN.clear()
    _FOUND.clear()


def _create(home: Path) -> None:
    existed = home.is_dir()
    try:
        for sub in layout.CREATED_DIRS:
            (home / sub).mkdir(parents=True, exist_ok=True)
        if not (home / layout.GITIGNORE_FILE).exists():
            atomic_write(home / layout.GITIGNORE_FILE, _GITIGNORE)
        if not (home / layout.CONFIG_FILE).exists():
            from nb_mlops.store.config import TEMPLATE

            atomic_write(home / layout.CONFIG_FILE, TEMPLATE)
        _write_format(home)
    except OSError as exc:
        raise unwritable(home, exc) from None
    if not existed:
        from nb_mlops.notify import notify

        notify(f"created a store at {home}")


def _write_format(home: Path) -> None:
    from nb_mlops.clock import utc_seconds

    doc = {"format": FORMAT, "written_by": __version__, "updated": utc_seconds()}
    atomic_write(home / layout.FORMAT_FILE, json.dumps(doc, indent=1) + "\n")


def check_format(home: Path) -> None:
    """Refuse a newer store or a damaged format file; migrate an older store after a backup.

    The format is a positive whole number. Format 1 is the prototype's layout, whose catalog is
    `catalog/db.json`: a store that says 1 without that file is damaged, not migrated.
    """
    fmt_path = home / layout.FORMAT_FILE
    legacy = home / layout.CATALOG_DIR / layout.LEGACY_CATALOG_FILE
    if fmt_path.exists():
        try:
            doc = json.loads(fmt_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise read_error(fmt_path, exc) from None
        except ValueError:
            doc = None
        fmt = doc.get("format") if isinstance(doc, dict) else None
        if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
            got = "no format" if fmt is None else f"format {json.dumps(fmt)}"
            raise StoreError(
                f"store format file {fmt_path} is damaged ({got}; a format is a positive whole "
                f'number); it should read {{"format": {FORMAT}}} for this nb-mlops'
            )
    else:
        doc, fmt = {}, 1
    if fmt > FORMAT:
        by = doc.get("written_by", "a newer release")
        raise StoreVersionError(
            f"the store at {home} has format {fmt}, written by nb-mlops {by}; this nb-mlops "
            f"({__version__}) reads formats up to {FORMAT}: upgrade with "
            f"pip install 'nb-mlops>={by}'"
        )
    if fmt == 1 and not legacy.exists():
        journal = home / layout.CATALOG_DIR / layout.JOURNAL_FILE
        raise StoreError(
            f"the store at {home} is damaged: {fmt_path} says format 1, but the format-1 "
            f"catalog {legacy} is missing; if {journal} holds the catalog, write "
            f'{{"format": {FORMAT}}} into {fmt_path}, else put back db.json from a copy '
            f"(see {home / layout.BACKUPS_DIR})"
        )
    if fmt < FORMAT:
        migrate(home, fmt)


def migrate(home: Path, fmt: int) -> Path:
    """Back up the catalog, then bring the store from format `fmt` to FORMAT.

    The steps leave the old catalog in place until the new format is written, so a migration
    that fails (a damaged old catalog, a full disk) can simply be tried again; its backup is
    removed then, so failed attempts leave no copies behind.
    """
    from nb_mlops.clock import compact_stamp

    backup = home / layout.BACKUPS_DIR / f"format-{fmt}-{compact_stamp()}Z"
    made = False
    try:
        backup.mkdir(parents=True, exist_ok=False)
        made = True
        shutil.copytree(home / layout.CATALOG_DIR, backup / layout.CATALOG_DIR)
        for step in range(fmt, FORMAT):
            _MIGRATIONS[step](home)
        _write_format(home)
    except BaseException as exc:
        if made:
            shutil.rmtree(backup, ignore_errors=True)
            try:
                backup.parent.rmdir()  # when this was the first backup
            except OSError:
                pass  # other backups are there
        if isinstance(exc, OSError):
            raise unwritable(home, exc) from None
        raise
    for step in range(fmt, FORMAT):  # the old files, once the new format is in place
        cleanup = _CLEANUPS.get(step)
        if cleanup is not None:
            cleanup(home)
    from nb_mlops.notify import notify

    notify(f"migrated the store at {home} to format {FORMAT} (backup in {backup})")
    return backup


def _from_1(home: Path) -> None:
    """Format 1 -> 2: the single TinyDB JSON file becomes the journal, one put per document.

    The journal is written whole (a retry after a failure replaces it) and db.json stays until
    the new format is recorded (`_drop_1`)."""
    src = home / layout.CATALOG_DIR / layout.LEGACY_CATALOG_FILE
    try:
        text = src.read_text(encoding="utf-8")
    except OSError as exc:
        raise read_error(src, exc) from None
    try:
        tables = json.loads(text or "{}")
    except ValueError:
        raise StoreError(
            f"catalog file {src} (format 1) is not valid JSON; fix it or move it aside, "
            "then open the store again"
        ) from None
    if not isinstance(tables, dict) or not all(
        isinstance(docs, dict) and all(isinstance(d, dict) for d in docs.values())
        for docs in tables.values()
    ):
        raise StoreError(
            f"catalog file {src} (format 1) is not a TinyDB catalog (tables of documents); "
            "fix it or move it aside, then open the store again"
        )
    records = []
    for table, docs in tables.items():
        for int_id, doc in docs.items():
            doc_id = str(doc.get("run_id") or doc.get("id") or int_id)
            records.append({"op": "put", "tb": table, "id": doc_id, "doc": doc})
    atomic_write(
        home / layout.CATALOG_DIR / layout.JOURNAL_FILE,
        "".join(journal_line(r) + "\n" for r in records),
    )
    for sub in layout.CREATED_DIRS:
        (home / sub).mkdir(exist_ok=True)


def _drop_1(home: Path) -> None:
    """Remove format 1's catalog once the store says format 2 (a leftover is harmless)."""
    try:
        (home / layout.CATALOG_DIR / layout.LEGACY_CATALOG_FILE).unlink(missing_ok=True)
    except OSError:
        pass


def _from_2(home: Path) -> None:
    """Format 2 -> 3: a finished run of a few points may keep them in `runs/points.pack` (its
    document says where) instead of a folder of its own, and the catalog may have a checkpoint
    beside its journal. A format-2 store is already a valid format-3 one: nothing to rewrite.
    The bump keeps an older nb-mlops, which would not find packed points, from opening it."""


_MIGRATIONS: dict[int, Callable[[Path], None]] = {1: _from_1, 2: _from_2}
_CLEANUPS: dict[int, Callable[[Path], None]] = {1: _drop_1}
