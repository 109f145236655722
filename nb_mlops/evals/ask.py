"""Ask a model and parse its answer, re-asking when the call fails or the answer cannot be read.

Judges (single grades, pairwise verdicts, RAG claim checks) all need the same loop: send a batch
of prompts, parse each answer, send again only those that failed, and after the last attempt keep
an error, never a guess. `ask` is that loop; the parser decides what a readable answer is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nb_mlops.evals.model import Adapter, EvalError, Reply


class Unparsed(EvalError):
    """A model's answer does not hold what the parser looks for (the message says what)."""


@dataclass
class Asked:
    """One prompt's outcome: the parsed `value`, or the `error` that remained after retries."""

    value: Any = None
    text: str | None = None
    """The model's last answer as it came (kept for the record, also when it did not parse)."""
    error: str | None = None
    attempts: int = 0
    version: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "text": self.text,
            "error": self.error,
            "attempts": self.attempts,
            "version": self.version,
        }


def ask(
    adapter: Adapter,
    prompts: Sequence[str],
    parse: Callable[[str], Any],
    *,
    retries: int = 2,
    options: dict[str, Any] | None = None,
    retry_adapter: Adapter | None = None,
) -> list[Asked]:
    """Each prompt's parsed answer, in order; a prompt is asked at most `retries + 1` times.

    `parse(text)` returns the value or raises `Unparsed`. Retries go to `retry_adapter` when
    given (the same model without an answer cache, so a cached unreadable answer is asked
    afresh).
    """
    if retries < 0:
        raise EvalError(f"retries={retries}: give 0 or more")
    out = [Asked() for _ in prompts]
    pending = list(range(len(prompts)))
    for attempt in range(retries + 1):
        if not pending:
            break
        model = adapter if attempt == 0 or retry_adapter is None else retry_adapter
        replies = model.generate([prompts[i] for i in pending], **dict(options or {}))
        if len(replies) != len(pending):
            raise EvalError(
                f"{adapter.identity.label} gave {len(replies)} answers to {len(pending)} prompts"
            )
        still = []
        for i, reply in zip(pending, replies, strict=True):
            if not _take(out[i], reply, parse):
                still.append(i)
        pending = still
    return out


def _take(slot: Asked, reply: Reply, parse: Callable[[str], Any]) -> bool:
    """Record one attempt in `slot`; True when it gave a value."""
    slot.attempts += 1
    slot.version = reply.version or slot.version
    slot.cached = reply.cached
    if not reply.ok or reply.text is None:
        slot.error = f"call failed: {reply.error or 'no text in the answer'}"
        return False
    slot.text = reply.text
    try:
        slot.value = parse(reply.text)
    except Unparsed as exc:
        slot.value = None
        slot.error = f"unparsed: {exc}"
        return False
    slot.error = None
    return True
