"""RAG evaluation on hand-built cases whose right answers are known, in English and Korean.

Each language has one item with a fabricated claim (a wrong height) and an off-topic chunk, and
a pair of items that differ only in whether the answer addresses the question. Every method
must find: faithfulness 2/3 with the fabricated claim named, context relevance 1/2 with the
off-topic chunk named, and a lower answer relevance for the off-topic answer.
"""

from __future__ import annotations

import html
import re
import zlib
from typing import Any

import numpy as np
import pytest

from nb_mlops.evals.ask import Unparsed
from nb_mlops.evals.claims import (
    ContentWords,
    parse_claims,
    parse_judge_rating,
    parse_verdicts,
    split_claims,
)
from nb_mlops.evals.model import Adapter, EvalError, ModelIdentity, Reply
from nb_mlops.evals.prompts import load_prompt
from nb_mlops.evals.rag import RagResult, rag_scores

CASES: dict[str, dict[str, Any]] = {
    "en": {
        "items": [
            {
                "id": "eiffel",
                "question": "How tall is the Eiffel Tower, and where is it?",
                "answer": (
                    "The Eiffel Tower is in Paris. The tower was completed in 1889. "
                    "The tower is 500 metres tall."
                ),
                "contexts": [
                    "The Eiffel Tower is in Paris, France. The tower was completed in 1889. "
                    "It is 330 metres tall.",
                    "The Louvre is an art museum. It holds the Mona Lisa.",
                ],
            },
            {
                "id": "on-topic",
                "question": "How tall is the Eiffel Tower?",
                "answer": "The Eiffel Tower is 330 metres tall.",
                "contexts": ["The Eiffel Tower is 330 metres tall."],
            },
            {
                "id": "off-topic",
                "question": "How tall is the Eiffel Tower?",
                "answer": "The Louvre holds the Mona Lisa.",
                "contexts": ["The Eiffel Tower is 330 metres tall."],
            },
        ],
        "fabricated": "The tower is 500 metres tall.",
    },
    "ko": {
        "items": [
            {
                "id": "eiffel",
                "question": "에펠탑의 높이는 얼마이고, 어디에 있습니까?",
                "answer": (
                    "에펠탑은 파리에 있습니다. 에펠탑은 1889년에 완공되었습니다. "
                    "에펠탑의 높이는 500미터입니다."
                ),
                "contexts": [
                    "에펠탑은 프랑스 파리에 있다. 에펠탑은 1889년에 완공되었다. "
                    "높이는 330미터이다.",
                    "루브르는 미술관이다. 루브르에는 모나리자가 있다.",
                ],
            },
            {
                "id": "on-topic",
                "question": "에펠탑의 높이는 얼마입니까?",
                "answer": "에펠탑의 높이는 330미터입니다.",
                "contexts": ["에펠탑의 높이는 330미터이다."],
            },
            {
                "id": "off-topic",
                "question": "에펠탑의 높이는 얼마입니까?",
                "answer": "루브르에는 모나리자가 있습니다.",
                "contexts": ["에펠탑의 높이는 330미터이다."],
            },
        ],
        "fabricated": "에펠탑의 높이는 500미터입니다.",
    },
}
LANGS = ["en", "ko"]


def _row(result: RagResult, item_id: str) -> dict[str, Any]:
    return next(r for r in result.rows if r["id"] == item_id)


