"""LLM-as-judge: a model grading replies (1-10 with a rationale) or choosing between two.

A `Judge` is a model with an identity (like any evaluated model: provider, reported version,
settings), our versioned prompts in English or Korean, and a retry budget. Pairwise judging asks
twice with the replies' positions swapped: verdicts that disagree count as a tie and are
counted as position-inconsistent. A call that fails, or an answer no parser can read, is asked
again and then recorded as an error, never as a grade.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nb_mlops.evals.ask import Asked, ask
from nb_mlops.evals.model import Adapter, EvalError, ModelIdentity, as_adapter
from nb_mlops.evals.prompts import load_prompt
from nb_mlops.evals.verdicts import parse_preference, parse_rating

DEFAULT_OPTIONS: dict[str, Any] = {"temperature": 0, "max_new_tokens": 512}
"""Decoding settings of a judge unless told otherwise: greedy, room for a short rationale."""


@dataclass
class Conversation:
    """User turns and the assistant's replies to them (one reply per user turn)."""

    user: list[str]
    assistant: list[str]
    reference: list[str | None] = field(default_factory=list)

    @property
    def turns(self) -> int:
        return len(self.user)


def conversation(item: Mapping[str, Any], side: str = "", *, where: str = "item") -> Conversation:
    """The conversation an item holds for `side` ("" for single grading, "a" or "b").

    An item has `question` (one turn) or `turns` (the user's messages), and `answer`/`answers`
    (or `answer_a`/`answers_a`, ...) with one reply per turn; `reference` (one per turn, or one
    for the last) is optional.
    """
    user = _texts(item, "turns", "question", where)
    suffix = f"_{side}" if side else ""
    replies = _texts(item, f"answers{suffix}", f"answer{suffix}", where)
    if len(replies) != len(user):
        raise EvalError(
            f"{where}: {len(user)} user turns but {len(replies)} replies in answer{suffix}"
        )
    reference: list[str | None] = [None] * len(user)
    ref = item.get("reference")
    if isinstance(ref, list | tuple):
        if len(ref) != len(user):
            raise EvalError(f"{where}: {len(ref)} references for {len(user)} turns")
        reference = [None if r is None else str(r) for r in ref]
    elif ref is not None and ref == ref:  # NaN from a DataFrame is no reference
        reference[-1] = str(ref)
    return Conversation(user, replies, reference)


def _texts(item: Mapping[str, Any], many: str, one: str, where: str) -> list[str]:
    if item.get(many) is not None:
        values = item[many]
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise EvalError(f"{where}: {many} must be a non-empty list of texts")
    elif item.get(one) is not None:
        values = [item[one]]
    else:
        raise EvalError(f"{where}: no {one} (or {many})")
    out = []
    for value in values:
        if not isinstance(value, str):
            raise EvalError(f"{where}: {many if many in item else one} holds a non-text value")
        out.append(value)
    return out


@dataclass
class Verdict:
    """One judge decision: a grade (single) or a winner (pair), or the error that replaced it."""

    kind: str
    rating: float | None = None
    winner: str | None = None
    """"a", "b" or "tie" (pairwise)."""
    rationale: str | None = None
    error: str | None = None
    attempts: int = 0
    version: str | None = None
    inconsistent: bool = False
    first: dict[str, Any] | None = None
    swapped: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if v is not None}
        out["inconsistent"] = self.inconsistent
        return out


