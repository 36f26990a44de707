"""``llavaction-action-token``: a checkpoint of the action-token recipe answering multiple-choice questions.

The folder is what ``actbench train --recipe llavaction-action-token-*`` writes (``OUT/final``, or a
``checkpoints/step-N/model``): a LLaVA-OneVision checkpoint plus the learned action token(s) and heads
(:mod:`actbench.recipes.action_token`). Loaded by ``llava-onevision-*`` it would run without the token,
on inputs it was never trained on; this adapter builds each question's inputs with the training code
itself (:class:`~actbench.recipes.action_token_data.ConversationEncoder`, the checkpoint's chat
template): the prompt ids, the visual tokens, then the action token(s), then the instruction::

    <|im_start|>user [<video> x n_visual][action token(s)]\\n{MQA prompt}<|im_end|>\\n<|im_start|>assistant\\n

The MQA prompt is :func:`actbench.prompts.prompt_for` with :func:`actbench.sap.prompt_stem`: LLaVAction's
egocentric stem and the options, which is exactly the human turn of ``build-train``'s MQA records
(:func:`actbench.training_data.mqa.mqa_conversation`); under ``actbench run --sap`` the stem is the
prior-action sentence, as in its prior-action records; a question carrying its own prompt
(``extra["prompt"]``, a difficulty-rating request) is asked that prompt instead.

Scoring as ``hf_video_mllm``'s ``mode=score``: the next-token logits after the prompt (only that position
goes through ``lm_head``), a letter's score the log-sum-exp over its one-token spellings ``"A"`` / ``" A"``,
the answer the argmax over the question's letters, ``raw`` the letter probabilities as JSON. Batches are
right-padded as in training, so a question's answer does not depend on its batch.

Frames: ``uses_frames``; the runner passes one uint8 ``(N, H, W, 3)`` array per question. Called without
frames, a question with its own prompt is asked text-only (no video, hence no action token: the rating
request of ``actbench difficulty``); a multiple-choice question gets status ``error``. The frame count is
the run's (``--frames``, 8 by default): pass the training's ``num_frames`` (16 in the 7B recipe) to test the
model on what it learnt from; the checkpoint does not record it.

Model arguments (``--model-arg KEY=VALUE``): checkpoint (the folder; ``--model-path`` sets the same),
device (auto | cpu | cuda | cuda:N | mps), dtype (auto | float32 | bfloat16 | float16), batch_size,
perspective (benchmark: the question's own stem | egocentric | allocentric), attn_implementation.

>>> ActionTokenArgs.model_validate({"checkpoint": "runs/final", "batch_size": "2"}).batch_size
2
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actbench.errors import ActbenchError
from actbench.model_adapters.base import AdapterContext
from actbench.model_adapters.hf_video_mllm import _short, run_retrying_alone
from actbench.model_adapters.letter_tokens import letter_token_ids
from actbench.model_adapters.multi_answer import refuse_multi_label
from actbench.prompts import PERSPECTIVES, PROMPT_KEY, prompt_for
from actbench.records import LETTERS, Answer, Question
from actbench.sap import prompt_stem

NAME = "llavaction-action-token"
_FILES = ("config.json", "action_token.json", "action_token.safetensors")
_PLACEHOLDERS = ("<video>", "<image>")  # what the training encoder would strip from a prompt


class ActionTokenArgs(BaseModel):
    """The adapter's arguments; strings from the command line are coerced ("8" -> 8)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    checkpoint: str | None = None
    model_path: str | None = None  # what --model-path sets: another name for checkpoint
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: int = Field(4, ge=1, le=4096)
    perspective: Literal["benchmark", "egocentric", "allocentric"] = "benchmark"
    attn_implementation: str | None = None


class _Unanswerable(Exception):
    """This question cannot be put to the model; the message is the reason recorded."""


