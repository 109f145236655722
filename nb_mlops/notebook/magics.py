"""`%track SUBCOMMAND ...` and `%%track [-n NAME] ...`: thin translations to the public verbs.

`%%track` runs the cell as a tracked run. The run is pushed as the active one and always popped
in a `finally`: the cell ends `finished`, `failed` (the traceback is stored and the user still
sees the exception) or `interrupted`, and nothing is left behind as "current".
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from types import TracebackType
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Bool, CaselessStrEnum, Int

from nb_mlops.commands import (
    CELL,
    HelpShown,
    Message,
    UsageProblem,
    build_parser,
    overview,
    parse_cell_line,
    parse_line,
)
from nb_mlops.errors import NbMlopsError
from nb_mlops.text import printable


def _help_text() -> str:
    parts = [
        "Track experiments from the notebook.",
        "",
        build_parser(CELL, CELL.name, cli=False).format_help(),
        overview("%track"),
        "",
        "Details of one subcommand: %track SUBCOMMAND --help",
    ]
    return "\n".join(parts)


@magics_class
class TrackMagics(Magics):
    """The `%track` / `%%track` magics; options are set with `%config TrackMagics.<name>`."""

    quiet = Bool(False, help="Do not print a one-line summary after each tracked cell.").tag(
        config=True
    )
    stdout_limit = Int(
        65536, help="Characters of stdout/stderr kept per run (first and last halves)."
    ).tag(config=True)
    widgets = CaselessStrEnum(
        ("auto", "on", "off"),
        "auto",
        help="Show results (runs, comparisons, run details, data diffs) and a live chart of the "
        "metrics a tracked cell logs as widgets; auto: inside a Jupyter kernel.",
    ).tag(config=True)

    @line_cell_magic
    def track(self, line: str = "", cell: str | None = None) -> Any:
        __tracebackhide__ = True
        if cell is None:
            return self._line(line)
        return self._cell(line, cell)

    track.__doc__ = _help_text()

    # ------------------------------------------------------- line and cell mode
    def _line(self, line: str) -> Any:
        __tracebackhide__ = True
        try:
            cmd, args = parse_line(line)
        except HelpShown as shown:
            print(shown.text)
            return None
        except UsageProblem as exc:
            raise UsageError(printable(str(exc))) from None
        return cmd.handler(args, _MagicContext(self))

    def _cell(self, line: str, cell: str) -> Any:
        __tracebackhide__ = True
        try:
            opts = parse_cell_line(line)
        except HelpShown as shown:
            print(shown.text)
            return None
        except UsageProblem as exc:
            raise UsageError(printable(str(exc))) from None
        return CELL.handler(opts, _MagicContext(self, line, cell))

    def run_tracked(self, opts: argparse.Namespace, line: str, cell: str) -> Any:
        """Run `cell` as a tracked run with the `%%track` options `opts`; its value is the
        cell's value. The run ends finished, failed or interrupted, whatever happens."""
        __tracebackhide__ = True
        from nb_mlops import api
        from nb_mlops.notebook.extension import tracker
        from nb_mlops.tracking.history import code_hash
        from nb_mlops.tracking.output import captured
        from nb_mlops.tracking.params import literal_params

        state = tracker(self.shell)
        rec = state.current
        source = state.transform(cell)
        cell_id = rec.cell_id if rec is not None else None
        chash = code_hash(cell)
        run = api.start_run(
            opts.name,
            experiment=opts.experiment,
            tags=dict(opts.tag),
            params=literal_params(source),
            seed=opts.seed,
            data=opts.data or None,
            source={
                "kind": "cell",
                "cell_id": cell_id,
                "code_hash": chash,
                "execution_count": self.shell.execution_count,
                "key": f"cell:{cell_id}" if cell_id else f"code:{chash}",
            },
            history=state.history.pointer(rec) if rec is not None else None,
        )
        status, error = "finished", None
        out = err = None
        live = self._live_chart(state, run)
        cell_run = getattr(self.shell.displayhook, "exec_result", None)
        filename = self._cell_filename(source, cell, cell_run)
        try:
            with captured(self.stdout_limit) as (out, err):
                return self._execute(source, filename)
        except KeyboardInterrupt as exc:
            status, error = "interrupted", exc
            raise
        except Exception as exc:
            status, error = "failed", exc
            exc.__traceback__ = user_frames(exc.__traceback__, filename)
            if cell_run is None:  # called outside a cell: the caller shows or handles it
                raise
        except BaseException as exc:
            status, error = "failed", exc
            raise
        finally:
            try:
                self._finish(run, rec, line, cell, status, error, out, err)
            finally:
                if live is not None:
                    self._end_live(live)
        # Here only for an error the cell's own code raised. It is shown as an untracked
        # cell's error is (the user's frames only, its own In[n]), after the run's summary
        # line, and the cell still fails: a Run All stops here and %debug works.
        sys.stdout.flush()
        self.shell.showtraceback((type(error), error, error.__traceback__), tb_offset=0)
        cell_run.error_in_exec = error
        return None

    def _shown_traceback(self, error: BaseException | None) -> str | None:
        """The error's traceback as this shell shows it (cells as `Cell In[n]`, no temporary
        file paths), as plain text; None to let the run format it itself."""
        if error is None or error.__traceback__ is None:
            return None
        try:
            stb = self.shell.InteractiveTB.structured_traceback(
                type(error), error, error.__traceback__, tb_offset=0
            )
        except Exception:  # a formatter that fails must not lose the run's record
            return None
        return ANSI.sub("", "\n".join(stb)) + "\n"

    def _live_chart(self, state: Any, run: Any) -> Any:
        """Start a chart of the run's metrics that shows itself with the first point."""
        from nb_mlops.notebook.extension import widgets_wanted

        state.live = None
        if not widgets_wanted(self.shell):
            return None
        from nb_mlops.notebook.widgets.live import LiveChart

        state.live = LiveChart(run).start()
        return state.live

    @staticmethod
    def _end_live(live: Any) -> None:
        try:
            live.finish()
        except Exception as exc:  # a chart must never turn a finished run into an error
            import logging

            logging.getLogger("nb_mlops").warning("nb-mlops: the live chart failed: %r", exc)

    def _cell_filename(self, source: str, raw: str, cell_run: Any) -> str:
        """The name the cell's code is compiled under, numbered as IPython numbers the cell
        (`In[n]` of the running cell, not the count it has already moved on to)."""
        number = getattr(cell_run, "execution_count", None) or self.shell.execution_count
        return self.shell.compile.cache(source, number, raw_code=raw)

    def _execute(self, source: str, filename: str) -> Any:
        """Run the cell's code in the user namespace; return its last expression's value."""
        __tracebackhide__ = True
        shell = self.shell
        tree = shell.transform_ast(shell.compile.ast_parse(source, filename=filename))
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(shell.compile(tree, filename, "exec"), shell.user_ns)
        if last is not None:
            return eval(shell.compile(last, filename, "eval"), shell.user_ns)
        return None

    def _finish(
        self,
        run: Any,
        rec: Any,
        line: str,
        cell: str,
        status: str,
        error: BaseException | None,
        out: Any,
        err: Any,
    ) -> None:
        import time

        try:
            typed = f"%%track {line}\n{cell}" if line else f"%%track\n{cell}"
            entry = {
                "i": rec.index if rec else None,
                "n": self.shell.execution_count,
                "cell_id": rec.cell_id if rec else None,
                "hash": rec.hash if rec else None,
                "start": rec.start if rec else None,
                "duration": round(time.perf_counter() - rec.t0, 6) if rec else None,
                "status": {"finished": "ok", "failed": "error"}.get(status, status),
                # the history's copy of the cell is redacted already: no second pass over it
                "source": rec.source if rec else typed,
            }
            run.record_cell(entry, redacted=rec is not None, at_end=True)
            if out is not None:
                run.save_output(out.text(), err.text(), at_end=True)
        finally:
            run.end(status, error, shown=self._shown_traceback(error))
        if not self.quiet:
            print(printable(summary_line(run, error)))


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def user_frames(tb: TracebackType | None, filename: str) -> TracebackType | None:
    """The traceback from the frame that runs the cell's own code on (our frames and the
    magic's call dropped); unchanged when the error did not come through the cell's code."""
    start = tb
    while start is not None and start.tb_frame.f_code.co_filename != filename:
        start = start.tb_next
    return start if start is not None else tb


