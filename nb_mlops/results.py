"""The one shape of every result a verb returns: a dict, a text form and an HTML form.

The CLI prints `str()` (the text form with control characters escaped) or `to_dict()` as
JSON with `--json`, a notebook shows `to_html()` (a widget, where there is one, carries it as
its static fallback), and scripts read `to_dict()`. A result builds each form in one place;
`str`, `repr` and `_repr_html_` follow from them, so no surface formats a result on its own.
"""

from __future__ import annotations

import html
from typing import Any


class Result:
    """Base of result objects: subclasses give `to_dict` and `to_text`, and `to_html` when
    plain escaped text is not enough."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_text(self) -> str:
        raise NotImplementedError

    def to_html(self) -> str:
        return f"<pre>{html.escape(self.to_text())}</pre>"

    def __str__(self) -> str:
        from nb_mlops.text import printable  # not at import: `%load_ext` stays cheap

        return printable(self.to_text())

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return self.to_html()
