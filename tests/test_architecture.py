"""The floors of DESIGN.md section 2: imports only point down, and these tests keep it so.

The contract itself lives in pyproject.toml ([tool.importlinter]) and `./dev lint` runs it. Here
it runs again, against the real package and against a copy with a bad import planted in it (so a
contract that quietly stopped checking anything would fail too), and two rules import-linter
cannot state are checked on the source: no module takes another module's private names, and no
module imports the root package.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
import tomlkit

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "nb_mlops"
ROOT = "nb_mlops"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
KERNEL_STACK = ("IPython", "ipywidgets", "ipykernel", "jupyter_server", "tornado", "anywidget")

# Private by convention (one leading underscore), except what is public by protocol: the IPython
# display hooks (_repr_html_, _repr_mimebundle_, ..., _ipython_display_) and the _version module.
PROTOCOL_NAME = re.compile(r"^_(repr_\w+|ipython_display)_$")
PUBLIC_PRIVATE_LOOKING = {"_version"}


def is_private(name: str) -> bool:
    if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
        return False
    return not PROTOCOL_NAME.match(name) and name not in PUBLIC_PRIVATE_LOOKING


def importlinter_config() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["importlinter"]


def contract(contract_id: str) -> dict:
    (found,) = [c for c in importlinter_config()["contracts"] if c["id"] == contract_id]
    return found


def run_lint_imports(cwd: Path, *, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    """lint-imports from this interpreter's venv, reading cwd/pyproject.toml, writing no cache."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1", COLUMNS="200")
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its __init__.py)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def where(path: Path, line: int, package: Path) -> str:
    return f"{path.relative_to(package.parent)}:{line}"


# --- a. the contract, on the package as it is ---------------------------------------------------


def test_the_import_contract_is_kept():
    result = run_lint_imports(REPO)
    report = result.stdout + result.stderr
    assert "Contracts:" in report, report  # it ran and checked contracts, not a config error
    assert result.returncode == 0, f"the import contract is broken:\n{report}"


def test_the_contract_excuses_nothing():
    config = importlinter_config()
    assert config["root_packages"] == [ROOT]
    assert config["include_external_packages"] is True
    assert config.get("exclude_type_checking_imports", False) is False
    excusing = [c["id"] for c in config["contracts"] if "ignore_imports" in c]
    assert not excusing, f"contracts with an ignore_imports list: {excusing}"
    assert contract("floors")["exhaustive"] is True


def test_every_domain_package_is_kept_from_the_kernel():
    """A forbidden contract's source modules must exist, so the future floor-5 packages cannot be
    listed before they are written; this fails as soon as one exists and is not listed."""
    layers = contract("floors")["layers"]
    domain_floors = layers[layers.index("api") + 1 : -1]  # floors 5 down to 1; ground is last
    names = [n.strip().strip("()") for layer in domain_floors for n in re.split(r"[|:]", layer)]
    existing = {
        f"{ROOT}.{n}"
        for n in names
        if (PACKAGE / n / "__init__.py").exists() or (PACKAGE / f"{n}.py").exists()
    }
    assert {f"{ROOT}.{n}" for n in ("store", "tracking", "data", "registry")} <= existing
    kept_from_kernel = contract("domain-no-kernel")
    assert set(kept_from_kernel["forbidden_modules"]) >= set(KERNEL_STACK)
    missing = sorted(existing - set(kept_from_kernel["source_modules"]))
    assert not missing, f"add to the domain-no-kernel contract's source_modules: {missing}"


# --- b. the contract, on a copy with a bad import planted -----------------------------------------


