"""The hidden-state check: reads of names no earlier recorded cell defines."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from nb_mlops.records.hidden import Finding, hidden_state, python_source, strip_ipython

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def found(*cells: object) -> list[tuple[int, str | None, str]]:
    """(position, name, kind) of every finding."""
    return [(f.position, f.name, f.kind) for f in hidden_state(cells)]


def undefined(*cells: object) -> set[str]:
    """The names reported as read before any definition."""
    return {f.name for f in hidden_state(cells) if f.kind == "undefined"}


# ------------------------------------------------------------------ definitions
@pytest.mark.parametrize(
    "definition",
    [
        "X = 1",
        "X, other = 1, 2",
        "[first, *X] = [1, 2, 3]",
        "a = X = 1",
        "(X := 5)",
        "X: int = 1",
        "X = 0\nX += 1",
        "for X in range(3):\n    pass",
        "with open(__file__) as X:\n    pass",
        "try:\n    1 / 0\nexcept ZeroDivisionError as X:\n    print(X)\nX = 1",
        "import X",
        "import X.sub.module",
        "import os.path as X",
        "from os import path as X",
        "from os import X",
        "def X():\n    pass",
        "async def X():\n    pass",
        "class X:\n    pass",
        "match [1, 2]:\n    case [X, _]:\n        pass",
        "match {'a': 1}:\n    case {'a': 1, **X}:\n        pass",
        "match [1, 2]:\n    case [*X]:\n        pass",
        "match 3:\n    case int() as X:\n        pass",
        "if True:\n    X = 1\nelse:\n    pass",
        "total = sum(X := v for v in range(3))",
        "def setup():\n    global X\n    X = 1\nsetup()",
        "X = !ls",
        "X = %pwd",
        "%time X = 3",
        "%%time\nX = 3",
        "%%capture X\nprint('quiet')",
        "%%track -n run --seed 0\nX = 3",
    ],
)
def test_each_form_of_definition_defines(definition: str) -> None:
    assert undefined(definition, "print(X)") == set()
    assert undefined("print(X)", definition) == {"X"}  # and reading first is caught


@pytest.mark.parametrize(
    "cell",
    [
        "X: int",  # an annotation alone binds nothing
        "def f():\n    X = 1\nf()",  # a function's local
        "def f(X):\n    return X\nf(1)",  # a parameter
        "[X for X in range(3)]",  # a comprehension variable does not leak
        "{X: 1 for X in range(3)}",
        "class C:\n    X = 1",  # a class attribute
        "def f():\n    global X\n    X = 1",  # never called
        "lambda X: X",
        "%%bash\nX=1",  # not Python
        "%%timeit\nX = 1",  # runs in a function of its own
    ],
)
def test_what_does_not_define_a_module_name(cell: str) -> None:
    assert undefined(cell, "print(X)") == {"X"}


def test_augmented_assignment_needs_the_name_first() -> None:
    assert found("n += 1") == [(1, "n", "undefined")]
    assert found("n = 0", "n += 1", "n -= 2") == []
    assert found("d = {}", "d['k'] += 1", "obj.attr = 1") == [(3, "obj", "undefined")]


def test_reads_in_every_expression_position() -> None:
    cells = [
        "f'{A}'",
        "print(*B, **C)",
        "D[0] = 1",
        "E.attr = 2",
        "del F[0]",
        "x = [1 for _ in G]",
        "y = [1 for i in range(3) if H]",
        "if I:\n    pass",
        "class K(J):\n    pass",
        "def f(a=L) -> M:\n    pass",
        "@N\ndef g():\n    pass",
        "with O() as p:\n    pass",
        "match P:\n    case Q.R:\n        pass",
        "assert S",
        "t = list(map(lambda v: v * T, [1]))",
    ]
    assert undefined(*cells) == set("ABCDEFGHIJLMNOPQST")


# ------------------------------------------------------------------ builtins and predefined
def test_builtins_and_ipython_names_are_predefined() -> None:
    cell = (
        "print(len(In), Out, _, __, ___, _i, _ii, _iii, _ih, _oh, _dh, _3, _i3, display,\n"
        "      get_ipython, __name__, __file__, __doc__, __builtins__, track, exit, quit, zip)"
    )
    assert found(cell) == []


# ------------------------------------------------------------------ functions
def test_function_locals_params_and_comprehensions_are_not_module_reads() -> None:
    cell = (
        "def f(a, *args, b=1, **kw):\n"
        "    c = a + b\n"
        "    for d in args:\n"
        "        c += d\n"
        "    return [e * c for e in kw.values()]\n"
        "f(1, 2, b=3)\n"
        "[y for y in range(3) for z in range(y)]"
    )
    assert found(cell) == []


def test_closures_and_nonlocal_resolve_in_the_enclosing_function() -> None:
    cell = (
        "def outer():\n"
        "    count = 0\n"
        "    def bump():\n"
        "        nonlocal count\n"
        "        count += 1\n"
        "        return count + OFFSET\n"
        "    return bump()\n"
        "outer()"
    )
    assert undefined(cell) == {"OFFSET"}
    assert found("OFFSET = 1", cell) == []


def test_a_global_defined_after_the_def_but_before_the_call_is_fine() -> None:
    assert found("def predict():\n    return model * 2", "model = 3", "predict()") == []


def test_a_call_before_the_global_exists_is_caught_even_if_a_later_cell_defines_it() -> None:
    findings = hidden_state(["def predict():\n    return model * 2", "predict()", "model = 3"])
    assert [(f.position, f.name, f.kind) for f in findings] == [(2, "model", "undefined")]
    assert "calls `predict`, which reads `model`" in findings[0].message
    assert "later cell (3)" in findings[0].message


def test_order_inside_one_cell_counts() -> None:
    assert undefined("def f():\n    return M\nf()\nM = 1") == {"M"}
    assert undefined("def f():\n    return M\nM = 1\nf()") == set()


def test_calls_are_followed_through_other_functions() -> None:
    cells = ["def inner():\n    return SECRET_SAUCE", "def outer():\n    return inner()", "outer()"]
    findings = hidden_state(cells)
    assert [(f.position, f.name) for f in findings] == [(3, "SECRET_SAUCE")]
    assert "calls `outer`, which reads `inner`, which reads `SECRET_SAUCE`" in findings[0].message
    assert found("SECRET_SAUCE = 1", *cells) == []


def test_recursion_terminates() -> None:
    cells = [
        "def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)",
        "def even(n):\n    return n == 0 or odd(n - 1)\n"
        "def odd(n):\n    return n != 0 and even(n - 1)",
        "fact(5), even(4)",
    ]
    assert found(*cells) == []


def test_a_function_passed_along_is_checked_against_every_later_cell() -> None:
    # `callbacks` may call it any time later: fine when some later cell defines the name
    assert found("def f():\n    return Q", "callbacks = [f]", "Q = 1") == []
    assert found("def f():\n    return Q", "callbacks = [f]") == [(2, "Q", "undefined")]


def test_an_unused_function_is_not_checked() -> None:
    assert found("def f():\n    return NEVER") == []


def test_defaults_decorators_and_annotations_run_at_the_def() -> None:
    assert undefined("def f(a=DEFAULT):\n    pass") == {"DEFAULT"}
    assert undefined("@decorate\ndef f():\n    pass") == {"decorate"}
    assert undefined("def f(a: Kind) -> Other:\n    pass") == {"Kind", "Other"}


def test_functions_made_inside_a_function_run_later() -> None:
    factory = (
        "def register(tag):\n"
        "    def wrap(fn):\n"
        "        return REGISTRY.setdefault(tag, fn)\n"
        "    return wrap\n"
    )
    use = "@register('a')\ndef f():\n    pass"
    assert found(factory, use, "REGISTRY = {}") == []  # `wrap` may run after the last cell
    assert undefined(factory, use) == {"REGISTRY"}  # nothing ever defines it


def test_annotations() -> None:
    assert undefined("x: Kind = 1") == {"Kind"}
    # local annotations are never evaluated; postponed ones are strings
    assert found("def f():\n    y: Missing = 1\n    return y", "f()") == []
    postponed = [
        "from __future__ import annotations",
        "def f(a: Later) -> Later:\n    pass",
        "x: Later = 1",
        "class Later:\n    pass",
    ]
    assert found(*postponed) == []


def test_global_assigned_in_a_function_is_defined_once_it_is_called() -> None:
    setup = "def setup():\n    global CONFIG\n    CONFIG = {}\n"
    assert found(setup, "setup()", "CONFIG['a'] = 1") == []
    assert undefined(setup, "CONFIG['a'] = 1") == {"CONFIG"}
    # a global read through `global` in a function is a module read
    assert undefined("def g():\n    global LIMIT\n    return LIMIT\n", "g()") == {"LIMIT"}


def test_lambdas() -> None:
    assert undefined("sorted([3, 1], key=lambda v: v * WEIGHT)") == {"WEIGHT"}
    assert found("scale = lambda v: v * WEIGHT") == []  # bound to a name: runs when called
    assert undefined("scale = lambda v: v * WEIGHT", "scale(2)") == {"WEIGHT"}
    assert found("scale = lambda v: v * WEIGHT", "WEIGHT = 2", "scale(2)") == []


def test_classes() -> None:
    cls = (
        "class Wrapper:\n"
        "    kind = KIND\n"  # the class body runs at the class statement
        "    def __init__(self):\n"
        "        self.scaler = SCALER\n"  # runs at Wrapper(...)
        "    def predict(self, x):\n"
        "        return MODEL(x)\n"  # runs at some later time
    )
    assert undefined(cls) == {"KIND"}
    assert undefined("KIND = 1", cls, "w = Wrapper()", "SCALER = 2", "MODEL = 3") == {"SCALER"}
    assert found("KIND = 1", cls, "SCALER = 2", "w = Wrapper()", "MODEL = 3") == []
    assert undefined("KIND = 1", "SCALER = 2", cls, "w = Wrapper()") == {"MODEL"}
    # methods do not see the class body's names
    method = "class C:\n    k = 1\n    def m(self):\n        return k\n"
    assert undefined(method, "C().m()") == {"k"}


def test_comprehension_reads_and_walrus() -> None:
    assert undefined("[v * FACTOR for v in VALUES if v > CUT]") == {"FACTOR", "VALUES", "CUT"}
    assert found("[(y := i, y + 1) for i in range(3)]", "print(y)") == []
    assert undefined("[i for i in range(3)]", "print(i)") == {"i"}


# ------------------------------------------------------------------ del
def test_a_deleted_name_read_later_is_hidden_state() -> None:
    findings = hidden_state(["X = 1", "y = X", "del X", "print(X)"])
    assert [(f.position, f.name, f.kind) for f in findings] == [(4, "X", "deleted")]
    assert "cell 3 deleted" in findings[0].message


def test_deleted_then_redefined_is_fine_and_del_of_nothing_is_caught() -> None:
    assert found("X = 1", "del X", "X = 2", "print(X)") == []
    assert found("del nothing_here") == [(1, "nothing_here", "undefined")]
    assert found("a = b = 1", "del a, b", "print(a)") == [(3, "a", "deleted")]


def test_xdel_and_reset_magics() -> None:
    assert found("X = 1", "%xdel X", "print(X)") == [(3, "X", "deleted")]
    assert {n for _, n, _ in found("X = 1\nY = 2", "%reset -f", "print(X, Y)")} == {"X", "Y"}
    assert found("X = 1", "%reset in", "print(X)") == []  # only the input history


def test_a_deleted_function_is_no_longer_callable() -> None:
    assert found("def f():\n    return 1", "del f", "f()") == [(3, "f", "deleted")]


# ------------------------------------------------------------------ history and order
def test_out_of_order_dependency_is_flagged() -> None:
    # the notebook shows A (defines X) above B (reads X), but B ran first: X came from
    # state the record lacks, and a replay in execution order fails at B
    cell_a, cell_b = "X = load()", "model = fit(X)"
    history = [
        {"source": "def load():\n    return 1\ndef fit(x):\n    return x", "n": 1},
        {"source": cell_b, "n": 7},
        {"source": cell_a, "n": 8},
    ]
    findings = hidden_state(history)
    assert len(findings) == 1
    f = findings[0]
    assert (f.position, f.execution_count, f.name, f.kind) == (2, 7, "X", "undefined")
    assert f.message.startswith("cell 2 (In [7]) reads `X`, which only a later cell (3)")
    assert found(history[0], history[2], history[1]) == []


def test_a_deleted_cell_leaves_its_names_missing() -> None:
    full = ["import pandas as pd", "df = pd.DataFrame({'a': [1]})", "df['b'] = df.a * 2"]
    assert found(*full) == []
    findings = hidden_state([full[0], full[2]])  # the history lacks the defining cell
    assert [(f.position, f.name) for f in findings] == [(2, "df")]
    assert "no earlier recorded cell defines" in findings[0].message


def test_reads_guarded_by_except_name_error_are_not_reported() -> None:
    idiom = "try:\n    results\nexcept NameError:\n    results = []\nresults.append(1)"
    assert found(idiom) == []
    assert found("try:\n    print(cache)\nexcept Exception:\n    pass") == []
    assert found("try:\n    print(cache)\nexcept:\n    pass") == []
    assert found("try:\n    print(cache)\nexcept (KeyError, NameError):\n    pass") == []
    # other handlers do not catch a NameError; the handler's own code is not guarded
    assert undefined("try:\n    print(cache)\nexcept KeyError:\n    pass") == {"cache"}
    assert undefined("try:\n    pass\nexcept NameError:\n    print(cache)") == {"cache"}


def test_each_name_is_reported_once_per_cell() -> None:
    assert found("print(Z)\nprint(Z + Z)") == [(1, "Z", "undefined")]
    assert found("print(Z)", "print(Z)") == [(1, "Z", "undefined"), (2, "Z", "undefined")]


def test_cells_as_nbformat_and_history_entries() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# not code: skipped, not counted"),
        nbformat.v4.new_code_cell("a = 1", execution_count=4),
        nbformat.v4.new_code_cell(["b = a", " + c"], execution_count=5),
        nbformat.v4.new_code_cell("d = e", metadata={"nbmlops": {"execution_count": 9}}),
    ]
    findings = hidden_state(nb.cells)
    assert [(f.position, f.execution_count, f.name) for f in findings] == [
        (2, 5, "c"),
        (3, 9, "e"),
    ]
    assert findings[0].to_dict() == {
        "position": 2,
        "execution_count": 5,
        "name": "c",
        "kind": "undefined",
        "message": findings[0].message,
    }
    assert isinstance(findings[0], Finding)
    assert str(findings[0]) == findings[0].message and "\n" not in findings[0].message
    assert "<" not in findings[0].to_html().replace("<pre>", "").replace("</pre>", "")


def test_a_cell_that_is_not_a_string_or_mapping_is_refused() -> None:
    record = pytest.importorskip("nb_mlops.records.record")
    with pytest.raises(record.RecordError, match=r"hidden_state: a cell must be .* not int"):
        hidden_state(["a = 1", 3])  # type: ignore[list-item]


def test_the_kernel_history_is_checked_as_recorded(ip) -> None:
    """A name defined before `%load_ext nb_mlops` is not in the history: hidden state."""
    from nb_mlops.jsonl import read_jsonl
    from nb_mlops.notebook.extension import tracker

    ip.run_line_magic("unload_ext", "nb_mlops")
    ip.run_cell("BEFORE_LOAD = 41")
    ip.run_cell("%load_ext nb_mlops", store_history=True)
    try:
        ip.run_cell("import math\nafter = BEFORE_LOAD + math.floor(0.5)", store_history=True)
        ip.run_cell("del after", store_history=True)
        ip.run_cell("print(after)", store_history=True)  # fails in the kernel too
        cells = read_jsonl(tracker(ip).history.path)
        assert [c["source"] for c in cells][:2] == [
            "import math\nafter = BEFORE_LOAD + math.floor(0.5)",
            "del after",
        ]
        findings = hidden_state(cells)
        assert [(f.position, f.name, f.kind) for f in findings] == [
            (1, "BEFORE_LOAD", "undefined"),
            (3, "after", "deleted"),
        ]
        assert findings[0].execution_count == cells[0]["n"] is not None
    finally:
        ip.user_ns.pop("BEFORE_LOAD", None)


# ------------------------------------------------------------------ IPython syntax
def test_line_magics_shell_escapes_and_help_are_removed() -> None:
    cell = (
        "%matplotlib inline\n"
        "!pip list | head -n 2\n"
        "!!ls\n"
        "files = !ls -la\n"
        "here = %pwd\n"
        "a, b = %sx echo 1 2\n"
        "len?\n"
        "??print\n"
        "os.path.join??\n"
        "%config InlineBackend.figure_format = 'svg' \\\n"
        "    extra continued line\n"
        "for f in files:\n"
        "    %time n = len(f)\n"
        "    !echo {f}\n"
        "print(files, here, a, b, n)\n"
    )
    assert found("import os", cell) == []
    source = python_source(cell)
    assert source is not None and source.count("\n") == cell.count("\n")  # line numbers kept
    assert "files = None" in source and "    n = len(f)" in source


def test_a_cell_that_parses_is_left_as_it_is() -> None:
    code = "x = 10 % 3\ny = x != 1\nz = '%time !ls'\n"
    assert python_source(code) == code


def test_cell_magics() -> None:
    assert python_source("%%bash\necho $UNDEFINED") is None
    assert python_source("%%html\n<b>{{x}}</b>") is None
    assert found("%%bash\necho $UNDEFINED", "%%writefile f.py\nprint(Q)") == []
    tracked = "%%track -n rf --seed 0 --tag k=v\n%time m = model_cls()\ntrack.log(a=1)"
    assert undefined(tracked) == {"model_cls"}
    assert found("\n\n%%capture --no-stderr out\nprint(1)", "out.show()") == []
    assert strip_ipython("%%track\nx = 1").source == "\nx = 1"


def test_opaque_code_stops_the_check_with_one_finding() -> None:
    for opaque in [
        "from pylab import *",
        "%run helpers.py",
        "%store -r saved",
        "exec('W = 1')",
        "globals()['W'] = 1",
        "get_ipython().push({'W': 1})",
    ]:
        findings = hidden_state(["x = 1", opaque, "print(W, V)", "del x", "print(x)"])
        kinds = [(f.position, f.kind) for f in findings]
        # unknown names are no longer reported, but a name known deleted still is
        assert kinds == [(2, "unchecked"), (5, "deleted")], opaque
        assert "reads after it are not checked" in findings[0].message
    assert found("%store saved", "print(W)") == [(2, "W", "undefined")]  # stores, not reads


def test_an_unparsable_cell_is_reported_not_raised() -> None:
    findings = hidden_state(["x = = 1", "print(x)", "def f(:\n    pass"])
    assert [(f.position, f.name, f.kind) for f in findings] == [
        (1, None, "unparsable"),
        (2, "x", "undefined"),  # Python refused the cell: it defined nothing
        (3, None, "unparsable"),
    ]
    assert "line 1" in findings[0].message


def test_an_unparsable_cell_that_ran_makes_the_namespace_unknown() -> None:
    # the history says it ran: it used syntax this check does not know (auto-call, ...)
    cells = [{"source": "print 'x'", "status": "ok", "n": 3}, "print(anything)"]
    findings = hidden_state(cells)
    assert [(f.position, f.kind) for f in findings] == [(1, "unparsable")]
    assert "it ran in the kernel" in findings[0].message
    failed = [{"source": "x = = 1", "status": "error", "n": 3}, "print(anything)"]
    assert [f.kind for f in hidden_state(failed)] == ["unparsable", "undefined"]


def test_an_empty_history() -> None:
    assert hidden_state([]) == []
    assert found("", "   \n", "# only a comment") == []


# ------------------------------------------------------------------ the example notebooks
@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_the_example_notebooks_have_no_hidden_state(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert hidden_state(nb.cells) == []


def test_the_quickstart_without_its_data_cell_is_caught() -> None:
    nb = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    data = next(i for i, c in enumerate(code) if "load_wine" in c.source)
    names = {f.name for f in hidden_state(code[:data] + code[data + 1 :])}
    assert {"X_train", "y_train", "RandomForestClassifier", "accuracy_score"} <= names
