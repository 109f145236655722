"""Keeping a bounded copy of what a run prints, while the user still sees all of it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class BoundedText:
    """The first and last `limit // 2` characters of a stream, with a count of what was cut."""

    def __init__(self, limit: int) -> None:
        self.limit = max(2, limit)
        self.head: list[str] = []
        self.head_len = 0
        self.tail: list[str] = []
        self.tail_len = 0
        self.total = 0

    def add(self, text: str) -> None:
        self.total += len(text)
        half = self.limit // 2
        if self.head_len < half:
            take = text[: half - self.head_len]
            self.head.append(take)
            self.head_len += len(take)
            text = text[len(take) :]
        if text:
            self.tail.append(text)
            self.tail_len += len(text)
            if self.tail_len > 2 * half:  # compact now and then, not on every write
                joined = "".join(self.tail)[-half:]
                self.tail, self.tail_len = [joined], len(joined)

    def text(self) -> str:
        half = self.limit // 2
        head = "".join(self.head)
        tail = "".join(self.tail)[-half:]
        cut = self.total - len(head) - len(tail)
        if cut > 0:
            note = f"[... nb-mlops kept the first and last {half} characters; {cut} cut ...]"
            return f"{head}\n{note}\n{tail}"
        return head + tail


class _Tee:
    """Writes go to the real stream and to a BoundedText; everything else is the real stream's."""

    def __init__(self, stream: TextIO, keep: BoundedText) -> None:
        self._stream = stream
        self._keep = keep

    def write(self, text: str) -> int:
        if isinstance(text, str):
            self._keep.add(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def captured(limit: int) -> Iterator[tuple[BoundedText, BoundedText]]:
    """Tee sys.stdout and sys.stderr for the block; restore them whatever happens."""
    out, err = BoundedText(limit), BoundedText(limit)
    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Tee(real_out, out), _Tee(real_err, err)
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = real_out, real_err
