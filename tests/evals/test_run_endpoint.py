"""An evaluation of a model behind an OpenAI-compatible endpoint, end to end (loopback server)."""

from __future__ import annotations

import fake_openai
import pytest

import nb_mlops as nm

ITEMS = [{"id": f"i{n}", "prompt": f"capital {n}?", "reference": f"city {n}"} for n in range(8)]
ANSWERS = {f"capital {n}?": f"city {n}" if n % 2 == 0 else "no idea" for n in range(8)}
KEY = "sk-NBTEST-0123456789abcdef0123456789abcdef"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with fake_openai.FakeOpenAI(answers=ANSWERS) as fake:
        yield fake


def spec(server) -> str:
    return f"openai:{server.url}#gpt-test"


def test_the_probe_names_the_version_and_a_change_mid_way_is_recorded(ws, server):
    server.configure(switch_after=4)  # the probe is answer 1: items 1-3 on v1, the rest on v2
    result = nm.evaluate(
        spec(server), ITEMS, metrics=["exact_match"], model_options={"concurrency": 1}
    )
    assert result.identity.version == "fake-model-1"
    assert result.versions["reported"] == ["fake-model-1", "fake-model-2"]
    assert "fake-model-1 for calls 1-3, fake-model-2 for calls 4-8" in result.versions["change"]
    assert result.score("exact_match") == pytest.approx(0.5)
    items = nm.eval_examples(result.run_id).to_frame()
    assert list(items["version"]) == ["fake-model-1"] * 3 + ["fake-model-2"] * 5
    doc = ws.catalog.get("runs", result.run_id)
    assert doc["params"]["model.version"] == "fake-model-1"
    assert doc["params"]["model.endpoint"] == server.url
    assert KEY not in repr(doc) and KEY not in str(result.to_dict())


def test_cached_answers_of_another_version_are_ignored(ws, server):
    first = nm.evaluate(spec(server), ITEMS, metrics=["exact_match"])
    assert first.cache == {"hits": 0, "asked": 8}
    again = nm.evaluate(spec(server), ITEMS, metrics=["exact_match"])
    assert again.cache == {"hits": 8, "asked": 0}
    calls = len(server.log())
    server.configure(version="fake-model-9")
    changed = nm.evaluate(spec(server), ITEMS, metrics=["exact_match"])
    assert changed.identity.version == "fake-model-9"
    assert changed.cache == {"hits": 0, "asked": 8}
    assert len(server.log()) == calls + 1 + 8  # the probe, then every item again
    board = nm.eval_scoreboard()
    assert board.rows[-1]["differences"] == ["reported version fake-model-1 -> fake-model-9"]


def test_errors_are_recorded_as_errors(ws, server):
    server.configure(rules={"capital 3?": {"malformed": "no-choices"}})
    result = nm.evaluate(spec(server), ITEMS, metrics=["exact_match"], model_options={"retries": 0})
    assert result.errors == 1 and result.n == 7
    items = nm.eval_examples(result.run_id).to_frame()
    assert items.loc[items["id"] == "i3", "error"].iloc[0]
    assert result.score("exact_match") == pytest.approx(4 / 7)
