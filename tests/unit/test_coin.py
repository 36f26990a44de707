"""COIN in the VideoLLM-online layout: the three benchmarks from a hand-made coin.json in the official format.

Every frame range below is worked out by hand from the rule (frame = ceil(t * 2) clipped to [0, T - 1], end
frame included), written next to the case; the next-step samples are also checked against a naive loop
over the raw JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from actbench.datasets.coin import (
    CoinDataset, answer_text, feature_slice, frame_range, load_features, read_coin_json, task_name)
from actbench.errors import ActbenchError

# Official COIN fields (class, recipe_type, subset, start, end, duration, video_url, annotation[id, segment,
# label]); made-up videos and steps.
DATABASE = {
    "vidA": {"recipe_type": 3, "class": "MakeSandwich", "subset": "training", "start": 1.0, "end": 20.0,
             "duration": 25.0, "video_url": "https://www.youtube.com/embed/vidA",
             "annotation": [{"id": "1", "segment": [1.0, 5.2], "label": "cut bread"},
                            {"id": "2", "segment": [6.0, 12.0], "label": "spread butter"},
                            {"id": "3", "segment": [13.1, 20.0], "label": "put together"}]},
    "vidB": {"recipe_type": 7, "class": "ReplaceSIMCard", "subset": "testing", "start": 0.0, "end": 9.9,
             "duration": 10.0, "video_url": "https://www.youtube.com/embed/vidB",
             "annotation": [{"id": "10", "segment": [0.0, 4.0], "label": "open the card slot"},
                            {"id": "11", "segment": [4.3, 9.9], "label": "process (crop, fold) paper"}]},
    "vidC": {"recipe_type": 3, "class": "MakeSandwich", "subset": "testing", "start": 2.0, "end": 3.0,
             "duration": 5.0, "video_url": "https://www.youtube.com/embed/vidC",
             "annotation": [{"id": "1", "segment": [2.0, 3.0], "label": "cut bread"}]},
    "vidD": {"recipe_type": 9, "class": "ReplaceCDDriveWithSSD", "subset": "training", "start": 0.4, "end": 14.6,
             "duration": 15.2, "video_url": "https://www.youtube.com/embed/vidD",
             "annotation": [{"id": "20", "segment": [0.4, 3.0], "label": "remove the cd drive"},
                            {"id": "21", "segment": [3.5, 14.6], "label": "insert the ssd"}]},
    "vidE": {"recipe_type": 9, "class": "ReplaceCDDriveWithSSD", "subset": "training", "start": 0.0, "end": 2.0,
             "duration": 3.0, "video_url": "https://www.youtube.com/embed/vidE",
             "annotation": [{"id": "20", "segment": [0.0, 2.0], "label": "remove the cd drive"}]},
}
# Feature rows per video (2 fps); vidE has no feature file. vidA has fewer rows than 25 s x 2: the features
# decide T, as in VideoLLM-online (duration = (T - 1) / fps).
FRAMES = {"vidA": 40, "vidB": 20, "vidC": 10, "vidD": 30}
DIM = 3
SUBSET = {False: "training", True: "testing"}

STEPS = ("crop and fold paper", "cut bread", "insert the ssd", "open the card slot", "put together",
         "remove the cd drive", "spread butter")
TASKS = ("make sandwich", "replace CD drive with SSD", "replace SIM card")


def write_coin(root: Path, database=None) -> Path:
    path = root / "coin.json"
    path.write_text(json.dumps({"version": "1.0", "database": DATABASE if database is None else database}))
    return path


def write_features(root: Path, frames=FRAMES) -> Path:
    folder = root / "features"
    folder.mkdir()
    for code, (video, length) in enumerate(frames.items()):
        rows = np.zeros((length, DIM), dtype=np.float32)
        rows[:, 0] = np.arange(length)  # the frame number, so a slice shows where it came from
        rows[:, 1] = code
        np.save(folder / f"{video}.npy", rows)
    return folder


@pytest.fixture()
def coin(tmp_path) -> CoinDataset:
    return CoinDataset.from_files(write_coin(tmp_path), write_features(tmp_path))


def rows(samples):
    return [(s.video_id, s.step, s.start_frame, s.stop_frame, s.label) for s in samples]


def test_vocabularies_cover_both_subsets_sorted(coin):
    assert coin.steps == STEPS  # "process (crop, fold) paper" renamed as the reference does
    assert coin.tasks == TASKS
    assert [v.video_id for v in coin.videos] == ["vidA", "vidB", "vidC", "vidD"]
    assert coin.missing_features == ("vidE",)


def test_step_samples(coin):
    assert rows(coin.samples("step", "training")) == [
        ("vidA", 0, 2, 12, "cut bread"),  # ceil(2.0) = 2 .. ceil(10.4) = 11, included
        ("vidA", 1, 12, 25, "spread butter"),  # 12 .. 24
        ("vidA", 2, 27, 40, "put together"),  # ceil(26.2) = 27 .. 40 clipped to T - 1 = 39
        ("vidD", 0, 1, 7, "remove the cd drive"),  # ceil(0.8) = 1 .. 6
        ("vidD", 1, 7, 30, "insert the ssd"),  # 7 .. ceil(29.2) = 30 clipped to 29
    ]
    assert rows(coin.samples("step", "testing")) == [
        ("vidB", 0, 0, 9, "open the card slot"),
        ("vidB", 1, 9, 20, "crop and fold paper"),  # ceil(8.6) = 9 .. ceil(19.8) = 20 clipped to 19
        ("vidC", 0, 4, 7, "cut bread"),
    ]
    first = coin.samples("step", "train")[0]
    assert (first.label_index, first.task, first.task_index) == (1, "make sandwich", 0)
    assert first.num_frames == 10 and (first.start, first.end) == (1.0, 5.2)


def test_next_samples_observe_step_i_and_answer_step_i_plus_1(coin):
    assert rows(coin.samples("next", "training")) == [
        ("vidA", 0, 2, 12, "spread butter"),
        ("vidA", 1, 12, 25, "put together"),
        ("vidD", 0, 1, 7, "insert the ssd"),
    ]
    assert rows(coin.samples("next", "test")) == [("vidB", 0, 0, 9, "crop and fold paper")]  # vidC: one step
    assert [s.label_index for s in coin.samples("next", "training")] == [6, 4, 2]


def test_task_samples_span_the_annotated_part(coin):
    assert rows(coin.samples("task", "training")) == [
        ("vidA", None, 2, 40, "make sandwich"),
        ("vidD", None, 1, 30, "replace CD drive with SSD"),
    ]
    assert rows(coin.samples("task", "testing")) == [
        ("vidB", None, 0, 20, "replace SIM card"), ("vidC", None, 4, 7, "make sandwich")]
    assert [s.label_index for s in coin.samples("task", "testing")] == [2, 0]


def test_without_features_frames_come_from_durations(tmp_path):
    coin = CoinDataset.from_files(write_coin(tmp_path))
    assert dict(coin.frames) == {"vidA": 50, "vidB": 20, "vidC": 10, "vidD": 31, "vidE": 6}
    assert rows(coin.samples("step", "training"))[2] == ("vidA", 2, 27, 41, "put together")  # 40 fits in 50
    assert len(coin.samples("task", "training")) == 3  # vidE is kept
    with pytest.raises(ActbenchError, match="field 'features_dir': expected a features folder"):
        coin.features(coin.samples("step", "training")[0])


def test_next_never_crosses_videos_naive_loop(tmp_path):
    rng = np.random.default_rng(0)
    database = {}
    for v in range(12):
        times = np.sort(rng.uniform(0, 60, size=2 * int(rng.integers(1, 6))))
        database[f"v{v}"] = {"class": "MakeSandwich" if v % 2 else "ReplaceSIMCard",
                             "subset": SUBSET[v % 3 == 0], "start": times[0], "end": times[-1], "duration": 61.0,
                             "annotation": [{"id": str(k), "segment": [times[k], times[k + 1]], "label": f"s{v}_{k}"}
                                            for k in range(0, len(times), 2)]}
    coin = CoinDataset.from_files(write_coin(tmp_path, json.loads(json.dumps(database))))
    for subset in ("training", "testing"):
        expected = []
        for video, entry in database.items():
            if entry["subset"] != subset:
                continue
            labels = [a["label"] for a in entry["annotation"]]
            expected += [(video, i, labels[i + 1]) for i in range(len(labels) - 1)]
        got = coin.samples("next", subset)
        assert [(s.video_id, s.step, s.label) for s in got] == expected
        assert all(s.label.startswith(f"s{s.video_id[1:]}_") for s in got)



@pytest.mark.parametrize(("camel", "words"), [
    ("MakeSandwich", "make sandwich"),
    ("ReplaceSIMCard", "replace SIM card"),
    ("MakeRJ45Cable", "make RJ45 cable"),
    ("ReplaceCDDriveWithSSD", "replace CD drive with SSD"),
    ("InstallTVBracket", "install TV bracket"),
    ("WatchNBAGame", "watch NBA game"),
    ("Boil", "boil"),
])
def test_camel_case_task_names(camel, words):
    assert task_name(camel) == words


def test_answer_text_is_the_reference_target():
    assert answer_text("cut bread") == "Cut bread."
    assert answer_text("replace SIM card") == "Replace sim card."  # str.capitalize, as VideoLLM-online


def test_frame_range_clips_to_the_video():
    assert frame_range(0.0, 0.0, frames=5) == (0, 1)  # one frame at least
    assert frame_range(10.0, 12.0, frames=5) == (4, 5)  # beyond the end: the last frame
    assert frame_range(1.0, 2.0, frames=100, fps=3.0) == (3, 7)  # 3 .. 6 at 3 fps


def test_feature_slice_returns_the_clip_rows(coin, tmp_path):
    sample = coin.samples("step", "training")[1]
    clip = coin.features(sample)
    assert clip.dtype == np.float32 and clip.shape == (13, DIM)
    assert clip[:, 0].tolist() == list(range(12, 25)) and set(clip[:, 1]) == {0}
    last = coin.samples("task", "testing")[1]
    assert feature_slice(tmp_path / "features", last)[:, 0].tolist() == [4, 5, 6]


def test_tokens_per_frame_and_torch_files(tmp_path):
    torch = pytest.importorskip("torch")
    folder = tmp_path / "features"
    folder.mkdir()
    tokens = np.arange(40 * 10 * 2, dtype=np.float32).reshape(40, 10, 2)
    np.save(folder / "vidA.npy", tokens)
    torch.save(torch.arange(20 * 10 * 2, dtype=torch.float32).reshape(20, 10, 2).to(torch.bfloat16),
               folder / "vidB.pt")  # the reference saves bf16 tensors
    coin = CoinDataset.from_files(write_coin(tmp_path), folder)
    assert dict(coin.frames) == {"vidA": 40, "vidB": 20}
    clip = coin.features(coin.samples("step", "training")[0])
    assert clip.shape == (10, 10, 2) and np.array_equal(clip, tokens[2:12])
    clip = coin.features(coin.samples("step", "testing")[0])
    assert clip.shape == (9, 10, 2) and clip.dtype == np.float32 and clip[1, 0, 0] == 20


# ------------------------------------------------------------------------------------------- bad input

def broken(**changes):
    database = json.loads(json.dumps(DATABASE))
    for dotted, value in changes.items():
        video, *keys = dotted.split("__")
        target = database[video]
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        last = keys[-1]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return database


@pytest.mark.parametrize(("database", "message"), [
    (broken(vidB__subset="validation"), "field 'database.vidB.subset': expected training or testing, found validation"),
    (broken(vidA__class=None), "field 'database.vidA.class': expected a value (the field is required), found none"),
    (broken(vidA__annotation__1__segment=[6.0, 5.0]),
     ("field 'database.vidA.annotation[1].segment': expected [start, end] seconds with 0 <= start <= end, "
      "found [6.0, 5.0]")),
    (broken(vidA__annotation__0__segment=[1.0]),
     "field 'database.vidA.annotation[0].segment': expected [start, end] seconds, found [1.0]"),
    (broken(vidC__annotation__0__label=" "),
     "field 'database.vidC.annotation[0].label': expected a non-empty step label, found ' '"),
    (broken(vidC__duration=0), "field 'database.vidC.duration': expected a positive number of seconds, found 0"),
    (broken(vidD__start="0.4"),
     "field 'database.vidD.start/end': expected [start, end] seconds with 0 <= start <= end, found ['0.4', 14.6]"),
    (broken(vidD__annotation=5), "field 'database.vidD.annotation': expected a list of steps, found 5"),
])
def test_bad_coin_json_names_file_field_expected_found(tmp_path, database, message):
    path = write_coin(tmp_path, database)
    with pytest.raises(ActbenchError) as error:
        read_coin_json(path)
    assert str(error.value) == f"{path}: {message}"


def test_bad_files(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(ActbenchError) as error:
        read_coin_json(missing)
    assert str(error.value) == f"{missing}: field 'file': expected the COIN annotation coin.json, found no such file"
    other = tmp_path / "other.json"
    other.write_text('{"videos": []}')
    with pytest.raises(ActbenchError) as error:
        read_coin_json(other)
    assert str(error.value) == f"{other}: field 'database': expected an object of video id -> annotation, found None"
    bad = tmp_path / "bad.json"
    bad.write_text('{"database": ')
    with pytest.raises(ActbenchError, match=r"bad\.json:1: field 'json': expected valid JSON"):
        read_coin_json(bad)


def test_bad_features_and_arguments(tmp_path):
    path = write_coin(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ActbenchError) as error:
        CoinDataset.from_files(path, empty)
    assert str(error.value) == (f"{empty}: field 'features': expected a feature file for some video of {path}, "
                                "found none of 5 (e.g. vidA.npy)")
    flat = tmp_path / "flat"
    flat.mkdir()
    np.save(flat / "vidA.npy", np.zeros(40, dtype=np.float32))
    with pytest.raises(ActbenchError) as error:
        load_features(flat / "vidA.npy")
    assert str(error.value) == (f"{flat / 'vidA.npy'}: field 'shape': expected a non-empty float array (T, D) or "
                                "(T, tokens, D), found dtype float32, shape (40,)")
    coin = CoinDataset.from_files(path)
    with pytest.raises(ActbenchError) as error:
        coin.samples("stpe", "training")
    assert str(error.value) == f"{path}: field 'kind': expected step, next or task, found 'stpe'; did you mean 'step'?"
    with pytest.raises(ActbenchError) as error:
        coin.samples("step", "val")
    assert str(error.value) == f"{path}: field 'split': expected training or testing (or train, test), found val"


def test_feature_file_shorter_than_the_clip(coin, tmp_path):
    sample = coin.samples("step", "training")[2]  # vidA frames 27 .. 39
    np.save(tmp_path / "features" / "vidA.npy", np.zeros((30, DIM), dtype=np.float32))
    with pytest.raises(ActbenchError) as error:
        coin.features(sample)
    assert str(error.value) == (f"{tmp_path / 'features' / 'vidA.npy'}: field 'frames': expected at least 40 rows "
                                "(the clip's end), found 30")
