"""Local video MLLMs through transformers (the ``[hf]`` extra): LLaVA-OneVision, LLaVA-Video, Qwen2.5-VL,
InternVL3.

Each model name maps to a Hugging Face id (:data:`MODEL_IDS`); the weights load from the local Hugging Face
cache (never downloaded: ``local_files_only``) or from ``model_path=DIR``. The architecture is read from
the checkpoint's ``config.json`` and handled by :mod:`actbench.model_adapters.hf_families`.

The prompt is the checkpoint's own chat template applied to one user turn: the video, then LLaVAction's
multiple-choice prompt (:func:`actbench.prompts.format_mqa`, egocentric by default).

Scoring (``mode=score``, the default): one forward pass per question, batched with left padding and an
attention mask; the next-token logits at the last position, restricted to the question's letters, give
the answer (argmax) and the letter probabilities (``raw``, as JSON, and ``letter_probs``); no token is
generated (``tokens_out`` 0). A letter's
score is the log-sum-exp of the logits of its one-token spellings, ``"A"`` and ``" A"`` (byte-level BPE
tokenizers such as Qwen2's have both): the probability mass of the letter however it is spelt, the same
merge as the API adapter's ``letter_from_logprobs``. ``mode=generate``: greedy decoding of
``max_new_tokens`` tokens, parsed by :func:`~actbench.model_adapters.answer_parser.parse_answer`.

Frames: the adapter sets ``uses_frames``, so the runner samples the run's frames and calls
``answer(questions, frames=[...])`` with one uint8 ``(N, H, W, 3)`` array per question. Without them it
asks ``frame_source(question)``, a callable given at construction (a test's synthetic frames), which
returns such an array, a list of ``(H, W, 3)`` frames, an object with ``frames`` and ``error`` (the
sampler's ``FrameResult``), or None. A question without usable frames gets status ``error`` with the
reason. ``blind=true`` asks the text-only prompt and no frames (``uses_frames`` is then False).

Model arguments (``--model-arg KEY=VALUE``): model_path, cache_dir, device (auto | cpu | cuda | cuda:N |
mps), dtype (auto | float32 | bfloat16 | float16), batch_size, mode (score | generate), max_new_tokens,
perspective (benchmark: the question's own stem | egocentric | allocentric), blind, attn_implementation.

>>> MODEL_IDS["qwen2.5-vl-7b"]
'Qwen/Qwen2.5-VL-7B-Instruct'
>>> HFVideoArgs.model_validate({"batch_size": "8", "mode": "generate"}).batch_size
8
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actbench.errors import ActbenchError
from actbench.model_adapters.multi_answer import parse_reply, refuse_multi_label
from actbench.model_adapters.base import AdapterContext
from actbench.prompts import PERSPECTIVES, mqa_prompt
from actbench.sap import prompt_stem
from actbench.records import LETTERS, Answer, Question
from actbench.model_adapters.letter_tokens import letter_token_ids

MODEL_IDS: dict[str, str] = {
    "llava-onevision-0.5b": "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
    "llava-onevision-7b": "llava-hf/llava-onevision-qwen2-7b-ov-hf",
    "llava-video-7b": "llava-hf/LLaVA-Video-7B-Qwen2-hf",
    "qwen2.5-vl-7b": "Qwen/Qwen2.5-VL-7B-Instruct",
    "internvl3-8b": "OpenGVLab/InternVL3-8B-hf",
}
_REASON_CHARS = 300

FrameSource = Callable[[Question], Any]


class HFVideoArgs(BaseModel):
    """The adapter's arguments; strings from the command line are coerced ("8" -> 8, "true" -> True)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model_path: str | None = None
    cache_dir: str | None = None
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: int = Field(4, ge=1, le=4096)
    mode: Literal["score", "generate"] = "score"
    max_new_tokens: int = Field(16, ge=1, le=4096)
    perspective: Literal["benchmark", "egocentric", "allocentric"] = "benchmark"
    blind: bool = False
    attn_implementation: str | None = None


