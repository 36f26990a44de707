"""``llavaction``: LLaVAction's ranked prediction JSON (``avion_pred_ids_val.json``, ``tim_pred_ids_val.json``).

LLaVAction (AdaptiveMotorControlLab/LLaVAction) builds its MQA benchmarks from files of this shape::

    {"0": {"predictions": ["3:8", "0:13", ...], "target": "0:2"},
     "1": {...}, ...}

read as ``predictions[str(i)]['predictions']`` / ``['target']`` where ``i`` enumerates the rows of the
annotation CSV after its header, from 0 (``llava/action/dataset.py``, ``VideoMultiChoiceDataset``;
``llava/action/generate_description.py``, which also asserts ``target == f"{verb_class}:{noun_class}"``).
``predictions`` are ``"verb:noun"`` class ids, best first.

Row ``i`` is the ``i``-th clip of the split in annotation order (``EPIC_100_validation.csv``; the
training clips follow ``EPIC_100_train.csv``'s order, both sorted by narration id). Each row's
``target`` must equal that clip's label, which catches a file made for another annotation file. A
listed class scores ``len(predictions) - rank`` (higher = better), every unlisted class ``-inf``.
Rows may be a subset of the split.
"""

from __future__ import annotations

import numpy as np

from actbench.errors import ActbenchError
from actbench.mqa_builder.ranking import Ranking, SourceContext
from actbench.mqa_builder.sources.epic_json import load_json

NAME = "llavaction"


def _row_number(key: str, origin: object, n_rows: int) -> int:
    if not (key.isdigit() and key == str(int(key)) and int(key) < n_rows):
        raise ActbenchError.bad_value(origin, "row", f"row numbers '0'..'{n_rows - 1}' as keys", key)
    return int(key)


def rank(ctx: SourceContext) -> Ranking:
    ctx.require_dataset(NAME, "epic-kitchens-100")
    path = ctx.require_predictions(NAME)
    document = load_json(path)
    if not isinstance(document, dict) or not document:
        found = "{}" if isinstance(document, dict) else type(document).__name__
        raise ActbenchError.bad_value(path, "top level", "an object {row: {predictions, target}}", found)

    clips = ctx.dataset.split(ctx.split)
    index = ctx.dataset.action_space.index
    rows = sorted(_row_number(key, path, len(clips)) for key in document)
    row_ids, col_ids, values = [], [], []
    for out_row, row in enumerate(rows):
        entry = document[str(row)]
        where = f"{path}: row {row}"
        if not isinstance(entry, dict):
            raise ActbenchError.bad_value(where, "entry", "an object with 'predictions' and 'target'",
                                          type(entry).__name__)
        for key in ("predictions", "target"):
            if key not in entry:
                raise ActbenchError.bad_value(where, key, "a key of the entry", f"missing (keys: {sorted(entry)})")
        target, predictions = entry["target"], entry["predictions"]
        clip = clips[row]
        if target != clip.class_key:
            raise ActbenchError.bad_value(where, "target", f"{clip.class_key!r}, the label of {clip.narration_id}",
                                          f"{target!r} (a file for another annotation file or class list?)")
        if not isinstance(predictions, list) or not predictions:
            raise ActbenchError.bad_value(where, "predictions", "a non-empty list of 'verb:noun' classes",
                                          predictions)
        columns = [index.get(p) if isinstance(p, str) else None for p in predictions]
        if None in columns:
            bad = predictions[columns.index(None)]
            raise ActbenchError.bad_value(where, "predictions", "'verb:noun' classes of the action space", bad)
        if len(set(columns)) != len(columns):
            seen: set[int] = set()
            dup = next(p for p, c in zip(predictions, columns, strict=True) if c in seen or seen.add(c))
            raise ActbenchError.bad_value(where, "predictions", "each class once", f"{dup} twice")
        n = len(columns)
        row_ids.append(np.full(n, out_row))
        col_ids.append(np.asarray(columns))
        values.append(np.arange(n, 0, -1, dtype=np.float32))

    scores = np.full((len(rows), len(index)), -np.inf, dtype=np.float32)
    scores[np.concatenate(row_ids), np.concatenate(col_ids)] = np.concatenate(values)
    return Ranking(tuple(clips[row].narration_id for row in rows), scores, origin=str(path))
