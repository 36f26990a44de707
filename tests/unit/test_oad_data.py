"""OAD data: ground truth from the real EK100 / Goal-Step timelines, the TeSTra layout, and its windows.

Every count is checked against the annotations read independently here (raw CSV rows through the EK100
loader, the Goal-Step JSON with ``json.load``), with a naive per-segment loop in place of the library's.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from actbench.cli.oad_data import app as oad_app
from actbench.datasets.ego4d_goalstep import GoalStep, load_goalstep
from actbench.datasets.oad_ground_truth import (
    CLASSES_FILE, LABELS_FILE, ek100_ground_truth, goalstep_ground_truth, write_ground_truth)
from actbench.datasets.oad_layout import (
    OAD_WINDOWS, OadDataset, WindowSpec, check_targets, read_data_info, read_features, read_targets,
    streaming_windows, training_windows, window_spec, write_features, write_targets)
from actbench.errors import ActbenchError
from actbench.evaluators.oad_report import oad_metrics, read_labels, score_oad_files

EK_FPS, GS_FPS = 4, 1
GOALSTEP_FILE = "ego4d-goalstep/goalstep_valid.json"


@pytest.fixture(scope="module")
def ek_gt(data_dir):
    return ek100_ground_truth(data_dir)


@pytest.fixture(scope="module")
def raw_goalstep(data_dir):
    path = data_dir / GOALSTEP_FILE
    if not path.is_file():
        pytest.skip("Ego4D Goal-Step annotations not available")
    return json.loads(path.read_text())["videos"]


@pytest.fixture(scope="module")
def gs_gt(data_dir, raw_goalstep):
    return goalstep_ground_truth(data_dir)


def frames_at(fps: float, length: int) -> np.ndarray:
    return np.arange(length) / fps


def naive_labels(length: int, fps: float, segments) -> np.ndarray:
    """Frame i (covering [i/fps, (i+1)/fps)) takes the smallest class among the segments it meets."""
    left = frames_at(fps, length)
    labels = np.full(length, np.iinfo(np.int32).max)
    for start, end, cls in segments:
        hit = (left < end) & (left + 1 / fps > start)
        labels[hit] = np.minimum(labels[hit], cls)
    labels[labels == np.iinfo(np.int32).max] = 0
    return labels


# ------------------------------------------------------------------------------------------- EK100

def test_ek100_frame_counts_come_from_the_video_durations(ek_gt, ek100):
    videos = sorted({c.video_id for c in ek100.validation})
    assert ek_gt.videos == tuple(videos) and len(videos) == 138
    for video in videos:
        duration = ek100.video_info[video].duration
        # Frames at t = i / 4 while t < duration: counted, not computed with ceil.
        expected = int(np.count_nonzero(np.arange(int(duration * EK_FPS) + 2) / EK_FPS < duration))
        assert ek_gt.lengths[video] == expected, video
    assert sum(ek_gt.lengths.values()) == 190_211
    assert ek_gt.num_classes == 3807 and ek_gt.class_names[0] == "background"
    assert ek_gt.class_names[1:] == ek100.action_space.labels


def test_ek100_labels_equal_the_annotations(ek_gt, ek100):
    index = ek100.action_space.index
    by_video: dict[str, list] = {}
    for clip in ek100.validation:
        by_video.setdefault(clip.video_id, []).append((clip.start, clip.end, index[clip.class_key] + 1))
    labelled = 0
    for video, segments in by_video.items():
        expected = naive_labels(ek_gt.lengths[video], EK_FPS, segments)
        np.testing.assert_array_equal(ek_gt.labels(video), expected, err_msg=video)
        labelled += int(np.count_nonzero(expected))
    # Frames labelled with some action = the union of the segments' frames; the rest is background.
    assert labelled == sum(int(np.count_nonzero(ek_gt.labels(v))) for v in ek_gt.videos) == 137_008


def test_ek100_overlaps_take_the_first_active_class(ek_gt, ek100):
    clips = {c.narration_id: c for c in ek100.validation}
    index = ek100.action_space.index
    for first, second in (("P01_11_37", "P01_11_38"), ("P01_11_100", "P01_11_101")):
        a, b = clips[first], clips[second]
        left = frames_at(EK_FPS, ek_gt.lengths["P01_11"])
        both = (left < min(a.end, b.end)) & (left + 1 / EK_FPS > max(a.start, b.start))
        for other in ek100.validation:  # keep the frames only these two cover
            if other.video_id == "P01_11" and other.narration_id not in (first, second):
                both &= ~((left < other.end) & (left + 1 / EK_FPS > other.start))
        assert np.count_nonzero(both) >= 4
        ca, cb = index[a.class_key] + 1, index[b.class_key] + 1
        targets = ek_gt.targets("P01_11")
        assert (targets[both][:, [ca, cb]] == 1).all() and (targets[both][:, 0] == 0).all()
        assert (ek_gt.labels("P01_11")[both] == min(ca, cb)).all()
    # The rule is class order, not time: "wash cloth" starts first, "take cloth" (a smaller class) wins.
    assert ek_gt.class_names[index[clips["P01_11_101"].class_key] + 1] == "take cloth"
    assert clips["P01_11_100"].start < clips["P01_11_101"].start
    assert index[clips["P01_11_101"].class_key] < index[clips["P01_11_100"].class_key]


# ---------------------------------------------------------------------------------------- Goal-Step

def test_goalstep_loader_reads_the_real_file(data_dir, raw_goalstep):
    goalstep = GoalStep.from_data_dir(data_dir)
    assert len(goalstep.videos) == 134 == len(raw_goalstep)
    assert sum(len(v.steps) for v in goalstep.videos) == 3349
    assert sum(len(s.substeps) for v in goalstep.videos for s in v.steps) == 4347
    step = goalstep.video("c2d06df7-5d3a-4116-9edb-f1c81a4f669b").steps[0]
    assert (step.start, step.end, step.description) == (2.94661, 40.19131, "Kneads the dough with the mixer.")
    assert step.category == "Make baked goods: Knead the dough in a dough mixer"
    missing = [s for v in goalstep.videos for s in v.steps if s.is_continued is None]
    assert len(missing) == 1 and missing[0].is_relevant is None  # the one step without those fields


def test_goalstep_classes_lengths_and_labels(gs_gt, raw_goalstep):
    names = sorted({s["step_category"].split(": ", 1)[1].strip().lower()
                    for v in raw_goalstep for s in v["segments"]})
    assert gs_gt.class_names == ("background", *names) and gs_gt.num_classes == 356
    index = {name: i for i, name in enumerate(gs_gt.class_names)}
    labelled = 0
    for video in raw_goalstep:
        ends = [video["end_time"]] + [s["end_time"] for s in video["segments"]] + \
               [u["end_time"] for s in video["segments"] for u in s["segments"]]
        length = int(np.count_nonzero(np.arange(int(max(ends)) + 2) < max(ends)))
        assert gs_gt.lengths[video["video_uid"]] == length
        segments = [(s["start_time"], s["end_time"], index[s["step_category"].split(": ", 1)[1].strip().lower()])
                    for s in video["segments"]]
        expected = naive_labels(length, GS_FPS, segments)
        np.testing.assert_array_equal(gs_gt.labels(video["video_uid"]), expected)
        labelled += int(np.count_nonzero(expected))
    assert sum(gs_gt.lengths.values()) == 224_962
    assert labelled == sum(int(np.count_nonzero(gs_gt.labels(v))) for v in gs_gt.videos)


def test_goalstep_overlap_takes_the_first_class_in_name_order(gs_gt):
    # "cook or prepare vegetables" [1284.7, 1726.8) contains "check and adjust the heat on the stovetop"
    # [1719.5, 1720.6): the nested step shows because its name sorts first.
    labels = gs_gt.label_lists(["0e6fb738-05fc-4dd5-9746-a8e10efe8c20"])["0e6fb738-05fc-4dd5-9746-a8e10efe8c20"]
    assert labels[1718] == "cook or prepare vegetables"
    assert labels[1719] == labels[1720] == "check and adjust the heat on the stovetop"
    assert labels[1721] == "cook or prepare vegetables"
    row = gs_gt.targets("0e6fb738-05fc-4dd5-9746-a8e10efe8c20")[1719]
    assert row.sum() == 2 and row[0] == 0


def test_goalstep_description_labels_and_substeps(data_dir, gs_gt, raw_goalstep):
    described = goalstep_ground_truth(data_dir, labels="description")
    names = {" ".join(s["step_description"].split()).lower().rstrip(".").rstrip()
             for v in raw_goalstep for s in v["segments"]}
    assert described.class_names == ("background", *sorted(names)) and described.num_classes == 2083
    substeps = goalstep_ground_truth(data_dir, level="substep")
    assert substeps.lengths == gs_gt.lengths and substeps.num_classes == 359
    for option, value in (("labels", "narration"), ("level", "goal")):
        with pytest.raises(ActbenchError, match=option):
            goalstep_ground_truth(data_dir, **{option: value})


@pytest.mark.parametrize("mutate, field", [
    (lambda d: "{not json", "json"),
    (lambda d: {"video": d["videos"]}, "'videos'"),
    (lambda d: d["videos"][0]["segments"][1].update(end_time="soon"), r"videos\[0\]\.segments\[1\]\.end_time"),
    (lambda d: d["videos"][0]["segments"][0].update(end_time=1.0), r"videos\[0\]\.segments\[0\]\.end_time.*after"),
    (lambda d: d["videos"][0]["segments"][4]["segments"][0].update(step_description="  "),
     r"videos\[0\]\.segments\[4\]\.segments\[0\]\.step_description"),
    (lambda d: d["videos"][2].update(video_uid=d["videos"][0]["video_uid"]), r"videos\[2\]\.video_uid.*once"),
    (lambda d: d["videos"][0]["segments"][0].pop("step_category") and None, r"segments\[0\]\.step_category.*none"),
])
def test_malformed_goalstep_files_name_the_file_and_field(tmp_path, raw_goalstep, mutate, field):
    data = {"videos": json.loads(json.dumps(raw_goalstep[:3]))}
    result = mutate(data)
    path = tmp_path / "ego4d-goalstep" / "goalstep_valid.json"
    path.parent.mkdir()
    path.write_text(result if isinstance(result, str) else json.dumps(result if result is not None else data))
    with pytest.raises(ActbenchError, match=field) as error:
        load_goalstep(path)
    assert str(path) in str(error.value)
    # The ground truth and the command stop on it too: one line, exit code 2.
    with pytest.raises(ActbenchError, match=field):
        goalstep_ground_truth(tmp_path)
    result = invoke("--dataset", "ego4d-goalstep", "--out", tmp_path / "out", "--data-dir", tmp_path)
    assert result.exit_code == 2 and "goalstep_valid.json" in result.stderr and "Traceback" not in result.output


# --------------------------------------------------------------------------- files written and scored

def test_written_files_read_back(tmp_path, ek_gt):
    videos = ["P01_11", "P18_01", "P32_10"]
    gt = ek_gt.subset(videos)
    written = write_ground_truth(gt, tmp_path, target_perframe=True)
    info = read_data_info(tmp_path)
    assert (info.key, info.num_classes, info.fps, info.videos()) == ("EK100", 3807, 4, tuple(videos))
    assert info.class_names == ek_gt.class_names and info.videos("train_session_set") == ()
    text = written["data_info"].read_text()
    assert str(tmp_path) not in text and "/work" not in text  # reproducible: no absolute paths
    provenance = json.loads(text)["actbench"]
    assert provenance["schema_version"] == 1 and "annotations/EPIC_100_validation.csv" in provenance["sources"]
    data = OadDataset.open(tmp_path)
    for video in videos:
        targets = data.targets(video)
        assert targets.dtype == np.uint8 and targets.shape == (ek_gt.lengths[video], 3807)
        np.testing.assert_array_equal(data.labels(video), ek_gt.labels(video))
        # Features synthesised on the real timeline (one noisy prototype per class), read back checked.
        rng = np.random.default_rng(0)
        features = np.eye(8, dtype=np.float32)[data.labels(video) % 8] + 0.1 * rng.standard_normal((len(targets), 8))
        write_features(tmp_path, video, features)
        np.testing.assert_array_equal(data.features(video), features.astype(np.float32))
    assert read_labels(tmp_path / LABELS_FILE) == gt.label_lists()
    assert json.loads((tmp_path / CLASSES_FILE).read_text()) == list(ek_gt.class_names)
    write_features(tmp_path, "P01_11", np.zeros((5, 8), dtype=np.float32))
    with pytest.raises(ActbenchError, match=r"P01_11\.npy.*frames.*rows, as the targets"):
        data.features("P01_11")


def test_whole_ground_truth_scores_100_against_itself(tmp_path, ek_gt, gs_gt):
    for gt, fps in ((ek_gt, EK_FPS), (gs_gt, GS_FPS)):
        out = tmp_path / gt.dataset
        written = write_ground_truth(gt, out)
        assert not (out / "target_perframe").exists()  # written only when asked
        assert written["labels"].stat().st_size < 8_000_000
        metrics = score_oad_files(written["labels"], written["labels"], fps=fps)
        assert metrics["frame_accuracy"] == 100
        for key in ("segment_f1@0.1", "segment_f1@0.25", "segment_f1@0.5", "point_f1@1s", "point_f1@2s"):
            assert metrics[key] == pytest.approx(100, abs=1e-4), key
    # And a label shifted by one frame is no longer perfect (the metrics do look at the labels).
    labels = ek_gt.label_lists(["P01_11"])
    shifted = {"P01_11": labels["P01_11"][1:] + labels["P01_11"][-1:]}
    assert oad_metrics(shifted, labels, fps=EK_FPS)["frame_accuracy"] < 100


def test_layout_reader_refuses_bad_files(tmp_path):
    good = np.eye(3, dtype=np.uint8)[[0, 1, 2, 1]]
    write_targets(tmp_path, "v", good)
    assert read_targets(tmp_path, "v", num_classes=3, exclusive=True).tolist() == good.tolist()
    cases = [
        (good * 2, r"row 0, class 0.*0 or 1"),
        (np.vstack([good, [[0, 0, 0]]]), r"row 4.*at least one active"),
        (np.vstack([good, [[1, 1, 0]]]), r"row 4.*background"),
        (good[:, :2], r"shape.*\(T, 3\)"),
    ]
    for array, message in cases:
        np.save(tmp_path / "target_perframe" / "v.npy", array)
        with pytest.raises(ActbenchError, match=message) as error:
            read_targets(tmp_path, "v", num_classes=3)
        assert "v.npy" in str(error.value)
    np.save(tmp_path / "target_perframe" / "v.npy", np.vstack([good, [[0, 1, 1]]]))
    assert read_targets(tmp_path, "v", num_classes=3).shape == (5, 3)  # multi-hot is allowed...
    with pytest.raises(ActbenchError, match="exactly one"):
        read_targets(tmp_path, "v", num_classes=3, exclusive=True)  # ...unless one-hot is asked for
    with pytest.raises(ActbenchError, match="0 or 1"):
        write_targets(tmp_path, "w", good * 3)
    assert not (tmp_path / "target_perframe" / "w.npy").exists()
    (tmp_path / "features").mkdir()
    np.save(tmp_path / "features" / "v.npy", np.ones((4, 2)))  # float64
    with pytest.raises(ActbenchError, match="float32"):
        read_features(tmp_path, "v")
    np.save(tmp_path / "features" / "v.npy", np.full((4, 2), np.nan, dtype=np.float32))
    with pytest.raises(ActbenchError, match="finite"):
        read_features(tmp_path, "v")
    with pytest.raises(ActbenchError, match="no such file"):
        read_targets(tmp_path, "nope")
    for info, message in (({"X": {"class_names": ["a", "a"], "fps": 1}}, "distinct"),
                          ({"X": {"class_names": ["a"], "num_classes": 2, "fps": 1}}, "num_classes"),
                          ({"X": {"class_names": ["a"], "fps": 0}}, "fps"),
                          ({"X": {"class_names": ["a"], "fps": 1, "test_session_set": "v"}}, "test_session_set"),
                          ({}, "one dataset entry")):
        (tmp_path / "data_info.json").write_text(json.dumps(info))
        with pytest.raises(ActbenchError, match=message):
            read_data_info(tmp_path)
    with pytest.raises(ActbenchError, match="no split 'val_session_set'"):
        (tmp_path / "data_info.json").write_text(json.dumps({"X": {"class_names": ["a"], "fps": 1}}))
        read_data_info(tmp_path).videos("val_session_set")
    check_targets(good.astype(np.float64), "float targets")  # TeSTra saves float64 0/1


# ----------------------------------------------------------------------------------------- windows

def test_window_table():
    table = {name: (s.fps, s.long_frames, s.short_frames, s.stride) for name, s in OAD_WINDOWS.items()}
    assert table == {"thumos": (4, 128, 32, 32), "crosstask": (1, 128, 20, 20), "ek100": (4, 128, 20, 20),
                     "ego4d-goalstep": (1, 128, 16, 16)}
    assert (OAD_WINDOWS["thumos"].long_seconds, OAD_WINDOWS["thumos"].short_seconds) == (32, 8)
    literal = WindowSpec.from_seconds("thumos", 4, 128, 32)  # the paper's "(s)" read as seconds
    assert (literal.long_frames, literal.short_frames) == (512, 128)
    with pytest.raises(ActbenchError, match="did you mean 'ek100'"):
        window_spec("ek-100")
    with pytest.raises(Exception):
        OAD_WINDOWS["ek100"].short_frames = 3  # frozen


@pytest.mark.parametrize("dataset", ["ek100", "ego4d-goalstep"])
def test_training_windows_are_seeded_strided_and_cover_each_video(dataset, request):
    gt = request.getfixturevalue("ek_gt" if dataset == "ek100" else "gs_gt")
    spec, lengths = OAD_WINDOWS[dataset], dict(gt.lengths)
    first = list(training_windows(lengths, spec, rng=7))
    assert first == list(training_windows(lengths, spec, rng=np.random.default_rng(7)))
    assert first != list(training_windows(lengths, spec, rng=8))
    starts = set()
    for video, length in lengths.items():
        windows = [w for w in first if w.video == video]
        ends = [w.short.stop for w in windows]
        starts.add(ends[0])
        # A start of 0 is raised to 1 (GAD's max(1, work_end)): only then is the first step a frame short.
        steps = {b - a for a, b in zip(ends[1:], ends[2:])}
        assert ends[0] <= spec.short_frames and steps <= {spec.stride}
        first_step = ends[1] - ends[0]
        assert first_step == spec.stride or (first_step == spec.stride - 1 and ends[0] == 1)
        assert all(w.t == w.short.stop - 1 and w.t < length - 1 for w in windows)
        # The short windows tile [0, last end): no gap, and no overlap but the one frame after a start of 0.
        covered = np.concatenate([np.arange(w.short.start, w.short.stop) for w in windows])
        assert set(covered.tolist()) == set(range(ends[-1]))
        assert len(covered) - ends[-1] == (first_step == spec.stride - 1)
        assert 0 < length - ends[-1] <= spec.stride
        for w in windows:
            assert w.long.stop == w.short.start and w.long.start == max(0, w.short.start - spec.long_frames)
            assert len(w.short) <= spec.short_frames
        labels = gt.labels(video)
        assert [int(labels[w.t]) for w in windows[1:]] == labels[ends[1] - 1:ends[-1]:spec.stride].tolist()
    assert len(starts) > 5  # one random start per video


def test_streaming_windows_visit_every_frame_once_without_the_future(ek_gt):
    spec, length = OAD_WINDOWS["ek100"], ek_gt.lengths["P01_11"]
    windows = list(streaming_windows({"P01_11": length}, spec))
    assert [w.t for w in windows] == list(range(length))
    for w in windows:
        assert w.short == range(max(0, w.t + 1 - 20), w.t + 1)
        assert w.long == range(max(0, w.t + 1 - 20 - 128), max(0, w.t + 1 - 20))
    assert windows[500].long == range(353, 481) and windows[500].short == range(481, 501)


def test_sample_rates_follow_the_reference_sampler():
    # uniform_sampler(start, end, rate): from (end + 1) % rate when start < 0, else from start, every rate.
    spec = WindowSpec("x", 1, long_frames=8, short_frames=4, long_sample_rate=4, short_sample_rate=2)
    early, late = list(streaming_windows({"v": 20}, spec))[9], list(streaming_windows({"v": 20}, spec))[19]
    assert (early.short, early.long, early.t) == (range(6, 10, 2), range(2, 6, 4), 8)
    assert (late.short, late.long, late.t) == (range(16, 20, 2), range(8, 16, 4), 18)


# ---------------------------------------------------------------------------------------------- CLI

cli = typer.Typer()
cli.add_typer(oad_app, name="oad")  # as actbench.cli wires it


def invoke(*args):
    return CliRunner().invoke(cli, ["oad", "ground-truth", *map(str, args)])


def test_cli_writes_goalstep_ground_truth(tmp_path, data_dir, gs_gt):
    video = "106e9447-8a09-4e89-964e-61c927827a56"
    result = invoke("--dataset", "ego4d-goalstep", "--out", tmp_path, "--data-dir", data_dir, "--video", video,
                    "--target-perframe")
    assert result.exit_code == 0, result.output
    assert f"1 videos, {gs_gt.lengths[video]:,} frames at 1 fps, 356 classes" in result.stdout
    labels = read_labels(tmp_path / "G.json")[video]
    # Steps "add unspecified ingredient to recipe" [73.6, 88.4) and "serve drinks" [81.1, 109.5) overlap.
    assert labels[80] == labels[85] == "add unspecified ingredient to recipe" and labels[89] == "serve drinks"
    info = read_data_info(tmp_path, "Ego4DGoal")
    assert info.videos("val_session_set") == info.videos("test_session_set") == (video,)
    assert OadDataset.open(tmp_path).targets(video).shape == (gs_gt.lengths[video], 356)
    result = invoke("--dataset", "ek-100", "--out", tmp_path, "--data-dir", data_dir)
    assert result.exit_code == 2 and "did you mean 'ek100'" in result.stderr
    result = invoke("--dataset", "ego4d-goalstep", "--out", tmp_path, "--data-dir", data_dir, "--video", "P99_99")
    assert result.exit_code == 2 and "P99_99" in result.stderr
    result = invoke("--dataset", "ek100", "--out", tmp_path, "--data-dir", data_dir, "--labels", "description")
    assert result.exit_code == 2 and "ego4d-goalstep only" in result.stderr
    assert math.isclose(info.fps, 1)
