"""The OpenAI-compatible endpoint adapter against a real HTTP server on loopback (fake_openai)."""

from __future__ import annotations

import json
import socket
import sys
import time

import fake_openai
import pytest

from nb_mlops.evals.endpoint import EndpointModel
from nb_mlops.evals.model import EvalError, NotSupported, Reply, resolve

KEY = "sk-NBTEST-7f3a9c1e5b2d4a6f8e0c1b3d5f7a9e2c"


@pytest.fixture
def server():
    with fake_openai.FakeOpenAI() as fake:
        yield fake


def quick(url: str, model: str = "gpt-test", **options) -> EndpointModel:
    """An adapter with small waits, so failure paths take tens of milliseconds."""
    options = {"retries": 2, "backoff": 0.01, "timeout": 5.0, "key_env": "NB_TEST_KEY", **options}
    return EndpointModel(url, model, **options)


def expected_score(context: str, continuation: str) -> tuple[float, bool, int]:
    """What the fake server's tokens give the continuation, computed here from its rules."""
    tokens = fake_openai.tokenize(context + continuation)
    total, greedy, count, at, prev = 0.0, True, 0, 0, ""
    for token in tokens:
        if at + len(token) > len(context):  # begins in, or reaches into, the continuation
            total += fake_openai.token_logprob(prev, token)
            greedy = greedy and fake_openai.is_top(prev, token)
            count += 1
        at += len(token)
        prev = token
    return total, greedy, count


def one_line(text: str | None) -> bool:
    return bool(text) and "\n" not in text


# ------------------------------------------------------------------------------- identity
def test_identity_holds_the_clean_url_and_the_decoding_settings():
    model = EndpointModel(
        "https://api.example.com:8443/v1/chat/completions/?api-version=2024-06-01#frag",
        "gpt-4o-mini",
        temperature=0.2,
        max_tokens=64,
        top_p=0.9,
        stop=["\n"],
        seed=7,
        extra_body={"top_k": 5, "api_key": "sk-in-the-body-0123456789abcdef"},
    )
    ident = model.identity
    assert ident.provider == "openai"
    assert ident.name == "gpt-4o-mini"
    assert ident.endpoint == "https://api.example.com:8443/v1"
    assert ident.version is None
    assert ident.settings == {
        "api": "auto",
        "max_tokens": 64,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["\n"],
        "seed": 7,
        "top_k": 5,
        "api_key": "[REDACTED]",
    }
    want = "EndpointModel('https://api.example.com:8443/v1', 'gpt-4o-mini', api='auto')"
    assert repr(model) == want
    assert "api-version" not in json.dumps(ident.to_dict())
    assert model.supports_loglikelihood
    chat_only = EndpointModel("http://127.0.0.1:1/v1", "m", api="chat")
    assert not chat_only.supports_loglikelihood
    assert chat_only.identity.settings["api"] == "chat"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "give one"),
        ("   ", "give one"),
        ("ftp://example.com/v1", "use http:// or https://"),
        ("example.com/v1", "use http:// or https://"),
        ("http://", "use http:// or https://"),
        ("http://host:99999/v1", "not a valid URL"),
        (None, "give one"),
    ],
)
def test_bad_base_urls_are_refused_in_one_line(url, says):
    with pytest.raises(EvalError) as err:
        EndpointModel(url, "m")
    assert says in str(err.value)
    assert one_line(str(err.value))


def test_a_url_with_credentials_is_refused_without_repeating_them():
    with pytest.raises(EvalError) as err:
        EndpointModel("https://alice:hunter2secret@api.example.com/v1", "m")
    text = str(err.value)
    assert "user name or password" in text and "key_env" in text
    assert "hunter2secret" not in text and "alice" not in text
    assert "https://api.example.com/v1" in text


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"api": "grpc"}, "use one of chat, completions, auto"),
        ({"timeout": 0}, "endpoint timeout 0"),
        ({"concurrency": 0}, "endpoint concurrency 0"),
        ({"concurrency": 2.5}, "whole number"),
        ({"retries": -1}, "endpoint retries -1"),
        ({"extra_body": {"x": object()}}, "not JSON-serializable"),
    ],
)
def test_bad_options_are_refused(options, says):
    with pytest.raises(EvalError, match=says):
        EndpointModel("http://127.0.0.1:1/v1", "m", **options)
    with pytest.raises(EvalError, match="give the model name"):
        EndpointModel("http://127.0.0.1:1/v1", " ")


