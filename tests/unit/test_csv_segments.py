"""``--dataset csv:NAME``: any dataset converted to plain CSV files, through build-mqa, run and data check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from actbench.cli import app
from actbench.mqa_builder.benchmark_dir import load_benchmark

runner = CliRunner()
HEADER = "segment_id,video_id,start,end,label,text,group"
TRAIN = [("t0", "k1", 0, 4, "take_knife", "picks up the knife", "P1"), ("t1", "k1", 4, 9, "cut_onion", "slices", "P1"),
         ("t2", "k2", 0, 3, "take_knife", "grabs knife", "P2"), ("t3", "k2", 3, 8, "cut_onion", "chops onion", "P2"),
         ("t4", "k2", 8, 9, "wash_hands", "rinses hands", "P2")]
TEST = [("s0", "k9", 0, 2.5, "take_knife", "takes the knife", "P3"), ("s1", "k9", 2.5, 6, "cut_onion", "dices", "P3"),
        ("s2", "k9", 6, 7, "wash_hands", "washes hands", "P3"), ("s3", "k9", 7, 9, "open_fridge", "opens fridge", "P3")]


def write(path, rows, header=HEADER):
    path.write_text("\n".join([header, *(",".join(str(x) for x in r) for r in rows)]) + "\n")


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "data" / "kitchen"
    root.mkdir(parents=True)
    write(root / "train.csv", TRAIN)
    write(root / "test.csv", TEST)
    return tmp_path / "data"


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_build_run_and_check_a_csv_dataset(data, tmp_path):
    result = cli("build-mqa", "--dataset", "csv:kitchen", "--source", "prior", "--k", "3", "--out", tmp_path / "b",
                 "--data-dir", data)
    assert result.exit_code == 0, result.output
    bench = load_benchmark(tmp_path / "b")
    assert (bench.manifest.dataset, bench.manifest.split, bench.manifest.options) == ("csv:kitchen", "test",
                                                                                       "narration")
    assert [i.name for i in bench.manifest.inputs] == ["kitchen/test.csv", "kitchen/train.csv"]
    q = bench.questions[1]  # s1, after take_knife: cut_onion always follows it in training
    assert q.options[q.answer_index] == "dices" and q.source_ranks[q.answer_index] == 1
    run = cli("run", "--model", "prior", "--benchmark", tmp_path / "b", "--out", tmp_path / "r", "--data-dir", data)
    assert run.exit_code == 0, run.output
    answers = {r["id"]: r["answer"] for r in map(json.loads, (tmp_path / "r" / "predictions.jsonl").open())}
    assert answers["s1"] == q.answer_letter
    check = cli("data", "check", "csv:kitchen", "--data-dir", data)
    assert check.output.strip() == "csv:kitchen: valid (test 4 segments, train 5 segments; 4 classes)"


def test_a_specialist_scores_file_works_on_a_csv_dataset(data, tmp_path):
    scores = np.array([[0.1, 0.9, 0.5, 0.3]] * 4, dtype=np.float32)  # classes in the file's own order
    np.savez(tmp_path / "p.npz", narration_ids=np.array(["s0", "s1", "s2", "s3"]), scores=scores,
             classes=np.array(["take_knife", "cut_onion", "wash_hands", "open_fridge"]))
    result = cli("build-mqa", "--dataset", "csv:kitchen", "--source", "scores", "--predictions", tmp_path / "p.npz",
                 "--k", "2", "--options", "label", "--out", tmp_path / "b", "--data-dir", data)
    assert result.exit_code == 0, result.output
    chosen = [next(c for i, c in enumerate(q.option_classes) if i != q.answer_index)
              for q in load_benchmark(tmp_path / "b").questions]
    assert chosen == ["cut_onion", "wash_hands", "cut_onion", "cut_onion"]  # the top-ranked wrong class each time


@pytest.mark.parametrize("rows, header, message", [
    ([("s0", "k9", 0, 2, "a", "", "")], "segment_id,video_id,start,end", "{f}: field 'label': expected a CSV column "
     "of that name (segment_id,video_id,start,end,label required; text,group optional), found ['segment_id', "
     "'video_id', 'start', 'end']"),
    ([("s0", "k9", 0, 2, "a", "", ""), ("s0", "k9", 2, 3, "b", "", "")], HEADER,
     "{f}:3: field 'segment_id': expected each segment once, found s0 again (line 2)"),
    ([("s0", "k9", 2, 2, "a", "", "")], HEADER, "{f}:2: field 'end': expected seconds > start (2), found 2"),
    ([("s0", "k9", "x", 2, "a", "", "")], HEADER, "{f}:2: field 'start': expected a number of seconds >= 0, found x"),
    ([("s0", "k9", 0, 2, "", "", "")], HEADER, "{f}:2: field 'label': expected a class label, found an empty field"),
])
def test_malformed_files_are_one_line_errors(data, tmp_path, rows, header, message):
    path = data / "kitchen" / "test.csv"
    write(path, rows, header)
    result = cli("build-mqa", "--dataset", "csv:kitchen", "--source", "random", "--out", tmp_path / "b",
                 "--data-dir", data)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == "actbench: error: " + message.format(f=path)
    assert not (tmp_path / "b").exists()


def test_a_missing_folder_says_what_to_write(tmp_path):
    result = cli("build-mqa", "--dataset", "csv:nothing", "--source", "random", "--out", tmp_path / "b",
                 "--data-dir", tmp_path)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"actbench: error: {tmp_path / 'nothing'}: no <split>.csv files; expected the segments of dataset "
        "csv:nothing there (segment_id,video_id,start,end,label columns; see actbench/datasets/csv_segments.py)")
