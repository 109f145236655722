"""The stand-in judge: an OpenAI-compatible server on loopback, deterministic, labelled."""

from __future__ import annotations

import httpx
import pytest

from nb_mlops.evals.judge import Judge, conversation
from nb_mlops.evals.standin import LABEL, VERSION, answer, overlap, serve_standin_judge

PAIR = {
    "question": "What is the capital of France?",
    "answer_a": "Paris is the capital of France.",
    "answer_b": "I am not sure.",
    "model_a": "m1",
    "model_b": "m2",
}


def test_overlap_is_token_f1() -> None:
    assert overlap("the cat sat", "the cat sat") == 1.0
    assert overlap("a b", "c d") == 0.0
    assert overlap("a b c d", "a b") == pytest.approx(2 * 0.5 * 1.0 / 1.5)


def test_answers_grade_and_compare_our_prompts() -> None:
    judge = Judge(lambda p: "unused")
    item = {"question": "Capital of France?", "answer": "Paris", "reference": "Paris"}
    good = judge.render_single(conversation(item))
    assert answer(good).endswith("Rating: [[10]]") and LABEL in answer(good)
    a, b = conversation(PAIR, "a"), conversation(PAIR, "b")
    assert answer(judge.render_pair(a, b)).endswith("[[A]]")
    assert answer(judge.render_pair(b, a)).endswith("[[B]]")
    assert answer(judge.render_pair(b, a), position_bias=True).endswith("[[A]]")


def test_korean_prompts_are_understood() -> None:
    judge = Judge(lambda p: "unused", lang="ko")
    item = {
        **PAIR,
        "question": "프랑스의 수도는?",
        "answer_a": "파리",
        "answer_b": "모르겠어요",
        "reference": "파리",
    }
    text = answer(judge.render_pair(conversation(item, "a"), conversation(item, "b")))
    assert text.endswith("[[A]]")


def test_served_over_http_with_a_reported_version() -> None:
    with serve_standin_judge() as server:
        assert server.url.startswith("http://127.0.0.1:")
        models = httpx.get(f"{server.url}/models", timeout=5).json()
        assert models["data"][0]["id"] == VERSION
        judge = Judge(server.spec)
        assert judge.identity.version == VERSION
        [verdict] = judge.compare([PAIR])
        assert verdict.winner == "a" and not verdict.inconsistent
        bad = httpx.post(f"{server.url}/nowhere", json={}, timeout=5)
        assert bad.status_code == 404
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{server.url}/models", timeout=2)
