"""COIN and CrossTask: small files in the exact official formats, written here, through loading, validation,
``data fetch`` and ``build-mqa``.

Formats: COIN.json of github.com/coin-dataset/annotations (README "File Structure"); the CrossTask release
(crosstask_release.zip linked from github.com/DmZhukov/CrossTask, read as its data.py / train.py read it).
The videos, steps and times are made up. Every expected option set and rank below is worked out by hand in
the comment next to it (no code shared with the builder).
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from actbench.cli import app
from actbench.datasets.check import check_dataset
from actbench.datasets.coin_steps import CoinSteps
from actbench.datasets.crosstask import CrossTask
from actbench.datasets.fetch import fetch
from actbench.datasets.official_files import official_dataset
from actbench.datasets.registry import open_dataset
from actbench.errors import ActbenchError
from actbench.mqa_builder.benchmark_dir import load_benchmark
from actbench.mqa_builder.build import BuildSpec, build_mqa
from actbench.mqa_builder.cards import get_card

runner = CliRunner()

# ------------------------------------------------------------------------------------------------ COIN

COIN_LABELS = {
    "1": "cut bread", "2": "spread butter", "3": "put together",  # MakeSandwich (made-up ids)
    "259": "unscrew the screw", "260": "jack up the car", "261": "remove the tire",  # ChangeCarTire
    "262": "put on the tire", "263": "tighten the screws",
    "212": "take out the laptop CD drive",  # ReplaceCDDriveWithSSD, as in the README's example entry
    "216": "insert the hard disk tray into the position of the CD drive",
}
TASK_OF = {"MakeSandwich": 3, "ChangeCarTire": 13, "ReplaceCDDriveWithSSD": 131}


def coin_video(task: str, subset: str, steps: list[tuple[str, float, float]], vid: str) -> dict:
    """One entry of COIN.json's "database", every official field (ids as strings, as the file has them)."""
    return {"recipe_type": TASK_OF[task], "class": task, "subset": subset, "start": steps[0][1],
            "end": steps[-1][2], "duration": steps[-1][2] + 5.0, "video_url": f"https://www.youtube.com/embed/{vid}",
            "annotation": [{"id": i, "segment": [s, e], "label": COIN_LABELS[i]} for i, s, e in steps]}


# Training and testing videos interleaved, as the official file mixes them.
COIN_VIDEOS = {
    "tireTest001": ("ChangeCarTire", "testing", [("259", 0.0, 10.0), ("260", 12.0, 20.0), ("261", 21.0, 30.0),
                                                 ("262", 31.0, 40.0), ("263", 45.0, 50.0)]),
    "sandTrain01": ("MakeSandwich", "training", [("1", 1.0, 4.0), ("2", 5.0, 8.0), ("3", 9.0, 11.0)]),
    "sandTest001": ("MakeSandwich", "testing", [("1", 2.0, 5.0), ("2", 6.0, 9.0), ("3", 10.0, 12.0)]),
    "sandTrain02": ("MakeSandwich", "training", [("1", 0.5, 3.0), ("3", 4.0, 7.5)]),
    "tireTrain01": ("ChangeCarTire", "training", [("259", 1.0, 9.0), ("260", 10.0, 15.0), ("261", 16.0, 22.0),
                                                  ("262", 23.0, 30.0), ("263", 31.0, 36.0)]),
    "ssdTest0001": ("ReplaceCDDriveWithSSD", "testing", [("212", 3.0, 8.0)]),
    "ssdTrain001": ("ReplaceCDDriveWithSSD", "training", [("212", 60.0, 69.0), ("216", 71.0, 82.0)]),
}
TEST_IDS = [f"{v}_{i}" for v, (_, subset, steps) in COIN_VIDEOS.items() if subset == "testing"
            for i in range(len(steps))]


def coin_database() -> dict:
    return {vid: coin_video(task, subset, steps, vid) for vid, (task, subset, steps) in COIN_VIDEOS.items()}