class ActionTokenAdapter:
    """Answers questions with a loaded :class:`~actbench.recipes.action_token.ActionTokenModel`."""

    name = NAME
    uses_frames = True
    sees_prior_actions = True  # the stem comes from prompt_stem (actbench run --sap)
    takes_custom_prompt = True  # sends a question's own prompt (prompts.prompt_for): it can rate difficulty
    runtime_args = ("batch_size",)  # answers do not depend on it, so a resumed run may change it

    def __init__(self, model: Any, tokenizer: Any, family: Any, args: ActionTokenArgs, *, chat_template: str,
                 template_source: str, checkpoint: str):
        from actbench.recipes.action_token_data import ConversationEncoder

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.family = family
        self.args = args
        self.batch_size = args.batch_size
        self.chat_template = chat_template
        self.template_source = template_source
        self.checkpoint = checkpoint
        # The learned token and heads identify the run (the base weights are far too big to hash per run).
        weights = Path(checkpoint).expanduser() / "action_token.safetensors"
        self.weights_sha256 = hashlib.sha256(weights.read_bytes()).hexdigest()
        text = model.base.config.text_config
        self.max_length = int(getattr(text, "max_position_embeddings", 0) or 0) or 10**9
        # The training encoder, unchanged: the same template, token split, slots and padding id.
        self.encoder = ConversationEncoder(tokenizer, chat_template, family, model.config.tokens, self.max_length)
        self.letter_ids = letter_token_ids(tokenizer)
        probe = Question("probe", "P00_00", 0.0, 1.0, "?", ("a", "b"), 0, "A", ("0:0", "0:1"), (1, 2))
        self.example(probe, np.zeros((1, 14, 14, 3), dtype=np.uint8))  # a template error stops here, once

    # ---- the adapter protocol
    def describe(self) -> dict[str, Any]:
        import torch
        import transformers

        args = self.args.model_dump(exclude={"model_path", "checkpoint"})
        args.update({
            "checkpoint": self.checkpoint,
            "action_token": self.model.config.to_dict(),
            "action_token_sha256": self.weights_sha256,
            **self.family.describe(), "chat_template": self.template_source,
            "letter_forms": {k: [self.tokenizer.decode([i]) for i in v] for k, v in self.letter_ids.items()
                             if k in LETTERS[:5]},
            "device": str(next(self.model.parameters()).device),
            "torch_dtype": str(self.model.base.dtype).replace("torch.", ""),
            "transformers": transformers.__version__, "torch": torch.__version__,
        })
        return {"name": self.name, "args": args}

    def answer(self, questions: Sequence[Question], frames: Sequence[Any] | None = None) -> list[Answer]:
        """One answer per question, in order; ``frames``: one uint8 ``(N, H, W, 3)`` array per question."""
        if frames is not None and len(frames) != len(questions):
            raise ValueError(f"{len(frames)} frame arrays for {len(questions)} questions")
        refuse_multi_label(self.name, questions, "picks one letter by its logits")
        out: dict[int, Answer] = {}
        groups: dict[tuple, list] = {}  # one forward pass needs stackable pixels: same frame count and size
        for i, q in enumerate(questions):
            t0 = time.perf_counter()
            try:
                example = self.example(q, None if frames is None else frames[i])
            except _Unanswerable as exc:
                out[i] = Answer(q.id, None, "error", _short(str(exc)), time.perf_counter() - t0)
                continue
            pixels = example.pixel_values_videos
            key = ("text",) if pixels is None else tuple(pixels.shape)
            waiting = groups.setdefault(key, [])
            waiting.append((i, q, example, time.perf_counter() - t0))
            if len(waiting) == self.batch_size:
                out.update(self._run(groups.pop(key)))
        for items in groups.values():
            out.update(self._run(items))
        return [out[i] for i in range(len(questions))]

    # ---- inputs
    def prompt_text(self, q: Question) -> str:
        """The question's text as the human turn of a training record holds it (after ``<video>\\n``)."""
        return prompt_for(q, prompt_stem(q, PERSPECTIVES[self.args.perspective]))

    def example(self, q: Question, frames: Any = None) -> Any:
        """The question's model inputs (an ``action_token_data.Example`` without answer; ``pixel_values_videos``
        None for a text-only prompt). Raises :class:`_Unanswerable` with the reason."""
        from actbench.recipes.action_token_data import Example

        missing = [letter for letter in q.letters if not self.letter_ids.get(letter)]
        if not q.options or missing:
            raise _Unanswerable("no options" if not q.options else
                                f"the tokenizer has no one-token spelling of {missing}")
        text = self.prompt_text(q)
        if any(p in text for p in _PLACEHOLDERS):
            raise _Unanswerable(f"the prompt contains a video placeholder {_PLACEHOLDERS}")
        if frames is None:
            if not isinstance(q.extra.get(PROMPT_KEY), str):
                raise _Unanswerable("no video frames: the runner passes them when it has a --video-root")
            prompt = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": [{"type": "text", "text": text}]}], chat_template=self.chat_template,
                tokenize=False, add_generation_prompt=True)
            ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            example = Example(q.id, ids, [], [], None, (-1, -1, -1))  # type: ignore[arg-type]
        else:
            # A training record with an empty answer: the encoder writes [prompt][end of turn]; the prompt is
            # what the model reads before it answers.
            record = {"id": q.id, "video": q.video_id, "start": q.start, "end": q.end,
                      "conversations": [{"from": "human", "value": f"<video>\n{text}"}, {"from": "gpt", "value": ""}]}
            try:
                example = self.encoder.encode(record, _checked_frames(frames))
            except ActbenchError as exc:  # longer than the model's context
                raise _Unanswerable(str(exc)) from None
            if example.input_ids[-1] != self.encoder.end_id:
                raise RuntimeError("the training encoder did not end the empty answer with the end of turn")
            example = replace(example, input_ids=example.input_ids[:-1], labels=example.labels[:-1])
        if len(example.input_ids) > self.max_length:
            raise _Unanswerable(f"prompt of {len(example.input_ids)} tokens exceeds the model's {self.max_length}")
        return example

    # ---- the model
    def _run(self, items: list) -> list[tuple[int, Answer]]:
        return run_retrying_alone(self._forward, items)

    def letter_logits(self, examples: Sequence[Any]) -> Any:
        """``(B, vocab)`` next-token logits of examples that share a pixel shape (or are all text-only)."""
        import torch

        from actbench.recipes.action_token_data import collate

        device = next(self.model.parameters()).device
        with torch.inference_mode():
            if examples[0].pixel_values_videos is not None:
                batch = collate(examples, self.encoder.slot_id).to(device)  # right-padded, as in training
                embeds, mask = self.model.inputs_embeds(batch), batch.attention_mask
            else:
                width = max(len(e.input_ids) for e in examples)
                ids = torch.full((len(examples), width), self.encoder.slot_id, dtype=torch.long)
                mask = torch.zeros((len(examples), width), dtype=torch.long)
                for row, e in enumerate(examples):
                    ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
                    mask[row, : len(e.input_ids)] = 1
                mask = mask.to(device)
                embeds = self.model.base.get_input_embeddings()(ids.to(device))
            return self.model.next_token_logits(embeds, mask).cpu()

    def _forward(self, items: list) -> list[tuple[int, Answer]]:
        import torch

        t0 = time.perf_counter()
        logits = self.letter_logits([item[2] for item in items])
        share = (time.perf_counter() - t0) / len(items)
        out = []
        for row, (i, q, example, prep) in enumerate(items):
            scores = torch.stack([torch.logsumexp(logits[row, self.letter_ids[letter]], 0) for letter in q.letters])
            probs = {letter: round(p, 6) for letter, p in zip(q.letters, torch.softmax(scores.double(), 0).tolist())}
            letter = q.letters[int(torch.argmax(scores))]
            extra = {"model_s": round(share, 6), "batch": len(items), "how": "letter_logits", "letter_probs": probs,
                     "video": example.pixel_values_videos is not None}
            out.append((i, Answer(q.id, letter, "ok", json.dumps(probs), prep + share, len(example.input_ids), 0,
                                  0.0, extra)))
        return out


