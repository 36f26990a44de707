"""The specialist readers: small files in each native format, read against the real EK100 annotations.

Each test writes a file the way the specialist's own code writes it (pickle.dump of TIM's / AVION's
dict, the official submission JSON, LLaVAction's JSON, numpy / pyarrow for the generic format), reads it
with the source's ``rank`` and checks hand-picked scores land in the right action columns. Every bad
input is an ActbenchError whose one-line message names the file and the field.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

from actbench.errors import ActbenchError
from actbench.evaluators.action_scores import action_scores_from_verb_noun
from actbench.mqa_builder.ranking import SourceContext
from actbench.mqa_builder.sources import avion, epic_json, llavaction, scores_file, tim

N = 20  # the clips of a small build: the first 20 validation clips


@pytest.fixture(scope="module")
def clips(ek100):
    return ek100.validation[:N]


@pytest.fixture(scope="module")
def col(ek100):
    return ek100.action_space.index


def _ctx(ek100, path, split="validation"):
    clips = ek100.split(split)[:N]
    return SourceContext(ek100, split, clips, path, seed=0)


def _fails(module, ek100, path, *fragments):
    with pytest.raises(ActbenchError) as caught:
        module.rank(_ctx(ek100, path))
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _dump(path, obj):
    path.write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    return path


class _Shell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# -- TIM ---------------------------------------------------------------------------------------------
def _tim_data(clips, n_classes):
    rng = np.random.default_rng(1)
    action = rng.random((len(clips), n_classes), dtype=np.float32)
    action /= action.sum(axis=1, keepdims=True)  # softmaxed, as FeatureMeter.finalize_metrics writes
    ids = np.zeros(len(clips) + 2, dtype=object)  # TIM fills one array for visual then audio ids
    ids[: len(clips)] = [f"v_{c.narration_id}" for c in clips]
    ids[len(clips):] = ["a_P01_11_0", "a_P01_11_1"]
    return {
        "action": action,
        "audio": rng.random((2, 44), dtype=np.float32),
        "v_narration_ids": ids[: len(clips)],
        "a_narration_ids": ids[len(clips):],
        "verb": rng.random((len(clips), 97), dtype=np.float32),
        "noun": rng.random((len(clips), 300), dtype=np.float32),
    }


def test_tim_scores_land_in_their_columns(ek100, clips, col, tmp_path):
    data = _tim_data(clips, len(col))
    data["action"][3, col["0:2"]] = 0.9
    data["action"][7, col["3:8"]] = 0.8
    path = _dump(tmp_path / "EPIC_100_validation_features.pkl", data)
    ranking = tim.rank(_ctx(ek100, path))
    assert ranking.narration_ids == tuple(c.narration_id for c in clips)  # "v_" stripped
    assert ranking.scores.dtype == np.float32 and ranking.scores.shape == (N, 3806)
    assert ranking.scores[3, col["0:2"]] == np.float32(0.9)
    assert ranking.scores[7].argmax() == col["3:8"]
    np.testing.assert_array_equal(ranking.aligned_to(clips), data["action"])


@pytest.mark.parametrize("change, fragments", [
    (lambda d: d.pop("action"), ("field 'action'", "missing")),
    (lambda d: d.pop("v_narration_ids"), ("field 'v_narration_ids'", "missing")),
    (lambda d: d.update(action=d["action"][:, :-1]), ("field 'action'", "shape (20, 3806)", "shape (20, 3805)")),
    (lambda d: d.update(action=d["action"][:-1]), ("field 'action'", "shape (20, 3806)", "shape (19, 3806)")),
    (lambda d: d["action"].__setitem__((4, 9), np.nan), ("field 'action'", "finite", "row 4, column 9")),
    (lambda d: d["action"].__setitem__((0, 0), np.inf), ("field 'action'", "finite")),
    (lambda d: d["v_narration_ids"].__setitem__(2, "v_P99_01_7"), ("v_narration_ids", "unknown id P99_01_7")),
    (lambda d: d["v_narration_ids"].__setitem__(2, d["v_narration_ids"][1]), ("v_narration_ids", "twice")),
    (lambda d: d["v_narration_ids"].__setitem__(5, 0), ("v_narration_ids", "narration id strings")),
    (lambda d: d.update(action=d["action"].astype(str)), ("field 'action'", "numeric")),
    (lambda d: d.update(verb=d["verb"][:, :50]), ("field 'verb'", "shape (20, 97)")),
])
def test_tim_bad_inputs(ek100, clips, col, tmp_path, change, fragments):
    data = _tim_data(clips, len(col))
    change(data)
    _fails(tim, ek100, _dump(tmp_path / "tim.pkl", data), *fragments)


def test_tim_foreign_truncated_empty_and_wrong_type_files(ek100, clips, col, tmp_path):
    marker = tmp_path / "pwned"
    data = _tim_data(clips, len(col))
    data["audio"] = _Shell(marker)
    _fails(tim, ek100, _dump(tmp_path / "evil.pkl", data), "forbidden global")
    assert not marker.exists()

    whole = pickle.dumps(_tim_data(clips, len(col)))
    truncated = tmp_path / "cut.pkl"
    truncated.write_bytes(whole[: len(whole) - 1000])
    _fails(tim, ek100, truncated, "truncated")

    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    _fails(tim, ek100, empty, "empty file")

    _fails(tim, ek100, _dump(tmp_path / "list.pkl", [1, 2]), "top level", "list")
    json_file = tmp_path / "preds.json"
    json_file.write_text('{"action": []}')
    _fails(tim, ek100, json_file, "binary pickle")


def test_a_missing_predictions_argument_or_file(ek100, tmp_path):
    with pytest.raises(ActbenchError, match="--predictions"):
        tim.rank(_ctx(ek100, None))
    _fails(tim, ek100, tmp_path / "absent.pkl", "file not found")


# -- AVION -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def avion_data(ek100):
    """AVION's dict for the whole validation split; float16 logits, as under AMP."""
    rows = ek100.validation
    logits = np.zeros((len(rows), len(ek100.action_space)), dtype=np.float16)
    index = ek100.action_space.index
    logits[5, index["0:2"]] = 9.0
    logits[9000, index["3:8"]] = 8.5
    logits[9000, index["0:2"]] = -3.0
    return {"logits": logits, "probs": np.zeros((1, 1), np.float32), "targets": ek100.action_ids(rows)}


