"""A small OpenAI-compatible HTTP server on 127.0.0.1 for the endpoint adapter's tests and bench.

It serves `POST /v1/chat/completions` and `POST /v1/completions` (with `echo` and `logprobs`)
with deterministic answers, and behaves as told: the reported model version changes after N
answers, the first K calls get a 429 with Retry-After, prompts matching a rule are delayed, refused
with a status or answered with a malformed body, every request can take a fixed latency. Every
request is logged (path, Authorization header, prompt, status, start and end times) and the
largest number of requests in flight is counted.

Tokens are words with their leading whitespace (`"Answer: B"` -> `"Answer:"`, `" B"`); a token's
log-prob is derived from a hash of it and the token before it (`token_logprob`), and whether it
was the most likely one from another bit of that hash (`is_top`), so a test can compute what the
server answers on its own.

Used in process (`FakeOpenAI().start()`, a thread) or as a subprocess (`FakeOpenAI(process=True)`,
so the client's threads and the server's do not share one GIL); either way the test talks to it
over HTTP (`configure`, `log`, `stats`, `reset`). `python fake_openai.py [--port N]` serves until
killed and prints `PORT <n>` once it listens.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_TOKEN = re.compile(r"\s*\S+|\s+")
ALT_TOKEN = " <alt>"
"""The token `top_logprobs` names as most likely where the real token was not (`is_top` false)."""

DEFAULTS: dict[str, Any] = {
    "version": "fake-model-1",
    "new_version": "fake-model-2",
    "switch_after": None,  # answers after which `new_version` is reported
    "fail_first": 0,  # the first K API calls get `fail_status`
    "fail_status": 429,
    "retry_after": "0",  # header sent with fail_status (None: no header)
    "latency": 0.0,  # seconds every API call takes
    "rules": {},  # prompt substring -> {delay, status, malformed, retry_after, times}
    "answers": {},  # prompt -> answer text (default: "echo: " + prompt)
    "chat": True,  # False: /v1/chat/completions answers 404
    "completions": True,
    "prompt_logprobs": True,  # False: echo is ignored (no log-probs for the prompt)
    "min_max_tokens": 0,  # a max_tokens below this gets a 400
}


def tokenize(text: str) -> list[str]:
    """The server's tokens: runs of non-space with the whitespace before them."""
    return _TOKEN.findall(text)


def offsets(tokens: list[str]) -> list[int]:
    """Each token's character offset in the joined text."""
    out, at = [], 0
    for token in tokens:
        out.append(at)
        at += len(token)
    return out


def _digest(prev: str, token: str) -> bytes:
    return hashlib.sha256(f"{prev}\x1f{token}".encode()).digest()


def token_logprob(prev: str, token: str) -> float:
    """The log-prob the server gives `token` after `prev`, in [-8.05, -0.05]."""
    h = _digest(prev, token)
    return -round(0.05 + int.from_bytes(h[:4], "big") / 2**32 * 8, 6)


def is_top(prev: str, token: str) -> bool:
    """Whether `token` is the server's most likely token after `prev` (two times in three)."""
    return _digest(prev, token)[4] % 3 != 0


def top_entry(prev: str, token: str) -> dict[str, float]:
    """`top_logprobs` for one position: the most likely token (and the real one)."""
    lp = token_logprob(prev, token)
    if is_top(prev, token):
        return {token: lp}
    return {ALT_TOKEN: round(lp + 0.25, 6), token: lp}


