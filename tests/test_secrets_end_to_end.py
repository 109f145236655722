"""Secrets of every shape, in every field, through a real IPython shell: none reaches the store.

Then what no detector can know: a plain string planted in many files, removed by `nb-mlops
scrub` (reading it from standard input), which lists the files it cannot rewrite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

import nb_mlops as nm
from nb_mlops.redact import REDACTED
from nb_mlops.registry.bundle import MANIFEST
from tests.conftest import run_env

# Each is found by a rule of redact.py: a shape, or a secret name before it.
OPENAI = "sk-proj-E2eAbcdefghijklmnop0123456789QRSTUV"
ANTHROPIC = "sk-ant-api03-E2eAbcdefghijklmnop0123456789-QRSTUVwxyz"
GITHUB = "ghp_E2eAbcdefghijklmnopqrstuvwxyz012345"
GITHUB_PAT = "github_pat_11E2EABCD0123456789_abcdefghijklmnopqrstuvwxyz0123456789"
HUGGING_FACE = "hf_E2eAbcdefghijklmnopqrstuvwxyzABCDE"
AWS = "AKIAE2EABCDEFGHIJKLM"
SLACK = "xoxb-123456789012-E2eabcdefghijklmnop"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJlMmUtdXNlciJ9.E2eSignature0123456789"
PEM_BODY = "MIIEpAIBAAKCAQEAe2eBodyOfAPrivateKey0123456789abcdef"
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"
URL_PASSWORD = "e2e-url-password-77"
BEARER = "e2eBearerValue0123456789"
BY_NAME = {
    "api_key": "e2e-plain-api-key-01",
    "db_password": "e2e-plain-password-02",
    "pass": "e2e-plain-pass-03",
    "clientSecret": "e2e-plain-client-secret-04",
    "AWS_SECRET_ACCESS_KEY": "e2e-plain-aws-secret-05",
    "private-key": "e2e-plain-private-key-06",
}
SHAPED = [OPENAI, ANTHROPIC, GITHUB, GITHUB_PAT, HUGGING_FACE, AWS, SLACK, JWT]
EVERY_SECRET = [*SHAPED, PEM_BODY, URL_PASSWORD, BEARER, *BY_NAME.values()]


def cell(ip, code: str):
    with capture_output() as cap:
        result = ip.run_cell(code)
    return result, cap


def store_files(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file()]


def leaks(home: Path, secrets: list[str]) -> list[str]:
    """`file: secret` for every file under `home` (bytes, every folder) holding one of them, as
    is or escaped for JSON."""
    found = []
    for path in store_files(home):
        data = path.read_bytes()
        for secret in secrets:
            forms = {secret.encode(), json.dumps(secret)[1:-1].encode()}
            if any(f in data for f in forms):
                found.append(f"{path.relative_to(home)}: {secret}")
    return found


_SECRETS_CELL = f"""
api_key = "{BY_NAME["api_key"]}"
db_password = "{BY_NAME["db_password"]}"
cfg = {{"pass": "{BY_NAME["pass"]}", "user": "kim"}}
client = dict(clientSecret="{BY_NAME["clientSecret"]}")
import os
os.environ["AWS_SECRET_ACCESS_KEY"] = "{BY_NAME["AWS_SECRET_ACCESS_KEY"]}"
keys = {{"private-key": "{BY_NAME["private-key"]}"}}
openai_client = "{OPENAI}"
claude = "{ANTHROPIC}"
gh, gh_pat = "{GITHUB}", "{GITHUB_PAT}"
hf = "{HUGGING_FACE}"
aws_id = "{AWS}"
slack = "{SLACK}"
jwt = "{JWT}"
pem = \"\"\"{PEM}\"\"\"
db_url = "postgres://app:{URL_PASSWORD}@db.internal:5432/prod"
headers = {{"Authorization": "Bearer {BEARER}"}}
"""

_PRINTS = """
import sys
print(openai_client, claude, gh, gh_pat, hf, aws_id, slack, jwt)
print(pem)
print("connecting to", db_url)
print(headers)
print("api_key=" + api_key, f"password: {db_password}", cfg, client)
print(keys, "--token", gh, file=sys.stderr)
"""


def test_secrets_of_every_shape_never_reach_the_store(
    ip, ws, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI)  # not on the allowlist
    monkeypatch.setenv("NB_MLOPS_DEPLOY_TOKEN", BY_NAME["api_key"])  # allowlisted, secret name
    monkeypatch.setenv("NB_MLOPS_HOOK_SECRET", GITHUB)  # what a hook will print

    # an untracked cell: only the history keeps it
    result, _ = cell(ip, _SECRETS_CELL)
    assert result.error_in_exec is None

    # a tracked cell: source (params captured from it), a tag, output, params set by hand
    result, _ = cell(
        ip,
        f"%%track -n leaky --tag token={GITHUB} --tag note=postgres://u:{URL_PASSWORD}@h/d\n"
        + _SECRETS_CELL
        + _PRINTS
        + f"track.param(config={{'password': '{BY_NAME['db_password']}', 'url': db_url}})\n"
        + "track.set_tags({'hf_token': hf, 'header': 'Bearer ' + jwt})\n"
        + "track.log(accuracy=0.9)\n",
    )
    assert result.error_in_exec is None
    detail = nm.get_run("leaky").to_dict()
    assert detail["params"]["api_key"] == REDACTED
    assert detail["params"]["cfg"] == {"pass": REDACTED, "user": "kim"}

    # a tracked cell that fails with secrets in its message (traceback and history error)
    result, _ = cell(
        ip,
        "%%track -n fails\n"
        "raise ValueError(f'login to {db_url} failed: token={gh} key {openai_client} ' "
        "f'Authorization: Bearer {jwt}')\n",
    )
    assert isinstance(result.error_in_exec, ValueError)
    error = nm.get_run("fails").to_dict()["error"]
    assert REDACTED in error["message"] and URL_PASSWORD not in error["traceback"]

    # an untracked cell that fails the same way: the history keeps its error line
    result, _ = cell(ip, "raise RuntimeError(f'bad {hf} and {slack}')")
    assert isinstance(result.error_in_exec, RuntimeError)

    # a `%track start` session: each cell in the run's own cells.jsonl
    cell(ip, "%track start session")
    cell(ip, f'token = "{BY_NAME["pass"]}"\nsession_key = "{AWS}"')
    cell(ip, "%track stop")

    # the registry: a model with a description and tags, an alias message, deploy hooks
    cell(
        ip,
        "from sklearn.linear_model import LogisticRegression\n"
        "m = LogisticRegression().fit([[0.0], [1.0]], [0, 1])\n"
        "import nb_mlops as nm\n"
        "v = nm.register_model('clf', m, description=f'trained against {db_url} with {hf}', "
        "tags={'api_key': api_key, 'bearer': 'Bearer ' + jwt})\n"
        "nm.update_model('clf', description=f'owner token={gh}')\n"
        "nm.update_model_version('clf', 1, description=f'uses {openai_client}')\n",
    )
    refused, _ = cell(ip, f"%track hook clf \"curl -H 'Authorization: Bearer {BEARER}' x\"")
    assert "holds a secret" in str(refused.error_in_exec)
    assert BEARER not in str(refused.error_in_exec)
    result, _ = cell(ip, "%track hook clf 'echo deployed with $NB_MLOPS_HOOK_SECRET'")
    assert result.error_in_exec is None
    result, _ = cell(
        ip, f'%track alias clf production 1 -m "rotated {SLACK}, password={URL_PASSWORD}"'
    )
    assert result.error_in_exec is None
    move = result.result
    assert move.hooks[0]["ok"] and REDACTED in move.hooks[0]["output"]

    # a bundle made elsewhere (or by hand) with secrets in every field
    bundle = nm.export_model("models:/clf/1", tmp_path / "clf.zip")
    with zipfile.ZipFile(bundle) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    manifest = json.loads(members.pop(MANIFEST))
    manifest["description"] = f"from {HUGGING_FACE}"
    manifest["tags"] = {"password": BY_NAME["db_password"], "note": OPENAI}
    manifest["run"] = {
        "run_id": "abc",
        "name": f"run {GITHUB}",
        "params": {"api_key": BY_NAME["api_key"], "db": f"mysql://u:{URL_PASSWORD}@h/d"},
        "metrics": {f"loss-{AWS}": 0.1},
    }
    manifest["env"]["packages"] = {"system": {"executable": f"/home/{SLACK}/python"}}
    manifest["meta"] = {**manifest.get("meta", {}), "note": JWT}
    manifest["exported"] = {"by": f"Bearer {BEARER}"}
    handmade = tmp_path / "handmade.zip"
    with zipfile.ZipFile(handmade, "w") as zf:
        zf.writestr(MANIFEST, json.dumps(manifest))
        for name, data in members.items():
            zf.writestr(name, data)
    imported = nm.import_model(handmade, "clf-imported")
    assert imported.tags["password"] == REDACTED

    nm.gc(grace_s=0)  # nothing is kept in an unreferenced object either
    found = leaks(ws.home, EVERY_SECRET)
    assert not found, "\n".join(found)
    # and what was kept is still there, redacted in place
    history = "".join(p.read_text() for p in (ws.home / "history").glob("*.jsonl"))
    assert f'api_key = \\"{REDACTED}\\"' in history
    assert "db.internal:5432" in history


# ------------------------------------------------------------------------------------- scrub
PLAIN = "correct-horse-battery-staple-42"  # no name, no shape: no detector can know it


def scrub_cli(project: Path, secret: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nb_mlops", "scrub", *args],
        cwd=project,
        env=run_env(project),
        input=secret + "\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _plant(ip, ws, project: Path) -> None:
    """The plain string in the history, a run's cells, output, params, tags, a metric name, a
    plotly figure, a table preview, an artifact, a dataset, a model description, an alias
    message, config.toml and a set-aside catalog copy."""
    (project / "notes.txt").write_text(f"the password is {PLAIN}\n")
    (project / "data.csv").write_text(f"id,text\n1,{PLAIN}\n")
    nm.snapshot("data.csv")
    result, _ = cell(
        ip,
        "%%track -n planted\n"
        f"note = '{PLAIN}'\n"
        "import pandas as pd, plotly.graph_objects as go\n"
        "print('note:', note)\n"
        "track.set_tag('remark', note)\n"
        "track.log(**{'loss-' + note: 0.5})\n"
        "track.figure(go.Figure(layout={'title': note}), 'fig')\n"
        "track.table(pd.DataFrame({'text': [note]}), 'tab')\n"
        "track.artifact('notes.txt')\n",
    )
    assert result.error_in_exec is None, result.error_in_exec
    cell(
        ip,
        "from sklearn.linear_model import LogisticRegression\n"
        "import nb_mlops as nm\n"
        "nm.register_model('plain', LogisticRegression().fit([[0.0], [1.0]], [0, 1]), "
        f"description='note {PLAIN}')\n"
        f"nm.set_alias('plain', 'production', 1, why='note {PLAIN}')\n",
    )
    with ws.edit_config() as doc:
        doc["note"] = PLAIN
    aside = ws.home / "catalog" / "journal.jsonl.damaged-20250101T000000-abcdef"
    aside.write_text(json.dumps({"op": "set", "tb": "runs", "id": "x", "set": [[["n"], PLAIN]]}))


def _snapshot(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in store_files(home)}


def test_scrub_removes_a_string_no_detector_knows(ip, ws, project: Path) -> None:
    _plant(ip, ws, project)
    assert len(leaks(ws.home, [PLAIN])) >= 8
    before = _snapshot(ws.home)

    dry = scrub_cli(project, PLAIN, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert PLAIN not in dry.stdout + dry.stderr  # the string is never echoed
    assert _snapshot(ws.home) == before  # a dry run changes nothing
    planned = json.loads(dry.stdout)
    assert planned["dry_run"] and planned["changed"]
    assert all(i["action"].startswith("would ") for i in planned["changed"])

    out = scrub_cli(project, PLAIN, "--json")
    assert out.returncode == 0, out.stderr
    assert PLAIN not in out.stdout + out.stderr
    report = json.loads(out.stdout)
    changed = {i["path"] for i in report["changed"]}
    cannot = {i["path"]: i["why"] for i in report["cannot"]}
    assert "catalog/journal.jsonl" in changed
    assert "config.toml" in changed
    assert "catalog/journal.jsonl.damaged-20250101T000000-abcdef" in changed
    assert any(p.startswith("history/") for p in changed)
    # the run logged one point: its points, cell and output are one line of the pack
    run = nm.get_run("planted").to_dict()
    assert run["points"]["pack"] == "points.pack"
    assert "runs/points.pack" in changed
    assert PLAIN not in json.dumps([run["cells"], run["stdout"], run["series"]])
    assert "[REDACTED]" in run["stdout"] and "[REDACTED]" in run["cells"][0]["source"]

    # what is left is exactly what was listed as impossible: the data, the artifact, the table's
    # Parquet bytes when they hold it as is; each named with its path and why
    left = {line.split(": ")[0] for line in leaks(ws.home, [PLAIN])}
    assert left == set(cannot), (left, cannot)
    assert left, "the dataset and the artifact are data: they cannot be rewritten"
    for path, why in cannot.items():
        assert path.startswith("cache/files/md5/"), path
        assert "data, model or artifact object" in why or "binary" in why

    # the store still reads: the run, its figure (a new object), the model, the alias
    run = nm.get_run("planted").to_dict()
    assert run["tags"]["remark"] == REDACTED
    assert f"loss-{REDACTED}" in run["metrics"]
    assert REDACTED in run["stdout"]
    from nb_mlops.tracking.media import load_figure

    # the rewritten plotly object loads under its new hash, named in the run's refs
    doc = ws.catalog.get("runs", run["run_id"])
    assert load_figure(ws, doc["figures"][0]).layout.title.text == REDACTED
    assert set(doc["refs"]) >= {doc["figures"][0]["json"], doc["tables"][0]["preview"]}
    assert nm.get_model_version("plain", 1).description == f"note {REDACTED}"
    assert nm.alias_history("plain")[0]["why"] == f"note {REDACTED}"
    assert nm.load_model("models:/plain@production") is not None
    gc = nm.gc(grace_s=0)
    assert doc["figures"][0]["json"] not in gc.removed  # the new objects are referenced

    again = scrub_cli(project, PLAIN)
    assert again.returncode == 0
    assert "replaced 0 occurrences" in again.stdout or "still hold it" in again.stdout


@pytest.mark.parametrize("given", ["", "abc", "\n"])
def test_scrub_refuses_short_strings_in_one_line(project: Path, ws, given: str) -> None:
    out = scrub_cli(project, given.rstrip("\n"))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nb-mlops: error: scrub ")


def test_scrub_takes_no_string_as_an_argument(project: Path, ws) -> None:
    out = scrub_cli(project, PLAIN, PLAIN)
    assert out.returncode == 2  # a usage error: it would be in the shell's history
    assert "unrecognized arguments" in out.stderr


def test_track_scrub_asks_at_a_hidden_prompt(
    ip, ws, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cell(ip, f"%%track -n hidden\nprint('{PLAIN}')\n")
    asked = []

    def fake_getpass(prompt: str = "") -> str:
        asked.append(prompt)
        return PLAIN

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    result, cap = cell(ip, "%track scrub")
    assert result.error_in_exec is None, result.error_in_exec
    assert asked and "not shown" in asked[0]
    assert PLAIN not in cap.stdout
    assert "replaced" in str(result.result)
    assert not leaks(ws.home, [PLAIN])


def test_the_cli_asks_at_a_hidden_prompt_on_a_terminal(
    ws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from nb_mlops.cli import main

    ws.catalog.put("runs", "r1", {"run_id": "r1", "note": PLAIN})

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    asked = []
    monkeypatch.setattr(sys, "stdin", Terminal("never read\n"))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": asked.append(prompt) or PLAIN)
    assert main(["scrub"]) == 0
    assert asked and "not shown" in asked[0]
    out = capsys.readouterr().out
    assert "rewrote catalog/journal.jsonl" in out and PLAIN not in out
    assert ws.catalog.get("runs", "r1")["note"] == REDACTED

    def interrupted(prompt: str = "") -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("getpass.getpass", interrupted)
    assert main(["scrub"]) == 1
    assert capsys.readouterr().err.strip() == "nb-mlops: error: cancelled: no string was given"
