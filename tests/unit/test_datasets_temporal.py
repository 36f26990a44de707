"""THUMOS'14 and Breakfast: the official annotation formats, their validation, ``build-mqa`` through the CLI.

The official files cannot be downloaded here, so each test writes small files in their exact format:

- THUMOS'14 (crcv.ucf.edu/THUMOS14): ``Class Index_Detection.txt`` (``7 BaseballPitch``), and per class
  ``<ClassName>_val.txt`` / ``<ClassName>_test.txt`` lines ``video_name  start end`` (two spaces after the
  name) in the folders of ``TH14_Temporal_annotations_validation.zip`` / ``TH14_Temporal_annotations_test.zip``,
  with their ``Ambiguous_*.txt``;
- Breakfast (``segmentation_coarse.tar.gz``): ``segmentation_coarse/<activity>/<P03_cam01_P03_cereals>.txt``,
  lines ``31-150 take_bowl`` (1-based frames at 15 fps, two trailing spaces but on the last line).

The expected questions are worked out by hand in the comments.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from actbench.cli import app
from actbench.datasets import fetch as fetch_module
from actbench.datasets.breakfast import Breakfast
from actbench.datasets.check import check_dataset
from actbench.datasets.fetch import ENV_MIRROR, fetch
from actbench.datasets.thumos14 import Thumos14
from actbench.errors import ActbenchError
from actbench.mqa_builder.benchmark_dir import load_benchmark

runner = CliRunner()

# ---------------------------------------------------------------------------------------------- THUMOS'14
CLASS_INDEX = ("7 BaseballPitch\n9 BasketballDunk\n12 Billiards\n21 CleanAndJerk\n22 CliffDiving\n23 CricketBowling\n"
               "24 CricketShot\n26 Diving\n31 FrisbeeCatch\n33 GolfSwing\n36 HammerThrow\n40 HighJump\n"
               "45 JavelinThrow\n51 LongJump\n68 PoleVault\n79 Shotput\n85 SoccerPenalty\n92 TennisSwing\n"
               "93 ThrowDiscus\n97 VolleyballSpiking\n")
CLASSES = [line.split()[1] for line in CLASS_INDEX.splitlines()]
VAL_DIR = "validation/TH14_Temporal_annotations_validation/annotation"
TEST_DIR = "test/TH14_Temporal_Annotations_Test/annotations/annotation"
VAL = {
    "BaseballPitch": [("video_validation_0000051", "1.0", "2.0"), ("video_validation_0000051", "10.0", "11.5"),
                      ("video_validation_0000052", "3.2", "4.0")],
    "CricketBowling": [("video_validation_0000161", "5.0", "6.1")],
    "CricketShot": [("video_validation_0000161", "6.3", "7.0")],
    "CliffDiving": [("video_validation_0000201", "2.0", "4.5")],
    "Diving": [("video_validation_0000201", "2.0", "4.5"), ("video_validation_0000202", "8.0", "9.4")],
    "GolfSwing": [("video_validation_0000301", "0.5", "2.5")],
    "Ambiguous": [("video_validation_0000051", "9.0", "10.0")],
}
TEST = {
    "CricketBowling": [("video_test_0000004", "0.2", "1.1"), ("video_test_0000004", "20.0", "21.3")],
    "CricketShot": [("video_test_0000004", "1.2", "2.5")],
    "CliffDiving": [("video_test_0000007", "10.0", "14.5")],
    "Diving": [("video_test_0000007", "10.0", "14.5"), ("video_test_0000007", "30.1", "33.0")],
    "BaseballPitch": [("video_test_0000011", "5.0", "6.2")],
    "HighJump": [("video_test_0000270", "100.0", "104.0")],  # a known faulty video: left out
    "Ambiguous": [("video_test_0000011", "4.0", "5.0")],
}
TEST_SEGMENTS = [  # id, start, end, class, labels
    ("video_test_0000004_0", 0.2, 1.1, "CricketBowling", ()),
    ("video_test_0000004_1", 1.2, 2.5, "CricketShot", ()),
    ("video_test_0000004_2", 20.0, 21.3, "CricketBowling", ()),
    ("video_test_0000007_0", 10.0, 14.5, "CliffDiving", ("CliffDiving", "Diving")),
    ("video_test_0000007_1", 30.1, 33.0, "Diving", ()),
    ("video_test_0000011_0", 5.0, 6.2, "BaseballPitch", ()),
]


def instance_lines(rows, newline="\n") -> str:
    return "".join(f"{video}  {start} {end}{newline}" for video, start, end in rows)


def write_thumos(data: Path, *, val_dir=VAL_DIR, test_dir=TEST_DIR, newline="\n") -> Path:
    root = data / "thumos14"
    root.mkdir(parents=True, exist_ok=True)
    (root / "Class Index_Detection.txt").write_text(CLASS_INDEX)
    for suffix, folder, table in (("val", val_dir, VAL), ("test", test_dir, TEST)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in [*CLASSES, "Ambiguous"]:
            (root / folder / f"{name}_{suffix}.txt").write_text(instance_lines(table.get(name, []), newline))
    return root


@pytest.fixture(scope="module")
def thumos_data(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("thumos")
    write_thumos(data)
    return data


def build(data: Path, out: Path, *args: str):
    return runner.invoke(app, ["build-mqa", *args, "--out", str(out), "--data-dir", str(data)])


def options_by_class(q) -> dict[str, tuple[str, int | None]]:
    return {c: (text, rank) for c, text, rank in zip(q.option_classes, q.options, q.source_ranks)}


def assert_well_formed(questions, k: int) -> None:
    for q in questions:
        assert len(q.options) == len(set(q.option_classes)) == len(set(q.options)) == k
        distractor_ranks = [r for i, r in enumerate(q.source_ranks) if i != q.answer_index]
        assert all(isinstance(r, int) and r >= 1 for r in distractor_ranks)


def test_thumos_instances_are_segments_and_ambiguous_and_faulty_ones_are_left_out(thumos_data):
    ds = Thumos14.from_data_dir(thumos_data)
    got = [(s.narration_id, s.start, s.end, s.class_key, s.labels) for s in ds.split("test")]
    assert got == TEST_SEGMENTS
    assert {s.video_id for s in ds.split("test")} == {"video_test_0000004", "video_test_0000007", "video_test_0000011"}
    assert all(s.participant_id == "" and s.narration is None for s in ds.split("test"))
    assert len(ds.split("val")) == 8  # 9 lines, the CliffDiving/Diving pair being one interval
    assert ds.action_space.keys == tuple(sorted(CLASSES))
    label = dict(zip(ds.action_space.keys, ds.action_space.labels))
    assert (label["BaseballPitch"], label["CleanAndJerk"], label["Shotput"]) == ("baseball pitch", "clean and jerk",
                                                                               "shotput")
    assert check_dataset("thumos14", thumos_data).segments == {"test": 6, "val": 8}
    assert ds.input_files()[0].name == "Class Index_Detection.txt" and len(ds.input_files()) == 41


def test_thumos_files_are_found_without_the_archive_folders_and_with_crlf(tmp_path, thumos_data):
    write_thumos(tmp_path, val_dir="validation", test_dir="test", newline="\r\n")  # unzip -j, Windows lines
    flat = Thumos14.from_data_dir(tmp_path).split("test")
    assert flat == Thumos14.from_data_dir(thumos_data).split("test")


THUMOS_ERRORS = [
    ("CricketShot_test.txt", "video_test_0000004  1.2\n",
     ":1: field 'line': expected 'video_name starting_time ending_time', found video_test_0000004 1.2"),
    ("CricketShot_test.txt", "video_test_0000004  1.2 2.5\nvideo_test_0000004  1.2 x\n",
     ":2: field 'ending_time': expected a number of seconds >= 0, found x"),
    ("CricketShot_test.txt", "video_test_0000004  -1.0 2.5\n",
     ":1: field 'starting_time': expected a number of seconds >= 0, found -1.0"),
    ("CricketShot_test.txt", "video_test_0000004  2.5 2.5\n",
     ":1: field 'ending_time': expected seconds > starting_time (2.5), found 2.5"),
    ("CricketShot_test.txt", "video_validation_0000004  1.2 2.5\n",
     ":1: field 'video': expected a test video name (video_test_NNNNNNN), found video_validation_0000004"),
    ("Class Index_Detection.txt", "7 BaseballPitch\nBasketballDunk\n",
     ":2: field 'line': expected '<index> <ClassName>' (e.g. '7 BaseballPitch'), found BasketballDunk"),
    ("Class Index_Detection.txt", "7 BaseballPitch\nx BasketballDunk\n",
     ":2: field 'index': expected a class index (an integer), found x"),
    ("Class Index_Detection.txt", "7 BaseballPitch\n7 BaseballPitch\n",
     ":2: field 'class': expected each class once, found BaseballPitch again (line 1)"),
]


@pytest.mark.parametrize("name, text, message", THUMOS_ERRORS)
def test_thumos_format_errors_name_the_file_line_and_field(tmp_path, name, text, message):
    root = write_thumos(tmp_path)
    path = root / "Class Index_Detection.txt" if name.startswith("Class") else root / TEST_DIR / name
    path.write_text(text)
    with pytest.raises(ActbenchError) as caught:
        Thumos14.from_data_dir(tmp_path).split("test")
    assert str(caught.value) == f"{path}{message}"


def test_thumos_missing_files_are_named(tmp_path):
    root = write_thumos(tmp_path)
    (root / TEST_DIR / "CricketShot_test.txt").unlink()
    with pytest.raises(ActbenchError, match=r"CricketShot_test.txt: file not found; expected the thumos14 "
                                            r"annotations of the test split there \(run `actbench data fetch"):
        Thumos14.from_data_dir(tmp_path).split("test")
    (root / "Class Index_Detection.txt").unlink()
    result = build(tmp_path, tmp_path / "b", "--dataset", "thumos14", "--source", "random", "--options", "label")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith(
        f"actbench: error: {root / 'Class Index_Detection.txt'}: file not found")


def test_thumos_temporal_question_worked_by_hand_and_rebuilt_byte_for_byte(thumos_data, tmp_path):
    args = ("--dataset", "thumos14", "--source", "temporal", "--options", "label", "--k", "3")
    for name in ("a", "b"):
        result = build(thumos_data, tmp_path / name, *args)
        assert result.exit_code == 0, result.output
    for file in ("manifest.json", "questions.jsonl"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    bench = load_benchmark(tmp_path / "a")
    assert (bench.manifest.dataset, bench.manifest.split) == ("thumos14", "test")
    assert [i.name for i in bench.manifest.inputs][:2] == [
        "thumos14/Class Index_Detection.txt",
        "thumos14/test/TH14_Temporal_Annotations_Test/annotations/annotation/BaseballPitch_test.txt"]
    q = {q.id: q for q in bench.questions}
    assert list(q) == [row[0] for row in TEST_SEGMENTS]
    assert q["video_test_0000004_0"].question == Thumos14.question
    # video_test_0000004_0, CricketBowling at 0.2-1.1 (centre 0.65). In the video: CricketShot centre 1.85
    # (d = 1.2, score 1 + 1/2.2) and CricketBowling again at 20.65 (d = 20, score 1 + 1/21): ranks 1 and 2.
    # Then the val frequencies, add-one smoothed over 8 segments and 20 classes: BaseballPitch 4/28 (rank 3),
    # CliffDiving, Diving, GolfSwing 2/28 (CricketBowling, CricketShot already ranked), ... K = 3.
    assert options_by_class(q["video_test_0000004_0"]) == {
        "CricketBowling": ("cricket bowling", 2), "CricketShot": ("cricket shot", 1),
        "BaseballPitch": ("baseball pitch", 3)}
    # video_test_0000011_0, BaseballPitch alone in its video (its Ambiguous moment is no action): the val
    # frequencies only, BaseballPitch 4/28 first, then the 2/28 classes by name: CliffDiving, CricketBowling.
    assert options_by_class(q["video_test_0000011_0"]) == {
        "BaseballPitch": ("baseball pitch", 1), "CliffDiving": ("cliff diving", 2),
        "CricketBowling": ("cricket bowling", 3)}
    assert_well_formed(bench.questions, 3)


@pytest.mark.parametrize("source", ["random", "prior"])
def test_thumos_random_and_prior_sources_build(thumos_data, tmp_path, source):
    result = build(thumos_data, tmp_path / "b", "--dataset", "thumos14", "--source", source, "--options", "label")
    assert result.exit_code == 0, result.output
    assert "built 6 questions" in result.output
    questions = load_benchmark(tmp_path / "b").questions
    assert [(q.id, q.option_classes[q.answer_index]) for q in questions] == [(r[0], r[3]) for r in TEST_SEGMENTS]
    assert_well_formed(questions, 5)


def test_thumos_prior_is_refused_on_its_own_training_split(thumos_data, tmp_path):
    result = build(thumos_data, tmp_path / "b", "--dataset", "thumos14", "--source", "prior", "--options", "label",
                   "--split", "val")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "actbench: error: source 'prior' ranks held-out clips only (it is trained on the train split); "
        "use --split test")
    assert not (tmp_path / "b").exists()


def test_a_specialist_scores_file_gives_its_top_ranked_wrong_classes(thumos_data, tmp_path):
    ids = [row[0] for row in TEST_SEGMENTS]
    classes = CLASSES[::-1]  # any column order: each column is moved to its class
    scores = np.random.default_rng(0).random((len(ids), len(classes))).astype(np.float32) * 0.5
    row = scores[ids.index("video_test_0000011_0")]
    for name, value in {"GolfSwing": 0.9, "BaseballPitch": 0.8, "TennisSwing": 0.7, "CricketShot": 0.6}.items():
        row[classes.index(name)] = value
    path = tmp_path / "specialist.npz"
    np.savez(path, narration_ids=np.array(ids), scores=scores, classes=np.array(classes))
    result = build(thumos_data, tmp_path / "b", "--dataset", "thumos14", "--source", "scores", "--predictions",
                   str(path), "--options", "label", "--k", "3")
    assert result.exit_code == 0, result.output
    bench = load_benchmark(tmp_path / "b")
    q = {q.id: q for q in bench.questions}
    # BaseballPitch is the specialist's 2nd choice: its distractors are its 1st and 3rd, GolfSwing and TennisSwing.
    assert options_by_class(q["video_test_0000011_0"]) == {
        "GolfSwing": ("golf swing", 1), "BaseballPitch": ("baseball pitch", 2), "TennisSwing": ("tennis swing", 3)}
    for question, scored, segment in zip(bench.questions, scores, TEST_SEGMENTS):
        if segment[4]:
            continue  # a CliffDiving/Diving interval: see the next test
        ranked = [classes[i] for i in np.argsort(-scored, kind="stable")]  # the file's top-ranked wrong classes
        truth = question.option_classes[question.answer_index]
        assert sorted(c for c in question.option_classes if c != truth) == sorted(
            [c for c in ranked if c != truth][:2])
    assert bench.manifest.source_args["predictions"]["name"] == "specialist.npz"


def test_a_class_the_segment_also_has_is_never_its_distractor(thumos_data, tmp_path):
    # THUMOS annotates the CliffDiving interval of video_test_0000007 as Diving too: "diving" is not wrong there.
    ids = [row[0] for row in TEST_SEGMENTS]
    scores = np.zeros((len(ids), len(CLASSES)), dtype=np.float32)
    scores[ids.index("video_test_0000007_0"), CLASSES.index("Diving")] = 1.0
    path = tmp_path / "specialist.npz"
    np.savez(path, narration_ids=np.array(ids), scores=scores, classes=np.array(CLASSES))
    result = build(thumos_data, tmp_path / "b", "--dataset", "thumos14", "--source", "scores", "--predictions",
                   str(path), "--options", "label", "--k", "3")
    assert result.exit_code == 0, result.output
    q = {q.id: q for q in load_benchmark(tmp_path / "b").questions}["video_test_0000007_0"]
    assert q.option_classes[q.answer_index] == "CliffDiving" and "Diving" not in q.option_classes


def test_narration_options_are_refused_with_the_way_out(thumos_data, tmp_path):
    # Without --options a dataset with no descriptions builds in label mode; asking for narrations is refused.
    result = build(thumos_data, tmp_path / "a", "--dataset", "thumos14", "--source", "random")
    assert result.exit_code == 0 and load_benchmark(tmp_path / "a").manifest.options == "label"
    result = build(thumos_data, tmp_path / "b", "--dataset", "thumos14", "--source", "random", "--options", "narration")
    assert result.exit_code == 2
    folder = thumos_data / "thumos14" / TEST_DIR
    assert result.output.strip().splitlines()[-1] == (
        f"actbench: error: {folder}: field 'narration': expected a narration for every clip in narration mode "
        "(or use --options label), found none for video_test_0000004_0")


# ---------------------------------------------------------------------------------------------- Breakfast
COARSE_DIR = "breakfast/annotations/segmentation_coarse"
CEREALS_P03 = [(1, 30, "SIL"), (31, 150, "take_bowl"), (151, 428, "pour_cereals"), (429, 575, "pour_milk"),
               (576, 705, "stir_cereals"), (706, 836, "SIL")]
RECORDINGS = {  # file -> lines; P03 and P15 are fold 1 (s1-test), the others train it
    "cereals/P03_cam01_P03_cereals.txt": CEREALS_P03,
    "cereals/P03_cam02_P03_cereals.txt": CEREALS_P03,  # another camera view of the same recording
    "milk/P15_webcam02_P15_milk.txt": [(1, 47, "SIL"), (48, 215, "pour_milk"), (216, 565, "spoon_powder"),
                                       (566, 747, "SIL")],
    "cereals/P16_cam01_P16_cereals.txt": [(1, 9, "SIL"), (10, 269, "pour_cereals"), (270, 474, "pour_milk"),
                                          (475, 548, "SIL")],
    "tea/P29_stereo01_P29_tea.txt": [(1, 37, "SIL"), (38, 92, "take_cup"), (93, 229, "pour_water"),
                                     (230, 744, "add_teabag"), (745, 884, "pour_sugar"), (885, 973, "SIL")],
    "milk/P54_webcam01_P54_milk.txt": [(1, 20, "SIL"), (21, 99, "take_cup"), (100, 180, "pour_milk"),
                                       (181, 240, "SIL")],
}


def coarse_text(lines) -> str:
    """The official layout: ``start-end label``, two trailing spaces on every line but the last."""
    return "".join(f"{s}-{e} {label}" + ("  \n" if i < len(lines) - 1 else "\n") for i, (s, e, label) in
                   enumerate(lines))


def write_breakfast(data: Path, coarse_dir: str = COARSE_DIR) -> Path:
    for name, lines in RECORDINGS.items():
        path = data / coarse_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(coarse_text(lines))
    return data / coarse_dir


@pytest.fixture(scope="module")
def breakfast_data(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("breakfast")
    write_breakfast(data)
    return data


def test_breakfast_actions_are_segments_and_the_folds_split_by_person(breakfast_data):
    ds = Breakfast.from_data_dir(breakfast_data)
    test = ds.split("s1-test")
    assert [(s.narration_id, s.class_key, s.start, s.end, s.participant_id) for s in test[:4]] == [
        ("P03_cam01_P03_cereals_0", "take_bowl", 2.0, 10.0, "P03"),  # frames 31-150 at 15 fps
        ("P03_cam01_P03_cereals_1", "pour_cereals", 10.0, 428 / 15, "P03"),
        ("P03_cam01_P03_cereals_2", "pour_milk", 428 / 15, 575 / 15, "P03"),
        ("P03_cam01_P03_cereals_3", "stir_cereals", 575 / 15, 705 / 15, "P03")]
    assert [s.video_id for s in test] == ["P03_cam01_P03_cereals"] * 4 + ["P03_cam02_P03_cereals"] * 4 + \
        ["P15_webcam02_P15_milk"] * 2
    people = {split: sorted({s.participant_id for s in ds.split(split)}) for split in ds.splits}
    assert people == {"s1-test": ["P03", "P15"], "s1-train": ["P16", "P29", "P54"],
                      "s2-test": ["P16"], "s2-train": ["P03", "P15", "P29", "P54"],
                      "s3-test": ["P29"], "s3-train": ["P03", "P15", "P16", "P54"],
                      "s4-test": ["P54"], "s4-train": ["P03", "P15", "P16", "P29"]}
    assert all(s.class_key != "SIL" for split in ds.splits for s in ds.split(split))
    assert len(ds.action_space) == 47 and ds.action_space.index["take_bowl"] >= 0
    label = dict(zip(ds.action_space.keys, ds.action_space.labels))
    assert (label["take_bowl"], label["add_saltnpepper"], label["put_toppingOnTop"]) == (
        "take bowl", "add salt and pepper", "put topping on top")
    assert [ds.train_split_for(s) for s in ("s1-test", "s3-test", "s4-train")] == ["s1-train", "s3-train", "s4-train"]
    assert check_dataset("breakfast", breakfast_data).segments == {
        "s1-test": 10, "s1-train": 8, "s2-test": 2, "s2-train": 16, "s3-test": 4, "s3-train": 14, "s4-test": 2,
        "s4-train": 16}


def test_breakfast_unpacked_by_hand_into_the_dataset_folder_is_read(tmp_path, breakfast_data):
    write_breakfast(tmp_path, "breakfast/segmentation_coarse")
    assert Breakfast.from_data_dir(tmp_path).split("s1-test") == Breakfast.from_data_dir(breakfast_data).split("s1-test")


BREAKFAST_ERRORS = [
    ("cereals/P03_cam01_P03_cereals.txt", "1-30 SIL  \n31-150\n", ":2",
     "field 'line': expected '<start>-<end> <label>' (frame numbers), found 31-150"),
    ("cereals/P03_cam01_P03_cereals.txt", "1-30 SIL  \n150-31 take_bowl\n", ":2",
     "field 'frames': expected 1 <= start <= end (1-based frame numbers), found 150-31"),
    ("cereals/P03_cam01_P03_cereals.txt", "0-30 SIL\n", ":1",
     "field 'frames': expected 1 <= start <= end (1-based frame numbers), found 0-30"),
    ("cereals/P03_cam01_P03_cereals.txt", "1-30 SIL  \n31-150 take_spoon\n", ":2",
     "field 'label': expected a coarse action of Breakfast or SIL, found take_spoon"),
    ("cereals/P03_cam01_P03_cereals.txt", "", "", ("field 'content': expected at least one '<start>-<end> <label>' "
     "line, found an empty file")),
    ("cereals/P03_P03_cereals.txt", "1-30 SIL\n", "", ("field 'file name': expected "
     "<person>_<camera>_<person>_cereals.txt (e.g. P03_cam01_P03_cereals.txt), found P03_P03_cereals.txt")),
    ("cereals/P03_cam01_P03_tea.txt", "1-30 SIL\n", "", ("field 'file name': expected "
     "<person>_<camera>_<person>_cereals.txt (e.g. P03_cam01_P03_cereals.txt), found P03_cam01_P03_tea.txt")),
    ("cereals/P01_cam01_P01_cereals.txt", "1-30 SIL\n", "", ("field 'person': expected a person of the official "
     "folds, P03..P54, found P01")),
]


@pytest.mark.parametrize("name, text, line, message", BREAKFAST_ERRORS)
def test_breakfast_format_errors_name_the_file_line_and_field(tmp_path, name, text, line, message):
    coarse = write_breakfast(tmp_path)
    (coarse / name).write_text(text)
    with pytest.raises(ActbenchError) as caught:
        Breakfast.from_data_dir(tmp_path).split("s1-test")
    assert str(caught.value) == f"{coarse / name}{line}: {message}"


def test_breakfast_without_annotations_names_the_folder(tmp_path):
    with pytest.raises(ActbenchError, match=r"breakfast/annotations/segmentation_coarse: file not found; expected "
                                            r"the breakfast annotations of the s2-test split there"):
        Breakfast.from_data_dir(tmp_path).split("s2-test")


def test_breakfast_temporal_question_worked_by_hand_and_rebuilt_byte_for_byte(breakfast_data, tmp_path):
    args = ("--dataset", "breakfast", "--source", "temporal", "--options", "label", "--k", "3")
    for name in ("a", "b"):
        result = build(breakfast_data, tmp_path / name, *args)
        assert result.exit_code == 0, result.output
        assert "built 10 questions" in result.output
    for file in ("manifest.json", "questions.jsonl"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    bench = load_benchmark(tmp_path / "a")
    assert (bench.manifest.dataset, bench.manifest.split) == ("breakfast", "s1-test")
    q = {q.id: q for q in bench.questions}
    assert q["P03_cam01_P03_cereals_1"].question == Breakfast.question
    # pour_cereals, frames 151-428: 10.0 s to 28.533 s, centre 19.267. Other actions of the video: take_bowl
    # (centre 6.0, d 13.267), pour_milk (33.433, d 14.167), stir_cereals (42.667, d 23.4): ranks 1-3, K = 3.
    # The answer is not elsewhere in the video: it ranks by its s1-train frequency (add-one smoothed, 8 segments,
    # 47 classes), after take_cup 3/55 (4) and add_teabag 2/55 (5, ties by name), as pour_cereals 2/55: rank 6.
    assert options_by_class(q["P03_cam01_P03_cereals_1"]) == {
        "pour_cereals": ("pour cereals", 6), "take_bowl": ("take bowl", 1), "pour_milk": ("pour milk", 2)}
    assert_well_formed(bench.questions, 3)


def test_breakfast_prior_learns_from_the_other_persons_and_refuses_them(breakfast_data, tmp_path):
    result = build(breakfast_data, tmp_path / "b", "--dataset", "breakfast", "--source", "prior", "--options",
                   "label")
    assert result.exit_code == 0, result.output
    questions = load_benchmark(tmp_path / "b").questions
    assert_well_formed(questions, 5)
    assert [q.id for q in questions][-2:] == ["P15_webcam02_P15_milk_0", "P15_webcam02_P15_milk_1"]
    result = build(breakfast_data, tmp_path / "c", "--dataset", "breakfast", "--source", "prior", "--options",
                   "label", "--split", "s1-train")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "actbench: error: source 'prior' ranks held-out clips only (it is trained on the train split); "
        "use --split s1-test")


def test_the_prior_of_another_fold_learns_from_that_folds_training_persons(breakfast_data, tmp_path):
    # s2-test is P16; s1-train (P16, P29, P54) holds it, s2-train (P03, P15, P29, P54) does not.
    result = build(breakfast_data, tmp_path / "c", "--dataset", "breakfast", "--source", "prior", "--options",
                   "label", "--split", "s2-train")
    assert result.exit_code == 2
    assert "source 'prior' ranks held-out clips only" in result.output


@pytest.mark.parametrize("card, data, questions", [("thumos14-mqa-random", "thumos_data", 6),
                                                   ("breakfast-mqa-temporal", "breakfast_data", 10)])
def test_the_cards_build(request, tmp_path, card, data, questions):
    result = runner.invoke(app, ["build-mqa", "--benchmark", card, "--out", str(tmp_path / "b"), "--data-dir",
                                 str(request.getfixturevalue(data))])
    assert result.exit_code == 0, result.output
    assert f"built {questions} questions" in result.output
    manifest = load_benchmark(tmp_path / "b").manifest
    assert (manifest.name, manifest.k, manifest.options) == (card, 5, "label")


# ---------------------------------------------------------------------------------------------- data fetch
class _Handler(BaseHTTPRequestHandler):
    timeout = 5
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = self.server.files.get(self.path)  # type: ignore[attr-defined]
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def served(monkeypatch):
    monkeypatch.delenv(ENV_MIRROR, raising=False)
    monkeypatch.setattr(fetch_module, "RETRY_DELAYS_S", (0.0, 0.0))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.files = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd.files, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _zip(folder: Path, top: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{top}/{path.name}")
    return buffer.getvalue()


def test_fetch_unpacks_the_official_archives_where_the_loaders_read_them(served, tmp_path, thumos_data,
                                                                         breakfast_data):
    files, mirror = served
    # The official URLs (crcv.ucf.edu, the Breakfast page's Google Drive link) under the mirror, host kept.
    thumos = thumos_data / "thumos14"
    files["/www.crcv.ucf.edu/THUMOS14/Class%20Index_Detection.txt"] = CLASS_INDEX.encode()
    files["/www.crcv.ucf.edu/THUMOS14/Validation_set/TH14_Temporal_annotations_validation.zip"] = _zip(
        thumos / VAL_DIR, "TH14_Temporal_annotations_validation/annotation")
    files["/www.crcv.ucf.edu/THUMOS14/test_set/TH14_Temporal_annotations_test.zip"] = _zip(
        thumos / TEST_DIR, "TH14_Temporal_Annotations_Test/annotations/annotation")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(breakfast_data / COARSE_DIR, arcname="segmentation_coarse")
    files["/drive.google.com/uc?export=download&id=1R3z_CkO1uIOhu4y2Nh0pCHjQQ2l-Ab9E"] = buffer.getvalue()

    fetch("thumos14", tmp_path, mirror=mirror)
    fetch("breakfast", tmp_path, mirror=mirror)
    assert check_dataset("thumos14", tmp_path).segments == {"test": 6, "val": 8}
    assert Thumos14.from_data_dir(tmp_path).split("test") == Thumos14.from_data_dir(thumos_data).split("test")
    assert check_dataset("breakfast", tmp_path).segments == check_dataset("breakfast", breakfast_data).segments
    assert json.dumps(sorted(p.name for p in (tmp_path / "thumos14").iterdir())) == json.dumps(
        ["Class Index_Detection.txt", "test", "validation"])
