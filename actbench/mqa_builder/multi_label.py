"""Questions of a multi-label dataset (Animal Kingdom): every label of the clip is a correct option.

The rule (the multi-label form of LLaVAction's hard-example mining, §3.1, used for its Table 6):

- the options are ALL the clip's labels (correct) and hard distractors, the source's top-ranked classes
  that are not among the labels; a clip with fewer than K labels gets K options in total, a clip with K
  or more labels gets its labels and one distractor, so every question has at least one wrong option;
- distractors are chosen by :func:`~actbench.mqa_builder.distractors.select_distractors` (rank order, ties
  to the lower class index, only ranked classes, texts that read like a label or like a higher-ranked
  distractor skipped) on the scores with the labels masked out; ``source_ranks`` are the ranks in the
  source's unmasked ranking, for the labels too;
- the options are placed in a seeded order: a uniform draw per (seed, source, clip id, option) from
  :mod:`~actbench.mqa_builder.seeded_hash`, sorted; the same inputs and seed give the same bytes, and a
  clip's order does not depend on which other clips are built (``--limit``);
- the question line keeps ``answer_index`` / ``answer_letter`` (the first correct option) and adds
  ``answer_indices`` (sorted) and ``answer_letters`` (``"AC"``).

Any source that ranks classes per clip works unchanged (``random``, ``temporal``, ``prior``, ``scores``:
a specialist's multi-label sigmoid scores, VideoMAE's in the paper). Options are label texts (the dataset
has no narrations); two-stage questions are not defined for several answers.

>>> import numpy as np
>>> from types import SimpleNamespace as NS
>>> clip = NS(narration_id="c1", video_id="c1", start=0.0, end=2.0, class_key="b", labels=("b", "d"))
>>> space = NS(keys=("a", "b", "c", "d"), index={"a": 0, "b": 1, "c": 2, "d": 3},
...            labels=("eat", "walk", "sit", "run"))
>>> scores = np.array([[0.9, 0.8, 0.1, 0.7]], dtype=np.float32)
>>> (r,), counts = multi_label_questions([clip], scores, space, k=3, seed=0, salt="scores", stem="?")
>>> sorted(zip(r["options"], r["source_ranks"])), sorted(r["options"][p] for p in r["answer_indices"])
([('eat', 1), ('run', 3), ('walk', 2)], ['run', 'walk'])
"""

from __future__ import annotations

import zlib
from collections import Counter

import numpy as np

from actbench.errors import ActbenchError
from actbench.model_adapters.multi_answer import ANSWER_INDICES, ANSWER_LETTERS
from actbench.mqa_builder.distractors import SKIP_REASONS, ranks_of, select_distractors
from actbench.mqa_builder.seeded_hash import uniform01
from actbench.records import LETTERS
from actbench.text import normalise

_STREAM = 0x4D554C54  # keeps the placement draws independent of the other seeded steps of a build


def n_options(n_labels: int, k: int) -> int:
    """K options when the clip has fewer than K labels, else every label and one distractor.

    >>> [n_options(n, 5) for n in (1, 4, 5, 12)]
    [5, 5, 6, 13]
    """
    return k if n_labels < k else n_labels + 1


def _rank_pairs(scores: np.ndarray, rows: np.ndarray, classes: np.ndarray) -> list[int | None]:
    """1-based ranks of ``classes[i]`` in row ``rows[i]`` of the unmasked scores (None: not ranked)."""
    if len(rows) == 0:
        return []
    return [int(r) or None for r in ranks_of(scores[rows], classes)]


def placement(seed: int, salt: str, clip_id: str, n: int) -> np.ndarray:
    """The seeded order of a question's ``n`` options: ``order[p]`` is the option shown at position p.

    >>> placement(0, "scores", "c1", 4).tolist() == placement(0, "scores", "c1", 4).tolist()
    True
    """
    u = uniform01(seed, np.uint64(_STREAM), np.uint64(zlib.crc32(salt.encode("utf-8"))),
                  np.uint64(zlib.crc32(clip_id.encode("utf-8"))), np.arange(n))
    return np.argsort(u, kind="stable")