class HFVideoMLLM:
    """Answers questions with a loaded transformers video MLLM; see the module docstring."""

    sees_prior_actions = True  # the stem comes from prompt_stem (actbench run --sap)

    def __init__(self, name: str, model: Any, tokenizer: Any, family: Any, args: HFVideoArgs, *,
                 chat_template: str, template_source: str = "given", model_id: str | None = None,
                 revision: str | None = None, frame_source: FrameSource | None = None):
        import inspect

        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.family = family
        self.args = args
        self.batch_size = args.batch_size
        self.frame_source = frame_source
        self.chat_template = chat_template
        self.template_source = template_source
        self.model_id = model_id
        self.revision = revision
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._accepts = set(inspect.signature(model.forward).parameters)
        self.letter_ids = letter_token_ids(tokenizer)
        self.eos_ids = _eos_ids(model, tokenizer)
        self._check_template()

    # ---- the adapter protocol
    def describe(self) -> dict[str, Any]:
        import torch
        import transformers

        args = self.args.model_dump()
        describe_frames = getattr(self.frame_source, "describe", None)
        args.update({
            "model_id": self.model_id, "revision": self.revision, **self.family.describe(),
            "chat_template": self.template_source,
            "letter_forms": {k: [self.tokenizer.decode([i]) for i in v] for k, v in self.letter_ids.items()
                             if k in LETTERS[:5]},
            "device": str(self.model.device), "torch_dtype": str(self.model.dtype).replace("torch.", ""),
            "transformers": transformers.__version__, "torch": torch.__version__,
        })
        if self.frame_source is not None:  # else the runner passes frames and records their sampling
            args["frame_source"] = describe_frames() if callable(describe_frames) else getattr(
                self.frame_source, "__name__", "custom")
        return {"name": self.name, "args": args}

    @property
    def uses_frames(self) -> bool:
        """True: the runner samples the run's frames and passes them to :meth:`answer` (unless blind)."""
        return not self.args.blind

    def answer(self, questions: Sequence[Question], frames: Sequence[Any] | None = None) -> list[Answer]:
        """One answer per question; ``frames`` (one uint8 ``(N, H, W, 3)`` array per question, from the
        runner) take the place of ``frame_source``."""
        if frames is not None and len(frames) != len(questions):
            raise ValueError(f"{len(frames)} frame arrays for {len(questions)} questions")
        if self.args.mode == "score":
            refuse_multi_label(self.name, questions, "picks one letter by its logits (mode=score)")
        out: dict[int, Answer] = {}
        # Questions wait in a group until it holds batch_size of them: one forward pass needs stackable
        # pixels (LLaVA-OneVision: same frame count and size), and at most one batch of pixels is held.
        groups: dict[tuple, list] = {}
        for i, q in enumerate(questions):
            t0 = time.perf_counter()
            try:
                text, encoded = self._prompt(q, None if frames is None else frames[i])
            except _NoFrames as exc:
                out[i] = Answer(q.id, None, "error", _short(str(exc)), time.perf_counter() - t0)
                continue
            key = encoded.group if encoded is not None else ("text",)
            waiting = groups.setdefault(key, [])
            waiting.append((i, q, text, encoded, time.perf_counter() - t0))
            if len(waiting) == self.batch_size:
                out.update(self._run(groups.pop(key)))
        for items in groups.values():
            out.update(self._run(items))
        return [out[i] for i in range(len(questions))]

    # ---- prompt and frames
    def prompt_text(self, q: Question, with_video: bool = True) -> str:
        """The chat-templated prompt with the video placeholder not yet expanded."""
        text = mqa_prompt(q, prompt_stem(q, PERSPECTIVES[self.args.perspective]))
        content = ([{"type": "video"}] if with_video else []) + [{"type": "text", "text": text}]
        return self.tokenizer.apply_chat_template([{"role": "user", "content": content}],
                                                  chat_template=self.chat_template, tokenize=False,
                                                  add_generation_prompt=True)

    def _check_template(self) -> None:
        probe = Question("probe", "P00_00", 0.0, 1.0, "?", ("a", "b"), 0, "A", ("0:0", "0:1"), (1, 2))
        found = self.prompt_text(probe).count(self.family.placeholder)
        if not self.args.blind and found != 1:
            raise ActbenchError(f"model '{self.name}': its chat template ({self.template_source}) writes the "
                                f"video placeholder {self.family.placeholder!r} {found} times for one video, "
                                "expected once")

    def _prompt(self, q: Question, given: Any = None) -> tuple[str, Any]:
        if self.args.blind:
            return self.prompt_text(q, with_video=False), None
        frames = self._frames(q, given)
        encoded = self.family.encode(frames, float(q.start), float(q.end))
        return self.prompt_text(q).replace(self.family.placeholder, encoded.text, 1), encoded

    def _frames(self, q: Question, given: Any = None) -> np.ndarray:
        if given is not None:
            got = given
        elif self.frame_source is None:
            raise _NoFrames("no video frames: this run has no frame source (give a video root, or "
                            "blind=true for the text-only prompt)")
        else:
            try:
                got = self.frame_source(q)
            except ActbenchError:  # the run cannot read any video (no decoder installed): stop it
                raise
            except Exception as exc:  # a broken video must not stop the run
                raise _NoFrames(f"frames: {type(exc).__name__}: {exc}") from None
        if got is not None and hasattr(got, "error") and hasattr(got, "frames"):
            if got.error:
                raise _NoFrames(str(got.error))
            got = got.frames
        if got is None:
            raise _NoFrames(f"no frames for video {q.video_id} [{q.start}, {q.end}]")
        try:
            frames = np.stack(got) if isinstance(got, (list, tuple)) else np.asarray(got)
        except ValueError as exc:  # frames of different sizes
            raise _NoFrames(f"frames: {exc}") from None
        if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0 or frames.dtype != np.uint8:
            raise _NoFrames(f"frames must be uint8 (N, H, W, 3) with N >= 1, found {frames.dtype} "
                            f"{tuple(frames.shape)}")
        return frames

    # ---- the model
    def _run(self, items: list) -> list[tuple[int, Answer]]:
        return run_retrying_alone(self._forward, items)

    def _forward(self, items: list) -> list[tuple[int, Answer]]:
        import torch

        device, dtype = self.model.device, self.model.dtype
        batch = self.tokenizer([item[2] for item in items], return_tensors="pt", padding=True,
                               add_special_tokens=False)  # the chat template carries every special token
        input_ids = batch["input_ids"].to(device)
        attention_mask = batch["attention_mask"].to(device)
        encoded = [item[3] for item in items if item[3] is not None]
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask,
                  **self.family.collate(encoded, dtype, device)}
        extras = self.family.forward_extras(input_ids, attention_mask, self._accepts)
        t0 = time.perf_counter()
        with torch.inference_mode():
            if self.args.mode == "score":
                if "logits_to_keep" in self._accepts:
                    kwargs["logits_to_keep"] = 1  # the full (batch, length, vocab) logits would not fit
                logits = self.model(**kwargs, **extras, use_cache=False).logits[:, -1, :].float().cpu()
            else:
                extras.pop("position_ids", None)  # generate() derives them from the attention mask
                generated = self.model.generate(
                    **kwargs, **extras, max_new_tokens=self.args.max_new_tokens, do_sample=False, num_beams=1,
                    temperature=None, top_p=None, top_k=None, pad_token_id=self.tokenizer.pad_token_id)
                generated = generated[:, input_ids.shape[1]:].cpu()
        share = (time.perf_counter() - t0) / len(items)
        tokens_in = attention_mask.sum(-1).tolist()
        out = []
        for row, (i, q, _, _, prep) in enumerate(items):
            extra = {"model_s": round(share, 6), "batch": len(items)}
            if self.args.mode == "score":
                answer = self._score(q, logits[row], prep + share, int(tokens_in[row]), extra)
            else:
                answer = self._parse(q, generated[row], prep + share, int(tokens_in[row]), extra)
            out.append((i, answer))
        return out

    def _score(self, q: Question, logits: Any, latency: float, tokens_in: int, extra: dict) -> Answer:
        import torch

        missing = [letter for letter in q.letters if not self.letter_ids.get(letter)]
        if missing:
            return Answer(q.id, None, "error", f"the tokenizer has no one-token spelling of {missing}",
                          latency, tokens_in)
        scores = torch.stack([torch.logsumexp(logits[self.letter_ids[letter]], 0) for letter in q.letters])
        probs = torch.softmax(scores, 0).tolist()
        letter_probs = {letter: round(p, 6) for letter, p in zip(q.letters, probs)}
        letter = q.letters[int(torch.argmax(scores))]
        return Answer(q.id, letter, "ok", json.dumps(letter_probs), latency, tokens_in, 0, 0.0,
                      {**extra, "how": "letter_logits", "letter_probs": letter_probs})

    def _parse(self, q: Question, new_tokens: Any, latency: float, tokens_in: int, extra: dict) -> Answer:
        ids = new_tokens.tolist()
        n_out = next((k + 1 for k, t in enumerate(ids) if t in self.eos_ids), len(ids))
        text = self.tokenizer.decode(ids[:n_out], skip_special_tokens=True)
        parsed = parse_reply(text, q)
        return Answer(q.id, parsed.letter, parsed.status, text, latency, tokens_in, n_out, 0.0,
                      {**extra, "how": parsed.how})