def _small_logits(data):
    """Checks that fail before the logits are read need no full-size matrix."""
    return dict(data, logits=np.zeros((1, 1), np.float16))


def test_avion_rows_follow_the_validation_csv(ek100, clips, col, avion_data, tmp_path):
    path = _dump(tmp_path / "avion.pkl", avion_data)
    ranking = avion.rank(_ctx(ek100, path))
    assert ranking.narration_ids == tuple(c.narration_id for c in ek100.validation)
    assert ranking.scores.dtype == np.float32 and ranking.scores.shape == (9668, 3806)
    assert ranking.scores[5, col["0:2"]] == 9.0
    assert ranking.scores[9000].argmax() == col["3:8"] and ranking.scores[9000, col["0:2"]] == -3.0
    aligned = ranking.aligned_to(clips)
    assert aligned.shape == (N, 3806) and aligned[5, col["0:2"]] == 9.0


def test_avion_targets_of_another_class_list(ek100, avion_data, tmp_path):
    shifted = dict(_small_logits(avion_data), targets=avion_data["targets"].copy())
    shifted["targets"][17] = (shifted["targets"][17] + 1) % 3806
    message = _fails(avion, ek100, _dump(tmp_path / "avion.pkl", shifted),
                     "field 'targets'", "a class list that does not match", "row 17")
    assert ek100.validation[17].narration_id in message


@pytest.mark.parametrize("change, fragments", [
    (lambda d: d.update(logits=np.zeros((N, 3806), np.float32), targets=d["targets"][:N]),
     ("field 'targets'", "shape (9668,)", "shape (20,)")),
    (lambda d: d.update(logits=np.zeros((N, 3806), np.float32)), ("field 'logits'", "shape (9668, 3806)",
                                                                   "shape (20, 3806)")),
    (lambda d: d.update(logits=np.zeros((9668, 5), np.float32)), ("field 'logits'", "shape (9668, 5)")),
    (lambda d: d.update(logits=np.zeros((2, 2), object)), ("field 'logits'", "numeric")),
    (lambda d: d.update(targets=d["targets"].astype(np.float32)), ("field 'targets'", "integer action ids")),
    (lambda d: d.update(targets=d["targets"][:-1]), ("field 'targets'", "shape (9668,)")),
    (lambda d: d.pop("targets"), ("field 'targets'", "missing")),
    (lambda d: d.pop("logits"), ("field 'logits'", "missing")),
])
def test_avion_bad_inputs(ek100, avion_data, tmp_path, change, fragments):
    data = _small_logits(avion_data)
    change(data)
    _fails(avion, ek100, _dump(tmp_path / "avion.pkl", data), *fragments)


