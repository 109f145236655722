"""The one command table behind `%%track`, `%track SUBCOMMAND ...` and `nb-mlops SUBCOMMAND ...`.

Each command lists its arguments and its option rules once; both surfaces build their parsers
from it, check the rules in one place and call the same handler, so the magic and the CLI
cannot drift apart. A handler calls the public verbs (api.py) and returns a result object
(results.Result: `to_text`, `to_html`, `to_dict`). Commands that only make sense
inside a kernel (`%%track`, `start`, `stop`) ask the surface's context to do the work.
"""

from __future__ import annotations

import argparse
import copy
import functools
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from nb_mlops.errors import NbMlopsError
from nb_mlops.results import Result


class UsageProblem(NbMlopsError):
    """Bad subcommand or option; `.usage` is the usage line to show with it."""

    def __init__(self, message: str, usage: str) -> None:
        self.usage = usage.strip()
        super().__init__(f"{message}\n{self.usage}")


class HelpShown(Exception):
    """`--help` was asked for; `.text` is the help to print."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(text)


class Context(Protocol):
    """What a surface (magic or CLI) offers the handlers beyond the public API."""

    surface: str
    prog: str

    def run_cell(self, args: argparse.Namespace) -> Any: ...
    def start_session(self, args: argparse.Namespace) -> Any: ...
    def stop_session(self, args: argparse.Namespace) -> Any: ...
    def read_secret(self, prompt: str) -> str:
        """A string typed at a hidden prompt (or read from a pipe), never from the arguments."""
        ...

    def confirm(self, summary: str) -> bool:
        """Show `summary` and ask yes or no (refused where nobody can answer: pass --yes)."""
        ...


@dataclass(frozen=True)
class Arg:
    """One argparse argument: flags and keyword arguments, as for add_argument."""

    flags: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


def arg(*flags: str, **kwargs: Any) -> Arg:
    return Arg(flags, kwargs)


@dataclass(frozen=True)
class Rule:
    """An option rule, checked after parsing: when any of `when` is given (and none of
    `unless`), each of `needs` must be given and none of `forbids`; else `message` is the
    usage error. Names are argparse dests; `dest=value` compares a choice."""

    message: str
    when: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    forbids: tuple[str, ...] = ()

    def broken(self, ns: argparse.Namespace) -> bool:
        if self.when and not any(_given(ns, d) for d in self.when):
            return False
        if any(_given(ns, d) for d in self.unless):
            return False
        return not all(_given(ns, d) for d in self.needs) or any(
            _given(ns, d) for d in self.forbids
        )


def one_of(*dests: str) -> Rule:
    """At most one of these flags (`--archive` or `--restore`)."""
    flags = " or ".join(f"--{d.replace('_', '-')}" for d in dests)
    return Rule(f"choose {flags}", when=dests[:1], forbids=dests[1:])


def exclusive(*dests: str) -> tuple[Rule, ...]:
    """At most one of these flags, whichever comes first."""
    flags = ", ".join(f"--{d.replace('_', '-')}" for d in dests)
    return tuple(
        Rule(f"choose one of {flags}", when=(d,), forbids=dests[i + 1 :])
        for i, d in enumerate(dests[:-1])
    )


def _given(ns: argparse.Namespace, dest: str) -> bool:
    name, eq, value = dest.partition("=")
    got = getattr(ns, name, None)
    if eq:
        return got == value
    return got is not None and got is not False and got != []


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    handler: Callable[[argparse.Namespace, Context], Any]
    args: tuple[Arg, ...] = ()
    rest: str | None = None
    """Name of a trailing free-text argument (a FILTER) taken raw, quotes and all."""
    rest_help: str = ""
    json: bool = True
    rules: tuple[Rule, ...] = ()
    kernel_only: bool = False
    """Only a kernel can do it (`%%track`, `start`, `stop`): the CLI explains and refuses."""
    reads: bool = False
    """It reads the store and prints, leaving nothing pending at exit (its writes, such as a
    crashed run's status, are done when it returns): the `nb-mlops` program may then end
    without the interpreter's teardown, which at 100,000 runs takes 80 ms of freeing."""


class ArgParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so a magic can turn it into a UsageError."""

    known_flags: tuple[str, ...] = ()
    """The command's option strings, for "did you mean" on an unknown option."""

    def error(self, message: str) -> NoReturn:
        from nb_mlops.text import did_you_mean

        unknown = re.match(r"unrecognized arguments: (\S+)", message)
        if unknown and unknown.group(1).startswith("-"):
            flag = unknown.group(1).split("=", 1)[0]
            message += did_you_mean(flag, self.known_flags)
        raise UsageProblem(message, self.format_usage())

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            raise UsageProblem(message.strip(), self.format_usage())
        raise HelpShown(self.format_help())

    def print_help(self, file: Any = None) -> None:
        raise HelpShown(self.format_help())


def _threshold(item: str) -> tuple[str, float]:
    name, _, value = item.partition("=")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{item!r}: expected NAME=NUMBER") from None


def tag_pair(item: str) -> tuple[str, str]:
    """`--tag K=V` as (K, V); argparse reports anything else as a usage error."""
    key, eq, value = item.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"--tag expects K=V, got {item!r}")
    return key, value