def test_the_module_is_exported_and_imports_httpx_only_when_calling():
    import subprocess

    import nb_mlops.evals as evals

    assert evals.EndpointModel is EndpointModel
    code = (
        "import sys, nb_mlops.evals.endpoint as e; "
        "m = e.EndpointModel('http://127.0.0.1:1/v1', 'm'); print('httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_resolve_names_an_endpoint(server):
    model = resolve(f"openai:{server.url}#gpt-test", retries=0)
    assert isinstance(model, EndpointModel)
    assert model.identity.name == "gpt-test" and model.identity.endpoint == server.url
    assert model.generate(["hi"])[0].text == "echo: hi"


# ------------------------------------------------------------------------------- generate
def test_generate_asks_chat_and_records_text_version_and_logprobs(server, monkeypatch):
    monkeypatch.setenv("NB_TEST_KEY", KEY)
    server.configure(answers={"2+2?": "It is 4"})
    model = quick(server.url, system="Be brief.")
    replies = model.generate(["2+2?", "안녕하세요 세계", 7])
    assert replies[0].text == "It is 4"
    assert replies[1].text == "echo: 안녕하세요 세계"
    assert replies[2].error == "the prompt is int, not text" and replies[2].value is None
    for reply, answer in zip(replies[:2], ["It is 4", "echo: 안녕하세요 세계"], strict=True):
        assert reply.version == "fake-model-1"
        tokens = fake_openai.tokenize(answer)
        prevs = ["", *tokens[:-1]]
        want = sum(fake_openai.token_logprob(p, t) for p, t in zip(prevs, tokens, strict=True))
        assert reply.value == pytest.approx(want, abs=1e-9)
        assert reply.tokens == len(tokens)
    log = server.log()
    assert [e["route"] for e in log] == ["chat", "chat"]
    (entry,) = [e for e in log if e["prompt"] == "2+2?"]  # the two went out together
    body = entry["payload"]
    assert body["model"] == "gpt-test" and body["temperature"] == 0.0
    assert body["max_tokens"] == 256 and body["logprobs"] is True
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
    ]
    assert entry["auth"] == f"Bearer {KEY}"


def test_generate_options_override_the_settings_per_call(server):
    model = quick(server.url, logprobs=False)
    reply = model.generate(["one two three four"], max_tokens=2, stop=["\n"], top_k=3)[0]
    assert reply.text == "echo: one"
    assert reply.value is None and reply.tokens is None
    body = server.log()[0]["payload"]
    assert body["max_tokens"] == 2 and body["stop"] == ["\n"] and body["top_k"] == 3
    assert "logprobs" not in body
    with pytest.raises(EvalError, match="generate options: not JSON-serializable"):
        model.generate(["x"], stop={1, 2})
    with pytest.raises(EvalError, match="generate option 'stream': set by the adapter"):
        model.generate(["x"], stream=True)
    assert len(server.log()) == 1


def test_completions_api_generates_through_completions(server):
    model = quick(server.url, api="completions", max_tokens=3)
    reply = model.generate(["alpha beta gamma delta"])[0]
    assert reply.text == "echo: alpha beta"
    tokens = fake_openai.tokenize("echo: alpha beta")
    prevs = [" delta", *tokens[:-1]]  # the fake server chains from the prompt's last token
    want = sum(fake_openai.token_logprob(p, t) for p, t in zip(prevs, tokens, strict=True))
    assert reply.value == pytest.approx(want, abs=1e-9)
    (entry,) = server.log()
    assert entry["route"] == "completions"
    assert entry["payload"]["prompt"] == "alpha beta gamma delta"
    assert entry["payload"]["logprobs"] == 1


def test_auto_falls_back_to_completions_when_there_is_no_chat_route(server):
    server.configure(chat=False)
    model = quick(server.url, concurrency=1)
    replies = model.generate(["a", "b"])
    assert [r.text for r in replies] == ["echo: a", "echo: b"]
    assert [e["route"] for e in server.log()] == ["chat", "completions", "completions"]
    server.reset(chat=False)
    together = quick(server.url, concurrency=4)  # requests in flight together all fall back
    assert [r.text for r in together.generate(list("cdef"))] == [f"echo: {c}" for c in "cdef"]
    assert [e["route"] for e in server.log()].count("completions") == 4
    server.reset(chat=False, completions=False)
    nowhere = quick(server.url, concurrency=1)  # 404 on both routes: stays on chat
    assert all("HTTP 404" in r.error for r in nowhere.generate(["g", "h"]))
    assert [e["route"] for e in server.log()] == ["chat", "completions"] * 2
    server.reset(chat=False)
    chat_only = quick(server.url, api="chat")
    (reply,) = chat_only.generate(["c"])
    assert reply.error.startswith("HTTP 404 from POST ")
    assert "no /v1/chat route" in reply.error


