"""Checking RAG answers offline: claims, content words, word and embedding matches, judge lists.

Offline, an answer's claims are its sentences (`split_claims`): English is cut at ., ! and ?
followed by a space, keeping abbreviations ("e.g.", "Dr.", initials) inside their sentence;
Korean uses kiwi's sentence splitter when kiwipiepy is installed, else sentence-final punctuation.
`lexical` checks claims and chunks by the content words they share (`ContentWords`, matched
fuzzily with rapidfuzz; Korean particles and endings dropped through kiwi's tags), `embedded` by
cosines of the user's embeddings. With an LLM judge (evals/rag.py asks it) the claims come from
the judge as a numbered list that `parse_claims` reads; `parse_verdicts` reads its numbered
yes/no verdicts and `parse_judge_rating` its 1-5 rating.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nb_mlops.evals.ask import Unparsed
from nb_mlops.evals.model import EvalError
from nb_mlops.evals.tokenize import kiwi_version, load_kiwi, morphemes

# ------------------------------------------------------------------------------ sentences
_LINE_MARKER = re.compile(r"^\s*(?:[-*•·‣▪]|\(?\d{1,3}[.)])\s+")
_END = re.compile(r"[.!?]+[\"'”’)\]]*$")
_NEVER_ENDS = frozenset(
    "e.g i.e cf vs viz al dr mr mrs ms prof st sr jr gen capt sgt rev mt ft approx fig".split()
)
"""Abbreviations after which no sentence ends (a name, an example or a number follows)."""
_ENDS_BEFORE_CAPITAL = frozenset("etc inc ltd co no nos jan feb aug sept oct".split())
"""Abbreviations (and dotted ones, U.S.) that end a sentence only when a capital follows."""
_KO_END = re.compile(r"(?<=[.!?。…])[\"'”’)\]]*\s+")


def split_sentences(text: str, lang: str = "en") -> list[str]:
    """The sentences of `text`, trimmed; lines and list items are sentences of their own."""
    _check_lang(lang)
    out: list[str] = []
    for line in str(text).splitlines():
        line = _LINE_MARKER.sub("", line).strip()
        if not line:
            continue
        pieces = _korean_sentences(line) if lang == "ko" else _english_sentences(line)
        out.extend(p for p in (s.strip() for s in pieces) if re.search(r"\w", p))
    return out


def split_claims(answer: str, lang: str = "en") -> list[str]:
    """The claims of `answer` for the offline methods: its sentences (see the module docstring)."""
    return split_sentences(answer, lang)


def _english_sentences(line: str) -> list[str]:
    words = list(re.finditer(r"\S+", line))
    out, start = [], 0
    for i, word in enumerate(words):
        token = word.group(0)
        if not _END.search(token):
            continue
        following = words[i + 1].group(0) if i + 1 < len(words) else None
        if following is not None and not _ends_sentence(token, following):
            continue
        out.append(line[start : word.end()])
        start = word.end()
    if line[start:].strip():
        out.append(line[start:])
    return out


def _ends_sentence(token: str, following: str) -> bool:
    if not token.rstrip("\"'”’)]").endswith("."):
        return True  # ! and ? always end a sentence
    stem = token.rstrip("\"'”’)]").rstrip(".").lstrip("(\"'“‘[").lower()
    if stem in _NEVER_ENDS or re.fullmatch(r"[a-z]", stem):
        return False  # "e.g. Paris", "Dr. Kim", "J. K. Rowling"
    if "." in stem or stem in _ENDS_BEFORE_CAPITAL:
        return following[:1].isupper()  # "U.S. law" goes on, "in the U.S. It" ends
    return True


def _korean_sentences(line: str) -> list[str]:
    kiwi = load_kiwi()
    if kiwi is None:
        return _KO_END.split(line)
    return [s.text for s in kiwi.split_into_sents(line)]


def sentence_method(lang: str) -> str:
    """How `split_sentences` cuts text in `lang`, for a result's method text."""
    if lang == "en":
        return "sentences cut at . ! ? (abbreviations kept)"
    if load_kiwi() is not None:
        return f"kiwi sentence splitter (kiwipiepy {kiwi_version()})"
    return "sentences cut at . ! ? (kiwipiepy not installed)"


