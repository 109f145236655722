"""A bounded copy of what a run prints: head and tail kept, the cut counted, streams restored."""

from __future__ import annotations

import io
import sys

import pytest

from nb_mlops.tracking.output import BoundedText, captured

DIGITS = "".join(str(i % 10) for i in range(100))


def note(half: int, cut: int) -> str:
    return f"[... nb-mlops kept the first and last {half} characters; {cut} cut ...]"


def test_short_text_is_kept_whole() -> None:
    keep = BoundedText(20)
    keep.add("hello ")
    keep.add("world")
    assert keep.text() == "hello world"
    assert keep.total == 11


def test_text_of_exactly_the_limit_has_no_cut() -> None:
    keep = BoundedText(20)
    keep.add(DIGITS[:20])
    assert keep.text() == DIGITS[:20]


@pytest.mark.parametrize("chunk", [1, 3, 7, 10, 11, 100])
def test_long_text_keeps_head_and_tail_with_a_cut_notice(chunk: int) -> None:
    keep = BoundedText(20)
    for i in range(0, len(DIGITS), chunk):
        keep.add(DIGITS[i : i + chunk])
    assert keep.text() == f"{DIGITS[:10]}\n{note(10, 80)}\n{DIGITS[-10:]}"
    assert keep.total == 100


def test_memory_stays_bounded_for_many_writes() -> None:
    keep = BoundedText(100)
    for i in range(10_000):
        keep.add(f"line {i}\n")
    assert keep.tail_len <= 100
    assert sum(len(t) for t in keep.tail) <= 100
    text = keep.text()
    assert text.startswith("line 0\nline 1\n")
    assert text.endswith("line 9999\n")
    assert "characters;" in text and "cut ...]" in text


def test_unicode_text_is_counted_in_characters() -> None:
    keep = BoundedText(4)
    keep.add("가나다라마바")
    assert keep.text() == f"가나\n{note(2, 2)}\n마바"


def test_tiny_limits_are_raised_to_two() -> None:
    keep = BoundedText(0)
    keep.add("abc")
    assert keep.limit == 2
    assert keep.text() == f"a\n{note(1, 1)}\nc"


def test_captured_tees_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_out, fake_err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", fake_out)
    monkeypatch.setattr(sys, "stderr", fake_err)
    with captured(1000) as (out, err):
        print("to stdout")
        print("to stderr", file=sys.stderr)
        sys.stdout.write("more")
        sys.stdout.flush()  # forwarded to the real stream
        assert sys.stdout is not fake_out
        assert sys.stdout.isatty() is False
    assert sys.stdout is fake_out and sys.stderr is fake_err
    assert fake_out.getvalue() == "to stdout\nmore"  # the user still sees everything
    assert fake_err.getvalue() == "to stderr\n"
    assert out.text() == "to stdout\nmore"
    assert err.text() == "to stderr\n"


def test_captured_user_sees_all_while_the_copy_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", fake_out)
    with captured(20) as (out, _):
        sys.stdout.write(DIGITS)
    assert fake_out.getvalue() == DIGITS
    assert out.text() == f"{DIGITS[:10]}\n{note(10, 80)}\n{DIGITS[-10:]}"


def test_captured_restores_streams_after_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_out, fake_err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", fake_out)
    monkeypatch.setattr(sys, "stderr", fake_err)
    with pytest.raises(RuntimeError, match="mid-print"), captured(100) as (out, _):
        print("before")
        raise RuntimeError("mid-print")
    assert sys.stdout is fake_out
    assert sys.stderr is fake_err
    assert out.text() == "before\n"
    with pytest.raises(KeyboardInterrupt), captured(100):
        raise KeyboardInterrupt
    assert sys.stdout is fake_out and sys.stderr is fake_err


def test_nested_capture_restores_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", fake_out)
    with captured(100) as (outer, _):
        print("a")
        with captured(100) as (inner, _):
            print("b")
        print("c")
    assert sys.stdout is fake_out
    assert fake_out.getvalue() == "a\nb\nc\n"
    assert outer.text() == "a\nb\nc\n"
    assert inner.text() == "b\n"
