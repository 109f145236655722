"""Toy models for evaluation tests: answers chosen by the test, calls counted."""

from __future__ import annotations

import json
import re
from typing import Any

CHOICE_ITEMS = [
    {"id": f"q{i}", "question": f"question {i}", "choices": ["red", "green", "blue"], "answer": a}
    for i, a in ((i, i % 3) for i in range(12))
]

TEXT_ITEMS = [
    {"id": "t0", "prompt": "say: the cat sat", "reference": "the cat sat"},
    {"id": "t1", "prompt": "say: a dog ran home", "reference": "a dog ran home"},
    {"id": "t2", "prompt": "say: 학교에 갔다", "reference": ["학교에 갔다", "학교로 갔다"]},
    {"id": "t3", "prompt": "say: blue sky today", "reference": "the sky is blue today"},
]


class Parrot:
    """generate(prompt) -> the text after 'say: ' (or what `wrong` maps it to); counts calls."""

    def __init__(self, version: str = "parrot-1", wrong: dict[str, str] | None = None) -> None:
        self.version = version
        self.wrong = dict(wrong or {})
        self.calls: list[str] = []

    def generate(self, prompt: str, **options: Any) -> str:
        self.calls.append(prompt)
        if prompt in self.wrong:
            return self.wrong[prompt]
        return prompt.split("say: ", 1)[-1]


class Chooser:
    """loglikelihood(context, continuation): the gold choice scores highest, except for the items
    named in `miss`, where the first choice wins. Counts calls."""

    def __init__(self, miss: set[str] = frozenset(), version: str | None = None) -> None:
        self.miss = set(miss)
        self.calls: list[tuple[str, str]] = []
        if version is not None:
            self.version = version
        self.gold = {
            f"question {i}": ["red", "green", "blue"][i % 3] for i in range(len(CHOICE_ITEMS))
        }

    def generate(self, prompt: str, **options: Any) -> str:
        return "A"

    def loglikelihood(self, context: str, continuation: str) -> float:
        self.calls.append((context, continuation))
        found = re.findall(r"question (\d+)", context)
        i = int(found[-1]) if found else -1  # the item asked last (shots come before it)
        choice = continuation.strip()
        if f"q{i}" in self.miss:
            return -1.0 if choice == "red" else -5.0
        return -1.0 if choice == self.gold.get(f"question {i}") else -5.0


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