# -------------------------------------------------------------------- handlers
def _runs(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.run_table(
        args.filter or None,
        order_by=args.order_by or None,
        max_results=args.max_results,
        with_size=True,
    )


def _positive_int(text: str) -> int:
    """`--max-results N`: a positive integer; argparse reports anything else as a usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _show(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.get_run(args.run)


def _compare(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.compare(*args.runs, filter=args.filter or None)


def _delete(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    out = api.delete_run(args.run, force=args.force)
    return Message(f"deleted run {out['name']} ({out['run_id']})", out)


def _gc(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    grace = 0.0 if args.now else None
    return api.gc(grace_s=grace, dry_run=args.dry_run)


def _repair(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    out = api.repair()
    if not out["set_aside"]:
        return Message(f"the catalog is sound ({out['kept']} records); nothing to repair", out)
    return Message(
        f"kept {out['kept']} records; set {out['set_aside']} damaged lines aside "
        f"(the whole old file is kept as {out['copy']})",
        out,
    )


def _scrub(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    # never an argument: it would be kept in the cell history and the shell's
    secret = ctx.read_secret("the leaked string to remove from the store (not shown): ")
    return api.scrub(secret, dry_run=args.dry_run)


def _init(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    ws = api.init(args.path)
    return Message(f"using the store at {ws.home}", {"home": str(ws.home), "root": str(ws.root)})


def _snapshot(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.snapshot(args.path, args.message)


def _versions(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    if args.remove is not None:
        return api.delete_version(args.path, args.remove)
    return api.versions(args.path)


def _checkout(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.checkout(args.path, args.version, force=args.force)


def _diff(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.diff(args.path, args.a, args.b, key=args.key or None)


def _status(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.status(args.path)


def _remote(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    if args.action == "list":
        found = api.remotes()
        text = (
            "\n".join(
                f"{r.name}{' (default)' if r.default else ''}  {r.url}{_remote_options(r)}"
                for r in found
            )
            or "no remotes; add one with `remote add NAME URL`"
        )
        return Message(text, {"remotes": [r.to_dict() for r in found]})
    if args.action == "add":
        r = api.add_remote(
            args.name,
            args.url,
            default=args.default,
            endpoint_url=args.endpoint_url,
            region=args.region,
            profile=args.profile,
        )
        return Message(
            f"remote {r.name} -> {r.url}{_remote_options(r)}{' (default)' if r.default else ''}",
            r.to_dict(),
        )
    api.remove_remote(args.name)
    return Message(f"removed remote {args.name}", {"name": args.name})


def _remote_options(remote: Any) -> str:
    options = ", ".join(f"{k}={v}" for k, v in remote.options.items())
    return f" ({options})" if options else ""


def _push(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.push(args.path, args.remote, progress=not getattr(args, "json", False))


def _pull(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.pull(
        args.path, args.remote, force=args.force, progress=not getattr(args, "json", False)
    )


# ----------------------------------------------------------------------- mlflow
def _mlflow(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    if args.action == "sync":
        return api.mlflow_sync(
            args.tracking_uri,
            experiment=args.experiment,
            filter=args.filter or None,
            models=not args.no_models,
            jobs=args.jobs,
        )
    return api.mlflow_import(
        args.tracking_uri, experiment=args.experiment, filter=args.filter or None
    )


# ----------------------------------------------------------------------- evals
def _eval(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    if args.board:
        return api.eval_scoreboard(args.filter or None, latest=not args.all)
    if args.regressions:
        return api.eval_regressions(*args.regressions, threshold=args.threshold)
    if args.items:
        return api.eval_examples(args.items)
    if args.side_by_side:
        return api.eval_side_by_side(*args.side_by_side)
    options: dict[str, Any] = {}
    if args.max_new_tokens is not None:
        options["max_new_tokens"] = args.max_new_tokens
    if args.temperature is not None:
        options["temperature"] = args.temperature
    return api.evaluate(
        args.model,
        args.dataset,
        metrics=args.metric or None,
        task=args.task,
        style=args.style,
        num_fewshot=args.fewshot,
        seed=args.seed,
        limit=args.limit,
        name=args.name,
        experiment=args.experiment,
        tags=dict(args.tag),
        cache=not args.no_cache,
        progress=None if ctx.surface != "cli" or not getattr(args, "json", False) else False,
        lang=args.lang,
        options=options,
        mode=args.mode,
    )


def _judge(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.judge(
        args.judge,
        args.items,
        runs=args.runs or None,
        mode="pair" if args.pair else None,
        lang=args.lang,
        retries=args.retries,
        limit=args.limit,
        name=args.name,
        experiment=args.experiment,
        tags=dict(args.tag),
    )


def _rag(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    method = args.method or ("embeddings" if args.embed else "judge" if args.judge else "lexical")
    return api.evaluate_rag(
        args.items,
        method=method,
        lang=None if args.lang == "auto" else args.lang,
        judge=args.judge,
        embed=args.embed,
        thresholds=dict(args.threshold) or None,
        system=args.system,
        name=args.name,
        experiment=args.experiment,
        tags=dict(args.tag),
    )


def _annotate(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    if args.agreement:
        return api.rater_agreement(args.task, criterion=args.criterion)
    items = args.items
    # in a notebook the session shows as the labelling widget; the CLI prints its progress
    return api.annotate(args.task, items, rater=args.rater, mode=args.mode)


def _agreement(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.judge_agreement(*args.sources, humans_as_one=args.humans_as_one)


def _arena(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    options: dict[str, Any] = {"seed": args.seed}
    for key in ("k", "bootstrap"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    return api.arena(
        args.battles,
        runs=args.runs or None,
        method="elo" if args.elo else "bradley_terry",
        **options,
    )


# --------------------------------------------------------------------- monitor
def _monitor(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    if args.dashboard:
        return api.monitor_dashboard(args.dashboard)
    if args.textfile or args.serve is not None:
        out = api.export_monitors(
            args.names, textfile=args.textfile, port=args.serve, addr=args.addr
        )
        if args.serve is not None and ctx.surface == "cli":
            serve_until_interrupted(out)
        return out
    if not args.names:
        return api.monitors()
    if len(args.names) > 1:
        raise NbMlopsError("name one monitor to show (several go with --textfile or --serve)")
    mon = api.get_monitor(args.names[0])
    if args.drift is not None:
        return mon.feature_drift(None if args.drift == "latest" else window_ref(args.drift))
    return mon


def window_ref(text: str) -> int | str:
    """A window named on the command line: its index (a number) or its label."""
    return int(text) if text.lstrip("-").isdigit() else text


def serve_until_interrupted(exporter: Any) -> None:
    """Keep a CLI's exporter serving until Ctrl-C (a notebook's serves in the background)."""
    import time

    from nb_mlops.notify import notify

    notify(f"serving Prometheus metrics at {exporter.url}; Ctrl-C stops")
    try:
        while exporter.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        exporter.stop()


# --------------------------------------------------------------------- records
def _export(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.export_record(args.run, args.out, with_data=args.with_data)


def _replay_options(args: argparse.Namespace, ctx: Context) -> dict[str, Any]:
    """What reproduce and verify share: confirmation and tolerances."""
    return {
        "yes": args.yes,
        "confirm": None if args.yes else ctx.confirm,
        "rtol_params": args.rtol_params,
        "rtol_metrics": args.rtol_metrics,
    }


def _reproduce(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.reproduce(
        args.record,
        workdir=args.workdir,
        env=args.env,
        remote=args.remote,
        **_replay_options(args, ctx),
    )


def _verify(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.verify(
        args.run, workdir=args.workdir, remote=args.remote, **_replay_options(args, ctx)
    )


# -------------------------------------------------------------------- registry
def _register(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    common = {"description": args.description, "tags": dict(args.tag)}
    if args.import_:
        return api.import_model(args.import_, name=args.run, **common)
    if args.file:
        return api.register_model(args.run, args.file, data=args.data or None, **common)
    return api.register_model(
        args.name, run=args.run, artifact=args.artifact, data=args.data or None, **common
    )


def _models(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    if args.name is None:
        return api.models()
    if args.b is not None:
        return api.compare_versions(args.name, args.a, args.b)
    if args.a is not None:
        return api.get_model_version(args.name, args.a)
    return api.models(args.name)


def _model(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    tags = dict(args.tag)
    edits = args.describe is not None or tags or args.untag
    status = "archived" if args.archive else ("active" if args.restore else None)
    if args.version is None:
        if not edits:
            return api.models(args.name)
        doc = api.update_model(
            args.name, description=args.describe, tags=tags, remove_tags=args.untag
        )
        return Message(f"model {args.name} updated", doc)
    if args.delete:
        out = api.delete_model_version(args.name, args.version)
        return Message(f"deleted {out['name']} version {out['version']}", out)
    if args.export:  # a destination that cannot be written is refused before anything changes
        api.check_bundle_destination(args.export)
    version = api.update_model_version(
        args.name,
        args.version,
        description=args.describe,
        tags=tags,
        remove_tags=args.untag,
        status=status,
    )
    if args.export:
        path = api.export_model(version.uri, args.export)
        return Message(f"exported {version.uri} to {path}", {"path": str(path), "uri": version.uri})
    return version


def _alias(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    if args.remove:
        return api.delete_alias(args.name, args.alias, why=args.message, force=args.force)
    if args.version is None:
        if args.protect or args.unprotect:
            return api.protect_alias(
                args.name, args.alias, args.protect, why=args.message, force=args.force
            )
        return api.alias_view(args.name, args.alias)
    protect = True if args.protect else (False if args.unprotect else None)
    return api.set_alias(
        args.name, args.alias, args.version, why=args.message, force=args.force, protect=protect
    )


def _rollback(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    return api.rollback(args.name, args.alias, why=args.message, force=args.force)


def _hook(args: argparse.Namespace, ctx: Context) -> Any:
    from nb_mlops import api

    if args.remove:
        n = api.remove_deploy_hooks(args.name, alias=args.alias)
        return Message(f"removed {n} deploy hook{'s' * (n != 1)} of {args.name}", {"removed": n})
    if args.command is not None:  # an empty command is refused, not taken as "list"
        hook = api.add_deploy_hook(args.name, args.command, alias=args.alias)
        on = f"@{hook['alias']}" if hook["alias"] else " (any alias)"
        return Message(f"deploy hook for {args.name}{on}: {hook['command']}", hook)
    found = api.deploy_hooks(args.name)
    text = (
        "\n".join(f"{args.name}@{h['alias'] or '*'}  {h['command']}" for h in found)
        or f"{args.name} has no deploy hooks; add one with `hook {args.name} COMMAND`"
    )
    return Message(text, {"hooks": found})


def _track_cell(args: argparse.Namespace, ctx: Context) -> Any:
    return ctx.run_cell(args)


def _start(args: argparse.Namespace, ctx: Context) -> Any:
    return ctx.start_session(args)


def _stop(args: argparse.Namespace, ctx: Context) -> Any:
    return ctx.stop_session(args)


@dataclass(repr=False)
class Message(Result):
    """A one-line outcome with data behind it."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_text(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.text, **self.data}


