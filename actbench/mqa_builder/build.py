"""``build_mqa``: annotations + a distractor source -> a benchmark directory.

Steps: load the split, get the source's ranking, choose the distractors with the vectorised rule,
pick the option texts, place the answer on a balanced letter, write the files atomically. The only
Python loop runs over questions to assemble the records; nothing loops over classes.
"""

from __future__ import annotations

import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from actbench.atomic import sha256_file
from actbench.datasets.registry import open_dataset
from actbench.errors import ActbenchError
from actbench.mqa_builder.benchmark_dir import Manifest, write_benchmark
from actbench.mqa_builder.distractors import SKIP_REASONS, ranks_of, select_distractors
from actbench.mqa_builder.letters import arrange
from actbench.mqa_builder.multi_label import multi_label_questions
from actbench.mqa_builder.option_text import MODES, LabelTexts, NarrationTexts
from actbench.mqa_builder.ranking import SourceContext, source_scores
from actbench.mqa_builder.sources import SOURCES
from actbench.records import LETTERS

_NARRATION_STREAM = 0x4E415252  # seeds the choice of distractor narrations


@dataclass(frozen=True)
class BuildSpec:
    source: str
    out: Path
    k: int = 5
    options: str | None = None  # None: narration where the dataset has descriptions, else label
    seed: int = 0
    split: str | None = None  # None: the dataset's default split
    limit: int | None = None
    predictions: Path | None = None
    name: str | None = None
    data_dir: Path | None = None
    two_stage: bool = False  # options = the source's top-K, the answer not inserted (LLaVAction §3.3)
    dataset: str = "epic-kitchens-100"

    @classmethod
    def from_card(cls, card, **where) -> "BuildSpec":
        """The spec of a benchmark card (``where``: out, predictions, data_dir)."""
        return cls(source=card.source, k=card.k, options=card.options, seed=card.seed, split=card.split,
                   limit=card.limit, name=card.name, dataset=card.dataset, **where)

    def validate(self) -> None:
        if not 2 <= self.k <= len(LETTERS):
            raise ActbenchError.bad_value("--k", "k", f"an integer in [2, {len(LETTERS)}]", self.k)
        if self.options is not None and self.options not in MODES:
            raise ActbenchError.bad_value("--options", "options", f"one of {', '.join(MODES)}", self.options)
        if self.limit is not None and self.limit < 1:
            raise ActbenchError.bad_value("--limit", "limit", "a positive integer", self.limit)
        if self.seed < 0:
            raise ActbenchError.bad_value("--seed", "seed", "a non-negative integer", self.seed)


