"""The run filter grammar: what matches, what is refused, and where the error points."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone

import pytest

from nb_mlops.errors import FilterSyntaxError
from nb_mlops.tracking.filter import compile_filter, filter_keys, parse_filter


def _ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=timezone.utc).timestamp() * 1000)


RUNS = [
    {
        "run_id": "r1",
        "name": "rf-baseline",
        "experiment": "Default",
        "status": "finished",
        "start": "2026-11-26T19:30:00.123456+00:00",
        "end": "2026-11-26T19:30:02.000000+00:00",
        "duration": 1.87,
        "parent": None,
        "user": "kim",
        "source": {"kind": "script", "file": "train.py"},
        "data": [{"path": "data/a.csv", "version": 1, "md5": "aaa"}],
        "params": {"n_estimators": 200, "model": "rf", "lr": 0.1, "layers": [1, 2]},
        "metrics": {"accuracy": 0.93, "f1 score": 0.9},
        "tags": {"team": "nlp"},
    },
    {
        "run_id": "r2",
        "name": "rf-deep",
        "experiment": "Default",
        "status": "failed",
        "start": "2026-11-27T08:00:00.000000+00:00",
        "end": "2026-11-27T08:01:00.000000+00:00",
        "duration": 60.0,
        "parent": None,
        "user": "lee",
        "data": [
            {"path": "data/a.csv", "version": 2, "md5": "bbb"},
            {"path": "data/img", "version": 1, "md5": "ccc.dir", "context": "training"},
        ],
        "params": {"n_estimators": "500", "model": "rf", "model.depth": 12, "lr": "0.01"},
        "metrics": {"accuracy": 0.95, "loss": 0.2},
        "tags": {"team": "vision"},
    },
    {
        "run_id": "r3",
        "name": "gbm-1",
        "experiment": "sweeps",
        "status": "running",
        "start": "2026-11-26T20:00:00.000000+00:00",
        "end": None,
        "duration": None,
        "parent": "r1",
        "params": {"model": "gbm", "lr": 0.05, "early_stop": True},
        "metrics": {"accuracy": 0.88, "loss": math.nan},
        "tags": {"team": "NLP"},
    },
    {
        "run_id": "r4",
        "name": "logreg",
        "experiment": "Default",
        "status": "crashed",
        "start": "2026-11-25T10:00:00.000000+00:00",
        "end": "2026-11-25T10:00:05.500000+00:00",
        "duration": 5.5,
        "parent": None,
        "params": {"model": "LogisticRegression", "C": "1e-3", "early_stop": False},
        "metrics": {"accuracy": 0.8, "f1 score": 0.75},
        "tags": {},
    },
    {
        "run_id": "r5",
        "name": "svm_v2",
        "experiment": "sweeps",
        "status": "interrupted",
        "start": "2026-11-26T21:00:00.000000+00:00",
        "duration": 0.4,
        "parent": "r1",
        "params": {"model": "svm", "n_estimators": 8, "kernel": "rbf"},
        "metrics": {"val-loss": 1.5, "train/acc": 0.5},
        "tags": {"note": "50% sample"},
    },
    {
        "run_id": "r6",
        "name": "mlp",
        "experiment": "Default",
        "status": "finished",
        "start": "2026-11-28T00:00:00.000000+00:00",
        "duration": 120,
        "parent": None,
        "params": {"model": "mlp", "layers": [64, 32], "lr": 0.001},
        "metrics": {"accuracy": 0.91, "delta": -1.5, "big": 2e5},
        "tags": {"team": "vision", "owner": "kim"},
    },
    {
        "run_id": "r7",
        "name": "rf-baseline",
        "experiment": "Default",
        "status": "finished",
        "start": "2026-11-29T12:00:00.000000+00:00",
        "duration": 1.5,
        "parent": None,
        "params": {"model": "rf", "n_estimators": 200},
        "metrics": {"accuracy": 0.93},
        "tags": {"team": "nlp", "release.channel": "beta"},
    },
    {
        # No params, metrics or tags at all: every comparison on them is false.
        "run_id": "r8",
        "name": "o'clock",
        "experiment": "Default",
        "status": "failed",
        "start": "2026-11-30T00:00:00.000000+00:00",
        "parent": None,
    },
]

ALL = "r1 r2 r3 r4 r5 r6 r7 r8"
T_20H = _ms(2026, 11, 26, 20)

MATCHES = [
    # -- metrics: every comparison operator ---------------------------------------------------
    ("metrics.accuracy > 0.9", "r1 r2 r6 r7"),
    ("metrics.accuracy >= 0.93", "r1 r2 r7"),
    ("metrics.accuracy < 0.9", "r3 r4"),
    ("metrics.accuracy <= 0.88", "r3 r4"),
    ("metrics.accuracy = 0.93", "r1 r7"),
    ("metrics.accuracy == 0.93", "r1 r7"),
    ("metrics.accuracy != 0.93", "r2 r3 r4 r6"),
    ("metrics.accuracy IN (0.93, 0.8)", "r1 r4 r7"),
    ("metrics.accuracy NOT IN (0.93, 0.8)", "r2 r3 r6"),
    ("metric.accuracy > 0.94", "r2"),
    # NaN never satisfies an ordering; it is unequal to everything.
    ("metrics.loss > 0", "r2"),
    ("metrics.loss >= -1e9", "r2"),
    ("metrics.loss < 100", "r2"),
    ("metrics.loss != 0.2", "r3"),
    # number literal forms
    ("metrics.delta < -1", "r6"),
    ("metrics.delta = -1.5", "r6"),
    ("metrics.delta > -2", "r6"),
    ("metrics.big = 2e5", "r6"),
    ("metrics.big = 200000", "r6"),
    ("metrics.big > 1.5E+5", "r6"),
    ("metrics.accuracy > .9", "r1 r2 r6 r7"),
    ("metrics.accuracy > +9e-1", "r1 r2 r6 r7"),
    # quoted and unusual names
    ("metrics.`f1 score` > 0.8", "r1"),
    ('metrics."f1 score" < 0.8', "r4"),
    ("metrics.`val-loss` = 1.5", "r5"),
    ("metrics.val-loss = 1.5", "r5"),
    ("metrics.train/acc = 0.5", "r5"),
    # -- params: strings, numbers and their string forms --------------------------------------
    ('params.model = "rf"', "r1 r2 r7"),
    ("params.model = 'rf'", "r1 r2 r7"),
    ("param.model != 'rf'", "r3 r4 r5 r6"),
    ("params.n_estimators = 200", "r1 r7"),
    ("params.n_estimators > 100", "r1 r2 r7"),
    ("params.n_estimators < 100", "r5"),
    ("params.n_estimators = '500'", "r2"),
    ("params.n_estimators = '200'", "r1 r7"),
    ("params.n_estimators = '8'", "r5"),
    ("params.lr = 0.01", "r2"),
    ("params.lr < 0.06", "r2 r3 r6"),
    ("params.lr = '0.1'", "r1"),
    ("params.C < 0.01", "r4"),
    ("params.C = 0.001", "r4"),
    ("params.model > 5", ""),
    ("params.model != 5", "r1 r2 r3 r4 r5 r6 r7"),
    ("params.layers = '[1, 2]'", "r1"),
    ("params.model.depth = 12", "r2"),
    ("params.`model.depth` >= 12", "r2"),
    ("params.model < 'm'", "r3 r4"),
    # true / false
    ("params.early_stop = true", "r3"),
    ("params.early_stop = TRUE", "r3"),
    ("params.early_stop = 'True'", "r3"),
    ("params.early_stop = false", "r4"),
    ("params.early_stop != true", "r4"),
    ("params.early_stop IN (true)", "r3"),
    # LIKE / ILIKE
    ("params.model LIKE 'rf'", "r1 r2 r7"),
    ("params.model LIKE 'R%'", ""),
    ("params.model ILIKE 'R%'", "r1 r2 r7"),
    ("params.model like '%Regression'", "r4"),
    ("params.model LIKE 's_m'", "r5"),
    ("params.model LIKE '_'", ""),
    ("params.model ILIKE '%P'", "r6"),
    ("params.layers LIKE '[64%'", "r6"),
    ("params.n_estimators LIKE '2%'", "r1 r7"),
    # IN / NOT IN
    ("params.model IN ('rf', 'svm')", "r1 r2 r5 r7"),
    ("params.model not in ('rf', 'svm')", "r3 r4 r6"),
    ("params.n_estimators IN (200, '500')", "r1 r2 r7"),
    ("params.n_estimators IN (8)", "r5"),
    # missing keys are false, != included; only null sees them
    ("params.kernel != 'linear'", "r5"),
    ("params.missing = 'x'", ""),
    ("params.missing != 'x'", ""),
    ("params.missing NOT IN ('x')", ""),
    ("params.missing = null", ALL),
    ("params.kernel != null", "r5"),
    ("params.kernel = NULL", "r1 r2 r3 r4 r6 r7 r8"),
    # -- tags ---------------------------------------------------------------------------------
    ("tags.team = 'nlp'", "r1 r7"),
    ("tags.team ILIKE 'nlp'", "r1 r3 r7"),
    ("tag.team = 'vision'", "r2 r6"),
    (r"tags.note LIKE '50\% %'", "r5"),
    (r"tags.note LIKE '50\%'", ""),
    ("tags.release.channel = 'beta'", "r7"),
    ("tags.owner IN ('kim', 'lee')", "r6"),
    # -- attributes: status ignores case ------------------------------------------------------
    # MLflow's names: FAILED covers failed and crashed runs, KILLED is interrupted
    ("status = 'failed'", "r2 r4 r8"),
    ('status = "FAILED"', "r2 r4 r8"),
    ("attributes.status = 'Failed'", "r2 r4 r8"),
    ("status = 'crashed'", "r4"),
    ("status = 'failed' AND status != 'crashed'", "r2 r8"),
    ("status = 'KILLED'", "r5"),
    ("status = 'interrupted'", "r5"),
    ("status != 'FAILED'", "r1 r3 r5 r6 r7"),
    ("status NOT IN ('KILLED', 'RUNNING')", "r1 r2 r4 r6 r7 r8"),
    ("status LIKE 'K%'", "r5"),
    ("status LIKE '%ED'", "r1 r2 r4 r5 r6 r7 r8"),
    ("attribute.status != 'FINISHED'", "r2 r3 r4 r5 r8"),
    ("status IN ('RUNNING', 'crashed')", "r3 r4"),
    ("status NOT IN ('FINISHED')", "r2 r3 r4 r5 r8"),
    ("status LIKE 'FIN%'", "r1 r6 r7"),
    ("STATUS = 'failed'", "r2 r4 r8"),
    # names, ids, experiments, parents (with aliases)
    ("name = 'rf-baseline'", "r1 r7"),
    ("run_name LIKE 'rf-%'", "r1 r2 r7"),
    ("attributes.run_name = 'mlp'", "r6"),
    ("name = 'RF-BASELINE'", ""),
    ("run_id = 'r3'", "r3"),
    ("attributes.run_id IN ('r1', 'r8')", "r1 r8"),
    ("experiment = 'sweeps'", "r3 r5"),
    ("experiment_name != 'Default'", "r3 r5"),
    ("experiment_id = 'sweeps'", "r3 r5"),
    ("parent = 'r1'", "r3 r5"),
    ("parent_run_id = null", "r1 r2 r4 r6 r7 r8"),
    ("parent != null", "r3 r5"),
    ("parent != 'r1'", ""),
    ("parent IN (null, 'r9')", "r1 r2 r4 r6 r7 r8"),
    # duration
    ("duration > 5", "r2 r4 r6"),
    ("duration < 1", "r5"),
    ("attributes.duration = null", "r3 r8"),
    # start / end: ISO text with strings, epoch milliseconds with numbers
    ("start >= '2026-11-28'", "r6 r7 r8"),
    ("start_time < '2026-11-26'", "r4"),
    ("start LIKE '2026-11-26%'", "r1 r3 r5"),
    ("start = '2026-11-26T19:30:00.123456+00:00'", "r1"),
    (f"start > {T_20H}", "r2 r5 r6 r7 r8"),
    (f"start >= {T_20H}", "r2 r3 r5 r6 r7 r8"),
    (f"attributes.start_time < {T_20H}", "r1 r4"),
    (f"start = {T_20H}", "r3"),
    ("end < '2026-11-26'", "r4"),
    ("end_time = null", "r3 r5 r6 r7 r8"),
    ("end > 0", "r1 r2 r4"),
    # -- AND binds tighter than OR; parentheses regroup ---------------------------------------
    ("params.model = 'rf' AND metrics.accuracy > 0.94 OR status = 'crashed'", "r2 r4"),
    ("status = 'crashed' OR params.model = 'rf' AND metrics.accuracy > 0.94", "r2 r4"),
    ("params.model = 'rf' AND (metrics.accuracy > 0.94 OR status = 'crashed')", "r2"),
    ("(status = 'crashed' OR params.model = 'rf') AND metrics.accuracy > 0.94", "r2"),
    ("((tags.team = 'nlp'))", "r1 r7"),
    (
        "(tags.team = 'nlp' or tags.team = 'vision') and (duration < 2 or duration > 100)",
        "r1 r6 r7",
    ),
    ("tags.team = 'nlp' aNd params.n_estimators = 200 Or run_id = 'r8'", "r1 r7 r8"),
    ("run_id = 'r1' OR run_id = 'r1'", "r1"),
    (
        "params.model In ('gbm') OR params.model Not In ('rf', 'gbm', 'svm', 'mlp', "
        "'LogisticRegression')",
        "r3",
    ),
    ("metrics.accuracy>0.9\nAND\tparams.model='rf'", "r1 r2 r7"),
    # -- strings with escapes -----------------------------------------------------------------
    (r"name = 'o\'clock'", "r8"),
    ('name = "o\'clock"', "r8"),
    # -- MLflow's spellings: prefixes, quoted prefixes and names, aliases ---------------------
    ("run.status = 'RUNNING'", "r3"),
    ("attr.name = 'mlp'", "r6"),
    ("parameter.model = 'svm'", "r5"),
    ("parameters.kernel = 'rbf'", "r5"),
    ("`params`.model = 'gbm'", "r3"),
    ("`metric`.`f1 score` < 0.8", "r4"),
    ("`attributes`.`status` = 'crashed'", "r4"),
    ("attributes.`Run name` = 'mlp'", "r6"),
    ("`run name` = 'logreg'", "r4"),
    ("\"Run Name\" = 'logreg'", "r4"),
    ("attributes.`Run Name` LIKE 'rf-%'", "r1 r2 r7"),
    ("created < '2026-11-26'", "r4"),
    ("Created = null", ""),
    ("user_id = 'kim'", "r1"),
    ("attributes.user_id != 'kim'", "r2"),
    ("user IS NULL", "r3 r4 r5 r6 r7 r8"),
    # start_time / end_time in whole milliseconds, as MLflow stores them
    (f"start_time = {_ms(2026, 11, 26, 19, 30) + 123}", "r1"),
    (f"start_time = {_ms(2026, 11, 26, 19, 30) + 124}", ""),
    (f"start_time >= {_ms(2026, 11, 26, 19, 30) + 123}", "r1 r2 r3 r5 r6 r7 r8"),
    (f"start_time > {_ms(2026, 11, 26, 19, 30) + 123}", "r2 r3 r5 r6 r7 r8"),
    (f"end_time = {_ms(2026, 11, 25, 10, 0, 5) + 500}", "r4"),
    # IS NULL / IS NOT NULL on every kind of key
    ("params.kernel IS NOT NULL", "r5"),
    ("params.kernel is null", "r1 r2 r3 r4 r6 r7 r8"),
    ("tags.team IS NULL", "r4 r5 r8"),
    ("metrics.loss IS NOT NULL", "r2 r3"),
    ("metrics.`f1 score` IS NULL", "r2 r3 r5 r6 r7 r8"),
    ("end_time IS NULL", "r3 r5 r6 r7 r8"),
    ("attributes.parent IS NOT NULL", "r3 r5"),
    ("datasets.name IS NOT NULL", "r1 r2"),
    ("datasets.context IS NULL", "r1 r3 r4 r5 r6 r7 r8"),
    # MLflow's system tags read our fields; a crashed run carries nbmlops.crashed
    ("tags.mlflow.runName = 'rf-baseline'", "r1 r7"),
    ("tags.`mlflow.runName` LIKE '%deep'", "r2"),
    ("tags.mlflow.user = 'lee'", "r2"),
    ("tags.mlflow.parentRunId = 'r1'", "r3 r5"),
    ("tags.mlflow.parentRunId IS NULL", "r1 r2 r4 r6 r7 r8"),
    ("tags.mlflow.source.name = 'train.py'", "r1"),
    ("tags.nbmlops.crashed = 'true'", "r4"),
    ("tags.nbmlops.crashed IS NULL", "r1 r2 r3 r5 r6 r7 r8"),
    # datasets: true when one of the data versions read satisfies the comparison
    ("datasets.name = 'data/a.csv'", "r1 r2"),
    ("dataset.name != 'data/a.csv'", "r2"),
    ("datasets.name NOT IN ('data/a.csv')", "r2"),
    ("datasets.digest = 'bbb'", "r2"),
    ("datasets.digest LIKE '%.dir'", "r2"),
    ("datasets.context = 'training'", "r2"),
    ("datasets.context != 'eval'", "r2"),
    ("datasets.path = 'data/img'", "r2"),
    ("datasets.version = 1", "r1 r2"),
    ("datasets.version > 1", "r2"),
    ("datasets.name = 'data/a.csv' AND datasets.version = 1", "r1 r2"),
    # SQL's doubled quotes, and a trailing comma in a list
    ("name = 'o''clock'", "r8"),
    ('params.model IN ("gbm",)', "r3"),
    # -- empty filters ------------------------------------------------------------------------
    ("", ALL),
    ("   ", ALL),
]


def _matching(text: str | None) -> str:
    test = compile_filter(text)
    return " ".join(run["run_id"] for run in RUNS if test(run))


@pytest.mark.parametrize(("text", "expected"), MATCHES)
def test_matches(text: str, expected: str) -> None:
    assert _matching(text) == expected


def test_none_matches_everything() -> None:
    assert _matching(None) == ALL


BAD = [
    ("metrics.accuracy >", 18, "expected a value"),
    ("metrics.accuracy 0.9", 17, "expected an operator"),
    ("metrics.accuracy > 0.9)", 22, "no matching '('"),
    ("(metrics.accuracy > 0.9", 23, "expected ')'"),
    ("((metrics.accuracy > 0.9)", 25, "to close the '(' at column 1"),
    ("params.model = 'rf", 15, "unterminated string"),
    ('params.model = "rf', 15, "unterminated string"),
    ("params.model = rf", 15, "quote strings"),
    ("metrics.accuracy > 0.9 params.model = 'rf'", 23, "expected AND, OR or end of filter"),
    ("metrics.accuracy > 0.9 AND", 26, "expected a key"),
    ("AND metrics.a > 1", 0, "found keyword AND"),
    ("()", 1, "expected a key"),
    ("run_id IN ()", 11, "empty IN list"),
    ("run_id NOT IN ()", 15, "empty NOT IN list"),
    ("run_id IN 'r1'", 10, "expected '(' to start the IN list"),
    ("run_id IN ('r1',,)", 16, "expected a value in the IN list"),
    ("run_id IN ('r1' 'r2')", 16, "expected ',' or ')'"),
    ("run_id IN ('r1'", 15, "expected ',' or ')'"),
    ("params.model LIKE 5", 18, "LIKE needs a quoted string pattern, found number 5"),
    ("params.model ILIKE null", 19, "ILIKE needs a quoted string"),
    ("metrics.acc LIKE '0.9%'", 12, "does not apply to metrics"),
    ("metrix.acc > 1", 0, "unknown key prefix 'metrix'"),
    ("attributes.foo = 1", 11, "unknown attribute 'foo'"),
    ("foo = 1", 0, "valid attributes are run_id, name, experiment, status"),
    ("status NOT = 'x'", 11, "expected IN after NOT"),
    ("metrics.acc > '0.9'", 14, "metrics are numbers"),
    ("metrics.acc = true", 14, "metrics are numbers"),
    ("metrics.acc IN (1, 'x')", 19, "metrics are numbers"),
    ("params.x > null", 11, "only work with =, != and IN"),
    ("params.x < true", 11, "only work with =, != and IN"),
    ("metrics.acc > 1.2.3", 14, "malformed number"),
    ("metrics.acc > 5abc", 14, "malformed number"),
    ("metrics. > 1", 8, "expected a name after 'metrics.'"),
    ("metrics.`` > 1", 8, "empty name"),
    ("metrics.`f1 score > 1", 8, "unterminated name"),
    ("`f1 score` > 1", 0, "unknown attribute 'f1 score'"),
    ("metrics.a & 1", 10, "unexpected character '&'"),
    ("metrics.a ! 1", 10, "'!='"),
    ("metrics.a > metrics.b", 12, "keys can only be on the left"),
    ("metrics.a = = 1", 12, "expected a value"),
    ("params.a = 'x' OR", 17, "expected a key"),
    ("params.x IS NOT 'a'", 16, "expected NULL after IS NOT"),
    ("params.x IS", 11, "expected NULL after IS"),
    ("params.x IS NULL = 1", 17, "expected AND, OR or end of filter"),
    ("datasets.schema = 'x'", 9, "unknown dataset field 'schema'"),
    ("`` = 1", 0, "empty name in backticks"),
    ("'run name' = 'x'", 0, "expected a key"),
    ("attributes.lifecycle_stage = 'active'", 11, "valid attributes are run_id, name"),
    ("`metrix`.acc > 1", 0, "unknown key prefix 'metrix'"),
]


@pytest.mark.parametrize(("text", "position", "fragment"), BAD)
def test_syntax_errors(text: str, position: int, fragment: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text)
    error = caught.value
    assert error.position == position, str(error)
    assert fragment in str(error)
    assert str(error).startswith(f"bad filter at column {position + 1}: ")


@pytest.mark.parametrize("text", [t for t, _, _ in BAD] + ["params.a = 'x\ny", "metrics.a >\n\n"])
def test_error_is_one_line(text: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        compile_filter(text)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    # The text kept on the error has the same length, so the position still points into it.
    assert len(caught.value.text) == len(text)


def test_error_position_past_newlines() -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter("metrics.a > 1\nAND\nparams.b =")
    assert caught.value.position == len("metrics.a > 1\nAND\nparams.b =")


def test_filter_syntax_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        compile_filter("status =")


def test_repr_and_str() -> None:
    node = parse_filter("metrics.acc > 0.8 and (params.model = 'rf' or tag.team IN ('a', 1, null))")
    assert repr(node) == (
        "And(Comparison('metrics.acc', '>', 0.8), Or(Comparison('params.model', '=', 'rf'), "
        "Comparison('tags.team', 'IN', ('a', 1, None))))"
    )
    assert str(node) == (
        "metrics.acc > 0.8 AND (params.model = 'rf' OR tags.team IN ('a', 1, null))"
    )
    assert repr(parse_filter("")) == "MatchAll()"


@pytest.mark.parametrize(
    "text",
    [
        "metrics.`f1 score` >= 0.5 OR run_name LIKE 'a\\%b'",
        "params.x = 'it\\'s' AND status NOT IN ('A', 'b') AND parent = null",
        "duration < 3 AND (tags.`we\\`ird` != true OR end > 1e12)",
    ],
)
def test_str_round_trips(text: str) -> None:
    node = parse_filter(text)
    again = parse_filter(str(node))
    assert str(again) == str(node)
    assert [again.evaluate(run) for run in RUNS] == [node.evaluate(run) for run in RUNS]


def test_filter_keys() -> None:
    text = (
        "metrics.accuracy > 0.8 AND params.model = 'rf' OR metric.accuracy < 0.1 "
        "AND attributes.start_time > 0 AND tags.`a b` = 'x' AND status = 'failed'"
    )
    assert filter_keys(text) == [
        "metrics.accuracy",
        "params.model",
        "start",
        "tags.a b",
        "status",
    ]
    assert filter_keys(None) == []
    assert filter_keys("  ") == []


def test_non_builtin_values() -> None:
    np = pytest.importorskip("numpy")
    doc = {
        "start": datetime(2026, 11, 26, 20, tzinfo=timezone.utc),
        "params": {"n": np.int64(200)},
        "metrics": {"acc": np.float64(0.9), "nan": np.float64("nan")},
    }
    assert compile_filter("params.n = 200 AND params.n = '200' AND metrics.acc >= 0.9")(doc)
    assert not compile_filter("metrics.nan > 0 OR metrics.nan <= 0")(doc)
    assert compile_filter(f"start = {T_20H} AND start LIKE '2026-11-26T20:00:00%'")(doc)


def test_naive_times_are_utc() -> None:
    doc = {"start": "2026-11-26T20:00:00"}
    assert compile_filter(f"start = {T_20H}")(doc)
    assert not compile_filter("start > 0")({"start": "not a time"})


def test_evaluates_ten_thousand_runs_fast() -> None:
    docs = [
        {
            "run_id": f"r{i}",
            "status": "finished" if i % 3 else "failed",
            "params": {"model": "rf" if i % 2 else "svm"},
            "metrics": {"accuracy": (i % 100) / 100},
        }
        for i in range(10_000)
    ]
    test = compile_filter("metrics.accuracy > 0.5 AND params.model = 'rf'")
    best = math.inf
    for _ in range(5):
        began = time.perf_counter()
        hits = sum(1 for doc in docs if test(doc))
        best = min(best, time.perf_counter() - began)
    assert hits == 2500
    assert best < 0.05


def test_is_null_repr_and_round_trip() -> None:
    node = parse_filter("params.x is not null AND metrics.`a b` IS NULL")
    assert repr(node) == (
        "And(Comparison('params.x', 'IS NOT NULL', None), "
        "Comparison('metrics.`a b`', 'IS NULL', None))"
    )
    assert str(node) == "params.x IS NOT NULL AND metrics.`a b` IS NULL"
    assert str(parse_filter(str(node))) == str(node)


def test_aliases_print_canonically() -> None:
    text = "created > 5 AND `Run name` = 'a' AND run.user_id = 'b' AND dataset.path = 'c'"
    assert (
        str(parse_filter(text)) == "start > 5 AND name = 'a' AND user = 'b' AND datasets.name = 'c'"
    )
    assert filter_keys(text) == ["start", "name", "user", "datasets.name"]


def test_artifact_uri_is_built_on_the_runs_folder() -> None:
    doc = {"run_id": "k3x9m2qf"}
    uri = "file:///work/p/.nbmlops/runs"
    test = compile_filter("artifact_uri = 'file:///work/p/.nbmlops/runs/k3x9m2qf'", runs_uri=uri)
    assert test(doc)
    assert compile_filter("artifact_uri LIKE '%/k3x9m2qf'", runs_uri=uri + "/")(doc)
    assert not compile_filter("artifact_uri IS NOT NULL")(doc)  # no store given: not known


def test_a_real_tag_named_like_a_system_tag_yields_to_the_field() -> None:
    doc = {"name": "real", "tags": {"mlflow.runName": "stale", "mlflow.note.content": "kept"}}
    assert compile_filter("tags.mlflow.runName = 'real'")(doc)
    assert compile_filter("tags.mlflow.note.content = 'kept'")(doc)
    assert compile_filter("tags.mlflow.user = 'x'")({"tags": {"mlflow.user": "x"}})
