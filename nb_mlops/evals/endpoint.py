"""An OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, TGI, ...) as an `Adapter`.

`EndpointModel(base_url, model)` asks `POST {base_url}/chat/completions` or `/completions`, one
request per prompt, through a bounded pool of threads (answers keep the order of the requests).
Each `Reply` carries the `model` field of its own response: an endpoint can serve another version
than the one named, and can change it between two calls.

Robustness: a timeout per request, retries with exponential backoff and jitter on 429, 5xx,
connection errors and timeouts (a `Retry-After` header is honoured), no retry on other 4xx, and
a malformed answer (not JSON, no choices, a number where text belongs) becomes `Reply(error=...)`,
never a score. One bad request never raises.

The key is read from the environment variable `key_env` at each call and sent as a header; it is
never kept on the object, and it is cut out of every error text. A base URL that carries a user
name or password is refused (the key belongs in the environment); its query string is sent with
every call (e.g. Azure's `api-version`) but kept out of the identity and of error texts.

Log-likelihoods use the completions endpoint with `echo=true, logprobs=1, max_tokens=0` on the
prompt context + continuation (`max_tokens=1` for servers that refuse 0): the endpoint returns
the log-prob of every prompt token with its character offset (`text_offset`), and the
continuation's value is the sum over the tokens from the one that starts (or straddles) the
continuation's first character to the end of the prompt; `greedy` compares each with the best
of its `top_logprobs`.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from nb_mlops.evals.model import Adapter, EvalError, ModelIdentity, NotSupported, Reply
from nb_mlops.redact import REDACTED, redact_mapping, redact_text

__all__ = ["APIS", "EndpointModel"]

APIS = ("chat", "completions", "auto")
"""`chat`: generate through /chat/completions only (no log-likelihoods); `completions`: everything
through /completions; `auto`: generate through /chat/completions (falling back to /completions
when the endpoint has no chat route), log-likelihoods through /completions."""

RESERVED = frozenset({"model", "messages", "prompt", "stream", "n", "echo"})
"""Request fields the adapter sets itself; a generate option may not change them."""

RETRY_STATUSES = frozenset({408, 409, 425, 429})
"""Besides every 5xx: statuses a later attempt can cure (rate limits, conflicts, too early)."""

_SNIPPET = 160


@dataclass
class _Answer:
    """What one POST gave after its retries: the parsed JSON, or an error and the last status."""

    data: Any = None
    error: str | None = None
    status: int | None = None


class EndpointModel(Adapter):
    """A model behind an OpenAI-compatible HTTP endpoint, asked with bounded concurrency.

    `base_url` is the API root (`https://api.openai.com/v1`, `http://127.0.0.1:8000/v1`);
    `model` the name to request. Decoding settings (`max_tokens`, `temperature`, `top_p`, `stop`,
    `seed`, `system` for chat, `extra_body` for server-specific fields) are the identity's
    settings; `generate(prompts, **options)` overrides them per call. `timeout` is httpx's per
    operation timeout in seconds, `retries` the attempts after the first, `backoff` the first
    wait (doubled each retry, with jitter, capped at `max_wait`, as is a `Retry-After`).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api: str = "auto",
        key_env: str | None = "OPENAI_API_KEY",
        key_header: str = "Authorization",
        timeout: float = 60.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_wait: float = 60.0,
        concurrency: int = 8,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        system: str | None = None,
        logprobs: bool = True,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        if api not in APIS:
            raise EvalError(f"endpoint api {api!r}: use one of {', '.join(APIS)}")
        if not isinstance(model, str) or not model.strip():
            raise EvalError("endpoint model: give the model name to request (e.g. gpt-4o-mini)")
        clean, self._query = _split_base(base_url)
        _check_numbers(
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            concurrency=concurrency,
            max_wait=max_wait,
        )
        self.base_url = clean
        self.model = model.strip()
        self.api = api
        self.key_env = key_env or None
        self.key_header = key_header
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_wait = float(max_wait)
        self.concurrency = int(concurrency)
        self.logprobs = bool(logprobs)
        decoding: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
        for name, value in (("top_p", top_p), ("stop", stop), ("seed", seed)):
            if value is not None:
                decoding[name] = (
                    list(value) if name == "stop" and not isinstance(value, str) else value
                )
        extra = dict(extra_body or {})
        _json_ready({**decoding, **extra}, "endpoint settings")
        self._decoding = {**decoding, **extra}
        self._system = system
        settings = {"api": api, **decoding, **redact_mapping(extra)}
        if system is not None:
            settings["system"] = system
        self.identity = ModelIdentity(
            provider="openai", name=self.model, endpoint=clean, settings=settings
        )
        self.supports_loglikelihood = api != "chat"
        self._generate_route = "completions" if api == "completions" else "chat"
        self._ll_checked = False
        self._echo_max_tokens = 0
        self._client: Any = None
        self._lock = threading.Lock()
        self._random = random.Random()

    def __repr__(self) -> str:
        return f"EndpointModel({self.base_url!r}, {self.model!r}, api={self.api!r})"

    # ------------------------------------------------------------------------------ public
    def generate(self, prompts: Sequence[str], **options: Any) -> list[Reply]:
        """One Reply per prompt, in order: the text, the reported version, and when the endpoint
        returned log-probs, their sum over the generated tokens (`value`) and their count."""
        options = dict(options)
        if "max_new_tokens" in options:  # the evaluator's (and transformers') name for it
            options.setdefault("max_tokens", options["max_new_tokens"])
            del options["max_new_tokens"]
        _json_ready(options, "generate options")
        taken = sorted(RESERVED & set(options))
        if taken:
            raise EvalError(
                f"generate option {taken[0]!r}: set by the adapter (one prompt, one answer, "
                "no streaming); leave it out"
            )
        return self._map(lambda p: self._generate_one(p, options), list(prompts))

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[Reply]:
        """The log-likelihood of each continuation after its context, from the prompt log-probs
        the completions endpoint echoes; NotSupported when the endpoint gives none."""
        if not self.supports_loglikelihood:
            raise NotSupported(self._no_loglikelihood("api='chat' asks only /chat/completions"))
        pairs = list(requests)
        if not pairs:
            return []
        out: list[Reply | None] = [None] * len(pairs)
        start = 0
        if not self._ll_checked:
            # The first request alone: an endpoint that cannot echo prompt log-probs is told
            # apart before a thousand calls are spent on it.
            first = self._safely(self._loglikelihood_one, pairs[0])
            if isinstance(first, str):
                self.supports_loglikelihood = False
                raise NotSupported(self._no_loglikelihood(first))
            out[0] = first
            start = 1
            if first.ok:
                self._ll_checked = True
        rest = self._map(self._ll_reply, pairs[start:])
        out[start:] = rest
        return [r if r is not None else Reply(error="no answer") for r in out]

    def probe(self) -> str | None:
        """One cheap call (a 1-token generation): the version the endpoint reports now."""
        payload = {"max_tokens": 1, "temperature": 0}
        if self._generate_route == "chat":
            payload["messages"] = [{"role": "user", "content": "Hi"}]
        else:
            payload["prompt"] = "Hi"
        answer, route = self._ask_generate(payload)
        if answer.error is None:
            reply = self._parse_generation(answer.data, route)
            if reply.ok:
                return reply.version
            error = reply.error
        else:
            error = answer.error
        raise EvalError(f"probe of {self.model!r} at {self.base_url} failed: {error}")

    def close(self) -> None:
        """Close the HTTP connections (a later call opens new ones)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # ---------------------------------------------------------------------------- generate
    def _generate_one(self, prompt: Any, options: Mapping[str, Any]) -> Reply:
        if not isinstance(prompt, str):
            return Reply(error=f"the prompt is {type(prompt).__name__}, not text")
        payload: dict[str, Any] = {**self._decoding, **options}
        if self.logprobs and "logprobs" not in options:
            payload["logprobs"] = True
        if self._generate_route == "chat":
            messages = [{"role": "user", "content": prompt}]
            if self._system is not None:
                messages.insert(0, {"role": "system", "content": self._system})
            payload["messages"] = messages
        else:
            payload["prompt"] = prompt
        answer, route = self._ask_generate(payload)
        if answer.error is not None:
            return Reply(error=answer.error)
        return self._parse_generation(answer.data, route)

    def _ask_generate(self, payload: dict[str, Any]) -> tuple[_Answer, str]:
        """POST to the generation route, and the route used; in `auto`, a 404 on
        /chat/completions switches to /completions for this and every later call."""
        route = self._generate_route
        answer = self._post(route, self._shaped(payload, route))
        if answer.status == 404 and route == "chat" and self.api == "auto":
            other = self._post("completions", self._shaped(payload, "completions"))
            if other.status != 404:  # a 404 on both routes (an unknown model) changes nothing
                self._generate_route = "completions"
                return other, "completions"
        return answer, route

    def _shaped(self, payload: Mapping[str, Any], route: str) -> dict[str, Any]:
        """The payload in the route's own form: messages or prompt, logprobs as bool or count."""
        body = {**payload, "model": self.model}
        if route == "chat":
            if "messages" not in body:
                body["messages"] = [{"role": "user", "content": body.pop("prompt", "")}]
            body.pop("prompt", None)
        else:
            if "prompt" not in body:
                messages = body.get("messages") or [{}]
                body["prompt"] = messages[-1].get("content", "")
            body.pop("messages", None)
            if body.get("logprobs") is True:
                body["logprobs"] = 1
            elif body.get("logprobs") is False:
                body.pop("logprobs")
        return body

    def _parse_generation(self, data: Any, route: str) -> Reply:
        choice, problem = _first_choice(data)
        if problem:
            return Reply(error=problem)
        version = _version(data)
        if route == "chat":
            message = choice.get("message")
            if not isinstance(message, dict):
                return Reply(error="choices[0] has no message object")
            text = message.get("content")
            where = "choices[0].message.content"
        else:
            text = choice.get("text")
            where = "choices[0].text"
        if text is None:
            return Reply(error=f"the answer has no {where}")
        if not isinstance(text, str):
            return Reply(error=f"{where} is {type(text).__name__}, not text")
        total, count = _generated_logprobs(choice.get("logprobs"), route)
        return Reply(text=text, value=total, tokens=count, version=version)

    # ---------------------------------------------------------------------- log-likelihood
    def _ll_reply(self, pair: Any) -> Reply:
        result = self._loglikelihood_one(pair)
        if isinstance(result, str):
            return Reply(error=result)
        return result

    def _loglikelihood_one(self, pair: Any) -> Reply | str:
        """A Reply, or a text saying the endpoint cannot give prompt log-probs at all."""
        try:
            context, continuation = pair
        except (TypeError, ValueError):
            return Reply(error="a log-likelihood request is a (context, continuation) pair")
        if not isinstance(context, str) or not isinstance(continuation, str):
            return Reply(error="context and continuation must both be text")
        if not continuation:
            return Reply(error="the continuation is empty: nothing to score")
        payload = {
            "model": self.model,
            "prompt": context + continuation,
            "max_tokens": self._echo_max_tokens,
            "temperature": 0,
            "echo": True,
            "logprobs": 1,
        }
        answer = self._post("completions", payload)
        if (
            answer.status == 400
            and payload["max_tokens"] == 0
            and "max_tokens" in str(answer.error)
        ):
            # Servers that refuse max_tokens=0 generate one token; its offset lies past the
            # prompt, so it is not scored.
            self._echo_max_tokens = payload["max_tokens"] = 1
            answer = self._post("completions", payload)
        if answer.error is not None:
            if answer.status == 404:
                return f"it has no /completions route ({answer.error})"
            if answer.status == 400 and ("echo" in answer.error or "logprob" in answer.error):
                return f"it refuses echo with logprobs ({answer.error})"
            return Reply(error=answer.error)
        choice, problem = _first_choice(answer.data)
        if problem:
            return Reply(error=problem)
        start = len(context)
        scored = _continuation_score(choice.get("logprobs"), start, start + len(continuation))
        if isinstance(scored, Reply) and scored.ok:
            scored.version = _version(answer.data)
        return scored

    def _no_loglikelihood(self, why: str) -> str:
        return (
            f"{self.identity.label} at {self.base_url} gives no prompt log-probs: {why}; "
            "use the generation mode (the answer is parsed for a letter)"
        )

    # ------------------------------------------------------------------------------- HTTP
    def _safely(self, fn: Callable[[Any], Any], item: Any) -> Any:
        """fn(item), or a Reply with the error when it raised (a bug or an odd answer is that
        request's error, never a raise out of the batch)."""
        try:
            return fn(item)
        except Exception as exc:
            return Reply(error=self._scrub(f"{type(exc).__name__}: {exc}"))

    def _map(self, fn: Callable[[Any], Reply], items: list[Any]) -> list[Reply]:
        """fn over items with at most `concurrency` in flight; answers in the items' order."""
        if self.concurrency == 1 or len(items) <= 1:
            return [self._safely(fn, item) for item in items]
        workers = min(self.concurrency, len(items))
        with ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="nb-mlops-endpoint"
        ) as pool:
            return list(pool.map(lambda item: self._safely(fn, item), items))

    def _http(self) -> Any:
        with self._lock:
            if self._client is None:
                import httpx

                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout),
                    limits=httpx.Limits(
                        max_connections=self.concurrency,
                        max_keepalive_connections=self.concurrency,
                    ),
                )
            return self._client

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.key_env) if self.key_env else None
        if key:
            is_auth = self.key_header.lower() == "authorization"
            headers[self.key_header] = f"Bearer {key}" if is_auth else key
        return headers

    def _post(self, route: str, payload: Mapping[str, Any]) -> _Answer:
        """POST the payload to `{base}/{route}` with retries; never raises."""
        import httpx

        url = f"{self.base_url}/{'chat/completions' if route == 'chat' else 'completions'}"
        shown = f"POST {url}"
        if self._query:
            url = f"{url}?{self._query}"
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        attempts = self.retries + 1
        for attempt in range(attempts):
            wait: float | None = None
            last = attempt == attempts - 1
            tries = f" after {attempt + 1} attempts" if attempt else ""
            try:
                response = self._http().post(url, content=body, headers=self._headers())
            except httpx.TimeoutException as exc:
                error = f"timed out ({type(exc).__name__}, timeout {self.timeout:g} s) on {shown}"
                status = None
            except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
                error = f"cannot reach {shown} ({type(exc).__name__}: {_one_line(str(exc))})"
                status = None
            except Exception as exc:  # an invalid URL, a protocol error: no retry cures these
                return _Answer(error=self._scrub(f"{shown} failed: {type(exc).__name__}: {exc}"))
            else:
                status = response.status_code
                if 200 <= status < 300:
                    try:
                        return _Answer(data=response.json(), status=status)
                    except ValueError:
                        snippet = _one_line(response.text)[:_SNIPPET]
                        return _Answer(
                            error=self._scrub(f"the answer of {shown} is not JSON: {snippet!r}"),
                            status=status,
                        )
                reason = _reason(response)
                error = f"HTTP {status} from {shown}" + (f": {reason}" if reason else "")
                if not (status >= 500 or status in RETRY_STATUSES):
                    return _Answer(error=self._scrub(error + tries), status=status)
                wait = _retry_after(response.headers)
            if last:
                return _Answer(error=self._scrub(error + tries), status=status)
            time.sleep(self._wait(attempt, wait))
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before the next attempt: the server's Retry-After when it gave one, else
        backoff * 2**attempt with equal jitter (half fixed, half random), both capped."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_wait)
        base = min(self.backoff * 2**attempt, self.max_wait)
        return base / 2 + self._random.uniform(0, base / 2)

    def _scrub(self, text: str) -> str:
        """An error text fit to record: one line, the key (and other secret shapes) cut out."""
        text = _one_line(text)
        key = os.environ.get(self.key_env) if self.key_env else None
        if key:
            text = text.replace(key, REDACTED)
        return redact_text(text)