def test_avion_non_finite_logits(ek100, avion_data, tmp_path):
    logits = avion_data["logits"].copy()
    logits[100, 7] = np.nan
    _fails(avion, ek100, _dump(tmp_path / "avion.pkl", dict(avion_data, logits=logits)),
           "field 'logits'", "finite", "row 100, column 7")


# -- EPIC-KITCHENS challenge JSON --------------------------------------------------------------------
def _submission(clips, seed=3):
    rng = np.random.default_rng(seed)
    verb, noun = rng.normal(size=(len(clips), 97)), rng.normal(size=(len(clips), 300))
    results = {c.narration_id: {"verb": {str(i): float(s) for i, s in enumerate(v)},
                                "noun": {str(i): float(s) for i, s in enumerate(n)}}
               for c, v, n in zip(clips, verb, noun, strict=True)}
    document = {"version": "0.2", "challenge": "action_recognition", "sls_pt": 2, "sls_tl": 3, "sls_td": 4,
                "results": results}
    return document, verb, noun


def test_epic_json_ranks_as_the_official_evaluator(ek100, clips, col, tmp_path):
    document, verb, noun = _submission(clips)
    first = document["results"][clips[0].narration_id]
    first["verb"]["0"], first["noun"]["2"] = 9.0, 9.0  # make "0:2" clip 0's best action
    verb[0, 0], noun[0, 2] = 9.0, 9.0
    path = tmp_path / "test.json"
    path.write_text(json.dumps(document))
    ranking = epic_json.rank(_ctx(ek100, path))
    assert ranking.narration_ids == tuple(c.narration_id for c in clips)
    assert ranking.scores[0].argmax() == col["0:2"]
    ranked = np.isfinite(ranking.scores).sum(axis=1)
    assert (ranked > 0).all() and (ranked <= 100).all()  # top-100 pairs, minus those outside the space
    space = ek100.action_space
    expected = action_scores_from_verb_noun(verb, noun, space.verb_of, space.noun_of, log=True)
    np.testing.assert_allclose(ranking.scores, expected, rtol=1e-6)


def test_epic_json_in_the_official_zip_and_with_partial_dicts(ek100, clips, col, tmp_path):
    document, _, _ = _submission(clips)
    entry = document["results"][clips[1].narration_id]
    entry["verb"] = {"3": 5.0, "0": 1.0}  # only two verbs scored: the others are unranked
    path = tmp_path / "submission.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("test.json", json.dumps(document))  # as create_submission.py writes it
    ranking = epic_json.rank(_ctx(ek100, path))
    verbs_ranked = {int(k.split(":")[0]) for k, s in zip(ek100.action_space.keys, ranking.scores[1], strict=True)
                    if np.isfinite(s)}
    assert verbs_ranked <= {0, 3} and 3 in verbs_ranked


def _mutated(clips, change):
    document, _, _ = _submission(clips)
    change(document, document["results"], clips[0].narration_id)
    return json.dumps(document)


@pytest.mark.parametrize("change, fragments", [
    (lambda d, r, k: d.update(challenge="action_anticipation"), ("field 'challenge'", "action_anticipation")),
    (lambda d, r, k: d.pop("results"), ("field 'results'", "no such key")),
    (lambda d, r, k: r.update({"P99_01_0": r[k]}), ("field 'results'", "unknown id P99_01_0")),
    (lambda d, r, k: r[k]["verb"].update({"4": float("nan")}), ("results.", "field 'verb.4'", "finite")),
    (lambda d, r, k: r[k]["noun"].update({"7": "0.5"}), ("field 'noun.7'", "a number")),
    (lambda d, r, k: r[k]["noun"].update({"7": True}), ("field 'noun.7'", "a number")),
    (lambda d, r, k: r[k]["verb"].update({"97": 1.0}), ("field 'verb'", "class ids '0'..'96'", "97")),
    (lambda d, r, k: r[k].pop("noun"), ("field 'verb/noun'", "'verb' and 'noun'")),
    (lambda d, r, k: r[k].update(verb=[1.0, 2.0]), ("field 'verb'", "an object")),
    (lambda d, r, k: r[k].update(noun={}), ("field 'noun'", "scores for some")),
    (lambda d, r, k: d.update(results={}), ("field 'results'", "at least one clip")),
])
def test_epic_json_bad_inputs(ek100, clips, tmp_path, change, fragments):
    path = tmp_path / "test.json"
    path.write_text(_mutated(clips, change))
    _fails(epic_json, ek100, path, *fragments)


