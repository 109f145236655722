"""Text metrics: numbers identical to sacrebleu and rouge-score, Korean, SQuAD EM/F1, errors."""

from __future__ import annotations

import importlib.util
import json
import random
import sys

import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF

from nb_mlops.evals import metrics
from nb_mlops.evals.metrics import METRICS, TextScore, bleu, chrf, exact_match, rouge, token_f1
from nb_mlops.evals.model import EvalError
from nb_mlops.evals.tokenize import KiwiTokenizer

# sacrebleu's README example: two reference streams for three system sentences.
README_REFS = [
    ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
    ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
]
README_SYS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
README_PER_EXAMPLE = [list(refs) for refs in zip(*README_REFS, strict=True)]

WORDS = (
    "the a an cat dog fox sat ran jumps jumped jumping running over lazy Brown quick house "
    "houses big small happily eating apples it's don't U.S. 3.5% (hello) , . ! ? - New York"
).split()
TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def generated_pairs(seed: int, n: int) -> tuple[list[str], list[str]]:
    """Seeded reference sentences and predictions made from them by random edits."""
    rng = random.Random(seed)
    preds, refs = [], []
    for _ in range(n):
        ref = rng.choices(WORDS, k=rng.randint(1, 25))
        pred = [w if rng.random() < 0.7 else rng.choice(WORDS) for w in ref]
        if rng.random() < 0.3:
            del pred[rng.randrange(len(pred)) :]
        if rng.random() < 0.2:
            pred += rng.choices(WORDS, k=rng.randint(1, 5))
        if rng.random() < 0.1:
            ref.insert(rng.randrange(len(ref) + 1), "\n")
        preds.append(" ".join(pred))
        refs.append(" ".join(ref))
    return preds, refs


# ---- published examples -----------------------------------------------------------------------


def test_sacrebleu_readme_bleu_and_chrf():
    score = bleu(README_SYS, README_PER_EXAMPLE)
    assert score.score == pytest.approx(48.530827009929865, abs=1e-12)
    assert score.score == sacrebleu.corpus_bleu(README_SYS, README_REFS).score
    assert score.method == "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:" + (
        sacrebleu.__version__
    )
    assert score.details["sys_len"] == 17 and score.details["ref_len"] == 18
    assert [round(p, 1) for p in score.details["precisions"]] == [82.4, 50.0, 45.5, 37.5]
    assert score.per_example == [
        sacrebleu.sentence_bleu(h, list(r)).score
        for h, r in zip(README_SYS, README_PER_EXAMPLE, strict=True)
    ]
    char = chrf(README_SYS, README_PER_EXAMPLE)
    assert round(char.score, 2) == 59.73
    assert char.score == sacrebleu.corpus_chrf(README_SYS, README_REFS).score
    assert char.method.startswith("nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|")


def test_rouge_score_readme_example_by_hand():
    # rouge-score's README: target 'The quick brown fox jumps over the lazy dog', prediction
    # 'The quick brown dog jumps on the log.', rouge1 and rougeL with the stemmer. Tokens:
    # target the quick brown fox jump over the lazi dog (9); prediction the quick brown dog
    # jump on the log (8). Shared unigrams: the x2, quick, brown, dog, jump = 6; the longest
    # common subsequence the quick brown jump the = 5.
    target = "The quick brown fox jumps over the lazy dog"
    prediction = "The quick brown dog jumps on the log."
    result = rouge([prediction], [target], types=["rouge1", "rougeL"], use_stemmer=True)
    types = result.to_dict()["types"]
    assert types["rouge1"]["precision"] == pytest.approx(6 / 8)
    assert types["rouge1"]["recall"] == pytest.approx(6 / 9)
    assert result.scores["rouge1"] == pytest.approx(12 / 17)
    assert types["rougeL"]["precision"] == pytest.approx(5 / 8)
    assert result.scores["rougeL"] == pytest.approx(10 / 17)
    assert result.score == result.scores["rouge1"]
    direct = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True).score(
        target, prediction
    )
    assert result.scores == {k: direct[k].fmeasure for k in ("rouge1", "rougeL")}
    assert result.method == "rouge-score default tokenizer, Porter stemmer"


