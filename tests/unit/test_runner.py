"""The run loop: run directory, statuses, resume after a kill, and refusals to mix runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tests.helpers.adapters  # noqa: F401  (registers the test adapters)
from actbench.errors import ActbenchError
from actbench.journal import Journal
from actbench.mqa_builder.build import BuildSpec, build_mqa
from actbench.runner import RunSpec, run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench(mini, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "b"
    build_mqa(BuildSpec(source="prior", out=out, k=4, data_dir=mini))
    return out


def journal_ids(run_dir):
    return [json.loads(line)["id"] for line in (run_dir / "predictions.jsonl").read_text().splitlines()]


def test_oracle_scores_100_and_writes_the_run_directory(bench, tmp_path):
    out = run(RunSpec(model="oracle", benchmark=str(bench), out=tmp_path / "r"))
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "predictions.jsonl", "run.json"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] == 100.0 and metrics["n"] == 10
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "complete" and info["model"] == {"name": "oracle", "args": {}}
    record = json.loads((out / "predictions.jsonl").read_text().splitlines()[0])
    assert set(record) >= {"id", "answer", "status", "raw", "latency_s", "tokens_in", "tokens_out", "cost_usd"}


def test_statuses_other_than_ok_are_never_scored_as_letters(bench, tmp_path):
    out = run(RunSpec(model="test-scripted", benchmark=str(bench), out=tmp_path / "r"))
    metrics = json.loads((out / "metrics.json").read_text())
    # ids P01_11_0..5 cycle through the six cases; P03_01_0..3 repeat the first four.
    assert metrics["correct"] == 2
    assert metrics["status_counts"] == {"ok": 4, "parse_fail": 3, "refused": 2, "error": 1, "missing": 0}
    assert metrics["accuracy"] == 20.0
    records = {json.loads(line)["id"]: json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()}
    # a letter outside the options is recorded as a parse failure, not as the letter
    assert records["P01_11_5"]["status"] == "parse_fail" and records["P01_11_5"]["answer"] is None
    assert sum(metrics["chosen_letters"].values()) == 4


def test_limit_and_existing_run_needs_resume(bench, tmp_path):
    out = run(RunSpec(model="random", benchmark=str(bench), out=tmp_path / "r", limit=3))
    assert len(journal_ids(out)) == 3
    with pytest.raises(ActbenchError, match="pass --resume"):
        run(RunSpec(model="random", benchmark=str(bench), out=tmp_path / "r", limit=3))


@pytest.mark.parametrize("change, field", [({"seed": 1}, "seed"), ({"limit": 4}, "limit"),
                                           ({"model": "always-a"}, "model")])
def test_resume_refuses_a_different_run(bench, tmp_path, change, field):
    base = {"model": "oracle", "benchmark": str(bench), "out": tmp_path / "r", "limit": 3}
    run(RunSpec(**base))
    with pytest.raises(ActbenchError, match=f"field '{field}'"):
        run(RunSpec(**{**base, **change, "resume": True}))


def test_resume_after_a_cut_line_answers_each_question_once(bench, tmp_path):
    out = run(RunSpec(model="oracle", benchmark=str(bench), out=tmp_path / "r", limit=4))
    journal = out / "predictions.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:2]) + lines[2][:15])  # killed while writing line 3
    run(RunSpec(model="oracle", benchmark=str(bench), out=out, limit=4, resume=True))
    ids = journal_ids(out)
    assert sorted(ids) == sorted(json.loads(l)["id"] for l in lines) and len(ids) == 4
    assert journal.read_text().startswith("".join(lines[:2]))


def test_a_killed_subprocess_resumes_with_no_question_lost_or_repeated(bench, mini, tmp_path):
    out = tmp_path / "r"
    script = (
        "import sys; sys.path.insert(0, %r)\n"
        "import tests.helpers.adapters\n"
        "from actbench.runner import RunSpec, run\n"
        "run(RunSpec(model='test-slow', benchmark=%r, out=%r, model_args={'delay': '0.3'}))\n"
    ) % (str(REPO), str(bench), str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "ACTBENCH_DATA_DIR": str(mini)})
    journal = out / "predictions.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if journal.exists() and len(journal.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    before = journal.read_text().splitlines()
    assert 3 <= len(before) < 10
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    run(RunSpec(model="test-slow", benchmark=str(bench), out=out, model_args={"delay": "0.3"}, resume=True))
    after = journal.read_text().splitlines()
    assert after[: len(before)] == before
    ids = [json.loads(line)["id"] for line in after]
    assert len(ids) == len(set(ids)) == 10
    assert json.loads((out / "metrics.json").read_text())["accuracy"] == 100.0


def test_unknown_model_and_missing_benchmark(bench, tmp_path):
    with pytest.raises(ActbenchError, match="unknown model 'oracel'; did you mean 'oracle'"):
        run(RunSpec(model="oracel", benchmark=str(bench), out=tmp_path / "r"))
    with pytest.raises(ActbenchError, match="is not built yet: run `actbench build-mqa --benchmark ek100-mqa-prior`"):
        run(RunSpec(model="oracle", benchmark="ek100-mqa-prior", results=tmp_path))
    with pytest.raises(ActbenchError, match="not a benchmark directory"):
        run(RunSpec(model="oracle", benchmark=str(tmp_path), out=tmp_path / "r"))


def test_a_corrupt_journal_line_is_reported_with_its_place(bench, tmp_path):
    out = run(RunSpec(model="oracle", benchmark=str(bench), out=tmp_path / "r", limit=2))
    with open(out / "predictions.jsonl", "a") as handle:
        handle.write("{not json}\n")
    with pytest.raises(ActbenchError, match=r"predictions.jsonl:3: field 'line': expected a JSON object"):
        run(RunSpec(model="oracle", benchmark=str(bench), out=out, limit=2, resume=True))


def test_journal_drops_only_a_cut_last_line(tmp_path):
    journal = Journal(tmp_path / "p.jsonl")
    journal.append([{"id": "a"}, {"id": "b"}])
    with open(journal.path, "a") as handle:
        handle.write('{"id": "c", "ans')
    assert [r["id"] for r in journal.read()] == ["a", "b"]
    assert journal.path.read_text() == '{"id": "a"}\n{"id": "b"}\n'


def test_permutations_give_circular_accuracy_and_position_bias(bench, mini, tmp_path):
    def metrics_of(model):
        out = run(RunSpec(model=model, benchmark=str(bench), out=tmp_path / model, permutations=3, data_dir=mini))
        return json.loads((out / "metrics.json").read_text()), journal_ids(out)

    oracle, ids = metrics_of("oracle")
    assert len(ids) == 40 and "P01_11_0#r3" in ids
    assert oracle["accuracy"] == 100.0 and oracle["circular"]["circular_accuracy"] == 100.0
    always_a, _ = metrics_of("always-a")
    assert always_a["circular"]["circular_accuracy"] == 0.0  # the answer is at A in only one rotation
    assert always_a["circular"]["position_choice_share"] == {"A": 1.0, "B": 0.0, "C": 0.0, "D": 0.0}
    assert always_a["circular"]["position_bias_max_deviation"] == 0.75
    # the prior chooses by class, not by position: every rotation scores the same
    prior, _ = metrics_of("prior")
    by_rotation = set(prior["circular"]["accuracy_by_rotation"].values())
    assert by_rotation == {prior["accuracy"]} and prior["circular"]["circular_accuracy"] == prior["accuracy"]
    with pytest.raises(ActbenchError, match=r"field 'permutations': expected an integer in \[0, 3\], found 4"):
        run(RunSpec(model="oracle", benchmark=str(bench), out=tmp_path / "x", permutations=4))


def test_errors_are_listed_with_their_reason(bench, tmp_path):
    out = run(RunSpec(model="test-scripted", benchmark=str(bench), out=tmp_path / "r"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["errors"] == [{"id": "P01_11_4", "reason": "timeout after 30 s"}]
    assert metrics["throughput_qps"] > 0
    assert all("wall_s" in json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines())


def test_models_that_look_get_the_same_frames_and_unreadable_videos_are_errors(bench, tmp_path, monkeypatch):
    pytest.importorskip("av")
    from tests.unit.test_video_frames import write_video

    monkeypatch.setenv("ACTBENCH_FRAME_CACHE", str(tmp_path / "cache"))
    videos = tmp_path / "videos"
    write_video(videos / "P01" / "videos" / "P01_11.MP4", frames=200)  # 8 s at 25 fps; P03_01 is missing
    spec = dict(model="test-frames", benchmark=str(bench), video_root=videos, n_frames=4, frame_size=48)
    out = run(RunSpec(out=tmp_path / "r", **spec))
    records = {json.loads(l)["id"]: json.loads(l) for l in (out / "predictions.jsonl").read_text().splitlines()}
    assert records["P01_11_0"]["status"] == "ok" and records["P01_11_0"]["raw"] == "(4, 48, 64, 3) uint8"
    assert records["P03_01_0"]["status"] == "error" and records["P03_01_0"]["raw"].startswith("video: ")
    frames = json.loads((out / "run.json").read_text())["frames"]
    assert (frames["n_frames"], frames["size"]) == (4, 48)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 6  # the six readable clips, cached once
    with pytest.raises(ActbenchError, match="looks at video frames: pass --video-root"):
        run(RunSpec(model="test-frames", benchmark=str(bench), out=tmp_path / "r2"))
