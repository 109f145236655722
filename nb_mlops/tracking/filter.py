"""Run filters: MLflow's ``search_runs`` filter syntax, plus ``OR`` and parentheses.

A filter such as ``metrics.accuracy > 0.9 AND (params.model = 'rf' OR tags.team = "nlp")``
is parsed once into a small tree of nodes; each node tests a run document (a dict) without
eval/exec.  The grammar, the matching rules and where we differ from MLflow on purpose are
written down for users in docs/filter.md; the names a key can use live in fields.py.

Rules worth knowing when reading the code:

* A missing key (or a ``None`` value) makes a comparison false, ``!=`` included, like SQL NULL.
  Only ``IS [NOT] NULL`` and the ``null`` literal look at missing keys.
* A number literal compares numerically with ints, floats and strings that parse as numbers; a
  string literal compares with the string form of the value (``8 = '8'``, ``True = 'True'``).
* ``status`` ignores case and answers to MLflow's names too (``KILLED`` is ``interrupted``,
  ``FAILED`` covers ``failed`` and ``crashed``); ``start``/``end`` compare as ISO-8601 text with
  a string literal and in whole milliseconds since the epoch with a number literal.
* A ``datasets.`` comparison holds when it holds for one of the data versions the run read.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import datetime
from itertools import compress, repeat
from typing import Any, NamedTuple

from nb_mlops.errors import FilterSyntaxError
from nb_mlops.store.columns import MISSING
from nb_mlops.tracking.fields import (
    ATTRIBUTE_LIST,
    DATASET_LIST,
    SECTIONS,
    Key,
    as_number,
    attribute_name,
    dataset_field,
    dataset_values,
    epoch_ms,
    reader,
    status_names,
)

__all__ = [
    "And",
    "Comparison",
    "MatchAll",
    "Node",
    "Or",
    "compile_filter",
    "filter_keys",
    "parse_filter",
    "parse_order_clause",
]

_KEYWORDS = frozenset(
    {"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "TRUE", "FALSE", "NULL", "ASC", "DESC"}
)
_OPERATOR_LIST = "=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL or IS NOT NULL"
_PREFIX_LIST = "metrics, params, tags, attributes or datasets (or metric, param, tag, attribute)"

_ORDERING = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_WS = re.compile(r"\s*")
_WORD = re.compile(r"[^\W\d]\w*")
# Bare names after a prefix: no arithmetic exists in the grammar, so '-' and '/' are safe here
# (MLflow users often log names like "val-loss" or "train/acc").
_BARE_NAME = re.compile(r"[\w\-/]+(?:\.[\w\-/]+)*")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NUMBER_TAIL = re.compile(r"[\w.]+")

ErrorType = Callable[[str, str, int], Exception]
"""How a syntax error is made: (message, text, position) -> exception (FilterSyntaxError)."""


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # word, key, string, number, op, (, ), ",", eof
    value: Any
    pos: int
    end: int


def _one_line(text: str) -> str:
    # Same length as the input so positions stay valid, but the error's str stays on one line.
    return re.sub(r"\s", " ", text)


def _show(text: str, limit: int = 30) -> str:
    """A short, quoted, single-line rendering of a piece of the filter for messages."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "'" + text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + "'"