# ---- parity on generated English pairs --------------------------------------------------------


@pytest.fixture(scope="module")
def english() -> tuple[list[str], list[str]]:
    return generated_pairs(seed=12, n=300)


def test_bleu_equals_sacrebleu_on_generated_pairs(english):
    preds, refs = english
    ours = bleu(preds, refs)
    metric = BLEU()
    direct = metric.corpus_score(preds, [refs])
    assert ours.score == direct.score
    assert ours.method == str(metric.get_signature())
    assert ours.per_example == [
        sacrebleu.sentence_bleu(p, [r]).score for p, r in zip(*english, strict=True)
    ]
    assert ours.details["counts"] == direct.counts
    # The bootstrap path: summed sentence statistics give the corpus score exactly.
    assert ours.resample(np.arange(len(preds))) == ours.score
    idx = np.random.default_rng(3).integers(0, len(preds), size=len(preds))
    subset = sacrebleu.corpus_bleu([preds[i] for i in idx], [[refs[i] for i in idx]])
    assert ours.resample(idx) == subset.score
    assert 5 < ours.score < 95


def test_bleu_lowercase_and_other_tokenizers_match_sacrebleu(english):
    preds, refs = english
    for options in ({"lowercase": True}, {"tokenize": "intl"}, {"tokenize": "char"}):
        ours = bleu(preds, refs, **options)
        metric = BLEU(**options)
        assert ours.score == metric.corpus_score(preds, [refs]).score
        assert ours.method == str(metric.get_signature())
        assert ours.resample(np.arange(len(preds))) == ours.score


def test_chrf_equals_sacrebleu_on_generated_pairs(english):
    preds, refs = english
    ours = chrf(preds, refs)
    assert ours.score == sacrebleu.corpus_chrf(preds, [refs]).score
    assert ours.per_example == [
        sacrebleu.sentence_chrf(p, [r]).score for p, r in zip(*english, strict=True)
    ]
    plus = chrf(preds, refs, word_order=2)
    metric = CHRF(word_order=2)
    assert plus.score == metric.corpus_score(preds, [refs]).score
    assert plus.method == str(metric.get_signature())
    idx = [5, 5, 7, 0, 299]
    subset = sacrebleu.corpus_chrf([preds[i] for i in idx], [[refs[i] for i in idx]])
    assert ours.resample(idx) == subset.score


@pytest.mark.parametrize("use_stemmer", [False, True])
def test_rouge_equals_rouge_score_on_generated_pairs(english, use_stemmer):
    preds, refs = english
    ours = rouge(preds, refs, use_stemmer=use_stemmer)
    scorer = rouge_scorer.RougeScorer(list(TYPES), use_stemmer=use_stemmer)
    direct = [scorer.score(r, p) for p, r in zip(preds, refs, strict=True)]
    types = ours.to_dict()["types"]
    for kind in TYPES:
        for part in ("precision", "recall", "fmeasure"):
            expected = [getattr(d[kind], part) for d in direct]
            assert types[kind]["per_example"][part] == expected
            assert types[kind][part] == float(np.mean(expected))
        assert ours.example_scores[kind] == [d[kind].fmeasure for d in direct]
        assert ours.scores[kind] == float(np.mean([d[kind].fmeasure for d in direct]))
        assert ours.resample(np.arange(len(preds)), kind) == ours.scores[kind]
    assert ours.name == "rouge" and ours.score == ours.scores["rouge1"]
    assert ours.per_example == ours.example_scores["rouge1"]
    assert 0.2 < ours.score < 0.95


# ---- several references -----------------------------------------------------------------------


