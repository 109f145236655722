"""`nb-mlops SUBCOMMAND ...`: the command table as a shell command (text, or JSON with --json)."""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from nb_mlops.commands import HelpShown, UsageProblem, parse_argv
from nb_mlops.errors import NbMlopsError


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


def _strict(value: Any) -> Any:
    """JSON has no NaN or Infinity: write them as the strings Python's float() reads back."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def _to_json(result: Any) -> str:
    data = result.to_dict() if hasattr(result, "to_dict") else result
    return json.dumps(_strict(data), indent=2, ensure_ascii=False, default=str, allow_nan=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; exit status 0 on success, 1 on a refused or failed action, 2 on usage,
    3 when an alias moved but one of its deploy hooks failed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        cmd, args = parse_argv(argv)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = cmd.handler(args, _CliContext())
    except HelpShown as shown:
        print(shown.text)
        return 0
    except UsageProblem as exc:
        print(exc.usage, file=sys.stderr)
        print(f"nb-mlops: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except NbMlopsError as exc:
        print(f"nb-mlops: error: {exc}", file=sys.stderr)
        return 1
    if result is not None:
        print(_to_json(result) if getattr(args, "json", False) else str(result))
    for warning in caught:  # one plain line each, not Python's file:line form
        print(f"nb-mlops: warning: {warning.message}", file=sys.stderr)
    if getattr(result, "hooks_failed", False):
        return 3  # the alias moved, but a deploy hook failed: a CI step must be able to tell
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
