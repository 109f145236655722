"""Packages whose names load from their modules on first use, so importing them stays cheap.

A package lists `name -> module` once and gets its module-level `__getattr__` and `__dir__`
(PEP 562) from `exports`. A name must not be the name of one of the package's own modules:
importing that module would replace the name on the package with the module.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`(__getattr__, __dir__)` for `package`, whose name `n` lives in module `where[n]`."""
    names = sorted(where)

    def lookup(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # the next lookup finds it at once
        return value

    def listing() -> list[str]:
        return list(names)

    return lookup, listing