def test_multi_reference_of_different_lengths():
    preds = ["the cat sat on the mat", "a dog ran", "birds fly south in winter"]
    refs = [
        ["the cat is on the mat", "there is a cat on the mat", "a cat sat on a mat"],
        "the dog ran away",
        ["birds fly south", "in winter birds go south"],
    ]
    streams = [
        [refs[0][0], refs[1], refs[2][0]],
        [refs[0][1], None, refs[2][1]],
        [refs[0][2], None, None],
    ]
    ours = bleu(preds, refs)
    assert ours.score == sacrebleu.corpus_bleu(preds, streams).score
    assert ours.method.startswith("nrefs:var|")
    as_lists = [refs[0], [refs[1]], refs[2]]
    assert ours.per_example == [
        sacrebleu.sentence_bleu(p, r).score for p, r in zip(preds, as_lists, strict=True)
    ]
    assert ours.resample([0, 1, 2]) == ours.score
    assert (
        ours.resample([2, 2, 0])
        == sacrebleu.corpus_bleu(
            [preds[2], preds[2], preds[0]],
            [
                [refs[2][0], refs[2][0], refs[0][0]],
                [refs[2][1], refs[2][1], refs[0][1]],
                [None, None, refs[0][2]],
            ],
        ).score
    )
    assert chrf(preds, refs).score == sacrebleu.corpus_chrf(preds, streams).score

    scorer = rouge_scorer.RougeScorer(list(TYPES))
    ours_rouge = rouge(preds, refs)
    for i, (p, r) in enumerate(zip(preds, as_lists, strict=True)):
        best = scorer.score_multi(r, p)
        for kind in TYPES:
            assert ours_rouge.example_scores[kind][i] == best[kind].fmeasure

    # The first example's best reference for F1 is 'a cat sat on a mat' -> [cat, sat, on, mat]
    # against the prediction's [cat, sat, on, mat]: a full match; the others below 1.
    f1 = token_f1(preds, refs)
    assert f1.per_example[0] == 1.0
    assert exact_match(["Paris", "Rome"], [["the city of Paris", "paris."], ["Milan"]]).scores == {
        "exact_match": 0.5
    }


# ---- Korean -----------------------------------------------------------------------------------


def test_default_rouge_score_tokenizer_scores_korean_zero_and_lang_en_keeps_it():
    direct = rouge_scorer.RougeScorer(["rouge1"]).score("학교로 갔다", "학교에 갔다")
    assert direct["rouge1"].fmeasure == 0.0
    forced = rouge(["학교에 갔다"], ["학교로 갔다"], lang="en")
    assert forced.scores["rouge1"] == 0.0
    assert forced.method == "rouge-score default tokenizer"


def test_korean_rouge_particles_differ_by_hand():
    # prediction 학교에 갔다 -> 학교 / 에 / 가 / 었 / 다
    # reference  학교로 갔다 -> 학교 / 로 / 가 / 었 / 다
    # rouge1: 4 of 5 unigrams shared; rouge2: (가,었) (었,다) of 4 bigrams; rougeL: 학교 가 었 다.
    pred_morphemes = ["학교", "에", "가", "었", "다"]
    ref_morphemes = ["학교", "로", "가", "었", "다"]
    assert KiwiTokenizer().tokenize("학교에 갔다") == pred_morphemes
    assert KiwiTokenizer().tokenize("학교로 갔다") == ref_morphemes
    result = rouge(["학교에 갔다"], ["학교로 갔다"])
    assert result.scores["rouge1"] == pytest.approx(4 / 5)
    assert result.scores["rouge2"] == pytest.approx(2 / 4)
    assert result.scores["rougeL"] == pytest.approx(4 / 5)
    assert result.scores["rougeLsum"] == pytest.approx(4 / 5)
    assert result.method.startswith("kiwi morphemes (kiwipiepy ")

    # 저는 학교에 갔습니다 -> 저 / 는 / 학교 / 에 / 가 / 었 / 습니다 (7)
    # 나는 학교로 갔다     -> 나 / 는 / 학교 / 로 / 가 / 었 / 다   (7); shared 는 학교 가 었
    longer = rouge(["저는 학교에 갔습니다."], ["나는 학교로 갔다"], types="rouge1")
    assert longer.name == "rouge1"
    assert longer.score == pytest.approx(4 / 7)


