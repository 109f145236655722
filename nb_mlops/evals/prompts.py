"""Our judge prompts: package data (`evals/prompts/<family>.<lang>.toml`), versioned.

A prompt file holds `version` and one template per prompt name. Templates name their fields in
braces (`{question}`); filling them is one pass, so braces inside a question or an answer are
left as they are. The version is part of every judgement's record: changing a template's text
means a new version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from nb_mlops.evals.model import EvalError

LANGS = ("en", "ko")
_FIELD = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclass(frozen=True)
class Prompt:
    """One template of a prompt family, with the version of the file it came from."""

    family: str
    name: str
    lang: str
    version: str
    template: str

    @property
    def fields(self) -> list[str]:
        return sorted(set(_FIELD.findall(self.template)))

    def render(self, **values: Any) -> str:
        """The template with every field filled; a field left out is an error."""
        missing = [f for f in self.fields if f not in values]
        if missing:
            raise EvalError(f"prompt {self.family}/{self.name}: no value for {missing[0]!r}")
        return _FIELD.sub(lambda m: str(values[m.group(1)]), self.template)

    def to_dict(self) -> dict[str, str]:
        keys = ("family", "name", "lang", "version")
        return {k: getattr(self, k) for k in keys}


def load_prompt(family: str, name: str, lang: str = "en") -> Prompt:
    """The template `name` of the `family` prompts in `lang` ("en" or "ko")."""
    data = _family(family, _lang(lang))
    template = data.get(name)
    if not isinstance(template, str):
        known = sorted(k for k, v in data.items() if isinstance(v, str) and k != "version")
        raise EvalError(f"prompt {family}/{name}: no such prompt (have {', '.join(known)})")
    return Prompt(family, name, lang, str(data["version"]), template)


def _lang(lang: str) -> str:
    code = str(lang).lower().split("-")[0]
    if code not in LANGS:
        raise EvalError(f"lang={lang!r}: judge prompts exist in {', '.join(LANGS)}")
    return code


@cache
def _family(family: str, lang: str) -> dict[str, Any]:
    import tomllib

    if not re.fullmatch(r"[a-z][a-z0-9_-]*", family):
        raise EvalError(f"prompt family {family!r}: not a prompt file name")
    path = resources.files("nb_mlops.evals") / "prompts" / f"{family}.{lang}.toml"
    if not path.is_file():
        raise EvalError(f"prompt family {family!r}: no prompts in {lang}")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    if "version" not in data:
        raise EvalError(f"prompts/{family}.{lang}.toml has no version")
    return data