def _checked_frames(given: Any) -> np.ndarray:
    try:
        frames = np.stack(given) if isinstance(given, (list, tuple)) else np.asarray(given)
    except ValueError as exc:  # frames of different sizes
        raise _Unanswerable(f"frames: {exc}") from None
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0 or frames.dtype != np.uint8:
        raise _Unanswerable(f"frames must be uint8 (N, H, W, 3) with N >= 1, found {frames.dtype} "
                            f"{tuple(frames.shape)}")
    return frames



# ---- loading (the MODELS registry points at the factory)


def checkpoint_folder(args: ActionTokenArgs) -> Path:
    """The checkpoint folder named by the arguments, or a one-line :class:`ActbenchError` saying what is wrong."""
    given = args.checkpoint or args.model_path
    if given is None:
        raise ActbenchError.bad_value("--model-arg", "checkpoint", "the folder an action-token training run "
                                      "saved (checkpoint=DIR, e.g. results/train/RECIPE/final)", None)
    if args.checkpoint and args.model_path and Path(args.checkpoint) != Path(args.model_path):
        raise ActbenchError.bad_value("--model-arg", "checkpoint", f"the same folder as model_path ({args.model_path})",
                                      args.checkpoint)
    folder = Path(given).expanduser()
    if not folder.is_dir():
        raise ActbenchError.bad_value("--model-arg", "checkpoint", "an existing folder saved by an action-token "
                                      "training run", str(folder))
    missing = [name for name in _FILES if not (folder / name).is_file()]
    if missing:
        hint = (" (a plain LLaVA-OneVision folder runs with --model llava-onevision-0.5b --model-path DIR)"
                if "config.json" not in missing else "")
        raise ActbenchError.bad_value(folder, missing[0], "the files an action-token training run saves ("
                                      f"{', '.join(_FILES)}){hint}", "missing")
    return folder