def test_epic_json_duplicate_truncated_empty_and_non_json(ek100, clips, tmp_path):
    text = json.dumps(_submission(clips[:2])[0])
    first = clips[0].narration_id
    duplicated = text.replace(f'"{clips[1].narration_id}"', f'"{first}"')
    path = tmp_path / "dup.json"
    path.write_text(duplicated)
    _fails(epic_json, ek100, path, "each key once", f"'{first}' twice")

    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) // 2])
    _fails(epic_json, ek100, path, "valid JSON")

    path = tmp_path / "blank.json"
    path.write_text("   \n")
    _fails(epic_json, ek100, path, "empty file")

    path = tmp_path / "scores.pkl"
    path.write_bytes(pickle.dumps({"verb_output": 1}))
    _fails(epic_json, ek100, path, "UTF-8")

    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.json", text)
        archive.writestr("b.json", text)
    _fails(epic_json, ek100, path, "exactly one .json")

    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    _fails(epic_json, ek100, path, "top level")


# -- LLaVAction --------------------------------------------------------------------------------------
def _llavaction(clips, keys):
    """Ranked predictions for rows 0..N-1: the truth third, then other classes."""
    out = {}
    for row, clip in enumerate(clips):
        others = [k for k in keys[row * 7: row * 7 + 8] if k != clip.class_key][:6]
        out[str(row)] = {"predictions": others[:2] + [clip.class_key] + others[2:], "target": clip.class_key}
    return out


def test_llavaction_rank_order_becomes_descending_scores(ek100, clips, col, tmp_path):
    data = _llavaction(clips, ek100.action_space.keys)
    path = tmp_path / "avion_pred_ids_val.json"
    path.write_text(json.dumps(dict(reversed(list(data.items())))))  # key order does not matter
    ranking = llavaction.rank(_ctx(ek100, path))
    assert ranking.narration_ids == tuple(c.narration_id for c in clips)
    for row in (0, 13):
        predictions = data[str(row)]["predictions"]
        got = ranking.scores[row, [col[p] for p in predictions]]
        np.testing.assert_array_equal(got, np.arange(len(predictions), 0, -1))
        assert np.isfinite(ranking.scores[row]).sum() == len(predictions)
    assert ranking.scores[0, col[clips[0].class_key]] == len(data["0"]["predictions"]) - 2


def test_llavaction_rows_may_be_a_subset(ek100, clips, tmp_path):
    data = _llavaction(clips, ek100.action_space.keys)
    path = tmp_path / "subset.json"
    path.write_text(json.dumps({k: data[k] for k in ("4", "2")}))
    ranking = llavaction.rank(_ctx(ek100, path))
    assert ranking.narration_ids == (clips[2].narration_id, clips[4].narration_id)


@pytest.mark.parametrize("change, fragments", [
    (lambda d: d["3"].update(target="96:299"), ("row 3", "field 'target'", "'96:299'")),
    (lambda d: d["3"]["predictions"].append("999:999"), ("row 3", "field 'predictions'", "999:999")),
    (lambda d: d["3"]["predictions"].append(d["3"]["predictions"][0]), ("field 'predictions'", "twice")),
    (lambda d: d["3"]["predictions"].append(17), ("field 'predictions'", "action space")),
    (lambda d: d["3"].update(predictions=[]), ("field 'predictions'", "non-empty")),
    (lambda d: d["3"].pop("target"), ("field 'target'", "missing")),
    (lambda d: d["3"].pop("predictions"), ("field 'predictions'", "missing")),
    (lambda d: d.update({"03": d["3"]}), ("field 'row'", "03")),
    (lambda d: d.update({"-1": d["3"]}), ("field 'row'", "-1")),
    (lambda d: d.update({"9668": d["3"]}), ("field 'row'", "'0'..'9667'", "9668")),
    (lambda d: d.update({"3": ["0:2"]}), ("field 'entry'", "list")),
])
def test_llavaction_bad_inputs(ek100, clips, tmp_path, change, fragments):
    data = _llavaction(clips, ek100.action_space.keys)
    change(data)
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(data))
    _fails(llavaction, ek100, path, *fragments)


