"""Keeping secrets out of the store: one rule for secret names, and the shapes of secret values.

A name is secret when one of its parts is a secret word, or when it ends in api key, access key
or private key. Parts are what is left after splitting on anything that is not a letter or a
digit (`_`, `-`, `.`, spaces, ...), on camelCase boundaries and between letters and digits, all
lower-cased: `AWS_SECRET_ACCESS_KEY` -> aws, secret, access, key; `apiKey` -> api, key;
`X-Auth-Token` -> x, auth, token. So `api_key`, `HF_TOKEN`, `db_password` and `{"pass": ...}`
are secret, while a bare `key`, `tokenizer`, `author` and `max_tokens` (part `tokens`) are not.

What is redacted (replaced by REDACTED):

- the value of a secret name when it is text: params, tags, mapping keys at any depth, keyword
  arguments and assignments in code (`api_key = "sk-..."` -> `api_key = "[REDACTED]"`: code keeps
  its shape), `NAME=value` and `"NAME": "value"` in text. Numbers, booleans and None under a
  secret name are kept (`token_limit = 4096` is a setting worth keeping); environment variables
  with secret names are redacted whatever their value (`redact_mapping(..., always=True)`);
- whatever the name, these value shapes inside any text: the password of a URL
  (`postgres://user:[REDACTED]@host/db`), `Bearer` values, and well-known token shapes (see
  `TOKEN_SHAPES`): OpenAI/Anthropic `sk-...`, GitHub `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_`/
  `github_pat_`, Hugging Face `hf_...`, AWS access key ids `AKIA...`/`ASIA...`, Slack
  `xox[abprs]-...`, JWTs and PEM private-key blocks.

Shell variables (`--token $DEPLOY_TOKEN`, `password=${PW}`) are references, not secrets, and are
kept. No detector is complete: `nb-mlops scrub` removes a string it missed from every file of the
store (see docs/secrets.md).

Every function here runs on each executed cell, so each is cheap when there is nothing to find:
a handful of substring tests (`in`, in C) decide which patterns run at all, and names are looked
for only around the words a secret name must hold. Measured on a 30-line cell: 25 us with
nothing to find, 75-100 us with candidates; a 2,000-line cell: about 4 ms.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "REDACTED",
    "SECRET_KEY_PREFIXES",
    "SECRET_PARTS",
    "TOKEN_SHAPES",
    "is_secret_name",
    "name_parts",
    "redact_mapping",
    "redact_source",
    "redact_strings",
    "redact_text",
    "redact_value",
]

REDACTED = "[REDACTED]"

SECRET_PARTS = frozenset(
    {
        "token",
        "secret",
        "secrets",
        "password",
        "passwords",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "apikey",
        "apikeys",
        "accesskey",
        "privatekey",
    }
)
"""A name with one of these parts is secret (`apikey` and friends: names written without a
separator, `APIKEY`, `x-apikey`)."""

SECRET_KEY_PREFIXES = frozenset({"api", "access", "private"})
"""A name whose last two parts are one of these and `key` (or `keys`) is secret."""

_SPLIT = re.compile(r"[^A-Za-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])")


def name_parts(name: str) -> list[str]:
    """The lower-cased parts of a name: split on non-alphanumerics, camelCase and digits."""
    parts: list[str] = []
    for chunk in _SPLIT.split(name):
        if chunk:
            parts.extend(p.lower() for p in _CAMEL.split(chunk) if p)
    return parts


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """True for names that mark secrets (`api_key`, `hf_token`, `db_password`, `apiKey`, `pass`);
    False for `key`, `tokenizer`, `author`, `max_tokens`, `lr`."""
    if not isinstance(name, str):
        return False
    parts = name_parts(name)
    if any(p in SECRET_PARTS for p in parts):
        return True
    return len(parts) >= 2 and parts[-1] in ("key", "keys") and parts[-2] in SECRET_KEY_PREFIXES


# ---------------------------------------------------------------------------------- value shapes
TOKEN_SHAPES: dict[str, re.Pattern[str]] = {
    # OpenAI (sk-, sk-proj-, sk-svcacct-) and Anthropic (sk-ant-...): 20 characters or more with
    # a digit among them, so words such as `sk-learn-style` are not taken for keys
    "openai/anthropic": re.compile(r"sk-(?=[\w-]*\d)[A-Za-z0-9_-]{20,}"),
    "github": re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"),
    "hugging face": re.compile(r"hf_[A-Za-z0-9]{30,}"),
    "aws access key id": re.compile(r"A(?:KIA|SIA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
    "slack": re.compile(r"xox[abprs]-[A-Za-z0-9-]{10,}"),
    "jwt": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
}
"""Well-known token shapes, replaced whole wherever they appear (not inside a longer word)."""

_SHAPE_HINTS: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    (("sk-",), TOKEN_SHAPES["openai/anthropic"]),
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), TOKEN_SHAPES["github"]),
    (("hf_",), TOKEN_SHAPES["hugging face"]),
    (("AKIA", "ASIA"), TOKEN_SHAPES["aws access key id"]),
    (("xox",), TOKEN_SHAPES["slack"]),
    (("eyJ",), TOKEN_SHAPES["jwt"]),
)
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
"""A shape preceded by one of these is the tail of a longer word (`task-...`), not a token."""

# a PEM private-key block up to its END line; cut short (no END), the key text that follows
_PEM = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY((?: BLOCK)?)-----"
    r"(?:[\s\S]*?-----END \1PRIVATE KEY\2-----|(?:[A-Za-z0-9+/=:,\s-]|\\[nr])*)"
)
_URL_AUTH = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]{0,30}://)([^\s/?#'\"<>()\[\]{}]+)@")
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)([A-Za-z0-9\-._~+/]{6,}=*)")

# ------------------------------------------------------------------------- names and their values
_NAME_WORDS = ("token", "secret", "pass", "pwd", "credential", "auth", "key")
"""A secret name holds one of these (lower-cased): only around them is a name looked for."""
_NAME_CHARS = frozenset(_WORD_CHARS | {".", "-"})

# a string literal (Python's, also JSON's and a repr's): prefix, opening quote, body, closing
# quote (or, when it is not closed, the end of the line; of the text for triple quotes)
_STR = (
    r"(?P<pre>[rRbBuUfF]{0,2})(?:(?P<tq>\"\"\"|''')|(?P<sq>[\"']))"
    r"(?P<body>(?(tq)[\s\S]*?|(?:[^\\\n]|\\[\s\S])*?))"
    r"(?P<close>(?(tq)(?:(?P=tq)|\Z)|(?:(?P=sq)|$)))"
)
_IDENT = r"(?P<name>[A-Za-z_][\w.\-]*)"
_QUOTED = r"(?P<q>[\"'])(?P<qname>[^\"'\n]{1,100}?)(?P=q)"
_SCHEMES = r"(?i:bearer|basic|token|digest|bot)"
_BARE = (
    r"(?P<scheme>" + _SCHEMES + r"[ \t]+)?"
    r"(?P<bare>(?!" + _SCHEMES + r"[ \t]+\[)[^\s\"',;(){}\[\]<>&]+)"
)
_VALUE = r"(?:" + _STR + r"|" + _BARE + r")"
_TEXT_SEP = r"[ \t]*(?:=>|:=|=|:)[ \t]*"

# code: NAME = "..." / NAME: TYPE = "..." / NAME == "..." / f(NAME="...") / {"NAME": "..."} /
# environ["NAME"] = "..." / setdefault("NAME", "...")
_SOURCE_AT = (
    re.compile(
        _IDENT
        + r"[ \t]*(?::=|==|!=|\+=|=|:(?:[ \t]*[A-Za-z_][\w.\[\], |]*?[ \t]*=)?)[ \t]*"
        + _STR,
        re.MULTILINE,
    ),
    re.compile(_QUOTED + r"[ \t]*(?:\][ \t]*(?:==|!=|=)|:|,|==|!=)[ \t]*" + _STR, re.MULTILINE),
)
# text: NAME=value, NAME: value, "NAME": "value", 'NAME': 'value', NAME => value, --NAME value
_TEXT_AT = (
    re.compile(_IDENT + _TEXT_SEP + _VALUE, re.MULTILINE),
    re.compile(_QUOTED + r"\]?" + _TEXT_SEP + _VALUE, re.MULTILINE),
)
_FLAG_AT = re.compile(r"(?P<flag>--[A-Za-z][\w\-]*)(?:[ \t]*=[ \t]*|[ \t]+)" + _VALUE, re.MULTILINE)
# bare values kept under a secret name: numbers, booleans, null, and shell variables
_KEEP_BARE = re.compile(
    r"[-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|(?i:true|false|none|null|nan)"
    r"|\$|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|%[A-Za-z_][A-Za-z0-9_]*%"
)


def _shapes(text: str) -> str:
    """Value shapes only: PEM blocks, URL passwords, Bearer values, well-known tokens."""
    if "-----BEGIN" in text:
        text = _PEM.sub(_pem, text)
    if "://" in text and "@" in text:
        text = _URL_AUTH.sub(_url_auth, text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(_bearer, text)
    for hints, pattern in _SHAPE_HINTS:
        if any(h in text for h in hints):
            text = pattern.sub(_token, text)
    return text


def _token(m: re.Match[str]) -> str:
    start = m.start()
    if start and m.string[start - 1] in _WORD_CHARS:
        return m.group(0)  # the tail of a longer word, not a token
    return REDACTED


def _pem(m: re.Match[str]) -> str:
    kind = f"{m.group(1)}PRIVATE KEY{m.group(2)}"
    return f"-----BEGIN {kind}-----{REDACTED}-----END {kind}-----"


def _url_auth(m: re.Match[str]) -> str:
    user, colon, password = m.group(2).partition(":")
    if not colon or not password or password == REDACTED:
        return m.group(0)
    return f"{m.group(1)}{user}:{REDACTED}@"


def _bearer(m: re.Match[str]) -> str:
    return f"{m.group(1)}{m.group(2)}{REDACTED}"


def _name_starts(text: str, low: str) -> list[int]:
    """Where the names around the trigger words of `low` (`text` lower-cased) begin."""
    starts = set()
    for word in _NAME_WORDS:
        i = low.find(word)
        while i >= 0:
            s = i
            while s > 0 and text[s - 1] in _NAME_CHARS and i - s < 100:
                s -= 1
            starts.add(s)
            i = low.find(word, i + len(word))
    return sorted(starts)


# string literals and comments of code, to tell a name in code from a name inside text
_LEXEME_START = re.compile(r"[#\"']")
_STRING_STOP = {'"': re.compile(r'["\\\n]'), "'": re.compile(r"['\\\n]")}


class _Lexemes:
    """Where the string literals and comments of a piece of code are (found once, on demand,
    jumping from one quote or `#` to the next: the cost is per literal, not per character)."""

    def __init__(self, code: str) -> None:
        self.starts: list[int] = []
        self.spans: list[tuple[int, int, int]] = []  # (end, end of the content, quote or -1)
        n = len(code)
        found = _LEXEME_START.search(code)
        while found:
            i = found.start()
            c = code[i]
            if c == "#":
                end = code.find("\n", i)
                end = n if end < 0 else end
                span = (end, end, -1)
            elif code.startswith(c * 3, i):
                close = code.find(c * 3, i + 3)
                span = (n, n, -1) if close < 0 else (close + 3, close, -1)
            else:
                span = self._single(code, i, c)
            self.starts.append(i)
            self.spans.append(span)
            found = _LEXEME_START.search(code, span[0])

    @staticmethod
    def _single(code: str, i: int, quote: str) -> tuple[int, int, int]:
        stop = _STRING_STOP[quote]
        j = i + 1
        while True:
            m = stop.search(code, j)
            if m is None:
                return (len(code), len(code), i)
            k = m.start()
            if code[k] == "\\":
                j = k + 2
            elif code[k] == "\n":
                return (k, k, i)  # not closed: it ends with its line
            else:
                return (k + 1, k, i)

    def around(self, pos: int) -> tuple[int, int, int] | None:
        """(end, end of the content, opening quote or -1) of the literal or comment holding
        `pos`, or None when `pos` is in code."""
        i = bisect.bisect_right(self.starts, pos) - 1
        if i >= 0 and pos < self.spans[i][0]:
            return self.spans[i]
        return None


def _pair_at(text: str, s: int, lexemes: _Lexemes | None) -> re.Match[str] | None:
    """The name-value pair whose name starts at `s`, if there is one. In code (`lexemes` given)
    values must be string literals; a name inside a string literal, a comment or a shell line
    is read as text, whose bare values count too, up to the end of that literal or line."""
    end = len(text)
    code = lexemes is not None
    if lexemes is not None:
        line = text.rfind("\n", 0, s) + 1
        if text[line:s].lstrip()[:1] in ("!", "%"):  # a shell or magic line
            code = False
            end = text.find("\n", s) % (len(text) + 1)
        else:
            inside = lexemes.around(s)
            if inside is not None:
                if inside[2] >= 0:  # a quoted name: {"password": "..."}, environ["TOKEN"] = ...
                    found = _SOURCE_AT[1].match(text, inside[2])
                    if found:
                        return found
                code = False
                end = inside[1]
    if not code and text.startswith("--", s):
        found = _FLAG_AT.match(text, s, end)
        if found:
            return found
    by_name, by_quoted = _SOURCE_AT if code else _TEXT_AT
    while s < end and text[s] in "-.0123456789":
        s += 1
    if not code:
        q = s - 1
        while q >= 0 and s - q < 100 and (text[q] in _NAME_CHARS or text[q] == " "):
            q -= 1  # a quoted name may hold spaces: "API Key"
        if q >= 0 and text[q] in "\"'":
            found = by_quoted.match(text, q, end)
            if found:
                return found
    return by_name.match(text, s, end)


def _redacted_pair(m: re.Match[str]) -> str | None:
    """The pair with its value redacted, or None when its name is not secret or the value is
    kept (a number, a boolean, null, a shell variable, an empty string, or already redacted)."""
    groups = m.groupdict()
    if not is_secret_name(groups.get("flag") or groups.get("name") or groups.get("qname") or ""):
        return None
    if groups.get("body") is not None:
        if groups["body"] in ("", REDACTED):
            return None  # an empty default (`password: str = ""`) holds nothing
        head = m.group(0)[: m.start("body") - m.start()]
        return f"{head}{REDACTED}{groups['close']}"
    if _KEEP_BARE.fullmatch(groups["bare"]):
        return None
    return m.group(0)[: m.start("bare") - m.start()] + REDACTED


def _names(text: str, code: bool) -> str:
    """Values of secret names redacted (see `_pair_at` for what a pair is)."""
    low = text.lower()
    if not any(word in low for word in _NAME_WORDS):
        return text
    out: list[str] = []
    last = 0
    lexemes = None
    for s in _name_starts(text, low):
        if s < last:
            continue
        if code and lexemes is None:
            lexemes = _Lexemes(text)
        m = _pair_at(text, s, lexemes)
        if m is None or m.start() < last:
            continue
        new = _redacted_pair(m)
        if new is not None:
            out += (text[last : m.start()], new)
            last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def redact_text(text: str) -> str:
    """`text` (output, a traceback, a message, a command) with secrets replaced by REDACTED:
    the value shapes, and the values after secret names (`password=...`, `"api_key": "..."`,
    `--token ...`; numbers kept)."""
    if not isinstance(text, str) or not text:
        return text
    return _names(_shapes(text), code=False)


def redact_source(code: str) -> str:
    """Cell source with secrets replaced and its shape kept: string literals given to secret names
    (assignments, keyword arguments, mapping entries, comparisons) become "[REDACTED]", value
    shapes are replaced wherever they are, and shell or magic lines (`!`, `%`) are read as text.

    Works on the text, so a cell that does not parse is redacted all the same.
    """
    if not isinstance(code, str) or not code:
        return code
    first = code.lstrip()
    if first.startswith("%%") and not first.startswith("%%track"):
        return redact_text(code)  # a cell magic (%%bash, %%writefile): its body is not Python
    return _names(_shapes(code), code=True)


# ------------------------------------------------------------------------------------- values
def redact_value(name: str, value: Any, *, under_secret: bool = False) -> Any:
    """The value to record for `name`: text under a secret name becomes REDACTED, other text has
    its value shapes redacted; numbers, booleans and None are kept.

    Containers are searched: `{"api_key": "sk-..."}` and `api_keys = ["sk-..."]` are redacted
    inside, everything textual below a secret name is too, and mapping keys are names.
    """
    secret = under_secret or is_secret_name(name)
    if isinstance(value, str):
        return REDACTED if secret else redact_text(value)
    if isinstance(value, bytes):
        return REDACTED if secret else value
    if isinstance(value, Mapping):
        return {
            redact_text(str(k)): redact_value(str(k), v, under_secret=secret)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_value(name, v, under_secret=secret) for v in value]
    return value


def redact_strings(value: Any) -> Any:
    """`value` with `redact_text` applied to every string in it, mapping keys included, but no
    name taken as a secret name (for records whose keys are not names: package lists)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {redact_text(str(k)): redact_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_strings(v) for v in value]
    return value


def redact_mapping(values: Mapping[str, Any], *, always: bool = False) -> dict[str, Any]:
    """A copy with secret-named entries redacted (`always`: whatever the value's type, as for
    environment variables, whose every value is text that may be a credential)."""
    out = {}
    for name, value in values.items():
        if always and is_secret_name(name):
            out[name] = REDACTED
        else:
            out[name] = redact_value(name, value)
    return out
