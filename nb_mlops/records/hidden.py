"""Hidden state: names a recorded cell reads that no earlier recorded cell defines.

A record replays the cells of a session in the order they ran. A cell that read a name made
by a cell since deleted, by another notebook, by code run before `%load_ext nb_mlops`, or by a
line typed and later removed worked in the original kernel and fails in the replay. This module
finds such reads without running anything: each cell's IPython syntax is removed (no IPython
import), the rest is parsed with `ast`, and the names bound at module level are followed from
cell to cell in execution order.

What counts as a definition: assignment targets of every form, augmented assignment (which
reads the name first), imports (`import a.b` binds `a`), `def`, `class`, `for`/`with`/`except`
targets, `match` captures, `:=`, `x = !cmd` and `x = %magic`, `%%capture x`, and names a
function declares `global` and assigns, once that function is used. `del x` (and `%xdel x`)
removes a name; `%reset` removes them all.

When a function body runs is not known statically, so its reads of module names are checked
where the function is used, by this rule: a direct call `f(...)` (or `C(...)` for a class's
`__init__`/`__new__`/`__post_init__`) must find each name the body reads defined at that point,
following the functions it calls in turn; any other use (passing `f` along), a class's other
methods and functions made inside a function (closures, decorator wrappers) only ask that the
name be defined then or by some later recorded cell. A function never used is not checked.
Comprehensions, class bodies and lambdas not bound to a name run where they stand and are checked
there. Annotations are reads where Python evaluates them (not inside functions, not after
`from __future__ import annotations`), and a read inside `try:` whose handler catches NameError
(the "define it if missing" idiom) is not reported.

After `from m import *`, `%run`, `%store -r`, `exec(...)`, `globals()`/`vars()`/`locals()` or
`get_ipython().push/run_*` at module level, the names in the namespace are no longer known: one
"unchecked" finding says so and later reads of unknown names are not reported. A cell that does
not parse even without its IPython syntax is reported as "unparsable"; it is taken to have
defined nothing (Python refused it in the kernel too), unless the history says it ran fine,
in which case the namespace is unknown from there on. Auto-call (`f 1`) is not understood.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nb_mlops.results import Result

# Names a fresh IPython kernel with nb-mlops loaded has before any cell runs.
IPYTHON_NAMES = frozenset(
    "In Out get_ipython display exit quit _ __ ___ _i _ii _iii _ih _oh _dh _exit_code "
    "__IPYTHON__ __builtin__ __builtins__ track".split()  # `track`: from %load_ext nb_mlops
)
PREDEFINED = frozenset(dir(builtins)) | IPYTHON_NAMES
_NUMBERED = re.compile(r"_i?\d+|__\w+__")

# Cell magics whose body is Python run in the user's namespace; any other one is skipped.
PYTHON_CELL_MAGICS = frozenset({"track", "time", "prun", "capture"})
_OPAQUE_MAGICS = {"run": "%run", "store": "%store -r", "load": "%load", "macro": "%macro"}
_OPAQUE_CALLS = frozenset({"exec", "globals", "vars", "locals"})
_SHELL_ATTRS = frozenset(
    {"push", "run_cell", "run_line_magic", "run_cell_magic", "magic", "ex", "user_ns", "run_code"}
)
_CATCH_NAME_ERROR = frozenset({"NameError", "Exception", "BaseException"})
_INIT_METHODS = frozenset({"__init__", "__new__", "__post_init__"})

_ASSIGN_MAGIC = re.compile(r"^(\s*)([A-Za-z_][\w.\[\]'\",\s()*]*?)\s*=\s*(?:%|!)")
_HELP = re.compile(r"^\s*(?:\?{1,2}[\w.*%\[\]()]+|[\w.*%\[\]()]+\?{1,2})\s*$")
_LINE_MAGIC = re.compile(r"^\s*%(?!%)(\w+)(.*)$")


@dataclass(frozen=True, repr=False)
class Finding(Result):
    """One hidden-state problem: where (1-based position in execution order and the cell's
    execution count, when known), which name, what kind, and a one-line message.

    kind: "undefined" (no earlier cell defines the name), "deleted" (a cell deleted it),
    "unparsable" (the cell is not Python even without its IPython syntax; name is None) or
    "unchecked" (from this cell on, names may come from code this check cannot see)."""

    position: int
    execution_count: int | None
    name: str | None
    kind: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "execution_count": self.execution_count,
            "name": self.name,
            "kind": self.kind,
            "message": self.message,
        }

    def to_text(self) -> str:
        return self.message


@dataclass
class PythonCell:
    """A cell's source as plain Python, with the IPython lines that change the namespace kept
    as events (line number, what, argument): "opaque", "reset", "delete"."""

    source: str | None  # None: a cell magic whose body is not Python (%%bash, %%html, ...)
    events: list[tuple[int, str, str]] = field(default_factory=list)


def python_source(source: str) -> str | None:
    """`source` with its IPython syntax replaced by plain Python that binds the same names
    (line numbers kept), or None for a cell whose cell magic does not run Python."""
    return strip_ipython(source).source


def strip_ipython(source: str) -> PythonCell:
    """Remove IPython syntax from a cell without IPython: a leading `%%track`/`%%time`/
    `%%prun`/`%%capture` line (the rest is Python; any other cell magic: not Python), line
    magics, shell escapes, `x = !cmd`, `x = %magic` and `?`/`??` help lines."""
    lines = source.split("\n")
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    tail = ""
    if start < len(lines) and lines[start].lstrip().startswith("%%"):
        words = lines[start].strip()[2:].split()
        magic = words[0] if words else ""
        if magic not in PYTHON_CELL_MAGICS:
            return PythonCell(None)
        if magic == "capture":
            names = [w for w in words[1:] if not w.startswith("-")]
            if names and names[0].isidentifier():
                tail = f"\n{names[0]} = None"
        lines[start] = ""
    body = "\n".join(lines)
    try:
        ast.parse(body)
    except SyntaxError:
        body, events = _strip_lines(lines)
    else:
        events = []
    return PythonCell(body + tail, events)


def _strip_lines(lines: list[str]) -> tuple[str, list[tuple[int, str, str]]]:
    """Replace IPython-only lines by `pass` / `target = None`, noting namespace events."""
    out: list[str] = []
    events: list[tuple[int, str, str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        text = line.lstrip()
        indent = line[: len(line) - len(text)]
        assign = _ASSIGN_MAGIC.match(line)
        if text.startswith(("%", "!")) or assign or _HELP.match(line):
            if assign:
                out.append(f"{indent}{assign.group(2).strip()} = None")
            else:
                out.append(_line_magic(line, indent, len(out) + 1, events))
            while line.rstrip().endswith("\\") and i + 1 < len(lines):  # continued magic
                i += 1
                line = lines[i]
                out.append("")
        else:
            out.append(line)
        i += 1
    return "\n".join(out), events


def _line_magic(line: str, indent: str, lineno: int, events: list[tuple[int, str, str]]) -> str:
    """The Python standing for one IPython line; namespace effects go into `events`."""
    found = _LINE_MAGIC.match(line)
    if not found:
        return f"{indent}pass"  # shell escape or help
    magic, rest = found.group(1), found.group(2).strip()
    if magic in ("time", "prun") and rest:
        stmt = rest if magic == "time" else _prun_statement(rest)
        try:
            ast.parse(stmt)
        except SyntaxError:
            return f"{indent}pass"
        return f"{indent}{stmt}"
    args = rest.split()
    if magic in _OPAQUE_MAGICS and (magic != "store" or "-r" in args):
        events.append((lineno, "opaque", f"{_OPAQUE_MAGICS[magic]}"))
    elif magic == "reset" and not [a for a in args if not a.startswith("-")]:
        events.append((lineno, "reset", "%reset"))
    elif magic == "xdel":
        events.extend((lineno, "delete", a) for a in args if a.isidentifier())
    return f"{indent}pass"


def _prun_statement(rest: str) -> str:
    """The statement of `%prun [-opts] STATEMENT` (options take one value when they need it)."""
    words = rest.split()
    i = 0
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] in ("-l", "-s", "-T", "-D") else 1
    return " ".join(words[i:])


# ------------------------------------------------------------------ scope analysis
FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


@dataclass
class ScopeInfo:
    """What a nested scope (function, lambda, class, comprehension) does with outer names."""

    free: set[str] = field(default_factory=set)  # read when it runs, bound in no scope between
    later: set[str] = field(default_factory=set)  # read by functions made inside it, when called
    global_reads: set[str] = field(default_factory=set)  # read through a `global` declaration
    global_writes: set[str] = field(default_factory=set)  # assigned through `global`
    calls: set[str] = field(default_factory=set)  # names called directly: `f(...)`
    leaked: set[str] = field(default_factory=set)  # comprehension `:=` targets (outer scope)
    methods: dict[str, set[str]] = field(default_factory=dict)  # class: what each method reads

    def reads(self) -> set[str]:
        return self.free | self.global_reads


class _Collector(ast.NodeVisitor):
    """Names one scope binds and reads; nested scopes are analysed separately."""

    def __init__(self, comprehension: bool = False) -> None:
        self.comprehension = comprehension
        self.loads: set[str] = set()
        self.stores: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.calls: set[str] = set()
        self.leaked: set[str] = set()
        self.children: list[tuple[ast.AST, ScopeInfo]] = []

    def visit_Name(self, node: ast.Name) -> None:
        (self.loads if isinstance(node.ctx, ast.Load) else self.stores).add(node.id)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            (self.leaked if self.comprehension else self.stores).add(node.target.id)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name):
            self.calls.add(node.func.id)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)  # `x: int` alone still makes `x` local
        if node.value is not None:
            self.visit(node.value)

    def visit_Global(self, node: ast.Global) -> None:
        self.globals.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.nonlocals.update(node.names)

    def visit_Import(self, node: ast.Import) -> None:
        self.stores.update(bound_name(a) for a in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.stores.update(bound_name(a) for a in node.names if a.name != "*")

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.stores.add(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self.stores.add(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.stores.add(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self.stores.add(node.rest)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in function_header(node, annotations=False):
            self.visit(expr)
        self.stores.add(node.name)
        self.children.append((node, analyze_function(node)))

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for expr in function_header(node):
            self.visit(expr)
        self.children.append((node, analyze_function(node)))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in class_header(node):
            self.visit(expr)
        self.stores.add(node.name)
        self.children.append((node, analyze_class(node)))

    def visit_comprehension_node(self, node: ast.AST) -> None:
        self.visit(node.generators[0].iter)  # type: ignore[attr-defined]
        info = analyze_comprehension(node)
        (self.leaked if self.comprehension else self.stores).update(info.leaked)
        self.children.append((node, info))

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = visit_comprehension_node


def bound_name(alias: ast.alias) -> str:
    """The name an import binds: `import a.b` binds `a`, `import a.b as c` binds `c`."""
    return alias.asname or alias.name.split(".")[0]


def function_header(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, annotations: bool = True
) -> list[ast.AST]:
    """What a def or lambda evaluates where it stands: decorators, defaults, annotations
    (unless postponed by `from __future__ import annotations`)."""
    args = node.args
    exprs: list[ast.AST] = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
    if isinstance(node, ast.Lambda):
        return exprs
    exprs = [*node.decorator_list, *exprs]
    if annotations:
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        exprs += [a.annotation for a in every if a is not None and a.annotation is not None]
        if node.returns is not None:
            exprs.append(node.returns)
    return exprs


def class_header(node: ast.ClassDef) -> list[ast.AST]:
    """What a class statement evaluates where it stands: decorators, bases, keywords."""
    return [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]


def _parameters(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


def analyze_function(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> ScopeInfo:
    """The outer names a function or lambda body reads, and the globals it assigns."""
    c = _Collector()
    for stmt in node.body if isinstance(node.body, list) else [node.body]:
        c.visit(stmt)
    bound = (_parameters(node.args) | c.stores) - c.globals - c.nonlocals
    return _combine(c, bound)


def analyze_class(node: ast.ClassDef) -> ScopeInfo:
    """A class body's outer reads (it runs at the class statement) and its methods' (they run
    when called; names bound in a class body are not seen by its methods)."""
    c = _Collector()
    for stmt in node.body:
        c.visit(stmt)
    bound = c.stores - c.globals - c.nonlocals
    info = ScopeInfo(calls=set(c.calls))
    info.free = (c.loads - bound - c.globals) | c.nonlocals
    info.global_reads = c.loads & c.globals
    info.global_writes = c.stores & c.globals
    for child, sub in c.children:
        info.global_writes |= sub.global_writes
        if isinstance(child, FUNCTION_NODES):
            name = getattr(child, "name", "<lambda>")
            info.methods[name] = info.methods.get(name, set()) | sub.reads()
            info.later |= sub.reads() | sub.later
        else:
            info.free |= sub.free
            info.global_reads |= sub.global_reads
            info.later |= sub.later
            info.calls |= sub.calls
    return info


def analyze_comprehension(node: ast.AST) -> ScopeInfo:
    """A comprehension's outer reads (its first iterable is the caller's) and `:=` targets."""
    c = _Collector(comprehension=True)
    generators: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
    for i, gen in enumerate(generators):
        c.visit(gen.target)
        if i:
            c.visit(gen.iter)
        for cond in gen.ifs:
            c.visit(cond)
    for part in ("elt", "key", "value"):
        if hasattr(node, part):
            c.visit(getattr(node, part))
    info = _combine(c, c.stores - c.leaked)
    info.leaked = set(c.leaked)
    return info


def _combine(c: _Collector, bound: set[str]) -> ScopeInfo:
    """A function's or comprehension's outer names, from its own code and its children's:
    comprehensions and class bodies run with it, functions defined in it run later."""
    info = ScopeInfo(calls=set(c.calls))
    info.free = (c.loads - bound - c.globals) | c.nonlocals
    info.global_reads = c.loads & c.globals
    info.global_writes = c.stores & c.globals
    for child, sub in c.children:
        if isinstance(child, FUNCTION_NODES):
            later = sub.later | sub.free | sub.global_reads
        else:
            info.free |= sub.free - bound - c.globals
            info.global_reads |= sub.global_reads | (sub.free & c.globals)
            info.calls |= sub.calls
            later = sub.later
        info.later |= later - bound
        info.global_writes |= sub.global_writes
    return info


# ------------------------------------------------------------------ the session walk
@dataclass
class _Deferred:
    """A module-level function or class whose body reads module names when it runs."""

    kind: str  # "function" or "class"
    reads: set[str]  # read when called (a class: by __init__, __new__, __post_init__)
    later: set[str]  # read at times unknown: by functions it makes, a class's other methods
    writes: set[str]  # assigned through `global`
    calls: set[str]


Via = tuple[tuple[str, str], ...]


class _Session:
    """The module namespace of the replayed session, cell after cell."""

    def __init__(self, future: list[set[str]]) -> None:
        self.future = future  # names each cell may bind, by position (0-based)
        self.defined: set[str] = set()
        self.deleted: dict[str, int] = {}
        self.deferred: dict[str, _Deferred] = {}
        self.opaque: str | None = None
        self.findings: list[Finding] = []
        self.reported: set[tuple[int, str | None, str]] = set()
        self.position = 0
        self.count: int | None = None
        self.guarded = 0  # inside `try:` bodies whose handlers catch NameError
        self.postponed = False  # `from __future__ import annotations` was run
        self.active: set[tuple[str, bool]] = set()  # functions activated for the current use

    # ------------------------------------------------------------ findings
    def label(self) -> str:
        where = f"cell {self.position}"
        return f"{where} (In [{self.count}])" if self.count is not None else where

    def report(self, name: str | None, kind: str, message: str) -> None:
        key = (self.position, name, kind)
        if key not in self.reported:
            self.reported.add(key)
            self.findings.append(Finding(self.position, self.count, name, kind, message))

    def make_opaque(self, why: str) -> None:
        if self.opaque is None:
            self.opaque = f"{why} in {self.label()}"
            self.report(
                None,
                "unchecked",
                f"{self.label()} runs {why}, which may define names this check cannot see: "
                "reads after it are not checked",
            )

    def later_definer(self, name: str) -> int | None:
        for i in range(self.position, len(self.future)):  # cells after this one
            if name in self.future[i]:
                return i + 1
        return None

    # ------------------------------------------------------------ namespace
    def known(self, name: str) -> bool:
        return name in self.defined or name in PREDEFINED or bool(_NUMBERED.fullmatch(name))

    def define(self, name: str, deferred: _Deferred | None = None) -> None:
        self.defined.add(name)
        self.deleted.pop(name, None)
        if deferred is None:
            self.deferred.pop(name, None)
        else:
            self.deferred[name] = deferred

    def delete(self, name: str) -> None:
        if name in self.defined:
            self.defined.discard(name)
            self.deferred.pop(name, None)
            self.deleted[name] = self.position

    def reset(self) -> None:
        for name in sorted(self.defined):
            self.delete(name)

    def check(self, name: str, via: Via = ()) -> bool:
        """Whether `name` is defined now; if not, report it (unless the namespace is unknown).
        `via`: the functions whose bodies read it, as (verb, name) from the cell's own use."""
        if self.known(name):
            return True
        if self.guarded:
            return False
        lead = self.label() + "".join(f" {verb} `{f}`, which" for verb, f in via)
        if name in self.deleted:
            self.report(
                name,
                "deleted",
                f"{lead} reads `{name}`, which cell {self.deleted[name]} deleted "
                "(a replay fails there with NameError)",
            )
        elif self.opaque is None:
            later = self.later_definer(name)
            if later is not None:
                why = (
                    f"which only a later cell ({later}) defines: the cells ran out of order and "
                    "the value came from state the record lacks"
                )
            else:
                why = (
                    "which no earlier recorded cell defines (a deleted cell, another notebook, "
                    "or a name typed and later removed)"
                )
            self.report(name, "undefined", f"{lead} reads `{name}`, {why}")
        return False

    def check_later(self, name: str, via: Via = ()) -> None:
        """A read at a time unknown: fine if the name is defined now or by any later cell."""
        if self.known(name) or self.opaque is not None:
            return
        if any(name in self.future[i] for i in range(self.position - 1, len(self.future))):
            return
        self.check(name, via)

    def use(self, name: str, call: bool, via: Via = ()) -> None:
        """A read of `name` where it stands; `call`: it is called right there."""
        if self.check(name, via):
            if not via:
                self.active.clear()
            self.activate(name, call, via)

    def activate(self, name: str, call: bool, via: Via = ()) -> None:
        """A function or class is used: its body's reads of module names come due (once per
        use of a name in a cell, however many paths lead to each function)."""
        d = self.deferred.get(name)
        if d is None or (name, call) in self.active or (name, True) in self.active:
            return
        self.active.add((name, call))
        for w in d.writes:
            self.define(w)
        verb = "reads" if via else "calls" if call else "uses"
        chain = (*via, (verb, name))
        now = d.reads if call else set()
        for n in sorted(now - d.writes):
            self.use(n, n in d.calls, chain)
        for n in sorted((d.reads | d.later) - now):
            if n in d.writes:
                continue
            if self.known(n):
                self.activate(n, False, chain)
            else:
                self.check_later(n, chain)


