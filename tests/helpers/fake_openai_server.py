"""An OpenAI-compatible chat-completions server on 127.0.0.1, for tests and perf scripts.

It speaks ``POST /v1/chat/completions`` over real HTTP, answers deterministically (the letter is a hash
of the prompt unless a test scripts it), returns usage and, when asked, first-token ``top_logprobs`` with
both the "A" and " A" forms. Tests inject faults (429 with Retry-After, 500, a hang, a malformed body,
401) and read what the server saw (request bodies, headers, the most requests in flight at once).

It is bounded: it serves only between start and stop (a context manager), every connection has a socket
timeout, every hang ends at ``max_hang_s`` or at stop, whichever comes first, and stop closes the
connections that are still open.

>>> import json, urllib.request
>>> with FakeOpenAIServer() as server:
...     body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "Q\\nA. x\\nB. y"}]})
...     request = urllib.request.Request(server.url + "/chat/completions", body.encode(),
...                                      {"Content-Type": "application/json"})
...     reply = json.load(urllib.request.urlopen(request, timeout=5))
>>> reply["choices"][0]["message"]["content"] in ("A", "B"), server.count
(True, 1)

Run standalone (used by perf/api_throughput.py): ``python -m tests.helpers.fake_openai_server --latency
0.1`` prints the base URL on its first line and serves until stdin closes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

_OPTION_LINE = re.compile(r"^([A-Z])\. ", re.MULTILINE)
FAULTS = ("429", "500", "hang", "malformed", "401", "no_choices")


@dataclass
class Fault:
    """One injected failure. ``when`` selects requests (by their JSON body); ``times`` is how many."""

    kind: str
    times: float = 1  # math.inf: every matching request
    when: Callable[[dict], bool] | None = None
    retry_after: str | None = None  # the 429's Retry-After header value
    retry_after_ms: str | None = None
    seconds: float = 30.0  # a hang's length (capped by the server's max_hang_s)
    message: str = ""  # the error body's message (a test can echo something in it)


def prompt_text(body: dict) -> str:
    """The text parts of all messages, joined."""
    parts = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
    return "\n".join(parts)


def image_parts(body: dict) -> list[dict]:
    return [p["image_url"] for m in body.get("messages", []) if isinstance(m.get("content"), list)
            for p in m["content"] if isinstance(p, dict) and p.get("type") == "image_url"]


def letters_of(body: dict) -> list[str]:
    """The option letters of the prompt ("A. ..." lines), or A-D when there are none."""
    return _OPTION_LINE.findall(prompt_text(body)) or list("ABCD")


def hashed_letter(body: dict) -> str:
    letters = letters_of(body)
    digest = hashlib.sha256(prompt_text(body).encode("utf-8")).digest()
    return letters[digest[0] % len(letters)]


def default_logprobs(body: dict, reply: str) -> list[tuple[str, float]]:
    """First-token alternatives: the reply's first token 0.7, its " X" form 0.1, the rest shared."""
    first = first_token(reply)
    letters = letters_of(body)
    if first.strip() not in letters:
        return [(first, 0.9)] + [(letter, 0.1 / len(letters)) for letter in letters]
    others = [letter for letter in letters if letter != first.strip()]
    out = [(first, 0.7), (" " + first.strip(), 0.1)]
    for letter in others:
        out += [(letter, 0.15 / len(others)), (" " + letter, 0.05 / len(others))]
    return out


def first_token(reply: str) -> str:
    match = re.match(r"\s*(\w+|\S)", reply)
    return match.group(0) if match else ""


@dataclass
class Seen:
    """What the server saw of one request."""

    body: dict
    headers: dict[str, str]
    path: str
    at: float