def write_coin(data: Path, database: dict | None = None) -> Path:
    folder = data / "coin"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "COIN.json"
    path.write_text(json.dumps({"database": coin_database() if database is None else database}, indent=2))
    return path


@pytest.fixture
def coin_data(tmp_path) -> Path:
    write_coin(tmp_path / "data")
    return tmp_path / "data"


def cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def build_coin(data: Path, out: Path, *args: str):
    result = cli("build-mqa", "--dataset", "coin", "--options", "label", "--out", out, "--data-dir", data, *args)
    assert result.exit_code == 0, result.output
    return load_benchmark(out).questions


def by_class(q) -> dict[str, tuple[str, int | None]]:
    """Option class -> (its text, its source rank)."""
    return {c: (o, r) for c, o, r in zip(q.option_classes, q.options, q.source_ranks)}


def test_coin_steps_read_as_segments(coin_data):
    coin = open_dataset("coin", coin_data)
    assert isinstance(coin, CoinSteps) and coin.default_split == "test"
    test = coin.split("test")
    assert [s.narration_id for s in test] == TEST_IDS
    first = test[1]
    assert (first.video_id, first.start, first.end, first.class_key, first.narration, first.participant_id) == \
        ("tireTest001", 12.0, 20.0, "260", None, "ChangeCarTire")
    train = coin.split("train")
    assert [s.narration_id for s in train][:4] == ["sandTrain01_0", "sandTrain01_1", "sandTrain01_2", "sandTrain02_0"]
    assert len(train) == 12 and len(test) == 9
    # The taxonomy is the file's (id, label) pairs over both subsets (216 occurs only in training).
    assert coin.action_space.keys == ("1", "2", "212", "216", "259", "260", "261", "262", "263", "3")
    assert dict(zip(coin.action_space.keys, coin.action_space.labels)) == COIN_LABELS
    assert check_dataset("coin", coin_data).segments == {"test": 9, "train": 12}


def test_coin_one_step_id_with_two_labels_is_refused(tmp_path):
    database = coin_database()
    database["ssdTest0001"]["annotation"][0]["label"] = "remove the CD drive"
    path = write_coin(tmp_path / "data", database)
    with pytest.raises(ActbenchError) as caught:
        CoinSteps.from_data_dir(tmp_path / "data").split("test")
    # tireTest001, sandTrain01 ... come first; 212 is first seen in ssdTest0001 itself, then ssdTrain001 disagrees.
    assert str(caught.value) == (
        f"{path}: field 'database.ssdTrain001.annotation[0].label': expected 'remove the CD drive', the label of "
        f"step id 212 at database.ssdTest0001.annotation[0], found take out the laptop CD drive")


@pytest.mark.parametrize("field, value, message", [
    ("segment", [9.0, 2.0], ("field 'database.sandTest001.annotation[2].segment': expected [start, end] seconds "
                             "with 0 <= start <= end, found [9.0, 2.0]")),
    ("label", "", "field 'database.sandTest001.annotation[2].label': expected a non-empty step label, found ''"),
    ("id", None, ("field 'database.sandTest001.annotation[2].id': expected the step id (a string or an integer), "
                  "found None")),
])
def test_coin_malformed_steps_name_the_file_and_the_field(tmp_path, field, value, message):
    database = coin_database()
    database["sandTest001"]["annotation"][2][field] = value
    path = write_coin(tmp_path / "data", database)
    with pytest.raises(ActbenchError) as caught:
        CoinSteps.from_data_dir(tmp_path / "data").split("test")
    assert str(caught.value) == f"{path}: {message}"


def test_coin_missing_file_and_unknown_split(tmp_path, coin_data):
    with pytest.raises(ActbenchError) as caught:
        CoinSteps.from_data_dir(tmp_path).split("test")
    assert str(caught.value) == (f"{tmp_path / 'coin' / 'COIN.json'}: file not found; expected the coin annotations "
                                 "of the test split there (run `actbench data fetch coin` or pass --data-dir / set "
                                 "ACTBENCH_DATA_DIR)")
    with pytest.raises(ActbenchError) as caught:
        CoinSteps.from_data_dir(coin_data).split("testing")
    assert str(caught.value) == "--split: field 'split': expected one of test, train (coin), found testing"