# --------------------------------------------------------------------------------- server
class _State:
    def __init__(self, behaviour: dict[str, Any]) -> None:
        self.lock = threading.Lock()
        self.behaviour = {**copy.deepcopy(DEFAULTS), **behaviour}
        self.reset()

    def reset(self) -> None:
        self.calls = 0
        self.answered = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.log: list[dict[str, Any]] = []
        self.rule_hits: dict[str, int] = {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    state: _State


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # ------------------------------------------------------------------------- plumbing
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes | str | dict, headers: dict | None = None) -> None:
        raw = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else b""
        if isinstance(body, dict):
            raw = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout): nothing to tell it

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/_control/log":
            with state.lock:
                self._send(200, {"log": list(state.log)})
        elif self.path == "/_control/stats":
            with state.lock:
                self._send(
                    200,
                    {
                        "calls": state.calls,
                        "answered": state.answered,
                        "in_flight": state.in_flight,
                        "max_in_flight": state.max_in_flight,
                    },
                )
        else:
            self._send(404, {"error": {"message": f"no route GET {self.path}"}})

    def do_POST(self) -> None:
        state = self.server.state
        body = self._body()
        if self.path == "/_control/configure":
            with state.lock:
                state.behaviour.update(json.loads(body or b"{}"))
            self._send(200, {"ok": True})
            return
        if self.path == "/_control/reset":
            with state.lock:
                state.reset()
                state.behaviour = copy.deepcopy(DEFAULTS)
                state.behaviour.update(json.loads(body or b"{}"))
            self._send(200, {"ok": True})
            return
        route = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}.get(self.path)
        if route is None:
            self._send(404, {"error": {"message": f"no route POST {self.path}"}})
            return
        self._api(state, route, body)

    # ------------------------------------------------------------------------------ API
    def _api(self, state: _State, route: str, body: bytes) -> None:
        with state.lock:
            n = state.calls
            state.calls += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            b = copy.deepcopy(state.behaviour)
            entry: dict[str, Any] = {
                "n": n,
                "route": route,
                "auth": self.headers.get("Authorization"),
                "api_key": self.headers.get("api-key"),
                "start": time.time(),
            }
            state.log.append(entry)
        status = 500
        try:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            prompt = _prompt(payload, route)
            entry["prompt"] = prompt
            entry["payload"] = payload
            if b["latency"]:
                time.sleep(b["latency"])
            status = self._answer(state, b, route, n, payload, prompt)
        finally:
            with state.lock:
                state.in_flight -= 1
                entry["status"] = status
                entry["end"] = time.time()

    def _answer(
        self, state: _State, b: dict, route: str, n: int, payload: Any, prompt: str | None
    ) -> int:
        if not b[route]:
            self._send(404, {"error": {"message": f"this server has no /v1/{route} route"}})
            return 404
        if n < b["fail_first"]:
            headers = {"Retry-After": b["retry_after"]} if b["retry_after"] is not None else {}
            self._send(b["fail_status"], {"error": {"message": "rate limited"}}, headers)
            return b["fail_status"]
        if not isinstance(payload, dict) or prompt is None:
            self._send(400, {"error": {"message": "the body is not a request this server reads"}})
            return 400
        rule = self._rule(state, b, prompt)
        if rule.get("delay"):
            time.sleep(rule["delay"])
        if rule.get("status"):
            code = int(rule["status"])
            message = f"refused with {code}"
            if code == 401:  # as some servers do: the credential echoed back in the error
                message = f"Incorrect API key provided: {self.headers.get('Authorization')}"
            headers = {"Retry-After": str(rule["retry_after"])} if "retry_after" in rule else {}
            self._send(code, {"error": {"message": message}}, headers)
            return code
        max_tokens = payload.get("max_tokens", 16)
        if isinstance(max_tokens, int) and max_tokens < b["min_max_tokens"]:
            message = f"max_tokens must be at least {b['min_max_tokens']}"
            self._send(400, {"error": {"message": message}})
            return 400
        with state.lock:
            switched = b["switch_after"] is not None and state.answered >= b["switch_after"]
            state.answered += 1
        version = b["new_version"] if switched else b["version"]
        answer = b["answers"].get(prompt, f"echo: {prompt}")
        answer = "".join(tokenize(answer)[: max(int(max_tokens or 0), 0)])
        if rule.get("malformed"):
            self._send(200, _malformed(rule["malformed"], route, version, prompt))
            return 200
        if route == "chat":
            doc = _chat(payload, answer, version)
        else:
            doc = _completion(payload, prompt, answer, version, b["prompt_logprobs"])
        self._send(200, doc)
        return 200

    @staticmethod
    def _rule(state: _State, b: dict, prompt: str) -> dict[str, Any]:
        for key, rule in b["rules"].items():
            if key in prompt:
                with state.lock:
                    hits = state.rule_hits.get(key, 0)
                    state.rule_hits[key] = hits + 1
                times = rule.get("times")
                if times is None or hits < times:
                    return rule
        return {}


def _prompt(payload: Any, route: str) -> str | None:
    if not isinstance(payload, dict):
        return None
    if route == "chat":
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
            return None
        content = messages[-1].get("content")
        return content if isinstance(content, str) else None
    prompt = payload.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    return prompt if isinstance(prompt, str) else None


def _chat(payload: dict, answer: str, version: str) -> dict[str, Any]:
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": answer},
        "finish_reason": "stop",
    }
    if payload.get("logprobs"):
        content, prev = [], ""
        for token in tokenize(answer):
            lp = token_logprob(prev, token)
            content.append({"token": token, "logprob": lp, "top_logprobs": []})
            prev = token
        choice["logprobs"] = {"content": content}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": version,
        "choices": [choice],
    }