class _NoFrames(Exception):
    """This question has no usable frames; the message is the reason recorded."""


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    found = set(ids if isinstance(ids, (list, tuple)) else [] if ids is None else [ids])
    if tokenizer.eos_token_id is not None:
        found.add(tokenizer.eos_token_id)
    return found


# ---- loading


def resolve_model_dir(name: str, model_id: str, args: HFVideoArgs) -> tuple[Path, str | None]:
    """The folder holding the checkpoint and its revision (the cache snapshot), or a one-line
    :class:`ActbenchError` naming the model id and the fix."""
    fix = (f"pass --model-arg model_path=DIR (a folder with {model_id}'s config.json and weights) or "
           f"populate the Hugging Face cache (huggingface-cli download {model_id}) on a machine that "
           "reaches the Hub")
    if args.model_path is not None:
        folder = Path(args.model_path).expanduser()
        if not (folder / "config.json").is_file():
            raise ActbenchError(f"model '{name}': model_path {folder} has no config.json; {fix}")
        revision = None
    else:
        from huggingface_hub import snapshot_download

        try:
            folder = Path(snapshot_download(model_id, local_files_only=True, cache_dir=args.cache_dir))
        except Exception:  # LocalEntryNotFoundError, or a cache without this repo
            where = args.cache_dir or "the local Hugging Face cache"
            raise ActbenchError(f"model '{name}': the weights of {model_id} are not in {where}; {fix}") from None
        revision = folder.name
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        raise ActbenchError(f"model '{name}': {folder} has no weights (*.safetensors or *.bin) of {model_id}; "
                            f"{fix}")
    return folder, revision