def test_korean_rouge_equals_rouge_score_with_our_tokenizer():
    preds = ["철수가 사과를 먹었다", "오늘은 날씨가 맑다", "서울에서 부산까지 기차로 갔다"]
    refs = [
        "철수는 사과를 먹었습니다",
        "오늘 날씨는 흐리다",
        ["부산까지 갔다", "서울에서 기차를 탔다"],
    ]
    ours = rouge(preds, refs)
    scorer = rouge_scorer.RougeScorer(list(TYPES), tokenizer=KiwiTokenizer())
    expected = [
        scorer.score(refs[0], preds[0]),
        scorer.score(refs[1], preds[1]),
        scorer.score_multi(refs[2], preds[2]),
    ]
    for kind in TYPES:
        assert ours.example_scores[kind] == [e[kind].fmeasure for e in expected]
    assert all(v > 0 for v in ours.per_example)


def test_korean_rouge_stems_latin_words_inside_korean_text():
    result = rouge(["running dogs 학교"], ["run dog 학교"], types="rouge1", use_stemmer=True)
    assert result.score == 1.0
    assert result.method.endswith("Porter stemmer on Latin words")
    plain = rouge(["running dogs 학교"], ["run dog 학교"], types="rouge1")
    assert plain.score == pytest.approx(1 / 3)


def test_korean_bleu_uses_kiwi_morphemes_by_hand():
    result = bleu(["학교에 갔다"], ["학교로 갔다"])
    # Morphemes as above: precisions 4/5, 2/4, 1/3 (가 었 다) and 0/2 for 4-grams, which
    # sacrebleu's exp smoothing turns into 1/(2*2); brevity penalty 1 (5 vs 5 tokens).
    assert result.score == pytest.approx(100 * (4 / 5 * 2 / 4 * 1 / 3 * 1 / 4) ** 0.25)
    direct = sacrebleu.corpus_bleu(["학교 에 가 었 다"], [["학교 로 가 었 다"]], tokenize="none")
    assert result.score == direct.score
    assert "|tok:none|" in result.method
    assert "(kiwi morphemes, kiwipiepy " in result.method
    assert result.details["signature"] in result.method


def test_korean_chrf_is_sacrebleu_chrf_on_the_text_as_written():
    result = chrf(["학교에 갔다"], ["학교로 갔다"])
    assert result.score == sacrebleu.corpus_chrf(["학교에 갔다"], [["학교로 갔다"]]).score
    assert result.method.endswith("(Korean: character n-grams as written)")


def test_korean_exact_match_and_f1_drop_particles_by_hand():
    # Answer tokens drop particles: 학교에 갔다 and 학교로 갔다 both -> 학교 / 가 / 었 / 다.
    same = token_f1(["학교에 갔다"], ["학교로 갔다"])
    assert same.score == 1.0
    assert exact_match(["학교에 갔다"], ["학교로 갔다"]).score == 1.0
    # 학교 가 었 다 vs 집 가 었 다: 3 shared of 4 each -> F1 0.75; not an exact match.
    assert token_f1(["학교에 갔다"], ["집에 갔다"]).score == pytest.approx(0.75)
    assert exact_match(["학교에 갔다"], ["집에 갔다"]).score == 0.0
    # 저 학교 가 었 습니다 vs 나 학교 가 었 다: 3 shared of 5 each -> 0.6.
    longer = token_f1(["저는 학교에 갔습니다."], ["나는 학교로 갔다"])
    assert longer.score == pytest.approx(0.6)
    assert "kiwi morphemes without particles" in longer.method
    # Particles and punctuation around a short answer (KorQuAD-style spans).
    assert exact_match(["서울에서"], ["서울"]).score == 1.0