def test_version_change_midway_is_recorded_per_reply(server):
    server.configure(switch_after=3, version="gpt-test-0613", new_version="gpt-test-1106")
    model = quick(server.url, concurrency=1)
    replies = model.generate([f"q{i}" for i in range(6)])
    assert [r.text for r in replies] == [f"echo: q{i}" for i in range(6)]
    assert [r.version for r in replies] == ["gpt-test-0613"] * 3 + ["gpt-test-1106"] * 3
    assert model.probe() == "gpt-test-1106"
    assert model.identity.version is None  # the evaluator sets it from probe()


def test_probe_is_one_cheap_call(server):
    model = quick(server.url)
    assert model.probe() == "fake-model-1"
    (entry,) = server.log()
    assert entry["payload"]["max_tokens"] == 1
    assert "logprobs" not in entry["payload"]
    server.configure(rules={"Hi": {"status": 503}})
    with pytest.raises(EvalError) as err:
        model.probe()
    assert "probe of 'gpt-test'" in str(err.value) and "HTTP 503" in str(err.value)
    assert one_line(str(err.value))
    assert len(server.log()) == 1 + 3  # retried: 1 + retries


# --------------------------------------------------------------------------- robustness
def test_429_is_retried_after_the_retry_after_the_server_asks(server):
    server.configure(fail_first=2, retry_after="0.25")
    model = quick(server.url, backoff=0.001)
    start = time.perf_counter()
    (reply,) = model.generate(["patience"])
    took = time.perf_counter() - start
    assert reply.ok and reply.text == "echo: patience"
    assert [e["status"] for e in server.log()] == [429, 429, 200]
    assert 0.5 <= took < 3  # two waits of 0.25 s, not the 1 ms backoff


def test_a_long_retry_after_is_capped_by_max_wait(server):
    server.configure(rules={"busy": {"status": 503, "times": 1, "retry_after": "30"}})
    model = quick(server.url, max_wait=0.2)
    start = time.perf_counter()
    (reply,) = model.generate(["busy"])
    assert reply.ok
    assert 0.2 <= time.perf_counter() - start < 2


def test_429_without_retry_after_backs_off_and_then_records_the_error(server):
    server.configure(fail_first=100, retry_after=None)
    model = quick(server.url, retries=3, backoff=0.05)
    start = time.perf_counter()
    (reply,) = model.generate(["never"])
    took = time.perf_counter() - start
    assert reply.value is None and reply.text is None
    assert reply.error.startswith("HTTP 429 from POST ") and "after 4 attempts" in reply.error
    assert "rate limited" in reply.error and one_line(reply.error)
    assert len(server.log()) == 4
    # waits of 0.05, 0.1, 0.2 with equal jitter: between half and all of 0.35 s
    assert 0.17 <= took < 2


def test_5xx_is_retried_and_other_4xx_are_not(server):
    server.configure(rules={"flaky": {"status": 502, "times": 2}, "bad": {"status": 400}})
    model = quick(server.url, concurrency=1)
    flaky, bad = model.generate(["flaky", "bad"])
    assert flaky.ok and flaky.text == "echo: flaky"
    assert bad.error.startswith("HTTP 400 from POST ") and "attempts" not in bad.error
    statuses = [(e["prompt"], e["status"]) for e in server.log()]
    assert statuses == [("flaky", 502), ("flaky", 502), ("flaky", 200), ("bad", 400)]


def test_a_timeout_is_retried_then_recorded_as_an_error_quickly(server):
    server.configure(rules={"SLOW": {"delay": 2.0}, "ONCE": {"delay": 2.0, "times": 1}})
    model = quick(server.url, timeout=0.2, retries=1, concurrency=3)
    start = time.perf_counter()
    slow, once, fine = model.generate(["SLOW", "ONCE", "fine"])
    took = time.perf_counter() - start
    assert slow.value is None and slow.text is None
    assert slow.error.startswith("timed out (ReadTimeout, timeout 0.2 s) on POST ")
    assert "after 2 attempts" in slow.error and one_line(slow.error)
    assert once.ok and once.text == "echo: ONCE"
    assert fine.ok
    assert took < 1.8  # did not wait for the server's 2 s
    prompts = [e["prompt"] for e in server.log()]
    assert prompts.count("SLOW") == 2 and prompts.count("ONCE") == 2


