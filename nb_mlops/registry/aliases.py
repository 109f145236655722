"""Aliases (`production`, `staging`, `champion`, ...): moving them, their history, rollback.

Each alias is one catalog document (`aliases` table, id `NAME@ALIAS`) that holds where it points
now and every move it has made: when, from which version to which, by whom and why, and what the
deploy hooks did. A move is read-check-write under the catalog lock and lands as one record, so
two processes moving the same alias at once are put in some order: both moves are in the history
and the alias ends where the later one put it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nb_mlops.clock import utcnow
from nb_mlops.errors import ModelNotFound, NbMlopsError, RefusedError
from nb_mlops.redact import redact_text
from nb_mlops.registry.names import check_alias, check_name, version_uri
from nb_mlops.registry.versions import (
    ACTIVE,
    ALIASES,
    VERSIONS,
    require_model,
    version_id,
    who,
)
from nb_mlops.results import Result
from nb_mlops.store.workspace import Workspace

EVENTS = ("set", "rollback", "remove", "protect", "unprotect")


@dataclass(repr=False)
class AliasMove(Result):
    """What one alias change did: the event, from -> to, and the deploy hooks' outcomes."""

    name: str
    alias: str
    event: str
    from_version: int | None
    to_version: int | None
    at: str = ""
    by: str = ""
    why: str = ""
    changed: bool = True
    hooks: list[dict[str, Any]] = field(default_factory=list)
    entry_id: str = ""
    hook_problems: list[str] = field(default_factory=list)

    @property
    def hooks_failed(self) -> bool:
        """Whether a deploy hook of this move failed (the move itself stands)."""
        return any(not h.get("ok", True) for h in self.hooks)

    @property
    def uri(self) -> str | None:
        return None if self.to_version is None else version_uri(self.name, self.to_version)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alias": self.alias,
            "event": self.event,
            "from": self.from_version,
            "to": self.to_version,
            "at": self.at,
            "by": self.by,
            "why": self.why,
            "changed": self.changed,
            "hooks": self.hooks,
        }

    def to_text(self) -> str:
        target = f"{self.name}@{self.alias}"
        if not self.changed:
            return f"{target} already points at version {self.to_version}; nothing changed"
        if self.event in ("protect", "unprotect"):
            text = f"{target} is {'now' if self.event == 'protect' else 'no longer'} protected"
        elif self.event == "remove":
            text = f"removed {target} (it pointed at version {self.from_version})"
        else:
            start = "nothing" if self.from_version is None else f"version {self.from_version}"
            verb = "rolled back" if self.event == "rollback" else "moved"
            text = f"{target}: {verb} from {start} to version {self.to_version}"
        for hook in self.hooks:
            text += "\n  deploy hook " + hook_line(hook)
        return text


def hook_line(outcome: Mapping[str, Any]) -> str:
    """One line saying what a deploy hook did."""
    target = outcome.get("target", "?")
    if outcome.get("kind") == "skipped":
        return f"{target}: {outcome.get('output', 'not run')}"
    if outcome.get("ok"):
        return f"{target}: ok ({outcome.get('seconds', 0):.2f} s)"
    detail = outcome.get("error") or f"exit code {outcome.get('exit_code')}"
    return f"{target}: FAILED ({detail})"


def alias_id(name: str, alias: str) -> str:
    return f"{name}@{alias}"


def aliases_of(ws: Workspace, name: str) -> list[dict[str, Any]]:
    """The alias documents of a model (pointing or removed), by alias name."""
    return sorted(ws.catalog.find(ALIASES, "name", name), key=lambda d: d["alias"])


def _check_target(ws: Workspace, name: str, version: int) -> dict[str, Any]:
    doc = ws.catalog.get(VERSIONS, version_id(name, version))
    if doc is None:
        have = ", ".join(str(d["version"]) for d in require_model(ws, name)) or "none"
        raise ModelNotFound(f"{name} has no version {version} (versions: {have})")
    if doc.get("status", ACTIVE) != ACTIVE:
        raise RefusedError(
            f"{name} version {version} is archived; restore it before pointing an alias at it"
        )
    return doc