def test_coin_temporal_question_by_hand_and_byte_identical_rebuild(coin_data, tmp_path):
    questions = build_coin(coin_data, tmp_path / "a", "--source", "temporal", "--k", "3")
    assert [q.id for q in questions] == TEST_IDS
    q = questions[1]  # tireTest001_1: "jack up the car", 12..20 s, centre 16
    assert (q.video_id, q.start, q.end) == ("tireTest001", 12.0, 20.0)
    assert q.question.startswith("This is a clip of an instructional video.")
    assert q.options[q.answer_index] == "jack up the car" and q.option_classes[q.answer_index] == "260"
    # Other steps of the video by centre distance: 261 (25.5, d 9.5) rank 1, 259 (5, d 11) rank 2, 262 and 263
    # ranks 3-4. 260 occurs nowhere else in the video, so it falls to the training frequencies: "1" and "3"
    # (twice in training) ranks 5-6, then the once-seen classes in key order 2, 212, 216, 260 -> rank 10.
    assert by_class(q) == {"261": ("remove the tire", 1), "259": ("unscrew the screw", 2),
                           "260": ("jack up the car", 10)}
    build_coin(coin_data, tmp_path / "b", "--source", "temporal", "--k", "3")
    for name in ("manifest.json", "questions.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert (manifest["dataset"], manifest["split"]) == ("coin", "test")
    assert [i["name"] for i in manifest["inputs"]] == ["coin/COIN.json"]


def test_coin_random_source_obeys_the_rule(coin_data, tmp_path):
    questions = build_coin(coin_data, tmp_path / "b", "--source", "random", "--k", "4", "--seed", "7")
    segments = CoinSteps.from_data_dir(coin_data).split("test")
    for q, s in zip(questions, segments, strict=True):
        assert q.option_classes[q.answer_index] == s.class_key and q.options[q.answer_index] == COIN_LABELS[s.class_key]
        assert len(set(q.option_classes)) == 4 and all(COIN_LABELS[c] == o for c, o in zip(q.option_classes, q.options))


def test_coin_prior_groups_by_task_and_is_refused_on_its_training_split(coin_data, tmp_path):
    questions = build_coin(coin_data, tmp_path / "b", "--source", "prior", "--k", "3")
    q = questions[TEST_IDS.index("ssdTest0001_0")]
    # First step of its video (no history): the task's training counts {212: 1, 216: 1} over a global prior
    # where 1 and 3 (2 of 12 training steps each) lead. 212 and 216 tie (212 first by key order), then 1.
    assert by_class(q) == {"212": ("take out the laptop CD drive", 1),
                           "216": ("insert the hard disk tray into the position of the CD drive", 2),
                           "1": ("cut bread", 3)}
    result = cli("build-mqa", "--dataset", "coin", "--source", "prior", "--split", "train", "--options", "label",
                 "--out", tmp_path / "c", "--data-dir", coin_data)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "actbench: error: source 'prior' ranks held-out clips only (it is trained on the train split); "
        "use --split test")
    assert not (tmp_path / "c").exists()


def test_coin_specialist_scores_give_its_top_ranked_wrong_steps(coin_data, tmp_path):
    path = tmp_path / "specialist.npz"
    # A partial, unordered class list: classes not listed are never distractors.
    np.savez(path, narration_ids=np.array(["tireTest001_0", "tireTest001_1"]),
             classes=np.array(["263", "1", "259", "260", "216"]),
             scores=np.array([[0.9, 0.5, 0.95, 0.1, 0.7],    # answer 259: 259 > 263 > 216 > 1 > 260
                              [0.2, 0.3, 0.3, 0.1, 0.8]],    # answer 260: 216 > 1 = 259 (1 first by key) > 263 > 260
                             dtype=np.float32))
    questions = build_coin(coin_data, tmp_path / "b", "--source", "scores", "--predictions", path, "--k", "3",
                           "--limit", "2")
    assert by_class(questions[0]) == {"259": ("unscrew the screw", 1), "263": ("tighten the screws", 2),
                                      "216": (COIN_LABELS["216"], 3)}
    assert by_class(questions[1]) == {"260": ("jack up the car", 5), "216": (COIN_LABELS["216"], 1),
                                      "1": ("cut bread", 2)}
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["source_args"]["predictions"]["name"] == "specialist.npz"