def assert_known_answers(result: RagResult, lang: str) -> None:
    """The right answers every method must reach on CASES[lang]."""
    fabricated = CASES[lang]["fabricated"]
    eiffel = _row(result, "eiffel")
    assert eiffel["faithfulness"] == pytest.approx(2 / 3)
    assert eiffel["unsupported"] == fabricated
    assert [c["supported"] for c in eiffel["claims"]] == [True, True, False]
    assert eiffel["context_relevance"] == pytest.approx(0.5)
    assert [c["relevant"] for c in eiffel["chunks"]] == [True, False]
    assert eiffel["irrelevant_chunks"].startswith("2: ")
    assert f"1 of 3 claims unsupported: {fabricated!r}" in eiffel["explanation"]
    assert "chunk 2 of 2 irrelevant" in eiffel["explanation"]
    on, off = _row(result, "on-topic"), _row(result, "off-topic")
    assert on["answer_relevance"] > off["answer_relevance"]
    assert on["faithfulness"] == 1.0 and off["faithfulness"] == 0.0
    assert result.errors == 0 and result.failures == []
    # the means over items, with their intervals, in EvalResult's shape
    faith = result.scores["faithfulness"]
    assert faith["score"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert faith["n"] == 3
    assert 0 <= faith["low"] <= faith["score"] <= faith["high"] <= 1
    assert result.scores["context_relevance"]["score"] == pytest.approx((0.5 + 1 + 1) / 3)
    for s in result.scores.values():
        assert {"score", "stderr", "low", "high", "n", "method"} <= set(s)


# ------------------------------------------------------------------------------ lexical
@pytest.mark.parametrize("lang", LANGS)
def test_lexical_finds_the_fabricated_claim_and_the_offtopic_chunk(lang: str) -> None:
    result = rag_scores(CASES[lang]["items"], lang=lang)
    assert_known_answers(result, lang)
    assert _row(result, "on-topic")["answer_relevance"] == 1.0
    assert _row(result, "off-topic")["answer_relevance"] == 0.0
    method = result.scores["faithfulness"]["method"]
    assert method.startswith("lexical:") and "rapidfuzz" in method
    if lang == "ko":
        assert "kiwi content morphemes" in method
    # the fabricated claim is matched to its sentence, which lacks its number
    claim = _row(result, "eiffel")["claims"][2]
    assert claim["score"] == 0.5  # tower/에펠탑 and 500 missing from "330 metres tall"
    assert "330" in claim["evidence"]


def test_lexical_korean_particles_do_not_break_a_match() -> None:
    words = ContentWords("ko")
    assert words.words("에펠탑은 파리에 있습니다.") == ["에펠탑", "파리"]
    assert words.words("에펠탑이 파리에서") == ["에펠탑", "파리"]
    assert "파리" in words.words("파리로") and "파리" in words.words("파리는")
    # numbers keep their value, commas dropped; a changed number is a different word
    assert words.words("1,000명") == ["1000", "명"]
    item = {
        "question": "에펠탑은 어디에 있습니까?",
        "answer": "에펠탑은 파리에 있다.",
        "contexts": ["프랑스의 파리에는 에펠탑이 있습니다."],
    }
    assert rag_scores([item], lang="ko").rows[0]["faithfulness"] == 1.0


def test_lexical_english_numbers_must_be_equal_and_negations_count() -> None:
    words = ContentWords("en")
    assert words.words("The tower is not 3.5 km away, it's 1,000 m.") == [
        "tower",
        "not",
        "3.5",
        "km",
        "away",
        "1000",
    ]
    items = [
        {"question": "Where is it?", "answer": "The museum is not in Paris.",
         "contexts": ["The museum is in Paris."]},
    ]  # fmt: skip
    assert rag_scores(items, measures=["faithfulness"]).rows[0]["faithfulness"] == 0.0


def test_lang_none_detects_korean() -> None:
    result = rag_scores(CASES["ko"]["items"], lang=None)
    assert result.lang == "ko"
    assert_known_answers(result, "ko")


# --------------------------------------------------------------------------- embeddings
def bag_of_words(lang: str, dims: int = 1024) -> Any:
    """A deterministic stand-in embedding: counts of content words, hashed into `dims`."""
    words = ContentWords(lang)

    def embed(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), dims))
        for row, text in enumerate(texts):
            for word in words.words(text):
                out[row, zlib.crc32(word.encode()) % dims] += 1
        return out

    return embed