def load(args: ActionTokenArgs) -> ActionTokenAdapter:
    """Load the checkpoint of ``args`` onto its device, ready to answer."""
    folder = checkpoint_folder(args)
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError:
        raise ActbenchError(f"model '{NAME}' needs torch and transformers: pip install 'actbench[hf]'") from None
    from actbench.model_adapters.hf_families import family_for
    from actbench.model_adapters.hf_video_mllm import _device, _dtype, chat_template_for
    from actbench.recipes.action_token import load_action_token_model

    config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    if config.model_type != "llava_onevision":
        raise ActbenchError.bad_value(folder / "config.json", "model_type",
                                      "llava_onevision (the action-token model's base)", config.model_type)
    family = family_for(config.model_type, str(folder))
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    family.setup(config, tokenizer, folder)
    device = _device(args.device)
    kwargs: dict[str, Any] = {"attn_implementation": args.attn_implementation} if args.attn_implementation else {}
    if importlib.util.find_spec("accelerate") is not None:
        kwargs["device_map"] = device  # straight onto the device: a 7B base is not staged in host memory
    try:
        model = load_action_token_model(folder, dtype=_dtype(args.dtype, device), **kwargs)
    except OSError as exc:
        raise ActbenchError(f"model '{NAME}': cannot load the weights in {folder}: {_short(str(exc))}") from None
    model.to(device)  # the action token and heads, made on the CPU
    template, source = chat_template_for(folder, tokenizer, family)
    return ActionTokenAdapter(model, tokenizer, family, args, chat_template=template, template_source=source,
                              checkpoint=str(args.checkpoint or args.model_path))


def action_token_adapter(ctx: AdapterContext) -> ActionTokenAdapter:
    try:
        args = ActionTokenArgs.model_validate(dict(ctx.args))
    except ValidationError as error:
        first = error.errors()[0]
        raise ActbenchError.bad_value("--model-arg", ".".join(map(str, first["loc"])), first["msg"].lower(),
                                      first.get("input")) from None
    return load(args)