class _Lexer:
    """Turns the filter into tokens on demand, so errors surface in reading order."""

    def __init__(self, text: str, error: ErrorType) -> None:
        self.text = text
        self.pos = 0
        self.make_error = error

    def error(self, message: str, position: int) -> Exception:
        return self.make_error(message, _one_line(self.text), position)

    def next(self) -> _Token:
        text = self.text
        pos = _WS.match(text, self.pos).end()
        if pos >= len(text):
            self.pos = pos
            return _Token("eof", None, pos, pos)
        ch = text[pos]
        if ch in "(),":
            self.pos = pos + 1
            return _Token(ch, ch, pos, pos + 1)
        if ch in "<>=!":
            two = text[pos : pos + 2]
            if two in ("<=", ">=", "!=", "=="):
                self.pos = pos + 2
                return _Token("op", "=" if two == "==" else two, pos, pos + 2)
            if ch == "!":
                raise self.error("expected '!=' but found a lone '!'", pos)
            self.pos = pos + 1
            return _Token("op", ch, pos, pos + 1)
        if ch in "'\"":
            value, end = self._quoted(pos, ch, "string")
            self.pos = end
            return _Token("string", value, pos, end)
        number = _NUMBER.match(text, pos)
        if number:
            end = number.end()
            if end < len(text) and (text[end].isalnum() or text[end] in "_."):
                bad = _NUMBER_TAIL.match(text, pos) or number
                raise self.error(f"malformed number {_show(text[pos : bad.end()])}", pos)
            self.pos = end
            literal = number.group()
            value = float(literal) if any(c in literal for c in ".eE") else int(literal)
            return _Token("number", value, pos, end)
        word = _WORD.match(text, pos)
        if word:
            end = word.end()
            if end < len(text) and text[end] == ".":
                return self._key(pos, word.group(), end + 1)
            self.pos = end
            return _Token("word", word.group(), pos, end)
        if ch == "`":
            # `metrics`.acc (a quoted prefix, as MLflow allows) or `Run name` (an attribute)
            name, end = self._quoted(pos, ch, "name")
            if end < len(text) and text[end] == ".":
                return self._key(pos, name, end + 1)
            if not name:
                raise self.error("empty name in backticks", pos)
            self.pos = end
            return _Token("key", (None, name, pos), pos, end)
        raise self.error(f"unexpected character {_show(ch)}", pos)

    def _key(self, pos: int, prefix: str, name_pos: int) -> _Token:
        """Read the name after ``prefix.``: backticked, double-quoted or bare with dots."""
        text = self.text
        ch = text[name_pos : name_pos + 1]
        if ch and ch in '`"':
            name, end = self._quoted(name_pos, ch, "name")
            if not name:
                raise self.error(f"empty name after {_show(prefix + '.')}", name_pos)
        else:
            bare = _BARE_NAME.match(text, name_pos)
            if not bare:
                found = _show(ch) if ch else "end of filter"
                raise self.error(
                    f"expected a name after {_show(prefix + '.')}, found {found}", name_pos
                )
            name, end = bare.group(), bare.end()
        self.pos = end
        return _Token("key", (prefix, name, name_pos), pos, end)

    def _quoted(self, pos: int, quote: str, what: str) -> tuple[str, int]:
        """Read a quoted run; a backslash escapes ' " ` or itself and is kept before anything else.

        Keeping other backslashes means LIKE patterns can still say ``\\%`` for a literal %.
        In strings, a doubled quote is one quote, as in SQL (``'it''s'``).
        """
        text = self.text
        out: list[str] = []
        i = pos + 1
        n = len(text)
        while i < n:
            c = text[i]
            if c == "\\" and i + 1 < n and text[i + 1] in "\\'\"`":
                out.append(text[i + 1])
                i += 2
            elif c == quote:
                if quote != "`" and i + 1 < n and text[i + 1] == quote:
                    out.append(quote)
                    i += 2
                    continue
                return "".join(out), i + 1
            else:
                out.append(c)
                i += 1
        raise self.error(f"unterminated {what}: no closing {quote} for the one opened here", pos)


# ---------------------------------------------------------------------------------------------
# Value coercion (the hot path: keep these cheap for the common types)
# ---------------------------------------------------------------------------------------------


def _as_text(value: Any) -> str:
    """The string form a value is compared by, as MLflow's str() of logged params."""
    if type(value) is str:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _as_bool(value: Any) -> bool | None:
    if type(value) is bool:
        return value
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.lower())
    return None


def _casefold(text: str) -> str:
    return text.casefold()


def _same(text: str) -> str:
    return text


