"""nm.evaluate: an evaluation is a run with the model's identity, scores, intervals and items."""

from __future__ import annotations

import pandas as pd
import pytest
from eval_toys import CHOICE_ITEMS, TEXT_ITEMS, Chooser, Parrot, write_jsonl

import nb_mlops as nm
from nb_mlops.evals.model import EvalError


def test_choice_eval_is_a_run_with_scores_intervals_and_items(ws):
    model = Chooser(miss={"q1", "q2"})
    result = nm.evaluate(model, CHOICE_ITEMS, name="toy-mc")
    assert result.task == "choice"
    assert result.n == 12
    assert result.score("acc") == pytest.approx(10 / 12)
    acc = result.scores["acc"]
    # lm-evaluation-harness's stderr: sample std (ddof=1) / sqrt(n)
    import numpy as np

    values = np.array([0 if i in (1, 2) else 1 for i in range(12)], float)
    assert acc["stderr"] == pytest.approx(values.std(ddof=1) / np.sqrt(12))
    assert acc["low"] < acc["score"] < acc["high"]
    doc = ws.catalog.get("runs", result.run_id)
    assert doc["status"] == "finished"
    assert doc["experiment"] == "evals"
    assert doc["tags"]["nbmlops.kind"] == "eval"
    assert doc["metrics"]["acc"] == pytest.approx(10 / 12)
    assert doc["params"]["model.provider"] == "python"
    assert doc["eval"]["scores"]["acc"]["score"] == pytest.approx(10 / 12)
    items = nm.eval_examples(result.run_id).to_frame()
    assert len(items) == 12
    wrong = items[items["correct"].astype(str).str.lower() == "false"]
    assert sorted(wrong["id"]) == ["q1", "q2"]


def test_text_eval_scores_match_the_metrics_and_bleu_gets_a_bootstrap_interval(ws):
    from nb_mlops.evals.metrics import bleu, exact_match

    result = nm.evaluate(Parrot(), TEXT_ITEMS, metrics=["bleu", "exact_match"])
    preds = ["the cat sat", "a dog ran home", "학교에 갔다", "blue sky today"]
    refs = [["the cat sat"], ["a dog ran home"], ["학교에 갔다", "학교로 갔다"]]
    refs.append(["the sky is blue today"])
    assert result.score("bleu") == pytest.approx(bleu(preds, refs).score)
    assert result.score("exact_match") == pytest.approx(exact_match(preds, refs).score)
    b = result.scores["bleu"]
    assert "bootstrap" in b["interval"] and b["low"] <= b["score"] <= b["high"]
    assert "BLEU" in b["method"] or "nrefs" in b["method"]


def test_rerun_with_ten_more_items_asks_the_model_ten_times(ws, project):
    items = [{"id": f"x{i}", "prompt": f"say: word{i}", "reference": f"word{i}"} for i in range(30)]
    path = project / "qa.jsonl"
    write_jsonl(path, items[:20])
    model = Parrot()
    first = nm.evaluate(model, str(path), metrics=["exact_match"])
    assert len(model.calls) == 20 and first.cache["asked"] == 20
    write_jsonl(path, items)
    second = nm.evaluate(model, str(path), metrics=["exact_match"])
    assert len(model.calls) == 30
    assert second.cache == {"hits": 20, "asked": 10}
    assert second.score("exact_match") == 1.0
    third = nm.evaluate(model, str(path), metrics=["exact_match"], cache=False)
    assert len(model.calls) == 60 and third.cache["hits"] == 0


def test_cache_is_per_reported_version(ws):
    old, new = Parrot(version="v1"), Parrot(version="v2")
    nm.evaluate(old, TEXT_ITEMS, metrics=["exact_match"])
    nm.evaluate(new, TEXT_ITEMS, metrics=["exact_match"])
    assert len(new.calls) == len(TEXT_ITEMS)  # nothing reused from another version


def test_errors_are_listed_never_scored(ws):
    class Flaky(Parrot):
        def generate(self, prompt, **options):
            if "dog" in prompt:
                raise TimeoutError("the endpoint took too long")
            return super().generate(prompt)

    result = nm.evaluate(Flaky(), TEXT_ITEMS, metrics=["exact_match"])
    assert result.errors == 1 and result.n == 3
    assert result.score("exact_match") == pytest.approx(2 / 3)
    items = nm.eval_examples(result.run_id).to_frame()
    row = items[items["id"] == "t1"].iloc[0]
    assert "TimeoutError" in row["error"] and pd.isna(row["prediction"])
    assert "1 item failed" in result.to_text()
    # a failed answer is not kept: the next evaluation asks again
    again = nm.evaluate(Parrot(), TEXT_ITEMS, metrics=["exact_match"])
    assert again.errors == 0


def test_version_change_mid_way_is_recorded(ws):
    class Drifting(Parrot):
        def generate(self, prompt, **options):
            out = super().generate(prompt)
            if len(self.calls) == 2:
                self.version = "parrot-2"
            return out

    result = nm.evaluate(Drifting(version="parrot-1"), TEXT_ITEMS, metrics=["exact_match"])
    assert result.versions["reported"] == ["parrot-1", "parrot-2"]
    assert "2 versions" in result.versions["change"]
    assert any("versions" in note for note in result.notes())


def test_dataset_hash_and_data_version_recorded(ws, project):
    path = project / "mc.jsonl"
    write_jsonl(path, CHOICE_ITEMS)
    nm.snapshot(path)
    result = nm.evaluate(Chooser(), str(path))
    assert result.dataset["version"] == 1
    doc = ws.catalog.get("runs", result.run_id)
    assert doc["data"][0]["path"] == "mc.jsonl" and doc["data"][0]["version"] == 1
    assert doc["params"]["dataset.hash"] == result.dataset["hash"]


def test_a_failing_evaluation_ends_its_run_failed(ws):
    def broken(prompt: str) -> str:
        return prompt

    with pytest.raises(EvalError, match="metric 'acc' does not apply to a text task"):
        nm.evaluate(broken, TEXT_ITEMS, metrics=["acc"], task="text")
    with pytest.raises(EvalError, match="model 'nope'"):
        nm.evaluate("nope", TEXT_ITEMS)
    assert all(d["status"] != "running" for d in ws.catalog.docs("runs").values())


def test_gc_keeps_caches_a_run_names(ws):
    result = nm.evaluate(Parrot(), TEXT_ITEMS, metrics=["exact_match"])
    files = sorted(ws.eval_cache_dir.glob("*.jsonl"))
    assert files
    stray = ws.eval_cache_dir / ("0" * 32 + ".jsonl")
    stray.write_text("{}\n")
    report = nm.gc(grace_s=0)
    assert report.eval_caches_removed == 1 and not stray.exists()
    assert all(f.exists() for f in files)
    nm.delete_run(result.run_id)
    assert nm.gc(grace_s=0).eval_caches_removed == len(files)
