"""MECCANO through ``build-mqa``: small files in the official action CSV format, written here.

The expected questions are worked by hand from these rows (no code shared with the builder).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from actbench.cli import app
from actbench.datasets.meccano_actions import Meccano
from actbench.errors import ActbenchError
from actbench.mqa_builder.benchmark_dir import load_benchmark

runner = CliRunner()
NAMES = {"0": "take_screwdriver", "1": "screw_screw_with_screwdriver", "2": "take_wrench", "3": "put_screwdriver",
         "4": "take_bolt", "5": "plug_rod"}
TRAIN = [("0001", "4", 0, 23), ("0001", "0", 24, 47), ("0001", "1", 48, 95), ("0001", "3", 96, 107),
         ("0002", "4", 10, 20), ("0002", "0", 21, 40), ("0002", "1", 41, 80), ("0002", "3", 81, 90),
         ("0002", "2", 91, 99), ("0002", "5", 100, 130)]
VAL = [("0010", "4", 0, 11), ("0010", "5", 12, 35)]
TEST = [("0008", "4", 0, 23), ("0008", "0", 24, 47), ("0008", "1", 48, 71), ("0008", "3", 72, 83),
        ("0009", "2", 5, 28), ("0009", "5", 29, 52)]


def lines(rows, header=False) -> str:
    out = ["video_id,action_id,action_name,frame_start,frame_end"] if header else []
    out += [f"{v},{a},{NAMES[a]},{s:05d}.jpg,{e:05d}.jpg" for v, a, s, e in rows]
    return "\n".join(out) + "\n"


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "data" / "meccano"
    root.mkdir(parents=True)
    (root / "MECCANO_train_actions.csv").write_text(lines(TRAIN))
    (root / "MECCANO_val_actions.csv").write_text(lines(VAL, header=True))  # a header line is accepted
    (root / "MECCANO_test_actions.csv").write_text(lines(TEST))
    return tmp_path / "data"


def build(data, out, *args):
    return runner.invoke(app, ["build-mqa", "--dataset", "meccano", "--out", str(out), "--data-dir", str(data),
                               *args])


def test_segments_times_and_labels(data):
    ds = Meccano.from_data_dir(data)
    test = ds.split("test")
    assert [s.narration_id for s in test] == ["0008_0", "0008_1", "0008_2", "0008_3", "0009_0", "0009_1"]
    assert (test[1].video_id, test[1].start, test[1].end, test[1].class_key) == ("0008", 2.0, 4.0, "0")
    assert ds.action_space.keys == ("0", "1", "2", "3", "4", "5")
    assert ds.action_space.labels[1] == "screw screw with screwdriver"
    assert len(ds.split("val")) == 2


@pytest.mark.parametrize("text, message", [
    ("0008,2,take_wrench,00024.jpg\n", "{f}:1: field 'line': expected video_id,action_id,action_name,frame_start,"
                                       "frame_end, found 0008,2,take_wrench,00024.jpg"),
    ("0008,x,take_wrench,00024.jpg,00030.jpg\n", "{f}:1: field 'action_id': expected an integer class id, found x"),
    ("0008,2,Take Wrench,00024.jpg,00030.jpg\n",
     "{f}:1: field 'action_name': expected a snake_case action (e.g. take_screwdriver), found Take Wrench"),
    ("0008,2,take_wrench,24,00030.jpg\n",
     "{f}:1: field 'frame_start': expected a frame file name (e.g. 00023.jpg), found 24"),
    ("0008,2,take_wrench,00030.jpg,00024.jpg\n",
     "{f}:1: field 'frame_end': expected a frame at or after frame_start (00030.jpg), found 00024.jpg"),
    ("../x,2,take_wrench,00024.jpg,00030.jpg\n", "{f}:1: field 'video_id': expected a video id (e.g. 0008), found ../x"),
])
def test_malformed_lines_name_the_file_line_and_field(data, text, message):
    path = data / "meccano" / "MECCANO_test_actions.csv"
    path.write_text(text)
    result = build(data, data.parent / "out", "--source", "random")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == "actbench: error: " + message.format(f=path)
    assert not (data.parent / "out").exists()


def test_one_action_id_with_two_names_is_refused(data):
    path = data / "meccano" / "MECCANO_test_actions.csv"
    path.write_text(lines(TEST).replace("0009,2,take_wrench", "0009,2,take_spanner"))
    with pytest.raises(ActbenchError) as caught:
        Meccano.from_data_dir(data).split("test")
    assert str(caught.value) == (f"{data / 'meccano' / 'MECCANO_train_actions.csv'}: field 'action_name of action_id "
                                 "2': expected 'take_spanner' as in MECCANO_test_actions.csv, found take_wrench")


def test_a_specialist_scores_file_gives_its_top_ranked_wrong_actions(data, tmp_path):
    # SlowFast-style scores for the two 0009 segments: the answer is never a distractor; ranks as in the file.
    scores = np.array([[0.1, 0.2, 0.9, 0.05, 0.3, 0.6],    # 0009_0, truth 2: distractors 5, 4, 1
                       [0.7, 0.1, 0.2, 0.8, 0.0, 0.75]],   # 0009_1, truth 5: distractors 3, 0, 2
                      dtype=np.float32)
    path = tmp_path / "slowfast.npz"
    np.savez(path, narration_ids=np.array(["0009_0", "0009_1"]), scores=scores, classes=np.array(list("012345")))
    (data / "meccano" / "MECCANO_test_actions.csv").write_text(lines(TEST[4:]))
    result = build(data, tmp_path / "b", "--source", "scores", "--predictions", str(path), "--k", "4")
    assert result.exit_code == 0, result.output
    first, second = load_benchmark(tmp_path / "b").questions
    ranked = lambda q: sorted((r, c) for i, (c, r) in enumerate(zip(q.option_classes, q.source_ranks))  # noqa: E731
                              if i != q.answer_index)
    assert (first.option_classes[first.answer_index], ranked(first)) == ("2", [(2, "5"), (3, "4"), (4, "1")])
    assert (second.option_classes[second.answer_index], ranked(second)) == ("5", [(1, "3"), (3, "0"), (4, "2")])
    assert first.options[first.option_classes.index("5")] == "plug rod"


@pytest.mark.parametrize("source", ["random", "temporal", "prior"])
def test_annotation_only_sources_build_byte_identically(data, tmp_path, source):
    for name in ("a", "b"):
        result = build(data, tmp_path / name, "--source", source)
        assert result.exit_code == 0, result.output
    for file in ("manifest.json", "questions.jsonl"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    bench = load_benchmark(tmp_path / "a")
    assert (bench.manifest.dataset, bench.manifest.split, bench.manifest.options) == ("meccano", "test", "label")
    for q in bench.questions:
        assert len(set(q.option_classes)) == 5


def test_prior_ranks_the_next_action_of_the_training_sequences_first(data, tmp_path):
    # In training, take_screwdriver (0) always follows take_bolt (4), and screwing (1) follows 0.
    result = build(data, tmp_path / "b", "--source", "prior", "--options", "label", "--k", "3")
    assert result.exit_code == 0, result.output
    q = {q.id: q for q in load_benchmark(tmp_path / "b").questions}
    assert q["0008_1"].source_ranks[q["0008_1"].answer_index] == 1  # after 4 comes 0
    assert q["0008_2"].source_ranks[q["0008_2"].answer_index] == 1  # after 4, 0 comes 1
    refused = build(data, tmp_path / "c", "--source", "prior", "--split", "train")
    assert refused.exit_code == 2 and "ranks held-out clips only" in refused.output


def test_the_cards_build(data, tmp_path):
    result = runner.invoke(app, ["build-mqa", "--benchmark", "meccano-mqa-temporal", "--out", str(tmp_path / "b"),
                                 "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert load_benchmark(tmp_path / "b").manifest.counts["questions"] == len(TEST)


def test_fetch_explains_the_download_and_check_validates(data):
    result = runner.invoke(app, ["data", "fetch", "meccano", "--data-dir", str(data)])
    assert result.exit_code == 2
    assert "https://iplab.dmi.unict.it/MECCANO/" in result.output and "actbench data check meccano" in result.output
    result = runner.invoke(app, ["data", "check", "meccano", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "meccano: valid (test 6 segments, train 10 segments, val 2 segments; 6 classes)"


def test_the_prior_model_answers_from_the_benchmark_s_own_dataset(data, tmp_path):
    # The run tells the adapter the benchmark's dataset and split (the manifest's): prior learns MECCANO's
    # training sequences and picks the action that follows in them.
    assert build(data, tmp_path / "b", "--source", "random", "--k", "3").exit_code == 0
    result = runner.invoke(app, ["run", "--model", "prior", "--benchmark", str(tmp_path / "b"), "--out",
                                 str(tmp_path / "r"), "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    questions = {q.id: q for q in load_benchmark(tmp_path / "b").questions}
    answers = {r["id"]: r["answer"] for r in map(json.loads, (tmp_path / "r" / "predictions.jsonl").open())}
    for qid in ("0008_1", "0008_2"):  # after take_bolt comes take_screwdriver, then screwing, in training
        assert answers[qid] == questions[qid].answer_letter
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["model"]["args"] == {"split": "test"}
