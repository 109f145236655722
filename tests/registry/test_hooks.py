"""Deploy hooks: commands kept with the model and callables, run when an alias moves."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
from conftest import run_env

import nb_mlops as nm
from nb_mlops.errors import InvalidName, ModelNotFound, NbMlopsError
from nb_mlops.registry import hooks
from nb_mlops.registry.hooks import DeployHookWarning
from nb_mlops.store.workspace import Workspace, forget_open_workspaces

ENV_NAMES = (
    "NB_MLOPS_MODEL_URI",
    "NB_MLOPS_MODEL_VERSION",
    "NB_MLOPS_MODEL_NAME",
    "NB_MLOPS_ALIAS",
    "NB_MLOPS_PREVIOUS_VERSION",
    "NB_MLOPS_EVENT",
)


@pytest.fixture(autouse=True)
def _no_leftover_callables():
    """Callable hooks live in the process: keep one test's from running in the next."""
    before = list(hooks._callables)
    yield
    hooks._callables[:] = before


def _model(project: Path, name: str = "clf", versions: int = 2) -> None:
    """Register `versions` versions of a small file model."""
    for i in range(versions):
        path = project / f"weights-{name}-{i}.txt"
        path.write_text(f"weights {i}\n")
        nm.register_model(name, path)


def _env_dump_command(out: Path) -> str:
    """A hook command that appends its environment and filled placeholders to `out`."""
    fields = "|".join(f"${{{n}}}" for n in ENV_NAMES)
    return f'echo "{fields}|{{uri}}|{{version}}|{{name}}|{{alias}}|{{previous}}" >> {_q(out)}'


def _q(path: Path) -> str:
    return shlex.quote(str(path))


def _lines(path: Path) -> list[list[str]]:
    return [line.split("|") for line in path.read_text().splitlines()]


# -- commands: what they get, what is recorded ---------------------------------------------------


def test_command_gets_the_move_as_environment_and_placeholders(
    project: Path, tmp_path: Path
) -> None:
    _model(project)
    out = tmp_path / "hook.txt"
    nm.add_deploy_hook("clf", _env_dump_command(out))

    nm.set_alias("clf", "production", 1)
    nm.set_alias("clf", "production", 2)

    first, second = _lines(out)
    uri, version, name, alias, previous, event = first[:6]
    assert (uri, version, name, alias, previous, event) == (
        "models:/clf/1",
        "1",
        "clf",
        "production",
        "",
        "set",
    )
    assert first[6:] == ["models:/clf/1", "1", "clf", "production", ""]
    assert second[:6] == ["models:/clf/2", "2", "clf", "production", "1", "set"]
    assert second[6:] == ["models:/clf/2", "2", "clf", "production", "1"]


def test_command_runs_in_the_project_folder(project: Path, tmp_path: Path) -> None:
    _model(project, versions=1)
    out = tmp_path / "cwd.txt"
    nm.add_deploy_hook("clf", f"pwd -P > {_q(out)}")
    nm.set_alias("clf", "staging", 1)
    assert out.read_text().strip() == str(project.resolve())


def test_awk_braces_pass_through_untouched(project: Path, tmp_path: Path) -> None:
    _model(project, versions=1)
    out = tmp_path / "awk.txt"
    command = f"echo a b | awk '{{print $2 \"-\" $1}}' > {_q(out)}; echo '{{print}} {{version}}'"
    nm.add_deploy_hook("clf", command)

    move = nm.set_alias("clf", "production", 1)

    assert out.read_text() == "b-a\n"
    assert move.hooks[0]["output"] == "{print} 1\n"
    assert move.hooks[0]["target"] == command  # recorded as written, not as run


def test_outcome_goes_into_the_move_and_the_alias_history(project: Path) -> None:
    _model(project)
    hook = nm.add_deploy_hook("clf", "echo deployed {version}")
    assert hook["command"] == "echo deployed {version}"
    assert hook["alias"] is None

    move = nm.set_alias("clf", "production", 2, why="release")

    assert len(move.hooks) == 1
    outcome = move.hooks[0]
    assert outcome["kind"] == "command"
    assert outcome["ok"] is True
    assert outcome["exit_code"] == 0
    assert outcome["output"] == "deployed 2\n"
    assert isinstance(outcome["seconds"], float) and 0 <= outcome["seconds"] < 30
    (entry,) = nm.alias_history("clf", "production")
    assert entry["to"] == 2 and entry["why"] == "release"
    assert entry["hooks"] == [outcome]
    assert "deploy hook echo deployed {version}: ok" in str(move)


