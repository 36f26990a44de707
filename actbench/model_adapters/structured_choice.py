"""Constrained letter choice: the server's structured outputs make the reply exactly one option letter.

The OpenAI-compatible adapter (openai_api.py) takes ``--model-arg structured_output=MODE``; each mode is the
request field one family of servers understands:

====================== ====================================================== ===============================
mode                   request field                                          servers
====================== ====================================================== ===============================
``structured_outputs`` ``"structured_outputs": {"choice": ["A", "B", ...]}``  vLLM >= 0.10.2
``guided_choice``      ``"guided_choice": ["A", "B", ...]``                   vLLM < 0.12 (removed in 0.12)
``regex``              ``"regex": "(A|B|...)"``                               SGLang
``json_schema``        ``"response_format": {"type": "json_schema", ...}``    OpenAI; vLLM, SGLang, llama.cpp
====================== ====================================================== ===============================

The first three make the reply the bare letter; ``json_schema`` makes it ``{"answer": "B"}`` (a strict
schema whose one property is an enum of the question's letters). The letter is then the reply's: status
``ok``, ``how`` ``structured``, the reply kept as ``raw``.

A server can fail to apply the constraint in two ways, and neither may pass silently:

- it refuses the field: an HTTP 400 or 422 whose message names it (OpenAI: "Unrecognized request argument
  supplied: regex"; a server validating strictly: "Extra inputs are not permitted"). The run stops with one
  line naming the mode and quoting the server; retrying or dropping the field would change the experiment.
- it ignores the field and answers freely: vLLM accepts unknown fields with only a log warning (so vLLM
  0.12 and later ignore ``guided_choice``), SGLang ignores them outright. A constrained server cannot
  return a reply that is not one of the letters while generation stopped normally, so such a reply stops
  the run too. A reply cut short by ``max_tokens`` (finish_reason ``length``) is that question's
  ``parse_fail``.

>>> request_fields("structured_outputs", ("A", "B", "C"))
{'structured_outputs': {'choice': ['A', 'B', 'C']}}
>>> request_fields("regex", ("A", "B", "C"))
{'regex': '(A|B|C)'}
>>> letter_of("json_schema", '{"answer": "C"}', ("A", "B", "C")), letter_of("regex", "C. cut", ("A", "B", "C"))
('C', None)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from actbench.errors import ActbenchError

StructuredMode = Literal["off", "structured_outputs", "guided_choice", "regex", "json_schema"]
# Fields api.openai.com does not have: these modes need base_url (a vLLM or SGLang server).
SERVER_ONLY = frozenset({"structured_outputs", "guided_choice", "regex"})
JSON_KEY = "answer"
SCHEMA_NAME = "mqa_answer"  # OpenAI: ^[a-zA-Z0-9_-]{1,64}$
# Statuses a server refuses a request field with: 400 (OpenAI, vLLM), 422 (FastAPI / pydantic validation).
REFUSAL_STATUSES = frozenset({400, 422})
# A refusal is told from other 400s (a prompt too long for the context, say) by naming the field or the feature.
_FEATURE_WORDS = ("structured output", "structured_output", "guided", "grammar")
_FIELD_WORDS = {
    "structured_outputs": ("structured_outputs",),
    "guided_choice": ("guided_choice",),
    "regex": ("regex",),
    "json_schema": ("response_format", "json_schema", "json schema"),
}
MODES_HINT = ("structured_outputs (vLLM >= 0.10.2), guided_choice (vLLM < 0.12), regex (SGLang), json_schema "
              "(OpenAI, or any server with response_format), or off")
_QUOTED_CHARS = 80


def request_fields(mode: str, letters: Sequence[str]) -> dict[str, Any]:
    """The request fields that constrain the reply to one of ``letters`` (nothing for ``off``)."""
    letters = list(letters)
    if mode == "structured_outputs":
        return {"structured_outputs": {"choice": letters}}
    if mode == "guided_choice":
        return {"guided_choice": letters}
    if mode == "regex":
        # Letters are A-Z: nothing to escape. An alternation, not a class: every regex backend takes it.
        return {"regex": "(" + "|".join(letters) + ")"}
    if mode == "json_schema":
        # strict: OpenAI then guarantees the schema; it requires every property required and no other.
        schema = {"type": "object", "properties": {JSON_KEY: {"type": "string", "enum": letters}},
                  "required": [JSON_KEY], "additionalProperties": False}
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": schema}}}
    if mode == "off":
        return {}
    raise ValueError(f"unknown structured_output mode {mode!r}")


def letter_of(mode: str, text: str, letters: Sequence[str]) -> str | None:
    """The letter a reply that conforms to ``mode``'s constraint names, or None when it does not conform."""
    if mode == "json_schema":
        try:
            data = json.loads(text)
        except ValueError:
            return None
        value = data.get(JSON_KEY) if isinstance(data, dict) and set(data) == {JSON_KEY} else None
    else:
        value = text.strip()
    return value if isinstance(value, str) and value in letters else None


def is_refusal(mode: str, status: int, message: str) -> bool:
    """Whether an HTTP error is the server refusing ``mode``'s field (rather than failing one question).

    >>> is_refusal("regex", 400, "Unrecognized request argument supplied: regex")
    True
    >>> is_refusal("regex", 400, "This model's maximum context length is 8192 tokens")
    False
    """
    if mode == "off" or status not in REFUSAL_STATUSES:
        return False
    text = message.lower()
    return any(word in text for word in (*_FIELD_WORDS[mode], *_FEATURE_WORDS))


@dataclass(frozen=True)
class StructuredChoice:
    """One adapter's mode, with what its errors name: ``model`` (the adapter's name) and ``url`` (public)."""

    mode: StructuredMode
    model: str
    url: str

    def fields(self, letters: Sequence[str]) -> dict[str, Any]:
        return request_fields(self.mode, letters)

    def check_refusal(self, status: int, message: str) -> None:
        """Raise the run-stopping error when an HTTP error is the server refusing the field.

        ``message`` is the server's, already redacted (it may echo the request's key)."""
        if is_refusal(self.mode, status, message):
            raise ActbenchError(f"model '{self.model}': {self.url} refused --model-arg structured_output={self.mode} "
                                f"(HTTP {status}: {message}); use a mode this server supports: {MODES_HINT}")

    def read(self, text: str, finish_reason: Any, question_id: str, letters: Sequence[str],
             redact: Callable[[str], str]) -> tuple[str | None, Literal["ok", "parse_fail"], str]:
        """(letter, status, how) of a reply; raises when the reply shows the server ignored the constraint.

        ``redact`` cleans the reply before an error quotes it (a reply can echo anything, a key included)."""
        letter = letter_of(self.mode, text, letters)
        if letter is not None:
            return letter, "ok", "structured"
        if finish_reason == "length":  # max_tokens cut the reply: this question fails, the server is fine
            return None, "parse_fail", "structured_truncated"
        quoted = redact(text)
        quoted = quoted if len(quoted) <= _QUOTED_CHARS else quoted[: _QUOTED_CHARS - 3] + "..."
        raise ActbenchError(f"model '{self.model}': {self.url} did not apply --model-arg structured_output="
                            f"{self.mode}: its reply to {question_id} is {quoted!r}, not one of {', '.join(letters)} "
                            f"(vLLM >= 0.12 ignores guided_choice, SGLang ignores structured_outputs); use a mode "
                            f"this server supports: {MODES_HINT}")
