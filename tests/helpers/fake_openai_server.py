"""An OpenAI-compatible chat-completions server on 127.0.0.1, for tests and perf scripts.

It speaks ``POST /v1/chat/completions`` over real HTTP, answers deterministically (the letter is a hash
of the prompt unless a test scripts it), returns usage and, when asked, first-token ``top_logprobs`` with
both the "A" and " A" forms. Tests inject faults (429 with Retry-After, 500, a hang, a malformed body,
401) and read what the server saw (request bodies, headers, the most requests in flight at once).

It honours structured outputs as vLLM and SGLang do: ``structured_outputs`` ({"choice" | "regex" |
"json": ...}) and ``guided_choice`` (vLLM), ``regex`` (SGLang) and ``response_format`` json_schema (all):
the reply is then one of the allowed strings, a string matching the regex (one of the prompt's letters), or
a JSON object of the schema's enum properties. Like vLLM and SGLang it ignores a field it does not honour
(the reply is then unconstrained), or, when told to, refuses it with a 400 in vLLM's error shape.

It is an asyncio server on a thread of its own (so a test's client and the server share one process),
and it is bounded: it serves only between start and stop (a context manager), an idle connection is
closed after ``idle_timeout_s``, every request has a time limit (its latency plus ``max_hang_s`` plus 5 s),
a hang ends at ``max_hang_s`` or at stop, and stop cancels whatever is still open.

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
import asyncio
import hashlib
import json
import math
import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

_OPTION_LINE = re.compile(r"^([A-Z])\. ", re.MULTILINE)
FAULTS = ("429", "500", "hang", "malformed", "401", "no_choices")
# The structured-output request fields of vLLM (structured_outputs; guided_choice before 0.12), SGLang (regex)
# and OpenAI (response_format).
STRUCTURED_FIELDS = ("structured_outputs", "guided_choice", "regex", "response_format")


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
    return hashed_choice(body, letters_of(body))


def hashed_choice(body: dict, allowed: list[str]) -> str:
    """The allowed string the first byte of the prompt's sha256 picks (what constrained decoding "chooses")."""
    digest = hashlib.sha256(prompt_text(body).encode("utf-8")).digest()
    return allowed[digest[0] % len(allowed)]


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
    applied: str | None = None  # the structured-output constraint the server applied ("regex", ...), if any