def _completion(
    payload: dict, prompt: str, answer: str, version: str, prompt_logprobs: bool
) -> dict[str, Any]:
    echo = bool(payload.get("echo")) and prompt_logprobs
    text = (prompt if echo else "") + answer
    choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "length"}
    if payload.get("logprobs") is not None and payload.get("logprobs") is not False:
        prompt_tokens = tokenize(prompt) if echo else []
        tokens = prompt_tokens + tokenize(answer)
        values: list[float | None] = []
        tops: list[dict[str, float] | None] = []
        prev = tokenize(prompt)[-1] if (prompt and not echo) else ""
        for i, token in enumerate(tokens):
            if echo and i == 0:
                values.append(None)
                tops.append(None)
            else:
                values.append(token_logprob(prev, token))
                tops.append(top_entry(prev, token))
            prev = token
        choice["logprobs"] = {
            "tokens": tokens,
            "token_logprobs": values,
            "top_logprobs": tops,
            "text_offset": offsets(tokens),
        }
    else:
        choice["logprobs"] = None
    return {
        "id": "cmpl-fake",
        "object": "text_completion",
        "created": int(time.time()),
        "model": version,
        "choices": [choice],
    }


def _malformed(kind: str, route: str, version: str, prompt: str) -> bytes | dict:
    if kind == "not-json":
        return b"<html>upstream error</html>"
    if kind == "no-choices":
        return {"model": version, "object": "chat.completion"}
    if kind == "empty-choices":
        return {"model": version, "choices": []}
    if kind == "no-content":
        if route == "chat":
            return {"model": version, "choices": [{"index": 0, "message": {"role": "assistant"}}]}
        return {"model": version, "choices": [{"index": 0}]}
    if kind == "bad-type":
        if route == "chat":
            message = {"role": "assistant", "content": 42}
            return {"model": version, "choices": [{"index": 0, "message": message}]}
        return {"model": version, "choices": [{"index": 0, "text": ["a", "list"]}]}
    if kind == "bad-logprobs":  # the prompt's tokens echoed, with text for log-probs
        tokens = tokenize(prompt)
        values = [None] + ["x"] * (len(tokens) - 1)
        logprobs = {"tokens": tokens, "token_logprobs": values, "text_offset": offsets(tokens)}
        choice = {"index": 0, "text": prompt, "logprobs": logprobs}
        return {"model": version, "choices": [choice]}
    if kind == "list":
        return b"[1, 2, 3]"
    raise ValueError(f"unknown malformed kind {kind!r}")


def serve(port: int = 0, **behaviour: Any) -> _Server:
    """A server listening on 127.0.0.1:port (0: a free port), not yet serving."""
    server = _Server(("127.0.0.1", port), _Handler)
    server.state = _State(behaviour)
    return server


# --------------------------------------------------------------------------------- handle
class FakeOpenAI:
    """A fake endpoint a test starts and stops: `url` is its base URL (…/v1)."""

    def __init__(self, *, process: bool = False, **behaviour: Any) -> None:
        self.process = process
        self.behaviour = behaviour
        self.port: int | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen | None = None
        self._open = urllib.request.build_opener(urllib.request.ProxyHandler({})).open

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        if self.process:
            cmd = [sys.executable, __file__, "--behaviour", json.dumps(self.behaviour)]
            self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            assert self._proc.stdout is not None
            line = self._proc.stdout.readline()
            if not line.startswith("PORT "):
                self._proc.kill()
                raise RuntimeError(f"fake server did not start: {line!r}")
            self.port = int(line.split()[1])
        else:
            self._server = serve(0, **self.behaviour)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _control(self, path: str, doc: dict | None = None) -> dict[str, Any]:
        data = None if doc is None else json.dumps(doc).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/_control/{path}", data)
        with self._open(request, timeout=10) as response:
            return json.loads(response.read())

    def configure(self, **behaviour: Any) -> None:
        """Change how the server behaves from now on (keys as in DEFAULTS)."""
        self._control("configure", behaviour)

    def reset(self, **behaviour: Any) -> None:
        """Forget the log and counters; behaviour back to DEFAULTS plus `behaviour`."""
        self._control("reset", behaviour)

    def log(self) -> list[dict[str, Any]]:
        """Every API request so far, in arrival order."""
        return self._control("log")["log"]

    def stats(self) -> dict[str, int]:
        """calls, answered (200s with an answer), in_flight, max_in_flight."""
        return self._control("stats")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--behaviour", default="{}", help="JSON: keys as in DEFAULTS")
    args = ap.parse_args()
    server = serve(args.port, **json.loads(args.behaviour))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
