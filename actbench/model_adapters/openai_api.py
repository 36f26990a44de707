"""GPT-4o, GPT-4o-mini and any OpenAI-compatible server (vLLM, SGLang, llama.cpp) answering MQA questions.

Built on the official ``openai`` client (``AsyncOpenAI``, the ``[api]`` extra). Each question is one chat
request: the frames (when the runner passes them) as base64 JPEG data URLs, then LLaVAction's prompt. The
letter comes from the first token's ``top_logprobs`` when the endpoint returns them (renormalised over
the question's letters, "A" and " A" merged), otherwise from the reply text through ``parse_answer``.

Requests run concurrently inside one ``answer(batch)`` (at most ``concurrency`` in flight). The client's
own retries are off: this module retries 429, 5xx, timeouts and connection errors with exponential
backoff, waits what ``Retry-After`` says (and pauses all requests meanwhile), and bounds every attempt
by ``timeout`` seconds. ``max_cost`` (USD) is never exceeded: a request is sent only when the spent cost,
the reserved cost of the requests in flight and this request's estimate fit under it; questions left
when it no longer fits get status ``error`` with raw ``budget exhausted (max_cost=...)`` and
``budget_exhausted`` becomes True.

The API key is read from the environment only (``OPENAI_API_KEY``, or the variable named by
``api_key_env``); it is never stored outside the client, described, logged, or put in an error.

Model arguments (``--model-arg KEY=VALUE``): model (``openai`` only), base_url, api_key_env,
perspective (benchmark: the question's own stem | egocentric | allocentric), detail (auto | low | high), jpeg_quality, max_tokens,
temperature, logprobs, top_logprobs, structured_output (off | structured_outputs | guided_choice | regex |
json_schema: the reply constrained to one letter, see structured_choice.py), concurrency, timeout,
max_retries, backoff, max_cost, prices (a TOML/JSON price file), http_client (auto | aiohttp | httpx; auto
takes aiohttp when ``openai[aiohttp]`` is installed), text_only.

>>> adapter = OpenAIAdapter("gpt-4o", OpenAIArgs(model="gpt-4o", concurrency=4), api_key="sk-doc-0000")
>>> adapter.batch_size, adapter.describe()["args"]["concurrency"], "sk-doc" in str(adapter.describe())
(32, 4, False)
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import io
import math
import os
import random
import re
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Sequence
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actbench.errors import ActbenchError
from actbench.model_adapters.multi_answer import is_multi_label, parse_reply, refuse_multi_label
from actbench.model_adapters.base import AdapterContext
from actbench.model_adapters.pricing import CostBudget, Price, price_for, price_table
from actbench.model_adapters.structured_choice import SERVER_ONLY, StructuredChoice, StructuredMode
from actbench.prompts import PERSPECTIVES, prompt_for
from actbench.sap import prompt_stem
from actbench.records import NOT_SENT, Answer, Question

DEFAULT_BASE_URL = "https://api.openai.com/v1"
BUDGET_EXHAUSTED = "budget exhausted"
# Arguments that change how a run goes, not what it answers: a resumed run may change them.
RUNTIME_ARGS = frozenset({"concurrency", "timeout", "max_retries", "backoff", "max_cost", "http_client"})
MAX_RETRY_AFTER_S = 120.0  # a server asking for a longer wait is treated as a failure, not obeyed
MAX_BACKOFF_S = 60.0
# batch_size = 8 x concurrency: the pipeline fills and drains once per batch (at 4x, that cost ~10% of the
# throughput against the 100 ms test server); a hard kill loses at most one batch (Ctrl-C loses none,
# see answer()).
BATCH_PER_SLOT = 8
# The first wave of a batch is spread over time (see _answer_all), by at most this many times the CPU one
# question costs the client: enough to break the wave, negligible (~0.1 s) against real APIs' latencies.
_SPREAD_CPU_FACTOR = 4
_REASON_CHARS = 300



class OpenAIArgs(BaseModel):
    """The adapter's arguments; strings from the command line are coerced ("8" -> 8, "true" -> True)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    perspective: Literal["benchmark", "egocentric", "allocentric"] = "benchmark"
    detail: Literal["auto", "low", "high"] = "auto"
    jpeg_quality: int = Field(90, ge=1, le=100)
    max_tokens: int = Field(16, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    logprobs: bool = True
    top_logprobs: int = Field(10, ge=1, le=20)
    structured_output: StructuredMode = "off"
    concurrency: int = Field(8, ge=1, le=1024)
    timeout: float = Field(60.0, gt=0.0)
    max_retries: int = Field(5, ge=0, le=100)
    backoff: float = Field(1.0, ge=0.0)
    max_cost: float | None = Field(None, gt=0.0)
    prices: str | None = None
    http_client: Literal["auto", "aiohttp", "httpx"] = "auto"
    text_only: bool = False  # True: never ask the runner for frames (a language-prior baseline)


class OpenAIAdapter:
    """Answers questions through the chat-completions API; see the module docstring."""

    sees_prior_actions = True  # the stem comes from prompt_stem (actbench run --sap)
    takes_custom_prompt = True  # sends a question's own prompt (prompts.prompt_for): it can rate difficulty

    def __init__(self, name: str, args: OpenAIArgs, *, api_key: str, seed: int = 0):
        self.name = name
        self.args = args
        self.seed = seed
        self.batch_size = BATCH_PER_SLOT * args.concurrency
        # The runner samples frames for adapters that use them (--video-root) and passes them to answer().
        self.uses_frames = not args.text_only
        table = price_table(args.prices)
        self.price: Price | None = price_for(args.model, table)
        if args.max_cost is not None and self.price is None:
            raise ActbenchError.bad_value("--model-arg", "max_cost", f"a model with a price (add "
                                          f"'{args.model}' to a price file given as prices=PATH)", args.max_cost)
        if args.structured_output in SERVER_ONLY and args.base_url is None:
            raise ActbenchError.bad_value("--model-arg", "structured_output", "off or json_schema unless base_url "
                                          "names a vLLM or SGLang server", args.structured_output)
        self._structured = None if args.structured_output == "off" else StructuredChoice(
            args.structured_output, name, _public_url(args.base_url or DEFAULT_BASE_URL))
        self.budget = CostBudget(args.max_cost, self.price, max_output_tokens=args.max_tokens,
                                 detail=args.detail)
        self.stats = {"requests": 0, "retries": 0, "rate_limited": 0, "retry_wait_s": 0.0}
        self._api_key = api_key
        self._rng = random.Random(seed)
        self._runner: asyncio.Runner | None = None
        self._client: Any = None
        self._pause_until = 0.0
        self._completed: dict[str, Answer] = {}  # this batch's answers so far
        self._latency_ewma = 0.0  # seconds per request, from the answers so far
        self._cpu_per_question = 0.0  # this process's CPU seconds per question, from the last batch
        self._holder: list[Any] = [None, None]  # the loop and the client, for the finalizer
        weakref.finalize(self, _close_loop, self._holder)  # a forgotten close() leaves nothing open

    @property
    def spent_usd(self) -> float:
        """Dollars spent by this adapter; a runner resuming a run may preload what the journal spent."""
        return self.budget.spent

    @spent_usd.setter
    def spent_usd(self, value: float) -> None:
        self.budget.spent = float(value)

    @property
    def budget_exhausted(self) -> bool:
        """True once max_cost left no room for another question (then every answer is 'budget exhausted')."""
        return self.budget.exhausted

    def __repr__(self) -> str:  # never the key
        return f"OpenAIAdapter({self.name!r})"

    runtime_args = RUNTIME_ARGS

    # ---- the adapter protocol
    def describe(self) -> dict[str, Any]:
        args = self.args.model_dump()
        args["base_url"] = _public_url(self.args.base_url or DEFAULT_BASE_URL)
        args["price_usd_per_1m"] = self.price.model_dump() if self.price else None
        args["seed"] = self.seed
        return {"name": self.name, "args": args}

    def answer(self, questions: Sequence[Question],
               frames: Sequence[np.ndarray | Sequence[np.ndarray] | None] | None = None) -> list[Answer]:
        """One answer per question, in order; ``frames``: per question, uint8 frames (N x H x W x 3) or None
        (text only). On Ctrl-C the KeyboardInterrupt carries the answers that were complete as
        ``partial_answers`` (in batch order), so that a runner can journal them."""
        questions = list(questions)
        if not questions:
            return []
        if self._structured is not None:
            refuse_multi_label(self.name, questions, "constrains its reply to one letter (structured_output)")
        if frames is not None and len(frames) != len(questions):
            raise ValueError(f"{len(frames)} frame sets for {len(questions)} questions")
        per_question = list(frames) if frames is not None else [None] * len(questions)
        self._completed = {}
        try:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return self._loop().run(self._answer_all(questions, per_question))
            # Called from inside an event loop (a notebook): run ours in a worker thread.
            with ThreadPoolExecutor(1) as pool:
                job = pool.submit(lambda: self._loop().run(self._answer_all(questions, per_question)))
                return job.result()
        except KeyboardInterrupt as interrupt:
            interrupt.partial_answers = [self._completed[q.id] for q in questions if q.id in self._completed]
            raise

    def close(self) -> None:
        """Close the HTTP client and the event loop (also done when the adapter is garbage-collected)."""
        _close_loop(self._holder)
        self._runner = self._client = None

    def __enter__(self) -> "OpenAIAdapter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- internals
    def _loop(self) -> asyncio.Runner:
        # One loop for the adapter's life, so the client's connection pool is kept between batches.
        if self._runner is None:
            self._runner = self._holder[0] = asyncio.Runner()
        return self._runner

    def _get_client(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI

            # max_retries=0: retries are ours (Retry-After honoured and counted). The base URL is always
            # explicit so that an OPENAI_BASE_URL in the environment cannot silently redirect a run.
            self._client = self._holder[1] = AsyncOpenAI(
                api_key=self._api_key, base_url=self.args.base_url or DEFAULT_BASE_URL, timeout=self.args.timeout,
                max_retries=0, http_client=_http_client(self.args.http_client, self.args.timeout))
        return self._client

    async def _answer_all(self, questions: list[Question], frames: list[Any]) -> list[Answer]:
        semaphore = asyncio.Semaphore(self.args.concurrency)
        # Requests that start together come back together and queue for the CPU, and the batch then moves
        # in waves (at concurrency 32 against a 100 ms server, ~50% of the ideal rate). Spreading the first
        # wave over one latency, capped at a few CPU-times per question, keeps the pipeline smooth.
        gap = min(self._latency_ewma / self.args.concurrency, _SPREAD_CPU_FACTOR * self._cpu_per_question)
        cpu0 = time.process_time()
        delays = [gap * i if i < self.args.concurrency else 0.0 for i in range(len(questions))]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._answer_one(q, f, semaphore, delay))
                         for q, f, delay in zip(questions, frames, delays)]
        except BaseExceptionGroup as errors:  # a fatal error (bad key, unknown model) stops the run
            fatal = [e for e in errors.exceptions if isinstance(e, ActbenchError)]
            raise (fatal[0] if fatal else errors.exceptions[0]) from None
        self._cpu_per_question = (time.process_time() - cpu0) / len(questions)
        return [t.result() for t in tasks]

    async def _answer_one(self, q: Question, frames: Any, semaphore: asyncio.Semaphore, delay: float) -> Answer:
        answer = self._completed[q.id] = await self._answer_one_inner(q, frames, semaphore, delay)
        return answer

    async def _answer_one_inner(self, q: Question, frames: Any, semaphore: asyncio.Semaphore,
                                delay: float) -> Answer:
        async with semaphore:
            if delay > 0:
                await asyncio.sleep(delay)
            t0 = time.perf_counter()
            if self.budget_exhausted:
                return self._budget_answer(q)
            try:
                images = [] if frames is None else await asyncio.to_thread(self._encode, frames)
            except Exception as error:  # a frame that cannot be encoded fails this question only
                return self._error(q, f"frames: {type(error).__name__}: {error}", 0.0, 0, t0)
            prompt = prompt_for(q, prompt_stem(q, PERSPECTIVES[self.args.perspective]))
            reserved = await self.budget.admit(len(prompt.encode("utf-8")), [(w, h) for _, w, h in images])
            if reserved is None:
                return self._budget_answer(q)
            cost = tokens_in = 0.0
            try:
                outcome = await self._request(self._request_body(q, prompt, images))
                if isinstance(outcome, _Failure):
                    return self._error(q, outcome.reason, outcome.latency, outcome.attempts, t0)
                answer = self._to_answer(q, outcome, t0)
                self._latency_ewma += 0.1 * (outcome.latency - self._latency_ewma) if self._latency_ewma \
                    else outcome.latency
                cost, tokens_in = answer.cost_usd, answer.tokens_in
                return answer
            finally:
                await self.budget.settle(reserved, cost, int(tokens_in))

    def _encode(self, frames: Any) -> list[tuple[str, int, int]]:
        """(data URL, width, height) per frame (in a worker thread: JPEG encoding releases the GIL)."""
        return [encode_jpeg(frame, self.args.jpeg_quality) for frame in frames]

    def _request_body(self, q: Question, prompt: str, images: list[tuple[str, int, int]]) -> dict[str, Any]:
        if images:
            content: Any = [{"type": "image_url", "image_url": {"url": url, "detail": self.args.detail}}
                            for url, _, _ in images] + [{"type": "text", "text": prompt}]
        else:
            content = prompt
        body: dict[str, Any] = {"model": self.args.model, "messages": [{"role": "user", "content": content}],
                                "max_tokens": self.args.max_tokens, "temperature": self.args.temperature,
                                "seed": self.seed}
        if self.args.logprobs:
            body.update(logprobs=True, top_logprobs=self.args.top_logprobs)
        if self._structured is not None:
            body.update(self._structured.fields(q.letters))
        return body

    async def _request(self, body: dict[str, Any]) -> "_Success | _Failure":
        import openai

        client = self._get_client()
        attempts, latency, reason = 0, 0.0, "no attempt"
        while True:
            pause = self._pause_until - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            attempts += 1
            self.stats["requests"] += 1
            t0 = time.perf_counter()
            retry_after: float | None = None
            try:
                async with asyncio.timeout(self.args.timeout):  # a bound on the whole attempt
                    # The client's documented raw form (client.post, as for undocumented endpoints): the
                    # same auth, HTTP, errors and timeout as chat.completions.create, minus its per-call
                    # parameter transform and response model: ~1 ms of CPU per request, a third of the
                    # client's cost, which shows at concurrency 32 (perf/api_throughput.py).
                    completion = await client.post("/chat/completions", body=body, cast_to=object)
                if not isinstance(completion, dict):
                    raise ValueError(f"expected a JSON object, got {type(completion).__name__}")
                return _Success(completion, time.perf_counter() - t0, attempts)
            except (openai.APITimeoutError, TimeoutError):
                reason = f"timeout after {self.args.timeout:g} s"
            except openai.APIStatusError as error:
                status = error.status_code
                message = self._redact(_error_message(error))
                if status in (401, 403, 404) or getattr(error, "code", None) == "insufficient_quota":
                    hint = f" (the key comes from ${self.args.api_key_env})" if status == 401 else ""
                    raise ActbenchError(f"model '{self.name}': HTTP {status} from "
                                        f"{_public_url(self.args.base_url or DEFAULT_BASE_URL)}: {message}{hint}")
                if self._structured is not None:  # a server refusing the field stops the run: no retry, no fallback
                    self._structured.check_refusal(status, message)
                reason = f"HTTP {status}: {message}"
                should_retry = error.response.headers.get("x-should-retry")
                if not (status in (408, 409, 429) or status >= 500) or should_retry == "false":
                    return _Failure(reason, time.perf_counter() - t0, attempts)
                if status == 429:
                    self.stats["rate_limited"] += 1
                retry_after = parse_retry_after(error.response.headers)
                if retry_after is not None and retry_after > MAX_RETRY_AFTER_S:
                    return _Failure(f"{reason} (Retry-After {retry_after:g} s is too long)",
                                    time.perf_counter() - t0, attempts)
            except openai.APIConnectionError as error:
                reason = f"connection error: {self._redact(str(error))}"
            except Exception as error:  # a malformed body, or a reply of the wrong shape: not transient
                return _Failure(f"malformed response: {type(error).__name__}: {self._redact(str(error))}",
                                time.perf_counter() - t0, attempts)
            latency = time.perf_counter() - t0
            if attempts > self.args.max_retries:
                return _Failure(f"{reason} ({attempts} attempts)", latency, attempts)
            if retry_after is not None and retry_after > 0:
                wait = retry_after * (1 + 0.1 * self._rng.random())  # a little spread: no thundering herd
                self._pause_until = max(self._pause_until, time.monotonic() + wait)
            else:
                wait = min(MAX_BACKOFF_S, self.args.backoff * 2 ** (attempts - 1))
                wait *= 0.5 + 0.5 * self._rng.random()
            self.stats["retries"] += 1
            self.stats["retry_wait_s"] += wait
            await asyncio.sleep(wait)

    def _to_answer(self, q: Question, outcome: "_Success", t0: float) -> Answer:
        data = outcome.completion
        choices = data.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            return self._error(q, "malformed response: no choices[0].message", outcome.latency,
                               outcome.attempts, t0)
        text = message.get("content") or ""
        text = text if isinstance(text, str) else str(text)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        tokens_in = _int(usage.get("prompt_tokens"))
        tokens_out = _int(usage.get("completion_tokens"))
        details = usage.get("prompt_tokens_details")
        cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
        cost = self.price.cost(tokens_in, tokens_out, cached) if self.price else 0.0
        extra: dict[str, Any] = {"attempts": outcome.attempts,
                                 "e2e_latency_s": round(time.perf_counter() - t0, 6)}
        refusal = message.get("refusal")
        if refusal or (not text and choice.get("finish_reason") == "content_filter"):
            return Answer(q.id, None, "refused", str(refusal or "content_filter"), outcome.latency, tokens_in,
                          tokens_out, cost, {**extra, "how": "refusal"})
        # A multi-label answer is several letters: the first token's letter probabilities cannot give it.
        from_logprobs = (letter_from_logprobs(choice, q.letters) if self.args.logprobs and not is_multi_label(q)
                         else None)
        if self._structured is not None:  # the constrained reply decides; the probabilities are kept as reported
            letter, status, how = self._structured.read(text, choice.get("finish_reason"), q.id, q.letters,
                                                        self._redact)
            probs = {"letter_probs": from_logprobs[1]} if from_logprobs else {}
            return Answer(q.id, letter, status, text, outcome.latency, tokens_in, tokens_out, cost,
                          {**extra, "how": how, **probs})
        if from_logprobs is not None:
            letter, probs = from_logprobs
            return Answer(q.id, letter, "ok", text, outcome.latency, tokens_in, tokens_out, cost,
                          {**extra, "how": "logprobs", "letter_probs": probs})
        parsed = parse_reply(text, q)
        return Answer(q.id, parsed.letter, parsed.status, text, outcome.latency, tokens_in, tokens_out, cost,
                      {**extra, "how": parsed.how})

    def _error(self, q: Question, reason: str, latency: float, attempts: int, t0: float) -> Answer:
        return Answer(q.id, None, "error", self._redact(reason), latency,
                      extra={"attempts": attempts, "e2e_latency_s": round(time.perf_counter() - t0, 6)})

    def _budget_answer(self, q: Question) -> Answer:
        return Answer(q.id, None, "error", f"{BUDGET_EXHAUSTED} (max_cost={self.args.max_cost:g})", 0.0,
                      extra={"attempts": 0, NOT_SENT: True})

    def _redact(self, text: str) -> str:
        if len(self._api_key) >= 8:
            text = text.replace(self._api_key, "[redacted]")
        text = _SECRET.sub("[redacted]", " ".join(str(text).split()))
        return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