@pytest.mark.parametrize("lang", LANGS)
def test_embeddings_find_the_fabricated_claim_and_the_offtopic_chunk(lang: str) -> None:
    calls: list[int] = []
    embed = bag_of_words(lang)

    def counted(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return embed(texts)

    result = rag_scores(CASES[lang]["items"], method="embeddings", embed=counted, lang=lang)
    assert_known_answers(result, lang)
    assert _row(result, "off-topic")["answer_relevance"] == 0.0
    assert _row(result, "on-topic")["answer_relevance"] > 0.7
    assert result.scores["answer_relevance"]["method"].endswith("cosine(question, answer)")
    assert "counted" in result.methods["faithfulness"]
    assert len(calls) == 1  # every distinct text embedded once, in one batch


def test_embeddings_threshold_moves_the_verdict() -> None:
    embed = bag_of_words("en")
    items = CASES["en"]["items"][:1]
    strict = rag_scores(items, method="embeddings", embed=embed, thresholds={"claim": 0.9})
    loose = rag_scores(items, method="embeddings", embed=embed, thresholds={"claim": 0.5})
    assert strict.rows[0]["faithfulness"] == pytest.approx(1 / 3)  # only the exact sentence
    assert loose.rows[0]["faithfulness"] == 1.0  # 0.58 for the fabricated claim passes 0.5
    assert ">= 0.9" in strict.methods["faithfulness"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda texts: np.zeros((len(texts) + 1, 4)), r"shape \(\d+, 4\) for \d+ texts"),
        (lambda texts: np.zeros(len(texts)), r"returned shape \(\d+,\)"),
        (lambda texts: np.zeros((len(texts), 0)), r"shape \(\d+, 0\)"),
        (lambda texts: [[1.0, "x"]] * len(texts), "not an \\(n, d\\) array"),
        (lambda texts: np.full((len(texts), 3), np.nan), "NaN or infinite"),
        (lambda texts: 1 / 0, "failed: ZeroDivisionError"),
    ],
)
def test_embeddings_reject_a_function_of_the_wrong_shape(bad: Any, message: str) -> None:
    with pytest.raises(EvalError, match=message) as info:
        rag_scores(CASES["en"]["items"], method="embeddings", embed=bad)
    assert "\n" not in str(info.value)


def test_embeddings_need_a_function() -> None:
    with pytest.raises(EvalError, match="needs embed="):
        rag_scores(CASES["en"]["items"], method="embeddings")
    with pytest.raises(EvalError, match="embed must be a function"):
        rag_scores(CASES["en"]["items"], method="embeddings", embed="all-MiniLM")
    with pytest.raises(EvalError, match="embed= goes with method='embeddings'"):
        rag_scores(CASES["en"]["items"], embed=bag_of_words("en"))


