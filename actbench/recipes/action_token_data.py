"""Training examples for the action-token model: LLaVA-style conversation records -> padded batches.

Records are those ``actbench build-train`` writes (``train.json``, see :mod:`actbench.training_data.build`)
and LLaVA-Video-178K-style replay records (no ``start`` / ``end``: the whole video; no class ids)::

    {"id": "P01_01_0/mqa", "video": "P01/videos/P01_01.MP4", "start": 0.14, "end": 3.37,
     "conversations": [{"from": "human", "value": "<video>\\n..."}, {"from": "gpt", "value": "B"}],
     "verb": 3, "noun": 3, "action": 1021}

One example's token ids, the prompt rendered by the checkpoint's chat template exactly as the
evaluation adapter renders it (:func:`actbench.model_adapters.hf_video_mllm.chat_template_for`, one user
turn, ``add_generation_prompt``), then the answer and the end-of-turn token::

    <|im_start|>user [<video> x n_visual][action slot x tokens]\\n{question}<|im_end|>\\n<|im_start|>assistant\\n
    {answer}<|im_end|>

``n_visual`` is what LLaVA-OneVision's processor expands ``<video>`` to (``frames x ceil(side/2)^2 + 1``);
the model writes the video features over those ids and the action token(s) over the slots. Labels are
-100 except on the answer and its end-of-turn token. Further turns of a multi-turn record follow the same
way, separated by the template's newline. Batches are right-padded (training needs no left padding).

>>> epic_video_id("P01/videos/P01_01.MP4"), epic_video_id("academic/clip_7.mp4")
('P01_01', None)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actbench.errors import ActbenchError
from actbench.recipes.action_token import IGNORE, NO_CLASS

VISUAL_PLACEHOLDERS = ("<video>", "<image>")  # build-train writes <video>; LLaVA-Video-178K writes <image>
END_OF_TURN = "<|im_end|>"  # what LLaVA-OneVision's chat template writes after every message
CLASS_FIELDS = ("verb", "noun", "action")

FrameProvider = Callable[[dict], np.ndarray]  # record -> uint8 (N, H, W, 3)


# -- records ----------------------------------------------------------------------------------------
def read_records(path: Path, classes: Sequence[int]) -> list[dict]:
    """The records of a JSON list file, each checked (one-line errors naming file, record and field)."""
    path = Path(path)
    if not path.is_file():
        raise ActbenchError(f"{path}: training data file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ActbenchError.bad_value(path, "file", "a JSON list of conversation records", str(exc)) from None
    if not isinstance(data, list) or not data:
        raise ActbenchError.bad_value(path, "file", "a non-empty JSON list of records", type(data).__name__)
    for i, record in enumerate(data):
        check_record(record, f"{path}[{i}]", classes)
    return data


def check_record(record: Any, where: str, classes: Sequence[int]) -> None:
    if not isinstance(record, dict):
        raise ActbenchError.bad_value(where, "record", "a JSON object", type(record).__name__)
    for key in ("id", "video"):
        if not isinstance(record.get(key), str) or not record[key]:
            raise ActbenchError.bad_value(where, key, "a non-empty string", record.get(key))
    has = [k in record and record[k] is not None for k in ("start", "end")]
    if any(has) and not all(has):
        raise ActbenchError.bad_value(where, "start/end", "both or neither (neither: the whole video)",
                                      {k: record.get(k) for k in ("start", "end")})
    if all(has):
        start, end = record["start"], record["end"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (start, end)) \
                or not 0 <= start <= end:
            raise ActbenchError.bad_value(where, "start/end", "numbers with 0 <= start <= end", (start, end))
    turns = record.get("conversations")
    if not isinstance(turns, list) or len(turns) < 2 or len(turns) % 2:
        raise ActbenchError.bad_value(where, "conversations", "human/gpt turn pairs", turns)
    for k, turn in enumerate(turns):
        role = "human" if k % 2 == 0 else "gpt"
        if not isinstance(turn, dict) or turn.get("from") != role or not isinstance(turn.get("value"), str):
            raise ActbenchError.bad_value(where, f"conversations[{k}]", f'{{"from": "{role}", "value": text}}', turn)
    first = turns[0]["value"]
    found = sum(first.count(p) for p in VISUAL_PLACEHOLDERS)
    if found != 1 or any(p in t["value"] for t in turns[1:] for p in VISUAL_PLACEHOLDERS):
        raise ActbenchError.bad_value(where, "conversations[0].value", "exactly one <video> (or <image>) "
                                      "placeholder, in the first human turn only", first)
    for key, n in zip(CLASS_FIELDS, classes):
        value = record.get(key, NO_CLASS)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not (value == NO_CLASS or 0 <= value < n):
            raise ActbenchError.bad_value(where, key, f"a class id in [0, {n}) or absent", value)


def sample_records(records: list[dict], sampling: str, seed: int, where: str) -> list[dict]:
    """LLaVA-NeXT's data-mix rule: ``all``, ``first:N`` or ``random:P%`` (a seeded share, in file order).

    >>> [r["id"] for r in sample_records([{"id": str(i)} for i in range(4)], "first:2", 0, "x")]
    ['0', '1']
    """
    if sampling == "all":
        return records
    kind, _, amount = sampling.partition(":")
    try:
        if kind == "first":
            return records[: int(amount)]
        if kind == "random" and amount.endswith("%") and 0 < float(amount[:-1]) <= 100:
            n = round(len(records) * float(amount[:-1]) / 100)
            keep = np.sort(np.random.default_rng(seed).permutation(len(records))[:n])
            return [records[i] for i in keep]
    except ValueError:
        pass
    raise ActbenchError.bad_value(where, "sampling", '"all", "first:N" or "random:P%"', sampling)


# -- frames -----------------------------------------------------------------------------------------
def epic_video_id(video: str) -> str | None:
    """``P01/videos/P01_01.MP4`` -> ``P01_01``; None for another layout."""
    parts = Path(video).parts
    if len(parts) == 3 and parts[1] in ("videos", "rgb_frames") and parts[2].split("_")[0] == parts[0]:
        return Path(parts[2]).stem
    return None


@dataclass(frozen=True)
class VideoFrames:
    """The default frame provider: ``sampler.n_frames`` frames of a record's segment or whole video.

    EPIC-KITCHENS records (``P01/videos/P01_01.MP4`` with start / end) go through the evaluation's
    :class:`~actbench.model_adapters.video.FrameSampler` (same times and decoding as at test time); any
    other video file under ``video_root`` without a segment (replay data) is decoded with PyAV, the same
    segment-centre times over its whole duration.
    """

    video_root: Path
    sampler: Any  # FrameSampler

    def __call__(self, record: dict) -> np.ndarray:
        video_id = epic_video_id(record["video"])
        if video_id is not None and record.get("start") is not None:
            got = self.sampler.frames(self.video_root, video_id, float(record["start"]), float(record["end"]))
            if not got.ok:
                raise FileNotFoundError(got.error)
            return got.frames
        path = (Path(self.video_root) / record["video"]).resolve()
        if not path.is_relative_to(Path(self.video_root).resolve()) or not path.is_file():
            raise FileNotFoundError(f"{record['video']}: no such video under {self.video_root}")
        return decode_frames(path, self.sampler.n_frames, record.get("start"), record.get("end"))


def decode_frames(path: Path, n: int, start: float | None = None, end: float | None = None) -> np.ndarray:
    """N frames of a video file (PyAV, one pass): the nearest frame to each segment-centre time."""
    import av

    from actbench.model_adapters.video import sample_times

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        base = stream.time_base
        origin = stream.start_time or 0
        duration = float(stream.duration * base) if stream.duration else container.duration / av.time_base
        times = sample_times(start or 0.0, duration if end is None else end, n)
        out: list[np.ndarray] = []
        prev = None
        for frame in container.decode(stream):
            t = float((frame.pts - origin) * base)
            while len(out) < n and t >= times[len(out)]:
                target = times[len(out)]
                pick = prev[1] if prev is not None and target - prev[0] <= t - target else frame
                out.append(pick.to_ndarray(format="rgb24"))
            if len(out) == n:
                break
            prev = (t, frame)
        if prev is not None:  # times past the last frame take the last frame
            out += [prev[1].to_ndarray(format="rgb24")] * (n - len(out))
    if not out:
        raise FileNotFoundError(f"{path.name}: no frames decoded")
    return np.stack(out)


# -- examples and batches ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    id: str
    input_ids: list[int]
    labels: list[int]
    action_positions: list[int]
    pixel_values_videos: torch.Tensor  # (frames, 3, H, W)
    classes: tuple[int, int, int]  # verb, noun, action (-1: none)


@dataclass(frozen=True)
class ActionTokenBatch:
    ids: tuple[str, ...]
    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor  # (B, T)
    labels: torch.Tensor | None  # (B, T), -100 where not predicted
    action_positions: torch.Tensor  # (B, tokens)
    pixel_values_videos: torch.Tensor  # (B, frames, 3, H, W)
    verb: torch.Tensor  # (B,), -1: none
    noun: torch.Tensor
    action: torch.Tensor

    def to(self, device: Any) -> ActionTokenBatch:
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)
                                if isinstance(getattr(self, f.name), torch.Tensor)})

    def __len__(self) -> int:
        return len(self.ids)


class ConversationEncoder:
    """Token ids, labels and action positions of one record (see the module docstring)."""

    def __init__(self, tokenizer: Any, chat_template: str, family: Any, tokens: int, max_length: int):
        self.tokenizer = tokenizer
        self.template = chat_template
        self.family = family  # hf_families.LlavaOneVision, set up for the checkpoint
        self.tokens = tokens
        self.max_length = max_length
        self.video_id = family.token_ids[family.placeholder]
        self.slot_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.video_id + 1
        end = tokenizer.encode(END_OF_TURN, add_special_tokens=False)
        if len(end) != 1:
            raise ActbenchError(f"the tokenizer does not have {END_OF_TURN!r} as one token (found {end})")
        self.end_id = end[0]

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def _prompt(self, text: str, video: bool) -> str:
        content = ([{"type": "video"}] if video else []) + [{"type": "text", "text": text}]
        return self.tokenizer.apply_chat_template([{"role": "user", "content": content}], chat_template=self.template,
                                                  tokenize=False, add_generation_prompt=True)

    def encode(self, record: dict, frames: np.ndarray) -> Example:
        turns = record["conversations"]
        question = turns[0]["value"]
        for placeholder in VISUAL_PLACEHOLDERS:  # the template writes the placeholder itself
            question = question.replace(placeholder + "\n", "", 1).replace(placeholder, "", 1)
        start, end = record.get("start"), record.get("end")
        encoded = self.family.encode(frames, float(start or 0.0), float(end or 0.0))
        n_visual = encoded.text.count(self.family.placeholder)
        prompt = self._prompt(question.strip(), video=True)
        if prompt.count(self.family.placeholder) != 1:
            raise ActbenchError(f"the chat template writes {self.family.placeholder!r} "
                                f"{prompt.count(self.family.placeholder)} times for one video, expected once")
        before, after = prompt.split(self.family.placeholder)
        ids = self._ids(before) + [self.video_id] * n_visual
        positions = list(range(len(ids), len(ids) + self.tokens))
        ids += [self.slot_id] * self.tokens + self._ids(after)
        labels = [IGNORE] * len(ids)
        for k in range(1, len(turns), 2):
            if k > 1:
                text = "\n" + self._prompt(turns[k - 1]["value"].strip(), video=False)
                ids += self._ids(text)
                labels += [IGNORE] * (len(ids) - len(labels))
            answer = self._ids(turns[k]["value"].strip()) + [self.end_id]
            ids += answer
            labels += answer
        if len(ids) > self.max_length:
            raise ActbenchError.bad_value(f"record {record['id']}", "length",
                                          f"at most max_length = {self.max_length} tokens", len(ids))
        classes = tuple(NO_CLASS if record.get(k) is None else int(record[k]) for k in CLASS_FIELDS)
        return Example(record["id"], ids, labels, positions, encoded.tensors["pixel_values_videos"], classes)


def collate(examples: Sequence[Example], pad_id: int) -> ActionTokenBatch:
    """Right-padded tensors; every example's frames must share one shape (same N and size)."""
    length = max(len(e.input_ids) for e in examples)
    input_ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), length), dtype=torch.long)
    for row, e in enumerate(examples):
        input_ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[row, : len(e.labels)] = torch.tensor(e.labels)
        mask[row, : len(e.input_ids)] = 1
    classes = torch.tensor([e.classes for e in examples], dtype=torch.long)
    return ActionTokenBatch(
        ids=tuple(e.id for e in examples), input_ids=input_ids, attention_mask=mask, labels=labels,
        action_positions=torch.tensor([e.action_positions for e in examples], dtype=torch.long),
        pixel_values_videos=torch.stack([e.pixel_values_videos for e in examples]),
        verb=classes[:, 0], noun=classes[:, 1], action=classes[:, 2])