def test_llavaction_duplicate_rows_and_wrong_top_level(ek100, clips, tmp_path):
    data = _llavaction(clips[:2], ek100.action_space.keys)
    text = json.dumps(data).replace('"1":', '"0":')
    path = tmp_path / "dup.json"
    path.write_text(text)
    _fails(llavaction, ek100, path, "'0' twice")
    path.write_text("[]")
    _fails(llavaction, ek100, path, "top level")
    path.write_text("{}")
    _fails(llavaction, ek100, path, "top level")


# -- generic .npz / .parquet -------------------------------------------------------------------------
SUBSET = ["3:8", "0:2", "1:2", "10:13"]  # any subset of the space, in any order


def _write_npz(path, ids, scores, classes, **extra):
    np.savez(path, narration_ids=np.array(ids), scores=scores, classes=np.array(classes), **extra)
    return path


def _write_parquet(path, ids, scores, classes, *, fixed=True, metadata=True):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if fixed:
        column = pa.FixedSizeListArray.from_arrays(pa.array(np.asarray(scores).ravel()), len(classes))
    else:
        column = pa.array([list(map(float, row)) for row in scores], type=pa.list_(pa.float32()))
    table = pa.table({"narration_id": pa.array(ids, pa.string()), "scores": column})
    if metadata:
        table = table.replace_schema_metadata({"classes": json.dumps(list(classes))})
    pq.write_table(table, path)
    return path


def _subset_scores():
    scores = np.tile(np.arange(len(SUBSET), dtype=np.float32), (N, 1))
    scores[6] = [0.5, 4.0, -1.0, 2.0]
    return scores


@pytest.mark.parametrize("writer", ["npz", "parquet-fixed", "parquet-list"])
def test_scores_file_remaps_a_class_subset(ek100, clips, col, tmp_path, writer):
    ids = [c.narration_id for c in clips]
    scores = _subset_scores()
    if writer == "npz":
        path = _write_npz(tmp_path / "scores.npz", ids, scores, SUBSET)
    else:
        path = _write_parquet(tmp_path / "scores.parquet", ids, scores, SUBSET, fixed=writer == "parquet-fixed")
    ranking = scores_file.rank(_ctx(ek100, path))
    assert ranking.narration_ids == tuple(ids)
    row = ranking.scores[6]
    assert (row[col["3:8"]], row[col["0:2"]], row[col["1:2"]], row[col["10:13"]]) == (0.5, 4.0, -1.0, 2.0)
    assert np.isfinite(row).sum() == 4 and np.isneginf(row).sum() == 3806 - 4


def test_scores_file_full_space_in_order_is_used_as_is(ek100, clips, tmp_path):
    rng = np.random.default_rng(4)
    scores = rng.random((N, 3806), dtype=np.float32)
    ids = [c.narration_id for c in clips][::-1]  # any row order
    path = _write_npz(tmp_path / "full.npz", ids, scores, list(ek100.action_space.keys))
    ranking = scores_file.rank(_ctx(ek100, path))
    np.testing.assert_array_equal(ranking.scores, scores)
    np.testing.assert_array_equal(ranking.aligned_to(clips), scores[::-1])


@pytest.mark.parametrize("kind", ["npz", "parquet"])
@pytest.mark.parametrize("change, fragments", [
    (lambda ids, s, c: (ids, s, c[:-1] + ["0:2"]), ("field 'classes'", "0:2 twice")),
    (lambda ids, s, c: (ids, s, c[:-1] + ["96:299"]), ("field 'classes'", "unknown class '96:299'")),
    (lambda ids, s, c: (ids, s, c[:-1] + ["take plate"]), ("field 'classes'", "'take plate'")),
    (lambda ids, s, c: (ids[:-1] + ["P99_01_1"], s, c), ("narration_ids", "unknown id P99_01_1")),
    (lambda ids, s, c: (ids[:-1] + [ids[0]], s, c), ("narration_ids", "twice")),
    (lambda ids, s, c: (ids, np.where(np.arange(4) == 2, np.nan, s), c),
     ("field 'scores'", "finite", "column 2")),
])
def test_scores_file_bad_inputs(ek100, clips, tmp_path, kind, change, fragments):
    ids, scores, classes = change([c.narration_id for c in clips], _subset_scores(), list(SUBSET))
    writer = _write_npz if kind == "npz" else _write_parquet
    path = writer(tmp_path / f"scores.{kind}", ids, scores, classes)
    _fails(scores_file, ek100, path, *fragments)