# -------------------------------------------------------------------------------- judge
class StandInJudge:
    """A deterministic STAND-IN for an LLM judge (not a model): it reads our RAG prompts by
    their template structure and answers by crude rules. Claims: the answer's sentences.
    Supported: every number of the claim is in the passages and one of its key words is.
    Relevant chunk: it holds a key word of the question. Rating: 5, 3 or 1 by the share of
    the question's key words in the answer."""

    STOP = frozenset(
        {"the", "how", "and", "where", "what", "its", "was", "얼마", "어디", "있습", "있다"}
    )

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.patterns = {
            name: _template_regex(load_prompt("rag", name, lang).template)
            for name in ("claims", "support", "answer_relevance", "context_relevance")
        }
        self.calls: list[str] = []

    def __call__(self, prompt: str, **options: Any) -> str:
        for name, pattern in self.patterns.items():
            match = pattern.fullmatch(prompt)
            if match:
                self.calls.append(name)
                return getattr(self, name)(**match.groupdict())
        raise AssertionError(f"the stand-in judge cannot read this prompt: {prompt[:80]!r}")

    def keys(self, text: str) -> set[str]:
        out = set()
        for word in re.findall(r"\w+", text.lower()):
            key = word[:2] if re.match("[가-힣]", word) else word
            if len(key) >= 2 and not key.isdigit() and (len(key) >= 3 or key[0] >= "가"):
                out.add(key)
        return out - self.STOP

    def claims(self, question: str, answer: str) -> str:
        sentences = re.split(r"(?<=[.!?])\s+", answer.strip())
        return "Here are the claims:\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(sentences, 1))

    def support(self, context: str, claims: str) -> str:
        lines = []
        for num, claim in re.findall(r"^(\d+)\. (.+)$", claims, re.M):
            numbers = set(re.findall(r"\d+", claim)) <= set(re.findall(r"\d+", context))
            found = any(k in context.lower() for k in self.keys(claim))
            word = ("yes" if numbers and found else "no") if self.lang == "en" else (
                "예" if numbers and found else "아니오")  # fmt: skip
            lines.append(f"{num}. {word} - stand-in rule")
        return "\n".join(lines)

    def answer_relevance(self, question: str, answer: str) -> str:
        keys = self.keys(question)
        share = sum(k in answer.lower() for k in keys) / len(keys)
        rating = 5 if share >= 0.5 else 3 if share > 0 else 1
        label = ("Rating", "Reason") if self.lang == "en" else ("점수", "이유")
        return f"{label[0]}: {rating}\n{label[1]}: {share:.0%} of the question's key words"

    def context_relevance(self, question: str, chunks: str) -> str:
        keys = self.keys(question)
        lines = []
        for num, chunk in re.findall(r"^\[(\d+)\] (.+)$", chunks, re.M):
            relevant = any(k in chunk.lower() for k in keys)
            word = ("yes" if relevant else "no") if self.lang == "en" else (
                "예" if relevant else "아니오")  # fmt: skip
            lines.append(f"{num}. {word}")
        return "\n".join(lines)


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{([a-z_]+)\}", template)
    body = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.*?)" for i, p in enumerate(parts))
    return re.compile(body, re.S)


@pytest.mark.parametrize("lang", LANGS)
def test_judge_stand_in_finds_the_fabricated_claim_and_the_offtopic_chunk(lang: str) -> None:
    judge = StandInJudge(lang)
    result = rag_scores(CASES[lang]["items"], method="judge", judge=judge, lang=lang)
    assert_known_answers(result, lang)
    assert _row(result, "on-topic")["answer_relevance"] == 1.0  # rated 5 -> (5-1)/4
    assert _row(result, "off-topic")["answer_relevance"] == 0.0  # rated 1
    # one prompt per item and measure; the support prompts of 3-claim and 1-claim items
    assert sorted(set(judge.calls)) == sorted(judge.patterns)
    assert len(judge.calls) == 12 and result.judge["calls"] == 12
    head = f"prompt rag v1 ({lang})"
    assert all(head in m and m.startswith("llm judge ") for m in result.methods.values())
    assert result.prompts == {"family": "rag", "lang": lang, "version": "1"}
    assert result.judge["provider"] == "python" and "StandInJudge" in result.judge["name"]
    # the judge's reasons are kept with each check
    assert _row(result, "eiffel")["claims"][2]["evidence"] == "stand-in rule"
    fabricated = CASES[lang]["fabricated"]
    assert f"{fabricated!r} (stand-in rule)" in _row(result, "eiffel")["explanation"]
    assert "rated 5/5" in _row(result, "on-topic")["explanation"]


def test_prompts_exist_in_both_languages_with_one_version() -> None:
    for name in ("claims", "support", "answer_relevance", "context_relevance", "passage"):
        en, ko = load_prompt("rag", name, "en"), load_prompt("rag", name, "ko")
        assert en.version == ko.version == "1"
        assert en.fields == ko.fields
        assert en.template != ko.template or name == "passage"
    assert re.search("[가-힣]", load_prompt("rag", "support", "ko").template)


