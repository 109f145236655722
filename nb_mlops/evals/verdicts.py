"""Reading a judge's verdict out of free text: a 1-10 rating, or which of two replies is better.

Judges do not always follow the format they were asked for: they bold the brackets, write
"Rating: 7/10", put the verdict mid-sentence, answer in Korean, or give two grades. The parsers
take the forms a reader would accept and refuse the rest (`Unparsed` with the reason), so an
unreadable answer is asked again and, failing that, kept as an error rather than a guess.
"""

from __future__ import annotations

import re
import unicodedata

from nb_mlops.evals.ask import Unparsed

LOW, HIGH = 1, 10

_NUMBER = r"(\d{1,3}(?:\.\d+)?)"
_BRACKETED = re.compile(r"\[\[\s*" + _NUMBER + r"\s*\]\]")
_LABELLED = re.compile(
    r"(?:rating|score|grade|평가|점수|등급)\s*(?:is|of|는|은)?\s*[:=]?\s*\**\s*\[*\s*"
    + _NUMBER
    + r"(?!\d)\s*\]*(?:\s*(?:/|out of)\s*10(?!\d))?",
    re.IGNORECASE,
)
_SLASH = re.compile(_NUMBER + r"\s*(?:/|out of)\s*10(?!\d)", re.IGNORECASE)
_KO_POINTS = re.compile(_NUMBER + r"\s*점(?![수])")

_PAIR_BRACKETED = re.compile(r"\[\[\s*(A|B|C|tie|동점|무승부)\s*\]\]", re.IGNORECASE)
_PAIR_LABELLED = re.compile(
    r"(?:final verdict|verdict|winner|최종\s*판정|판정|승자)\s*(?:is|는|은)?\s*[:=]?\s*\**\s*"
    r"(?:assistant\s*|어시스턴트\s*)?(A|B|C|tie|동점|무승부)(?![A-Za-z])",
    re.IGNORECASE,
)
_TIE_WORDS = {"c", "tie", "동점", "무승부"}


def normalize(text: str) -> str:
    """Full-width digits and letters as ASCII, markdown emphasis gone, lines trimmed."""
    text = unicodedata.normalize("NFKC", text)
    return text.replace("**", "").replace("__", "").strip()


def parse_rating(text: str, *, low: int = LOW, high: int = HIGH) -> float:
    """The grade a judge gave, between `low` and `high`; `Unparsed` when none can be read.

    Preference: a labelled bracketed grade ("Rating: [[7]]"), then bracketed grades (all equal),
    then a labelled one ("Score: 7", "점수: 7"), then "7/10" or "7점" — the last of each kind.
    Two different bracketed grades, or a grade outside the scale, are not read.
    """
    body = normalize(text)
    if not body:
        raise Unparsed("the answer is empty")
    found = _rating_from(body)
    if found is None:
        raise Unparsed(f"no rating in the answer ({_gist(body)})")
    if not low <= found <= high:
        raise Unparsed(f"rating {found:g} is outside {low}-{high}")
    return found


def _rating_from(body: str) -> float | None:
    labelled = [m for m in _LABELLED.finditer(body) if "[[" in m.group(0)]
    if labelled:
        return float(labelled[-1].group(1))
    bracketed = {float(m.group(1)) for m in _BRACKETED.finditer(body)}
    if len(bracketed) > 1:
        values = ", ".join(f"{v:g}" for v in sorted(bracketed))
        raise Unparsed(f"the answer gives several ratings ({values})")
    if bracketed:
        return bracketed.pop()
    for pattern in (_LABELLED, _SLASH, _KO_POINTS):
        matches = list(pattern.finditer(body))
        if matches:
            return float(matches[-1].group(1))
    return None


def parse_preference(text: str) -> str:
    """ "A", "B" or "tie" as the judge decided; `Unparsed` when no single verdict can be read.

    A bracketed verdict ([[A]], [[B]], [[C]] or [[tie]]) wins over a labelled one ("Final
    verdict: B"); among several different bracketed verdicts, the one on the last line that has
    one is taken only when it is the answer's last line, else the answer is ambiguous.
    """
    body = normalize(text)
    if not body:
        raise Unparsed("the answer is empty")
    matches = list(_PAIR_BRACKETED.finditer(body))
    if matches:
        verdicts = {_side(m.group(1)) for m in matches}
        if len(verdicts) == 1:
            return verdicts.pop()
        last_line = body.splitlines()[-1]
        on_last = list(_PAIR_BRACKETED.finditer(last_line))
        if len({_side(m.group(1)) for m in on_last}) == 1:
            return _side(on_last[-1].group(1))
        raise Unparsed(f"the answer gives several verdicts ({', '.join(sorted(verdicts))})")
    labelled = list(_PAIR_LABELLED.finditer(body))
    if labelled:
        return _side(labelled[-1].group(1))
    raise Unparsed(f"no verdict in the answer ({_gist(body)})")


def _side(word: str) -> str:
    word = word.strip().lower()
    return "tie" if word in _TIE_WORDS else word.upper()


def _gist(body: str) -> str:
    flat = " ".join(body.split())
    return repr(flat[:60] + ("..." if len(flat) > 60 else ""))
