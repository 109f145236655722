"""Which files `dvc add` takes into a folder dataset, and which it leaves out.

A snapshot must hash a folder exactly as DVC 3 does, or `dvc status` says `modified` right after
it. Tried against the real dvc 3.67 (tests/data/test_dvc_interop.py), DVC walks a folder top-down
and leaves out:

- what the `.dvcignore` files say: gitignore-style rules, read from the DVC project's root down
  to each folder, a file's rules written relative to its own folder, later rules winning;
- its own rules, placed before any file's: `.git` (a folder, or the file a submodule or worktree
  leaves) and `.hg/` and `.dvc/` folders, at any depth;
- a folder holding `.dvc` (a nested DVC project), whole;
- a symbolic link to a folder: never followed, its files are not part of the dataset (a link to
  a file counts as the file it points to, under the link's name).

A folder holding a `.dvcignore` that its rules do not ignore is refused, as `dvc add` and
`dvc status` refuse it; so are a `.dvcignore` that is not UTF-8 text, a folder named
`.dvcignore` and a rule pathspec cannot read (`foo\\`).

The rules are matched as DVC matches them, including where it departs from git: a rule read from
a folder's `.dvcignore` is rewritten relative to the project's root (dropping a leading
backslash), a folder is tested both as `path` and `path/` (so `data/sub/**` leaves out `sub`
itself, and `!data/sub/x` cannot bring x back), and a path whose folder is ignored stays ignored.
Patterns are compiled by pathspec, the library DVC uses.

The project's root is the nearest folder above the dataset, up to the workspace root, holding a
`.dvc/` folder; without one (no `dvc init` yet) it is the workspace root, where `dvc init` would
put it.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb_mlops.errors import NbMlopsError, StoreError
from nb_mlops.store.files import read_error

IGNORE_FILE = ".dvcignore"
DVC_DIR = ".dvc"
BUILTIN_RULES = (".hg/", ".git/", ".git", ".dvc/")
"""The rules DVC applies before any `.dvcignore`, relative to the project's root."""

_NAMED_GROUP = re.compile(r"\(\?P<[^>]+>")


class DvcIgnoreError(NbMlopsError):
    """A `.dvcignore` file that cannot be used, or one inside a dataset (DVC refuses both)."""


@dataclass(frozen=True)
class Rule:
    """One rule, as DVC holds it: rewritten relative to the project's root."""

    pattern: str
    source: str  # `data/.dvcignore:3`, or "dvc's built-in rules"
    ignore: bool  # False for a `!` rule
    dir_only: bool
    regex: re.Pattern[str]

    def describe(self) -> str:
        return f"{self.source} (`{self.pattern}`)"


def _pattern_class() -> Any:
    """pathspec's gitignore pattern, imported on first use (it costs tens of milliseconds)."""
    try:  # pathspec >= 1, as DVC imports it
        from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern
    except ImportError:  # pragma: no cover - pathspec < 1
        from pathspec.patterns import GitWildMatchPattern as GitIgnoreSpecPattern
    return GitIgnoreSpecPattern


def _compile(pattern: str, source: str) -> Rule | None:
    """A rule, or None for a line pathspec reads as no rule (`[`, `/`)."""
    try:
        regex, ignore = _pattern_class().pattern_to_regex(pattern)
    except ValueError as exc:  # pathspec's GitIgnorePatternError / GitWildMatchPatternError
        reason = str(exc).split(":", 1)[0].strip()
        raise DvcIgnoreError(f"{source}: `{pattern}` is not a valid pattern ({reason})") from None
    if regex is None or ignore is None:
        return None
    return Rule(pattern, source, bool(ignore), pattern.endswith("/"), re.compile(regex))


def rebase(line: str, folder: str) -> str:
    """A rule written in `folder/.dvcignore`, as DVC rewrites it relative to the project's root.

    A rule with a slash before its end (other than a leading `**/`) stays anchored to `folder`;
    any other matches at every depth below it. DVC drops one leading backslash on the way.
    """
    if not folder:
        return line
    negated = line.startswith("!")
    body = line[1:] if negated else line
    if "/" in body[:-1] and not body.startswith("**/"):
        body = "/" + body.removeprefix("/").removeprefix("\\")
    else:
        body = "/**/" + body.removeprefix("**/").removeprefix("\\")
    from pathspec.util import normalize_file

    return normalize_file(("!/" if negated else "/") + folder + body)