class _CellWalk(ast.NodeVisitor):
    """Walks one cell's module-level code in execution order against the session."""

    def __init__(self, session: _Session) -> None:
        self.s = session

    # ------------------------------------------------------------ names
    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.s.use(node.id, call=False)
        elif isinstance(node.ctx, ast.Store):
            self.s.define(node.id)
        else:
            if self.s.check(node.id):
                self.s.delete(node.id)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            if func.id in _OPAQUE_CALLS and func.id not in self.s.defined:
                self.s.make_opaque(f"`{func.id}()`")
            self.s.use(func.id, call=True)
        else:
            self.visit(func)
        for arg in [*node.args, *node.keywords]:
            self.visit(arg)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        value = node.value
        if (
            node.attr in _SHELL_ATTRS
            and isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "get_ipython"
        ):
            self.s.make_opaque(f"`get_ipython().{node.attr}`")
        self.generic_visit(node)

    # ------------------------------------------------------------ statements in order
    def visit_Assign(self, node: ast.Assign) -> None:
        if (
            isinstance(node.value, ast.Lambda)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            for expr in function_header(node.value):
                self.visit(expr)
            info = analyze_function(node.value)
            self.s.define(node.targets[0].id, self.deferred("function", info))
            return
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            self.s.use(node.target.id, call=False)
        else:
            self.visit(node.target)
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self.s.define(node.target.id)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        if not self.s.postponed:
            self.visit(node.annotation)
        if node.value is not None or not isinstance(node.target, ast.Name):
            self.visit(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.visit(node.target)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self.visit(node.target)
        for stmt in [*node.body, *node.orelse]:
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(catches_name_error(h) for h in node.handlers)
        self.s.guarded += guarded
        try:
            for stmt in node.body:
                self.visit(stmt)
        finally:
            self.s.guarded -= guarded
        for part in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(part)

    visit_TryStar = visit_Try

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.s.define(node.name)
        for stmt in node.body:
            self.visit(stmt)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.pattern is not None:
            self.visit(node.pattern)
        if node.name:
            self.s.define(node.name)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.s.define(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        for part in [*node.keys, *node.patterns]:
            self.visit(part)
        if node.rest:
            self.s.define(node.rest)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.s.define(bound_name(alias))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == "__future__" and any(a.name == "annotations" for a in node.names):
            self.s.postponed = True  # IPython keeps a cell's future imports for later cells
        for alias in node.names:
            if alias.name == "*":
                self.s.make_opaque(f"`from {'.' * node.level}{node.module or ''} import *`")
            else:
                self.s.define(bound_name(alias))

    # ------------------------------------------------------------ nested scopes
    def deferred(self, kind: str, info: ScopeInfo) -> _Deferred:
        if kind == "class":
            init = set().union(*(r for m, r in info.methods.items() if m in _INIT_METHODS))
            return _Deferred(kind, init, info.later, info.global_writes, info.calls)
        return _Deferred(kind, info.reads(), info.later, info.global_writes, info.calls)

    def run_now(self, info: ScopeInfo, skip: set[str] | None = None) -> None:
        """Code that runs where it stands (a comprehension, a class body, a lambda passed on):
        its reads now, and the reads of functions it makes whenever they run."""
        for name in sorted(info.reads() - (skip or set())):
            self.s.use(name, call=name in info.calls)
        for name in sorted(info.later - info.reads()):
            self.s.check_later(name)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in function_header(node, annotations=not self.s.postponed):
            self.visit(expr)
        self.s.define(node.name, self.deferred("function", analyze_function(node)))

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in class_header(node):
            self.visit(expr)
        info = analyze_class(node)
        for name in sorted(info.reads()):  # the class body runs now
            self.s.use(name, call=name in info.calls)
        self.s.define(node.name, self.deferred("class", info))

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for expr in function_header(node):
            self.visit(expr)
        self.run_now(analyze_function(node))  # a lambda not bound to a name: taken as run now

    def visit_comprehension_node(self, node: ast.AST) -> None:
        self.visit(node.generators[0].iter)  # type: ignore[attr-defined]
        info = analyze_comprehension(node)
        self.run_now(info, skip=info.leaked)
        for name in sorted(info.leaked):
            self.s.define(name)

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = visit_comprehension_node


def catches_name_error(handler: ast.ExceptHandler) -> bool:
    """Whether an `except` clause catches NameError (bare, NameError, Exception, ...)."""
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(k is None or (isinstance(k, ast.Name) and k.id in _CATCH_NAME_ERROR) for k in kinds)


_NAMED_BINDINGS = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.ExceptHandler,
    ast.MatchAs,
    ast.MatchStar,
)


def may_define(tree: ast.AST) -> set[str]:
    """Every name a cell could bind at module level (generously: any binding anywhere)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update(bound_name(a) for a in node.names if a.name != "*")
        elif isinstance(node, _NAMED_BINDINGS) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        elif isinstance(node, ast.Global):
            names.update(node.names)
    return names


# ------------------------------------------------------------------ entry point
@dataclass
class _Cell:
    source: str
    count: int | None
    status: str | None


def _cell(cell: Any) -> _Cell | None:
    """A history entry, an nbformat cell or a plain source string; None for a non-code cell."""
    if isinstance(cell, str):
        return _Cell(cell, None, None)
    if not isinstance(cell, Mapping):
        from nb_mlops.records.record import RecordError

        raise RecordError(
            f"hidden_state: a cell must be a source string or a mapping, not {type(cell).__name__}"
        )
    if cell.get("cell_type", "code") != "code":
        return None
    source = cell.get("source", "")
    if not isinstance(source, str):
        source = "".join(source)
    meta = (cell.get("metadata") or {}).get("nbmlops") or {}
    count = cell.get("execution_count", cell.get("n"))
    if count is None:
        count = meta.get("execution_count")
    return _Cell(source, count, cell.get("status") or meta.get("status"))


def hidden_state(cells: Iterable[str | Mapping[str, Any]]) -> list[Finding]:
    """The reads of names that no earlier recorded cell defines, in cells given in execution
    order: source strings, history entries (`source`, `n`, `status`) or nbformat code cells.

    Positions are 1-based among the code cells given. A replay in a fresh kernel fails (or
    computes something else) at each "undefined" or "deleted" finding; see the module docstring
    for what counts as a definition and when a function's reads are checked."""
    entries = [c for c in map(_cell, cells) if c is not None]
    parsed: list[tuple[_Cell, PythonCell, ast.Module | SyntaxError | None]] = []
    for entry in entries:
        py = strip_ipython(entry.source)
        tree: ast.Module | SyntaxError | None = None
        if py.source is not None:
            try:
                tree = ast.parse(py.source)
            except SyntaxError as exc:
                tree = exc
        parsed.append((entry, py, tree))
    future = [may_define(t) if isinstance(t, ast.Module) else set() for _, _, t in parsed]
    session = _Session(future)
    for position, (entry, py, tree) in enumerate(parsed, start=1):
        session.position, session.count = position, entry.count
        if isinstance(tree, SyntaxError):
            _unparsable(session, entry, tree)
        elif tree is not None:
            _walk(session, tree, py.events)
    return session.findings


def _unparsable(session: _Session, entry: _Cell, exc: SyntaxError) -> None:
    where = f"line {exc.lineno}: {exc.msg}" if exc.lineno else exc.msg
    ran = entry.status in ("ok", "finished")  # then it bound names this check cannot see
    session.report(
        None,
        "unparsable",
        f"{session.label()} does not parse as Python once its IPython syntax is removed "
        f"({where}); "
        + (
            "it ran in the kernel, so reads after it are not checked"
            if ran
            else "it is taken to have defined nothing"
        ),
    )
    if ran and session.opaque is None:
        session.opaque = f"{session.label()}, which does not parse"


def _walk(session: _Session, tree: ast.Module, events: Sequence[tuple[int, str, str]]) -> None:
    walker = _CellWalk(session)
    pending = sorted(events)

    def apply(before: int | None) -> None:
        while pending and (before is None or pending[0][0] < before):
            _line, what, arg = pending.pop(0)
            if what == "opaque":
                session.make_opaque(f"`{arg}`")
            elif what == "reset":
                session.reset()
            else:
                session.delete(arg)

    for stmt in tree.body:
        apply(stmt.lineno)
        walker.visit(stmt)
    apply(None)
