"""Tokenizers for scoring Korean as well as English text.

rouge-score's own tokenizer keeps only `[a-z0-9]`, so every Korean pair scores 0 with it. For
text that contains Hangul the metrics use Korean morphemes from kiwipiepy (the `ko` extra; its
model ships in the PyPI package, nothing downloads) and, without it, a Unicode word tokenizer.
Text without Hangul keeps each library's own behaviour, so English numbers equal theirs.

Every tokenizer here has `.tokenize(text) -> list[str]` (what `RougeScorer(tokenizer=...)`
calls) and `.method`, the words a result shows to say which tokenizer made its numbers.
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from nb_mlops.evals.model import EvalError

HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff]")
"""Hangul syllables, jamo and compatibility jamo."""

_WORD = re.compile(r"\w+")
_LATIN_WORD = re.compile(r"[a-z]+")
_ARTICLES = frozenset({"a", "an", "the"})
_ASCII_PUNCTUATION = frozenset(string.punctuation)

_kiwi_lock = threading.Lock()
_kiwi_cache: dict[str, Any] = {}


def has_hangul(text: str) -> bool:
    """Whether `text` holds any Hangul."""
    return HANGUL.search(text) is not None


def choose_lang(texts: Iterable[str], lang: str | None) -> str:
    """'ko' or 'en' for one metric call: `lang` when given, else 'ko' when any text has Hangul.

    One call uses one tokenizer for all its examples, so every pair is cut the same way.
    """
    if lang is None:
        return "ko" if any(has_hangul(t) for t in texts) else "en"
    if lang not in ("ko", "en"):
        raise EvalError(f"lang must be None (detect), 'en' or 'ko', not {lang!r}")
    return lang


def load_kiwi() -> Any:
    """The process's one `kiwipiepy.Kiwi` (built on first use, ~1.5 s), or None without it."""
    try:
        import kiwipiepy
    except ImportError:
        return None
    with _kiwi_lock:
        kiwi = _kiwi_cache.get("kiwi")
        if kiwi is None:
            kiwi = _kiwi_cache["kiwi"] = kiwipiepy.Kiwi()
    return kiwi


def kiwi_version() -> str | None:
    """kiwipiepy's version when it can be imported, else None."""
    try:
        import kiwipiepy
    except ImportError:
        return None
    return str(getattr(kiwipiepy, "__version__", "unknown version"))


@lru_cache(maxsize=65536)
def _analyse(text: str) -> tuple[tuple[str, str], ...]:
    kiwi = load_kiwi()
    return tuple((token.form, str(token.tag)) for token in kiwi.tokenize(text))


def morphemes(text: str) -> list[tuple[str, str]]:
    """`text` as kiwi morphemes, (form, tag) pairs.

    '학교에 갔다' -> 학교/NNG 에/JKB 가/VV 었/EP 다/EF.

    Raises EvalError when kiwipiepy is not installed (extra `ko`).
    """
    if load_kiwi() is None:
        raise EvalError("Korean morphemes need kiwipiepy: pip install 'nb-mlops[ko]'")
    return list(_analyse(text))


def _porter() -> Any:
    from nltk.stem import porter  # rouge-score depends on nltk and uses the same stemmer

    return porter.PorterStemmer()


class _Tokenizer:
    """Shared part: casefolded `\\w+` pieces, optionally Porter-stemmed like rouge-score does."""

    method = ""

    def __init__(self, use_stemmer: bool = False) -> None:
        self.use_stemmer = use_stemmer
        self._stemmer = _porter() if use_stemmer else None

    def _pieces(self, text: str) -> list[str]:
        return _WORD.findall(text.casefold())

    def _stem(self, tokens: list[str]) -> list[str]:
        # rouge-score stems only words longer than 3 characters; Porter is for Latin words only.
        stemmer = self._stemmer
        if stemmer is None:
            return tokens
        return [stemmer.stem(t) if len(t) > 3 and _LATIN_WORD.fullmatch(t) else t for t in tokens]

    def tokenize(self, text: str) -> list[str]:
        return self._stem(self._pieces(text))

    def _stem_note(self) -> str:
        return ", Porter stemmer on Latin words" if self.use_stemmer else ""


