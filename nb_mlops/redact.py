"""Keeping secrets out of the store.

A name containing KEY, TOKEN, SECRET or PASSWORD (any case) marks a secret. Environment variables
with such names are always redacted. Params and tags with such names are redacted when their value
is text: a string is what a credential looks like, while `max_tokens = 256` is a setting worth
keeping. The same rule runs again before anything leaves the store (export, sync).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """True for names that mark secrets (API_KEY, hf_token, db_password, ...)."""
    return bool(_SECRET.search(name))


def redact_value(name: str, value: Any, *, under_secret: bool = False) -> Any:
    """The value to record for `name`: text under a secret name becomes REDACTED.

    Containers are searched: `{"api_key": "sk-..."}` and `api_keys = ["sk-..."]` are redacted
    inside, and everything textual below a secret name is too.
    """
    secret = under_secret or is_secret_name(name)
    if isinstance(value, (str, bytes)):
        return REDACTED if secret else value
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v, under_secret=secret) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(name, v, under_secret=secret) for v in value]
    return value


def redact_mapping(values: Mapping[str, Any], *, always: bool = False) -> dict[str, Any]:
    """A copy with secret-named entries redacted (`always`: whatever the value's type)."""
    out = {}
    for name, value in values.items():
        if always and is_secret_name(name):
            out[name] = REDACTED
        else:
            out[name] = redact_value(name, value)
    return out
