"""The command table: one list of subcommands, the same help and rules in the magic and the CLI."""

from __future__ import annotations

import re

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from nb_mlops.cli import main
from nb_mlops.commands import CELL, COMMANDS, UsageProblem, parse_argv, parse_cell_line, parse_line

# Every subcommand, by hand: adding one to the table without adding it here fails a test, so a
# new verb is a decision. True marks those that only make sense in a kernel.
SUBCOMMANDS = {
    "start": True,
    "stop": True,
    "runs": False,
    "show": False,
    "compare": False,
    "delete": False,
    "gc": False,
    "repair": False,
    "scrub": False,
    "snapshot": False,
    "versions": False,
    "checkout": False,
    "diff": False,
    "remote": False,
    "push": False,
    "pull": False,
    "mlflow": False,
    "status": False,
    "register": False,
    "models": False,
    "model": False,
    "alias": False,
    "rollback": False,
    "hook": False,
    "eval": False,
    "judge": False,
    "rag": False,
    "annotate": False,
    "agreement": False,
    "arena": False,
    "monitor": False,
    "export": False,
    "reproduce": False,
    "verify": False,
    "init": False,
}


def test_the_table_holds_exactly_the_listed_subcommands() -> None:
    assert list(COMMANDS) == list(SUBCOMMANDS)
    for name, kernel_only in SUBCOMMANDS.items():
        assert COMMANDS[name].kernel_only is kernel_only, name
    assert CELL.kernel_only and CELL.name == "%%track"


def _normalized(text: str, prog: str) -> str:
    """Help text with the program name and the CLI's own `--json` option taken out, and
    whitespace collapsed (argparse wraps lines by the width of the program name)."""
    text = text.replace(prog, "PROG")
    text = re.sub(r"\[--json\]", "", text)
    text = re.sub(r"--json\s+print JSON instead of text", "", text)
    return " ".join(text.split())


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_magic_and_cli_help_agree(ip, capsys: pytest.CaptureFixture[str], name: str) -> None:
    with capture_output() as cap:
        ip.run_line_magic("track", f"{name} --help")
    magic = cap.stdout
    assert main([name, "--help"]) == 0
    cli = capsys.readouterr().out
    assert magic.startswith(f"usage: %track {name}")
    assert cli.startswith(f"usage: nb-mlops {name}")
    assert _normalized(magic, f"%track {name}") == _normalized(cli, f"nb-mlops {name}")
    assert COMMANDS[name].help in " ".join(magic.split())
    if COMMANDS[name].json:
        assert "--json" in cli


def test_start_shares_the_run_options_of_a_tracked_cell() -> None:
    def options(cmd) -> set[str]:
        return {flag for a in cmd.args for flag in a.flags if flag.startswith("-")}

    assert {"-e", "--experiment", "--seed", "--data", "--tag"} <= options(COMMANDS["start"])
    assert options(COMMANDS["start"]) == options(CELL) - {"-n", "--name"}
    assert parse_line("start eda --data a.csv --data b.csv")[1].data == ["a.csv", "b.csv"]
    cell = parse_cell_line("-n rf --data a.csv --tag k=v --seed 3")
    assert (cell.name, cell.data, cell.tag, cell.seed) == ("rf", ["a.csv"], [("k", "v")], 3)


@pytest.mark.parametrize("name", [n for n, kernel in SUBCOMMANDS.items() if kernel])
def test_kernel_only_commands_explain_themselves_in_a_shell(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([name]) == 1
    err = capsys.readouterr().err
    assert "exist only as `%track start/stop`" in err and "nm.start_run" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("model m 1 --archive --restore", "choose --archive or --restore"),
        ("alias m prod --protect --unprotect", "choose --protect or --unprotect"),
        ("model m --export x.zip", "need a VERSION"),
        ("remote add", "remote add needs a NAME"),
        ("remote add origin", "remote add needs NAME and URL"),
        ("remote remove", "remote remove needs a NAME"),
        ("register --import b.zip m n", "takes a NAME at most"),
        ("register run-1", "register needs RUN and NAME"),
    ],
)
def test_declared_rules_hold_on_both_surfaces(line: str, message: str) -> None:
    with pytest.raises(UsageProblem, match=message) as magic:
        parse_line(line)
    assert f"usage: %track {line.split()[0]}" in str(magic.value)
    with pytest.raises(UsageProblem, match=message) as cli:
        parse_argv(line.split())
    assert cli.value.usage.startswith(f"usage: nb-mlops {line.split()[0]}")