def _check_lang(lang: str) -> None:
    if lang not in ("en", "ko"):
        raise EvalError(f"lang={lang!r}: give 'en' or 'ko'")


# -------------------------------------------------------------------------- content words
_EN_STOP = frozenset(
    """a an the is are was were be been being am do does did done has have had having of in on
    at to for from by with as and or but so if then than that this these those it its they them
    their theirs there here he she his her hers him we our ours us you your yours i me my mine
    what which who whom whose when where why how whether into onto about over under after before
    during also very can could will would shall should may might must just only such same other
    each any all both some more most own s t d ll m re ve""".split()
)
"""English function words and question words. Negations (not, no, never) stay content words."""
_KO_KEEP_TAGS = frozenset({"NNG", "NNP", "NNB", "NR", "SN", "SL", "SH", "VV", "VA", "XR"})
"""Kiwi tags of Korean content morphemes: nouns, numbers, foreign words, verb/adjective stems."""
_KO_STOP = frozenset("얼마 몇 무슨 무엇 어디 언제 누구 어떻 어느 하 되 있 것 수 등 때".split())
"""Korean question words and stems too common to tell two sentences apart."""
_KO_NEGATION = frozenset("않 안 못 없 아니".split())
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")


class ContentWords:
    """The content words of a text in one language, casefolded; numbers without thousands commas.

    English: letters and numbers as separate words, function words and question words dropped.
    Korean: kiwi morphemes whose tag is a noun, number, foreign word or verb/adjective stem
    (particles, endings and suffixes dropped, so 파리에 and 파리는 both give 파리), negations
    kept; without kiwipiepy, Unicode words.
    """

    def __init__(self, lang: str) -> None:
        _check_lang(lang)
        self.lang = lang
        self.kiwi = load_kiwi() if lang == "ko" else None
        if lang == "en":
            self.method = "English words without function words"
        elif self.kiwi is not None:
            self.method = f"kiwi content morphemes (kiwipiepy {kiwi_version()})"
        else:
            self.method = "unicode words (kiwipiepy not installed)"

    def words(self, text: str) -> list[str]:
        if self.kiwi is None:
            return [_number(w) for w in _TOKEN.findall(text.casefold()) if w not in _EN_STOP]
        out = []
        for form, tag in morphemes(text):
            tag = tag.split("-")[0]
            form = form.casefold()
            if form in _KO_NEGATION or (tag in _KO_KEEP_TAGS and form not in _KO_STOP):
                out.extend(_number(w) for w in _TOKEN.findall(form) if w not in _EN_STOP)
        return out


def _number(word: str) -> str:
    return word.replace(",", "") if word[:1].isdigit() else word


# ----------------------------------------------------------------------- checked items
@dataclass(frozen=True)
class RagItem:
    """One question, the answer the system gave, the chunks it retrieved, maybe a reference."""

    id: str
    question: str
    answer: str
    contexts: tuple[str, ...]
    reference: str | None = None


@dataclass
class Checked:
    """What one item came to: per-measure values, the checks behind them, errors per measure."""

    item: RagItem
    values: dict[str, float | None] = field(default_factory=dict)
    claims: list[dict[str, Any]] = field(default_factory=list)
    """One per claim: claim, supported, score (None from a judge), evidence (sentence or reason)."""
    chunks: list[dict[str, Any]] = field(default_factory=list)
    """One per chunk: chunk (1-based), relevant, score (None from a judge), reason."""
    relevance_note: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def share(flags: Sequence[bool]) -> float:
    """The fraction of true flags (flags is never empty here)."""
    return sum(flags) / len(flags)