_RUN_HELP = "a run id, a unique id prefix, or a run name (its latest run)"
_ALL_DATASETS = arg("path", nargs="?", help="the dataset (default: every dataset)")
_S3_OPTIONS = ("endpoint_url", "region", "profile")
_REMOTE = arg("-r", "--remote", help="the remote (default: the default remote)")
_DISCARD = arg("--force", action="store_true", help="discard changes never snapshotted")
_TAG = arg(
    "--tag",
    action="append",
    default=[],
    type=tag_pair,
    metavar="K=V",
    help="tag the run (repeatable)",
)
_EXPERIMENT = arg("-e", "--experiment", help="experiment to file the run under (default: Default)")
_SEED = arg("--seed", type=int, help="seed random, numpy and torch/TensorFlow first")
_DATA = arg(
    "--data",
    action="append",
    default=[],
    metavar="PATH",
    help="a dataset the run reads: its version is recorded (repeatable)",
)
_MODEL = arg("name", help="the model")
_MODEL_TAG = arg(
    "--tag",
    action="append",
    default=[],
    type=tag_pair,
    metavar="K=V",
    help="add a tag (repeatable)",
)
_ALIAS = arg("alias", help="the alias")
_WHY = arg("-m", "--message", metavar="WHY", help="why (kept in the history)")

_RUN_OPTIONS = (_EXPERIMENT, _SEED, _DATA, _TAG)
_WORKDIR = arg("--workdir", metavar="DIR", help="where to unpack and run (new or empty; kept)")
_REPLAY_OPTIONS = (
    arg("--yes", action="store_true", help="execute the recorded code without asking"),
    arg(
        "--rtol-params",
        type=float,
        default=1e-6,
        metavar="R",
        help="relative tolerance for model parameters (default 1e-6)",
    ),
    arg(
        "--rtol-metrics",
        type=float,
        default=1e-3,
        metavar="R",
        help="relative tolerance for metrics (default 1e-3)",
    ),
)
"""What a tracked cell and `start` both take about the run they begin."""

CELL = Command(
    "%%track",
    "run this cell as a tracked run",
    _track_cell,
    (arg("-n", "--name", help="the run's name (default: a generated one)"), *_RUN_OPTIONS),
    json=False,
    kernel_only=True,
)
"""`%%track [OPTIONS]` at the top of a cell: not a subcommand, but in the table all the same."""

COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            "start",
            "start a run that spans the cells that follow, until `%track stop`",
            _start,
            (
                arg("name", nargs="?", help="the run's name (default: a generated one)"),
                *_RUN_OPTIONS,
            ),
            json=False,
            kernel_only=True,
        ),
        Command(
            "stop",
            "end the run started with `%track start`",
            _stop,
            (arg("--status", choices=["finished", "failed"], default="finished"),),
            json=False,
            kernel_only=True,
        ),
        Command(
            "runs",
            "list runs, newest first (or --order-by), with the store's size",
            _runs,
            (
                arg(
                    "--order-by",
                    action="append",
                    metavar="CLAUSE",
                    help="MLflow-style order_by clause, e.g. 'metrics.accuracy DESC' "
                    "(repeat for ties; runs without the key come last)",
                ),
                arg(
                    "--max-results",
                    type=_positive_int,
                    metavar="N",
                    help="show at most N runs (the first N in order)",
                ),
            ),
            rest="filter",
            rest_help='MLflow-style filter, e.g. metrics.accuracy > 0.8 AND params.model = "rf"',
            reads=True,
        ),
        Command("show", "show one run in full", _show, (arg("run", help=_RUN_HELP),), reads=True),
        Command(
            "compare",
            "compare runs side by side: params and metrics that differ, curves",
            _compare,
            (
                arg("runs", nargs="*", metavar="RUN", help=f"runs to select: {_RUN_HELP}"),
                arg(
                    "--filter",
                    metavar="FILTER",
                    help="compare the runs matching this MLflow-style filter (quote it)",
                ),
            ),
        ),
        Command(
            "delete",
            "delete a run and its files",
            _delete,
            (
                arg("run", help=_RUN_HELP),
                arg(
                    "--force",
                    action="store_true",
                    help="even if a registered model came from it or a live process still logs it",
                ),
            ),
        ),
        Command(
            "gc",
            "remove stored objects and run folders that nothing references",
            _gc,
            (
                arg("--dry-run", action="store_true", help="report what would go, remove nothing"),
                arg(
                    "--now",
                    action="store_true",
                    help="no 15-minute grace for objects another process may have just written",
                ),
            ),
        ),
        Command("repair", "set damaged catalog lines aside so the store opens again", _repair),
        Command(
            "scrub",
            "remove a leaked string from every file of the store (read from a hidden prompt or "
            "standard input, never from the arguments)",
            _scrub,
            (arg("--dry-run", action="store_true", help="list what would change, change nothing"),),
        ),
        Command(
            "snapshot",
            "make the next version of a file or folder (writes PATH.dvc as DVC 3 does)",
            _snapshot,
            (
                arg("path", help="a file or folder inside the workspace"),
                arg("-m", "--message", help="what changed in this version"),
            ),
        ),
        Command(
            "versions",
            "list a dataset's versions and the runs that used each (or remove one)",
            _versions,
            (
                arg("path", help="the dataset (its .dvc file works too)"),
                arg(
                    "--remove",
                    metavar="N",
                    help="remove version N's record (not the one its .dvc file names); "
                    "gc frees its objects later",
                ),
            ),
        ),
        Command(
            "checkout",
            "make the workspace hold exactly one version of a dataset",
            _checkout,
            (
                arg("path", help="the dataset"),
                arg("version", help="a version number, latest, or current"),
                _DISCARD,
            ),
        ),
        Command(
            "diff",
            "files and rows that differ between two versions of a dataset",
            _diff,
            (
                arg("path", help="the dataset"),
                arg("a", help="a version number, latest, current or workspace"),
                arg("b", nargs="?", default="workspace", help="the other side (default: now)"),
                arg(
                    "--key",
                    action="append",
                    default=[],
                    metavar="COLUMN",
                    help="match rows of tabular files by this column (repeat for a composite key)",
                ),
            ),
        ),
        Command(
            "remote",
            "add, list or remove the remotes datasets are pushed to and pulled from",
            _remote,
            (
                arg("action", choices=["add", "list", "remove"]),
                arg("name", nargs="?", help="the remote's name"),
                arg(
                    "url",
                    nargs="?",
                    help="a local folder, s3://BUCKET/PREFIX or another fsspec URL (with add)",
                ),
                arg("--default", action="store_true", help="make it the default remote"),
                arg(
                    "--endpoint-url",
                    metavar="URL",
                    help="S3: an S3-compatible server (MinIO, ...), stored as DVC's endpointurl",
                ),
                arg("--region", help="S3: the bucket's region"),
                arg(
                    "--profile",
                    help="S3: the AWS profile whose credentials to use (from ~/.aws); "
                    "credentials themselves are never stored",
                ),
            ),
            rules=(
                Rule("remote add needs a NAME", when=("action=add",), needs=("name",)),
                Rule("remote remove needs a NAME", when=("action=remove",), needs=("name",)),
                Rule("remote add needs NAME and URL", when=("action=add",), needs=("url",)),
                Rule(
                    "--endpoint-url, --region and --profile go with remote add",
                    when=_S3_OPTIONS,
                    unless=("action=add",),
                    forbids=_S3_OPTIONS,
                ),
            ),
        ),
        Command(
            "push",
            "send every version of a dataset (default: all) to a remote",
            _push,
            (_ALL_DATASETS, _REMOTE),
        ),
        Command(
            "pull",
            "fetch a dataset's versions (default: all) and check out what its .dvc file names",
            _pull,
            (_ALL_DATASETS, _REMOTE, _DISCARD),
        ),
        Command(
            "mlflow",
            "sync runs and models to an MLflow tracking server, or import its runs",
            _mlflow,
            (
                arg(
                    "action",
                    choices=["sync", "import"],
                    help="sync: push what the server lacks; import: bring its ended runs here",
                ),
                arg(
                    "--tracking-uri",
                    metavar="URL",
                    help="the MLflow server (default: $MLFLOW_TRACKING_URI); credentials come "
                    "from MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN",
                ),
                arg(
                    "--experiment",
                    metavar="NAME",
                    help="sync: put every run in this MLflow experiment (default: each run's "
                    "own); import: only this experiment (default: all)",
                ),
                arg("--no-models", action="store_true", help="sync runs only, not the registry"),
                arg(
                    "--jobs",
                    type=_positive_int,
                    default=4,
                    metavar="N",
                    help="runs sent at once (default 4)",
                ),
            ),
            rest="filter",
            rest_help="which runs, in the filter grammar of `runs` (docs/filter.md): of this "
            "store for sync, of the server for import",
            rules=(
                Rule("--no-models goes with sync", when=("no_models",), needs=("action=sync",)),
            ),
        ),
        Command(
            "status",
            "how the workspace differs from each dataset's checked-out version",
            _status,
            (arg("path", nargs="?", help="one dataset (default: all)"),),
        ),
        Command(
            "register",
            "register the next version of a model from a run's artifact, a file, or a bundle",
            _register,
            (
                arg(
                    "run",
                    nargs="?",
                    metavar="RUN",
                    help=f"the run that made the model: {_RUN_HELP}",
                ),
                arg("name", nargs="?", metavar="NAME", help="the model's name"),
                arg("--artifact", metavar="PATH", help="which of the run's artifacts (by name)"),
                arg(
                    "--file",
                    metavar="PATH",
                    help="register this file or folder: `--file PATH NAME`",
                ),
                arg(
                    "--import",
                    dest="import_",
                    metavar="BUNDLE",
                    help="import an exported bundle (.zip): `--import BUNDLE [NAME]`",
                ),
                arg("-d", "--description", help="what this version is"),
                arg(
                    "--data",
                    action="append",
                    default=[],
                    metavar="PATH",
                    help="dataset it was trained on",
                ),
                _MODEL_TAG,
            ),
            rules=(
                Rule(
                    "register --import takes a NAME at most (no --file, --artifact or --data)",
                    when=("import_",),
                    forbids=("name", "file", "artifact", "data"),
                ),
                Rule(
                    "register --file PATH takes one NAME",
                    when=("file",),
                    needs=("run",),
                    forbids=("name",),
                ),
                Rule(
                    "register needs RUN and NAME (or --file PATH NAME)",
                    unless=("import_", "file"),
                    needs=("run", "name"),
                ),
            ),
        ),
        Command(
            "models",
            "the model registry: models, one model's versions, one version, or two compared",
            _models,
            (
                arg("name", nargs="?", help="a model (default: list every model)"),
                arg("a", nargs="?", metavar="VERSION", help="show this version"),
                arg("b", nargs="?", metavar="VERSION2", help="compare VERSION with this one"),
            ),
        ),
        Command(
            "model",
            "describe, tag, archive, restore, delete or export a model version",
            _model,
            (
                _MODEL,
                arg("version", nargs="?", help="the version (without it: the model itself)"),
                arg("--describe", metavar="TEXT", help="set the description"),
                _MODEL_TAG,
                arg("--untag", action="append", default=[], metavar="KEY", help="remove a tag"),
                arg("--archive", action="store_true", help="retire the version"),
                arg("--restore", action="store_true", help="bring an archived version back"),
                arg("--delete", action="store_true", help="delete the version (not while aliased)"),
                arg("--export", metavar="FILE", help="write the version as a bundle (.zip)"),
            ),
            rules=(
                one_of("archive", "restore"),
                Rule(
                    "--delete takes no other option",
                    when=("delete",),
                    forbids=("describe", "tag", "untag", "archive", "restore", "export"),
                ),
                Rule(
                    "--archive, --restore, --delete and --export need a VERSION",
                    when=("archive", "restore", "delete", "export"),
                    needs=("version",),
                ),
            ),
        ),
        Command(
            "alias",
            "point an alias (production, staging, ...) at a version; without VERSION, its history",
            _alias,
            (
                _MODEL,
                _ALIAS,
                arg("version", nargs="?", help="the version to point at"),
                _WHY,
                arg("--force", action="store_true", help="move or change a protected alias"),
                arg("--protect", action="store_true", help="protect it: moves then need --force"),
                arg("--unprotect", action="store_true", help="lift the protection (with --force)"),
                arg("--remove", action="store_true", help="take the alias away (history stays)"),
            ),
            rules=(
                one_of("protect", "unprotect"),
                Rule("alias --remove takes no VERSION", when=("remove",), forbids=("version",)),
            ),
        ),
        Command(
            "rollback",
            "move an alias back to the version it pointed at before",
            _rollback,
            (
                _MODEL,
                _ALIAS,
                _WHY,
                arg("--force", action="store_true", help="even if the alias is protected"),
            ),
        ),
        Command(
            "hook",
            "list, add or remove the deploy commands run when a model's alias moves",
            _hook,
            (
                _MODEL,
                arg(
                    "command",
                    nargs="?",
                    help="a shell command (quote it; options go after it); gets "
                    "NB_MLOPS_MODEL_URI and {uri}, {version}",
                ),
                arg("--alias", help="only when this alias moves (default: any)"),
                arg("--remove", action="store_true", help="remove the hooks (of --alias only)"),
            ),
            rules=(Rule("hook --remove takes no COMMAND", when=("remove",), forbids=("command",)),),
        ),
        Command(
            "eval",
            "evaluate a model on a dataset as a run (scores with intervals); or show the "
            "scoreboard, one run's items, runs side by side, or the regressions between two",
            _eval,
            (
                arg(
                    "model",
                    nargs="?",
                    help="hf:PATH, openai:BASE_URL#MODEL (key from OPENAI_API_KEY), "
                    "models:/NAME@ALIAS or py:module:attr",
                ),
                arg(
                    "dataset",
                    nargs="?",
                    help="a local .jsonl/.json/.csv/.parquet file, or sample:NAME (shipped sets)",
                ),
                arg(
                    "-m",
                    "--metric",
                    action="append",
                    default=[],
                    metavar="METRIC",
                    help="acc, acc_norm, bleu, chrf, rouge, rouge1, rouge2, rougeL, rougeLsum, "
                    "exact_match, f1 or perplexity (repeatable; default: by the dataset)",
                ),
                arg("--task", choices=["choice", "text", "perplexity"], help="default: by data"),
                arg(
                    "--style",
                    choices=["arc", "hellaswag", "mmlu", "plain"],
                    help="prompt format of multiple-choice items (default: plain)",
                ),
                arg("--fewshot", type=int, default=0, metavar="K", help="few-shot examples"),
                arg("--seed", type=int, default=1234, help="few-shot sampling and bootstrap seed"),
                arg("--limit", type=int, metavar="N", help="only the first N items"),
                arg(
                    "--mode",
                    choices=["auto", "loglikelihood", "generate"],
                    default="auto",
                    help="multiple choice by log-likelihoods or by parsing a generated letter",
                ),
                arg("--lang", help="language of the texts (ko, en; default: detected)"),
                arg("--max-new-tokens", type=int, metavar="N", help="generation length"),
                arg("--temperature", type=float, help="sampling temperature (default 0)"),
                arg("--no-cache", action="store_true", help="ask the model again for everything"),
                arg("-n", "--name", help="the run's name (default: eval-MODEL-DATASET)"),
                _EXPERIMENT,
                _TAG,
                arg("--board", action="store_true", help="show the scoreboard"),
                arg("--all", action="store_true", help="with --board: every run, not the latest"),
                arg("--filter", metavar="FILTER", help="with --board: a run filter (quote it)"),
                arg("--items", metavar="RUN", help="show one evaluation run's items"),
                arg(
                    "--side-by-side",
                    nargs="+",
                    metavar="RUN",
                    help="answers of several evaluation runs side by side",
                ),
                arg(
                    "--regressions",
                    nargs=2,
                    metavar="RUN",
                    help="items the first run got right and the second wrong",
                ),
                arg("--threshold", type=float, help="with --regressions: the score that is right"),
            ),
            rules=(
                *exclusive("board", "items", "side_by_side", "regressions"),
                Rule(
                    "eval needs MODEL and DATASET (or --board, --items, --side-by-side, "
                    "--regressions)",
                    unless=("board", "items", "side_by_side", "regressions"),
                    needs=("model", "dataset"),
                ),
                Rule(
                    "--board, --items, --side-by-side and --regressions take no MODEL or DATASET",
                    when=("board", "items", "side_by_side", "regressions"),
                    forbids=("model",),
                ),
                Rule(
                    "--all and --filter go with --board", when=("all", "filter"), needs=("board",)
                ),
                Rule(
                    "--threshold goes with --regressions",
                    when=("threshold",),
                    needs=("regressions",),
                ),
            ),
        ),
        Command(
            "judge",
            "have an LLM judge grade replies 1-10 with a rationale, or compare two models' "
            "replies in both orders (a verdict that flips is a tie); logged as eval runs",
            _judge,
            (
                arg(
                    "judge",
                    help="the judge model: openai:BASE_URL#MODEL, hf:PATH, models:/NAME@ALIAS "
                    "or py:module:attr",
                ),
                arg(
                    "items",
                    nargs="?",
                    help="a .jsonl/.json/.csv/.parquet file: question (or turns), answer and "
                    "model; pairs: answer_a, answer_b, model_a, model_b; reference optional",
                ),
                arg(
                    "--runs",
                    nargs="+",
                    metavar="RUN",
                    help="text evaluation runs instead: one to grade, two to compare",
                ),
                arg("--pair", action="store_true", help="compare pairs (default: by the items)"),
                arg(
                    "--lang", choices=["en", "ko"], default="en", help="the judge prompts' language"
                ),
                arg(
                    "--retries",
                    type=int,
                    default=2,
                    help="asks again after a failed call or an unreadable verdict (default 2)",
                ),
                arg("--limit", type=int, metavar="N", help="only the first N items"),
                arg("-n", "--name", help="the run's name (default: judge-MODEL)"),
                _EXPERIMENT,
                _TAG,
            ),
            rules=(
                Rule("judge needs ITEMS or --runs", unless=("runs",), needs=("items",)),
                Rule("give ITEMS or --runs, not both", when=("runs",), forbids=("items",)),
                Rule("--limit goes with ITEMS", when=("limit",), forbids=("runs",)),
            ),
        ),
        Command(
            "rag",
            "evaluate retrieval-augmented answers as a run: faithfulness, answer relevance and "
            "context relevance, each with its method and a per-item explanation",
            _rag,
            (
                arg("items", help="a .jsonl/.json/.csv/.parquet file: question, answer, contexts"),
                arg(
                    "--method",
                    choices=["lexical", "embeddings", "judge"],
                    help="default: lexical (judge with --judge, embeddings with --embed)",
                ),
                arg("--judge", metavar="SPEC", help="an LLM judge: openai:BASE_URL#MODEL, hf:PATH"),
                arg("--embed", metavar="py:MODULE:FUNC", help="your function texts -> vectors"),
                arg("--lang", choices=["en", "ko", "auto"], default="en", help="default: en"),
                arg(
                    "--threshold",
                    action="append",
                    default=[],
                    type=_threshold,
                    metavar="NAME=VALUE",
                    help="override a method's threshold (repeatable)",
                ),
                arg("--system", default="rag", help="the RAG pipeline's name on the scoreboard"),
                arg("-n", "--name", help="the run's name (default: rag-SYSTEM)"),
                _EXPERIMENT,
                _TAG,
            ),
            rules=(
                Rule(
                    "--judge goes with --method judge",
                    when=("judge",),
                    forbids=("method=lexical", "method=embeddings"),
                ),
                Rule(
                    "--embed goes with --method embeddings",
                    when=("embed",),
                    forbids=("method=lexical", "method=judge"),
                ),
                Rule("--method judge needs --judge", when=("method=judge",), needs=("judge",)),
                Rule(
                    "--method embeddings needs --embed",
                    when=("method=embeddings",),
                    needs=("embed",),
                ),
            ),
        ),
        Command(
            "annotate",
            "human evaluation: open (or create from ITEMS) an annotation task for a rater, "
            "labelled in the notebook's widget; or the raters' agreement (kappa, alpha)",
            _annotate,
            (
                arg("task", help="the annotation task's name"),
                arg(
                    "items",
                    nargs="?",
                    help="to create it: a .jsonl/.json/.csv/.parquet file (prompt and response, "
                    "or response_a and response_b with model_a and model_b)",
                ),
                arg("--rater", help="who labels (each rater's labels are kept apart)"),
                arg("--mode", choices=["rating", "pairwise"], help="default: by the items"),
                arg(
                    "--agreement",
                    action="store_true",
                    help="Krippendorff's alpha and Cohen's kappa between the task's raters",
                ),
                arg("--criterion", help="with --agreement: one criterion only"),
            ),
            rules=(
                Rule(
                    "annotate needs --rater (or --agreement)",
                    unless=("agreement",),
                    needs=("rater",),
                ),
                Rule(
                    "--agreement takes no ITEMS, --rater or --mode",
                    when=("agreement",),
                    forbids=("items", "rater", "mode"),
                ),
                Rule(
                    "--criterion goes with --agreement", when=("criterion",), needs=("agreement",)
                ),
            ),
        ),
        Command(
            "agreement",
            "how often judges agree on the same pairs (with and without ties), a table per "
            "judge: pairwise judging runs, pairwise annotation tasks, vote files",
            _agreement,
            (
                arg(
                    "sources",
                    nargs="+",
                    metavar="SOURCE",
                    help="a pairwise judging run (id or name) or annotation task (by name)",
                ),
                arg(
                    "--humans-as-one",
                    action="store_true",
                    help="pool the human raters into one judge 'human'",
                ),
            ),
        ),
        Command(
            "arena",
            "arena ratings from pairwise battles: Bradley-Terry on the Elo scale with bootstrap "
            "intervals (or online Elo), a leaderboard and a win-rate matrix",
            _arena,
            (
                arg(
                    "battles",
                    nargs="?",
                    help="a .jsonl/.json/.csv/.parquet file of model_a, model_b, winner "
                    "(model_a, model_b, tie or tie (bothbad))",
                ),
                arg("--runs", nargs="+", metavar="RUN", help="pairwise judging runs instead"),
                arg("--elo", action="store_true", help="online Elo instead of Bradley-Terry"),
                arg("--k", type=float, help="with --elo: the K factor (default 4)"),
                arg(
                    "--bootstrap",
                    type=int,
                    metavar="N",
                    help="bootstrap rounds for the intervals (default 1000; 0 with --elo)",
                ),
                arg("--seed", type=int, default=0, help="the bootstrap's seed"),
            ),
            rules=(
                Rule("arena needs BATTLES or --runs", unless=("runs",), needs=("battles",)),
                Rule("--k goes with --elo", when=("k",), needs=("elo",)),
            ),
        ),
        Command(
            "monitor",
            "model monitors: list them, show one's windows (metrics, drift, alerts) or a "
            "window's feature drift, export them to Prometheus, write the Grafana dashboard",
            _monitor,
            (
                arg("names", nargs="*", metavar="NAME", help="monitors (default: list them all)"),
                arg(
                    "--drift",
                    nargs="?",
                    const="latest",
                    metavar="WINDOW",
                    help="per-feature drift of the latest window (or of one: index or label)",
                ),
                arg("--textfile", metavar="FILE", help="write the metrics for node_exporter"),
                arg(
                    "--serve",
                    type=int,
                    metavar="PORT",
                    help="serve the metrics over HTTP (0: a free port)",
                ),
                arg("--addr", default="127.0.0.1", help="with --serve: the address to bind"),
                arg("--dashboard", metavar="FILE", help="write the Grafana dashboard JSON"),
            ),
            rules=(
                *exclusive("textfile", "serve", "dashboard"),
                *exclusive("drift", "textfile"),
                *exclusive("drift", "serve"),
            ),
        ),
        Command(
            "export",
            "write a run as a reproducible record (an RO-Crate zip): its cells in execution "
            "order, params, seeds, environment, git state, data hashes, artifacts, metrics",
            _export,
            (
                arg("run", help=_RUN_HELP),
                arg("--out", metavar="FILE", help="the zip to write (default: RUN-NAME.zip here)"),
                arg("--with-data", action="store_true", help="put the data objects in the record"),
            ),
        ),
        Command(
            "reproduce",
            "re-execute a record in a fresh folder and kernel (its own store) and give a "
            "tiered verdict, kept here as a run",
            _reproduce,
            (
                arg("record", metavar="FILE", help="a record (.zip) written by export"),
                _WORKDIR,
                arg(
                    "--env",
                    action="store_true",
                    help="first build a virtual environment from the recorded package lock",
                ),
                _REMOTE,
                *_REPLAY_OPTIONS,
            ),
        ),
        Command(
            "verify",
            "replay the cells that led to a run of this store in a fresh kernel and compare",
            _verify,
            (arg("run", help=_RUN_HELP), _WORKDIR, _REMOTE, *_REPLAY_OPTIONS),
        ),
        Command(
            "init",
            "create or pick the store for a project folder",
            _init,
            (arg("path", nargs="?", help="project folder or .nbmlops folder (default: found)"),),
        ),
    )
}