def test_coin_narration_options_give_the_clear_error(coin_data, tmp_path):
    result = cli("build-mqa", "--dataset", "coin", "--source", "random", "--options", "narration",
                 "--out", tmp_path / "b", "--data-dir", coin_data)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"actbench: error: {coin_data / 'coin' / 'COIN.json'}: field 'narration': expected a narration for every "
        "clip in narration mode (or use --options label), found none for tireTest001_0")


def test_coin_cards_build(coin_data, tmp_path):
    result = cli("build-mqa", "--benchmark", "coin-mqa-temporal", "--out", tmp_path / "b", "--data-dir", coin_data)
    assert result.exit_code == 0, result.output
    assert "built 9 questions" in result.output
    card = get_card("coin-mqa-scores")
    assert (card.dataset, card.source, card.options, card.split) == ("coin", "scores", "label", "test")
    result = cli("build-mqa", "--benchmark", "coin-mqa-scores", "--out", tmp_path / "c", "--data-dir", coin_data)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "actbench: error: source 'scores' reads a prediction file: pass --predictions FILE")


# ------------------------------------------------------------------------------------------- CrossTask

# tasks_primary.txt: blocks of id / name / wikiHow URL / number of steps / steps, each followed by a blank line.
TASKS_PRIMARY = """\
23521
Make Jello Shots
http://www.wikihow.com/Make-Jello-Shots
6
pour water,pour juice,pour jello powder,pour alcohol,stir mixture,pour mixture into cup

16815
Jack Up a Car
http://www.wikihow.com/Jack-Up-a-Car
4
brake on,raise jack,add wooden block,lower jack

"""
# videos.csv lists primary and related tasks (91586 is related: no annotations); videos_val.csv the held-out ones.
VIDEOS = """\
23521,jelloTrain1,https://www.youtube.com/watch?v=jelloTrain1
23521,jelloVal001,https://www.youtube.com/watch?v=jelloVal001
16815,jackTrain01,https://www.youtube.com/watch?v=jackTrain01
91586,relatedVid1,https://www.youtube.com/watch?v=relatedVid1
16815,jackVal0001,https://www.youtube.com/watch?v=jackVal0001
16815,jackNoAnnot,https://www.youtube.com/watch?v=jackNoAnnot
"""
VIDEOS_VAL = """\
16815,jackVal0001,https://www.youtube.com/watch?v=jackVal0001
23521,jelloVal001,https://www.youtube.com/watch?v=jelloVal001
16815,jackNoAnnot,https://www.youtube.com/watch?v=jackNoAnnot
"""
# annotations/<task>_<video>.csv: step (1-based), start, end in seconds.
ANNOTATIONS = {
    "23521_jelloTrain1": "1,3.5,8.0\n3,9.0,15.25\n5,16.0,20.0\n6,21.0,30.0\n",
    "23521_jelloVal001": "1,1.0,5.0\n2,6.0,9.0\n3,10.0,14.0\n5,20.0,26.0\n6,40.0,52.5\n",
    "16815_jackTrain01": "1,0.0,4.0\n2,5.0,12.0\n4,20.0,25.0\n",
    "16815_jackVal0001": "1,2.0,6.0\n2,8.0,16.0\n3,17.0,19.0\n4,30.0,36.0\n",
}