# ---------------------------------------------------------------------------- lexical
class WordMatcher:
    """Fuzzy coverage of one text's content words by another's, with rapidfuzz.

    A word is found when a word of the other text has `fuzz.ratio` >= `word` with it (so
    "metres" finds "metre"); words holding a digit must be equal, so a changed number is
    never found.
    """

    def __init__(self, lang: str, word: float) -> None:
        try:
            import rapidfuzz
            from rapidfuzz import fuzz, process
        except ImportError:
            raise EvalError("method='lexical' needs rapidfuzz: pip install rapidfuzz") from None
        self.words = ContentWords(lang)
        self.word = word
        self._cdist, self._ratio = process.cdist, fuzz.ratio
        self.method = (
            f"rapidfuzz {rapidfuzz.__version__} fuzz.ratio >= {word:g} per word, numbers "
            f"exactly; words: {self.words.method}"
        )

    def content(self, text: str) -> list[str]:
        return list(dict.fromkeys(self.words.words(text)))

    def found(self, needles: list[str], hay: list[str]) -> list[bool]:
        """For each needle word, whether `hay` holds it."""
        return self.found_in_each(needles, [hay])[0]

    def found_in_each(self, needles: list[str], hays: list[list[str]]) -> list[list[bool]]:
        """`found(needles, hay)` for every hay, from one rapidfuzz matrix."""
        words = [w for hay in hays for w in hay]
        if not needles or not words:
            return [[False] * len(needles) for _ in hays]
        matrix = self._cdist(needles, words, scorer=self._ratio)
        digits = [any(c.isdigit() for c in w) for w in needles]
        out, start = [], 0
        for hay in hays:
            if not hay:
                out.append([False] * len(needles))
                continue
            best = matrix[:, start : start + len(hay)].max(axis=1)
            start += len(hay)
            have = set(hay)
            out.append(
                [
                    w in have if digit else bool(score >= self.word)
                    for w, digit, score in zip(needles, digits, best, strict=True)
                ]
            )
        return out


def lexical(
    checked: list[Checked], measures: tuple[str, ...], lang: str, limits: dict[str, float]
) -> dict[str, str]:
    """Score `checked` in place by word overlap; the method text per measure."""
    match = WordMatcher(lang, limits["word"])
    for c in checked:
        q_words = match.content(c.item.question)
        if "faithfulness" in measures:
            _lexical_claims(c, match, lang, limits["claim"])
        if "answer_relevance" in measures or "context_relevance" in measures:
            if not q_words:
                for m in ("answer_relevance", "context_relevance"):
                    if m in measures:
                        c.errors[m] = "the question has no content words to match"
                continue
        if "answer_relevance" in measures:
            hits = match.found(q_words, match.content(c.item.answer))
            c.values["answer_relevance"] = share(hits)
            missing = [w for w, h in zip(q_words, hits, strict=True) if not h]
            if missing:
                c.relevance_note = "question words not in the answer: " + ", ".join(missing[:6])
        if "context_relevance" in measures:
            hays = [match.content(chunk) for chunk in c.item.contexts]
            for i, hits in enumerate(match.found_in_each(q_words, hays), 1):
                part = share(hits)
                c.chunks.append({"chunk": i, "relevant": part >= limits["context"], "score": part})
            c.values["context_relevance"] = share([ch["relevant"] for ch in c.chunks])
    how = match.method
    return {
        "faithfulness": (
            f"lexical: supported claims / claims; claims = answer sentences "
            f"({sentence_method(lang)}), those without content words skipped; a claim is "
            f"supported when one context sentence holds >= {limits['claim']:g} of its content "
            f"words ({how})"
        ),
        "answer_relevance": f"lexical: share of the question's content words in the answer ({how})",
        "context_relevance": (
            f"lexical: relevant chunks / chunks; relevant = holds >= {limits['context']:g} of "
            f"the question's content words ({how})"
        ),
    }


def _lexical_claims(c: Checked, match: WordMatcher, lang: str, need: float) -> None:
    sentences = [s for chunk in c.item.contexts for s in split_sentences(chunk, lang)]
    pool = [(s, match.content(s)) for s in sentences]
    hays = [words for _, words in pool]
    for claim in split_claims(c.item.answer, lang):
        words = match.content(claim)
        if not words:
            continue  # "Sure." or "네." holds no fact to check
        best, evidence = 0.0, None
        for (sentence, _), hits in zip(pool, match.found_in_each(words, hays), strict=True):
            part = share(hits)
            if part > best:
                best, evidence = part, sentence
        c.claims.append(
            {"claim": claim, "supported": best >= need, "score": best, "evidence": evidence}
        )
    set_faithfulness(c)