def test_korean_fallback_without_kiwipiepy(monkeypatch):
    monkeypatch.setitem(sys.modules, "kiwipiepy", None)  # `import kiwipiepy` now fails
    # Unicode words: 학교에 / 갔다 vs 학교로 / 갔다 -> one shared word of two.
    result = rouge(["학교에 갔다"], ["학교로 갔다"])
    assert result.method == "unicode word tokenizer (kiwipiepy not installed)"
    assert result.scores["rouge1"] == pytest.approx(1 / 2)
    assert result.scores["rouge2"] == 0.0
    assert result.scores["rougeL"] == pytest.approx(1 / 2)
    f1 = token_f1(["학교에 갔다"], ["학교로 갔다"])
    assert f1.score == pytest.approx(0.5)
    assert f1.method.endswith("unicode word tokenizer (kiwipiepy not installed)")
    assert exact_match(["학교에 갔다"], ["학교로 갔다"]).score == 0.0
    score = bleu(["학교에 갔다"], ["학교로 갔다"])
    assert "|tok:char|" in score.method and "kiwipiepy not installed" in score.method
    assert (
        score.score
        == sacrebleu.corpus_bleu(["학교에 갔다"], [["학교로 갔다"]], tokenize="char").score
    )
    with pytest.raises(EvalError, match="kiwipiepy"):
        bleu(["학교에 갔다"], ["학교로 갔다"], tokenize="kiwi")


def test_one_tokenizer_per_call_when_any_text_has_hangul():
    result = rouge(["the cat sat", "학교에 갔다"], ["the cat sat", "학교로 갔다"], types="rouge1")
    assert result.method.startswith("kiwi morphemes")
    assert result.per_example[0] == 1.0
    english = rouge(["the cat sat"], ["the cat sat"], types="rouge1")
    assert english.method == "rouge-score default tokenizer"


# ---- SQuAD exact match and F1 -----------------------------------------------------------------


