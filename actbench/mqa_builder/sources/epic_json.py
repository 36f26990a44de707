"""``epic-json``: an EPIC-KITCHENS-100 action-recognition challenge submission.

The format is the one the official tools write (epic-kitchens/C1-Action-Recognition,
``utils/challenge.py``: ``make_action_recognition_submission``; ``create_submission.py`` zips it as
``test.json``)::

    {"version": "0.2", "challenge": "action_recognition",
     "sls_pt": 2, "sls_tl": 3, "sls_td": 4,
     "results": {"P01_11_0": {"verb": {"0": 1.223, ..., "96": 0.023},
                              "noun": {"0": 0.804, ..., "299": 0.023}}, ...}}

Class ids are string keys, scores any real numbers (logits or probabilities). Either the ``.json`` or
the ``.zip`` holding it is accepted. ``challenge`` must be ``action_recognition`` when present; a class
left out of a clip's dict counts as unscored (the official tools always write all 97 / 300).

The action ranking is the official evaluator's (``utils/scoring.py``: ``compute_action_scores``, see
:mod:`actbench.evaluators.action_scores`): softmax over each clip's top-100 verb and top-100 noun scores,
their pairwise products, the 100 best pairs kept, other classes ``-inf``. Scores are the logs of those
probabilities (same order, no float32 underflow).
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from actbench.errors import ActbenchError
from actbench.evaluators.action_scores import OFFICIAL_TOP_K, action_scores_from_verb_noun
from actbench.mqa_builder.ranking import Ranking, SourceContext, check_narration_ids

NAME = "epic-json"
CHALLENGE = "action_recognition"


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):  # json.loads would silently keep the last of two equal keys
        seen: set[str] = set()
        raise _DuplicateKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return out


def load_json(path: Path, *, allow_zip: bool = False) -> object:
    """A JSON document (or, with ``allow_zip``, the single ``.json`` inside a zip); keys must be unique."""
    raw = path.read_bytes()
    if raw[:4] == b"PK\x03\x04":
        if not allow_zip:
            raise ActbenchError.bad_value(path, "content", "a JSON file", "a zip archive")
        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if m.endswith(".json")]
                if len(members) != 1:
                    raise ActbenchError.bad_value(path, "content", "a zip holding exactly one .json file",
                                                  f"{len(members)} .json members {members[:5]}")
                raw = archive.read(members[0])
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, zlib.error) as error:
            raise ActbenchError.bad_value(path, "content", "a readable zip archive", str(error)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ActbenchError.bad_value(path, "content", "UTF-8 JSON text",
                                      f"undecodable byte at offset {error.start}") from None
    if not text.strip():
        raise ActbenchError.bad_value(path, "content", "a JSON document", "an empty file")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as duplicate:
        raise ActbenchError.bad_value(path, "keys", "each key once in an object",
                                      f"{duplicate.args[0]!r} twice") from None
    except json.JSONDecodeError as error:
        raise ActbenchError.bad_value(f"{path}:{error.lineno}:{error.colno}", "content", "valid JSON",
                                      f"{error.msg} (truncated or not JSON?)") from None


_NUMBER_TYPES = frozenset({int, float})  # bool is an int subclass, but not a score


def _fill(row: np.ndarray, scores: object, where: str, field: str, class_keys: list[str]) -> None:
    """Write one clip's ``{class_id: score}`` dict into ``row`` (pre-filled with -inf)."""
    n_classes = len(row)
    if not isinstance(scores, dict):
        raise ActbenchError.bad_value(where, field, "an object {class_id: score}", type(scores).__name__)
    if not scores:
        raise ActbenchError.bad_value(where, field, f"scores for some of the {n_classes} classes", "{}")
    values = list(scores.values())
    if not set(map(type, values)) <= _NUMBER_TYPES:
        key, value = next((k, v) for k, v in scores.items() if type(v) not in _NUMBER_TYPES)
        raise ActbenchError.bad_value(where, f"{field}.{key}", "a number", value)
    try:
        array = np.array(values, dtype=np.float64)
    except OverflowError:  # an integer beyond float range
        array = np.array([float(v) if abs(v) < 1e308 else np.inf for v in values])
    finite = np.isfinite(array)
    if not finite.all():
        key = list(scores)[int(np.flatnonzero(~finite)[0])]
        raise ActbenchError.bad_value(where, f"{field}.{key}", "a finite score", scores[key])
    if len(scores) == n_classes and list(scores) == class_keys:  # the official layout: every class, in order
        row[:] = array
        return
    for key in scores:
        if not (isinstance(key, str) and key.isdigit() and key == str(int(key)) and int(key) < n_classes):
            raise ActbenchError.bad_value(where, field, f"class ids '0'..'{n_classes - 1}' as keys", key)
    row[[int(key) for key in scores]] = array


def rank(ctx: SourceContext) -> Ranking:
    ctx.require_dataset(NAME, "epic-kitchens-100")
    path = ctx.require_predictions(NAME)
    document = load_json(path, allow_zip=True)
    if not isinstance(document, dict):
        raise ActbenchError.bad_value(path, "top level", "an object with 'results'", type(document).__name__)
    if "challenge" in document and document["challenge"] != CHALLENGE:
        raise ActbenchError.bad_value(path, "challenge", repr(CHALLENGE), document["challenge"])
    results = document.get("results")
    if not isinstance(results, dict):
        found = "no such key" if "results" not in document else type(results).__name__
        raise ActbenchError.bad_value(path, "results", "an object {narration_id: {verb, noun}}", found)

    known = frozenset(c.narration_id for c in ctx.dataset.split(ctx.split))
    ids = check_narration_ids(results.keys(), path, known, field="results")
    n_verbs, n_nouns = len(ctx.dataset.verb_classes), len(ctx.dataset.noun_classes)
    verb_keys, noun_keys = [str(i) for i in range(n_verbs)], [str(i) for i in range(n_nouns)]
    verb_scores = np.full((len(ids), n_verbs), -np.inf)
    noun_scores = np.full((len(ids), n_nouns), -np.inf)
    for row, nid in enumerate(ids):
        entry = results[nid]
        where = f"{path}: results.{nid}"
        if not isinstance(entry, dict) or "verb" not in entry or "noun" not in entry:
            found = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise ActbenchError.bad_value(where, "verb/noun", "an object with 'verb' and 'noun' scores", found)
        _fill(verb_scores[row], entry["verb"], where, "verb", verb_keys)
        _fill(noun_scores[row], entry["noun"], where, "noun", noun_keys)

    space = ctx.dataset.action_space
    scores = action_scores_from_verb_noun(verb_scores, noun_scores, space.verb_of, space.noun_of,
                                          top_k=OFFICIAL_TOP_K, log=True)
    return Ranking(ids, scores, origin=str(path))
