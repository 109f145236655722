"""Loading into a kernel: the magics, `track` in the namespace, and the execution history.

From `%load_ext nb_mlops` on, every executed cell is appended to the session's history (see
tracking/history.py); a `%track start` session also gets each cell in its own record. Results
(RunTable, Comparison, RunDetail, DataDiff) display as widgets through mimebundle printers
registered by class name (notebook/widgets/render.py). Loading imports nothing heavy: pandas,
ipywidgets, the object store and the rest load on first use.
"""

from __future__ import annotations

import sys
from typing import Any

from nb_mlops.errors import NbMlopsError
from nb_mlops.notify import push_sink, remove_sink
from nb_mlops.text import printable

_state: dict[int, KernelTracker] = {}


class KernelTracker:
    """Per-shell state: the session history and the `%track start` runs."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.history: Any = None
        self.current: Any = None
        self.sessions: list[Any] = []
        self.warned = False
        self.owns_custom_exc = False
        self.printers: Any = None  # the display printers `load` registered
        self.live: Any = None  # the live chart of the latest `%%track` cell, if any
        self._transformed: dict[str, str] = {}

    def transform(self, cell: str) -> str:
        """The code of a `%%track` cell's body after IPython's input transforms.

        A cell of several lines goes through IPython's static transforms alone (text in, text
        out; tokenizing costs about 17 µs a line), so while those are IPython's own, the result
        is kept for a rerun of the same text. One line also goes through the dynamic ones
        (autocall, which depends on the namespace): never kept.
        """
        shell = self.shell
        if "\n" not in cell.strip() or not _static_transforms_only(shell):
            return shell.transform_cell(cell)
        code = self._transformed.get(cell)
        if code is None:
            code = shell.transform_cell(cell)
            if len(code.splitlines()) > 1:
                if len(self._transformed) >= _TRANSFORMS_KEPT:
                    del self._transformed[next(iter(self._transformed))]
                self._transformed[cell] = code
        return code

    # ------------------------------------------------------------------ events
    def pre_run_cell(self, info: Any) -> None:
        try:
            history = self._history()
            self.current = history.begin(
                info.raw_cell or "",
                self.shell.execution_count,
                getattr(info, "cell_id", None),
            )
        except Exception as exc:  # history must never break the user's cell
            self.current = None
            self._warn(exc)

    def post_run_cell(self, result: Any) -> None:
        rec, self.current = self.current, None
        try:
            from nb_mlops.store.series import flush_all

            flush_all()
            if rec is None:
                return
            error = result.error_in_exec or result.error_before_exec
            if error is None:
                rec.finish("ok")
            elif isinstance(error, KeyboardInterrupt):
                rec.finish("interrupted", repr(error))
            else:
                rec.finish("error", f"{type(error).__name__}: {error}")
            self.history.end(rec)
            for run in self.sessions:
                if run.status == "running" and rec.index > run.first_cell:
                    run.record_cell(rec.to_dict(), redacted=True)
        except Exception as exc:
            self._warn(exc)

    def _history(self) -> Any:
        from nb_mlops import api
        from nb_mlops.tracking.history import SessionHistory

        ws = api.workspace()
        if self.history is None:
            self.history = SessionHistory(ws)
        elif self.history.ws is not ws:
            count = self.history.count
            self.history = SessionHistory(ws, self.history.session)
            self.history.count = count
        return self.history

    def _warn(self, exc: BaseException) -> None:
        if not self.warned:
            self.warned = True
            print(f"nb-mlops: cell history is not being recorded: {exc}", file=sys.stderr)


_TRANSFORMS_KEPT = 64


def _static_transforms_only(shell: Any) -> bool:
    """Whether the shell's input transforms are IPython's own, with nothing after them."""
    if shell.input_transformers_post:
        return False
    mgr = shell.input_transformer_manager
    for step in (*mgr.cleanup_transforms, *mgr.line_transforms, *mgr.token_transformers):
        # functions, classes and instances all name a module (an instance its class's)
        if not str(getattr(step, "__module__", "")).startswith("IPython."):
            return False
    return True


def _one_line_error(
    shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None
) -> list[str]:
    """Show nb-mlops's refusals as one line, not a traceback into our internals."""
    stb = [f"\x1b[0;31m{etype.__name__}\x1b[0m: {printable(str(value))}"]
    shell._showtraceback(etype, value, stb)  # noqa: SLF001 (IPython documents this use)
    return stb


def tracker(shell: Any) -> KernelTracker:
    """The tracker of a shell the extension is loaded in."""
    state = _state.get(id(shell))
    if state is None:
        raise NbMlopsError("nb-mlops is not loaded in this shell: run `%load_ext nb_mlops`")
    return state


def widgets_wanted(shell: Any) -> bool:
    """Whether results and live charts show as widgets: `%config TrackMagics.widgets`
    (`auto`, the default, means inside a Jupyter kernel, where a front end can draw them)."""
    magics = shell.magics_manager.registry.get("TrackMagics")
    mode = str(getattr(magics, "widgets", "auto")).lower()
    if mode in ("on", "off"):
        return mode == "on"
    return getattr(shell, "kernel", None) is not None


def info_line(text: str) -> None:
    """A notice under the running cell: a quiet grey line (plain text where HTML is not shown),
    not red stderr."""
    import html

    from IPython.display import display

    markup = f"<div class='nbm-notice' style='opacity:0.7'>{html.escape(text)}</div>"
    display({"text/plain": text, "text/html": markup}, raw=True)


def load(shell: Any) -> None:
    """Register the magics, the cell events and `track` (idempotent)."""
    if id(shell) in _state:
        return
    from nb_mlops.notebook.magics import TrackMagics
    from nb_mlops.tracking.active import track

    state = KernelTracker(shell)
    _state[id(shell)] = state
    shell.register_magics(TrackMagics)
    shell.events.register("pre_run_cell", state.pre_run_cell)
    shell.events.register("post_run_cell", state.post_run_cell)
    shell.user_ns["track"] = track
    from nb_mlops.notebook.widgets.render import register

    state.printers = register(shell, lambda: widgets_wanted(shell))
    if not shell.custom_exceptions:
        shell.set_custom_exc((NbMlopsError,), _one_line_error)
        state.owns_custom_exc = True
    push_sink(info_line)


def unload(shell: Any) -> None:
    """Remove every hook `load` added; end `%track start` runs still open."""
    state = _state.pop(id(shell), None)
    if state is None:
        return
    for run in reversed(state.sessions):
        run.end("finished")
    shell.events.unregister("pre_run_cell", state.pre_run_cell)
    shell.events.unregister("post_run_cell", state.post_run_cell)
    from nb_mlops.tracking.active import track

    if shell.user_ns.get("track") is track:
        del shell.user_ns["track"]
    if state.printers is not None:
        from nb_mlops.notebook.widgets.render import unregister

        unregister(state.printers)
    magics = shell.magics_manager.magics
    for kind in ("line", "cell"):
        magics[kind].pop("track", None)
    if state.owns_custom_exc:
        shell.set_custom_exc((), None)
    remove_sink(info_line)
