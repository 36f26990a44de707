"""EPIC-KITCHENS-100 action recognition metrics (``actbench score ek100-ar``).

References, each independent of the code under test:
- hand-worked cases of a few clips;
- the official evaluator (epic-kitchens/C1-Action-Recognition ``utils/scoring.py`` ``compute_action_scores``
  and ``utils/metrics.py`` ``topk_accuracy`` / ``compute_metrics``), transcribed below with scipy;
- naive per-clip loops (sorting, marginal sums);
- the real annotations through prediction files synthesised with a known accuracy.
"""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest
from scipy.special import softmax
from typer.testing import CliRunner

from actbench.cli import app
from actbench.evaluators.ek100_recognition import (KEYS, ek100_recognition, load_recognition_inputs,
                                                   marginal_scores, pair_truth_ranks, score_recognition,
                                                   topk_accuracy, truth_ranks)

runner = CliRunner()
NAN = float("nan")


# -- the official evaluator, transcribed (reference only) -------------------------------------------
def _official_action_ranks(verb, noun, top_n=100):
    """utils/scoring.py compute_action_scores + _scores_dict_to_ranks: action ids verb * 1000 + noun."""
    rows = np.arange(len(verb))[:, None]
    top_verbs = np.argsort(verb)[:, ::-1][:, :top_n]
    top_nouns = np.argsort(noun)[:, ::-1][:, :top_n]
    p_verb = softmax(verb[rows, top_verbs])  # scipy's default axis=None, as the official call
    p_noun = softmax(noun[rows, top_nouns])
    matrix = p_verb[:, :, None] * p_noun[:, None, :]
    flat = matrix.reshape(len(verb), -1)
    order = flat.argsort(axis=-1)[:, ::-1][:, :top_n]
    vi, ni = np.unravel_index(order, matrix.shape[1:])
    return top_verbs[rows, vi] * 1000 + top_nouns[rows, ni]  # already in descending score order


def _official_topk(ranks, labels, ks):
    tp = ranks[:, :max(ks)] == labels.reshape(-1, 1)
    with warnings.catch_warnings():  # an empty subset: NaN here (the official code raises or skips)
        warnings.simplefilter("ignore", RuntimeWarning)
        return [tp[:, :k].max(1).mean() if len(tp) else np.nan for k in ks]


def _official_metrics(verb, noun, verb_labels, noun_labels, unseen, tail_verbs, tail_nouns):
    ranks = {"verb": np.argsort(verb)[:, ::-1], "noun": np.argsort(noun)[:, ::-1],
             "action": _official_action_ranks(verb, noun)}
    labels = {"verb": verb_labels, "noun": noun_labels, "action": verb_labels * 1000 + noun_labels}
    out = {}
    for task in ("verb", "noun", "action"):
        out[f"{task}_top1"], out[f"{task}_top5"] = _official_topk(ranks[task], labels[task], (1, 5))
        out[f"unseen_{task}_top1"] = _official_topk(ranks[task][unseen], labels[task][unseen], (1,))[0]
    tail_v, tail_n = np.isin(verb_labels, tail_verbs), np.isin(noun_labels, tail_nouns)
    for task, mask in (("verb", tail_v), ("noun", tail_n), ("action", tail_v | tail_n)):
        out[f"tail_{task}_top1"] = _official_topk(ranks[task][mask], labels[task][mask], (1,))[0]
    return {k: 100 * float(out[k]) for k in KEYS}  # evaluate.py: float(value * 100)


def _informative(rng, n, n_classes, labels, hit_rate):
    """Continuous random scores (no ties) where the truth gets a boost in about ``hit_rate`` of clips."""
    scores = rng.normal(size=(n, n_classes))
    boost = rng.random(n) < hit_rate
    scores[np.arange(n), labels] += np.where(boost, 4.5, 0.0)
    return scores


