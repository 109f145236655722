"""Kept model answers, so re-running an evaluation only asks the model what it has not answered.

Answers are kept per model identity (provider, name, reported version, weights fingerprint,
endpoint: `ModelIdentity.key()`), one JSON-lines file each under `.nbmlops/cache/evals/`, and
looked up by what was asked: the kind of call, the prompt (or context and continuation) and the
decoding settings. An endpoint reports its version only in its responses, so the evaluator
probes first and reads only the file of the version it is serving now; an answer is filed under
the version its own response reported. Errors are never kept: a failed call is asked again.

The file is append-only (whole lines under the store's lock for that file); a line that is not a
whole, well-formed record is skipped on read, so a killed writer costs at most its last answer.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nb_mlops.evals.model import Adapter, ModelIdentity, Reply
from nb_mlops.jsonl import read_jsonl
from nb_mlops.store.workspace import Workspace


def request_key(kind: str, request: Any, options: Mapping[str, Any]) -> str:
    """What was asked, as a key: kind ("generate" or "loglikelihood"), request, settings."""
    raw = json.dumps(
        [kind, request, dict(options)], sort_keys=True, ensure_ascii=False, default=str
    )
    return hashlib.sha256(raw.encode()).hexdigest()


def _valid(reply: Any) -> bool:
    """A kept answer read back: a text, a log-probability (finite, <= 0), or both (a
    generation with the log-probs of its tokens), and no error."""
    if not isinstance(reply, dict) or reply.get("error") is not None:
        return False
    text, value = reply.get("text"), reply.get("value")
    if value is None:
        return isinstance(text, str)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    ok = number and math.isfinite(value) and value <= 1e-9  # a log-probability
    return ok and (text is None or isinstance(text, str))


class EvalCache:
    """The kept answers of one store, per model identity."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._loaded: dict[str, dict[str, dict[str, Any]]] = {}

    def _file(self, key: str) -> Path:
        return self.ws.eval_cache_file(key)

    def entries(self, identity: ModelIdentity) -> dict[str, dict[str, Any]]:
        """request key -> kept answer, for this identity (read once per EvalCache)."""
        key = identity.key()
        if key not in self._loaded:
            found: dict[str, dict[str, Any]] = {}
            for line in read_jsonl(self._file(key)):
                k, reply = line.get("k"), line.get("r")
                if isinstance(k, str) and _valid(reply):
                    found[k] = reply
            self._loaded[key] = found
        return self._loaded[key]

    def keep(self, identity: ModelIdentity, answers: Sequence[tuple[str, Reply]]) -> None:
        """File answers (never errors) under `identity`, appended whole under a lock."""
        rows = [(k, r.to_dict()) for k, r in answers if r.ok]
        rows = [(k, d) for k, d in rows if _valid(d)]
        if not rows:
            return
        key = identity.key()
        path = self._file(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(
            json.dumps({"k": k, "r": d}, ensure_ascii=False, separators=(",", ":")) + "\n"
            for k, d in rows
        )
        with self.ws.locked(f"eval-cache-{key}"), open(path, "a", encoding="utf-8") as fh:
            fh.write(data)
        self._loaded.setdefault(key, {}).update(dict(rows))


class CachedAdapter(Adapter):
    """An Adapter that answers from the cache first and asks the model only what is missing.

    `identity` is the model as probed (its current version); answers are filed under the
    version each response reported (the probed one when it reported none). `keys` gathers the
    identity keys this evaluation used, for the run to name (so gc keeps them).
    """

    def __init__(self, inner: Adapter, cache: EvalCache | None, identity: ModelIdentity) -> None:
        self.inner = inner
        self.cache = cache
        self.identity = identity
        self.supports_loglikelihood = inner.supports_loglikelihood
        self.keys: set[str] = {identity.key()}
        self.asked = 0
        self.hits = 0
        self.seen: list[str | None] = []
        """The version each answer came from, in the order answers were returned."""

    def _call(self, kind: str, requests: Sequence[Any], options: Mapping[str, Any]) -> list[Reply]:
        settings = {**self.identity.settings, **options}  # how it is asked, defaults included
        keys = [request_key(kind, r, settings) for r in requests]
        kept = self.cache.entries(self.identity) if self.cache is not None else {}
        out: list[Reply | None] = []
        missing: list[int] = []
        for i, k in enumerate(keys):
            if k in kept:
                reply = Reply.from_dict(kept[k])
                reply.cached = True
                reply.version = reply.version or self.identity.version
                out.append(reply)
            else:
                out.append(None)
                missing.append(i)
        self.hits += len(requests) - len(missing)
        if missing:
            self.asked += len(missing)
            todo = [requests[i] for i in missing]
            if kind == "generate":
                got = self.inner.generate(todo, **options)
            else:
                got = self.inner.loglikelihood(todo)
            if len(got) != len(todo):
                raise RuntimeError(f"{kind} returned {len(got)} answers for {len(todo)} requests")
            by_version: dict[str | None, list[tuple[str, Reply]]] = {}
            for i, reply in zip(missing, got, strict=True):
                out[i] = reply
                version = reply.version or self.identity.version
                by_version.setdefault(version, []).append((keys[i], reply))
            if self.cache is not None:
                for version, answers in by_version.items():
                    ident = self.identity.with_version(version)
                    self.keys.add(ident.key())
                    self.cache.keep(ident, answers)
        replies = [r for r in out if r is not None]
        self.seen.extend(r.version or self.identity.version for r in replies if r.ok)
        return replies

    def generate(self, prompts: Sequence[str], **options: Any) -> list[Reply]:
        return self._call("generate", list(prompts), options)

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[Reply]:
        return self._call("loglikelihood", [tuple(r) for r in requests], {})

    def probe(self) -> str | None:
        return self.identity.version

    def close(self) -> None:
        self.inner.close()
