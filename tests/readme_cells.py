"""The READMEs' quickstart cells as written (for the README test and the README's screenshot)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = {"README.md": "## Quickstart, cell by cell", "README.ko.md": "## 빠른 시작: 셀 하나씩"}
SCREENSHOT = REPO / "docs" / "images" / "runs-widget.png"
"""The README's picture of the runs widget, taken by tests/browser/test_readme_screenshot.py."""


def quickstart_cells(readme: str = "README.md") -> list[str]:
    """The python blocks of the README's quickstart section, one cell each."""
    text = (REPO / readme).read_text(encoding="utf-8")
    start = text.index(QUICKSTART[readme])
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else None]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)