def write_release(root: Path, *, files: dict[str, str] | None = None) -> dict[str, str]:
    """The release's files under ``root`` (the archive's crosstask_release/ folder); returns what was written."""
    content = {"tasks_primary.txt": TASKS_PRIMARY, "videos.csv": VIDEOS, "videos_val.csv": VIDEOS_VAL,
               **{f"annotations/{name}.csv": text for name, text in ANNOTATIONS.items()}, **(files or {})}
    for name, text in content.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return content


@pytest.fixture
def ct_data(tmp_path) -> Path:
    write_release(tmp_path / "data" / "crosstask" / "release" / "crosstask_release")
    return tmp_path / "data"


def release_of(data: Path) -> Path:
    return data / "crosstask" / "release" / "crosstask_release"


def test_crosstask_splits_follow_the_official_train_py(ct_data):
    ct = open_dataset("crosstask", ct_data)
    assert isinstance(ct, CrossTask) and ct.default_split == "val"
    val = ct.split("val")
    # videos_val.csv order; jackNoAnnot has no annotation file and is left out, as the official evaluation does.
    assert [s.narration_id for s in val] == [f"16815_jackVal0001_{i}" for i in range(4)] + \
        [f"23521_jelloVal001_{i}" for i in range(5)]
    s = val[2]
    assert (s.video_id, s.start, s.end, s.class_key, s.narration, s.participant_id) == \
        ("jackVal0001", 17.0, 19.0, "16815:3", None, "16815")
    # videos.csv minus videos_val.csv, primary tasks only (relatedVid1's task 91586 is not primary).
    train = ct.split("train")
    assert sorted({s.video_id for s in train}) == ["jackTrain01", "jelloTrain1"]
    assert [s.class_key for s in train] == ["23521:1", "23521:3", "23521:5", "23521:6", "16815:1", "16815:2",
                                            "16815:4"]
    assert train[1].start == 9.0 and train[1].end == 15.25
    space = ct.action_space
    assert space.keys[:4] == ("16815:1", "16815:2", "16815:3", "16815:4") and len(space) == 10
    assert dict(zip(space.keys, space.labels))["23521:6"] == "pour mixture into cup"
    assert check_dataset("crosstask", ct_data).segments == {"val": 9, "train": 7}
    rel = release_of(ct_data)
    assert ct.split_files("val") == [rel / "tasks_primary.txt", rel / "videos.csv", rel / "videos_val.csv",
                                     rel / "annotations/16815_jackVal0001.csv",
                                     rel / "annotations/23521_jelloVal001.csv"]


def test_crosstask_release_unpacked_without_its_top_folder_is_read(tmp_path):
    write_release(tmp_path / "crosstask" / "release")
    assert len(CrossTask.from_data_dir(tmp_path).split("val")) == 9


TASK_LINES = TASKS_PRIMARY.splitlines(keepends=True)


@pytest.mark.parametrize("name, text, where, message", [
    ("tasks_primary.txt", "".join(TASK_LINES[:4] + ["pour water,pour juice\n"] + TASK_LINES[5:]), "tasks_primary.txt:5",
     "field 'steps': expected 6 comma-separated steps (line 4), found 2"),
    ("tasks_primary.txt", "".join(TASK_LINES[:3] + ["six\n"] + TASK_LINES[4:]), "tasks_primary.txt:4",
     "field 'number of steps': expected a positive integer, found six"),
    ("tasks_primary.txt", "".join(TASK_LINES[:2] + TASK_LINES[3:]), "tasks_primary.txt:1",
     "field 'task': expected 5 lines (task id, name, URL, number of steps, steps), then a blank line, found 4 lines"),
    ("tasks_primary.txt", TASKS_PRIMARY + "".join(TASK_LINES[:6]), "tasks_primary.txt:13",
     "field 'task id': expected each task once, found 23521 again"),
    ("videos_val.csv", "16815,jackVal0001\n", "videos_val.csv:1",
     "field 'row': expected task id,YouTube id,URL, found 16815,jackVal0001"),
    ("annotations/16815_jackVal0001.csv", "1,2.0,6.0\n5,8.0,16.0\n", "annotations/16815_jackVal0001.csv:2",
     "field 'step': expected a step number of task 16815 in 1..4, found 5"),
    ("annotations/16815_jackVal0001.csv", "1,2.0,6.0\n2,8.0,7.5\n", "annotations/16815_jackVal0001.csv:2",
     "field 'end': expected seconds >= start (8.0), found 7.5"),
    ("annotations/16815_jackVal0001.csv", "1,-1,6.0\n", "annotations/16815_jackVal0001.csv:1",
     "field 'start': expected a number of seconds >= 0, found -1"),
    ("annotations/16815_jackVal0001.csv", "1,2.0,nan\n", "annotations/16815_jackVal0001.csv:1",
     "field 'end': expected a number of seconds >= 0, found nan"),
    ("annotations/16815_jackVal0001.csv", "1;2.0;6.0\n", "annotations/16815_jackVal0001.csv:1",
     "field 'row': expected step,start,end, found 1;2.0;6.0"),
])
def test_crosstask_malformed_files_name_the_file_line_and_field(tmp_path, name, text, where, message):
    rel = tmp_path / "crosstask" / "release" / "crosstask_release"
    write_release(rel, files={name: text})
    with pytest.raises(ActbenchError) as caught:
        CrossTask.from_data_dir(tmp_path).split("val")
    assert str(caught.value) == f"{rel / where}: {message}"