def build_parser(cmd: Command, prog: str, *, cli: bool) -> argparse.ArgumentParser:
    """The argparse parser of one command, for the magic (`%track X`, `%%track`) or the CLI."""
    return _parser(cmd.name, prog, cli)


@functools.cache
def _parser(name: str, prog: str, cli: bool) -> argparse.ArgumentParser:
    # built once per surface: argparse costs half a millisecond to build, a tracked cell's budget
    cmd = CELL if name == CELL.name else COMMANDS[name]
    parser = ArgParser(prog=prog, description=cmd.help, add_help=True)
    for a in cmd.args:
        parser.add_argument(*a.flags, **a.kwargs)
    if cli and cmd.json:
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    if cmd.rest:
        parser.add_argument(cmd.rest, nargs="*", help=cmd.rest_help, metavar=cmd.rest.upper())
    flags = [f for a in cmd.args for f in a.flags if f.startswith("-")]
    parser.known_flags = (*flags, *(["--json"] if cli and cmd.json else []))
    return parser


def usage_line(cmd: Command, prog: str, *, cli: bool = False) -> str:
    """The usage line of one command, as its parser prints it."""
    return build_parser(cmd, prog, cli=cli).format_usage()


def _overview_usage(prog: str) -> str:
    return f"usage: {prog} {{{','.join(COMMANDS)}}} ..."