def _change(
    ws: Workspace,
    name: str,
    alias: str,
    event: str,
    decide: Any,
    *,
    why: str | None,
    force: bool,
) -> AliasMove:
    """Read the alias, let `decide(doc) -> (to_version, protected)` pick the change, write it."""
    check_name(name)
    check_alias(alias)
    require_model(ws, name)
    with ws.catalog.locked():
        doc = dict(ws.catalog.get(ALIASES, alias_id(name, alias)) or {})
        before = doc.get("version")
        protected = bool(doc.get("protected"))
        to, now_protected = decide(doc)
        if to == before and now_protected == protected:
            return AliasMove(name, alias, event, before, to, changed=False)
        if to == before and event == "set":  # only the protection changed: say so
            event = "protect" if now_protected else "unprotect"
        guarded = protected and (to != before or not now_protected)
        if guarded and not force:
            raise RefusedError(
                f"{name}@{alias} is protected (it points at version {before}); "
                "pass --force (force=True) to change it"
            )
        entry = {
            "id": secrets.token_hex(6),
            "event": event,
            "from": before,
            "to": to,
            "at": utcnow(),
            "by": who(),
            "why": redact_text(why or ""),  # a message is text the store keeps: secrets redacted
            "forced": bool(guarded),
            "protected": now_protected,
            "hooks": [],
        }
        if event in ("set", "rollback") and now_protected != protected:
            entry["protection"] = "protect" if now_protected else "unprotect"  # with the move
        new_doc = {
            "name": name,
            "alias": alias,
            "version": to,
            "protected": now_protected,
            "history": [*doc.get("history", []), entry],
        }
        ws.catalog.put(ALIASES, alias_id(name, alias), new_doc)
    return AliasMove(
        name,
        alias,
        event,
        before,
        to,
        at=entry["at"],
        by=entry["by"],
        why=entry["why"],
        entry_id=entry["id"],
    )


def set_alias(
    ws: Workspace,
    name: str,
    alias: str,
    version: int,
    *,
    why: str | None = None,
    force: bool = False,
    protect: bool | None = None,
    run_hooks: bool = True,
) -> AliasMove:
    """Point `NAME@ALIAS` at `version`; a protected alias moves only with `force`."""

    def decide(doc: Mapping[str, Any]) -> tuple[int, bool]:
        _check_target(ws, name, version)
        protected = bool(doc.get("protected")) if protect is None else protect
        return version, protected

    move = _change(ws, name, alias, "set", decide, why=why, force=force)
    return _after(ws, move, run_hooks)


def protect_alias(
    ws: Workspace,
    name: str,
    alias: str,
    protected: bool = True,
    *,
    why: str | None = None,
    force: bool = False,
) -> AliasMove:
    """Protect an alias (moving it then needs force) or, with force, lift the protection."""

    def decide(doc: Mapping[str, Any]) -> tuple[int | None, bool]:
        if doc.get("version") is None:
            raise ModelNotFound(f"{name} has no alias {alias!r} to protect; set it first")
        return doc["version"], protected

    event = "protect" if protected else "unprotect"
    return _change(ws, name, alias, event, decide, why=why, force=force)


def remove_alias(
    ws: Workspace, name: str, alias: str, *, why: str | None = None, force: bool = False
) -> AliasMove:
    """Take an alias away (its history stays); a protected alias needs `force`."""

    def decide(doc: Mapping[str, Any]) -> tuple[None, bool]:
        if doc.get("version") is None:
            raise ModelNotFound(f"{name} has no alias {alias!r}")
        return None, False  # a removed alias keeps its history, not its protection

    return _change(ws, name, alias, "remove", decide, why=why, force=force)


def rollback(
    ws: Workspace,
    name: str,
    alias: str,
    *,
    why: str | None = None,
    force: bool = False,
    run_hooks: bool = True,
) -> AliasMove:
    """Move an alias back to the version it pointed at before its current one.

    Rolling back twice goes two steps back (a rollback undoes the move before it, not itself).
    Versions since deleted or archived are skipped.
    """

    def decide(doc: Mapping[str, Any]) -> tuple[int, bool]:
        if doc.get("version") is None:
            raise ModelNotFound(f"{name} has no alias {alias!r} to roll back")
        stack = pointed_stack(doc.get("history", []))
        for version in reversed(stack[:-1]):
            target = ws.catalog.get(VERSIONS, version_id(name, version))
            usable = target is not None and target.get("status", ACTIVE) == ACTIVE
            if usable and version != doc["version"]:
                return version, bool(doc.get("protected"))
        earlier = sorted({v for v in stack[:-1] if v != doc["version"]})
        why_not = (
            f"versions {', '.join(map(str, earlier))} it pointed at before are deleted or archived"
            if earlier
            else f"it has pointed only at version {doc['version']} since it was set"
        )
        raise NbMlopsError(f"{name}@{alias} has no earlier version to roll back to ({why_not})")

    move = _change(ws, name, alias, "rollback", decide, why=why, force=force)
    return _after(ws, move, run_hooks)