def test_crosstask_missing_files(tmp_path):
    rel = tmp_path / "crosstask" / "release" / "crosstask_release"
    with pytest.raises(ActbenchError) as caught:
        CrossTask.from_data_dir(tmp_path).split("val")
    hint = (f"run `actbench data fetch crosstask`, or unzip crosstask_release.zip into "
            f"{tmp_path / 'crosstask' / 'release'}; or pass --data-dir / set ACTBENCH_DATA_DIR")
    assert str(caught.value) == (f"{rel / 'tasks_primary.txt'}: file not found; expected the crosstask annotations "
                                 f"of the val split there ({hint})")
    write_release(rel)
    for path in (rel / "annotations").iterdir():
        path.unlink()
    (rel / "annotations").rmdir()
    with pytest.raises(ActbenchError) as caught:
        CrossTask.from_data_dir(tmp_path).split("val")
    assert str(caught.value) == (f"{rel / 'annotations'}: folder not found; expected the CrossTask step annotations "
                                 f"<task>_<video>.csv there ({hint})")


def test_crosstask_temporal_question_by_hand(ct_data, tmp_path):
    result = cli("build-mqa", "--dataset", "crosstask", "--source", "temporal", "--options", "label", "--k", "4",
                 "--out", tmp_path / "b", "--data-dir", ct_data)
    assert result.exit_code == 0, result.output
    q = load_benchmark(tmp_path / "b").questions[6]  # 23521_jelloVal001_2: "pour jello powder", 10..14 s, centre 12
    assert (q.id, q.video_id, q.start, q.end) == ("23521_jelloVal001_2", "jelloVal001", 10.0, 14.0)
    assert q.options[q.answer_index] == "pour jello powder"
    # Other steps of the video: step 2 (centre 7.5, d 4.5) rank 1, step 1 (3, d 9) rank 2, step 5 (23, d 11)
    # rank 3, step 6 rank 4. Step 3 occurs nowhere else in the video: it falls to the training frequencies,
    # where 16815:1, 16815:2, 16815:4 and 23521:3 are each seen once (16815:* first by key) -> rank 8.
    assert {c: r for c, r in zip(q.option_classes, q.source_ranks)} == \
        {"23521:2": 1, "23521:1": 2, "23521:5": 3, "23521:3": 8}
    assert dict(zip(q.option_classes, q.options))["23521:5"] == "stir mixture"


