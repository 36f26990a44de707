"""OAD metrics: hand-worked cases, a naive reference loop, invariances, files and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from actbench.errors import ActbenchError
from actbench.evaluators.frame_metrics import average_precision, frame_accuracy, frame_map, top1_accuracy
from actbench.evaluators.oad_report import FrameScores, oad_metrics, read_labels, score_oad_files
from actbench.evaluators.point_f1 import point_f1, point_scores
from actbench.evaluators.segment_f1 import balanced_segment_f1, segment_f1, segment_scores
from actbench.evaluators.segments import find_segments

BG, AMB = "bg", "amb"
PERFECT = 100 * (1 / (1 + 1e-8))  # P = R = 1 - 1e-8 with the reference's eps: F1 is not quite 100


def frames(*runs: tuple[str, int]) -> list[str]:
    """Per-frame labels from (label, length) runs: frames(("A", 3), ("bg", 2)) == ["A"] * 3 + ["bg"] * 2."""
    return [label for label, n in runs for _ in range(n)]


# --------------------------------------------------------------------------------------------- segments

def test_segments_are_maximal_runs_without_background_and_ignore():
    labels = frames((BG, 2), ("A", 2), ("B", 3), (BG, 1), ("A", 1), (AMB, 2), ("A", 1))
    seg = find_segments(labels, drop=(BG, AMB))
    # The ambiguous frames split the last A into two segments: runs are found before dropping.
    assert list(zip(seg.label.tolist(), seg.start.tolist(), seg.end.tolist())) == [
        ("A", 2, 4), ("B", 4, 7), ("A", 8, 9), ("A", 11, 12)]


def test_segments_never_cross_videos():
    seg = find_segments(["A", "A", "A", "A", "B"], lengths=[2, 0, 3], drop=())
    assert seg.video.tolist() == [0, 2, 2]
    assert seg.start.tolist() == [0, 0, 2] and seg.end.tolist() == [2, 2, 3]
    assert seg.global_start.tolist() == [0, 2, 4]


def test_segments_reject_lengths_that_do_not_add_up():
    with pytest.raises(ActbenchError, match="lengths"):
        find_segments([1, 2, 3], lengths=[1, 1])


# ------------------------------------------------------------------------------------------ segment F1

def test_greedy_takes_best_iou_even_when_a_later_unmatched_segment_would_qualify():
    gt = frames(("A", 10), (BG, 2), ("A", 10))  # A[0,10), A[12,22)
    pred = frames(("A", 5), (BG, 1), ("A", 8), (BG, 8))  # A[0,5): IoU .5 ; A[6,14): .286 with GT1, .125 GT2
    for tau in (0.1, 0.25, 0.5):
        # The second prediction takes GT1 (already hit): FP, and GT2 stays a FN although IoU .125 >= 0.1.
        assert segment_f1(pred, gt, tau=tau, background=(BG,)) == pytest.approx(50, abs=1e-5)
    p, r, f1 = segment_scores(pred, gt, taus=(0.1,), background=(BG,))[0.1]
    assert (p, r) == pytest.approx((50, 50), abs=1e-5)


def test_iou_ties_go_to_the_first_ground_truth_segment():
    gt = frames(("A", 4), (BG, 2), ("A", 4), (BG, 2))  # A[0,4), A[6,10)
    pred = frames((BG, 2), ("A", 6), (BG, 1), ("A", 3))  # A[2,8): IoU 2/8 with both; A[9,12): 1/6 with GT2
    # Tie to GT1, then the second prediction hits GT2: 2 TP. (Ties to the last would give 1 TP, 1 FP, 1 FN.)
    assert segment_f1(pred, gt, tau=0.1, background=(BG,)) == pytest.approx(PERFECT)
    assert segment_f1(pred, gt, tau=0.25, background=(BG,)) == pytest.approx(100 * 2 * 0.5 * 0.5 / 1.0, abs=1e-5)


def test_iou_equal_to_tau_is_a_hit_and_labels_must_match():
    gt = frames(("A", 10))
    assert segment_f1(frames(("A", 5), (BG, 5)), gt, tau=0.5, background=(BG,)) == pytest.approx(PERFECT)
    assert segment_f1(frames(("A", 1), (BG, 9)), gt, tau=0.1, background=(BG,)) == pytest.approx(PERFECT)
    assert segment_f1(frames(("B", 10)), gt, tau=0.1) == 0.0


def test_segment_f1_counts_are_micro_over_videos():
    # Video 1: perfect (1 TP). Video 2: one FP and one FN. Micro: P = R = 1/2, not the mean of video F1s.
    pred = frames(("A", 4)) + frames(("B", 4))
    gt = frames(("A", 4)) + frames(("C", 4))
    assert segment_f1(pred, gt, lengths=[4, 4]) == pytest.approx(50, abs=1e-5)


def test_segment_f1_without_any_segment_is_zero():
    assert segment_f1([BG] * 5, [BG] * 5, background=(BG,)) == 0.0


def test_balanced_segment_f1_averages_over_the_non_background_classes():
    pred = frames(("A", 4), (BG, 2), ("B", 2), ("A", 2))
    gt = frames(("A", 4), (BG, 2), ("B", 4))
    # A: TP 1, FP 1 -> F1 2/3 ; B: TP 1 (IoU .5) -> F1 1 ; over {A, B}: 5/6 ; with C, D in the list: 5/12.
    assert balanced_segment_f1(pred, gt, background=(BG,)) == pytest.approx(100 * 5 / 6, abs=1e-5)
    classes = [BG, "A", "B", "C", "D"]
    assert balanced_segment_f1(pred, gt, background=(BG,), classes=classes) == pytest.approx(100 * 5 / 12, abs=1e-5)
    with pytest.raises(ActbenchError, match="'B'"):
        balanced_segment_f1(pred, gt, background=(BG,), classes=[BG, "A"])


def test_tau_out_of_range_is_a_user_error():
    with pytest.raises(ActbenchError, match="tau"):
        segment_f1(["A"], ["A"], tau=0)


# -------------------------------------------------------------------------------------------- point F1

def test_nearest_start_ties_go_to_the_earlier_start():
    gt = frames((BG, 10), ("A", 8), ("B", 6))  # starts A@10, B@18
    pred = frames((BG, 14), ("A", 10))  # A@14: 4 frames from both; the earlier (A) is taken: a hit
    assert point_scores(pred, gt, fps=4, seconds=(1,), background=(BG,))[1] == (100.0, 50.0, 66.67)
    pred_b = frames((BG, 14), ("B", 10))  # B@14 is compared with A@10: label mismatch, FP
    assert point_f1(pred_b, gt, fps=4, seconds=1, background=(BG,)) == 0.0


def test_a_start_is_hit_only_once():
    gt = frames((BG, 10), ("A", 10))  # A@10
    pred = frames((BG, 9), ("A", 1), (BG, 2), ("A", 8))  # A@9 and A@12, both nearest to A@10
    assert point_scores(pred, gt, fps=4, seconds=(1,), background=(BG,))[1] == (50.0, 100.0, 66.67)


def test_nearest_start_of_another_class_blocks_a_farther_match():
    gt = frames((BG, 4), ("A", 4), ("B", 8))  # A@4, B@8
    pred = frames((BG, 7), ("A", 9))  # A@7: nearest is B@8 (1 frame), A@4 (3 frames) is within 1 s too
    assert point_f1(pred, gt, fps=4, seconds=1, background=(BG,)) == 0.0


def test_point_window_is_seconds_times_fps_inclusive():
    gt = frames((BG, 20), ("A", 20))  # A@20
    for offset, at_1s, at_2s in ((4, True, True), (5, False, True), (8, False, True), (9, False, False)):
        pred = frames((BG, 20 + offset), ("A", 20 - offset))
        scores = point_scores(pred, gt, fps=4, seconds=(1, 2), background=(BG,))
        assert (scores[1][2] > 0, scores[2][2] > 0) == (at_1s, at_2s), offset


def test_point_nearest_start_stays_in_its_video():
    # Video 2 has no action: its prediction cannot be matched to video 1's start, 1 frame away in the
    # concatenation.
    pred = frames((BG, 5), ("A", 1)) + frames(("A", 2))
    gt = frames((BG, 5), ("A", 1)) + frames((BG, 2))
    assert point_scores(pred, gt, fps=1, seconds=(1,), lengths=[6, 2], background=(BG,))[1] == (50.0, 100.0, 66.67)


def test_point_f1_is_rounded_and_fps_checked():
    gt = frames(("A", 2), ("B", 2), ("C", 2))
    pred = frames(("A", 2), ("B", 2), ("D", 2))
    assert point_scores(pred, gt, fps=1, seconds=(0,))[0] == (66.67, 66.67, 66.67)
    with pytest.raises(ActbenchError, match="fps"):
        point_f1(pred, gt, fps=0)


# ----------------------------------------------------------------------- against a naive reference loop

def naive_segments(labels, drop):
    out, i = [], 0
    while i < len(labels):
        j = i
        while j < len(labels) and labels[j] == labels[i]:
            j += 1
        if labels[i] not in drop:
            out.append((labels[i], i, j))
        i = j
    return out


def naive_counts(pred, gt, drop, tau=None, window=None):
    """The literal per-video rule of the issue, for segments (tau) or starts (window)."""
    p_seg, g_seg = naive_segments(pred, drop), naive_segments(gt, drop)
    hit, tp = [False] * len(g_seg), 0
    for label, start, end in p_seg:
        if tau is not None:
            best, k = -1.0, None
            for i, (g_label, g_start, g_end) in enumerate(g_seg):
                if g_label == label:
                    inter = max(0, min(end, g_end) - max(start, g_start))
                    iou = inter / ((end - start) + (g_end - g_start) - inter)
                    if iou > best:
                        best, k = iou, i
            ok = k is not None and best >= tau
        else:
            dist = [abs(start - g_start) for _, g_start, _ in g_seg]
            k = int(np.argmin(dist)) if dist else None  # argmin: the first, i.e. earlier, on ties
            ok = k is not None and dist[k] <= window and g_seg[k][0] == label
        if ok and not hit[k]:
            hit[k], tp = True, tp + 1
    return tp, len(p_seg) - tp, len(g_seg) - tp


def random_videos(rng, n_videos, labels=("A", "B", "C", BG, BG, AMB)):
    pred, gt = {}, {}
    for v in range(n_videos):
        n = int(rng.integers(1, 60))
        runs = lambda: np.repeat(rng.choice(labels, n), rng.integers(1, 6, n))[:n].tolist()  # noqa: E731
        gt[f"v{v}"], pred[f"v{v}"] = runs(), runs()
    return pred, gt


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_metrics_equal_the_naive_loop(seed):
    rng = np.random.default_rng(seed)
    pred, gt = random_videos(rng, 25)
    videos = list(gt)
    flat_p = sum((pred[v] for v in videos), [])
    flat_g = sum((gt[v] for v in videos), [])
    lengths = [len(gt[v]) for v in videos]
    drop = (BG, AMB)

    def micro(tau=None, window=None, f1_eps=1e-16):
        tp, fp, fn = np.sum([naive_counts(pred[v], gt[v], drop, tau, window) for v in videos], axis=0)
        p, r = tp / (tp + fp + 1e-8), tp / (tp + fn + 1e-8)
        return 100 * p, 100 * r, 100 * 2 * p * r / (p + r + f1_eps)

    seg = segment_scores(flat_p, flat_g, lengths=lengths, background=(BG,), ignore=(AMB,))
    for tau in (0.1, 0.25, 0.5):
        assert seg[tau] == pytest.approx(micro(tau=tau), abs=1e-9)
    point = point_scores(flat_p, flat_g, fps=2, lengths=lengths, seconds=(1, 2), background=(BG,), ignore=(AMB,))
    for s in (1, 2):
        assert point[s] == tuple(round(x, 2) for x in micro(window=2 * s, f1_eps=1e-8))


# ----------------------------------------------------------------------------------------- frame level

def test_frame_accuracy_keeps_background_and_drops_ignored_ground_truth():
    pred = [BG, "A", "A", BG, "A"]
    gt = [BG, "A", "B", AMB, AMB]
    assert frame_accuracy(pred, gt, ignore=(AMB,)) == pytest.approx(100 * 2 / 3)
    assert frame_accuracy(pred, gt) == pytest.approx(40.0)
    assert top1_accuracy(["x", "y"], ["x", "x"]) == 50.0


def test_average_precision_hand_worked_with_ties():
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.5 + 0.5 * 2 / 3)
    # A tie group is one threshold: [pos, neg] tied at the top give P = 1/2 at R = 1/2.
    assert average_precision([1, 0, 1], [0.5, 0.5, 0.1]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert np.isnan(average_precision([0, 0], [0.1, 0.2]))


def test_average_precision_and_frame_map_match_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.random(200) < rng.uniform(0.05, 0.6)
        score = np.round(rng.random(200) + y * rng.uniform(0, 1), 1)  # rounding makes many ties
        if y.any():
            assert average_precision(y, score) == pytest.approx(metrics.average_precision_score(y, score), abs=1e-12)
    classes = [BG, "A", "B", "C", AMB, "never"]
    gt = rng.choice([BG, "A", "B", "C", AMB], 500)
    scores = rng.random((500, len(classes)))
    keep = gt != AMB
    expected = [metrics.average_precision_score(gt[keep] == c, scores[keep, j])
                for j, c in enumerate(classes) if c in ("A", "B", "C")]  # "never": no positive, skipped
    got = frame_map(scores, gt, classes=classes, background=(BG,), ignore=(AMB,))
    assert got == pytest.approx(100 * np.mean(expected), abs=1e-10)


def test_frame_map_needs_a_column_for_every_ground_truth_label():
    with pytest.raises(ActbenchError, match="'B'"):
        frame_map(np.zeros((2, 1)), ["A", "B"], classes=["A"])


# ----------------------------------------------------------------------------------- the full report

KEYS = ["segment_f1@0.1", "segment_f1@0.25", "segment_f1@0.5", "segment_precision@0.1", "segment_recall@0.1",
        "balanced_segment_f1@0.1", "point_f1@1s", "point_f1@2s", "point_precision@1s", "point_recall@1s",
        "frame_accuracy"]


def test_oad_metrics_keys_and_values():
    gt = {"v1": frames(("background", 2), ("A", 4), ("background", 1), ("B", 2)),
          "v2": frames(("C", 2), ("ambiguous", 1), ("C", 1))}
    pred = {"v1": frames(("background", 1), ("A", 4), ("background", 2), ("B", 1), ("A", 1)),
            "v2": frames(("C", 3), ("B", 1))}
    m = oad_metrics(pred, gt, fps=1)
    assert list(m) == KEYS
    # Worked by hand: segments TP 3 (A .6, B .5, C 2/3), FP 2, FN 1; starts likewise; frames 8 of 12.
    assert m["segment_precision@0.1"] == pytest.approx(60) and m["segment_recall@0.1"] == pytest.approx(75)
    assert m["segment_f1@0.5"] == pytest.approx(100 * 2 / 3, abs=1e-5)
    assert (m["point_precision@1s"], m["point_recall@1s"], m["point_f1@1s"]) == (60.0, 75.0, 66.67)
    assert m["frame_accuracy"] == pytest.approx(100 * 8 / 12)
    assert m["balanced_segment_f1@0.1"] == pytest.approx(100 * 2 / 3, abs=1e-5)


def test_oad_metrics_frame_map_from_scores():
    gt = {"v1": ["background", "A", "A", "B"], "v2": ["B", "ambiguous"]}
    per_video = {"v1": np.array([[.9, .1, 0], [.1, .8, .1], [.2, .7, .1], [.1, .1, .8]]),
                 "v2": np.array([[.1, .2, .7], [.9, .05, .05]])}
    m = oad_metrics(gt, gt, fps=4, scores=FrameScores(("background", "A", "B"), per_video))
    assert m["frame_map"] == pytest.approx(100.0)


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_files_with_other_videos_or_lengths_are_refused_with_names(tmp_path):
    g = write(tmp_path, "G.json", {"v1": ["A"] * 5, "v2": ["B"] * 3})
    p = write(tmp_path, "P.json", {"v1": ["A"] * 5, "v2": ["B"] * 2})
    with pytest.raises(ActbenchError) as error:
        score_oad_files(p, g, fps=4)
    message = str(error.value)
    assert "P.json" in message and "'v2'" in message and "3 per-frame labels" in message and "found 2" in message
    p = write(tmp_path, "P.json", {"v1": ["A"] * 5, "v3": ["B"] * 3})
    with pytest.raises(ActbenchError, match=r"P.json: field 'videos'.*1 missing \(e.g. 'v2'\).*'v3'"):
        score_oad_files(p, g, fps=4)


@pytest.mark.parametrize("content, match", [
    ("[1, 2]", "top level"), ("{}", "top level"), ('{"v": []}', "non-empty list"),
    ('{"v": ["a", 1.5]}', r"v\[1\]"), ('{"v": ["a", true]}', r"v\[1\]"), ('{"v": [', "valid JSON"),
])
def test_malformed_label_files(tmp_path, content, match):
    path = tmp_path / "P.json"
    path.write_text(content)
    with pytest.raises(ActbenchError, match=match):
        read_labels(path)


def test_integer_labels_are_read_as_names(tmp_path):
    assert read_labels(write(tmp_path, "G.json", {"v": [0, 3, "3"]})) == {"v": ["0", "3", "3"]}


# ---------------------------------------------------------------------------------------- invariances

def _flat(pred, gt, videos):
    return (sum((list(pred[v]) for v in videos), []), sum((list(gt[v]) for v in videos), []),
            [len(gt[v]) for v in videos])


def _scores(gt, classes, rng):
    return FrameScores(tuple(classes), {v: rng.random((len(gt[v]), len(classes))) for v in gt})


METRICS = {  # name -> f(pred, gt, scores): every OAD metric, over dicts and over concatenated arrays
    **{key: (lambda k: lambda p, g, s: oad_metrics(p, g, fps=2, background=(BG,), ignore=(AMB,))[k])(key)
       for key in KEYS},
    "frame_map": lambda p, g, s: oad_metrics(p, g, fps=2, background=(BG,), ignore=(AMB,), scores=s)["frame_map"],
    "segment_f1(arrays)": lambda p, g, s: segment_f1(*_flat(p, g, list(g))[:2], lengths=_flat(p, g, list(g))[2],
                                                     tau=0.25, background=(BG,), ignore=(AMB,)),
    "point_f1(arrays)": lambda p, g, s: point_f1(*_flat(p, g, list(g))[:2], lengths=_flat(p, g, list(g))[2],
                                                 fps=2, seconds=2, background=(BG,), ignore=(AMB,)),
}


@pytest.mark.parametrize("name", list(METRICS))
def test_invariance_to_video_order_and_class_names(name):
    rng = np.random.default_rng(7)
    pred, gt = random_videos(rng, 12)
    classes = [BG, "A", "B", "C"]
    scores = _scores(gt, classes, rng)
    metric = METRICS[name]
    value = metric(pred, gt, scores)
    assert value > 0  # a non-trivial case

    order = list(rng.permutation(list(gt)))
    shuffled = metric({v: pred[v] for v in order}, {v: gt[v] for v in order},
                      FrameScores(scores.classes, {v: scores.per_video[v] for v in order}))
    assert shuffled == pytest.approx(value, abs=1e-9)

    rename = {"A": "zeta", "B": "alpha", "C": "mu", BG: BG, AMB: AMB}  # a consistent relabelling
    relabel = lambda d: {v: [rename[x] for x in labels] for v, labels in d.items()}  # noqa: E731
    renamed = metric(relabel(pred), relabel(gt), FrameScores(tuple(rename[c] for c in classes), scores.per_video))
    assert renamed == pytest.approx(value, abs=1e-9)


def test_every_metric_declares_its_direction():
    from actbench.evaluators import frame_metrics, point_f1 as point, segment_f1 as seg

    for metric in (seg.segment_f1, seg.segment_scores, seg.balanced_segment_f1, point.point_f1, point.point_scores,
                   frame_metrics.frame_accuracy, frame_metrics.top1_accuracy, frame_metrics.frame_map):
        assert metric.higher_is_better is True


# ------------------------------------------------------------------------------------------------- CLI

@pytest.fixture()
def cli():
    import typer
    from typer.testing import CliRunner

    from actbench.cli import score

    app = typer.Typer()
    app.add_typer(score.app, name="score")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(map(str, args)))


def test_cli_score_oad_json_and_table(tmp_path, cli):
    g = write(tmp_path, "G.json", {"v1": frames(("background", 2), ("A", 4)), "v2": frames(("B", 3), ("ambiguous", 1))})
    p = write(tmp_path, "P.json", {"v1": frames(("background", 3), ("A", 3)), "v2": frames(("B", 4))})
    result = cli("score", "oad", "--pred", p, "--gt", g, "--fps", 4, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert list(metrics) == KEYS and metrics["frame_accuracy"] == pytest.approx(100 * 8 / 9)
    table = cli("score", "oad", "--pred", p, "--gt", g, "--fps", 4)
    assert table.exit_code == 0 and "point_f1@1s" in table.output
    # --ignore '' turns THUMOS' ambiguous off: its frame then counts (and is wrong).
    no_ignore = json.loads(cli("score", "oad", "--pred", p, "--gt", g, "--fps", 4, "--ignore", "", "--json").output)
    assert no_ignore["frame_accuracy"] == pytest.approx(100 * 8 / 10)
    # --classes fixes C of the balanced F1 (A, B perfect; C, D without segments): 2 / 4.
    (tmp_path / "classes.txt").write_text("background\nA\nB\nC\nD\nambiguous\n")
    with_classes = cli("score", "oad", "--pred", p, "--gt", g, "--fps", 4, "--classes", tmp_path / "classes.txt",
                       "--json")
    assert json.loads(with_classes.output)["balanced_segment_f1@0.1"] == pytest.approx(50, abs=1e-5)
    (tmp_path / "few.txt").write_text("A\n")
    refused = cli("score", "oad", "--pred", p, "--gt", g, "--fps", 4, "--classes", tmp_path / "few.txt")
    assert refused.exit_code == 2 and "few.txt" in refused.output and "'B'" in refused.output


def test_cli_score_oad_with_scores(tmp_path, cli):
    g = write(tmp_path, "G.json", {"v1": ["background", "A", "B"]})
    s = tmp_path / "S.npz"
    np.savez(s, __classes__=np.array(["background", "A", "B"]), v1=np.eye(3))
    result = cli("score", "oad", "--pred", g, "--gt", g, "--fps", 1, "--scores", s, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["frame_map"] == pytest.approx(100.0)


def test_cli_user_error_is_one_line_and_exit_code_2(tmp_path, cli):
    g = write(tmp_path, "G.json", {"v1": ["A"] * 4})
    p = write(tmp_path, "P.json", {"v1": ["A"] * 3})
    result = cli("score", "oad", "--pred", p, "--gt", g, "--fps", 4)
    assert result.exit_code == 2
    assert "actbench: error:" in result.output and "'v1'" in result.output and "Traceback" not in result.output


def test_cli_score_dscore(tmp_path, cli):
    g = write(tmp_path, "G.json", {"v1": ["A"] * 4 + ["B"] * 2})
    p = write(tmp_path, "P.json", {"v1": ["A", "B", "C", "background", "B", "B"]})
    result = cli("score", "dscore", "--pred", p, "--gt", g, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["dscore"] == pytest.approx(np.log(2) / 2)
