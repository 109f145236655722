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


def redact_value(name: str, value: Any) -> Any:
    """The value to record for `name`: REDACTED for text under a secret name."""
    if isinstance(value, (str, bytes)) and is_secret_name(name):
        return REDACTED
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