def _relative_name(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def _skipped_by_row(selection, keys) -> dict[int, list[dict]]:
    skipped: dict[int, list[dict]] = {}
    for r, c, rank, why in zip(selection.skipped_rows.tolist(), selection.skipped_classes.tolist(),
                               selection.skipped_ranks.tolist(), selection.skipped_reasons.tolist()):
        skipped.setdefault(r, []).append({"class": keys[c], "rank": rank, "reason": SKIP_REASONS[why]})
    return skipped


def _assemble(clips, options, classes, ranks, answers, skipped, stem: str) -> list[dict]:
    """Question lines from (N, K) tables of option texts, classes and ranks, and the answer positions."""
    records = []
    for i, (clip, opts, cls, rks, a) in enumerate(zip(clips, options, classes, ranks, answers)):
        record = {"id": clip.narration_id, "video_id": clip.video_id, "start": clip.start, "end": clip.end,
                  "question": stem, "options": opts, "answer_index": a,
                  "answer_letter": None if a is None else LETTERS[a], "option_classes": cls, "source_ranks": rks}
        if i in skipped:
            record["skipped"] = skipped[i]
        records.append(record)
    return records


def _records(clips, k, answer_pos, slots, truth, answer_ranks, selection, answer_texts, distractor_texts, keys,
             stem):
    """The question lines, assembled column-wise: (N, K) tables of texts, classes and ranks."""
    n, d = len(clips), k - 1
    rows = np.arange(n)
    options = np.empty((n, k), dtype=object)
    classes = np.empty((n, k), dtype=object)
    ranks = np.empty((n, k), dtype=object)
    key_array = np.array(keys, dtype=object)
    options[rows, answer_pos] = answer_texts
    classes[rows, answer_pos] = key_array[truth]
    ranks[rows, answer_pos] = [int(r) or None for r in answer_ranks]
    options[rows[:, None], slots] = np.array(distractor_texts, dtype=object).reshape(n, d)
    classes[rows[:, None], slots] = key_array[selection.classes]
    ranks[rows[:, None], slots] = selection.ranks.astype(object)
    return _assemble(clips, options.tolist(), classes.tolist(), ranks.tolist(), answer_pos.tolist(),
                     _skipped_by_row(selection, keys), stem)


def _two_stage_records(clips, k, truth, selection, texts, keys, seed, salt, stem):
    """LLaVAction's two-stage pipeline (§3.3): the options are the source's top-K, the answer is not
    inserted; a question whose ground truth the source missed has no correct option."""
    n = len(clips)
    rng = np.random.default_rng([seed, zlib.crc32(f"two-stage:{salt}".encode("utf-8"))])
    order = np.argsort(rng.random((n, k)), axis=1)  # seeded, so rank order does not show
    chosen = np.take_along_axis(selection.classes, order, axis=1)
    ranks = np.take_along_axis(selection.ranks, order, axis=1)
    rows = np.repeat(np.arange(n), k).reshape(n, k)
    options = np.array(texts.texts(rows, chosen), dtype=object).reshape(n, k)
    hit = chosen == truth[:, None]
    answers = [int(np.flatnonzero(h)[0]) if h.any() else None for h in hit]
    key_array = np.array(keys, dtype=object)
    return _assemble(clips, options.tolist(), key_array[chosen].tolist(), ranks.tolist(), answers,
                     _skipped_by_row(selection, keys), stem)


def _other_labels_unranked(scores: np.ndarray, clips, index: dict[str, int]) -> np.ndarray:
    """A class the segment also has is never its distractor (THUMOS annotates each CliffDiving interval as
    Diving too; multi-label datasets): it is marked not ranked for that segment."""
    cells = [(row, index[key]) for row, clip in enumerate(clips) for key in getattr(clip, "labels", ())
             if key != clip.class_key]
    if not cells:
        return scores
    scores = scores.copy()  # the source's own array may be shared
    rows, cols = np.array(cells, dtype=np.int64).T
    scores[rows, cols] = -np.inf
    return scores


def build_mqa(spec: BuildSpec, *, log: Callable[[str], None] = lambda _: None) -> Manifest:
    spec.validate()
    SOURCES.get(spec.source)  # an unknown name fails before any data is read
    dataset = open_dataset(spec.dataset, spec.data_dir)
    split = dataset.check_split(spec.split or dataset.default_split)
    clips = dataset.split(split)
    if spec.limit is not None:
        clips = clips[: spec.limit]
    predictions = Path(spec.predictions) if spec.predictions is not None else None
    context = SourceContext(dataset, split, clips, predictions, spec.seed)
    if predictions is not None:
        context.check_predictions()  # exists and is not empty, before any work
    # The inputs' sha256 (for the manifest) is computed on the other core while the build runs:
    # hashlib releases the GIL, and hashing a 150 MB score file costs as much as loading it.
    input_files = dataset.input_files()
    to_hash = [*input_files, *([predictions] if predictions is not None else [])]
    hasher = ThreadPoolExecutor(max_workers=1)
    hashes = hasher.submit(lambda: [sha256_file(p) for p in to_hash])
    hasher.shutdown(wait=False)
    log(f"source {spec.source}: ranking {len(clips)} clips")
    scores, origin = source_scores(spec.source, context)
    if not dataset.multi_label:  # multi-label questions take every label as an answer (mqa_builder/multi_label.py)
        scores = _other_labels_unranked(scores, clips, dataset.action_space.index)
    truth = dataset.action_ids(clips)

    options = spec.options or ("narration" if dataset.has_narrations else "label")
    if options == "narration":
        texts = NarrationTexts(dataset.narrations_by_action, clips, spec.seed ^ _NARRATION_STREAM,
                               origin=dataset.text_origin(split))
    else:
        texts = LabelTexts(dataset.action_space.labels, truth)
    keys = dataset.action_space.keys
    answer_ranks = ranks_of(scores, truth)
    if dataset.multi_label:  # every label of a clip is a correct option: mqa_builder/multi_label.py
        log("choosing distractors (multi-label)")
        records, counts = multi_label_questions(clips, scores, dataset.action_space, k=spec.k, seed=spec.seed,
                                                salt=spec.source, stem=dataset.question, origin=origin,
                                                options=options, two_stage=spec.two_stage)
    elif spec.two_stage:
        log("taking the source's top-K as the options")
        # Nothing is excluded as "the answer" and no text reads like it: the plain top-K, deduplicated.
        selection = select_distractors(scores, np.full(len(clips), -1), n_distractors=spec.k,
                                       text_ids=texts.text_ids, answer_text_ids=np.full(len(clips), -2),
                                       row_names=[c.narration_id for c in clips], origin=origin)
        records = _two_stage_records(clips, spec.k, truth, selection, texts, keys, spec.seed, spec.source,
                                     dataset.question)
        answer_pos = np.array([r["answer_index"] for r in records if r["answer_index"] is not None], dtype=np.int64)
    else:
        log("choosing distractors")
        selection = select_distractors(scores, truth, n_distractors=spec.k - 1, text_ids=texts.text_ids,
                                       answer_text_ids=texts.answer_text_ids,
                                       row_names=[c.narration_id for c in clips], origin=origin)
        rows = np.repeat(np.arange(len(clips)), spec.k - 1).reshape(-1, spec.k - 1)
        # The source is part of the placement seed: two benchmarks of the same clips and seed should not
        # put their answers on the same letters (a model's letter bias would hit both identically).
        answer_pos, slots = arrange(len(clips), spec.k, seed=spec.seed, salt=spec.source)
        records = _records(clips, spec.k, answer_pos, slots, truth, answer_ranks, selection,
                           texts.answer_texts(), texts.texts(rows, selection.classes), keys, dataset.question)

    if not dataset.multi_label:
        in_top = int(np.count_nonzero((answer_ranks >= 1) & (answer_ranks <= spec.k)))
        counts = {
            "questions": len(records),
            "answer_letters": {LETTERS[p]: int(n) for p, n in enumerate(np.bincount(answer_pos, minlength=spec.k))},
            "answer_among_options": sum(r["answer_index"] is not None for r in records),
            "skipped": {reason: int(n) for reason, n in sorted(
                Counter(SKIP_REASONS[w] for w in selection.skipped_reasons.tolist()).items())},
            "answer_rank_1": int(np.count_nonzero(answer_ranks == 1)),
            "answer_in_source_top_k": in_top,
            "answer_not_ranked": int(np.count_nonzero(answer_ranks == 0)),
        }
    data_root = dataset.root.parent
    digests = hashes.result()
    inputs = [{"name": _relative_name(p, data_root), "sha256": h} for p, h in zip(input_files, digests)]
    source_args: dict = {}
    if predictions is not None:
        source_args["predictions"] = {"name": predictions.name, "sha256": digests[len(input_files)]}
    log(f"writing {len(records)} questions to {spec.out}")
    return write_benchmark(Path(spec.out), {
        "name": spec.name, "dataset": dataset.name, "split": split, "source": spec.source,
        "source_args": source_args, "k": spec.k, "options": options, "seed": spec.seed,
        "limit": spec.limit, "two_stage": spec.two_stage, "inputs": inputs, "counts": counts,
    }, records)
