"""Run ids (short, unique across processes) and human names."""

from __future__ import annotations

import hashlib
import re
import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32: no i, l, o, u to misread
_ADJECTIVES = (
    "amber brisk calm clever dapper eager fuzzy gentle happy jolly keen lively lucky mellow "
    "nimble plucky quick quiet rapid shiny silent snowy sunny swift tidy vivid witty zesty"
).split()
_NOUNS = (
    "badger bison comet dingo falcon gecko heron ibis jackal koala lemur lynx marten newt "
    "otter panda quokka raven salmon tapir urchin vole walrus yak zebra"
).split()


_RUN_ID = re.compile(f"[{_ALPHABET}]{{8}}")


def new_run_id() -> str:
    """Eight base32 characters (40 random bits): short to type, no clash across processes."""
    return _encode(secrets.token_bytes(5))


def run_id_from(text: str) -> str:
    """The run id `text` always maps to (a run brought from elsewhere, named by its own id
    there, gets the same id each time it is brought)."""
    return _encode(hashlib.sha256(text.encode()).digest()[:5])


def is_run_id(text: object) -> bool:
    """Whether `text` has the shape of a run id (a value read from outside is checked first)."""
    return isinstance(text, str) and _RUN_ID.fullmatch(text) is not None


def _encode(five: bytes) -> str:
    bits = int.from_bytes(five, "big")
    return "".join(_ALPHABET[(bits >> shift) & 31] for shift in range(35, -5, -5))


def new_run_name() -> str:
    """A readable name like `swift-otter-42` for runs the user did not name."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(90) + 10}"
