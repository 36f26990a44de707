"""Which questions ``actbench run --shard i/n`` answers, and the records run.json keeps about shards.

The rule needs nothing but the run's questions (the benchmark's order, after ``--limit``), so every job
of a Slurm array, Ray or Kubernetes computes the same partition from the benchmark directory alone:

- plain runs: question k goes to shard ``k mod n`` (round robin). Shards differ by at most one question,
  and since a benchmark file lists its questions video by video, interleaving gives every shard the same
  mix of videos and participants (clip lengths, frames to decode, prompt lengths), so shards take about
  the same time and each shard's accuracy is already an estimate of the whole; contiguous blocks would
  hand one job a whole participant. The rotations of ``--permutations`` go with their question.
- ``--sap`` runs: the model's answers to a video's earlier questions go into the prompt of its later
  ones, so a video's questions must stay in one shard. Videos are dealt largest first (ties: first in the
  benchmark first) to the shard with the fewest questions so far (ties: lowest index), the
  longest-processing-time rule: balanced to within the largest video.

Shards are numbered from 0 (``$SLURM_ARRAY_TASK_ID`` with ``--array=0-(n-1)``, Kubernetes'
``$JOB_COMPLETION_INDEX``).

>>> parse("1/3")
(1, 3)
>>> assign(["a", "a", "b", "c", "c", "c"], 2, "question")
[0, 1, 0, 1, 0, 1]
>>> assign(["a", "a", "b", "c", "c", "c"], 2, "video")
[1, 1, 1, 0, 0, 0]
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from actbench.errors import ActbenchError
from actbench.records import Question

By = Literal["question", "video"]
_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


class Shard(BaseModel):
    """``run.json`` of a shard run: shard ``index`` of ``count``, dealt by question or by whole video."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    index: int = Field(ge=0)
    count: int = Field(ge=1)
    by: By

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class MergedShard(BaseModel):
    """Where one shard of a merged run came from (its run directory as given to ``actbench merge``)."""

    model_config = ConfigDict(extra="forbid")
    index: int
    run_dir: str
    actbench_version: str
    versions: dict[str, str]
    started_at: str
    finished_at: str | None


class Merged(BaseModel):
    """``run.json`` of a merged run: the shards joined, and the ones missing (``--allow-partial``)."""

    model_config = ConfigDict(extra="forbid")
    count: int
    by: By
    shards: list[MergedShard]
    missing: list[int] = []


def parse(text: str) -> tuple[int, int]:
    """``"i/n"`` as (i, n), with 0 <= i < n."""
    match = _SPEC.fullmatch(text)
    if match is None or not 0 <= int(match[1]) < int(match[2]):
        raise ActbenchError.bad_value("--shard", "shard", "i/n with 0 <= i < n (shards are numbered from 0)", text)
    return int(match[1]), int(match[2])


def assign(video_ids: Sequence[str], count: int, by: By) -> list[int]:
    """The shard of each question, given the questions' video ids in run order."""
    if by == "question":
        return [k % count for k in range(len(video_ids))]
    sizes: dict[str, int] = {}
    for video in video_ids:  # dicts keep first-appearance order: the tie-break
        sizes[video] = sizes.get(video, 0) + 1
    loads = [(0, index) for index in range(count)]  # a heap of (questions so far, shard)
    shard_of: dict[str, int] = {}
    for video in sorted(sizes, key=lambda v: -sizes[v]):  # sorted() is stable: ties keep benchmark order
        load, index = heapq.heappop(loads)
        shard_of[video] = index
        heapq.heappush(loads, (load + sizes[video], index))
    return [shard_of[v] for v in video_ids]


def shard_of(spec: tuple[int, int], questions: Sequence[Question], *, sap: bool) -> Shard:
    """The record of shard ``spec`` of a run, refused when some shard would get no question."""
    index, count = spec
    by: By = "video" if sap else "question"
    units = len({q.video_id for q in questions}) if sap else len(questions)
    if not 0 <= index < count or count > units:
        what = f"{units} videos (--sap keeps a video's questions together)" if sap else f"{units} questions"
        raise ActbenchError.bad_value("--shard", "shard", f"i/n with 0 <= i < n <= {units} (the run has {what})",
                                      f"{index}/{count}")
    return Shard(index=index, count=count, by=by)


def select(questions: Sequence[Question], shard: Shard) -> list[Question]:
    """The questions of ``shard``, in run order."""
    owner = assign([q.video_id for q in questions], shard.count, shard.by)
    return [q for q, o in zip(questions, owner) if o == shard.index]