def pointed_stack(history: list[Mapping[str, Any]]) -> list[int]:
    """The versions an alias pointed at, in order, with rolled-back moves taken off."""
    stack: list[int] = []
    for entry in history:
        event = entry.get("event")
        if event == "set" and entry.get("to") is not None:
            if not stack or stack[-1] != entry["to"]:
                stack.append(entry["to"])
        elif event == "rollback":
            while stack and stack[-1] != entry.get("to"):
                stack.pop()
            if not stack:
                stack.append(entry["to"])
        elif event == "remove":
            stack.clear()
    return stack


def _after(ws: Workspace, move: AliasMove, run_hooks: bool) -> AliasMove:
    moved = move.changed and move.to_version is not None and move.event in ("set", "rollback")
    if not moved or not run_hooks:
        return move
    from nb_mlops.registry import hooks

    if not hooks.matching(ws, move):
        return move
    key = f"hooks-{move.name}@{move.alias}"
    if hooks.inside(key):  # a hook of this alias moved it again: its lock is already ours
        _deploy(ws, move, key)
    else:
        # one alias's hooks run one move at a time, and only for its newest move: a slow
        # deploy of an older move can never finish after (and over) a newer one
        with ws.locked(key, timeout=_HOOKS_WAIT_S):
            _deploy(ws, move, key)
    hooks.warn(move.hook_problems)
    return move


_HOOKS_WAIT_S = 6 * 3600.0


def _deploy(ws: Workspace, move: AliasMove, key: str) -> None:
    """Run the hooks of `move` unless a newer move of the alias came first; every outcome goes
    into the history as it lands, and an interruption is recorded too."""
    from nb_mlops.registry import hooks

    history = (ws.catalog.get(ALIASES, alias_id(move.name, move.alias)) or {}).get("history", [])
    newest = history[-1] if history else {}
    if newest.get("id") != move.entry_id:
        move.hooks = [hooks.superseded(newest.get("to"))]
        record_hooks(ws, move)
        return
    try:
        with hooks.running(key):
            move.hook_problems = hooks.run_deploy_hooks(
                ws, move, on_outcome=lambda _: record_hooks(ws, move)
            )
    except BaseException as exc:  # Ctrl-C, a killed CI job: say so rather than show nothing
        move.hooks.append(hooks.interrupted(exc))
        record_hooks(ws, move)
        raise
    record_hooks(ws, move)  # in the history before anyone is warned (-W error included)


def record_hooks(ws: Workspace, move: AliasMove) -> None:
    """Write the deploy hooks' outcomes into the history entry of `move`."""
    with ws.catalog.locked():
        doc = ws.catalog.get(ALIASES, alias_id(move.name, move.alias))
        if doc is None:
            return
        history = [
            {**e, "hooks": list(move.hooks)} if e.get("id") == move.entry_id else e
            for e in doc.get("history", [])
        ]
        ws.catalog.set(ALIASES, alias_id(move.name, move.alias), {"history": history})


def history(ws: Workspace, name: str, alias: str | None = None) -> list[dict[str, Any]]:
    """Every alias move of a model (or of one alias), oldest first."""
    require_model(ws, name)
    if alias is not None:
        check_alias(alias)
        docs = [ws.catalog.get(ALIASES, alias_id(name, alias))]
        if docs[0] is None:
            raise ModelNotFound(f"{name} has no alias {alias!r}")
    else:
        docs = aliases_of(ws, name)
    entries = [
        {"alias": d["alias"], **{k: v for k, v in e.items() if k != "id"}}
        for d in docs
        if d is not None
        for e in d.get("history", [])
    ]
    if alias is not None:
        return entries  # one alias: in the order it was written (clocks of hosts may differ)
    return sorted(entries, key=lambda e: e["at"])  # stable: each alias keeps its own order