def test_crosstask_prior_is_refused_on_train_and_builds_on_val(ct_data, tmp_path):
    result = cli("build-mqa", "--dataset", "crosstask", "--source", "prior", "--split", "train", "--options",
                 "label", "--out", tmp_path / "c", "--data-dir", ct_data)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "actbench: error: source 'prior' ranks held-out clips only (it is trained on the train split); "
        "use --split val")
    manifest = build_mqa(BuildSpec(source="prior", dataset="crosstask", options="label", k=3, out=tmp_path / "b",
                                   data_dir=ct_data))
    assert manifest.counts["questions"] == 9
    names = [i.name for i in manifest.inputs]
    assert names[0] == "crosstask/release/crosstask_release/annotations/16815_jackTrain01.csv"
    assert "crosstask/release/crosstask_release/tasks_primary.txt" in names and len(names) == 7


def test_crosstask_card_builds(ct_data, tmp_path):
    result = cli("build-mqa", "--benchmark", "crosstask-mqa-temporal", "--out", tmp_path / "b", "--data-dir", ct_data)
    assert result.exit_code == 0, result.output
    assert "built 9 questions" in result.output
    card = get_card("crosstask-mqa-scores")
    assert (card.dataset, card.source, card.options, card.split) == ("crosstask", "scores", "label", "val")


# ------------------------------------------------------------------------------------------ data fetch

class _Served(BaseHTTPRequestHandler):
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

    def log_message(self, format, *args):
        pass


@pytest.fixture
def mirror():
    """A local server standing in for the official hosts: ``files`` maps a URL path to its bytes."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Served)
    httpd.daemon_threads = True
    httpd.files = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.files, f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_official_tables_name_the_official_files():
    coin = official_dataset("coin")
    assert [f.url() for f in coin.files] == ["https://raw.githubusercontent.com/coin-dataset/annotations/master/COIN.json"]
    crosstask = official_dataset("crosstask")
    assert [(f.url(), f.dest, f.unpack) for f in crosstask.files] == [
        ("https://www.di.ens.fr/~dzhukov/crosstask/crosstask_release.zip", "release", True)]


def test_fetch_then_load_both(mirror, tmp_path):
    files, url = mirror
    (tmp_path / "src").mkdir()
    files["/coin-dataset/annotations/master/COIN.json"] = write_coin(tmp_path / "src").read_bytes()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:  # the archive's members sit under crosstask_release/
        for name, text in write_release(tmp_path / "unused").items():
            bundle.writestr(f"crosstask_release/{name}", text)
    files["/www.di.ens.fr/~dzhukov/crosstask/crosstask_release.zip"] = archive.getvalue()
    data = tmp_path / "data"
    assert fetch("coin", data, mirror=url) == [data / "coin" / "COIN.json"]
    assert fetch("crosstask", data, mirror=url) == [data / "crosstask" / "release"]
    assert check_dataset("coin", data).segments == {"test": 9, "train": 12}
    assert check_dataset("crosstask", data).segments == {"val": 9, "train": 7}


def test_a_coin_benchmark_is_reported_with_action_level_error_diversity_only(coin_data, tmp_path):
    # COIN's classes are step ids with no verb and noun: the report gives the action DScore and leaves the
    # verb / noun shares and the verb confusion figure out instead of failing or inventing them.
    results = tmp_path / "results"
    bench = results / "benchmarks" / "coin-random"
    assert cli("build-mqa", "--dataset", "coin", "--source", "random", "--k", "3", "--out", bench,
               "--data-dir", coin_data).exit_code == 0
    for model in ("random", "always-a"):
        result = cli("run", "--model", model, "--benchmark", bench, "--out", results / "runs" / model)
        assert result.exit_code == 0, result.output
    result = cli("report", results / "runs", "--out", results, "--format", "md", "--format", "png",
                 "--benchmarks", bench)
    assert result.exit_code == 0, result.output
    board = (results / "leaderboard.md").read_text()
    rows = [line for line in board.splitlines() if line.startswith("| always-a | ")]
    wrong, *rest = rows[-1].strip("| ").split(" | ")[1:]
    assert rest[:3] == ["—", "—", "—"] and rest[4:] == ["—", "—"] and float(rest[3]) >= 0
    assert "Distractors of this benchmark" not in board
    assert not list((results / "leaderboard_figures").glob("confusion-verbs-*"))