def chat_template_for(model_dir: Path, tokenizer: Any, family: Any) -> tuple[str, str]:
    """The checkpoint's chat template (processor's first, then the tokenizer's) or the family default."""
    for name in ("chat_template.json", "chat_template.jinja", "processor_config.json"):
        path = model_dir / name
        if not path.is_file():
            continue
        if name.endswith(".jinja"):
            return path.read_text(encoding="utf-8"), name
        try:
            template = json.loads(path.read_text(encoding="utf-8")).get("chat_template")
        except (OSError, ValueError, AttributeError):
            template = None
        if isinstance(template, str) and template:
            return template, name
    if isinstance(getattr(tokenizer, "chat_template", None), str) and tokenizer.chat_template:
        return tokenizer.chat_template, "tokenizer"
    return family.default_template, f"actbench default for {family.model_type}"


def _device(requested: str) -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _dtype(requested: str, device: str) -> Any:
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load(name: str, args: HFVideoArgs, *, model_id: str | None = None,
         frame_source: FrameSource | None = None) -> HFVideoMLLM:
    """Load ``name`` (or any supported checkpoint given as ``model_id`` / ``model_path``)."""
    model_id = model_id or MODEL_IDS[name]
    model_dir, revision = resolve_model_dir(name, model_id, args)
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError:
        raise ActbenchError(f"model '{name}' needs torch and transformers: pip install 'actbench[hf]'") from None
    from actbench.model_adapters.hf_families import family_for

    config = transformers.AutoConfig.from_pretrained(model_dir, local_files_only=True)
    family = family_for(getattr(config, "model_type", "?"), str(model_dir))
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    family.setup(config, tokenizer, model_dir)
    device = _device(args.device)
    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": _dtype(args.dtype, device)}
    if importlib.util.find_spec("accelerate") is not None:
        kwargs["device_map"] = device  # straight onto the device: a 7B model is not staged in host memory
    if args.attn_implementation:
        kwargs["attn_implementation"] = args.attn_implementation
    try:
        model = transformers.AutoModelForImageTextToText.from_pretrained(model_dir, **kwargs)
    except OSError as exc:
        raise ActbenchError(f"model '{name}': cannot load the weights of {model_id} from {model_dir}: "
                            f"{_short(str(exc))}") from None
    model.to(device).eval()
    template, source = chat_template_for(model_dir, tokenizer, family)
    return HFVideoMLLM(name, model, tokenizer, family, args, chat_template=template, template_source=source,
                       model_id=model_id, revision=revision, frame_source=frame_source)


