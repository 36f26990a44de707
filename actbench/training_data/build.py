"""``build_train``: EPIC-KITCHENS-100 training labels + a specialist's ranking -> a LLaVA-style training set.

One record per (clip, task), all in ``train.json`` (a JSON list, one record per line)::

    {"id": "P01_01_0/mqa", "video": "P01/videos/P01_01.MP4", "start": 0.14, "end": 3.37,
     "conversations": [{"from": "human", "value": "<video>\\n..."}, {"from": "gpt", "value": "B"}],
     "task": "mqa", "narration_id": "P01_01_0", "verb": 3, "noun": 3, "action": 1021}

``video`` is relative to the user's EPIC-KITCHENS-100 folder; ``start`` / ``end`` (seconds) are the
segment to load (the padded one for temporal detection); ``verb`` / ``noun`` / ``action`` are the
class ids the action-token heads are trained on. Tasks, every clip of the split (or of ``--limit``):

- ``mqa`` / ``mqa_prior_actions``: one multiple-choice question per clip (:mod:`.mqa`); a seeded 30% of
  the clips with two close previous actions get them in the prompt (:mod:`.prior_actions`);
- ``temporal_detection``: one per clip (:mod:`.temporal`);
- ``direct_prediction``: one per clip (:mod:`.direct`);
- ``caption`` / ``open_qa``: one per line of the user's ``--captions`` / ``--qa`` JSONL files
  (validated strictly: :func:`read_annotations`), for the clips being built.

``manifest.json`` records the settings, seeds, the sha256 of every input and of ``train.json``, and
the counts; no timestamps or absolute paths, so the same inputs and seed give the same bytes. Both
files are published together (:class:`StagedDirectory`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from actbench import __version__
from actbench.atomic import StagedDirectory, dumps_json, sha256_bytes, sha256_file
from actbench.datasets.epic_kitchens import DATASET, EpicKitchens100
from actbench.errors import ActbenchError
from actbench.mqa_builder.ranking import SourceContext, source_scores
from actbench.mqa_builder.sources import SOURCES
from actbench.records import LETTERS
from actbench.training_data import direct, mqa, prior_actions, temporal

SCHEMA_VERSION = 1
SPLIT = "train"
DATA_FILE = "train.json"
MANIFEST_FILE = "manifest.json"
CAPTION_TASK, QA_TASK = "caption", "open_qa"
CAPTION_PROMPT = ("Describe in details what you see from the video frames. Try to focus on what you are "
                  "doing.")  # LLaVAction Appendix C.1
TASKS = (mqa.TASK, prior_actions.TASK, temporal.TASK, direct.TASK, CAPTION_TASK, QA_TASK)


@dataclass(frozen=True)
class TrainSpec:
    source: str
    out: Path
    predictions: Path | None = None
    k: int = 5
    pool: int | None = None  # default: mqa.pool_size(k), 10 for K = 5
    delta: float = 3.0
    prior_share: float = 0.3
    max_gap: float = 3.0
    seed: int = 0
    limit: int | None = None
    captions: Path | None = None
    qa: Path | None = None
    data_dir: Path | None = None

    @property
    def pool_size(self) -> int:
        return self.pool if self.pool is not None else mqa.pool_size(self.k)

    def validate(self) -> None:
        if not 2 <= self.k <= len(LETTERS):
            raise ActbenchError.bad_value("--k", "k", f"an integer in [2, {len(LETTERS)}]", self.k)
        if self.pool is not None and self.pool < self.k - 1:
            raise ActbenchError.bad_value("--pool", "pool", f"at least K - 1 = {self.k - 1}", self.pool)
        if not (math.isfinite(self.delta) and self.delta >= 0):
            raise ActbenchError.bad_value("--delta", "delta", "a non-negative number of seconds", self.delta)
        if not 0.0 <= self.prior_share <= 1.0:
            raise ActbenchError.bad_value("--prior-share", "prior_share", "a number in [0, 1]", self.prior_share)
        if not (math.isfinite(self.max_gap) and self.max_gap >= 0):
            raise ActbenchError.bad_value("--max-gap", "max_gap", "a non-negative number of seconds", self.max_gap)
        if self.limit is not None and self.limit < 1:
            raise ActbenchError.bad_value("--limit", "limit", "a positive integer", self.limit)
        if self.seed < 0:
            raise ActbenchError.bad_value("--seed", "seed", "a non-negative integer", self.seed)


# -- the user's caption / QA files ------------------------------------------------------------------
class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a non-blank string")
        return value


class CaptionLine(_Line):
    narration_id: str
    caption: str


class QaLine(_Line):
    narration_id: str
    question: str
    answer: str


def read_annotations(path: Path, model: type[_Line], flag: str, known: frozenset[str]) -> list[_Line]:
    """The lines of a JSONL file, each validated; blank lines are allowed, nothing else is lenient."""
    path = Path(path)
    if not path.is_file():
        raise ActbenchError(f"{path}: file not found ({flag})")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ActbenchError.bad_value(path, "encoding", "UTF-8 text", f"a bad byte at offset {error.start}") from None
    lines, seen = [], set()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        try:
            line = model.model_validate_json(raw)
        except ValidationError as error:
            raise ActbenchError.from_validation(where, error, "line") from None
        if line.narration_id not in known:
            raise ActbenchError.bad_value(where, "narration_id", "a narration id of the training split",
                                          line.narration_id)
        if model is CaptionLine:
            if line.narration_id in seen:
                raise ActbenchError.bad_value(where, "narration_id", "one caption per clip",
                                              f"{line.narration_id} again")
            seen.add(line.narration_id)
        lines.append(line)
    if not lines:
        raise ActbenchError.bad_value(path, "lines", f"at least one JSON line ({flag})", "an empty file")
    return lines


# -- records ----------------------------------------------------------------------------------------
def _video_path(clip) -> str:
    return f"{clip.participant_id}/videos/{clip.video_id}.MP4"


def _record(clip, task: str, start: float, end: float, conversations: list[dict], action: int, suffix: str = ""):
    return {"id": f"{clip.narration_id}/{task}{suffix}", "video": _video_path(clip), "start": start, "end": end,
            "conversations": conversations, "task": task, "narration_id": clip.narration_id,
            "verb": clip.verb_class, "noun": clip.noun_class, "action": action}


def _relative_name(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def build_train(spec: TrainSpec, *, log: Callable[[str], None] = lambda _: None,
                dataset: EpicKitchens100 | None = None) -> dict:
    """Build the training set into ``spec.out``; returns the manifest (also written there).

    ``dataset``: an already loaded :class:`EpicKitchens100` to reuse (else read from ``spec.data_dir``).
    """
    spec.validate()
    SOURCES.get(spec.source)  # an unknown name fails before any data is read
    dataset = dataset if dataset is not None else EpicKitchens100.from_data_dir(spec.data_dir)
    split_clips = dataset.train
    clips = split_clips[: spec.limit] if spec.limit is not None else split_clips
    known = frozenset(c.narration_id for c in split_clips)
    captions = read_annotations(spec.captions, CaptionLine, "--captions", known) if spec.captions else []
    qa = read_annotations(spec.qa, QaLine, "--qa", known) if spec.qa else []
    predictions = Path(spec.predictions) if spec.predictions is not None else None
    context = SourceContext(dataset, SPLIT, clips, predictions, spec.seed)
    if predictions is not None:
        context.check_predictions()
    log(f"source {spec.source}: ranking {len(clips)} training clips")
    scores, origin = source_scores(spec.source, context)
    truth = dataset.action_ids(clips)
    space = dataset.action_space

    log(f"choosing {spec.k - 1} distractors per clip from the top {spec.pool_size}")
    table = mqa.build_mqa_table(scores, truth, clips, narrations_by_action=dataset.narrations_by_action,
                                labels=space.labels, k=spec.k, pool=spec.pool_size, seed=spec.seed,
                                salt=f"train:{spec.source}", origin=origin)
    del scores
    rows = np.arange(len(clips))
    # The text of an action everywhere else (targets, prior actions): its narration, else its label.
    split_truth = dataset.action_ids(split_clips)
    action_text = [c.narration.strip() if c.narration else space.labels[a] for c, a in zip(split_clips, split_truth)]
    prior = prior_actions.previous_actions(split_clips, max_gap=spec.max_gap)
    with_prior = prior_actions.draw_prior(spec.seed, rows, prior.eligible[rows], spec.prior_share)
    starts = np.array([c.start for c in clips], dtype=np.float64)
    ends = np.array([c.end for c in clips], dtype=np.float64)
    info = dataset.video_info
    duration = np.array([info[c.video_id].duration if c.video_id in info else np.inf for c in clips])
    padding = temporal.pad_clips(starts, ends, temporal.draw_alpha(spec.seed, rows), delta=spec.delta,
                                 duration=duration)

    log("writing the conversations")
    mqa_records, temporal_records, direct_records = [], [], []
    for i, clip in enumerate(clips):
        action, text = int(truth[i]), action_text[i]
        question = mqa.QUESTION
        task = mqa.TASK
        if with_prior[i]:
            p1, p2 = int(prior.prev1[i]), int(prior.prev2[i])
            question = prior_actions.prior_question(action_text[p1], clip.start - split_clips[p1].start,
                                                    action_text[p2], clip.start - split_clips[p2].start)
            task = prior_actions.TASK
        mqa_records.append(_record(clip, task, clip.start, clip.end,
                                   mqa.mqa_conversation(question, table.options[i], int(table.answer_index[i])),
                                   action))
        # The written start is what a loader cuts at, so the targets are relative to it exactly.
        start = round(float(padding.start[i]), 2)
        end = round(float(padding.end[i]), 2)
        prompt = temporal.temporal_prompt(text, clip.end - clip.start)
        target = temporal.temporal_target(clip.start - start, clip.end - start)
        temporal_records.append(_record(clip, temporal.TASK, start, end, [
            {"from": "human", "value": f"<video>\n{prompt}"}, {"from": "gpt", "value": target}], action))
        direct_records.append(_record(clip, direct.TASK, clip.start, clip.end, direct.direct_conversation(text),
                                      action))

    position = {c.narration_id: i for i, c in enumerate(clips)}
    extra_records, outside = [], {CAPTION_TASK: 0, QA_TASK: 0}
    per_clip: dict[str, int] = {}
    for task, lines in ((CAPTION_TASK, captions), (QA_TASK, qa)):
        for line in lines:
            i = position.get(line.narration_id)
            if i is None:  # a clip beyond --limit
                outside[task] += 1
                continue
            clip = clips[i]
            if task == CAPTION_TASK:
                human, gpt, suffix = CAPTION_PROMPT, line.caption, ""
            else:
                n = per_clip[line.narration_id] = per_clip.get(line.narration_id, 0) + 1
                human, gpt, suffix = line.question, line.answer, f"/{n}"
            extra_records.append(_record(clip, task, clip.start, clip.end, [
                {"from": "human", "value": f"<video>\n{human}"}, {"from": "gpt", "value": gpt}],
                int(truth[i]), suffix))

    records = [*mqa_records, *temporal_records, *direct_records, *extra_records]
    data = ("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False, allow_nan=False) for r in records)
            + "\n]\n").encode("utf-8")
    tasks = {t: 0 for t in TASKS}
    for r in records:
        tasks[r["task"]] += 1
    counts = {
        "clips": len(clips),
        "records": len(records),
        "tasks": tasks,
        "mqa_option_text": {"narration": int(table.narrated.sum()), "label": int((~table.narrated).sum())},
        "mqa_answer_letters": {LETTERS[p]: int(n) for p, n in
                               enumerate(np.bincount(table.answer_index, minlength=spec.k))},
        "mqa_skipped_candidates": table.skipped,
        "prior_actions": {"eligible": int(prior.eligible[rows].sum()), "with_prior": int(with_prior.sum())},
        "temporal": {"clamped_start": int(padding.clamped_start.sum()),
                     "clamped_end": int(padding.clamped_end.sum())},
        "annotations_beyond_limit": outside,
    }
    data_root = dataset.root.parent
    inputs = [{"name": _relative_name(p, data_root), "sha256": sha256_file(p)} for p in dataset.input_files()]
    user_files = {}
    for key, path in (("predictions", predictions), ("captions", spec.captions), ("qa", spec.qa)):
        if path is not None:
            user_files[key] = {"name": Path(path).name, "sha256": sha256_file(Path(path))}
    manifest = {
        "schema_version": SCHEMA_VERSION, "actbench_version": __version__, "kind": "training-data",
        "dataset": DATASET, "split": SPLIT, "source": spec.source, "k": spec.k, "pool": spec.pool_size,
        "delta": spec.delta, "prior_share": spec.prior_share, "max_gap": spec.max_gap, "seed": spec.seed,
        "limit": spec.limit, "inputs": inputs, "user_files": user_files,
        "outputs": {DATA_FILE: sha256_bytes(data)}, "counts": counts,
    }
    log(f"writing {len(records)} records to {spec.out}")
    with StagedDirectory(Path(spec.out)) as staging:
        (staging / DATA_FILE).write_bytes(data)
        (staging / MANIFEST_FILE).write_text(dumps_json(manifest), encoding="utf-8")
    return manifest