_SECRET = re.compile(r"(?i)\bbearer\s+\S+|\bsk-[A-Za-z0-9_*.\-]{4,}")


class _Success:
    __slots__ = ("completion", "latency", "attempts")

    def __init__(self, completion: Any, latency: float, attempts: int):
        self.completion, self.latency, self.attempts = completion, latency, attempts


class _Failure:
    __slots__ = ("reason", "latency", "attempts")

    def __init__(self, reason: str, latency: float, attempts: int):
        self.reason, self.latency, self.attempts = reason, latency, attempts


def letter_from_logprobs(choice: dict, letters: Sequence[str]) -> tuple[str, dict[str, float]] | None:
    """The letter with the most first-token probability ("A" and " A" merged, renormalised over the
    valid letters), or None when there are no logprobs or the reply does not start with a letter.

    >>> choice = {"logprobs": {"content": [{"token": "B", "logprob": math.log(0.4), "top_logprobs": [
    ...     {"token": "B", "logprob": math.log(0.4)}, {"token": " A", "logprob": math.log(0.35)},
    ...     {"token": "A", "logprob": math.log(0.2)}, {"token": "The", "logprob": math.log(0.05)}]}]}}
    >>> letter_from_logprobs(choice, ("A", "B", "C"))
    ('A', {'A': 0.578947, 'B': 0.421053})
    """
    try:
        first = choice["logprobs"]["content"][0]
        token = first["token"]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(token, str) or token.strip() not in letters or token not in (token.strip(),
                                                                                    " " + token.strip()):
        return None  # it answered in words ("The answer is B"): the text decides
    mass: dict[str, float] = {}
    for alternative in first.get("top_logprobs") or [first]:
        if not isinstance(alternative, dict):
            continue
        candidate, logprob = alternative.get("token"), alternative.get("logprob")
        if not isinstance(candidate, str) or not isinstance(logprob, (int, float)):
            continue
        letter = candidate[1:] if candidate.startswith(" ") else candidate
        if letter in letters:
            mass[letter] = mass.get(letter, 0.0) + math.exp(logprob)
    total = sum(mass.values())
    if total <= 0:
        return None
    probs = {letter: round(mass[letter] / total, 6) for letter in letters if letter in mass}
    best = max(probs, key=lambda letter: (mass[letter], -letters.index(letter)))
    return best, probs


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and value > 0 else 0