def test_an_unreachable_endpoint_is_an_error_per_reply_and_a_failed_probe():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    model = quick(f"http://127.0.0.1:{port}/v1", retries=1)
    replies = model.generate(["a", "b"])
    for reply in replies:
        assert reply.error.startswith("cannot reach POST http://127.0.0.1:")
        assert "ConnectError" in reply.error and "after 2 attempts" in reply.error
    with pytest.raises(EvalError, match="cannot reach"):
        model.probe()
    assert model.loglikelihood([("a", " b")])[0].error.startswith("cannot reach")


@pytest.mark.parametrize("route", ["chat", "completions"])
@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("not-json", "is not JSON: '<html>upstream error</html>'"),
        ("list", "the answer is a JSON list, not an object"),
        ("no-choices", "the answer has no choices"),
        ("empty-choices", "the answer has no choices"),
        ("no-content", "the answer has no choices[0]."),
        ("bad-type", " not text"),
    ],
)
def test_a_malformed_answer_is_an_error_never_a_score(server, route, kind, says):
    server.configure(rules={"weird": {"malformed": kind}})
    model = quick(server.url, api="chat" if route == "chat" else "completions")
    weird, fine = model.generate(["weird prompt", "fine prompt"])
    assert says in weird.error and one_line(weird.error)
    assert weird.text is None and weird.value is None and weird.tokens is None
    assert fine.ok and fine.text == "echo: fine prompt"
    assert sum(e["prompt"] == "weird prompt" for e in server.log()) == 1  # not retried
    if kind == "bad-type":
        chat = route == "chat"
        where = "choices[0].message.content is int" if chat else "choices[0].text is list"
        assert weird.error == f"{where}, not text"


@pytest.mark.slow
def test_concurrency_is_bounded_and_order_kept():
    with fake_openai.FakeOpenAI(process=True, latency=0.08) as fake:
        prompts = [f"item {i}" for i in range(24)]
        model = quick(fake.url, concurrency=4)
        start = time.perf_counter()
        replies = model.generate(prompts)
        took = time.perf_counter() - start
        assert [r.text for r in replies] == [f"echo: {p}" for p in prompts]
        stats = fake.stats()
        assert stats["calls"] == 24
        assert stats["max_in_flight"] == 4
        assert took < 24 * 0.08 * 0.75  # well under the sequential 1.9 s
        fake.reset(latency=0.03)
        model1 = quick(fake.url, concurrency=1)
        assert [r.text for r in model1.generate(prompts[:6])] == [f"echo: {p}" for p in prompts[:6]]
        assert fake.stats()["max_in_flight"] == 1
        model.close()
        model1.close()


# ------------------------------------------------------------------------- log-likelihood
PAIRS = [
    ("Question: What is 2+2?\nAnswer:", " 4"),
    ("Question: What is 2+2?\nAnswer:", " five"),
    ("The cat sat on the", " mat and slept"),
    ("질문: 수도는 어디입니까?\n답:", " 서울"),
    ("ends with a space ", "word"),  # the server's token " word" straddles the boundary
]


def test_loglikelihood_is_the_sum_over_the_continuation_tokens(server):
    model = quick(server.url, concurrency=2)
    replies = model.loglikelihood(PAIRS)
    assert all(r.ok for r in replies), [r.error for r in replies]
    for (context, continuation), reply in zip(PAIRS, replies, strict=True):
        value, greedy, count = expected_score(context, continuation)
        assert reply.value == pytest.approx(value, abs=1e-9)
        assert reply.greedy is greedy
        assert reply.tokens == count
        assert reply.version == "fake-model-1"
    assert {r.greedy for r in replies} == {True, False}  # both cases happen in these pairs
    body = server.log()[0]["payload"]
    assert body["echo"] is True and body["max_tokens"] == 0 and body["logprobs"] == 1
    assert body["prompt"] == PAIRS[0][0] + PAIRS[0][1]


def test_a_token_straddling_the_boundary_is_scored_with_the_continuation(server):
    model = quick(server.url)
    # the server's tokens of "Answer: B" are "Answer:" and " B"; the context ends after the
    # space, so " B" starts one character before the continuation and is the only token on it
    (reply,) = model.loglikelihood([("Answer: ", "B")])
    assert reply.tokens == 1
    assert reply.value == pytest.approx(fake_openai.token_logprob("Answer:", " B"), abs=1e-9)


def test_loglikelihood_when_max_tokens_0_is_refused_uses_1_and_ignores_the_extra_token(server):
    server.configure(min_max_tokens=1)
    model = quick(server.url)
    replies = model.loglikelihood(PAIRS[:3])
    for (context, continuation), reply in zip(PAIRS[:3], replies, strict=True):
        assert reply.value == pytest.approx(expected_score(context, continuation)[0], abs=1e-9)
    assert [e["payload"]["max_tokens"] for e in server.log()] == [0, 1, 1, 1]