_FLAG_ONLY = {"store_true", "store_false", "store_const", "count", "help", "version"}


def _option_arity(cmd: Command) -> dict[str, int]:
    """Each option flag of `cmd` and how many values it takes (0 or 1), from its declaration."""
    arity = {"-h": 0, "--help": 0}
    for a in cmd.args:
        takes = 0 if a.kwargs.get("action") in _FLAG_ONLY else 1
        arity.update((flag, takes) for flag in a.flags if flag.startswith("-"))
    return arity


def split_rest(text: str, cmd: Command, prog: str) -> tuple[list[str], str]:
    """Leading options and positionals (shell-style) and the raw rest of the line (a FILTER
    keeps its quotes): `mlflow sync --experiment e metrics.acc > 0.8`."""
    arity = _option_arity(cmd)
    positionals = sum(1 for a in cmd.args if not a.flags[0].startswith("-"))
    lex = shlex.shlex(text, posix=True)
    lex.whitespace_split = True
    lex.commenters = ""
    tokens: list[str] = []
    while True:
        before = lex.instream.tell()
        try:
            tok = lex.get_token()
        except ValueError as exc:
            raise UsageProblem(f"cannot split the line: {exc}", usage_line(cmd, prog)) from None
        if tok is None or tok == lex.eof:
            return tokens, ""
        name = tok.split("=", 1)[0]
        if re.match(r"--?[A-Za-z]", name) and name not in arity:  # no filter starts so
            from nb_mlops.text import did_you_mean

            hint = did_you_mean(name, arity)
            raise UsageProblem(f"unrecognized option {name}{hint}", usage_line(cmd, prog))
        if not tok.startswith("-") and positionals:
            positionals -= 1
            tokens.append(tok)
            continue
        if not tok.startswith("-") or name not in arity:
            return tokens, text[before:].strip()
        tokens.append(tok)
        if arity[name] and "=" not in tok:
            value = lex.get_token()
            if value is None:
                message = f"argument {name}: expected one argument"
                raise UsageProblem(message, usage_line(cmd, prog))
            tokens.append(value)


