"""Verdict parsing on a corpus of well-formed and malformed judge outputs, English and Korean."""

from __future__ import annotations

import pytest

from nb_mlops.evals.ask import Unparsed
from nb_mlops.evals.verdicts import parse_preference, parse_rating

RATINGS = [
    ("The answer is right.\nRating: [[7]]", 7),
    ("**Rating: [[8]]**", 8),
    ("Rating: [[ 9 ]]", 9),
    ("rating: [[10]]", 10),
    ("[[3]]", 3),
    ("Explanation first.\n\n[[4]]\n", 4),
    ("I would not give this a [[10]]. Rating: [[4]]", 4),
    ("Rating: 6/10", 6),
    ("Score: 5 out of 10.", 5),
    ("Overall I rate it 6/10.", 6),
    ("Rating: 7.5", 7.5),
    ("Grade: 2", 2),
    ("점수: 9", 9),
    ("평가: [[6]]", 6),
    ("이 답변은 정확합니다. 7점입니다.", 7),
    ("Rating: [[８]]", 8),  # full-width digit
    ("Rating: [[7]] and again [[7]]", 7),
]

MALFORMED_RATINGS = [
    ("", "empty"),
    ("   \n  ", "empty"),
    ("The answer is fine.", "no rating"),
    ("Rating: [[N]]", "no rating"),
    ("[[3]] or maybe [[5]]", "several ratings"),
    ("Rating: [[11]]", "outside 1-10"),
    ("Rating: [[0]]", "outside 1-10"),
    ("Score: 95", "outside 1-10"),
    ("점수를 매길 수 없습니다.", "no rating"),
    ("[[A]]", "no rating"),
]

PREFERENCES = [
    ("A is clearer.\n[[A]]", "A"),
    ("[[B]]", "B"),
    ("[[C]]", "tie"),
    ("[[tie]]", "tie"),
    ("Both fail. [[ c ]]", "tie"),
    ("**[[A]]**", "A"),
    ("Final verdict: Assistant B", "B"),
    ("Verdict: tie", "tie"),
    ("최종 판정: [[동점]]", "tie"),
    ("판정: A", "A"),
    ("I considered [[A]] but B is better overall.\n[[B]]", "B"),
    ("[[Ａ]]", "A"),  # full-width letter
]

MALFORMED_PREFERENCES = [
    ("", "empty"),
    ("Both are good answers.", "no verdict"),
    ("[[A]] or [[B]], hard to say", "several verdicts"),
    ("[[D]]", "no verdict"),
    ("Rating: [[7]]", "no verdict"),
]


@pytest.mark.parametrize(("text", "expected"), RATINGS)
def test_ratings_are_read(text: str, expected: float) -> None:
    assert parse_rating(text) == expected


@pytest.mark.parametrize(("text", "reason"), MALFORMED_RATINGS)
def test_malformed_ratings_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(Unparsed, match=reason):
        parse_rating(text)


@pytest.mark.parametrize(("text", "expected"), PREFERENCES)
def test_preferences_are_read(text: str, expected: str) -> None:
    assert parse_preference(text) == expected


@pytest.mark.parametrize(("text", "reason"), MALFORMED_PREFERENCES)
def test_malformed_preferences_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(Unparsed, match=reason):
        parse_preference(text)


def test_a_custom_scale_bounds_the_rating() -> None:
    assert parse_rating("Rating: [[4]]", low=1, high=5) == 4
    with pytest.raises(Unparsed, match="outside 1-5"):
        parse_rating("Rating: [[7]]", low=1, high=5)