# -- hand-worked cases ------------------------------------------------------------------------------
def test_hand_worked_four_clips():
    verb = np.array([[5.0, 1.0, 0.0],    # clip 0: verb 0 top-1
                     [0.0, 2.0, 1.0],    # clip 1: truth 2 is second
                     [1.0, 0.0, 3.0],    # clip 2: truth 0 second
                     [0.0, 1.0, 2.0]])   # clip 3: truth 1 second
    noun = np.array([[0.0, 4.0, 1.0],    # clip 0: noun 1 top-1
                     [3.0, 0.0, 1.0],    # clip 1: truth 0 top-1
                     [2.0, 1.0, 0.0],    # clip 2: truth 2 last
                     [0.0, 1.0, 0.5]])   # clip 3: truth 1 top-1
    verb_labels, noun_labels = np.array([0, 2, 0, 1]), np.array([1, 0, 2, 1])
    # Actions ranked by verb + noun: clip 0 (0,1)=9 best -> top-1. clip 1 (2,0)=4 < (1,0)=5 -> rank 1.
    # clip 2 (0,2)=1: (2,0)=5 (2,1)=4 (2,2)=3 (0,0)=3 (0,1)=2 (1,0)=2 above, (1,1)=1 tie -> rank 7.
    # clip 3 (1,1)=2: (2,1)=3 (2,2)=2.5 (2,0)=2 tie -> rank 3.
    np.testing.assert_array_equal(pair_truth_ranks(verb, noun, verb_labels, noun_labels), [0, 1, 7, 3])
    m = ek100_recognition(verb, noun, verb_labels, noun_labels, unseen=np.array([False, False, True, True]),
                          tail_verbs=[2], tail_nouns=[2])
    assert m == pytest.approx({
        "verb_top1": 25.0, "verb_top5": 100.0, "noun_top1": 75.0, "noun_top5": 100.0,
        "action_top1": 25.0, "action_top5": 75.0,
        "unseen_verb_top1": 0.0, "unseen_noun_top1": 50.0, "unseen_action_top1": 0.0,
        "tail_verb_top1": 0.0,       # clip 1 only
        "tail_noun_top1": 0.0,       # clip 2 only
        "tail_action_top1": 0.0,     # clips 1 and 2
    }, nan_ok=True)
    assert list(m) == list(KEYS)


def test_ties_count_against_and_unranked_truth_never_hits():
    scores = np.array([[1.0, 1.0, 0.0], [2.0, 1.0, 1.0], [-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0]])
    labels = np.array([0, 0, 1, 1])
    np.testing.assert_array_equal(truth_ranks(scores, labels), [1, 0, 2, 2])
    assert topk_accuracy(scores, labels, k=1) == 25.0
    assert topk_accuracy(scores, labels, k=2) == 50.0
    assert topk_accuracy(scores, labels, k=3) == 100.0  # every class listed: even -inf is within the top 3
    assert topk_accuracy.higher_is_better and ek100_recognition.higher_is_better


def test_empty_subsets_are_nan_and_percent_is_exact():
    rng = np.random.default_rng(0)
    verb_labels = np.arange(10) % 3
    noun_labels = np.arange(10) % 4
    verb = np.eye(3)[verb_labels] * 2 + rng.random((10, 3))
    noun = np.eye(4)[noun_labels] * 2 + rng.random((10, 4))
    verb[:7] = np.eye(3)[(verb_labels[:7] + 1) % 3] * 5  # 3 of 10 verbs right
    m = ek100_recognition(verb, noun, verb_labels, noun_labels, unseen=np.zeros(10, bool),
                          tail_verbs=[], tail_nouns=[9])
    assert m["verb_top1"] == 30.0  # exactly, not 100 * 0.3
    for key in ("unseen_verb_top1", "unseen_noun_top1", "unseen_action_top1", "tail_verb_top1",
                "tail_noun_top1", "tail_action_top1"):
        assert np.isnan(m[key]), key


# -- against the official evaluator and naive loops -------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_the_official_evaluator_code(seed):
    rng = np.random.default_rng(seed)
    n, n_verbs, n_nouns = 150, 97, 300
    verb_labels, noun_labels = rng.integers(0, n_verbs, n), rng.integers(0, n_nouns, n)
    verb = _informative(rng, n, n_verbs, verb_labels, 0.6)
    noun = _informative(rng, n, n_nouns, noun_labels, 0.5)
    unseen = rng.random(n) < 0.2
    tail_verbs, tail_nouns = rng.choice(n_verbs, 40, replace=False), rng.choice(n_nouns, 120, replace=False)
    ours = ek100_recognition(verb, noun, verb_labels, noun_labels, unseen=unseen, tail_verbs=tail_verbs,
                             tail_nouns=tail_nouns)
    official = _official_metrics(verb, noun, verb_labels, noun_labels, unseen, tail_verbs, tail_nouns)
    assert ours == pytest.approx(official, rel=1e-12, abs=1e-12)
    assert 10 < ours["action_top1"] < 90 and 10 < ours["action_top5"] < 95  # a case that tells right from wrong
    # float32 input (what most files hold) gives the same numbers
    ours32 = ek100_recognition(verb.astype(np.float32), noun.astype(np.float32), verb_labels, noun_labels,
                               unseen=unseen, tail_verbs=tail_verbs, tail_nouns=tail_nouns)
    official32 = _official_metrics(verb.astype(np.float32), noun.astype(np.float32), verb_labels, noun_labels,
                                   unseen, tail_verbs, tail_nouns)
    assert ours32 == pytest.approx(official32, rel=1e-12, abs=1e-12)


