"""``tim``: the predictions TIM writes with ``--extract_feats``.

TIM (JacobChalk/TIM, ``recognition/scripts/extract_feats.py``) ends with
``pickle.dump(data, open(f"{features_dir}/{split}_features.pkl", "wb"))``, where ``data`` comes from
``FeatureMeter.finalize_metrics`` (``recognition/time_interval_machine/utils/meters.py``)::

    {"action":          float32 (N_visual, 3806), softmax over the averaged window predictions,
     "v_narration_ids": object array (N_visual,) of "v_<narration_id>" strings,
     "verb":            float32 (N_visual, 97),  "noun": float32 (N_visual, 300)   (EPIC only),
     "audio":           float32 (N_audio, 44),   "a_narration_ids": "a_<id>" strings (EPIC-SOUNDS)}

The ``v_`` / ``a_`` prefixes are added by TIM's dataset (``datasets/sliding_window.py``) to tell visual
from audio queries; they are stripped here (an id without one is taken as is). The ``action`` columns
are the 3,806 classes of the sorted ``"verb:noun"`` list (``--num_class`` default ``([97, 300, 3806], 44)``),
the label space of :class:`~actbench.datasets.epic_kitchens.ActionSpace`. Rows are ranked by
``action``; ``verb`` / ``noun`` are only checked for shape. The file is read with
:func:`~actbench.mqa_builder.safe_pickle.load_pickle`, which runs no code from it.
"""

from __future__ import annotations

import numpy as np

from actbench.errors import ActbenchError
from actbench.mqa_builder.ranking import Ranking, SourceContext, check_narration_ids, check_scores
from actbench.mqa_builder.safe_pickle import load_pickle

NAME = "tim"
VISUAL_PREFIX = "v_"
REQUIRED = ("action", "v_narration_ids")


def _narration_ids(value: object, origin: object) -> list[str]:
    array = np.asarray(value, dtype=object) if isinstance(value, (list, tuple, np.ndarray)) else None
    if array is None or array.ndim != 1:
        found = type(value).__name__ if array is None else f"an array of shape {array.shape}"
        raise ActbenchError.bad_value(origin, "v_narration_ids", "a 1-D array of narration id strings", found)
    ids = array.tolist()
    bad = next((i for i, nid in enumerate(ids) if not isinstance(nid, str)), None)
    if bad is not None:
        raise ActbenchError.bad_value(origin, "v_narration_ids", "narration id strings",
                                      f"{ids[bad]!r} at position {bad}")
    return [nid[len(VISUAL_PREFIX):] if nid.startswith(VISUAL_PREFIX) else nid for nid in ids]


def rank(ctx: SourceContext) -> Ranking:
    ctx.require_dataset(NAME, "epic-kitchens-100")
    path = ctx.require_predictions(NAME)
    data = load_pickle(path)
    if not isinstance(data, dict):
        raise ActbenchError.bad_value(path, "top level", f"a dict with keys {', '.join(REQUIRED)}",
                                      type(data).__name__)
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise ActbenchError.bad_value(path, missing[0], "a key of TIM's --extract_feats pickle",
                                      f"missing (keys: {sorted(map(str, data))})")

    known = frozenset(c.narration_id for c in ctx.dataset.split(ctx.split))
    ids = check_narration_ids(_narration_ids(data["v_narration_ids"], path), path, known,
                              field="v_narration_ids")
    n_classes = len(ctx.dataset.action_space)
    scores = check_scores(data["action"], path, (len(ids), n_classes), field="action")
    for key, width in (("verb", len(ctx.dataset.verb_classes)), ("noun", len(ctx.dataset.noun_classes))):
        if key in data:
            shape = np.shape(data[key])
            if shape != (len(ids), width):
                raise ActbenchError.bad_value(path, key, f"shape {(len(ids), width)}", f"shape {shape}")
    return Ranking(ids, scores, origin=str(path))