class Garbling:
    """The stand-in judge behind a fault: the first `bad` answers to each prompt are junk."""

    def __init__(self, inner: StandInJudge, bad: int, only: str | None = None) -> None:
        self.inner, self.bad, self.only = inner, bad, only
        self.seen: dict[str, int] = {}

    def __call__(self, prompt: str, **options: Any) -> str:
        good = self.inner(prompt)
        kind = self.inner.calls[-1]
        count = self.seen[prompt] = self.seen.get(prompt, 0) + 1
        if (self.only is None or kind == self.only) and count <= self.bad:
            return "I would rather not say." if kind != "support" else "1. maybe\n2. yes"
        return good


@pytest.mark.parametrize("lang", LANGS)
def test_judge_malformed_answers_are_retried_then_scored(lang: str) -> None:
    judge = Garbling(StandInJudge(lang), bad=2)
    result = rag_scores(CASES[lang]["items"], method="judge", judge=judge, lang=lang)
    assert_known_answers(result, lang)  # the third attempt (retries=2) reads
    # 12 prompts, 3 attempts each, but the two items with one question and one chunk send the
    # same context-relevance prompt, whose two junk answers they share: 36 - 2 calls
    assert result.judge["prompts"] == 12 and result.judge["calls"] == 34


@pytest.mark.parametrize("lang", LANGS)
def test_judge_malformed_after_retries_is_an_error_not_a_score(lang: str) -> None:
    judge = Garbling(StandInJudge(lang), bad=99, only="support")
    result = rag_scores(CASES[lang]["items"], method="judge", judge=judge, lang=lang, retries=1)
    assert "faithfulness" not in result.scores  # no item could be scored
    assert result.errors == 3 and len(result.failures) == 3
    eiffel = _row(result, "eiffel")
    assert eiffel["faithfulness"] is None
    assert "checking claims: unparsed: no yes/no verdict for number 1" in eiffel["error"]
    assert eiffel["explanation"].startswith("faithfulness not scored (error)")
    # the other measures are still scored
    assert eiffel["context_relevance"] == 0.5
    assert result.scores["answer_relevance"]["n"] == 3
    assert result.judge["calls"] == 3 + 3 * 2 + 3 + 3  # support asked twice (1 retry)
    assert "3 items with errors" in result.to_text()


def test_judge_unreadable_claims_and_failed_calls_are_errors() -> None:
    inner = StandInJudge("en")

    def flaky(prompt: str, **options: Any) -> str:
        good = inner(prompt)
        if inner.calls[-1] == "claims":
            return "The answer seems fine to me."
        if inner.calls[-1] == "answer_relevance":
            raise TimeoutError("judge timed out\nsecond line")
        return good

    result = rag_scores(CASES["en"]["items"], method="judge", judge=flaky, retries=0)
    row = _row(result, "eiffel")
    assert "faithfulness: listing claims: unparsed: no numbered claims" in row["error"]
    assert "answer_relevance: call failed: TimeoutError: judge timed out" in row["error"]
    assert set(result.scores) == {"context_relevance"}
    assert result.scores["context_relevance"]["score"] == pytest.approx((0.5 + 1 + 1) / 3)


def test_judge_with_no_claims_has_no_faithfulness_not_a_zero() -> None:
    def judge(prompt: str, **options: Any) -> str:
        if "claims" in prompt.split("\n")[0] or "factual claims" in prompt:
            return "NONE"
        return "1. yes\nRating: 3"

    items = [{"question": "Hi?", "answer": "Hello!", "contexts": ["A greeting."]}]
    result = rag_scores(items, method="judge", judge=judge, measures=["faithfulness"])
    assert result.rows[0]["faithfulness"] is None and result.errors == 0
    assert result.rows[0]["explanation"] == "no claims to check"
    assert result.scores == {}
    assert "faithfulness       not scored" in result.to_text()


class JudgeLike:
    """What the lead's Judge offers: an Adapter, an identity, retries and options."""

    def __init__(self, fn: Any, retries: int) -> None:
        from nb_mlops.evals.model import CallableModel

        self.adapter = CallableModel(fn)
        self.identity = ModelIdentity("openai", "judge-x", version="2025-01", settings={"t": 0})
        self.retries = retries
        self.options = {"temperature": 0}