def set_faithfulness(c: Checked) -> None:
    """Supported claims / claims; an item without claims has no faithfulness (not a zero)."""
    if c.claims:
        c.values["faithfulness"] = share([cl["supported"] for cl in c.claims])


# ------------------------------------------------------------------------- embeddings
class Embedder:
    """Unit vectors from the user's `embed(list[str]) -> (n, d)`, each text embedded once."""

    def __init__(self, embed: Any, batch_size: int = 64) -> None:
        if not callable(embed):
            raise EvalError(f"embed must be a function list[str] -> (n, d) array, not {embed!r}")
        self.embed = embed
        self.batch_size = batch_size
        self.vectors: dict[str, Any] = {}
        self.label = _name_of(embed)

    def prepare(self, texts: Sequence[str]) -> None:
        import numpy as np

        todo = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            try:
                out = self.embed(list(batch))
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [""])[0]
                raise EvalError(
                    f"embed {self.label} failed: {type(exc).__name__}: {first}"
                ) from None
            try:
                array = np.asarray(out, dtype=float)
            except (TypeError, ValueError):
                raise EvalError(
                    f"embed {self.label} returned {type(out).__name__}, not an (n, d) array "
                    "of numbers"
                ) from None
            if array.ndim != 2 or array.shape[0] != len(batch) or array.shape[1] < 1:
                raise EvalError(
                    f"embed {self.label} returned shape {array.shape} for {len(batch)} texts: "
                    f"give an array of shape ({len(batch)}, d)"
                )
            if not np.isfinite(array).all():
                raise EvalError(f"embed {self.label} returned NaN or infinite values")
            known = next(iter(self.vectors.values()), None)
            if known is not None and known.shape[0] != array.shape[1]:
                raise EvalError(
                    f"embed {self.label} returned {array.shape[1]} dimensions, earlier "
                    f"{known.shape[0]}"
                )
            norms = np.linalg.norm(array, axis=1, keepdims=True)
            units = np.divide(array, norms, out=np.zeros_like(array), where=norms > 0)
            self.vectors.update(zip(batch, units, strict=True))

    def cosine(self, a: str, b: str) -> float:
        """Cosine of two prepared texts (0 when either vector is all zeros)."""
        return float(self.vectors[a] @ self.vectors[b])