class WordTokenizer(_Tokenizer):
    """Unicode words: `\\w+` over casefolded text, so Hangul syllables stay (the no-kiwi path)."""

    def __init__(self, use_stemmer: bool = False, reason: str = "") -> None:
        super().__init__(use_stemmer)
        self.reason = reason
        note = f" ({reason})" if reason else ""
        self.method = f"unicode word tokenizer{note}{self._stem_note()}"


class KiwiTokenizer(_Tokenizer):
    """Korean morphemes from kiwi, each cut into casefolded `\\w+` pieces (punctuation drops).

    '학교에 갔다' -> ['학교', '에', '가', '었', '다']. With `drop_particles` the particles
    (tags J*: 은/는/이/가/을/를/에/로/으로/의/와/과/도 ...) are left out, as answer matching does.
    """

    def __init__(self, use_stemmer: bool = False, drop_particles: bool = False) -> None:
        super().__init__(use_stemmer)
        if load_kiwi() is None:
            raise EvalError("Korean morphemes need kiwipiepy: pip install 'nb-mlops[ko]'")
        self.drop_particles = drop_particles
        what = "kiwi morphemes without particles" if drop_particles else "kiwi morphemes"
        self.method = f"{what} (kiwipiepy {kiwi_version()}){self._stem_note()}"

    def _pieces(self, text: str) -> list[str]:
        out: list[str] = []
        for form, tag in _analyse(text):
            if self.drop_particles and tag.startswith("J"):
                continue
            out.extend(_WORD.findall(form.casefold()))
        return out


def korean_tokenizer(use_stemmer: bool = False, drop_particles: bool = False) -> _Tokenizer:
    """Kiwi morphemes when kiwipiepy imports, else Unicode words; `.method` says which."""
    if load_kiwi() is not None:
        return KiwiTokenizer(use_stemmer, drop_particles=drop_particles)
    return WordTokenizer(use_stemmer, reason="kiwipiepy not installed")


def kiwi_segmented(text: str) -> str:
    """`text` as kiwi morphemes joined by single spaces, punctuation kept, case kept.

    What BLEU scores for Korean with sacrebleu's `tokenize="none"`: the offline counterpart of
    sacrebleu's own Korean choice (ko-mecab, also morphemes), without MeCab.
    """
    return " ".join("".join(form.split()) for form, _ in morphemes(text))


# ---- SQuAD-style answer normalisation --------------------------------------------------------


def squad_normalize(text: str) -> str:
    """SQuAD's answer normalisation: lowercase, drop ASCII punctuation and the articles
    a/an/the, collapse whitespace. 'The  Eiffel-Tower!' -> 'eiffeltower'."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


class AnswerNormalizer:
    """Answer tokens for exact match and token F1, English (SQuAD) or Korean-aware.

    English: `squad_normalize(text).split()`, exactly SQuAD's. Korean: kiwi morphemes without
    particles (학교에 and 학교로 both give 학교), casefolded, punctuation and a/an/the dropped;
    without kiwipiepy, casefolded Unicode words (`\\w+`) without a/an/the.
    """

    def __init__(self, lang: str) -> None:
        self.lang = lang
        if lang == "en":
            self._tokenizer: _Tokenizer | None = None
            self.method = "SQuAD normalisation (lowercase, punctuation, a/an/the, whitespace)"
        else:
            self._tokenizer = korean_tokenizer(drop_particles=True)
            self.method = (
                "SQuAD-style normalisation (casefold, punctuation, a/an/the) over "
                + self._tokenizer.method
            )

    def tokens(self, text: str) -> list[str]:
        if self._tokenizer is None:
            return squad_normalize(text).split()
        return [t for t in self._tokenizer.tokenize(text) if t not in _ARTICLES]

    def key(self, text: str) -> str:
        """The form two answers must share to match exactly."""
        if self._tokenizer is None:
            return squad_normalize(text)
        return " ".join(self.tokens(text))