# -------------------------------------------------------------------------- helpers (pure)
def _split_base(base_url: Any) -> tuple[str, str]:
    """(the clean URL: identity, messages and the root to post to; the query to send)."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise EvalError("endpoint base URL: give one, e.g. http://127.0.0.1:8000/v1")
    raw = base_url.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise EvalError("endpoint base URL: not a valid URL (bad host or port)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EvalError(
            f"endpoint base URL {_shown_url(parts)!r}: use http:// or https:// with a host, "
            "e.g. http://127.0.0.1:8000/v1"
        )
    if parts.username is not None or parts.password is not None:
        raise EvalError(
            f"endpoint base URL {_shown_url(parts)!r} holds a user name or password: take it out "
            "and put the key in the environment variable named by key_env"
        )
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host + (f":{port}" if port is not None else "")
    path = parts.path.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    clean = urlunsplit((parts.scheme, netloc, path, "", ""))
    return clean, parts.query


def _shown_url(parts: Any) -> str:
    """A URL for an error message: scheme, host and path only (no credentials, no query)."""
    host = parts.hostname or ""
    return urlunsplit((parts.scheme, host, parts.path, "", "")) or "?"


def _check_numbers(**values: float) -> None:
    for name, value in values.items():
        wrong = not isinstance(value, int | float) or isinstance(value, bool) or value != value
        if wrong or value < 0 or (name in ("timeout", "concurrency") and value <= 0):
            raise EvalError(f"endpoint {name} {value!r}: give a positive number")
    if int(values["concurrency"]) != values["concurrency"]:
        raise EvalError(f"endpoint concurrency {values['concurrency']!r}: give a whole number")


def _json_ready(values: Mapping[str, Any], what: str) -> None:
    try:
        json.dumps(dict(values))
    except (TypeError, ValueError) as exc:
        raise EvalError(f"{what}: not JSON-serializable ({_one_line(str(exc))})") from None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _reason(response: Any) -> str:
    """The server's own words for an error status: its JSON error message or its text."""
    try:
        data = response.json()
    except ValueError:
        return _one_line(response.text)[:_SNIPPET]
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if isinstance(err, str):
            return _one_line(err)[:_SNIPPET]
    return _one_line(json.dumps(data, ensure_ascii=False))[:_SNIPPET]


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked to wait: `retry-after-ms`, or `Retry-After` in seconds or as
    an HTTP date; None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


