"""A STAND-IN judge: a deterministic word-overlap grader behind an OpenAI-compatible endpoint.

Not a language model. It exists so the judge workflow (prompts, parsing, position swaps, arena
ratings, agreement tables) can be tried and tested offline, with nothing to download and no key:
`serve_standin_judge()` starts it on 127.0.0.1 in a thread and returns its `openai:` spec.

How it decides, so nobody mistakes its verdicts for judgement: it reads our judge prompts, takes
the last reply (of each assistant) and grades it by word overlap (token F1) with the reference
answer when the prompt has one, else with the user's question; pairwise, the reply with more
overlap wins, and replies within 0.05 of each other tie. `position_bias=True` makes it always
prefer the reply shown first (to watch the swap turn every verdict into a tie). Every answer
says it is a stand-in.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "standin-judge"
VERSION = "standin-judge-1"
LABEL = "STAND-IN JUDGE (word overlap, not a language model)"

_HEADER = re.compile(r"^### (?:User|Assistant|사용자|어시스턴트)[^\n:]*:\s*$", re.MULTILINE)
_REPLY = r"^### (?:Assistant|어시스턴트){side}:\s*$"
_REFERENCE = re.compile(r"\[(?:Reference|정답)\]\n(.*?)\n\[(?:End of reference|정답 끝)\]", re.S)
_END = re.compile(r"^\[(?:End of conversation|대화)[^\n]*\]\s*$", re.MULTILINE)
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def overlap(a: str, b: str) -> float:
    """Token F1 of two texts' words (0 when either has none)."""
    x, y = Counter(words(a)), Counter(words(b))
    common = sum((x & y).values())
    if not common:
        return 0.0
    p, r = common / sum(x.values()), common / sum(y.values())
    return 2 * p * r / (p + r)


def last_turn(prompt: str, header: str) -> str:
    """The text under the last `header` line, up to the next turn or the conversation's end."""
    found = list(re.finditer(header, prompt, re.MULTILINE))
    if not found:
        return ""
    rest = prompt[found[-1].end() :]
    stops = [m.start() for m in (_HEADER.search(rest), _END.search(rest)) if m]
    return rest[: min(stops)].strip() if stops else rest.strip()


def target(prompt: str) -> str:
    """What replies are measured against: the reference answer, else the user's last message."""
    ref = _REFERENCE.search(prompt)
    if ref:
        return ref.group(1)
    return last_turn(prompt, r"^### (?:User|사용자):\s*$")


def answer(prompt: str, *, position_bias: bool = False) -> str:
    """The stand-in's reply to one of our judge prompts."""
    goal = target(prompt)
    if re.search(_REPLY.format(side=" A"), prompt, re.MULTILINE):
        if position_bias:
            return f"{LABEL}: always prefers the reply shown first.\n[[A]]"
        a = overlap(last_turn(prompt, _REPLY.format(side=" A")), goal)
        b = overlap(last_turn(prompt, _REPLY.format(side=" B")), goal)
        verdict = "C" if abs(a - b) < 0.05 else ("A" if a > b else "B")
        return f"{LABEL}: overlap A {a:.2f}, B {b:.2f}.\n[[{verdict}]]"
    reply = last_turn(prompt, _REPLY.format(side=""))
    score = overlap(reply, goal)
    grade = 1 + round(9 * score)
    return f"{LABEL}: overlap {score:.2f}.\nRating: [[{grade}]]"


@dataclass
class StandinJudge:
    """A running stand-in server: `spec` for `Judge(...)`, `stop()` when done."""

    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def spec(self) -> str:
        return f"openai:{self.url}#{MODEL}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> StandinJudge:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve_standin_judge(*, position_bias: bool = False, port: int = 0) -> StandinJudge:
    """Start the stand-in judge on 127.0.0.1 (a free port unless `port`) in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet: a notebook is no server log
            pass

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": VERSION, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send(400, {"error": {"message": "the body is not JSON"}})
                return
            if self.path.rstrip("/").endswith("/chat/completions"):
                messages = body.get("messages") or []
                prompt = str(messages[-1].get("content", "")) if messages else ""
                text = answer(prompt, position_bias=position_bias)
                choice = {"index": 0, "message": {"role": "assistant", "content": text}}
            elif self.path.rstrip("/").endswith("/completions"):
                text = answer(str(body.get("prompt", "")), position_bias=position_bias)
                choice = {"index": 0, "text": text}
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            choice["finish_reason"] = "stop"
            self._send(200, {"object": "chat.completion", "model": VERSION, "choices": [choice]})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="standin-judge", daemon=True)
    thread.start()
    return StandinJudge(server, thread)