def test_rules_do_not_refuse_what_they_allow() -> None:
    assert parse_line("model m 1 --archive")[1].archive
    assert parse_line("remote list")[1].action == "list"
    assert parse_line("register --import b.zip m")[1].run == "m"
    assert parse_line("register --file model.pkl m")[1].file == "model.pkl"
    assert parse_line("hook m 'deploy.sh {uri}'")[1].command == "deploy.sh {uri}"


def test_a_usage_error_in_the_magic_is_a_usage_error(ip) -> None:
    with pytest.raises(UsageError, match="choose --archive or --restore"):
        ip.run_line_magic("track", "model m 1 --archive --restore")


# ------------------------------------------------------- comments and "did you mean"
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("runs metrics.accuracy >= 5   # runs table", "runs metrics.accuracy >= 5"),
        ("show rf-baseline  # one run in full", "show rf-baseline"),
        ("runs tags.note = 'a # b'", "runs tags.note = 'a # b'"),
        ('runs tags.note = "say \\" # no" # yes', 'runs tags.note = "say \\" # no"'),
        ("runs `tags.a#b` = 'x'", "runs `tags.a#b` = 'x'"),
        ("diff data.csv 1 2 --key id#x", "diff data.csv 1 2 --key id#x"),
        ("# only a comment", ""),
    ],
)
def test_comments_after_hash_are_dropped_outside_quotes(line: str, expected: str) -> None:
    from nb_mlops.commands import strip_comment

    assert strip_comment(line) == expected


def test_magic_lines_with_trailing_comments_parse(ip) -> None:
    cmd, args = parse_line("runs metrics.accuracy > 0.8   # the runs table")
    assert cmd.name == "runs" and args.filter == "metrics.accuracy > 0.8"
    _, shown = parse_line("show rf-baseline  # one run in full")
    assert shown.run == "rf-baseline"
    opts = parse_cell_line("-n rf --seed 0   # a tracked cell")
    assert opts.name == "rf" and opts.seed == 0
    with capture_output() as cap:
        ip.run_cell("%%track -n commented   # note\nx = 1")
    assert "commented" in cap.stdout


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("runz", "did you mean 'runs'?"),
        ("runs --order-bye start_time", "did you mean '--order-by'?"),
        ("eval --bord", "did you mean '--board'"),
        ("snapshot data.csv --mesage x", "did you mean '--message'?"),
    ],
)
def test_unknown_names_get_a_suggestion(line: str, hint: str) -> None:
    with pytest.raises(UsageProblem, match=re.escape(hint)):
        parse_line(line)


def test_cli_suggests_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runz"]) != 0
    assert "did you mean 'runs'?" in capsys.readouterr().err
    assert main(["show", "x", "--jsn"]) != 0
    assert "did you mean '--json'?" in capsys.readouterr().err


def test_a_cell_line_parsed_again_gives_an_equal_and_separate_answer() -> None:
    """`%%track` options are kept per line for reruns; no caller sees another's changes."""
    line = "-n rf -e wine --tag team=nlp --data a.csv"
    first = parse_cell_line(line)
    first.tag.append(("owner", "me"))
    first.name = "changed"
    again = parse_cell_line(line)
    assert vars(again) == {
        "name": "rf",
        "experiment": "wine",
        "seed": None,
        "data": ["a.csv"],
        "tag": [("team", "nlp")],
    }
    with pytest.raises(UsageProblem):
        parse_cell_line("--seed x")
    with pytest.raises(UsageProblem):  # refusals are never kept as answers
        parse_cell_line("--seed x")