def test_scores_file_npz_shape_keys_and_content(ek100, clips, tmp_path):
    ids = [c.narration_id for c in clips]
    path = _write_npz(tmp_path / "a.npz", ids, _subset_scores()[:, :3], SUBSET)
    _fails(scores_file, ek100, path, "field 'scores'", "shape (20, 4)", "shape (20, 3)")
    path = _write_npz(tmp_path / "b.npz", ids, _subset_scores()[:-1], SUBSET)
    _fails(scores_file, ek100, path, "shape (20, 4)", "shape (19, 4)")

    path = tmp_path / "c.npz"
    np.savez(path, narration_ids=np.array(ids), scores=_subset_scores())
    _fails(scores_file, ek100, path, "field 'classes'", "missing")

    path = tmp_path / "d.npz"
    np.savez(path, narration_ids=np.array(ids, dtype=object), scores=_subset_scores(), classes=np.array(SUBSET))
    _fails(scores_file, ek100, path, "object arrays")

    path = _write_npz(tmp_path / "e.npz", np.arange(N), _subset_scores(), SUBSET)
    _fails(scores_file, ek100, path, "field 'narration_ids'", "strings")

    path = tmp_path / "f.npz"
    whole = io.BytesIO()
    np.savez(whole, narration_ids=np.array(ids), scores=_subset_scores(), classes=np.array(SUBSET))
    path.write_bytes(whole.getvalue()[:200])
    _fails(scores_file, ek100, path, "content")

    path = tmp_path / "g.npz"
    path.write_text("narration_id,scores\n")
    _fails(scores_file, ek100, path, "content")

    path = tmp_path / "h.csv"
    path.write_text("narration_id,scores\n")
    _fails(scores_file, ek100, path, "an .npz archive or a .parquet file")


def test_scores_file_parquet_layout_errors(ek100, clips, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = [c.narration_id for c in clips]
    path = _write_parquet(tmp_path / "a.parquet", ids, _subset_scores(), SUBSET, metadata=False)
    _fails(scores_file, ek100, path, "field 'classes'", "schema metadata key 'classes'")

    ragged = [list(map(float, row)) for row in _subset_scores()]
    ragged[5] = ragged[5][:3]
    table = pa.table({"narration_id": ids, "scores": ragged}).replace_schema_metadata(
        {"classes": json.dumps(SUBSET)})
    path = tmp_path / "b.parquet"
    pq.write_table(table, path)
    _fails(scores_file, ek100, path, "field 'scores'", "4 numbers per row", "row 5: 3 numbers")

    ragged[5] = None
    pq.write_table(pa.table({"narration_id": ids, "scores": ragged}).replace_schema_metadata(
        {"classes": json.dumps(SUBSET)}), path)
    _fails(scores_file, ek100, path, "row 5: null")

    table = pa.table({"narration_id": ids, "score": [1.0] * N}).replace_schema_metadata(
        {"classes": json.dumps(SUBSET)})
    pq.write_table(table, path)
    _fails(scores_file, ek100, path, "field 'scores'", "missing")

    table = pa.table({"narration_id": ids, "scores": [["a"] * 4] * N}).replace_schema_metadata(
        {"classes": json.dumps(SUBSET)})
    pq.write_table(table, path)
    _fails(scores_file, ek100, path, "list-of-numbers")

    table = pa.table({"narration_id": ids, "scores": ragged[:5] + ragged[6:] + ragged[:1]})
    pq.write_table(table.replace_schema_metadata({"classes": "not json"}), path)
    _fails(scores_file, ek100, path, "field 'classes'", "JSON list")

    path = tmp_path / "c.parquet"
    path.write_bytes(b"PAR1 not really")
    _fails(scores_file, ek100, path, "a Parquet file")