def plant(copy: Path, relative: str, code: str) -> int:
    """Append code to copy/nb_mlops/relative (creating it if need be); return its first line."""
    path = copy / ROOT / relative
    existing = path.read_text() if path.exists() else ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    path.write_text(existing + "\n\n" + code)
    return len(existing.splitlines()) + 3


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """nb_mlops/ and the import-linter section of pyproject.toml, copied into tmp_path."""
    copy = tmp_path / "copy"
    shutil.copytree(PACKAGE, copy / ROOT, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pyproject = tomlkit.document()
    tool = tomlkit.table()
    tool["importlinter"] = importlinter_config()
    pyproject["tool"] = tool
    (copy / "pyproject.toml").write_text(tomlkit.dumps(pyproject))
    return copy


def broken_report(copy: Path) -> str:
    # cwd and PYTHONPATH are the copy: grimp builds the copy's graph, not the editable install's.
    result = run_lint_imports(copy, pythonpath=copy)
    report = result.stdout + result.stderr
    assert "Contracts:" in report, report
    assert result.returncode != 0, f"the planted import went unnoticed:\n{report}"
    return report


@pytest.mark.slow
def test_a_lazy_upward_import_breaks_the_floors(package_copy: Path):
    line = plant(
        package_copy,
        "store/gc.py",
        "def _planted():\n    from nb_mlops.registry import versions\n\n    return versions\n",
    )
    report = broken_report(package_copy)
    assert "nb_mlops.store is not allowed to import nb_mlops.registry" in report, report
    assert f"nb_mlops.store.gc -> nb_mlops.registry.versions (l.{line + 1})" in report, report


@pytest.mark.slow
def test_a_lazy_kernel_import_in_a_domain_package_is_forbidden(package_copy: Path):
    line = plant(
        package_copy,
        "data/diff.py",
        "def _planted():\n    import IPython\n\n    return IPython\n",
    )
    report = broken_report(package_copy)
    assert "nb_mlops.data is not allowed to import IPython" in report, report
    assert f"nb_mlops.data.diff -> IPython (l.{line + 1})" in report, report


@pytest.mark.slow
def test_a_type_checking_import_counts(package_copy: Path):
    line = plant(
        package_copy,
        "tracking/__init__.py",
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import nb_mlops.api\n",
    )
    report = broken_report(package_copy)
    assert "nb_mlops.tracking is not allowed to import nb_mlops.api" in report, report
    assert f"nb_mlops.tracking -> nb_mlops.api (l.{line + 3})" in report, report


@pytest.mark.slow
def test_a_cycle_on_the_ground_floor_is_found(package_copy: Path):
    # values imports errors; errors importing values closes a cycle the floors allow (same floor).
    plant(package_copy, "errors.py", "def _planted():\n    import nb_mlops.values\n")
    report = broken_report(package_copy)
    assert "No cycles are allowed in nb_mlops." in report, report
    assert ".errors -> .values" in report or ".values -> .errors" in report, report


@pytest.mark.slow
def test_a_module_on_no_floor_breaks_the_floors(package_copy: Path):
    plant(package_copy, "unplaced.py", '"""A new module nobody put on a floor."""\n')
    report = broken_report(package_copy)
    assert "The following modules are not listed as layers" in report, report
    assert "- nb_mlops.unplaced" in report, report


@pytest.mark.slow
def test_the_front_ends_go_through_the_api(package_copy: Path):
    line = plant(
        package_copy, "cli.py", "def _planted():\n    from nb_mlops.store import catalog\n"
    )
    report = broken_report(package_copy)
    assert "nb_mlops.cli is not allowed to import nb_mlops.store" in report, report
    assert f"nb_mlops.cli -> nb_mlops.store.catalog (l.{line + 1})" in report, report


# --- c. no module takes another module's private names ---------------------------------------


def resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom reads from (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def dotted(node: ast.expr) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        head = dotted(node.value)
        return None if head is None else [*head, node.attr]
    return None


def private_name_offences(package: Path = PACKAGE) -> list[str]:
    """`from nb_mlops.x import _name` and `x._name` for another module x, as file:line: what."""
    modules = module_files(package)
    offences = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        # Names bound to nb_mlops modules anywhere in the file (lazy imports included).
        bound: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] != ROOT:
                        continue
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        bound[ROOT] = ROOT
            elif isinstance(node, ast.ImportFrom):
                source = resolve_from(module, is_package, node)
                if source.split(".")[0] != ROOT:
                    continue
                for alias in node.names:
                    if is_private(alias.name):
                        taken = f"from {source} import {alias.name}"
                        offences.append(f"{where(path, node.lineno, package)}: {taken}")
                    if f"{source}.{alias.name}" in modules:
                        bound[alias.asname or alias.name] = f"{source}.{alias.name}"
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
                continue
            chain = dotted(node.value)
            if chain is None or chain[0] not in bound:
                continue
            owner = ".".join([bound[chain[0]], *chain[1:]])
            if owner in modules and owner != module:
                expression = ".".join([*chain, node.attr])
                offences.append(f"{where(path, node.lineno, package)}: {expression} ({owner})")
    return sorted(set(offences))


def test_no_module_takes_another_modules_private_names():
    offences = private_name_offences()
    assert not offences, (
        "private names of another nb_mlops module (make them public, or move them down to a "
        "ground-floor module):\n" + "\n".join(offences)
    )


# --- d. nothing imports the root package ------------------------------------------------------


def root_package_offences(package: Path = PACKAGE) -> list[str]:
    """Imports of the root package itself by any of its modules but __main__, as file:line."""
    graph = grimp.build_graph(ROOT, cache_dir=None)  # no cache written next to the package
    files = module_files(package)
    offences = []
    for module in sorted(graph.modules):
        if module in (ROOT, f"{ROOT}.__main__"):
            continue
        if ROOT in graph.find_modules_directly_imported_by(module):
            for detail in graph.get_import_details(importer=module, imported=ROOT):
                line, contents = detail["line_number"], detail["line_contents"]
                offences.append(f"{where(files[module], line, package)}: {contents}")
    return offences


def test_no_module_imports_the_root_package():
    """`import nb_mlops` / `from nb_mlops import track` pull in every floor at once."""
    offences = root_package_offences()
    assert not offences, "imports of the root package nb_mlops:\n" + "\n".join(offences)


# --- the two source checks above, on a copy with offences planted ----------------------------


def test_private_names_taken_are_found(package_copy: Path):
    plant(package_copy, "store/gc.py", "from nb_mlops.store.catalog import _planted_a\n")
    plant(package_copy, "tracking/run.py", "from ..store import catalog as c\n\nc._planted_b\n")
    plant(
        package_copy,
        "data/diff.py",
        "def f():\n    import nb_mlops.store.catalog\n\n"
        "    return nb_mlops.store.catalog._planted_c\n",
    )
    plant(
        package_copy,
        "registry/bundle.py",
        "from nb_mlops import _version\nfrom nb_mlops.notebook import widgets\n\n"
        "widgets._repr_html_, widgets.__name__, _version.__version__\n",
    )
    found = private_name_offences(package_copy / ROOT)
    found = [o for o in found if "_planted" in o or "_repr_" in o or "_version" in o]
    assert len(found) == 3, found
    assert found[0].startswith("nb_mlops/data/diff.py:"), found
    assert found[0].endswith(": nb_mlops.store.catalog._planted_c (nb_mlops.store.catalog)")
    assert found[1].startswith("nb_mlops/store/gc.py:"), found
    assert found[1].endswith(": from nb_mlops.store.catalog import _planted_a"), found
    assert found[2].startswith("nb_mlops/tracking/run.py:"), found
    assert found[2].endswith(": c._planted_b (nb_mlops.store.catalog)"), found


def test_imports_of_the_root_package_are_found(package_copy: Path, monkeypatch):
    line = plant(package_copy, "store/gc.py", "def f():\n    from nb_mlops import init\n")
    plant(package_copy, "__main__.py", "import nb_mlops\n")  # the one module allowed to
    # grimp finds the package by its import spec: make that the copy's, not the editable install's.
    monkeypatch.delitem(sys.modules, ROOT, raising=False)
    monkeypatch.syspath_prepend(str(package_copy))
    found = root_package_offences(package_copy / ROOT)
    assert f"nb_mlops/store/gc.py:{line + 1}: from nb_mlops import init" in found, found
    assert not [o for o in found if "__main__" in o], found