def test_output_keeps_the_tail_of_long_output(project: Path) -> None:
    _model(project, versions=1)
    nm.add_deploy_hook("clf", "head -c 9000 /dev/zero | tr '\\0' a; echo END")
    move = nm.set_alias("clf", "production", 1)
    output = move.hooks[0]["output"]
    assert len(output) == hooks._OUTPUT_KEPT
    assert output.endswith("aEND\n")


def test_failing_command_leaves_the_alias_moved_and_warns(project: Path) -> None:
    _model(project)
    nm.set_alias("clf", "production", 1)
    nm.add_deploy_hook("clf", "echo boom >&2; exit 3")

    with pytest.warns(DeployHookWarning, match=r"clf@production moved to version 2") as caught:
        move = nm.set_alias("clf", "production", 2)

    assert nm.get_model_version("models:/clf@production").version == 2
    assert move.to_version == 2
    outcome = move.hooks[0]
    assert outcome["ok"] is False
    assert outcome["exit_code"] == 3
    assert outcome["output"] == "boom\n"
    assert nm.alias_history("clf", "production")[-1]["hooks"] == [outcome]
    message = str(caught[0].message)
    assert "exit code 3" in message and "\n" not in message
    # the warning points at the line that moved the alias, not inside nb_mlops
    assert Path(caught[0].filename) == Path(__file__)


def test_a_failure_is_in_the_history_even_when_warnings_are_errors(project: Path) -> None:
    _model(project)
    nm.add_deploy_hook("clf", "exit 3")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeployHookWarning)
        with pytest.raises(DeployHookWarning, match="exit code 3"):
            nm.set_alias("clf", "production", 2)
    (entry,) = nm.alias_history("clf", "production")
    assert entry["to"] == 2
    assert [(h["ok"], h["exit_code"]) for h in entry["hooks"]] == [(False, 3)]


def test_every_failing_hook_warns_once(project: Path) -> None:
    _model(project, versions=1)
    nm.add_deploy_hook("clf", "exit 1")
    nm.add_deploy_hook("clf", "exit 2")
    nm.add_deploy_hook("clf", "true")
    with pytest.warns(DeployHookWarning) as caught:
        move = nm.set_alias("clf", "production", 1)
    assert [h["exit_code"] for h in move.hooks] == [1, 2, 0]
    texts = sorted(str(w.message) for w in caught if w.category is DeployHookWarning)
    assert len(texts) == 2
    assert "exit code 1" in texts[0] and "exit code 2" in texts[1]
    assert nm.alias_history("clf")[0]["hooks"] == move.hooks


def test_hook_for_one_alias_does_not_run_for_another(project: Path, tmp_path: Path) -> None:
    _model(project)
    prod, anywhere = tmp_path / "prod.txt", tmp_path / "any.txt"
    kept = nm.add_deploy_hook("clf", f"echo {{alias}} >> {_q(prod)}", alias="production")
    assert kept["alias"] == "production"
    nm.add_deploy_hook("clf", f"echo {{alias}} >> {_q(anywhere)}")

    staging = nm.set_alias("clf", "staging", 1)
    assert not prod.exists()
    assert len(staging.hooks) == 1
    assert nm.alias_history("clf", "staging")[0]["hooks"] == staging.hooks

    production = nm.set_alias("clf", "production", 1)
    assert prod.read_text() == "production\n"
    assert anywhere.read_text() == "staging\nproduction\n"
    assert len(production.hooks) == 2


def test_rollback_runs_hooks(project: Path, tmp_path: Path) -> None:
    _model(project)
    out = tmp_path / "hook.txt"
    nm.set_alias("clf", "production", 1)
    nm.set_alias("clf", "production", 2)
    nm.add_deploy_hook("clf", _env_dump_command(out))

    move = nm.rollback("clf", "production", why="bad metrics")

    assert move.event == "rollback" and move.to_version == 1
    (line,) = _lines(out)
    assert line[:6] == ["models:/clf/1", "1", "clf", "production", "2", "rollback"]
    assert move.hooks[0]["ok"] is True
    history = nm.alias_history("clf", "production")
    assert history[-1]["event"] == "rollback"
    assert history[-1]["hooks"] == move.hooks