class FakeOpenAIServer:
    """The server; configure it through the attributes below, before or between requests.

    - ``latency``: seconds slept (non-busy) before each answer;
    - ``reply(body) -> str``: the answer text (default: the hashed letter);
    - ``top_logprobs(body, reply) -> [(token, probability)]``: first-token alternatives;
    - ``logprobs_supported``: False ignores ``logprobs`` in requests (as some servers do);
    - ``usage(body, reply) -> (prompt_tokens, completion_tokens)``;
    - ``inject(kind, ...)``: queue a :class:`Fault`.
    """

    def __init__(self, *, latency: float = 0.0, logprobs_supported: bool = True, max_hang_s: float = 10.0,
                 socket_timeout_s: float = 10.0, keep_bodies: bool = True):
        self.latency = latency
        self.logprobs_supported = logprobs_supported
        self.max_hang_s = max_hang_s
        self.socket_timeout_s = socket_timeout_s
        self.keep_bodies = keep_bodies
        self.reply: Callable[[dict], str] = hashed_letter
        self.top_logprobs: Callable[[dict, str], list[tuple[str, float]]] = default_logprobs
        self.usage: Callable[[dict, str], tuple[int, int]] = self._default_usage
        self.faults: deque[Fault] = deque()
        self.seen: list[Seen] = []
        self.count = 0
        self.status_counts: dict[int, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle
    def start(self) -> "FakeOpenAIServer":
        handler = type("Handler", (_Handler,), {"fake": self, "timeout": self.socket_timeout_s})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes every sleeping handler
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The base URL to give a client (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # ---- configuration and inspection
    def inject(self, kind: str, *, times: float = 1, when: Callable[[dict], bool] | None = None,
               **options: Any) -> None:
        if kind not in FAULTS:
            raise ValueError(f"fault kind must be one of {FAULTS}, got {kind!r}")
        self.faults.append(Fault(kind, times, when, **options))

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.seen.clear()
            self.count = self.max_in_flight = 0
            self.status_counts.clear()

    @staticmethod
    def _default_usage(body: dict, reply: str) -> tuple[int, int]:
        images = image_parts(body)
        image_tokens = sum(85 if image.get("detail") == "low" else 255 for image in images)
        return 7 + len(prompt_text(body)) // 4 + image_tokens, max(1, len(reply.split()))

    def _take_fault(self, body: dict) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and (fault.when is None or fault.when(body)):
                    fault.times -= 1
                    return fault
        return None

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(min(seconds, self.max_hang_s))

    def _completion(self, body: dict) -> dict:
        reply = self.reply(body)
        prompt_tokens, completion_tokens = self.usage(body, reply)
        with self._lock:
            number = self.count
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": reply},
                                  "finish_reason": "stop", "logprobs": None}
        if body.get("logprobs") and self.logprobs_supported:
            k = int(body.get("top_logprobs") or 0)
            alternatives = sorted(self.top_logprobs(body, reply), key=lambda tp: -tp[1])[:k]
            token = first_token(reply)
            entry = {"token": token, "logprob": _log(dict(self.top_logprobs(body, reply)).get(token, 0.5)),
                     "bytes": list(token.encode()),
                     "top_logprobs": [{"token": t, "logprob": _log(p), "bytes": list(t.encode())}
                                      for t, p in alternatives]}
            choice["logprobs"] = {"content": [entry], "refusal": None}
        return {"id": f"chatcmpl-fake-{number}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "fake"), "choices": [choice],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -9999.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the listen backlog: 32 clients connecting at once must not be dropped


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real API servers
    fake: FakeOpenAIServer

    def setup(self) -> None:
        super().setup()
        # No Nagle: a reply's small writes must not wait for the client's delayed ACK (~40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.fake._lock:
            self.fake._connections.add(self.connection)

    def finish(self) -> None:
        with self.fake._lock:
            self.fake._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        with self.fake._lock:
            self.fake.status_counts[status] = self.fake.status_counts.get(status, 0) + 1
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self._headers_buffer.append(b"\r\n")  # end_headers(), with the body in the same write
        self._headers_buffer.append(payload)
        self.flush_headers()

    def _error(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        self._send(status, json.dumps(body).encode(), headers)

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        fake = self.fake
        if fake._stopping.is_set():
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route {self.path}", "invalid_request_error")
            return
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self._error(400, "request body is not JSON", "invalid_request_error")
            return
        with fake._lock:
            fake.count += 1
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            if fake.keep_bodies:
                fake.seen.append(Seen(body, dict(self.headers.items()), self.path, time.monotonic()))
        try:
            fault = fake._take_fault(body)
            if fault is not None and fault.kind == "hang":
                fake._sleep(fault.seconds)
                self.close_connection = True
                return
            if fake.latency:
                fake._sleep(fake.latency)
            if fault is None:
                self._send(200, json.dumps(fake._completion(body)).encode())
            elif fault.kind == "429":
                headers = {k: v for k, v in (("Retry-After", fault.retry_after),
                                             ("retry-after-ms", fault.retry_after_ms)) if v is not None}
                self._error(429, fault.message or "Rate limit reached", "rate_limit_exceeded", headers)
            elif fault.kind == "500":
                self._error(500, fault.message or "The server had an error", "server_error")
            elif fault.kind == "401":
                self._error(401, fault.message or "Incorrect API key provided", "invalid_request_error")
            elif fault.kind == "malformed":
                self._send(200, b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "mess')
            elif fault.kind == "no_choices":
                self._send(200, json.dumps({"id": "chatcmpl-empty", "object": "chat.completion",
                                            "created": 0, "model": "m", "choices": []}).encode())
        except OSError:  # the client went away (its timeout) or stop() closed the socket
            self.close_connection = True
        finally:
            with fake._lock:
                fake.in_flight -= 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    with FakeOpenAIServer(latency=args.latency, keep_bodies=False) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin (or exits)


if __name__ == "__main__":
    main()
