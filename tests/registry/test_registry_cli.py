"""`nb-mlops register/models/model/alias/rollback/hook` from a shell: text, JSON, exit codes."""

from __future__ import annotations

import json

import pytest
from conftest import cli, cli_json

import nb_mlops as nm
from nb_mlops.cli import main


@pytest.fixture
def registered(ws):
    for i in range(3):
        with nm.start_run(f"train-{i}", params={"depth": i + 2}):
            nm.log_metric("accuracy", 0.8 + i / 100)
            nm.track.model({"weights": [i]}, "clf", description=f"depth {i + 2}")
    return ws


def test_models_json_lists_versions_with_metrics(registered, capsys) -> None:
    assert main(["models", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["models"][0] | {"updated": None} == listing["models"][0] | {
        "name": "clf",
        "versions": 3,
        "latest": 3,
        "updated": None,
    }
    assert main(["models", "clf", "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert [v["metrics"]["accuracy"] for v in view["versions"]] == pytest.approx([0.8, 0.81, 0.82])
    assert main(["models", "clf", "1", "3"]) == 0
    text = capsys.readouterr().out
    assert "clf: v1 vs v3" in text and "depth" in text


def test_alias_and_rollback_text_and_exit_codes(registered, capsys) -> None:
    assert main(["alias", "clf", "production", "2", "-m", "ship it"]) == 0
    assert "clf@production: moved from nothing to version 2" in capsys.readouterr().out
    assert main(["alias", "clf", "production", "3", "--protect", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["to"] == 3
    assert main(["alias", "clf", "production", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "protected" in err[0] and err[0].startswith("nb-mlops: error:")
    assert main(["rollback", "clf", "production", "--force"]) == 0
    assert "rolled back from version 3 to version 2" in capsys.readouterr().out
    assert main(["alias", "clf", "production", "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert history["version"] == 2 and history["protected"] is True
    assert main(["alias", "clf", "production", "1", "--remove"]) == 2
    assert "takes no VERSION" in capsys.readouterr().err


def test_model_subcommand_edits(registered, capsys, project) -> None:
    assert main(["model", "clf", "1", "--describe", "old", "--tag", "k=v", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["description"] == "old" and out["tags"] == {"k": "v"}
    assert main(["model", "clf", "1", "--delete"]) == 0
    assert "deleted clf version 1" in capsys.readouterr().out
    assert main(["model", "clf", "2", "--export", str(project)]) == 0
    assert (project / "clf-v2.zip").is_file() and "exported" in capsys.readouterr().out
    assert main(["register", "--import", str(project / "clf-v2.zip"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 4


def test_help_lists_registry_subcommands(capsys) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for name in ("register", "models", "model", "alias", "rollback", "hook"):
        assert f"  {name} " in text
    assert main(["alias", "--help"]) == 0
    assert "--force" in capsys.readouterr().out


def test_cli_in_a_subprocess_sees_the_registry(registered, project) -> None:
    assert cli_json(project, "models", "clf", "2")["uri"] == "models:/clf/2"
    bad = cli(project, "models", "nope")
    assert bad.returncode == 1
    assert bad.stderr.strip() == "nb-mlops: error: no model named 'nope'; registered: clf"


def test_import_with_a_bad_tag_imports_nothing(registered, capsys, project) -> None:
    assert main(["model", "clf", "1", "--export", str(project / "b.zip")]) == 0
    capsys.readouterr()
    assert main(["register", "--import", str(project / "b.zip"), "--tag", "k" * 300 + "=1"]) == 1
    assert "tag name" in capsys.readouterr().err
    assert main(["register", "--import", str(project / "b.zip"), "-d", "copy", "--tag", "a=b"]) == 0
    out = capsys.readouterr().out
    assert "clf version 4" in out
    assert nm.get_model_version("clf", 4).tags == {"a": "b"} | nm.get_model_version("clf", 1).tags
    assert nm.get_model_version("clf", 4).description == "copy"


def test_a_failed_deploy_hook_exits_3_with_one_warning_line(registered, capsys) -> None:
    assert main(["hook", "clf", "exit 4", "--alias", "production"]) == 0
    capsys.readouterr()
    assert main(["alias", "clf", "production", "2"]) == 3
    captured = capsys.readouterr()
    assert "moved from nothing to version 2" in captured.out
    assert "FAILED (exit code 4)" in captured.out
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("nb-mlops: warning: clf@production moved")
    assert nm.get_model_version("models:/clf@production").version == 2
    assert main(["hook", "clf", "--remove"]) == 0
    assert main(["alias", "clf", "production", "3"]) == 0


def test_export_to_an_unwritable_place_changes_nothing(registered, capsys) -> None:
    code = main(["model", "clf", "1", "--describe", "new", "--archive", "--export", "/proc/m.zip"])
    assert code == 1 and "cannot write a bundle into /proc" in capsys.readouterr().err
    v = nm.get_model_version("clf", 1)
    assert (v.description, v.status) == ("depth 2", "active")


def test_import_refuses_options_it_would_ignore(registered, capsys, project) -> None:
    assert main(["model", "clf", "1", "--export", str(project / "b.zip")]) == 0
    assert main(["register", "--import", str(project / "b.zip"), "--data", "x.csv"]) == 2
    assert "no --file, --artifact or --data" in capsys.readouterr().err
