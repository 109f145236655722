"""Tokenizers for Korean and English scoring: kiwi morphemes, the Unicode fallback, SQuAD."""

from __future__ import annotations

import sys

import pytest

from nb_mlops.evals import tokenize as tok
from nb_mlops.evals.model import EvalError


def test_hangul_detection_and_lang_choice():
    assert tok.has_hangul("학교") and tok.has_hangul("ㅋㅋ") and tok.has_hangul("abc 가")
    assert not tok.has_hangul("The café, 東京")
    assert tok.choose_lang(["the cat", "고양이"], None) == "ko"
    assert tok.choose_lang(["the cat", "a dog"], None) == "en"
    assert tok.choose_lang(["고양이"], "en") == "en"
    with pytest.raises(EvalError, match=r"lang must be None .* not 'ja'"):
        tok.choose_lang(["猫"], "ja")


def test_kiwi_morphemes_and_one_instance_per_process():
    assert tok.load_kiwi() is tok.load_kiwi()
    assert tok.morphemes("학교에 갔다") == [
        ("학교", "NNG"),
        ("에", "JKB"),
        ("가", "VV"),
        ("었", "EP"),
        ("다", "EF"),
    ]
    assert tok.kiwi_version()


def test_kiwi_tokenizer_drops_punctuation_and_casefolds():
    kiwi = tok.KiwiTokenizer()
    assert kiwi.tokenize("저는 학교에 갔습니다.") == [
        "저",
        "는",
        "학교",
        "에",
        "가",
        "었",
        "습니다",
    ]
    assert kiwi.tokenize("Hello, 서울! U.S.A. 3.5%") == ["hello", "서울", "u", "s", "a", "3", "5"]
    assert kiwi.tokenize("") == []
    assert kiwi.method == f"kiwi morphemes (kiwipiepy {tok.kiwi_version()})"
    answers = tok.KiwiTokenizer(drop_particles=True)
    # 는 (JX) and 에 (JKB) are particles; the verb 가 stays.
    assert answers.tokenize("저는 학교에 갔습니다.") == ["저", "학교", "가", "었", "습니다"]
    assert answers.method.startswith("kiwi morphemes without particles")


def test_stemming_applies_to_latin_words_only():
    kiwi = tok.KiwiTokenizer(use_stemmer=True)
    assert kiwi.tokenize("running dogs 학교에서 cat") == ["run", "dog", "학교", "에서", "cat"]
    assert kiwi.method.endswith(", Porter stemmer on Latin words")
    words = tok.WordTokenizer(use_stemmer=True)
    assert words.tokenize("Running DOGS 학교에서") == ["run", "dog", "학교에서"]


def test_word_tokenizer_keeps_hangul_syllables():
    words = tok.WordTokenizer(reason="asked for")
    assert words.tokenize("학교에 갔다! The Café") == ["학교에", "갔다", "the", "café"]
    assert words.method == "unicode word tokenizer (asked for)"


def test_kiwi_segmented_for_bleu_keeps_punctuation_and_case():
    assert tok.kiwi_segmented("Hello 학교에 갔다.") == "Hello 학교 에 가 었 다 ."


def test_fallback_when_kiwipiepy_cannot_be_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "kiwipiepy", None)
    assert tok.load_kiwi() is None and tok.kiwi_version() is None
    fallback = tok.korean_tokenizer()
    assert isinstance(fallback, tok.WordTokenizer)
    assert fallback.method == "unicode word tokenizer (kiwipiepy not installed)"
    assert fallback.tokenize("학교에 갔다") == ["학교에", "갔다"]
    with pytest.raises(EvalError, match=r"kiwipiepy: pip install 'nb-mlops\[ko\]'"):
        tok.morphemes("학교")
    with pytest.raises(EvalError, match="kiwipiepy"):
        tok.KiwiTokenizer()
    normalizer = tok.AnswerNormalizer("ko")
    assert normalizer.tokens("The 학교에, 갔다!") == ["학교에", "갔다"]
    assert normalizer.method.endswith("unicode word tokenizer (kiwipiepy not installed)")


def test_squad_normalize():
    assert tok.squad_normalize("The  Eiffel-Tower!") == "eiffeltower"
    assert tok.squad_normalize("An apple, a day; THE end.") == "apple day end"
    assert tok.squad_normalize("theory anthem") == "theory anthem"  # whole words only
    assert tok.squad_normalize("  ") == ""


def test_answer_normalizer_english_and_korean():
    english = tok.AnswerNormalizer("en")
    assert english.tokens("The Cat sat.") == ["cat", "sat"]
    assert english.key("The Cat sat.") == "cat sat"
    korean = tok.AnswerNormalizer("ko")
    assert korean.tokens("The 학교에 갔다!") == ["학교", "가", "었", "다"]
    assert korean.key("학교로 갔다") == korean.key("학교에 갔다") == "학교 가 었 다"
