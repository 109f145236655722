"""`nb-mlops SUBCOMMAND ...`: the command table as a shell command (text, or JSON with --json)."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from nb_mlops.commands import HelpShown, UsageProblem, parse_argv
from nb_mlops.errors import NbMlopsError
from nb_mlops.jsonl import strict_json
from nb_mlops.text import printable


class _CliContext:
    """The shell has no kernel: commands that need one explain what to use instead."""

    surface = "cli"
    prog = "nb-mlops"

    def start_session(self, args: argparse.Namespace) -> Any:
        raise NbMlopsError(
            "`start` and `stop` span notebook cells and exist only as `%track start/stop`; "
            "in a script use `with nm.start_run(...):`"
        )

    stop_session = start_session
    run_cell = start_session

    def read_secret(self, prompt: str) -> str:
        """At a terminal, a hidden prompt; else one line of standard input (`... | nb-mlops
        scrub`), without its newline."""
        if sys.stdin is not None and sys.stdin.isatty():
            import getpass

            try:
                return getpass.getpass(prompt)
            except (EOFError, KeyboardInterrupt):
                raise NbMlopsError("cancelled: no string was given") from None
        line = sys.stdin.readline() if sys.stdin is not None else ""
        return line.removesuffix("\n").removesuffix("\r")

    def confirm(self, summary: str) -> bool:
        """At a terminal, ask; elsewhere nobody can answer, so refuse (the user passes --yes)."""
        if sys.stdin is None or not sys.stdin.isatty():
            raise NbMlopsError("not at a terminal, so nobody can confirm: pass --yes")
        print(summary, file=sys.stderr)
        try:
            answer = input("go ahead? [y/N] ")
        except (EOFError, KeyboardInterrupt):
            return False
        return answer.strip().lower() in ("y", "yes")


_PRETTY_ITEMS = 200
"""A list longer than this prints one item per line: json's indented writer is pure Python
(0.5 s for 1,000 runs), its compact one is C."""


def _to_json(result: Any) -> str:
    data = result.to_dict() if hasattr(result, "to_dict") else result
    long = isinstance(data, dict) and any(
        isinstance(v, list) and len(v) > _PRETTY_ITEMS for v in data.values()
    )
    if not long:
        return strict_json(data, indent=2)
    parts = []
    for key, value in data.items():
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {strict_json(item)}" for item in value)
            parts.append(f"  {strict_json(key)}: [\n{items}\n  ]")
        else:
            block = strict_json(value, indent=2).replace("\n", "\n  ")
            parts.append(f"  {strict_json(key)}: {block}")
    return "{\n" + ",\n".join(parts) + "\n}"


def console() -> NoReturn:
    """The `nb-mlops` program: `main`, and after a command that only reads (Command.reads), an
    exit without the interpreter's teardown once its output is flushed."""
    sys.exit(main(exit_fast=True))


def main(argv: Sequence[str] | None = None, *, exit_fast: bool = False) -> int:
    """Run one subcommand; exit status 0 on success, 1 on a refused or failed action, 2 on usage,
    3 when an alias moved but one of its deploy hooks failed, 141 when the reader of its output
    went away (`nb-mlops runs | head`), as other shell commands do."""
    try:
        return _run(list(sys.argv[1:] if argv is None else argv), exit_fast)
    except BrokenPipeError:
        # the reader closed the pipe: say nothing more, and keep Python's exit from trying again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _say(text: str, *, err: bool = False) -> None:
    """Print one message; names and values from the store may hold terminal escape sequences."""
    print(printable(text), file=sys.stderr if err else sys.stdout)


def _run(argv: list[str], exit_fast: bool = False) -> int:
    try:
        cmd, args = parse_argv(argv)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = cmd.handler(args, _CliContext())
    except HelpShown as shown:
        _say(shown.text)
        return 0
    except UsageProblem as exc:
        _say(exc.usage, err=True)
        _say(f"nb-mlops: error: {str(exc).splitlines()[0]}", err=True)
        return 2
    except NbMlopsError as exc:
        _say(f"nb-mlops: error: {exc}", err=True)
        return 1
    if result is not None:
        _say(_to_json(result) if getattr(args, "json", False) else str(result))
    for warning in caught:  # one plain line each, not Python's file:line form
        _say(f"nb-mlops: warning: {warning.message}", err=True)
    sys.stdout.flush()  # a closed pipe shows here, inside main, not at interpreter exit
    code = 0
    if getattr(result, "hooks_failed", False):
        code = 3  # the alias moved, but a deploy hook failed: a CI step must be able to tell
    elif getattr(result, "failed", None):
        code = 1  # `status`: a dataset could not be read (a damaged .dvc file), the rest listed
    if exit_fast and cmd.reads:
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    console()