def _first_choice(data: Any) -> tuple[dict[str, Any], str | None]:
    if not isinstance(data, dict):
        return {}, f"the answer is a JSON {type(data).__name__}, not an object"
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        return {}, "the answer has no choices"
    if not isinstance(choices[0], dict):
        return {}, f"choices[0] is {type(choices[0]).__name__}, not an object"
    return choices[0], None


def _version(data: Mapping[str, Any]) -> str | None:
    version = data.get("model")
    return version if isinstance(version, str) and version else None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _generated_logprobs(logprobs: Any, route: str) -> tuple[float | None, int | None]:
    """Sum and count of the generated tokens' log-probs; (None, None) when absent or unreadable
    (log-probs are an extra to a generation: their absence does not fail the text)."""
    if not isinstance(logprobs, dict):
        return None, None
    if route == "chat":
        content = logprobs.get("content")
        if not isinstance(content, list):
            return None, None
        values = [t.get("logprob") if isinstance(t, dict) else None for t in content]
    else:
        values = logprobs.get("token_logprobs")
        if not isinstance(values, list):
            return None, None
    if not all(_number(v) for v in values):
        return None, None
    return float(sum(values)), len(values)


def _continuation_score(logprobs: Any, start: int, end: int) -> Reply | str:
    """The Reply for the characters [start, end) of an echoed prompt, from its token log-probs
    and character offsets; a text when the answer holds no prompt log-probs at all.

    The tokens scored are those beginning inside [start, end), plus the token that straddles
    `start` when the endpoint's tokenizer joined the context's last characters to the
    continuation's first ones (its log-prob is the only one covering those characters).
    """
    if logprobs is None:
        return "the answer holds no logprobs (echo with logprobs is not served)"
    if not isinstance(logprobs, dict):
        return Reply(error=f"choices[0].logprobs is {type(logprobs).__name__}, not an object")
    tokens = logprobs.get("tokens")
    values = logprobs.get("token_logprobs")
    offsets = logprobs.get("text_offset")
    tops = logprobs.get("top_logprobs")
    for name, seq in (("tokens", tokens), ("token_logprobs", values), ("text_offset", offsets)):
        if not isinstance(seq, list):
            return Reply(error=f"choices[0].logprobs.{name} is missing or not a list")
    if not (len(tokens) == len(values) == len(offsets)):
        return Reply(error="choices[0].logprobs lists differ in length")
    if not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets):
        return Reply(error="choices[0].logprobs.text_offset holds something not an integer")
    in_prompt = [i for i, o in enumerate(offsets) if o < end]
    if not in_prompt:
        return "the answer has log-probs for generated tokens only, none for the prompt"
    chosen = [i for i in in_prompt if offsets[i] >= start]
    before = [i for i in in_prompt if offsets[i] < start]
    if before:
        j = before[-1]
        token = tokens[j]
        if isinstance(token, str) and offsets[j] + len(token) > start:
            chosen.insert(0, j)
    if not chosen:
        return Reply(error=f"no token of the echoed prompt begins at or after character {start}")
    picked = [values[i] for i in chosen]
    if picked[0] is None and chosen[0] == 0:
        return Reply(
            error="the continuation starts the prompt, whose first token has no log-prob; "
            "give a non-empty context"
        )
    if not all(_number(v) for v in picked):
        return Reply(error="choices[0].logprobs.token_logprobs holds something not a number")
    greedy = _greedy(picked, tops, chosen)
    return Reply(value=float(sum(picked)), greedy=greedy, tokens=len(chosen))


def _greedy(values: list[float], tops: Any, index: list[int]) -> bool | None:
    """Whether every scored token was the endpoint's most likely one (None without top_logprobs)."""
    if not isinstance(tops, list) or len(tops) <= max(index):
        return None
    for value, i in zip(values, index, strict=True):
        top = tops[i]
        if not isinstance(top, dict) or not top:
            return None
        numbers = [v for v in top.values() if _number(v)]
        if not numbers:
            return None
        if value < max(numbers) - 1e-9:
            return False
    return True