def _last_match_regex(rules: list[tuple[int, Rule]]) -> re.Pattern[str] | None:
    """One regex trying the rules last first, each in a group named by its index: the group
    that matches (`lastgroup`) is the last rule matching, the one that decides (as in git)."""
    if not rules:
        return None
    parts = [
        f"(?P<r{i}>{_NAMED_GROUP.sub('(?:', rule.regex.pattern)})" for i, rule in reversed(rules)
    ]
    return re.compile("|".join(parts))


_UNKNOWN = object()


@functools.cache
def _builtin_rules() -> tuple[Rule, ...]:
    source = "dvc's built-in rules"
    return tuple(r for r in (_compile(p, source) for p in BUILTIN_RULES) if r is not None)


class IgnoreRules:
    """The rules in force in one folder: DVC's own, then each `.dvcignore` from the root down.

    Paths are relative to the project's root, `/`-separated. Immutable: `with_file` returns a
    new set when a folder adds rules, so folders without a `.dvcignore` share their parent's
    set and what it remembers of the folders above.
    """

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        indexed = list(enumerate(self.rules))
        self._any = _last_match_regex(indexed)
        self._files = _last_match_regex([(i, r) for i, r in indexed if not r.dir_only])
        self._folders: dict[str, Rule | None] = {}  # folder -> the rule deciding it
        self._clean: set[str] = set()  # folders neither ignored nor inside an ignored one

    @classmethod
    def builtin(cls) -> IgnoreRules:
        """A set of DVC's own rules alone (a fresh set: what a set remembers is its own)."""
        return cls(_builtin_rules())

    def _last(self, regex: re.Pattern[str] | None, path: str) -> int:
        """Index of the last rule of `regex` matching `path`, or -1."""
        m = regex.match(path) if regex is not None else None
        return int(m.lastgroup[1:]) if m is not None and m.lastgroup else -1

    def _deciding(self, path: str, is_dir: bool) -> Rule | None:
        """The last rule matching `path` itself (DVC tests a folder as `p` and `p/`; rules
        ending in `/` apply to folders only)."""
        if not is_dir:
            i = self._last(self._files, path)
            return self.rules[i] if i >= 0 else None
        known = self._folders.get(path, _UNKNOWN)
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]
        i = max(self._last(self._any, path), self._last(self._any, path + "/"))
        found = self.rules[i] if i >= 0 else None
        self._folders[path] = found
        return found

    def _folder_ignored_by(self, folder: str) -> Rule | None:
        """The rule leaving out `folder` or a folder above it (remembered when there is none)."""
        if folder in self._clean:
            return None
        parts = folder.split("/")
        for depth in range(1, len(parts) + 1):
            rule = self._deciding("/".join(parts[:depth]), True)
            if rule is not None and rule.ignore:
                return rule
        self._clean.add(folder)
        return None

    def ignored_by(self, path: str, is_dir: bool) -> Rule | None:
        """The rule leaving `path` out (its own, or one of a folder above it), or None."""
        folder = path.rpartition("/")[0]
        if folder:
            rule = self._folder_ignored_by(folder)
            if rule is not None:
                return rule
        rule = self._deciding(path, is_dir)
        return rule if rule is not None and rule.ignore else None

    def with_file(self, root: Path, folder: str) -> IgnoreRules:
        """These rules and those of `folder/.dvcignore` (when it exists and is not ignored)."""
        name = f"{folder}/{IGNORE_FILE}" if folder else IGNORE_FILE
        path = root / name
        if not os.path.lexists(path) or self.ignored_by(name, False) is not None:
            return self
        added = [
            rule
            for number, line in read_ignore_file(path, name)
            if (rule := _compile(rebase(line, folder), f"{name}:{number}")) is not None
        ]
        return IgnoreRules(self.rules + tuple(added)) if added else self