def encode_jpeg(frame: np.ndarray, quality: int = 90) -> tuple[str, int, int]:
    """A uint8 frame (H x W x 3, or H x W grey) as a ``data:image/jpeg;base64,...`` URL, with its size."""
    try:
        from PIL import Image
    except ImportError:
        raise ActbenchError("sending frames to an API model needs Pillow: pip install pillow") from None
    array = np.asarray(frame)
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3))):
        raise ValueError(f"a frame must be a uint8 H x W x 3 array, got {array.dtype} {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(array.squeeze(-1) if array.ndim == 3 and array.shape[2] == 1 else array).save(
        buffer, format="JPEG", quality=quality)
    url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return url, int(array.shape[1]), int(array.shape[0])


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            parsed = email.utils.parsedate_tz(value) if header == "retry-after" else None
            if parsed is None:
                continue
            seconds = email.utils.mktime_tz(parsed) - time.time()
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def _error_message(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(error, "message", "") or error)


def _http_client(choice: str, timeout: float) -> Any:
    """The client's HTTP layer: aiohttp (``openai[aiohttp]``) when installed, as the openai docs advise for
    concurrency (it costs ~40% less CPU per request than the default httpx transport), else httpx (None)."""
    if choice == "httpx":
        return None
    try:
        from openai import DefaultAioHttpClient

        return DefaultAioHttpClient(timeout=timeout)
    except (ImportError, RuntimeError):  # an older openai, or the aiohttp extra not installed
        if choice == "aiohttp":
            raise ActbenchError("http_client=aiohttp needs the aiohttp extra: "
                                "pip install 'openai[aiohttp]'") from None
        return None


