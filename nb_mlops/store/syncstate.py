"""What a store has handed over to another engine, kept per target so a second sync sends only
what is new.

One JSON object per target (an MLflow tracking server and experiment, say), at
`sync/<key>.json`, rewritten whole (write-then-rename) under the target's lock. The file is only
a memory of earlier work: the target itself stays the authority (a sync lists what is there
before it sends), so a lost, stale or damaged file costs a fuller sync, never a duplicate. Its
content is therefore read as untrusted and anything that is not a JSON object of the expected
shape is dropped with a note.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nb_mlops.store.files import atomic_write, describe, make_folder
from nb_mlops.store.workspace import Workspace

__all__ = ["read_state", "state_key", "syncing", "write_state"]

STATE_FORMAT = 1


def state_key(kind: str, *parts: str) -> str:
    """A plain file name for one target: its kind and a digest of what names it."""
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]
    return f"{kind}-{digest}"


@contextmanager
def syncing(ws: Workspace, key: str) -> Iterator[None]:
    """Hold the lock of target `key`: two syncs to one target from this store run one at a time
    (each would otherwise create what the other is creating)."""
    with ws.locked(f"sync-{key}", timeout=3600.0):
        yield


def read_state(ws: Workspace, key: str) -> tuple[dict[str, Any], str | None]:
    """(the state of target `key`, a note when the file was there but unusable). A missing file
    is an empty state; so is a damaged one, with the note saying so."""
    path = ws.sync_state_file(key)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"{path} could not be read ({describe(exc)}); everything is checked again"
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        return {}, f"{path} is damaged or from another version; everything is checked again"
    return data, None


def write_state(ws: Workspace, key: str, state: dict[str, Any]) -> None:
    """Write the state of target `key` whole."""
    path = ws.sync_state_file(key)
    data = json.dumps({**state, "format": STATE_FORMAT}, separators=(",", ":"), sort_keys=True)
    make_folder(path.parent)
    atomic_write(path, data)