def summary_line(run: Any, error: BaseException | None) -> str:
    """`✓ run swift-otter-42 (k3x9m2qf) finished in 0.12 s · 2 params · 1 metric`."""
    from nb_mlops.text import fmt_duration

    mark = {"finished": "✓", "failed": "✗", "interrupted": "■"}.get(run.status, "·")
    n_params, n_metrics = len(run.params), len(run.metrics)
    text = (
        f"{mark} run {run.name} ({run.run_id}) {run.status} in {fmt_duration(run.duration)}"
        f" · {n_params} param{'s' if n_params != 1 else ''}"
        f" · {n_metrics} metric{'s' if n_metrics != 1 else ''}"
    )
    if error is not None and run.status == "failed":
        text += f" · {type(error).__name__} stored with its traceback"
    return text


class _MagicContext:
    """What `%%track` and `%track start/stop` need from the kernel."""

    surface = "magic"
    prog = "%track"

    def __init__(self, magics: TrackMagics, line: str = "", cell: str | None = None) -> None:
        self.magics = magics
        self.line = line
        self.cell = cell

    def read_secret(self, prompt: str) -> str:
        """A hidden input (a password box in a notebook: ipykernel answers getpass), so the
        string is in neither the cell's source nor its output."""
        import getpass

        from IPython.core.error import StdinNotImplementedError

        try:
            return getpass.getpass(prompt)
        except (EOFError, KeyboardInterrupt):
            raise NbMlopsError("cancelled: no string was given") from None
        except StdinNotImplementedError:
            raise NbMlopsError(
                "this front end cannot ask for hidden input; run `nb-mlops scrub` in a terminal"
            ) from None

    def confirm(self, summary: str) -> bool:
        """Ask in the notebook (ipykernel answers input()); a front end that cannot ask refuses."""
        from IPython.core.error import StdinNotImplementedError

        print(summary)
        try:
            answer = input("go ahead? [y/N] ")
        except (EOFError, KeyboardInterrupt):
            return False
        except StdinNotImplementedError:
            raise NbMlopsError("this front end cannot ask for confirmation: pass --yes") from None
        return answer.strip().lower() in ("y", "yes")

    def run_cell(self, args: argparse.Namespace) -> Any:
        __tracebackhide__ = True
        return self.magics.run_tracked(args, self.line, self.cell or "")

    def start_session(self, args: argparse.Namespace) -> Any:
        from nb_mlops import api
        from nb_mlops.notebook.extension import tracker

        state = tracker(self.magics.shell)
        rec = state.current
        run = api.start_run(
            args.name,
            experiment=args.experiment,
            tags=dict(args.tag),
            seed=args.seed,
            data=args.data or None,
            source={"kind": "session", "session": state.history.session if state.history else None},
            history=state.history.pointer(rec) if rec is not None else None,
        )
        run.first_cell = rec.index if rec is not None else 0
        state.sessions.append(run)
        return Message(
            f"started run {run.name} ({run.run_id}); the cells you run now are recorded "
            "until `%track stop`",
            {"run_id": run.run_id, "name": run.name},
        )

    def stop_session(self, args: argparse.Namespace) -> Any:
        from nb_mlops.notebook.extension import tracker

        state = tracker(self.magics.shell)
        open_runs = [r for r in state.sessions if r.status == "running"]
        if not open_runs:
            raise NbMlopsError("no run was started with `%track start`; nothing to stop")
        run = open_runs[-1]
        rec = state.current
        if rec is not None and rec.index > run.first_cell:
            entry = rec.to_dict()
            entry.update(status="ok", duration=None)
            run.record_cell(entry, redacted=True)
        run.end(args.status)
        state.sessions.remove(run)
        return Message(
            summary_line(run, None), {"run_id": run.run_id, "name": run.name, "status": run.status}
        )
