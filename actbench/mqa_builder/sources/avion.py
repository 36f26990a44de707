"""``avion``: the pickle AVION writes with ``--evaluate --pickle-filename FILE``.

AVION (zhaoyue-zephyrus/AVION, ``scripts/main_lavila_finetune_cls.py``, ``validate``) ends with::

    prob_dict = {'logits': all_logits, 'probs': all_probs, 'targets': all_targets}
    pickle.dump(prob_dict, open(args.pickle_filename, 'wb'))

- ``logits``: ``(N, 3806)``, the classifier's logits averaged over crops (float16 under AMP, else
  float32); columns are the sorted ``"verb:noun"`` list of ``generate_label_map`` (train + validation
  pairs), the label space of :class:`~actbench.datasets.epic_kitchens.ActionSpace`;
- ``probs``: the crop-averaged softmax (not used: the logits rank the same way);
- ``targets``: ``(N,)`` int, the action id of each row.

The file has no narration ids: row ``i`` is row ``i`` of ``--val-metadata`` (``EPIC_100_validation.csv``;
``avion/data/clip_dataset.py`` reads it in file order, and ``validate`` undoes the distributed
interleaving and padding). So the file must cover the whole split, and its ``targets`` must equal the
split's action ids row by row; a mismatch means another annotation file or class list, and is an error.
"""

from __future__ import annotations

import numpy as np

from actbench.errors import ActbenchError
from actbench.mqa_builder.ranking import Ranking, SourceContext, check_scores
from actbench.mqa_builder.safe_pickle import load_pickle

NAME = "avion"
REQUIRED = ("logits", "targets")


def _targets(value: object, origin: object, n_rows: int) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == object or not np.issubdtype(array.dtype, np.integer):
        raise ActbenchError.bad_value(origin, "targets", "integer action ids", f"dtype {array.dtype}")
    if array.shape != (n_rows,):
        raise ActbenchError.bad_value(origin, "targets", f"shape {(n_rows,)}", f"shape {array.shape}")
    return array.astype(np.int64, copy=False)


def rank(ctx: SourceContext) -> Ranking:
    ctx.require_dataset(NAME, "epic-kitchens-100")
    path = ctx.require_predictions(NAME)
    data = load_pickle(path)
    if not isinstance(data, dict):
        raise ActbenchError.bad_value(path, "top level", f"a dict with keys {', '.join(REQUIRED)}",
                                      type(data).__name__)
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise ActbenchError.bad_value(path, missing[0], "a key of AVION's --pickle-filename pickle",
                                      f"missing (keys: {sorted(map(str, data))})")

    rows = ctx.dataset.split(ctx.split)
    space = ctx.dataset.action_space
    targets = _targets(data["targets"], path, len(rows))
    truth = ctx.dataset.action_ids(rows)
    wrong = np.flatnonzero(targets != truth)
    if wrong.size:
        i = int(wrong[0])
        found = int(targets[i])
        found_key = space.keys[found] if 0 <= found < len(space) else f"id {found}"
        raise ActbenchError.bad_value(
            path, "targets", f"the action ids of the {ctx.split} split row by row (sorted 'verb:noun' classes)",
            f"a class list that does not match (row {i} {rows[i].narration_id}: {found_key} vs "
            f"{rows[i].class_key}; {wrong.size} of {len(rows)} rows differ)",
        )
    scores = check_scores(data["logits"], path, (len(rows), len(space)), field="logits")
    return Ranking(tuple(c.narration_id for c in rows), scores, origin=str(path))
