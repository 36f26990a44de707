"""The exported task in the real lmms-eval 0.7.3 (``make test-lmms``: its own environment, .venv-lmms).

lmms-eval's ``TaskManager`` loads the export from ``--include_path``; its task object builds the prompts,
scores a fixed set of replies with the exported ``process_results`` and aggregates them. Then lmms-eval's
own command line evaluates the task end to end with a model that gives those replies
(``tests/lmms/fixed_model``, a plugin through ``LMMS_EVAL_PLUGINS``) and logs its samples, which
``actbench import lmms-eval`` turns into a run. Every accuracy must equal ``actbench run``'s on the same
replies: lmms-eval's table, the imported run, and the task's aggregation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from actbench.cli import app
from actbench.mqa_builder.benchmark_dir import load_benchmark, write_benchmark
from actbench.prompts import format_mqa
from tests.unit.test_export import CRAFTED, _manifest
from tests.unit.test_lmms_eval_export import (
    actbench_run,
    export,
    fixed_replies,
    read_docs,
)

REPO = Path(__file__).resolve().parents[2]
SAME = ("n", "correct", "accuracy", "accuracy_ci95", "status_counts", "chosen_letters", "answer_letters",
        "upper_bound")


@pytest.fixture
def crafted(tmp_path) -> Path:
    out = tmp_path / "crafted"
    write_benchmark(out, _manifest(), CRAFTED)
    return out


@pytest.fixture(scope="module")
def real(data_dir, tmp_path_factory) -> Path:
    from actbench.mqa_builder.build import BuildSpec, build_mqa

    out = tmp_path_factory.mktemp("real") / "ek100-random-300"
    build_mqa(BuildSpec(source="random", out=out, limit=300, data_dir=data_dir), log=lambda message: None)
    return out


def test_the_pinned_lmms_eval_and_torch():
    import torch
    import torchvision

    assert metadata.version("lmms_eval") == "0.7.3"
    assert (torch.__version__.split("+")[0], torchvision.__version__.split("+")[0]) == ("2.14.1", "0.29.1")


@pytest.mark.parametrize("which", ["crafted", "real"])
def test_task_manager_loads_the_export_and_scores_like_actbench(which, request, tmp_path):
    from lmms_eval.tasks import TaskManager, get_task_dict

    bench_dir = request.getfixturevalue(which)
    bench = load_benchmark(bench_dir)
    out = export(bench_dir, tmp_path / "task")
    (yaml_path,) = out.glob("*.yaml")
    manager = TaskManager(include_path=str(out))
    assert manager.task_index[yaml_path.stem] == {"type": "task", "yaml_path": str(yaml_path)}
    task = get_task_dict([yaml_path.stem], manager)[yaml_path.stem]
    docs = list(task.test_docs())
    assert [d["id"] for d in docs] == [d["id"] for d in read_docs(out)] == [q.id for q in bench.questions]
    replies = fixed_replies(bench, seed=5)
    values = []
    for doc, q in zip(docs, bench.questions):
        assert task.doc_to_text(doc) == format_mqa(q.question, q.options)
        assert task.doc_to_target(doc) == (q.answer_letter or "")
        assert task.doc_to_visual(doc) == [f"{q.video_id[:3]}/videos/{q.video_id}.MP4"]
        values.append(task.process_results(doc, [replies[q.id]]))
    ours = actbench_run(bench_dir, replies, tmp_path / "run")
    aggregate = task.aggregation()
    assert aggregate["accuracy"]([v["accuracy"] for v in values]) == pytest.approx(ours["accuracy"], abs=1e-5)
    assert aggregate["parse_fail"]([v["parse_fail"] for v in values]) == ours["status_counts"]["parse_fail"]
    assert aggregate["refused"]([v["refused"] for v in values]) == ours["status_counts"]["refused"]
    assert task.higher_is_better() == {"accuracy": True, "parse_fail": False, "refused": False}


def test_builtin_tasks_win_a_name_clash(crafted, tmp_path):
    from lmms_eval.tasks import TaskManager

    builtins = TaskManager().task_index
    assert not [name for name in builtins if name.startswith("actbench_")]  # an export never shadows one
    out = export(crafted, tmp_path / "task")
    assert "actbench_crafted" not in builtins
    clash = tmp_path / "clash"
    clash.mkdir()
    text = (out / "actbench_crafted.yaml").read_text().replace("task: actbench_crafted", "task: mme")
    (clash / "mme.yaml").write_text(text)
    (clash / "utils.py").write_bytes((out / "utils.py").read_bytes())
    (clash / "actbench_crafted.jsonl").write_bytes((out / "actbench_crafted.jsonl").read_bytes())
    assert builtins["mme"]["type"] == "task"
    shadowed = TaskManager(include_path=str(clash)).task_index["mme"]
    assert shadowed == builtins["mme"] and "lmms_eval/tasks/" in shadowed["yaml_path"]


def _lmms_eval(task_dir: Path, task: str, replies: dict, tmp_path: Path, *extra: str,
               video_root: str = "") -> tuple[Path, dict, list[dict]]:
    """``python -m lmms_eval`` with the fixed-replies model: (samples file, results JSON, what the model saw)."""
    (tmp_path / "replies.json").write_text(json.dumps(replies), encoding="utf-8")
    output, seen = tmp_path / "lmms-out", tmp_path / "seen.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO), "LMMS_EVAL_PLUGINS": "tests.lmms.fixed_model",
           "ACTBENCH_VIDEO_ROOT": video_root}
    command = [sys.executable, "-m", "lmms_eval", "--model", "actbench_fixed",
               "--model_args", f"replies={tmp_path / 'replies.json'},seen={seen}", "--tasks", task,
               "--include_path", str(task_dir), "--batch_size", "1", "--log_samples", "--output_path", str(output),
               *extra]
    done = subprocess.run(command, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (samples,) = output.rglob(f"*_samples_{task}.jsonl")
    (results,) = output.rglob("*_results.json")
    return samples, json.loads(results.read_text()), [json.loads(x) for x in seen.read_text().splitlines()]


def _import(samples: Path, bench_dir: Path, out: Path) -> dict:
    result = CliRunner().invoke(app, ["import", "lmms-eval", str(samples), "--benchmark", str(bench_dir),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text())


def test_lmms_eval_end_to_end_with_video_paths(request, tmp_path):
    # The real benchmark where the annotations are there (make test-lmms points ACTBENCH_DATA_DIR at them).
    from tests.conftest import real_data_dir

    bench_dir = request.getfixturevalue("real" if real_data_dir() else "crafted")
    bench = load_benchmark(bench_dir)
    out = export(bench_dir, tmp_path / "task")
    task = next(out.glob("*.yaml")).stem
    replies = fixed_replies(bench, seed=11)
    samples, results, seen = _lmms_eval(out, task, replies, tmp_path, video_root="/videos")
    ours = actbench_run(bench_dir, replies, tmp_path / "run")
    table = results["results"][task]
    assert table["accuracy,none"] == pytest.approx(ours["accuracy"], abs=1e-5)
    assert (table["parse_fail,none"], table["refused,none"]) == (ours["status_counts"]["parse_fail"],
                                                                 ours["status_counts"]["refused"])
    imported = _import(samples, bench_dir, tmp_path / "imported")
    assert {k: imported[k] for k in SAME} == {k: ours[k] for k in SAME}
    assert imported["imported"]["parse_disagreements"] == 0
    assert 0 < ours["accuracy"] < 100 or len(bench.questions) < 10
    info = json.loads((tmp_path / "imported" / "run.json").read_text())
    assert (info["model"]["name"], info["limit"]) == ("lmms-eval:actbench_fixed", None)
    by_id = {q.id: q for q in bench.questions}
    assert sorted(s["id"] for s in seen) == sorted(by_id)
    for s in seen:
        q = by_id[s["id"]]
        assert s["prompt"] == format_mqa(q.question, q.options)
        assert s["visuals"] == [f"/videos/{q.video_id[:3]}/videos/{q.video_id}.MP4"]


def test_lmms_eval_end_to_end_with_frames_and_a_limit(crafted, tmp_path):
    from PIL import Image

    bench = load_benchmark(crafted)
    out = export(crafted, tmp_path / "task", frames_root=str(tmp_path / "frames"), n_frames=3)
    for doc in read_docs(out):
        for path in doc["frames"]:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (12, 10)).save(path)
    replies = {"P01_11_0": "A", "P01_11_1": "The answer is (A).", "P01_11_2": "garbage", "P02_03_0": "B",
               "P02_03_1": "I am sorry, I cannot tell.", "P02_03_2": "scrub board"}
    samples, results, seen = _lmms_eval(out, "actbench_crafted", replies, tmp_path, "--limit", "5")
    # Hand-worked: of the first 5, only P01_11_0 is right (A); A for B; garbage; B on a keyless question;
    # a refusal.
    assert results["results"]["actbench_crafted"]["accuracy,none"] == pytest.approx(20.0)
    imported = _import(samples, crafted, tmp_path / "imported")
    assert (imported["n"], imported["correct"], imported["accuracy"]) == (5, 1, 20.0)
    assert imported["status_counts"] == {"ok": 3, "parse_fail": 1, "refused": 1, "error": 0, "missing": 0}
    assert json.loads((tmp_path / "imported" / "run.json").read_text())["limit"] == 5
    assert [s["id"] for s in seen] == [q.id for q in bench.questions[:5]]
    assert all(s["visuals"] == [[12, 10]] * 3 for s in seen)