def _public_url(url: str) -> str:
    """The URL without user:password or query (where people put tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _close_loop(holder: list) -> None:
    runner, client = holder
    holder[:] = [None, None]
    if runner is None:
        return
    try:
        if client is not None:
            runner.run(client.close())
    except Exception:  # from inside another running loop (a finalizer at an odd time): skip the client
        pass
    runner.close()


# ---- factories (the MODELS registry points here)
def _make(ctx: AdapterContext, name: str, fixed_model: str | None) -> OpenAIAdapter:
    raw = dict(ctx.args)
    if fixed_model is not None:
        if "model" in raw:
            raise ActbenchError.bad_value("--model-arg", "model", f"no model argument for '{name}' (use "
                                          "--model openai with model=NAME for another model)", raw["model"])
        raw["model"] = fixed_model
    elif "model" not in raw:
        raise ActbenchError.bad_value("--model-arg", "model", "model=NAME (the served model's name)", "nothing")
    try:
        args = OpenAIArgs.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        raise ActbenchError.bad_value("--model-arg", ".".join(map(str, first["loc"])), first["msg"].lower(),
                                      first.get("input")) from None
    key = os.environ.get(args.api_key_env, "")
    if not key:
        if args.base_url is None:
            raise ActbenchError(f"model '{name}' needs an API key: set the environment variable "
                                f"{args.api_key_env} (keys are read from the environment only)")
        key = "EMPTY"  # local OpenAI-compatible servers usually take any key
    if fixed_model is None:
        name = f"openai:{args.model}"
    return OpenAIAdapter(name, args, api_key=key, seed=ctx.seed)


def gpt_4o_adapter(ctx: AdapterContext) -> OpenAIAdapter:
    return _make(ctx, "gpt-4o", "gpt-4o")


def gpt_4o_mini_adapter(ctx: AdapterContext) -> OpenAIAdapter:
    return _make(ctx, "gpt-4o-mini", "gpt-4o-mini")


def openai_adapter(ctx: AdapterContext) -> OpenAIAdapter:
    """Any model behind the chat-completions API: model=NAME, and base_url=URL for a local server."""
    return _make(ctx, "openai", None)