def test_judge_object_lends_identity_retries_and_options() -> None:
    seen: list[dict[str, Any]] = []
    inner = StandInJudge("en")

    def fn(prompt: str, **options: Any) -> str:
        seen.append(options)
        return inner(prompt)

    result = rag_scores(CASES["en"]["items"][:1], method="judge", judge=JudgeLike(fn, 0))
    assert result.judge["name"] == "judge-x" and result.judge["version"] == "2025-01"
    assert result.judge["retries"] == 0
    assert all(o == {"temperature": 0} for o in seen)
    assert "llm judge judge-x (2025-01)" in result.methods["faithfulness"]
    # the Judge's retries=0: one junk answer is an error at once
    junk = Garbling(StandInJudge("en"), bad=1, only="answer_relevance")
    failed = rag_scores(CASES["en"]["items"][:1], method="judge", judge=JudgeLike(junk, 0))
    assert "answer_relevance: unparsed" in failed.rows[0]["error"]


def test_judge_adapter_reports_its_version() -> None:
    inner = StandInJudge("en")

    class Versioned(Adapter):
        identity = ModelIdentity("openai", "judge-y")

        def probe(self) -> str | None:
            return "judge-y-0613"

        def generate(self, prompts: Any, **options: Any) -> list[Reply]:
            return [Reply(text=inner(p), version="judge-y-0613") for p in prompts]

    result = rag_scores(CASES["en"]["items"], method="judge", judge=Versioned())
    assert result.judge["version"] == "judge-y-0613"
    assert result.judge["reported"] == ["judge-y-0613"]


def test_judge_needed_and_only_with_its_method() -> None:
    with pytest.raises(EvalError, match="needs judge="):
        rag_scores(CASES["en"]["items"], method="judge")
    with pytest.raises(EvalError, match="judge= goes with method='judge'"):
        rag_scores(CASES["en"]["items"], judge=StandInJudge("en"))
    with pytest.raises(EvalError, match="retries=-1"):
        rag_scores(CASES["en"]["items"], method="judge", judge=StandInJudge("en"), retries=-1)


# --------------------------------------------------------------------------- judge output
@pytest.mark.parametrize(
    ("text", "claims"),
    [
        ("1. The tower is tall.\n2. It is in Paris.", ["The tower is tall.", "It is in Paris."]),
        ("Claims:\n1) A.\n2) B.\nThat is all.", ["A.", "B."]),
        ("**1.** A\n**2.** B", ["A", "B"]),
        ("- A\n* B\n• C", ["A", "B", "C"]),
        (
            "１. 에펠탑은 파리에 있다.\n２. 높이는 330미터이다.",
            ["에펠탑은 파리에 있다.", "높이는 330미터이다."],
        ),
        ("NONE", []),
        ("없음", []),
        ("None.", []),
    ],
)
def test_parse_claims_reads_numbered_and_bulleted_lists(text: str, claims: list[str]) -> None:
    assert parse_claims(text) == claims


@pytest.mark.parametrize("text", ["", "The answer is fine.", "3.5 km", "There are none here"])
def test_parse_claims_refuses_answers_without_a_list(text: str) -> None:
    with pytest.raises(Unparsed):
        parse_claims(text)


