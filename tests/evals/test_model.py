"""Models: callables as adapters, model specs, identities and their differences."""

from __future__ import annotations

import sys

import pytest

from nb_mlops.evals.model import (
    CallableModel,
    EvalError,
    ModelIdentity,
    NotSupported,
    Reply,
    as_adapter,
    resolve,
)


def test_a_plain_function_generates_and_one_bad_call_is_an_error_reply():
    def model(prompt: str, **options) -> str:
        if prompt == "boom":
            raise ValueError("no\nmore lines")
        return prompt.upper()

    adapter = as_adapter(model)
    replies = adapter.generate(["hi", "boom"])
    assert replies[0] == Reply(text="HI")
    assert replies[1].error == "ValueError: no" and replies[1].text is None
    with pytest.raises(NotSupported, match="gives no log-likelihoods"):
        adapter.loglikelihood([("a", " b")])
    assert adapter.identity.name.endswith("model")


def test_loglikelihoods_are_checked_numbers():
    class M:
        version = "m-7"

        def loglikelihood(self, context, continuation):
            return {" ok": -1.5, " pos": 3.0, " nan": float("nan"), " tuple": (-2.0, True)}[
                continuation
            ]

    adapter = CallableModel(M())
    assert adapter.supports_loglikelihood
    ok, pos, nan, pair = adapter.loglikelihood(
        [("c", " ok"), ("c", " pos"), ("c", " nan"), ("c", " tuple")]
    )
    assert ok.value == -1.5 and ok.version == "m-7"
    assert "<= 0" in pos.error and "<= 0" in nan.error
    assert pair.value == -2.0 and pair.greedy is True


def test_batched_forms_are_used_and_checked():
    class Batched:
        def generate_batch(self, prompts, **options):
            return [p[::-1] for p in prompts]

        def generate(self, prompt):  # never called when the batch form exists
            raise AssertionError

    assert [r.text for r in CallableModel(Batched()).generate(["ab", "cd"])] == ["ba", "dc"]

    class Short:
        def generate_batch(self, prompts, **options):
            return ["x"]

    with pytest.raises(EvalError, match="returned 1 answers for 2 requests"):
        CallableModel(Short()).generate(["a", "b"])


def test_not_a_model():
    with pytest.raises(EvalError, match="is not a model"):
        as_adapter(42)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gpt", "name a model as hf:PATH"),
        ("foo:bar", "unknown kind 'foo'"),
        ("openai:http://x", "openai:BASE_URL#MODEL"),
        ("py:nomodule_zzz:f", "cannot import nomodule_zzz"),
        ("py:json:nothing_here", "json has no nothing_here"),
        ("py:", "py:module:attr"),
        ("py:json", "json:JSONDecoder.* is not a model|module.*is not a model"),
    ],
)
def test_bad_specs_get_one_line(spec, message):
    with pytest.raises(EvalError, match=message) as info:
        resolve(spec)
    assert "\n" not in str(info.value)


def test_py_spec_wraps_the_callable(tmp_path, monkeypatch):
    (tmp_path / "my_llm.py").write_text("def answer(prompt, **kw):\n    return 'yes'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    adapter = resolve("py:my_llm:answer")
    assert adapter.generate(["q"])[0].text == "yes"
    assert adapter.identity.name == "my_llm:answer" and adapter.identity.provider == "python"
    sys.modules.pop("my_llm", None)


def test_identity_key_ignores_settings_but_differences_name_them():
    a = ModelIdentity("openai", "gpt-x", version="gpt-x-0613", settings={"temperature": 0})
    b = a.with_version("gpt-x-1106").with_settings({"temperature": 0.7})
    assert a.key() == a.with_settings({"temperature": 1}).key()
    assert a.key() != b.key()
    assert a.differences(b) == ["reported version gpt-x-0613 -> gpt-x-1106", "temperature 0 -> 0.7"]
    assert ModelIdentity.from_dict(b.to_dict()) == b
    assert a.label == "gpt-x (gpt-x-0613)"
    local = ModelIdentity("hf", "/m", fingerprint="ab" * 32)
    assert local.differences(ModelIdentity("hf", "/m", fingerprint="cd" * 32)) == [
        "weights fingerprint abababababab -> cdcdcdcdcdcd"
    ]