class Judge:
    """A model acting as judge: `grade` replies 1-10, `compare` two replies (swapped twice)."""

    def __init__(
        self,
        model: Any,
        *,
        lang: str = "en",
        retries: int = 2,
        options: Mapping[str, Any] | None = None,
        workspace: Any = None,
        **model_options: Any,
    ) -> None:
        if isinstance(model, Judge):
            raise EvalError("model is already a Judge: pass it as it is")
        if isinstance(model, str):
            self.adapter: Adapter = as_adapter(model, workspace=workspace, **model_options)
        elif model_options:
            raise EvalError("model options go with a model spec (hf:, openai:, models:/, py:)")
        else:
            self.adapter = as_adapter(model)
        if retries < 0:
            raise EvalError(f"retries={retries}: give 0 or more")
        self.spec = model if isinstance(model, str) else None
        self.retries = retries
        self.options = {**DEFAULT_OPTIONS, **dict(options or {})}
        self.single = load_prompt("judge", "single", lang)
        self.pair = load_prompt("judge", "pair", lang)
        self.lang = self.single.lang
        self._parts = {
            name: load_prompt("judge", name, lang)
            for name in ("reference_block", "conversation", "user_turn", "assistant_turn")
        }
        self._identity: ModelIdentity | None = None

    @property
    def identity(self) -> ModelIdentity:
        """Provider, name, the version the judge reports now (probed once), settings."""
        if self._identity is None:
            version = self.adapter.probe()
            identity = self.adapter.identity
            identity = identity.with_version(version) if version else identity
            self._identity = identity.with_settings(self.options)
        return self._identity

    @property
    def label(self) -> str:
        return self.identity.label

    def prompt_record(self) -> dict[str, Any]:
        """Which prompts (family, language, version) this judge's verdicts come from."""
        return {"family": "judge", "lang": self.lang, "version": self.single.version}

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.identity.to_dict(),
            "prompt": self.prompt_record(),
            "retries": self.retries,
        }

    def __repr__(self) -> str:
        return f"Judge({self.label}, lang={self.lang}, prompts v{self.single.version})"

    # -------------------------------------------------------------------------- rendering
    def render_single(self, conv: Conversation) -> str:
        return self.single.render(
            conversation=self._conversation(conv, ""),
            reference_block=self._reference(conv),
        )

    def render_pair(self, a: Conversation, b: Conversation) -> str:
        return self.pair.render(
            conversation_a=self._conversation(a, " A"),
            conversation_b=self._conversation(b, " B"),
            reference_block=self._reference(a),
        )

    def _conversation(self, conv: Conversation, suffix: str) -> str:
        lines = []
        for user, reply in zip(conv.user, conv.assistant, strict=True):
            lines.append(self._parts["user_turn"].render(text=user))
            lines.append(self._parts["assistant_turn"].render(text=reply, suffix=suffix))
        return self._parts["conversation"].render(turns="\n\n".join(lines), suffix=suffix)

    def _reference(self, conv: Conversation) -> str:
        ref = conv.reference[-1] if conv.reference else None
        return self._parts["reference_block"].render(reference=ref) if ref else ""

    # ---------------------------------------------------------------------------- judging
    def _ask(self, prompts: list[str], parse: Any) -> list[Asked]:
        return ask(self.adapter, prompts, parse, retries=self.retries, options=self.options)

    def grade(self, items: Sequence[Mapping[str, Any]]) -> list[Verdict]:
        """A 1-10 grade with its rationale for each item's (last) reply, in order."""
        convs = [conversation(item, where=_where(item, i)) for i, item in enumerate(items)]
        asked = self._ask([self.render_single(c) for c in convs], parse_rating)
        return [_single(a) for a in asked]

    def compare(self, items: Sequence[Mapping[str, Any]]) -> list[Verdict]:
        """Which of each item's two replies is better ("a", "b" or "tie"), asked in both orders."""
        pairs = []
        for i, item in enumerate(items):
            where = _where(item, i)
            pairs.append(
                (conversation(item, "a", where=where), conversation(item, "b", where=where))
            )
        prompts = [self.render_pair(a, b) for a, b in pairs]
        prompts += [self.render_pair(b, a) for a, b in pairs]
        asked = self._ask(prompts, parse_preference)
        n = len(pairs)
        return [_pair(asked[i], asked[n + i]) for i in range(n)]


def _where(item: Mapping[str, Any], position: int) -> str:
    return f"item {item.get('id', position)}"


def _single(asked: Asked) -> Verdict:
    if not asked.ok:
        return Verdict("single", error=asked.error, attempts=asked.attempts, version=asked.version)
    return Verdict(
        "single",
        rating=float(asked.value),
        rationale=rationale(asked.text or ""),
        attempts=asked.attempts,
        version=asked.version,
    )


SWAP = {"A": "b", "B": "a", "tie": "tie"}
"""A verdict on the swapped prompt (B's reply shown first), in terms of the original sides."""


def _pair(first: Asked, swapped: Asked) -> Verdict:
    """One pairwise verdict from both orders: agreeing verdicts stand, others are a tie."""
    attempts = first.attempts + swapped.attempts
    version = first.version or swapped.version
    records = {"first": _asked_record(first), "swapped": _asked_record(swapped)}
    if not first.ok or not swapped.ok:
        order = "as shown" if not first.ok else "swapped"
        error = f"{order}: {first.error if not first.ok else swapped.error}"
        return Verdict("pair", error=error, attempts=attempts, version=version, **records)
    one = {"A": "a", "B": "b", "tie": "tie"}[first.value]
    two = SWAP[swapped.value]
    inconsistent = one != two
    return Verdict(
        "pair",
        winner="tie" if inconsistent else one,
        rationale=rationale(first.text or ""),
        attempts=attempts,
        version=version,
        inconsistent=inconsistent,
        **records,
    )


def _asked_record(asked: Asked) -> dict[str, Any]:
    return {"verdict": asked.value, "text": asked.text, "error": asked.error}


def rationale(text: str) -> str:
    """The judge's explanation: its answer without the verdict line."""
    lines = [line for line in text.strip().splitlines() if "[[" not in line]
    return "\n".join(lines).strip() or text.strip()