def test_a_move_that_changes_nothing_runs_no_hook(project: Path, tmp_path: Path) -> None:
    _model(project)
    out = tmp_path / "hook.txt"
    nm.set_alias("clf", "production", 2)
    nm.add_deploy_hook("clf", f"echo ran >> {_q(out)}")
    calls = []
    nm.add_deploy_hook("clf", lambda uri, version: calls.append(uri))

    move = nm.set_alias("clf", "production", 2)

    assert move.changed is False
    assert move.hooks == []
    assert not out.exists()
    assert calls == []
    assert len(nm.alias_history("clf", "production")) == 1


def test_removing_or_protecting_an_alias_runs_no_hook(project: Path, tmp_path: Path) -> None:
    _model(project)
    nm.set_alias("clf", "production", 2)
    out = tmp_path / "hook.txt"
    nm.add_deploy_hook("clf", f"echo ran >> {_q(out)}")
    nm.protect_alias("clf", "production")
    nm.delete_alias("clf", "production", force=True)
    assert not out.exists()


def _write_config(project: Path, text: str) -> None:
    """Append to the store's config.toml; the next workspace() reads it afresh."""
    config = project / ".nbmlops" / "config.toml"
    config.write_text(config.read_text() + textwrap.dedent(text))
    forget_open_workspaces()