class FakeOpenAIServer:
    """The server; configure it through the attributes below, before or between requests.

    - ``latency``: seconds each answer waits (an asyncio sleep: 32 waiting requests cost nothing);
    - ``reply(body) -> str``: the answer text (default: the hashed letter);
    - ``top_logprobs(body, reply) -> [(token, probability)]``: first-token alternatives;
    - ``logprobs_supported``: False ignores ``logprobs`` in requests (as some servers do);
    - ``usage(body, reply) -> (prompt_tokens, completion_tokens)``;
    - ``inject(kind, ...)``: queue a :class:`Fault`;
    - ``honours``: the structured-output fields applied (default all of :data:`STRUCTURED_FIELDS`); any other
      is ignored, as vLLM (extra fields allowed, a log warning) and SGLang (extra fields dropped) do;
    - ``refuses``: {field: message}: a request carrying the field gets a 400 in vLLM's error shape;
    - ``choose(body, allowed) -> str``: what constrained decoding picks (default: by the prompt's hash, so
      that it agrees with the default ``reply``);
    - ``truncate_at``: cut every reply to this many characters with finish_reason "length" (max_tokens).

    The callables run on the server's thread.
    """

    def __init__(self, *, latency: float = 0.0, logprobs_supported: bool = True, max_hang_s: float = 10.0,
                 idle_timeout_s: float = 10.0, keep_bodies: bool = True):
        self.latency = latency
        self.logprobs_supported = logprobs_supported
        self.max_hang_s = max_hang_s
        self.idle_timeout_s = idle_timeout_s
        self.keep_bodies = keep_bodies
        self.reply: Callable[[dict], str] = hashed_letter
        self.top_logprobs: Callable[[dict, str], list[tuple[str, float]]] = default_logprobs
        self.usage: Callable[[dict, str], tuple[int, int]] = self._default_usage
        self.honours: set[str] = set(STRUCTURED_FIELDS)
        self.refuses: dict[str, str] = {}
        self.choose: Callable[[dict, list[str]], str] = hashed_choice
        self.truncate_at: int | None = None
        self.faults: deque[Fault] = deque()
        self.seen: list[Seen] = []
        self.count = 0
        self.status_counts: dict[int, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self._thread: threading.Thread | None = None
        self._port = 0

    # ---- lifecycle
    def start(self) -> "FakeOpenAIServer":
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=256))
                self._port = self._server.sockets[0].getsockname()[1]
            except BaseException as error:  # noqa: BLE001 (reported to the starting thread)
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=serve, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()  # ends hangs and sleeps at once
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = self._thread = None

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The base URL to give a client (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # ---- configuration and inspection
    def inject(self, kind: str, *, times: float = 1, when: Callable[[dict], bool] | None = None,
               **options: Any) -> None:
        if kind not in FAULTS:
            raise ValueError(f"fault kind must be one of {FAULTS}, got {kind!r}")
        with self._lock:
            self.faults.append(Fault(kind, times, when, **options))

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.seen.clear()
            self.count = self.max_in_flight = 0
            self.status_counts.clear()

    # ---- serving
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One keep-alive connection: requests one after another until the client closes it."""
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            while True:
                try:
                    request = await asyncio.wait_for(_read_request(reader), self.idle_timeout_s)
                except (asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
                    return
                if request is None:
                    return
                path, headers, raw = request
                # Every request has a time limit, whatever the test configured.
                limit = self.latency + self.max_hang_s + 5.0
                response = await asyncio.wait_for(self._handle(path, headers, raw), limit)
                if response is None:  # a hang: the client gave up, or stop() came
                    return
                writer.write(response)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.TimeoutError, asyncio.CancelledError):
            return
        finally:
            self._connections.discard(task)
            writer.close()

    async def _handle(self, path: str, headers: dict[str, str], raw: bytes) -> bytes | None:
        if path.rstrip("/") != "/v1/chat/completions":
            return self._error(404, f"no route {path}", "invalid_request_error")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._error(400, "request body is not JSON", "invalid_request_error")
        seen = Seen(body, headers, path, time.monotonic())
        with self._lock:
            self.count += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.keep_bodies:
                self.seen.append(seen)
        try:
            fault = self._take_fault(body)
            if fault is not None and fault.kind == "hang":
                await asyncio.sleep(min(fault.seconds, self.max_hang_s))
                return None
            if self.latency:
                await asyncio.sleep(self.latency)
            if fault is None:
                refused = next((field for field in STRUCTURED_FIELDS if field in body and field in self.refuses), None)
                if refused is not None:
                    return self._vllm_error(self.refuses[refused], refused)
                try:
                    seen.applied, reply = self._constrained(body)
                except _BadConstraint as error:
                    return self._vllm_error(str(error), error.field)
                return self._response(200, json.dumps(self._completion(body, reply)).encode())
            if fault.kind == "429":
                extra = {k: v for k, v in (("Retry-After", fault.retry_after),
                                           ("retry-after-ms", fault.retry_after_ms)) if v is not None}
                return self._error(429, fault.message or "Rate limit reached", "rate_limit_exceeded", extra)
            if fault.kind == "500":
                return self._error(500, fault.message or "The server had an error", "server_error")
            if fault.kind == "401":
                return self._error(401, fault.message or "Incorrect API key provided", "invalid_request_error")
            if fault.kind == "malformed":
                return self._response(200, b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "mess')
            return self._response(200, json.dumps({"id": "chatcmpl-empty", "object": "chat.completion",
                                                   "created": 0, "model": "m", "choices": []}).encode())
        finally:
            with self._lock:
                self.in_flight -= 1

    def _response(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> bytes:
        with self._lock:
            self.status_counts[status] = self.status_counts.get(status, 0) + 1
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "Content-Type: application/json",
                 f"Content-Length: {len(payload)}"]
        lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload

    def _error(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> bytes:
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return self._response(status, json.dumps(body).encode(), headers)

    def _vllm_error(self, message: str, param: str | None) -> bytes:
        """A 400 as vLLM's ErrorResponse sends it (vllm/entrypoints/openai/engine/protocol.py)."""
        body = {"error": {"message": message, "type": "BadRequestError", "param": param, "code": 400}}
        return self._response(400, json.dumps(body).encode())

    def _constrained(self, body: dict) -> tuple[str | None, str | None]:
        """(the constraint applied, the reply it gives), or (None, None) when no honoured field is present."""
        present = [field for field in STRUCTURED_FIELDS if body.get(field) is not None and field in self.honours]
        if not present:
            return None, None
        if len(present) > 1:
            raise _BadConstraint(f"several structured-output fields: {present}", present[1])
        field, value = present[0], body[present[0]]
        if field == "structured_outputs":
            kinds = [k for k in ("json", "regex", "choice") if isinstance(value, dict) and value.get(k) is not None]
            if len(kinds) != 1:  # vLLM's own message
                raise _BadConstraint("You can only use one kind of constraints for structured outputs ('json', "
                                     "'regex' or 'choice').", field)
            kind, value = kinds[0], value[kinds[0]]
        elif field == "response_format":
            if not isinstance(value, dict) or value.get("type") != "json_schema":
                return None, None  # "text": nothing to constrain
            kind, value = "json", (value.get("json_schema") or {}).get("schema")
        else:
            kind = {"guided_choice": "choice", "regex": "regex"}[field]
        applied = f"{field}.{kind}" if field == "structured_outputs" else field
        if kind == "choice":
            if not (isinstance(value, list) and value and all(isinstance(c, str) for c in value)):
                raise _BadConstraint(f"{field}: choice must be a non-empty list of strings", field)
            return applied, self.choose(body, value)
        if kind == "regex":
            matching = [c for c in letters_of(body) if isinstance(value, str) and re.fullmatch(value, c)]
            if not matching:
                raise _BadConstraint(f"{field}: the fake server generates only option letters; none matches "
                                     f"{value!r}", field)
            return applied, self.choose(body, matching)
        schema = json.loads(value) if isinstance(value, str) else value
        properties = schema.get("properties") if isinstance(schema, dict) else None
        if not (isinstance(properties, dict) and properties and schema.get("type") == "object"
                and all(isinstance(p, dict) and p.get("enum") for p in properties.values())):
            raise _BadConstraint(f"{field}: the fake server generates only objects of enum properties", field)
        return applied, json.dumps({name: self.choose(body, list(p["enum"])) for name, p in properties.items()})

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

    def _completion(self, body: dict, reply: str | None = None) -> dict:
        reply = self.reply(body) if reply is None else reply
        finish_reason = "stop"
        if self.truncate_at is not None and len(reply) > self.truncate_at:
            reply, finish_reason = reply[: self.truncate_at], "length"
        prompt_tokens, completion_tokens = self.usage(body, reply)
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": reply},
                                  "finish_reason": finish_reason, "logprobs": None}
        if body.get("logprobs") and self.logprobs_supported:
            k = int(body.get("top_logprobs") or 0)
            alternatives = self.top_logprobs(body, reply)
            token = first_token(reply)
            entry = {"token": token, "logprob": _log(dict(alternatives).get(token, 0.5)),
                     "bytes": list(token.encode()),
                     "top_logprobs": [{"token": t, "logprob": _log(p), "bytes": list(t.encode())}
                                      for t, p in sorted(alternatives, key=lambda tp: -tp[1])[:k]]}
            choice["logprobs"] = {"content": [entry], "refusal": None}
        return {"id": f"chatcmpl-fake-{self.count}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "fake"), "choices": [choice],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}


class _BadConstraint(ValueError):
    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error"}
_MAX_HEADERS = 100


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes] | None:
    """One HTTP/1.1 request (path, lower-cased headers, body), or None at a clean end of connection."""
    line = await reader.readline()
    if not line:
        return None
    method, path, _version = line.decode("latin-1").split()
    if method != "POST":
        raise ValueError(f"only POST is served, got {method}")
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADERS):
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    else:
        raise ValueError("too many headers")
    body = await reader.readexactly(int(headers.get("content-length") or 0))
    return path, headers, body


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -9999.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    with FakeOpenAIServer(latency=args.latency, keep_bodies=False) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin (or exits)


if __name__ == "__main__":
    main()