def test_action_scores_and_marginals_against_naive_loops():
    rng = np.random.default_rng(3)
    n_verbs, n_nouns = 5, 6
    pairs = sorted(rng.choice(n_verbs * n_nouns, 17, replace=False))
    verb_of, noun_of = np.array([p // n_nouns for p in pairs]), np.array([p % n_nouns for p in pairs])
    n = 60
    action_labels = rng.integers(0, len(pairs), n)
    action = _informative(rng, n, len(pairs), action_labels, 0.5)
    action[rng.random(action.shape) < 0.2] = -np.inf  # unranked classes

    verb_m, noun_m = marginal_scores(action, verb_of, noun_of, n_verbs=n_verbs, n_nouns=n_nouns)
    for i in range(n):
        p = np.exp(action[i] - action[i][np.isfinite(action[i])].max())
        p /= p.sum()
        for v in range(n_verbs):
            assert verb_m[i, v] == pytest.approx(sum(p[a] for a in range(len(pairs)) if verb_of[a] == v), abs=1e-12)
        for m in range(n_nouns):
            assert noun_m[i, m] == pytest.approx(sum(p[a] for a in range(len(pairs)) if noun_of[a] == m), abs=1e-12)

    verb_labels, noun_labels = verb_of[action_labels], noun_of[action_labels]
    unseen = rng.random(n) < 0.3
    metrics = ek100_recognition(verb_m, noun_m, verb_labels, noun_labels, unseen=unseen, tail_verbs=[1],
                                tail_nouns=[2, 4], action_scores=action, action_labels=action_labels)

    def naive_top(scores, labels, k, rows):
        hits = []
        for i in rows:
            others = [c for c in range(scores.shape[1]) if c != labels[i] and scores[i, c] >= scores[i, labels[i]]]
            hits.append(len(others) < k)
        return 100 * np.mean(hits) if hits else NAN

    every = range(n)
    tail_v = [i for i in every if verb_labels[i] == 1]
    tail_n = [i for i in every if noun_labels[i] in (2, 4)]
    expected = {
        "verb_top1": naive_top(verb_m, verb_labels, 1, every), "verb_top5": naive_top(verb_m, verb_labels, 5, every),
        "noun_top1": naive_top(noun_m, noun_labels, 1, every), "noun_top5": naive_top(noun_m, noun_labels, 5, every),
        "action_top1": naive_top(action, action_labels, 1, every),
        "action_top5": naive_top(action, action_labels, 5, every),
        "unseen_verb_top1": naive_top(verb_m, verb_labels, 1, np.flatnonzero(unseen)),
        "unseen_noun_top1": naive_top(noun_m, noun_labels, 1, np.flatnonzero(unseen)),
        "unseen_action_top1": naive_top(action, action_labels, 1, np.flatnonzero(unseen)),
        "tail_verb_top1": naive_top(verb_m, verb_labels, 1, tail_v),
        "tail_noun_top1": naive_top(noun_m, noun_labels, 1, tail_n),
        "tail_action_top1": naive_top(action, action_labels, 1, sorted(set(tail_v) | set(tail_n))),
    }
    assert metrics == pytest.approx(expected, abs=1e-9)


def test_invariant_to_clip_order():
    rng = np.random.default_rng(5)
    n = 80
    verb_labels, noun_labels = rng.integers(0, 10, n), rng.integers(0, 12, n)
    verb, noun = _informative(rng, n, 10, verb_labels, 0.5), _informative(rng, n, 12, noun_labels, 0.5)
    unseen = rng.random(n) < 0.3
    before = ek100_recognition(verb, noun, verb_labels, noun_labels, unseen=unseen, tail_verbs=[1, 2], tail_nouns=[3])
    p = rng.permutation(n)
    after = ek100_recognition(verb[p], noun[p], verb_labels[p], noun_labels[p], unseen=unseen[p], tail_verbs=[1, 2],
                              tail_nouns=[3])
    assert after == pytest.approx(before, abs=1e-9)


def test_bad_arrays_are_value_errors():
    with pytest.raises(ValueError, match="labels"):
        truth_ranks(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="finite"):
        truth_ranks(np.array([[np.nan, 1.0]]), np.array([0]))
    with pytest.raises(ValueError, match="both"):
        ek100_recognition(np.zeros((1, 2)), np.zeros((1, 2)), [0], [0], unseen=[False], tail_verbs=[],
                          tail_nouns=[], action_scores=np.zeros((1, 2)))


# -- the real annotations through prediction files ----------------------------------------------------
@pytest.fixture
def cli_dataset(ek100, monkeypatch):
    """The CLI reads the session's already loaded annotations (loading them costs ~2 s per command)."""
    from actbench.datasets.epic_kitchens import EpicKitchens100

    monkeypatch.setattr(EpicKitchens100, "from_data_dir", classmethod(lambda cls, data_dir=None: ek100))
    return ek100


def _real_subset(ek100, n, seed):
    """n validation clips (seeded), in file order, that include unseen participants and tail classes."""
    picked = np.sort(np.random.default_rng(seed).choice(len(ek100.validation), n, replace=False))
    return [ek100.validation[i] for i in picked]


def _real_reference(ek100, clips, hit):
    unseen = np.array([c.participant_id in ek100.unseen_participants for c in clips])
    tail_v = np.array([c.verb_class in ek100.tail_verbs for c in clips])
    tail_n = np.array([c.noun_class in ek100.tail_nouns for c in clips])
    assert unseen.any() and tail_v.any() and tail_n.any()
    return unseen, tail_v, tail_n


def test_scores_file_with_known_accuracy_through_the_cli(ek100, cli_dataset, data_dir, tmp_path):
    clips = _real_subset(ek100, 1000, seed=0)
    truth = ek100.action_ids(clips)
    rng = np.random.default_rng(0)
    scores = rng.random((len(clips), len(ek100.action_space)), dtype=np.float32)
    right = np.arange(len(clips)) < 300  # the ground truth first for exactly the first 30% of clips
    scores[np.arange(len(clips)), truth] = np.where(right, 20.0, -1.0)  # else below every other class
    path = tmp_path / "preds.npz"
    np.savez(path, narration_ids=np.array([c.narration_id for c in clips]), scores=scores,
             classes=np.array(ek100.action_space.keys))

    result = runner.invoke(app, ["score", "ek100-ar", "--source", "scores", "--predictions", str(path),
                                 "--data-dir", str(data_dir), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert list(metrics) == list(KEYS)
    assert metrics["action_top1"] == 30.0 and metrics["action_top5"] == 30.0
    unseen, tail_v, tail_n = _real_reference(ek100, clips, right)
    assert metrics["unseen_action_top1"] == pytest.approx(100 * right[unseen].mean())
    assert metrics["tail_action_top1"] == pytest.approx(100 * right[tail_v | tail_n].mean())
    # Where the truth is far ahead (e^20 against 3,805 x e^<1), its verb and noun win the marginal too.
    assert metrics["verb_top1"] >= 30.0 and metrics["noun_top1"] >= 30.0
    # the real label space's marginals against a naive per-clip sum, for a clip the truth does not win
    i = 500
    p = np.exp(scores[i].astype(np.float64) - scores[i].max())
    p /= p.sum()
    space = ek100.action_space
    verb_m, noun_m = marginal_scores(scores[i:i + 1], space.verb_of, space.noun_of, n_verbs=97, n_nouns=300)
    np.testing.assert_allclose(verb_m[0], np.bincount(space.verb_of, weights=p, minlength=97), atol=1e-12)
    np.testing.assert_allclose(noun_m[0], np.bincount(space.noun_of, weights=p, minlength=300), atol=1e-12)
    assert "validation clips" in result.stderr and "summed per verb" in result.stderr


def test_epic_json_on_real_ids_matches_the_official_evaluator(ek100, tmp_path):
    clips = _real_subset(ek100, 120, seed=1)
    rng = np.random.default_rng(1)
    verb_labels = np.array([c.verb_class for c in clips])
    noun_labels = np.array([c.noun_class for c in clips])
    verb = _informative(rng, len(clips), 97, verb_labels, 0.6)
    noun = _informative(rng, len(clips), 300, noun_labels, 0.5)
    # Some clips get a top-1 pair outside the 3,806-pair label space: the official ranking keeps it (wrong).
    outside = [(v, m) for v in range(97) for m in range(300) if f"{v}:{m}" not in ek100.action_space.index]
    for i in range(0, 30, 3):
        v, m = outside[i * 7]
        verb[i, v] += 10.0
        noun[i, m] += 10.0
    document = {"version": "0.2", "challenge": "action_recognition", "results": {
        c.narration_id: {"verb": {str(j): float(x) for j, x in enumerate(verb[i])},
                         "noun": {str(j): float(x) for j, x in enumerate(noun[i])}} for i, c in enumerate(clips)}}
    path = tmp_path / "test.json"
    path.write_text(json.dumps(document))
    inputs = load_recognition_inputs("epic-json", path, ek100)
    assert inputs.verb_noun_from_file and inputs.action_scores is None
    ours = score_recognition(inputs, ek100)
    unseen, _, _ = _real_reference(ek100, clips, None)
    official = _official_metrics(verb, noun, verb_labels, noun_labels, unseen,
                                 np.array(sorted(ek100.tail_verbs)), np.array(sorted(ek100.tail_nouns)))
    assert ours == pytest.approx(official, rel=1e-12, abs=1e-12)


def test_tim_uses_its_verb_and_noun_scores_or_its_action_head(ek100, cli_dataset, data_dir, tmp_path):
    clips = ek100.validation[:200]
    rng = np.random.default_rng(2)
    verb_labels = np.array([c.verb_class for c in clips])
    noun_labels = np.array([c.noun_class for c in clips])
    verb = softmax(_informative(rng, len(clips), 97, verb_labels, 0.7), axis=1).astype(np.float32)
    noun = softmax(_informative(rng, len(clips), 300, noun_labels, 0.6), axis=1).astype(np.float32)
    truth = ek100.action_ids(clips)
    action = rng.random((len(clips), len(ek100.action_space)), dtype=np.float32)
    action[np.arange(50), truth[:50]] = 5.0  # the action head is right on exactly a quarter of the clips
    action /= action.sum(axis=1, keepdims=True)
    path = tmp_path / "validation_features.pkl"
    path.write_bytes(pickle.dumps({"action": action, "verb": verb, "noun": noun,
                                   "v_narration_ids": np.array([f"v_{c.narration_id}" for c in clips], dtype=object)}))
    derived = score_recognition(load_recognition_inputs("tim", path, ek100), ek100)
    official = _official_metrics(verb, noun, verb_labels, noun_labels, np.zeros(len(clips), bool),
                                 np.array(sorted(ek100.tail_verbs)), np.array(sorted(ek100.tail_nouns)))
    for key in KEYS:
        if not key.startswith("unseen"):  # no unseen participant among the first 200 clips
            assert derived[key] == pytest.approx(official[key], rel=1e-12), key
    result = runner.invoke(app, ["score", "ek100-ar", "--source", "tim", "--predictions", str(path),
                                 "--data-dir", str(data_dir), "--action-head", "--json"])
    assert result.exit_code == 0, result.output
    head = json.loads(result.stdout)
    assert head["action_top1"] == 25.0
    assert head["verb_top1"] == pytest.approx(derived["verb_top1"])  # verb / noun from the file either way
    assert head["unseen_verb_top1"] is None  # no clip of P18 / P32: null, never NaN in JSON
    table = runner.invoke(app, ["score", "ek100-ar", "--source", "tim", "--predictions", str(path),
                                "--data-dir", str(data_dir)])
    assert table.exit_code == 0, table.output
    assert "unseen_verb_top1" in table.stdout and "n/a" in table.stdout


@pytest.mark.parametrize("args, file, fragments", [
    (["--source", "random"], "preds.json", ("does not read a prediction file",)),
    (["--source", "scores"], "missing.npz", ("missing.npz", "file not found")),
    (["--source", "epic-json", "--action-head"], "preds.json", ("--action-head", "epic-json")),
    (["--source", "nope"], "preds.json", ("unknown source 'nope'",)),
    (["--source", "epic-json"], "preds.json", ("preds.json", "unknown id P99_01_0")),
], ids=["no-file-source", "missing-file", "action-head", "unknown-source", "unknown-clip"])
def test_cli_errors_are_one_line(cli_dataset, data_dir, tmp_path, args, file, fragments):
    clip = "P99_01_0" if any("P99" in f for f in fragments) else "P01_11_0"  # not a validation clip
    (tmp_path / "preds.json").write_text(json.dumps({"results": {clip: {"verb": {"0": 1.0}, "noun": {"0": 1.0}}}}))
    result = runner.invoke(app, ["score", "ek100-ar", *args, "--predictions", str(tmp_path / file),
                                 "--data-dir", str(data_dir)])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith("actbench: error:") and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