def _process_gone(pid: int) -> bool:
    """True once `pid` has exited (gone, or a zombie nobody has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_timeout_is_recorded_as_failure_and_kills_what_the_hook_started(
    project: Path, ws: Workspace, tmp_path: Path
) -> None:
    _model(project, versions=1)
    _write_config(project, "[registry]\nhook_timeout = 1\n")
    pidfile = tmp_path / "child.pid"
    nm.add_deploy_hook("clf", f"echo started; sleep 30 & echo $! > {_q(pidfile)}; wait")

    t0 = time.perf_counter()
    with pytest.warns(DeployHookWarning, match="timed out after 1 s"):
        move = nm.set_alias("clf", "production", 1)
    took = time.perf_counter() - t0

    pid = int(pidfile.read_text())
    try:
        deadline = time.monotonic() + 5
        while not _process_gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _process_gone(pid), "the hook's `sleep` outlived its timeout"
    finally:
        if not _process_gone(pid):
            os.kill(pid, signal.SIGKILL)
    assert 1 <= took < 10
    outcome = move.hooks[0]
    assert outcome["ok"] is False
    assert outcome["exit_code"] is None
    assert outcome["error"] == "timed out after 1 s"
    assert outcome["output"] == "started\n"
    assert nm.alias_history("clf", "production")[0]["hooks"] == [outcome]
    assert nm.get_model_version("models:/clf@production").version == 1


@pytest.mark.parametrize("value", ['"fast"', "0", "-2", "true"])
def test_a_bad_hook_timeout_is_reported_and_the_hook_still_runs(
    project: Path, ws: Workspace, value: str
) -> None:
    _model(project, versions=1)
    _write_config(project, f"[registry]\nhook_timeout = {value}\n")
    nm.add_deploy_hook("clf", "echo ran")
    with pytest.warns(DeployHookWarning, match=r"config.toml: \[registry\] hook_timeout"):
        move = nm.set_alias("clf", "production", 1)
    assert move.hooks[0]["ok"] is True
    assert move.hooks[0]["output"] == "ran\n"


# -- callables ------------------------------------------------------------------------------------


def test_callable_gets_uri_and_version_and_its_result_is_recorded(project: Path) -> None:
    _model(project)
    calls = []

    def deploy(uri: str, version: int) -> dict:
        calls.append((uri, version))
        return {"endpoint": f"https://serve/{version}"}

    remove = nm.add_deploy_hook("clf", deploy)
    assert callable(remove)

    move = nm.set_alias("clf", "production", 2)

    assert calls == [("models:/clf/2", 2)]
    (outcome,) = move.hooks
    assert outcome["kind"] == "callable"
    assert outcome["ok"] is True
    assert outcome["target"].endswith("deploy")
    assert outcome["output"] == repr({"endpoint": "https://serve/2"})
    assert nm.alias_history("clf", "production")[0]["hooks"] == [outcome]


def test_callable_that_raises_is_recorded_and_warned(project: Path) -> None:
    _model(project, versions=1)

    def deploy(uri: str, version: int) -> None:
        raise ConnectionError("serving endpoint refused")

    nm.add_deploy_hook("clf", deploy)
    with pytest.warns(DeployHookWarning, match="ConnectionError: serving endpoint refused"):
        move = nm.set_alias("clf", "production", 1)

    assert move.hooks[0]["ok"] is False
    assert move.hooks[0]["error"] == "ConnectionError: serving endpoint refused"
    assert nm.alias_history("clf")[0]["hooks"][0]["ok"] is False
    assert nm.get_model_version("models:/clf@production").version == 1


def test_removed_callable_no_longer_runs(project: Path) -> None:
    _model(project)
    calls = []
    remove = nm.add_deploy_hook("clf", lambda uri, version: calls.append(version))
    nm.set_alias("clf", "production", 1)
    remove()
    remove()  # twice is harmless
    move = nm.set_alias("clf", "production", 2)
    assert calls == [1]
    assert move.hooks == []


def test_callable_runs_only_for_its_model_and_alias(project: Path) -> None:
    _model(project, "clf")
    _model(project, "other")
    calls = []
    nm.add_deploy_hook("clf", lambda uri, version: calls.append(uri), alias="production")
    nm.set_alias("other", "production", 1)
    nm.set_alias("clf", "staging", 1)
    assert calls == []
    nm.set_alias("clf", "production", 2)
    assert calls == ["models:/clf/2"]


def test_callable_runs_only_for_its_own_store(project: Path, tmp_path: Path) -> None:
    _model(project)
    calls = []
    nm.add_deploy_hook("clf", lambda uri, version: calls.append(version))
    other = tmp_path / "other-project"
    other.mkdir()
    nm.init(other)
    _model(other)
    nm.set_alias("clf", "production", 2)  # the same model name, in another store
    assert calls == []
    nm.init(project)
    nm.set_alias("clf", "production", 1)
    assert calls == [1]


def test_commands_run_before_callables_and_all_are_recorded(project: Path) -> None:
    _model(project, versions=1)
    nm.add_deploy_hook("clf", lambda uri, version: "called")
    nm.add_deploy_hook("clf", "echo first")
    move = nm.set_alias("clf", "production", 1)
    assert [h["kind"] for h in move.hooks] == ["command", "callable"]
    assert [h["ok"] for h in move.hooks] == [True, True]


# -- persistence and removal ---------------------------------------------------------------------


@pytest.mark.slow
def test_commands_are_kept_with_the_model_across_processes(project: Path, tmp_path: Path) -> None:
    _model(project)
    out = tmp_path / "from-subprocess.txt"
    nm.add_deploy_hook("clf", f"echo $NB_MLOPS_MODEL_URI {{version}} >> {_q(out)}")

    code = (
        "import nb_mlops as nm; "
        "move = nm.set_alias('clf', 'production', 2); "
        "print(move.hooks[0]['ok'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env=run_env(project),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert out.read_text() == "models:/clf/2 2\n"
    assert nm.alias_history("clf", "production")[0]["hooks"][0]["output"] == ""


def test_remove_deploy_hooks_for_one_alias_keeps_the_others(project: Path, ws: Workspace) -> None:
    _model(project)
    nm.add_deploy_hook("clf", "echo prod", alias="production")
    nm.add_deploy_hook("clf", "echo prod again", alias="production")
    nm.add_deploy_hook("clf", "echo staging", alias="staging")
    nm.add_deploy_hook("clf", "echo any")

    assert nm.remove_deploy_hooks("clf", alias="production") == 2
    assert [h["command"] for h in hooks.commands(ws, "clf")] == ["echo staging", "echo any"]
    assert nm.remove_deploy_hooks("clf", alias="production") == 0

    move = nm.set_alias("clf", "production", 1)
    assert [h["output"] for h in move.hooks] == ["any\n"]


def test_remove_deploy_hooks_without_alias_removes_all(project: Path, ws: Workspace) -> None:
    _model(project)
    nm.add_deploy_hook("clf", "echo prod", alias="production")
    nm.add_deploy_hook("clf", "echo any")
    assert nm.remove_deploy_hooks("clf") == 2
    assert hooks.commands(ws, "clf") == []
    assert nm.set_alias("clf", "production", 1).hooks == []
    assert nm.remove_deploy_hooks("clf") == 0


def test_hooks_of_one_model_do_not_run_for_another(project: Path, tmp_path: Path) -> None:
    _model(project, "clf")
    _model(project, "other")
    out = tmp_path / "hook.txt"
    nm.add_deploy_hook("clf", f"echo {{name}} >> {_q(out)}")
    assert nm.set_alias("other", "production", 1).hooks == []
    assert not out.exists()


def test_each_kept_command_has_its_own_id(project: Path, ws: Workspace) -> None:
    _model(project, versions=1)
    a = nm.add_deploy_hook("clf", "  echo a  ")
    b = nm.add_deploy_hook("clf", "echo a")
    assert a["command"] == "echo a"
    assert a["id"] != b["id"]
    assert [h["id"] for h in hooks.commands(ws, "clf")] == [a["id"], b["id"]]


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["", "   ", "\n"])
def test_an_empty_command_is_refused(project: Path, ws: Workspace, command: str) -> None:
    _model(project, versions=1)
    with pytest.raises(NbMlopsError, match="non-empty string") as info:
        nm.add_deploy_hook("clf", command)
    assert "\n" not in str(info.value)
    assert hooks.commands(ws, "clf") == []


@pytest.mark.parametrize("hook", [42, None, ["echo", "x"]])
def test_a_hook_that_is_neither_command_nor_callable_is_refused(
    project: Path, hook: object
) -> None:
    _model(project, versions=1)
    with pytest.raises(NbMlopsError, match=f"must be callable, got {type(hook).__name__}"):
        nm.add_deploy_hook("clf", hook)  # type: ignore[arg-type]
    assert hooks._callables == []


@pytest.mark.parametrize("alias", ["latest", "9lives", "prod/eu", "has space", ""])
def test_an_invalid_alias_name_is_refused(project: Path, ws: Workspace, alias: str) -> None:
    _model(project, versions=1)
    with pytest.raises(InvalidName) as info:
        nm.add_deploy_hook("clf", "echo x", alias=alias)
    assert "alias" in str(info.value)
    with pytest.raises(InvalidName):
        nm.add_deploy_hook("clf", lambda uri, version: None, alias=alias)
    with pytest.raises(InvalidName):
        nm.remove_deploy_hooks("clf", alias=alias)
    assert hooks.commands(ws, "clf") == []
    assert hooks._callables == []


def test_hooks_of_an_unknown_model_are_refused(project: Path, ws: Workspace) -> None:
    _model(project, "clf", versions=1)
    for call in (
        lambda: nm.add_deploy_hook("nope", "echo x"),
        lambda: nm.add_deploy_hook("nope", lambda uri, version: None),
        lambda: nm.remove_deploy_hooks("nope"),
        lambda: hooks.commands(ws, "nope"),
    ):
        with pytest.raises(ModelNotFound, match=r"no model named 'nope'; registered: clf"):
            call()
    assert hooks._callables == []


def test_a_bad_model_name_is_refused(project: Path) -> None:
    with pytest.raises(InvalidName, match="model name"):
        nm.add_deploy_hook("../etc", "echo x")


@pytest.mark.slow
def test_a_slow_deploy_never_lands_after_a_newer_move(project: Path, tmp_path: Path) -> None:
    """Move to 2 (slow hook) in one process, to 3 in another meanwhile: 3 is what is deployed."""
    _model(project, versions=3)
    deployed = tmp_path / "deployed"
    nm.add_deploy_hook(
        "clf", f"if [ {{version}} = 2 ]; then sleep 2; fi; echo {{version}} > {_q(deployed)}"
    )
    nm.set_alias("clf", "live", 1)
    slow = subprocess.Popen(
        [sys.executable, "-c", "import nb_mlops as nm; nm.set_alias('clf', 'live', 2)"],
        cwd=project,
        env=run_env(project),
    )
    time.sleep(1.0)  # the slow hook is running now
    moved = nm.set_alias("clf", "live", 3)
    assert slow.wait(timeout=60) == 0
    assert deployed.read_text().strip() == "3"
    assert nm.get_model_version("models:/clf@live").version == 3
    outcomes = {e["to"]: e["hooks"] for e in nm.alias_history("clf", "live")}
    assert outcomes[2][0]["ok"] and outcomes[3][0]["ok"]
    assert moved.hooks[0]["kind"] == "command"


def test_hooks_of_a_move_overtaken_are_skipped_and_said(project: Path, tmp_path: Path) -> None:
    from nb_mlops.registry import aliases

    _model(project, versions=3)
    log = tmp_path / "log"
    nm.add_deploy_hook("clf", f"echo {{version}} >> {_q(log)}")
    ws = nm.workspace()
    first = aliases.set_alias(ws, "clf", "live", 1, run_hooks=False)
    nm.set_alias("clf", "live", 2)
    late = aliases._after(ws, first, run_hooks=True)  # its hooks only start now
    assert (
        late.hooks[0]["kind"] == "skipped" and "moved on (to version 2)" in late.hooks[0]["output"]
    )
    assert log.read_text().split() == ["2"]
    history = nm.alias_history("clf", "live")
    assert history[0]["hooks"][0]["kind"] == "skipped"


def test_a_hook_that_rolls_its_alias_back_does_not_wait_for_itself(
    project: Path, tmp_path: Path
) -> None:
    """The usual health check: deploy, find it broken, roll back from inside the hook."""
    _model(project, versions=3)
    log = tmp_path / "log"
    cli = f"{shlex.quote(sys.executable)} -m nb_mlops"
    nm.add_deploy_hook(
        "clf",
        f"echo deploy {{version}} >> {_q(log)}; "
        f"if [ {{version}} = 3 ]; then {cli} rollback clf prod -m unhealthy; fi",
        alias="prod",
    )
    nm.set_alias("clf", "prod", 1)
    t0 = time.monotonic()
    move = nm.set_alias("clf", "prod", 3)
    assert time.monotonic() - t0 < 30  # not the hook timeout
    assert move.hooks[0]["ok"], move.hooks
    assert log.read_text().split("\n")[:3] == ["deploy 1", "deploy 3", "deploy 1"]
    assert nm.get_model_version("models:/clf@prod").version == 1
    history = nm.alias_history("clf", "prod")
    assert [(e["event"], e["to"]) for e in history] == [("set", 1), ("set", 3), ("rollback", 1)]
    assert all(e["hooks"] and e["hooks"][0]["ok"] for e in history)


def test_a_callable_hook_may_move_the_alias_from_another_thread(project: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    _model(project, versions=3)
    seen = []

    def check(uri: str, version: int) -> None:
        seen.append(version)
        if version == 3:
            with ThreadPoolExecutor(1) as pool:
                pool.submit(nm.rollback, "clf", "prod", why="unhealthy").result(timeout=30)

    nm.add_deploy_hook("clf", check, alias="prod")
    nm.set_alias("clf", "prod", 1)
    nm.set_alias("clf", "prod", 3)
    assert seen == [1, 3, 1]
    assert nm.get_model_version("models:/clf@prod").version == 1


def test_interrupted_hooks_are_recorded(project: Path, tmp_path: Path) -> None:
    _model(project)
    calls = []

    def first(uri: str, version: int) -> str:
        calls.append(version)
        return "done"

    def stopped(uri: str, version: int) -> None:
        raise KeyboardInterrupt

    nm.add_deploy_hook("clf", first)
    nm.add_deploy_hook("clf", stopped)
    with pytest.raises(KeyboardInterrupt):
        nm.set_alias("clf", "prod", 2)
    (entry,) = nm.alias_history("clf", "prod")
    kinds = [(h["kind"], h["ok"]) for h in entry["hooks"]]
    assert kinds == [("callable", True), ("interrupted", False)]
    assert nm.get_model_version("models:/clf@prod").version == 2  # the move itself stands


def test_command_runs_in_the_project_root_from_a_subfolder(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _model(project, versions=1)
    sub = project / "notebooks" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)  # a notebook in a subfolder; the store is the project's
    out = tmp_path / "cwd.txt"
    nm.add_deploy_hook("clf", f"pwd -P > {_q(out)}")
    nm.set_alias("clf", "staging", 1)
    assert out.read_text().strip() == str(project.resolve())