@pytest.mark.parametrize(
    ("text", "verdicts"),
    [
        ("1. yes - stated\n2. no - not mentioned", [(True, "stated"), (False, "not mentioned")]),
        ("1: Yes.\n2) NO", [(True, ""), (False, "")]),
        ("**1.** **Supported** — x\n2. not supported", [(True, "— x"), (False, "")]),
        ("Claim 1: yes\nClaim 2: no", [(True, ""), (False, "")]),
        ("1. 예 - 글에 있음\n2. 아니오 - 글에 없음", [(True, "글에 있음"), (False, "글에 없음")]),
        ("[1] 네\n[2] 아니요\n3. yes", [(True, ""), (False, "")]),
    ],
)
def test_parse_verdicts_reads_numbered_yes_no(text: str, verdicts: list[Any]) -> None:
    assert parse_verdicts(text, 2) == verdicts


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1. yes", "no yes/no verdict for number 2"),
        ("1. yes\n2. maybe", "number 2"),
        ("1. yes\n1. no\n2. yes", "both yes and no"),
        ("yes, no", "number 1"),
        ("1. 예를 들어\n2. 예", "number 1"),
    ],
)
def test_parse_verdicts_refuses_incomplete_lists(text: str, why: str) -> None:
    with pytest.raises(Unparsed, match=why):
        parse_verdicts(text, 2)


def test_parse_judge_rating() -> None:
    assert parse_judge_rating("Rating: 4\nReason: it answers.") == (4.0, "it answers.")
    assert parse_judge_rating("점수: 2\n이유: 주제만 같다.") == (2.0, "주제만 같다.")
    assert parse_judge_rating("**Rating:** 5") == (5.0, "")
    for bad in ("Rating: 7", "I like it", ""):
        with pytest.raises(Unparsed):
            parse_judge_rating(bad)


# ------------------------------------------------------------------------------- claims
def test_split_claims_english_keeps_abbreviations() -> None:
    text = (
        "Dr. Kim visited the U.S. in 2019. She met e.g. Mr. Lee, who is 3.5 m tall! "
        'J. K. Rowling wrote it. Was it fun? "Yes." It ended in the U.S. Then she left.\n'
        "- A bullet point\n2. A numbered point"
    )
    assert split_claims(text, "en") == [
        "Dr. Kim visited the U.S. in 2019.",
        "She met e.g. Mr. Lee, who is 3.5 m tall!",
        "J. K. Rowling wrote it.",
        "Was it fun?",
        '"Yes."',
        "It ended in the U.S.",
        "Then she left.",
        "A bullet point",
        "A numbered point",
    ]


def test_split_claims_korean_with_kiwi_and_without(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "에펠탑은 파리에 있다. 높이는 330미터이다! 1889년에 완공되었다"
    want = ["에펠탑은 파리에 있다.", "높이는 330미터이다!", "1889년에 완공되었다"]
    assert split_claims(text, "ko") == want
    import nb_mlops.evals.claims as claims

    monkeypatch.setattr(claims, "load_kiwi", lambda: None)
    assert split_claims(text, "ko") == want
    assert claims.ContentWords("ko").method == "unicode words (kiwipiepy not installed)"
    with pytest.raises(EvalError, match="lang='fr'"):
        split_claims(text, "fr")


# ------------------------------------------------------------------------- items, errors
def test_items_from_a_dataframe_with_ragas_names_and_a_single_chunk() -> None:
    import pandas as pd

    frame = pd.DataFrame(
        [
            {"user_input": "How tall is the Eiffel Tower?", "response": "It is 330 metres tall.",
             "retrieved_contexts": "The Eiffel Tower is 330 metres tall.", "reference": "330 m"},
            {"user_input": "How tall is the Eiffel Tower?", "response": "330 metres.",
             "retrieved_contexts": np.array(["It is 330 metres tall.", "Paris is in France."]),
             "reference": None},
        ]
    )  # fmt: skip
    result = rag_scores(frame)
    out = result.frame()
    assert list(out["id"]) == ["0", "1"]
    assert list(out["faithfulness"]) == [1.0, 1.0]
    assert list(out["context_relevance"]) == [1.0, 0.0]
    assert out["reference"][0] == "330 m"
    assert {
        "id", "question", "answer", "faithfulness", "answer_relevance", "context_relevance",
        "unsupported", "irrelevant_chunks", "explanation", "error",
    } <= set(out.columns)  # fmt: skip


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"answer": "a", "contexts": ["c"]}], "RAG item '0': no question"),
        ([{"id": "q7", "question": "q", "contexts": ["c"]}], "RAG item 'q7': no answer"),
        ([{"id": 3, "question": "q", "answer": "a"}], "RAG item '3': no contexts"),
        ([{"question": "q", "answer": "a", "contexts": []}], "contexts is empty"),
        ([{"question": "q", "answer": "a", "contexts": ["c", 5]}], r"contexts\[1\] is int"),
        ([{"question": "q", "answer": "a", "contexts": ["c", "  "]}], r"contexts\[1\] is empty"),
        ([{"question": "q", "answer": 42, "contexts": ["c"]}], "answer is int, not text"),
        ([{"question": " ", "answer": "a", "contexts": ["c"]}], "question is empty"),
        ([{"question": "q", "answer": "a", "contexts": {"a": 1}}], "contexts is dict"),
        ([{"id": "x", "question": "q", "answer": "a", "contexts": "c"}] * 2, "'x': id is used"),
        ([], "none given"),
        ({"question": "q"}, "not dict"),
        (["q"], "RAG item 0: a dict, not str"),
    ],
)
def test_bad_items_name_the_item_and_field(items: Any, message: str) -> None:
    with pytest.raises(EvalError, match=message) as info:
        rag_scores(items)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "bleu"}, "method='bleu': choose lexical, embeddings, judge"),
        ({"measures": ["faithfulness", "recall"]}, "measure 'recall'"),
        ({"measures": []}, "give at least one"),
        ({"thresholds": {"cosine": 0.5}}, "threshold 'cosine' does not apply"),
        ({"thresholds": {"claim": 1.5}}, "outside 0..1"),
        ({"thresholds": {"word": "high"}}, "must be a number"),
        ({"lang": "fr"}, "lang must be"),
    ],
)
def test_bad_options_are_one_line_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(EvalError, match=message):
        rag_scores(CASES["en"]["items"], **kwargs)


