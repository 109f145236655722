"""Model names, aliases and `models:/` URIs: what is allowed, and how a reference is parsed.

Names become parts of catalog ids, checkout folders and URIs, so they are kept to a safe
alphabet: no path separators, no `..`, no `@`. Aliases also start with a letter, so one never
reads as a version number, and `latest` is kept for the newest version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nb_mlops.errors import InvalidName, ModelNotFound

URI_SCHEME = "models:/"
LATEST = "latest"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def check_name(name: object) -> str:
    """`name` if it is a valid model name, else InvalidName saying what is wrong with it."""
    if not isinstance(name, str) or not name:
        raise InvalidName(f"a model name must be a non-empty string, got {name!r}")
    if "/" in name or "\\" in name or ".." in name or "@" in name:
        raise InvalidName(
            f"model name {name!r} must not hold '/', '\\', '@' or '..' "
            "(letters, digits, '.', '_' and '-' only)"
        )
    if not _NAME.fullmatch(name):
        raise InvalidName(
            f"model name {name!r} must start with a letter or digit and hold only letters, "
            "digits, '.', '_' and '-' (at most 128 characters)"
        )
    return name


def check_alias(alias: object) -> str:
    """`alias` if it is a valid alias name (`latest` is kept for the newest version)."""
    if not isinstance(alias, str) or not alias:
        raise InvalidName(f"an alias must be a non-empty string, got {alias!r}")
    if alias.lower() == LATEST:
        raise InvalidName("alias 'latest' is kept for the newest version; choose another name")
    if not _ALIAS.fullmatch(alias):
        raise InvalidName(
            f"alias {alias!r} must start with a letter and hold only letters, digits, '_' and "
            "'-' (at most 64 characters)"
        )
    return alias


def check_version(version: object, name: str = "") -> int:
    """A version number from an int or its text ('3', 'v3')."""
    text = str(version).strip()
    if isinstance(version, bool):
        text = ""
    if text[:1] in ("v", "V"):
        text = text[1:]
    if text.isascii() and text.isdigit() and int(text) > 0:
        return int(text)
    of = f" of {name}" if name else ""
    raise ModelNotFound(f"{version!r} is not a version number{of} (versions are 1, 2, 3, ...)")


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: a model name with a version number or an alias (or neither)."""

    name: str
    version: int | None = None
    alias: str | None = None

    @property
    def uri(self) -> str:
        if self.version is not None:
            return f"{URI_SCHEME}{self.name}/{self.version}"
        return f"{URI_SCHEME}{self.name}@{self.alias or LATEST}"

    def __str__(self) -> str:
        return self.uri


def version_uri(name: str, version: int) -> str:
    return f"{URI_SCHEME}{name}/{version}"


def parse_ref(ref: str, version: int | str | None = None) -> ModelRef:
    """Parse `models:/NAME/3`, `models:/NAME@alias`, `NAME/3`, `NAME@alias` or `NAME`.

    `version` (a number, or an alias name) may be given apart instead, as the CLI does.
    """
    if not isinstance(ref, str) or not ref.strip():
        raise ModelNotFound(
            f"a model is named by `models:/NAME/VERSION` or `models:/NAME@ALIAS`, got {ref!r}"
        )
    text = ref.strip()
    if text.startswith(URI_SCHEME):
        text = text[len(URI_SCHEME) :]
    elif ":" in text:  # another scheme (runs:/, s3://) or a typo of ours
        raise ModelNotFound(
            f"{ref!r} is not a models:/ URI (write models:/NAME/VERSION or models:/NAME@ALIAS)"
        )
    alias: str | None = None
    number: int | None = None
    tail: str | None = None
    if "@" in text:
        text, alias = text.split("@", 1)
    elif "/" in text:
        text, tail = text.split("/", 1)
    name = check_name(text)  # the name first: `models:/../x/1` is a bad name, not a bad version
    if tail is not None:
        number = check_version(tail, name)
    if version is not None:
        if alias is not None or number is not None:
            raise ModelNotFound(f"{ref!r} already names a version; give the version once")
        number, alias = _version_or_alias(version, name)
    if alias is not None:
        if alias.lower() == LATEST:
            alias = LATEST
        else:
            check_alias(alias)
    return ModelRef(name, number, alias)


def _version_or_alias(value: int | str, name: str) -> tuple[int | None, str | None]:
    text = str(value).strip()
    digits = text.lstrip("vV")
    if isinstance(value, int) or (digits.isascii() and digits.isdigit()):
        return check_version(value, name), None
    return None, text.lstrip("@")