@pytest.mark.parametrize(
    ("behaviour", "says"),
    [
        ({"prompt_logprobs": False}, "generated tokens only"),
        ({"completions": False}, "no /completions route"),
    ],
)
def test_loglikelihood_not_served_is_not_supported_after_one_call(server, behaviour, says):
    server.configure(**behaviour)
    model = quick(server.url)
    with pytest.raises(NotSupported) as err:
        model.loglikelihood(PAIRS)
    assert says in str(err.value) and "use the generation mode" in str(err.value)
    assert one_line(str(err.value))
    assert len(server.log()) == 1
    assert model.supports_loglikelihood is False
    with pytest.raises(NotSupported):
        model.loglikelihood(PAIRS)
    assert len(server.log()) == 1


def test_loglikelihood_with_the_chat_api_is_not_supported_without_a_call(server):
    model = quick(server.url, api="chat")
    with pytest.raises(NotSupported, match="api='chat'"):
        model.loglikelihood(PAIRS)
    assert server.log() == []


def test_loglikelihood_bad_requests_and_answers_are_errors_per_item(server):
    server.configure(rules={"garbled": {"malformed": "bad-logprobs"}})
    model = quick(server.url, concurrency=1)
    replies = model.loglikelihood(
        [
            ("fine context", " ok"),
            ("", "starts the prompt"),
            ("context", ""),
            ("garbled", " text"),
            ("lonely",),
            (3, " x"),
        ]
    )
    assert replies[0].ok
    assert "give a non-empty context" in replies[1].error
    assert replies[2].error == "the continuation is empty: nothing to score"
    assert "token_logprobs holds something not a number" in replies[3].error
    assert replies[4].error == "a log-likelihood request is a (context, continuation) pair"
    assert replies[5].error == "context and continuation must both be text"
    assert all(r.value is None for r in replies[1:])
    assert model.loglikelihood([]) == []


# ---------------------------------------------------------------------------------- the key
def test_the_key_is_sent_but_never_recorded(server, monkeypatch):
    monkeypatch.setenv("NB_TEST_KEY", KEY)
    server.configure(
        rules={
            "DENIED": {"status": 401},  # the server echoes the Authorization header back
            "BROKEN": {"malformed": "not-json"},
            "SLOW": {"delay": 1.0},
        }
    )
    model = quick(server.url, timeout=0.2, retries=1)
    replies = model.generate(["fine", "DENIED", "BROKEN", "SLOW"])
    replies += model.loglikelihood([("ctx", " ok"), ("DENIED", " x"), ("BROKEN", " y")])
    assert replies[0].ok and replies[4].ok
    assert "Incorrect API key provided" in replies[1].error
    assert "[REDACTED]" in replies[1].error
    server.configure(rules={"Hi": {"status": 401}})
    with pytest.raises(EvalError) as probe_err:
        model.probe()
    assert {e["auth"] for e in server.log()} == {f"Bearer {KEY}"}  # it did reach the server
    recorded = [
        json.dumps(model.identity.to_dict()),
        repr(model),
        str(model),
        repr(vars(model)),
        str(probe_err.value),
        repr(probe_err.value.args),
        *(json.dumps(r.to_dict(), ensure_ascii=False) for r in replies),
        *(repr(r) for r in replies),
    ]
    for text in recorded:
        assert KEY not in text
        assert KEY[3:15] not in text  # not even a piece of it


def test_no_key_in_the_environment_sends_no_authorization(server, monkeypatch):
    monkeypatch.delenv("NB_TEST_KEY", raising=False)
    model = quick(server.url)
    assert model.generate(["x"])[0].ok
    assert server.log()[0]["auth"] is None
    monkeypatch.setenv("AZURE_KEY", KEY)
    azure = quick(server.url, key_env="AZURE_KEY", key_header="api-key")
    assert azure.generate(["y"])[0].ok
    assert server.log()[1]["auth"] is None  # sent as api-key, not as Authorization
    assert server.log()[1]["api_key"] == KEY


def test_replies_are_reply_objects_with_one_line_errors(server):
    server.configure(rules={"x": {"status": 500}})
    model = quick(server.url, retries=0)
    (reply,) = model.generate(["x"])
    assert isinstance(reply, Reply) and not reply.ok
    assert reply.error == f"HTTP 500 from POST {server.url}/chat/completions: refused with 500"