def _make(ctx: AdapterContext, name: str) -> HFVideoMLLM:
    try:
        args = HFVideoArgs.model_validate(dict(ctx.args))
    except ValidationError as error:
        first = error.errors()[0]
        raise ActbenchError.bad_value("--model-arg", ".".join(map(str, first["loc"])), first["msg"].lower(),
                                      first.get("input")) from None
    return load(name, args)


def llava_onevision_0_5b_adapter(ctx: AdapterContext) -> HFVideoMLLM:
    return _make(ctx, "llava-onevision-0.5b")


def llava_onevision_7b_adapter(ctx: AdapterContext) -> HFVideoMLLM:
    return _make(ctx, "llava-onevision-7b")


def llava_video_7b_adapter(ctx: AdapterContext) -> HFVideoMLLM:
    return _make(ctx, "llava-video-7b")


def qwen2_5_vl_7b_adapter(ctx: AdapterContext) -> HFVideoMLLM:
    return _make(ctx, "qwen2.5-vl-7b")


def internvl3_8b_adapter(ctx: AdapterContext) -> HFVideoMLLM:
    return _make(ctx, "internvl3-8b")


def run_retrying_alone(forward, items: list) -> list[tuple[int, Answer]]:
    """``forward(items)``; on a device error (out of memory ...) each question is tried alone, and one
    that still fails gets status ``error`` with the reason (items are ``(index, question, ...)``)."""
    try:
        return forward(items)
    except RuntimeError as exc:
        if len(items) > 1:
            return [pair for item in items for pair in run_retrying_alone(forward, [item])]
        i, q, *_ = items[0]
        return [(i, Answer(q.id, None, "error", _short(f"{type(exc).__name__}: {exc}"), 0.0))]