def read_ignore_file(path: Path, shown: str) -> list[tuple[int, str]]:
    """(line number, rule) of each rule line: stripped both ends, blank and `#` lines skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except UnicodeDecodeError as exc:
        raise DvcIgnoreError(
            f"cannot read {shown}: it is not UTF-8 text (byte {exc.start}); dvc refuses it as well"
        ) from None
    except IsADirectoryError:
        raise DvcIgnoreError(f"cannot read {shown}: it is a folder, not a file") from None
    except OSError as exc:
        raise DvcIgnoreError(f"cannot read {shown}: {exc.strerror or exc}") from None
    out = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append((number, line))
    return out


# ------------------------------------------------------------------------------ roots
def project_root(ws_root: Path, path: Path) -> Path:
    """The DVC project root whose rules apply to `path`: the nearest folder above it, up to
    `ws_root`, holding a `.dvc/` folder; `ws_root` when there is none."""
    for folder in Path(path).parents:
        if (folder / DVC_DIR).is_dir():
            return folder
        if folder == ws_root:
            break
    return ws_root


def rules_for(root: Path, folder: str) -> IgnoreRules:
    """The rules in force inside `folder` (relative to `root`, `/`-separated; "" for root)."""
    rules = IgnoreRules.builtin().with_file(root, "")
    if folder:
        parts = folder.split("/")
        for depth in range(1, len(parts) + 1):
            rules = rules.with_file(root, "/".join(parts[:depth]))
    return rules


def why_left_out(root: Path, rel: str, is_dir: bool) -> str | None:
    """Why `dvc add` would refuse or empty the dataset `rel` (relative to `root`), or None.

    Either a rule ignores it, or it or a folder on the way to it holds `.dvc` (a DVC project of
    its own, which dvc leaves out whole: `dvc add` records it as an empty folder).
    """
    parent = rel.rpartition("/")[0]
    rule = rules_for(root, parent).ignored_by(rel, is_dir)
    if rule is not None:
        return f"{rule.describe()} ignores it, and dvc add refuses an ignored path"
    parts = rel.split("/")
    for depth in range(1, len(parts) + 1):
        folder = "/".join(parts[:depth])
        if os.path.lexists(root / folder / DVC_DIR):
            what = "it is" if depth == len(parts) else f"it is inside {folder},"
            return (
                f"{what} a DVC project of its own ({folder}/{DVC_DIR}), which dvc leaves out "
                "whole (dvc add would record an empty folder); version it from inside that project"
            )
    return None


# ------------------------------------------------------------------------------- walks
def join(folder: str, name: str) -> str:
    """`folder/name`, relative to the project's root ("" is the root itself)."""
    return f"{folder}/{name}" if folder else name


def list_folder(path: str) -> tuple[list[os.DirEntry], list[os.DirEntry]]:
    """(folders, others) in `path`, a link counted as what it names, as os.walk counts it."""
    try:
        with os.scandir(path) as it:
            entries = list(it)
    except OSError as exc:
        raise read_error(path, exc) from exc
    dirs, files = [], []
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:  # a link loop: not a folder
            is_dir = False
        (dirs if is_dir else files).append(entry)
    return dirs, files


def walk_dataset(root: Path, folder: Path) -> list[tuple[str, os.stat_result]]:
    """(relpath with os separators, stat) of every file `dvc add` takes from `folder`.

    `root` is the project root (see `project_root`). A file's stat follows a link to it. A
    broken link, a link loop or anything that is neither file nor folder raises StoreError
    naming it (dvc stops on them too); a `.dvcignore` inside raises DvcIgnoreError.
    """
    base = folder.relative_to(root).as_posix()
    found: list[tuple[str, os.stat_result]] = []
    # (folder's path, its relpath prefix in the dataset, its path from the root, its rules)
    stack = [(str(folder), "", base, rules_for(root, base))]
    while stack:
        path, prefix, here, rules = stack.pop()
        dirs, files = list_folder(path)
        for entry in files:
            if rules.ignored_by(join(here, entry.name), False) is not None:
                continue
            if entry.name == IGNORE_FILE:
                raise DvcIgnoreError(
                    f"{join(here, IGNORE_FILE)} lies inside the dataset {base}, and dvc refuses a "
                    f"folder holding a {IGNORE_FILE} (dvc add and dvc status stop on it); move "
                    f"its rules to a {IGNORE_FILE} above {base}, or remove it"
                )
            try:
                st = entry.stat()
            except OSError as exc:
                raise read_error(entry.path, exc) from exc
            if not stat.S_ISREG(st.st_mode):
                raise StoreError(f"not a regular file or folder: {entry.path}")
            found.append((prefix + entry.name, st))
        for entry in dirs:
            inner = join(here, entry.name)
            if entry.is_symlink() or rules.ignored_by(inner, True) is not None:
                continue  # a link to a folder is never followed
            if os.path.lexists(os.path.join(entry.path, DVC_DIR)):
                continue  # a DVC project of its own: left out whole
            child = (entry.path, prefix + entry.name + os.sep, inner, rules.with_file(root, inner))
            stack.append(child)
    return found