def _name_of(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    module = getattr(fn, "__module__", None) or type(fn).__module__
    return f"{module}:{name}"


def embedded(
    checked: list[Checked],
    measures: tuple[str, ...],
    lang: str,
    limits: dict[str, float],
    embed: Any,
) -> dict[str, str]:
    """Score `checked` in place by cosines of the user's embeddings; the method text."""
    if embed is None:
        raise EvalError("method='embeddings' needs embed=: a function list[str] -> (n, d) array")
    vec = Embedder(embed)
    plans, texts = [], []
    for c in checked:
        claims = split_claims(c.item.answer, lang) if "faithfulness" in measures else []
        sentences = [s for ch in c.item.contexts for s in split_sentences(ch, lang)]
        plans.append((claims, sentences))
        texts += [c.item.question, c.item.answer, *claims, *sentences, *c.item.contexts]
    vec.prepare(texts)
    for c, (claims, sentences) in zip(checked, plans, strict=True):
        for claim in claims:
            scored = [(vec.cosine(claim, s), s) for s in sentences]
            best, evidence = max(scored, key=lambda p: p[0]) if scored else (0.0, None)
            ok = best >= limits["claim"]
            c.claims.append({"claim": claim, "supported": ok, "score": best, "evidence": evidence})
        if "faithfulness" in measures:
            set_faithfulness(c)
        if "answer_relevance" in measures:
            c.values["answer_relevance"] = vec.cosine(c.item.question, c.item.answer)
        if "context_relevance" in measures:
            for i, chunk in enumerate(c.item.contexts, 1):
                cos = vec.cosine(c.item.question, chunk)
                c.chunks.append({"chunk": i, "relevant": cos >= limits["context"], "score": cos})
            c.values["context_relevance"] = share([ch["relevant"] for ch in c.chunks])
    head = f"embeddings ({vec.label})"
    return {
        "faithfulness": (
            f"{head}: supported claims / claims; claims = answer sentences "
            f"({sentence_method(lang)}); supported when the best cosine against a context "
            f"sentence >= {limits['claim']:g}"
        ),
        "answer_relevance": f"{head}: cosine(question, answer)",
        "context_relevance": (
            f"{head}: relevant chunks / chunks; relevant = cosine(question, chunk) >= "
            f"{limits['context']:g}"
        ),
    }


# --------------------------------------------------------------------------- judge output
_NUMBERED = re.compile(r"^\s*\(?(\d{1,3})\s*[.):](?!\d)\s*(.*)$")
_BULLET = re.compile(r"^\s*[-*•·]\s+(.+)$")
_NONE = frozenset({"none", "no claims", "n/a", "없음", "주장 없음", "없습니다"})
_YES = ("yes", "supported", "relevant", "예", "네", "그렇다")
_NO = ("no", "not supported", "unsupported", "not relevant", "irrelevant", "아니오", "아니요")
_NO += ("아니다", "아니")
_VERDICT = re.compile(
    r"^\s*(?:(?:claim|chunk|주장|청크|문단)\s*)?[\[(]?(?P<num>\d{1,3})\s*[\]).:]*\s*[-–:]?\s*\**\s*(?P<word>"
    + "|".join(re.escape(w) for w in sorted(_YES + _NO, key=len, reverse=True))
    + r")(?!\w)\**\s*[-–:,.;)]*\s*(?P<reason>.*)$",
    re.IGNORECASE,
)


def _clean(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKC", text).replace("**", "").replace("__", "")


def parse_claims(text: str) -> list[str]:
    """The claims a judge listed, one per numbered or bulleted line; [] for NONE/없음.

    Lines before and after the list ("Here are the claims:") are ignored; an answer with no
    list is `Unparsed`.
    """
    body = _clean(text).strip()
    if body.strip(" .:").casefold() in _NONE:
        return []
    claims = []
    for line in body.splitlines():
        match = _NUMBERED.match(line) or _BULLET.match(line)
        if match:
            claim = match.group(match.lastindex or 1).strip().strip("\"'“”")
            if claim:
                claims.append(claim)
    if not claims:
        raise Unparsed(f"no numbered claims in the answer ({_gist(body)})")
    return claims


def parse_verdicts(text: str, n: int) -> list[tuple[bool, str]]:
    """Verdicts 1..n of a numbered yes/no list, each with the judge's reason ('' when none).

    Yes/no words in English and Korean are read (예/네, 아니오/아니요). A missing number, or one
    number given both yes and no, is `Unparsed`; numbers beyond n are ignored.
    """
    found: dict[int, tuple[bool, str]] = {}
    for line in _clean(text).splitlines():
        match = _VERDICT.match(line)
        if not match:
            continue
        num = int(match.group("num"))
        verdict = match.group("word").casefold() in _YES
        reason = match.group("reason").strip()
        if num in found and found[num][0] != verdict:
            raise Unparsed(f"item {num} is given both yes and no")
        if 1 <= num <= n and num not in found:
            found[num] = (verdict, reason)
    missing = [i for i in range(1, n + 1) if i not in found]
    if missing:
        raise Unparsed(f"no yes/no verdict for number {missing[0]} ({_gist(text)})")
    return [found[i] for i in range(1, n + 1)]


def parse_judge_rating(text: str) -> tuple[float, str]:
    """The 1-5 rating a judge gave ("Rating: 4", "점수: 4") and its reason ('' when none)."""
    from nb_mlops.evals.verdicts import parse_rating

    rating = parse_rating(text, low=1, high=5)
    reason = re.search(r"(?:reason|이유|근거)\s*[:：]\s*(.+)", _clean(text), re.IGNORECASE)
    return rating, reason.group(1).strip() if reason else ""


def _gist(text: str) -> str:
    flat = " ".join(str(text).split())
    return repr(flat if len(flat) <= 60 else flat[:59] + "…")