def _parse(
    cmd: Command, tokens: Sequence[str], prog: str, *, cli: bool, rest: str | None = None
) -> argparse.Namespace:
    """Parse one command's arguments, then check its rules (a UsageProblem on the first
    broken one, with the usage line)."""
    parser = build_parser(cmd, prog, cli=cli)
    if cli and cmd.rest and any(not a.flags[0].startswith("-") for a in cmd.args):
        # `nb-mlops mlflow sync --experiment e FILTER`: the positional and the filter's words
        # may sit on either side of the options (the magic splits its line itself)
        ns = parser.parse_intermixed_args(list(tokens))
    else:
        ns = parser.parse_args(list(tokens))
    if cmd.rest:
        setattr(ns, cmd.rest, rest if rest is not None else " ".join(getattr(ns, cmd.rest) or []))
    for rule in cmd.rules:
        if rule.broken(ns):
            raise UsageProblem(rule.message, parser.format_usage())
    return ns


def _shell_words(text: str, cmd: Command, prog: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:  # the usage line is formatted only for an error: it costs 0.5 ms
        raise UsageProblem(f"cannot split the line: {exc}", usage_line(cmd, prog)) from None


def strip_comment(line: str) -> str:
    """`line` without a trailing `# comment`: a `#` that starts a word outside quotes ('...',
    "...", `...`; a backslash escapes the next character inside them)."""
    quote = None
    escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif quote is not None:
            if ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


def unknown_command(name: str, prog: str) -> UsageProblem:
    """The error for a subcommand not in the table, naming the nearest ones."""
    from nb_mlops.text import did_you_mean

    hint = did_you_mean(name, COMMANDS)
    return UsageProblem(f"unknown subcommand {name!r}{hint}", _overview_usage(prog))


def parse_line(line: str, prog_prefix: str = "%track") -> tuple[Command, argparse.Namespace]:
    """Parse a magic line `SUBCOMMAND ARGS...` against the table (a `# comment` ignored)."""
    head, _, tail = strip_comment(line).strip().partition(" ")
    if not head or head in ("-h", "--help", "help"):
        raise HelpShown(overview(prog_prefix))
    cmd = COMMANDS.get(head)
    if cmd is None:
        raise unknown_command(head, prog_prefix)
    prog = f"{prog_prefix} {cmd.name}"
    if cmd.rest:
        tokens, rest = split_rest(tail, cmd, prog)
        return cmd, _parse(cmd, tokens, prog, cli=False, rest=rest)
    return cmd, _parse(cmd, _shell_words(tail, cmd, prog), prog, cli=False)


_CELL_LINES: dict[str, dict[str, Any]] = {}
_CELL_LINES_KEPT = 64


def parse_cell_line(line: str) -> argparse.Namespace:
    """Parse the options of a `%%track` cell (a `# comment` ignored). A line parsed before is
    not parsed again (argparse takes 15-50 µs of a cell's 1 ms); each caller gets its own
    copy."""
    known = _CELL_LINES.get(line)
    if known is None:
        ns = _parse(CELL, _shell_words(strip_comment(line), CELL, CELL.name), CELL.name, cli=False)
        if len(_CELL_LINES) >= _CELL_LINES_KEPT:
            del _CELL_LINES[next(iter(_CELL_LINES))]
        known = _CELL_LINES[line] = vars(ns)
    return argparse.Namespace(**copy.deepcopy(known))


def parse_argv(argv: Sequence[str], prog: str = "nb-mlops") -> tuple[Command, argparse.Namespace]:
    """Parse CLI arguments `SUBCOMMAND ARGS...` against the table."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        raise HelpShown(overview(prog))
    if argv[0] in ("-V", "--version"):
        from nb_mlops._version import __version__

        raise HelpShown(f"nb-mlops {__version__}")
    cmd = COMMANDS.get(argv[0])
    if cmd is None:
        raise unknown_command(argv[0], prog)
    return cmd, _parse(cmd, argv[1:], f"{prog} {cmd.name}", cli=True)


def overview(prog: str) -> str:
    """The list of subcommands with one line each."""
    width = max(len(n) for n in COMMANDS)
    lines = [f"usage: {prog} SUBCOMMAND [ARGS...]   ({prog} SUBCOMMAND --help for more)", ""]
    lines += [f"  {c.name.ljust(width)}  {c.help}" for c in COMMANDS.values()]
    return "\n".join(lines)