def test_squad_exact_match_and_f1_by_hand():
    preds = ["The Cat!", "Eiffel-Tower", "the cat sat", "cat cat dog", "", "the", "", "U.S.A."]
    refs = ["a cat", "eiffel tower", "cat", "cat dog dog", "", "", "x", "USA"]
    em = exact_match(preds, refs)
    # 'eiffeltower' != 'eiffel tower' (punctuation goes without a space, as in SQuAD).
    assert em.per_example == [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    assert em.score == pytest.approx(4 / 8)
    assert em.method.startswith("SQuAD normalisation")
    f1 = token_f1(preds, refs)
    # [cat,sat] vs [cat]: P 1/2, R 1 -> 2/3. [cat,cat,dog] vs [cat,dog,dog]: 2 shared of 3 -> 2/3.
    expected = [1.0, 0.0, 2 / 3, 2 / 3, 1.0, 1.0, 0.0, 1.0]
    assert f1.per_example == pytest.approx(expected)
    assert f1.score == pytest.approx(sum(expected) / 8)
    assert f1.name == "f1" and f1.scale == 1


def test_f1_takes_the_best_reference():
    # [paris] vs [city, of, paris]: P 1, R 1/3 -> 0.5; vs [paris, france]: R 1/2 -> 2/3.
    result = token_f1(["Paris"], [["the city of Paris", "Paris, France"]])
    assert result.score == pytest.approx(2 / 3)
    assert exact_match(["Paris"], [["the city of Paris", "Paris, France"]]).score == 0.0


# ---- results, registry, resampling ------------------------------------------------------------


def test_result_forms_and_escaping():
    result = bleu(README_SYS, README_PER_EXAMPLE)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["name"] == "bleu" and data["scale"] == 100 and data["n"] == 3
    assert data["per_example"]["bleu"] == result.per_example
    text = result.to_text()
    assert "BLEU over 3 examples (scale 0-100)" in text and "bleu = 48.53" in text
    assert result.method in text and str(result) == text

    class Sneaky:
        method = "<script>alert(1)</script>"

        def tokenize(self, text: str) -> list[str]:
            return text.split()

    sneaky = rouge(["a b"], ["a c"], tokenizer=Sneaky())
    page = sneaky.to_html()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "rouge1" in page and "0.5000" in page
    assert "rouge1" in sneaky.to_text()
    assert sneaky.to_dict()["types"]["rouge1"]["precision"] == 0.5


def test_custom_tokenizer_is_what_rouge_score_uses():
    class Spaces:
        def tokenize(self, text: str) -> list[str]:
            return text.split()

    result = rouge(["학교에 갔다 ok"], ["학교에 왔다 ok"], tokenizer=Spaces())
    direct = rouge_scorer.RougeScorer(list(TYPES), tokenizer=Spaces()).score(
        "학교에 왔다 ok", "학교에 갔다 ok"
    )
    assert result.scores == {k: direct[k].fmeasure for k in TYPES}
    assert result.method == "custom tokenizer (Spaces)"


def test_registry_names_and_single_rouge_types():
    assert set(METRICS) == {
        "bleu",
        "chrf",
        "rouge1",
        "rouge2",
        "rougeL",
        "rougeLsum",
        "rouge",
        "exact_match",
        "f1",
    }
    assert METRICS["f1"] is token_f1 and metrics.metric("bleu") is bleu
    preds, refs = generated_pairs(seed=5, n=20)
    full = rouge(preds, refs)
    for kind in TYPES:
        single = METRICS[kind](preds, refs)
        assert isinstance(single, TextScore)
        assert single.name == kind and list(single.scores) == [kind]
        assert single.score == full.scores[kind]
    with pytest.raises(EvalError, match=r"unknown metric 'blue'; known: bleu, chrf"):
        metrics.metric("blue")


def test_resample_checks_its_input():
    result = token_f1(["a", "b", "c"], ["a", "x", "c"])
    assert result.resample([0, 0, 2]) == 1.0
    assert result.resample([1]) == 0.0
    with pytest.raises(EvalError, match=r"0\.\.2 for 3 examples"):
        result.resample([0, 3])
    with pytest.raises(EvalError, match="non-empty"):
        result.resample([])
    with pytest.raises(EvalError, match="no score 'rouge1'; it has f1"):
        result.resample([0], "rouge1")


# ---- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [bleu, chrf, rouge, exact_match, token_f1])
def test_bad_input_is_one_clear_line(fn):
    with pytest.raises(EvalError, match="predictions has 3 items but references has 2"):
        fn(["a", "b", "c"], ["a", "b"])
    with pytest.raises(EvalError, match="nothing to score"):
        fn([], [])
    with pytest.raises(EvalError, match=r"predictions must be a list .* not a single string"):
        fn("a b", ["a b"])
    with pytest.raises(EvalError, match=r"predictions\[1\] is NoneType, not a string"):
        fn(["a", None], ["a", "b"])
    with pytest.raises(EvalError, match=r"references\[0\] is empty"):
        fn(["a"], [[]])
    with pytest.raises(EvalError, match=r"references\[0\]\[1\] is int"):
        fn(["a"], [["a", 3]])
    with pytest.raises(EvalError, match="lang must be None"):
        fn(["a"], ["a"], lang="fr")


def test_bad_options():
    with pytest.raises(EvalError, match="unknown ROUGE type 'rouge0'"):
        rouge(["a"], ["a"], types=["rouge0"])
    with pytest.raises(EvalError, match="at least one type"):
        rouge(["a"], ["a"], types=[])
    with pytest.raises(EvalError, match="repeat"):
        rouge(["a"], ["a"], types=["rouge1", "rouge1"])
    with pytest.raises(EvalError, match="tokenize\\(text\\)"):
        rouge(["a"], ["a"], tokenizer=object())
    with pytest.raises(EvalError, match="use_stemmer"):
        rouge(["a"], ["a"], tokenizer=KiwiTokenizer(), use_stemmer=True)
    with pytest.raises(EvalError, match="unknown BLEU tokenizer 'moses'; known: none, zh, 13a"):
        bleu(["a"], ["a"], tokenize="moses")
    with pytest.raises(EvalError, match="'flores200' downloads a model"):
        bleu(["a"], ["a"], tokenize="flores200")
    if importlib.util.find_spec("mecab_ko") is None:  # sacrebleu[ko] not installed
        with pytest.raises(EvalError) as info:
            bleu(["a"], ["a"], tokenize="ko-mecab")
        assert "\n" not in str(info.value) and "ko-mecab" in str(info.value)