def _like_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """SQL LIKE as a regex: % is any run, _ is one character, \\x is x literally."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(parts), flags)


# ---------------------------------------------------------------------------------------------
# Building matchers
# ---------------------------------------------------------------------------------------------


def _is_status(key: Key) -> bool:
    return key.section == "attributes" and key.name == "status"


def _is_timed(key: Key) -> bool:
    return key.section == "attributes" and key.name in ("start", "end")


def _value_test(key: Key, op: str, literal: Any) -> Callable[[Any], bool]:
    """A test for a present (non-None) value against one literal."""
    if op in ("LIKE", "ILIKE"):
        regex = _like_regex(literal, op == "ILIKE" or _is_status(key))
        return lambda v: regex.fullmatch(_as_text(v)) is not None
    if type(literal) is bool:
        if op == "=":
            return lambda v: _as_bool(v) is literal
        return lambda v: _as_bool(v) is not literal  # "!=": ordering was refused when parsing

    if isinstance(literal, str):
        fold = _casefold if _is_status(key) else _same
        text = fold(literal)
        if op == "=":
            return lambda v: fold(_as_text(v)) == text
        if op == "!=":
            return lambda v: fold(_as_text(v)) != text
        compare = _ORDERING[op]
        return lambda v: compare(fold(_as_text(v)), text)

    # A number literal.
    coerce = epoch_ms if _is_timed(key) else as_number
    if op == "=":

        def equal(v: Any) -> bool:
            x = coerce(v)
            return x is not None and x == literal

        return equal
    if op == "!=":

        def unequal(v: Any) -> bool:
            # Present but not a number is "not equal"; NaN is unequal to everything.
            x = coerce(v)
            return x is None or x != literal

        return unequal
    compare = _ORDERING[op]

    def ordered(v: Any) -> bool:
        x = coerce(v)
        # Comparisons with NaN are already false, so NaN metrics never match here.
        return x is not None and compare(x, literal)

    return ordered


def _in_test(key: Key, literals: tuple[Any, ...]) -> Callable[[Any], bool]:
    """A membership test: sets per literal kind so long IN lists stay cheap."""
    fold = _casefold if _is_status(key) else _same
    texts = {fold(x) for x in literals if isinstance(x, str)}
    nums = {x for x in literals if type(x) in (int, float)}
    flags = {x for x in literals if type(x) is bool}
    coerce = epoch_ms if _is_timed(key) else as_number

    def member(v: Any) -> bool:
        if texts and fold(_as_text(v)) in texts:
            return True
        if nums:
            x = coerce(v)
            if x is not None and x in nums:
                return True
        return bool(flags) and _as_bool(v) in flags

    return member


_NULL_OPS = {"IS NULL": True, "IS NOT NULL": False}


def _one_value(key: Key, op: str, value: Any) -> Callable[[Any], bool]:
    """The comparison as a test of one value, which may be None (the key is missing)."""
    if op in _NULL_OPS or (value is None and op in ("=", "!=")):
        if _NULL_OPS.get(op, op == "="):
            return lambda v: v is None
        return lambda v: v is not None
    if op in ("IN", "NOT IN"):
        with_null = any(x is None for x in value)
        member = _in_test(key, value)
        if op == "IN":
            if with_null:
                return lambda v: v is None or member(v)
            return lambda v: v is not None and member(v)
        return lambda v: v is not None and not member(v)
    test = _value_test(key, op, value)
    return lambda v: v is not None and test(v)


def _matcher(key: Key, op: str, value: Any, runs_uri: str | None) -> Callable[[dict], bool]:
    if key.section == "datasets":
        return _dataset_matcher(key, op, value)
    get = reader(key, runs_uri)
    if _is_status(key) and op not in _NULL_OPS and value is not None:
        return _status_matcher(key, op, value, get)
    test = _one_value(key, op, value)
    return lambda doc: test(get(doc))


def _status_matcher(
    key: Key, op: str, value: Any, get: Callable[[dict], Any]
) -> Callable[[dict], bool]:
    """Status answers to our name and MLflow's: `!=` and NOT IN hold when neither name matches,
    the other operators when either does."""
    negated = {"!=": "=", "NOT IN": "IN"}.get(op)
    test = _one_value(key, negated or op, value)
    if negated:
        return lambda doc: (s := get(doc)) is not None and not any(test(n) for n in status_names(s))
    return lambda doc: (s := get(doc)) is not None and any(test(n) for n in status_names(s))


def _dataset_matcher(key: Key, op: str, value: Any) -> Callable[[dict], bool]:
    """Holds when the comparison holds for one of the data versions the run read (as MLflow's
    join does, `!=` and NOT IN included); IS NULL: no data version has the field."""
    values = dataset_values(key)
    if op in _NULL_OPS or (value is None and op in ("=", "!=")):
        if _NULL_OPS.get(op, op == "="):
            return lambda doc: all(v is None for v in values(doc))
        return lambda doc: any(v is not None for v in values(doc))
    test = _one_value(key, op, value)
    return lambda doc: any(test(v) for v in values(doc))


# ---------------------------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------------------------


def _literal_text(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal_text(x) for x in value) + ")"
    return repr(value)


ColumnOf = Callable[[Key, bool], Any]
"""A key's column over the store's runs (store/columns.py: MISSING where a run lacks it), or
None when the key has no column of its own (datasets, system tags, artifact_uri). With True:
(the column with NaN for every value that is not a float, the rows of those values)."""


class Node:
    """A parsed filter: ``evaluate(doc)`` says whether a run document matches."""

    __slots__ = ()

    def evaluate(self, doc: dict) -> bool:
        raise NotImplementedError

    def candidates(self, column_of: ColumnOf) -> set[int] | None:
        """The rows that may match, from columns alone: a superset of the matches (each is
        then checked with `evaluate`), or None when the columns cannot narrow it down."""
        return None

    def keys(self) -> list[str]:
        """The keys the filter mentions, in order of first appearance."""
        seen: dict[str, None] = {}
        self.collect_keys(seen)
        return list(seen)

    def collect_keys(self, seen: dict[str, None]) -> None:
        """Add the keys this node tests to `seen` (insertion-ordered, no repeats)."""


_QUICK = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "!=": operator.ne,
}


class MatchAll(Node):
    """The empty filter: every run matches."""

    __slots__ = ()

    def evaluate(self, doc: dict) -> bool:
        return True

    def __repr__(self) -> str:
        return "MatchAll()"

    def __str__(self) -> str:
        return ""


class Comparison(Node):
    """``KEY OP VALUE``; ``value`` is a number, str, bool, None (null) or a tuple for IN.

    ``IS NULL`` / ``IS NOT NULL`` are operators with the value None.
    """

    __slots__ = ("_column", "_key", "_match", "key", "op", "value")

    def __init__(self, key: Key, op: str, value: Any, runs_uri: str | None = None) -> None:
        self.key = str(key)
        self.op = op
        self.value = value
        self._key = key
        self._column = key.column
        self._match = _matcher(key, op, value, runs_uri)

    def evaluate(self, doc: dict) -> bool:
        return self._match(doc)

    def candidates(self, column_of: ColumnOf) -> set[int] | None:
        """Rows whose value passes this comparison: each distinct value is tested once, with
        the same matcher `evaluate` uses, on a document holding only that value."""
        col = column_of(self._key, False)
        if col is None:
            return None
        section, name = self._key.section, self._key.name
        quick = _QUICK.get(self.op)
        rest: Any = enumerate(col)
        rows: set[int] = set()
        if quick is not None and type(self.value) in (int, float):
            # a float against a number is what the matcher compares: done in C over the floats
            floats, others = column_of(self._key, True)
            hits = map(quick, floats, repeat(self.value))
            rows = set(compress(range(len(floats)), hits))
            if self.op == "!=":
                rows.difference_update(others)  # their NaN stand-ins are != anything
            rest = ((r, col[r]) for r in others)
        match = self._match
        memo: dict[tuple[type, Any], bool] = {}
        for r, v in rest:
            if v is MISSING:
                doc: dict = {}
            elif section == "attributes":
                doc = {name: v}
            else:
                doc = {section: {name: v}}
            try:
                hit = memo.get((type(v), v))
                if hit is None:
                    hit = memo[(type(v), v)] = match(doc)
            except TypeError:  # an unhashable value (a list param)
                hit = match(doc)
            if hit:
                rows.add(r)
        return rows

    def collect_keys(self, seen: dict[str, None]) -> None:
        seen[self._column] = None

    def __repr__(self) -> str:
        return f"Comparison({self.key!r}, {self.op!r}, {self.value!r})"

    def __str__(self) -> str:
        if self.op in _NULL_OPS:
            return f"{self.key} {self.op}"
        return f"{self.key} {self.op} {_literal_text(self.value)}"


class _Junction(Node):
    __slots__ = ("_tests", "children")
    _word = ""

    def __init__(self, children: list[Node]) -> None:
        flat: list[Node] = []
        for child in children:
            # (a AND b) AND c is a AND b AND c: flatten to keep the tree shallow and fast.
            flat.extend(child.children if type(child) is type(self) else [child])
        self.children = tuple(flat)
        self._tests = tuple(child.evaluate for child in flat)

    def collect_keys(self, seen: dict[str, None]) -> None:
        for child in self.children:
            child.collect_keys(seen)

    def candidates(self, column_of: ColumnOf) -> set[int] | None:
        found = [child.candidates(column_of) for child in self.children]
        known = [rows for rows in found if rows is not None]
        if isinstance(self, And):  # any child narrows it down
            return set.intersection(*known) if known else None
        if len(known) < len(found):  # one child that may match anything: so may the OR
            return None
        return set().union(*known)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.children))})"

    def __str__(self) -> str:
        parts = (f"({c})" if isinstance(c, _Junction) else str(c) for c in self.children)
        return f" {self._word} ".join(parts)


class And(_Junction):
    """All children match (short-circuits on the first that does not)."""

    __slots__ = ()
    _word = "AND"

    def evaluate(self, doc: dict) -> bool:
        # A plain loop: all() over a generator costs about twice as much per run.
        for test in self._tests:  # noqa: SIM110
            if not test(doc):
                return False
        return True


class Or(_Junction):
    """Some child matches (short-circuits on the first that does)."""

    __slots__ = ()
    _word = "OR"

    def evaluate(self, doc: dict) -> bool:
        for test in self._tests:  # noqa: SIM110
            if test(doc):
                return True
        return False


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------


def _describe(token: _Token, text: str) -> str:
    """How a token is named in "found ..." parts of messages."""
    if token.kind == "eof":
        return "end of filter"
    if token.kind == "string":
        return f"string {_show(token.value)}"
    if token.kind == "number":
        return f"number {text[token.pos : token.end]}"
    if token.kind == "word" and token.value.upper() in _KEYWORDS:
        return f"keyword {token.value.upper()}"
    return _show(text[token.pos : token.end])


class _Parser:
    """Recursive descent: or := and (OR and)*; and := primary (AND primary)*."""

    def __init__(
        self, text: str, runs_uri: str | None = None, error: ErrorType = FilterSyntaxError
    ) -> None:
        self.text = text
        self.runs_uri = runs_uri
        self.make_error = error
        self.lexer = _Lexer(text, error)
        self.token = self.lexer.next()

    # -- helpers --------------------------------------------------------------------------------

    def _advance(self) -> _Token:
        token = self.token
        self.token = self.lexer.next()
        return token

    def _error(self, message: str, token: _Token | None = None) -> Exception:
        where = (token or self.token).pos
        return self.make_error(message, _one_line(self.text), where)

    def _expected(self, what: str) -> Exception:
        return self._error(f"expected {what}, found {_describe(self.token, self.text)}")

    def _at_word(self, word: str) -> bool:
        return self.token.kind == "word" and self.token.value.upper() == word

    # -- grammar --------------------------------------------------------------------------------

    def parse(self) -> Node:
        if self.token.kind == "eof":
            return MatchAll()
        node = self._or()
        if self.token.kind == ")":
            raise self._error("unbalanced parentheses: ')' has no matching '('")
        if self.token.kind != "eof":
            raise self._expected("AND, OR or end of filter")
        return node

    def order_clause(self) -> tuple[Key, bool]:
        """``KEY [ASC | DESC]`` (an order_by clause): the key and whether it is ascending."""
        if self.token.kind == "eof":
            raise self._expected("a key such as metrics.accuracy or start_time")
        key = self._key("metrics.accuracy or start_time")
        ascending = True
        if self.token.kind == "word" and self.token.value.upper() in ("ASC", "DESC"):
            ascending = self._advance().value.upper() == "ASC"
        if self.token.kind != "eof":
            raise self._expected("ASC, DESC or the end of the clause")
        return key, ascending

    def _or(self) -> Node:
        items = [self._and()]
        while self._at_word("OR"):
            self._advance()
            items.append(self._and())
        return items[0] if len(items) == 1 else Or(items)

    def _and(self) -> Node:
        items = [self._primary()]
        while self._at_word("AND"):
            self._advance()
            items.append(self._primary())
        return items[0] if len(items) == 1 else And(items)

    def _primary(self) -> Node:
        if self.token.kind == "(":
            opening = self._advance()
            node = self._or()
            if self.token.kind != ")":
                raise self._expected(
                    f"')' to close the '(' at column {opening.pos + 1} (unbalanced parentheses)"
                )
            self._advance()
            return node
        return self._comparison()

    def _comparison(self) -> Node:
        key = self._key("metrics.accuracy, params.model or status, or '('")
        op_token = self.token
        op = self._operator(key)
        if op in _NULL_OPS:
            return Comparison(key, op, None, self.runs_uri)
        if op in ("IN", "NOT IN"):
            values = self._in_list(key, op)
            return Comparison(key, op, values, self.runs_uri)
        value_token = self.token
        value = self._value(f"after {op}")
        self._check(key, op, op_token, value, value_token)
        return Comparison(key, op, value, self.runs_uri)

    def _key(self, example: str) -> Key:
        token = self.token
        if token.kind == "key":
            prefix, name, name_pos = token.value
            section = SECTIONS.get(prefix.lower()) if prefix is not None else "attributes"
            if section is None:
                raise self._error(f"unknown key prefix {_show(prefix)}: expected {_PREFIX_LIST}")
            self._advance()
            if section == "attributes":
                return Key(section, self._attribute(name, name_pos))
            if section == "datasets":
                return Key(section, self._dataset_field(name, name_pos))
            return Key(section, name)
        if token.kind == "word" and token.value.upper() not in _KEYWORDS:
            self._advance()
            return Key("attributes", self._attribute(token.value, token.pos))
        if token.kind == "string" and self.text[token.pos] == '"':
            # "run name" = 'x': a double-quoted name on the left is a key, as in SQL
            self._advance()
            return Key("attributes", self._attribute(token.value, token.pos))
        raise self._expected(f"a key such as {example}")

    def _attribute(self, name: str, position: int) -> str:
        canonical = attribute_name(name)
        if canonical is None:
            raise self.make_error(
                f"unknown attribute {_show(name)}: valid attributes are {ATTRIBUTE_LIST}"
                " (use metrics., params. or tags. for logged values)",
                _one_line(self.text),
                position,
            )
        return canonical

    def _dataset_field(self, name: str, position: int) -> str:
        canonical = dataset_field(name)
        if canonical is None:
            raise self.make_error(
                f"unknown dataset field {_show(name)}: valid fields are {DATASET_LIST}",
                _one_line(self.text),
                position,
            )
        return canonical

    def _operator(self, key: Key) -> str:
        token = self.token
        if token.kind == "op":
            self._advance()
            return token.value
        if token.kind == "word":
            word = token.value.upper()
            if word in ("LIKE", "ILIKE", "IN"):
                self._advance()
                return word
            if word == "NOT":
                self._advance()
                if not self._at_word("IN"):
                    raise self._expected("IN after NOT")
                self._advance()
                return "NOT IN"
            if word == "IS":
                self._advance()
                negated = self._at_word("NOT")
                if negated:
                    self._advance()
                if not self._at_word("NULL"):
                    raise self._expected(f"NULL after IS{' NOT' if negated else ''}")
                self._advance()
                return "IS NOT NULL" if negated else "IS NULL"
        raise self._expected(f"an operator ({_OPERATOR_LIST}) after {key}")

    def _value(self, context: str) -> Any:
        token = self.token
        if token.kind in ("string", "number"):
            self._advance()
            return token.value
        if token.kind == "word":
            word = token.value.upper()
            if word in ("TRUE", "FALSE", "NULL"):
                self._advance()
                return {"TRUE": True, "FALSE": False, "NULL": None}[word]
            if word not in _KEYWORDS:
                raise self._error(
                    f"expected a value {context} (a number, a quoted string, true, false or "
                    f"null), found {_show(token.value)}; quote strings: '{token.value}'"
                )
        if token.kind == "key":
            raise self._expected(f"a value {context}; keys can only be on the left")
        raise self._expected(f"a value {context} (a number, a quoted string, true, false or null)")

    def _in_list(self, key: Key, op: str) -> tuple[Any, ...]:
        if self.token.kind != "(":
            raise self._expected(f"'(' to start the {op} list, e.g. {op} ('a', 'b')")
        self._advance()
        if self.token.kind == ")":
            raise self._error(f"empty {op} list: expected a value, found ')'")
        values = []
        while True:
            value_token = self.token
            value = self._value(f"in the {op} list")
            self._check(key, "=", None, value, value_token)
            values.append(value)
            if self.token.kind == ",":
                self._advance()
                if self.token.kind == ")":  # ('a', 'b',): a trailing comma, as MLflow allows
                    self._advance()
                    return tuple(values)
                continue
            if self.token.kind == ")":
                self._advance()
                return tuple(values)
            raise self._expected(f"',' or ')' in the {op} list")

    def _check(
        self, key: Key, op: str, op_token: _Token | None, value: Any, value_token: _Token
    ) -> None:
        """Refuse comparisons that can never mean anything, at parse time, with a reason."""
        found = _describe(value_token, self.text)
        if op in ("LIKE", "ILIKE"):
            if key.section == "metrics":
                raise self._error(f"{op} does not apply to metrics (they are numbers)", op_token)
            if not isinstance(value, str):
                raise self._error(f"{op} needs a quoted string pattern, found {found}", value_token)
            return
        if key.section == "metrics" and value is not None and type(value) not in (int, float):
            raise self._error(
                f"metrics are numbers: expected a number for {key}, found {found}", value_token
            )
        if op in _ORDERING and (value is None or type(value) is bool):
            raise self._error(
                f"{op} needs a number or a string, found {found} (true, false and null only "
                "work with =, != and IN)",
                value_token,
            )


# ---------------------------------------------------------------------------------------------
# Public interface
# ---------------------------------------------------------------------------------------------


def parse_filter(text: str, *, runs_uri: str | None = None) -> Node:
    """Parse a filter into a node tree; raise FilterSyntaxError pointing at the first fault.

    An empty or blank filter parses to ``MatchAll()``. `runs_uri` is the store's runs folder as
    a URI (what `artifact_uri` is built on); without it `artifact_uri` is read from the run.
    """
    return _Parser(text, runs_uri).parse()


def compile_filter(text: str | None, *, runs_uri: str | None = None) -> Callable[[dict], bool]:
    """A predicate over run documents; parse once, call per run. None or blank matches all."""
    if text is None or not text.strip():
        return _always
    return parse_filter(text, runs_uri=runs_uri).evaluate


def filter_keys(text: str | None) -> list[str]:
    """The keys a filter mentions, e.g. ``["metrics.accuracy", "params.model", "status"]``.

    Attributes are given by their canonical name (the nm.runs() column); the others keep
    their plural prefix. Useful to decide which columns a listing should show.
    """
    if text is None or not text.strip():
        return []
    return parse_filter(text).keys()


def parse_order_clause(text: str, error: ErrorType = FilterSyntaxError) -> tuple[Key, bool]:
    """One order_by clause, ``KEY [ASC|DESC]`` with the filters' key syntax: (key, ascending).

    `error` makes the exception for a clause that does not parse (message, text, position).
    """
    return _Parser(text, error=error).order_clause()


def _always(doc: dict) -> bool:
    return True