def test_question_without_content_words_is_an_error_for_relevance() -> None:
    items = [
        {"question": "Why?", "answer": "The tower is tall.", "contexts": ["The tower is tall."]}
    ]
    result = rag_scores(items)
    assert result.rows[0]["faithfulness"] == 1.0
    assert "answer_relevance: the question has no content words" in result.rows[0]["error"]
    assert set(result.scores) == {"faithfulness"}


# ------------------------------------------------------------------------------ result
def test_result_forms_and_html_escaping() -> None:
    items = [dict(CASES["en"]["items"][0], id="<b>x</b>", question="<script>alert(1)</script>?")]
    result = rag_scores(items, measures=("context_relevance", "faithfulness"))
    assert result.measures == ("faithfulness", "context_relevance")
    page = result.to_html()
    assert "<script>" not in page and html.escape("<script>alert(1)</script>?") in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    text = result.to_text()
    assert text.startswith("RAG evaluation, lexical (en): 1 item")
    assert "faithfulness       0.6667" in text and "answer_relevance" not in text
    record = result.to_dict()
    assert record["scores"]["faithfulness"]["n"] == 1
    assert record["items"][0]["unsupported"] == "The tower is 500 metres tall."
    assert record["items"][0]["answer_relevance"] is None
    assert record["thresholds"] == {"word": 85.0, "claim": 0.8, "context": 0.5}
    assert result.score("faithfulness") == pytest.approx(2 / 3)
    with pytest.raises(EvalError, match="'answer_relevance' was not scored"):
        result.score("answer_relevance")
    assert result.examples.shape[0] == 1


def test_a_judge_of_the_judge_module_works_as_is() -> None:
    judge_module = pytest.importorskip("nb_mlops.evals.judge")
    judge = judge_module.Judge(StandInJudge("ko"), retries=1)
    result = rag_scores(CASES["ko"]["items"], method="judge", judge=judge, lang="ko")
    assert_known_answers(result, "ko")
    assert result.judge["retries"] == 1
    assert result.judge["settings"] == dict(judge.options)
    assert result.judge["name"] == judge.identity.name