def multi_label_questions(clips, scores: np.ndarray, space, *, k: int, seed: int, salt: str, stem: str,
                          origin: str = "source", options: str = "label",
                          two_stage: bool = False) -> tuple[list[dict], dict]:
    """The question lines of the clips (``scores``: the source's (N, C) ranking aligned with them) and the
    manifest's ``counts``. ``space``: the dataset's label space (keys, index, labels)."""
    if two_stage:
        raise ActbenchError.bad_value("--two-stage", "two_stage", "off for a multi-label dataset (every label is "
                                      "inserted among the options)", True)
    if options != "label":
        raise ActbenchError.bad_value("--options", "options", "label for a multi-label dataset (its clips have "
                                      "no narrations)", options)
    texts = [normalise(t) for t in space.labels]
    text_id = {t: i for i, t in enumerate(dict.fromkeys(texts))}
    class_text = np.array([text_id[t] for t in texts], dtype=np.int64)
    labels = [[space.index[key] for key in (clip.labels or (clip.class_key,))] for clip in clips]
    for clip, own in zip(clips, labels):
        if len({texts[c] for c in own}) != len(own):
            raise ActbenchError.bad_value(origin, clip.narration_id, "labels whose texts read differently",
                                          [space.labels[c] for c in own])
        if n_options(len(own), k) > len(LETTERS):
            raise ActbenchError.bad_value(origin, clip.narration_id, f"at most {len(LETTERS) - 1} labels per clip",
                                          len(own))
    n = len(clips)
    width = max((len(own) for own in labels), default=1)
    label_texts = np.full((n, width), -3, dtype=np.int64)  # -3: no label in that column (pads short rows)
    for i, own in enumerate(labels):
        label_texts[i, : len(own)] = class_text[own]
    masked = scores.astype(np.float32, copy=True)
    masked[np.repeat(np.arange(n), [len(own) for own in labels]), np.concatenate(labels or [[]]).astype(np.int64)] \
        = -np.inf  # a label is never a distractor
    first = np.array([own[0] for own in labels], dtype=np.int64)

    wanted = np.array([n_options(len(own), k) - len(own) for own in labels], dtype=np.int64)
    distractors: list[list[int]] = [[] for _ in range(n)]
    skipped: dict[int, list[dict]] = {}
    for d in sorted(set(wanted.tolist())):
        group = np.flatnonzero(wanted == d)

        def text_ids(rows, classes, group=group):
            # A candidate that reads like any label of its clip is skipped as "same_as_answer".
            ids = class_text[classes]
            like_label = (ids[:, None] == label_texts[group[rows]]).any(axis=1)
            return np.where(like_label, label_texts[group[rows], 0], ids)

        selection = select_distractors(masked[group], first[group], n_distractors=d, text_ids=text_ids,
                                       answer_text_ids=label_texts[group, 0],
                                       row_names=[clips[i].narration_id for i in group], origin=origin)
        for local, row in enumerate(group.tolist()):
            distractors[row] = selection.classes[local].tolist()
        rows = group[selection.skipped_rows]
        ranks = _rank_pairs(scores, rows, selection.skipped_classes)
        for row, c, rank, why in zip(rows.tolist(), selection.skipped_classes.tolist(), ranks,
                                     selection.skipped_reasons.tolist()):
            skipped.setdefault(row, []).append({"class": space.keys[c], "rank": rank, "reason": SKIP_REASONS[why]})

    records = []
    letter_hits: Counter = Counter()
    for i, clip in enumerate(clips):
        chosen = labels[i] + distractors[i]
        ranks = _rank_pairs(scores, np.full(len(chosen), i), np.array(chosen))
        order = placement(seed, salt, clip.narration_id, len(chosen))
        correct = sorted(p for p, j in enumerate(order.tolist()) if j < len(labels[i]))
        letters = "".join(LETTERS[p] for p in correct)
        letter_hits.update(letters)
        record = {"id": clip.narration_id, "video_id": clip.video_id, "start": clip.start, "end": clip.end,
                  "question": stem, "options": [space.labels[chosen[j]] for j in order],
                  "answer_index": correct[0], "answer_letter": letters[0],
                  "option_classes": [space.keys[chosen[j]] for j in order], "source_ranks": [ranks[j] for j in order],
                  ANSWER_INDICES: correct, ANSWER_LETTERS: letters}
        if i in skipped:
            record["skipped"] = skipped[i]
        records.append(record)
    return records, _counts(records, labels, letter_hits)


def _counts(records: list[dict], labels: list[list[int]], letter_hits: Counter) -> dict:
    label_ranks = [[r["source_ranks"][p] for p in r[ANSWER_INDICES]] for r in records]
    reasons = Counter(e["reason"] for r in records for e in r.get("skipped", ()))
    widest = max((len(r["options"]) for r in records), default=0)
    return {
        "questions": len(records),
        "answer_letters": {LETTERS[p]: letter_hits.get(LETTERS[p], 0) for p in range(widest)},
        "answer_among_options": len(records),
        "skipped": dict(sorted(reasons.items())),
        "labels_per_question": {str(m): c for m, c in sorted(Counter(len(own) for own in labels).items())},
        "options_per_question": {str(m): c for m, c in sorted(Counter(len(r["options"]) for r in records).items())},
        "label_at_source_rank_1": sum(1 in ranks for ranks in label_ranks),  # a specialist's hit@1
        "labels_not_ranked": sum(rank is None for ranks in label_ranks for rank in ranks),
    }
