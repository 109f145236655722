"""The JupyterLab / Notebook 7 extension as built by `./dev setup`, and as shipped in a wheel.

Real builds only: the extension that labextension/ builds into nb_mlops/labextension, the .venv's
own `jupyter labextension list`, and a wheel built offline from this checkout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nb_mlops

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "labextension"
BUILD = ROOT / "nb_mlops" / "labextension"
CHART_MIME = "application/vnd.nbmlops.chart+json"
VIEW_MIME = "application/vnd.nbmlops.view+json"
PLOTLY_MARK = "plotly.js-style"  # the id prefix of the style tags plotly.js injects
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def built(path: str) -> Path:
    """A file of the build, or a failure saying how to make it."""
    target = BUILD / path
    assert target.exists(), f"{target} missing: run ./dev setup (it builds labextension/)"
    return target


def static_files() -> dict[str, bytes]:
    """The built chunks by file name."""
    static = built("static")
    return {p.name: p.read_bytes() for p in static.glob("*.js")}


def jupyter_env(tmp_path: Path) -> dict[str, str]:
    """The environment for a jupyter command that reads nothing of the user's home."""
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    env.pop("JUPYTER_PATH", None)
    return env


def test_jupyter_lists_the_extension_enabled_and_ok(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        env=jupyter_env(tmp_path),
        timeout=120,
        check=True,
    )
    lines = ANSI.sub("", out.stdout + out.stderr).splitlines()
    ours = [line.split() for line in lines if line.split()[:1] == ["nb-mlops"]]
    assert ours, f"nb-mlops not listed by the .venv's Jupyter:\n{out.stdout}{out.stderr}"
    assert ours[0][:4] == ["nb-mlops", f"v{nb_mlops.__version__}", "enabled", "OK"], ours


def test_jupyter_lists_the_server_extension_enabled_and_ok(tmp_path: Path) -> None:
    """The store API the panel reads (nb_mlops/server) is on with no step after the install."""
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "server", "extension", "list"],
        capture_output=True,
        text=True,
        env=jupyter_env(tmp_path),
        timeout=120,
        check=True,
    )
    text = ANSI.sub("", out.stdout + out.stderr)
    lines = [line.strip() for line in text.splitlines()]
    assert "nb_mlops enabled" in lines, text
    assert f"nb_mlops {nb_mlops.__version__} OK" in lines, text


def test_the_front_ends_logic_passes_its_jest_tests() -> None:
    """labextension/test/*.test.ts (the panel's decisions: cells, values, paging) under jest."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    out = subprocess.run(
        ["jlpm", "test", "--ci"],
        cwd=SOURCE,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    report = out.stdout + out.stderr
    assert out.returncode == 0, report[-3000:]
    assert re.search(r"Tests:\s+\d+ passed, \d+ total", report), report[-3000:]


def test_built_package_matches_its_source_and_the_python_package() -> None:
    source = json.loads((SOURCE / "package.json").read_text(encoding="utf-8"))
    build = json.loads(built("package.json").read_text(encoding="utf-8"))
    assert build["name"] == source["name"] == "nb-mlops"
    assert build["version"] == source["version"] == nb_mlops.__version__
    assert source["jupyterlab"]["outputDir"] == "../nb_mlops/labextension"
    # The page loads the entry the build names: it must be there.
    assert (BUILD / build["jupyterlab"]["_build"]["load"]).is_file()


def test_plotly_is_one_lazy_chunk_apart_from_the_entry_and_the_plugins() -> None:
    files = static_files()
    entries = [name for name in files if name.startswith("remoteEntry.")]
    assert len(entries) == 1, sorted(files)
    entry = files[entries[0]]
    assert len(entry) < 200_000, f"entry chunk {len(entry)} bytes"
    assert PLOTLY_MARK.encode() not in entry
    # The plugins' own code (both mime types) is small and holds no plotly.js.
    plugins = [data for data in files.values() if CHART_MIME.encode() in data]
    assert plugins and all(len(data) < 200_000 for data in plugins)
    assert all(PLOTLY_MARK.encode() not in data for data in plugins)
    assert any(VIEW_MIME.encode() in data for data in plugins)
    # plotly.js: exactly one chunk over 1 MB, and it is plotly.
    big = [name for name, data in files.items() if len(data) > 1_000_000]
    assert len(big) == 1, {name: len(files[name]) for name in big}
    assert PLOTLY_MARK.encode() in files[big[0]]


def test_build_output_and_node_files_are_ignored_by_git() -> None:
    paths = [
        "nb_mlops/labextension/package.json",
        "labextension/node_modules/x",
        "labextension/lib/index.js",
        "labextension/.yarn/install-state.gz",
    ]
    out = subprocess.run(
        ["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split() == paths, out.stdout + out.stderr
    tracked = subprocess.run(
        ["git", "ls-files", "labextension/yarn.lock", "nb_mlops/labextension"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "nb_mlops/labextension" not in tracked.stdout


def test_a_wheel_ships_the_built_extension(tmp_path: Path) -> None:
    # Offline: no index, no build isolation (hatchling and hatch-jupyter-builder come from the
    # test extra), and the extension already built, so the build hook builds nothing.
    env = dict(os.environ, PIP_NO_CACHE_DIR="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    offline = ["--no-deps", "--no-index", "--no-build-isolation", "--quiet"]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *offline, "--wheel-dir", str(tmp_path), str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    wheels = list(tmp_path.glob("nb_mlops-*.whl"))
    assert len(wheels) == 1, list(tmp_path.iterdir())
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    share = f"nb_mlops-{nb_mlops.__version__}.data/data/share/jupyter/labextensions/nb-mlops/"
    static = {f"{share}static/{name}" for name in static_files()}
    assert {f"{share}package.json", f"{share}install.json"} <= names
    assert static <= names
    # Shipped once, as shared-data: not a second copy inside the Python package.
    assert not [name for name in names if name.startswith("nb_mlops/labextension/")]
    server_config = f"nb_mlops-{nb_mlops.__version__}.data/data/etc/jupyter/"
    server_config += "jupyter_server_config.d/nb_mlops.json"
    enabled = json.loads(zipfile.ZipFile(wheels[0]).read(server_config))
    assert enabled == {"ServerApp": {"jpserver_extensions": {"nb_mlops": True}}}
    shipped = json.loads(zipfile.ZipFile(wheels[0]).read(f"{share}package.json"))
    assert shipped["name"] == "nb-mlops"
