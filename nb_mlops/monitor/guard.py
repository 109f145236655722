"""The model-version guard: is the model being served the one the registry says is served?

Each observation records the served model's fingerprint (registry/fingerprint.py: a hash of
its fitted state, so a refit in place changes it and a reload of the same file does not). The
guard raises an alert when

- the monitor follows an alias (`models:/NAME@ALIAS`) and the served fingerprint is not that of
  the version the alias points to now (the alias moved and the model was not reloaded, or
  someone swapped the model object); or
- the fingerprint differs from the previous observation's, the alias did not move in between,
  and the new model is not the one the alias points to (a model changed under the monitor
  with no promotion recorded; reloading what the alias names is not a fault). A monitor with
  no alias (a plain model object, or a fixed version `models:/NAME/3`) alerts on any change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nb_mlops.registry.names import parse_ref
from nb_mlops.registry.versions import VERSIONS, get_doc
from nb_mlops.store.workspace import Workspace

KIND = "model-version"


@dataclass(frozen=True)
class Served:
    """What an observation knows of the model that made its predictions."""

    fingerprint: str | None
    name: str | None = None
    version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "name": self.name, "version": self.version}


def served(ws: Workspace, model: Any, name: str | None = None) -> Served:
    """The fingerprint of `model` and the registered version that has it (of model `name`
    when given, else of any model), if one does."""
    from nb_mlops.registry.fingerprint import fingerprint

    fp = fingerprint(model)
    for doc in ws.catalog.find(VERSIONS, "fingerprint", fp):
        if name is None or doc.get("name") == name:
            return Served(fp, doc.get("name"), doc.get("version"))
    return Served(fp, name, None)


def alias_target(ws: Workspace, uri: str | None) -> dict[str, Any] | None:
    """The version document an alias URI points to now (None without an alias URI)."""
    if not uri:
        return None
    ref = parse_ref(uri)
    if ref.alias is None:
        return None
    return get_doc(ws, ref)


def alias_moves(ws: Workspace, uri: str | None, since: str, until: str) -> int:
    """How many times the alias of `uri` moved in (since, until] (ISO times)."""
    from nb_mlops.registry.aliases import history

    if not uri:
        return 0
    ref = parse_ref(uri)
    if ref.alias is None or ref.alias == "latest":
        return 0
    try:
        entries = history(ws, ref.name, ref.alias)
    except Exception:  # the alias was removed: its moves are gone with it
        return 0
    return sum(1 for e in entries if since < str(e.get("at", "")) <= until)


def check(
    ws: Workspace,
    now: Served,
    uri: str | None,
    previous: Mapping[str, Any] | None,
    at: str,
) -> list[dict[str, Any]]:
    """The guard's alerts for one observation (each: kind, metric, message)."""
    alerts = []
    target = alias_target(ws, uri)
    if target is not None and target.get("fingerprint") != now.fingerprint:
        what = f"version {now.version}" if now.version is not None else "an unregistered model"
        alerts.append(
            {
                "kind": KIND,
                "metric": "fingerprint",
                "message": (
                    f"MODEL VERSION MISMATCH: {uri} points to version {target.get('version')}, "
                    f"but the model serving is {what} (fingerprint {short(now.fingerprint)}, "
                    f"expected {short(target.get('fingerprint'))})"
                ),
            }
        )
    in_line = target is not None and target.get("fingerprint") == now.fingerprint
    before = (previous or {}).get("fingerprint")
    if before and before != now.fingerprint and not in_line:  # to the alias's: a reload
        moved = alias_moves(ws, uri, str((previous or {}).get("time", "")), at)
        if not moved:
            alerts.append(
                {
                    "kind": KIND,
                    "metric": "fingerprint",
                    "message": (
                        f"MODEL CHANGED WITHOUT A PROMOTION: fingerprint "
                        f"{short(before)} -> {short(now.fingerprint)} since the "
                        f"observation of {seconds((previous or {}).get('time'))}, and "
                        + (f"{uri} did not move" if uri and "@" in uri else "no alias is followed")
                    ),
                }
            )
    return alerts


def seconds(stamp: Any) -> str:
    """A stored time to the second, for messages (`2026-12-05 17:40:26 UTC`)."""
    text = str(stamp or "")
    return f"{text[:10]} {text[11:19]} UTC" if len(text) >= 19 else text or "an unknown time"


def short(fp: Any) -> str:
    return str(fp)[:12] if fp else "none"
