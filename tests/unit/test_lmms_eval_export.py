"""``actbench export --format lmms-eval`` and ``actbench import lmms-eval``, checked without lmms-eval.

The exported ``utils.py`` is loaded the way lmms-eval 0.7.3 loads a task's functions
(``importlib.util.spec_from_file_location`` + ``exec_module``, not registered in ``sys.modules``); the
samples files are written in the format lmms-eval 0.7.3 logs (keys and flattening as in its
``EvaluationTracker.save_results_samples``), with each sample's metric record made by the exported
``process_results``, as lmms-eval makes it. ``tests/lmms`` (``make test-lmms``) runs the real lmms-eval.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from actbench.cli import app
from actbench.cli.compare import compare_runs, load_paired_runs
from actbench.errors import ActbenchError
from actbench.exporters import ExportOptions, export_benchmark
from actbench.exporters.lmms_eval import parser_source, task_name
from actbench.exporters.vlmevalkit import rgb_frame_paths
from actbench.importers.lmms_eval import import_lmms_eval
from actbench.model_adapters import MODELS, answer_parser
from actbench.model_adapters.answer_parser import parse_answer
from actbench.mqa_builder.benchmark_dir import load_benchmark, write_benchmark
from actbench.prompts import format_mqa
from actbench.records import LETTERS, Answer
from actbench.reports.leaderboard import collect
from actbench.runner import RunSpec, run
from tests.unit.test_answer_parser import _FRAGMENTS, CASES, OPTIONS
from tests.unit.test_export import CRAFTED, _manifest

runner = CliRunner()


def load_utils(folder: Path):
    """The exported utils.py as lmms-eval's ``import_function`` loads it (lmms_eval/utils.py, 0.7.3)."""
    spec = importlib.util.spec_from_file_location("utils", folder / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export(bench: Path, out: Path, frames_root: str | None = None, n_frames: int = 8) -> Path:
    export_benchmark(str(bench), "lmms-eval", out, options=ExportOptions(frames_root=frames_root, n_frames=n_frames))
    return out


def read_docs(folder: Path) -> list[dict]:
    (data,) = folder.glob("*.jsonl")
    return [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]


# -- fixed replies, and actbench's own score of them -----------------------------------------------------------

def fixed_replies(bench, seed: int = 0) -> dict[str, str]:
    """A reply per question in the shapes models give: letters, "(B)", statements, the option's text, lower
    case, refusals, garbage, several letters, an out-of-range letter, empty; right or wrong letters."""
    rng = random.Random(seed)
    replies = {}
    for q in bench.questions:
        letters = LETTERS[: len(q.options)]
        letter = q.answer_letter if q.answer_letter and rng.random() < 0.5 else rng.choice(letters)
        other = rng.choice([x for x in letters if x != letter])
        text = q.options[letters.index(letter)]
        replies[q.id] = rng.choice([
            letter, f"({letter})", f"{letter}.", f"The answer is {letter}.", f"Answer: {letter.lower()}",
            text, f"{letter}. {text}", f"I would choose {letter}.", f"**{letter}**",
            "I'm sorry, I can't determine that from the video.", "The person is standing in a kitchen.",
            f"{letter} or {other}", "Z" if len(q.options) < 26 else "", "", f"{letter}\n\n{text} because of the hands",
        ])
    return replies


class FixedReplies:
    """An actbench adapter sending each question's fixed reply through actbench's parser (as a text model)."""

    name = "test-fixed-replies"
    batch_size = 8

    def __init__(self, args):
        self.path = args["replies"]
        with open(self.path, encoding="utf-8") as handle:
            self.replies = json.load(handle)

    def answer(self, questions):
        out = []
        for q in questions:
            parsed = parse_answer(self.replies[q.id], q.options)
            out.append(Answer(q.id, parsed.letter, parsed.status, self.replies[q.id], 0.0))
        return out

    def describe(self):
        return {"name": self.name, "args": {}}


if "test-fixed-replies" not in MODELS:
    MODELS.register("test-fixed-replies", lambda ctx: FixedReplies(ctx.args), summary="test only")


def actbench_run(bench_dir: Path, replies: dict[str, str], out: Path) -> dict:
    """``actbench run`` of the fixed replies: its metrics.json."""
    path = out.parent / f"{out.name}-replies.json"
    path.write_text(json.dumps(replies), encoding="utf-8")
    run(RunSpec(model="test-fixed-replies", benchmark=str(bench_dir), out=out, model_args={"replies": str(path)}))
    return json.loads((out / "metrics.json").read_text())


# -- lmms-eval's samples file, as 0.7.3 writes it --------------------------------------------------------------

def lmms_samples(task_dir: Path, replies: dict[str, str], out: Path, *, model: str | None = "llava_onevision",
                 model_args: str = "pretrained=lmms-lab/llava-onevision-qwen2-0.5b-ov,conv_template=qwen_1_5",
                 limit: int | None = None, date: str = "20260105_101500") -> Path:
    """``out/<date>_samples_<task>.jsonl`` (and ``<date>_results.json`` unless ``model`` is None)."""
    utils = load_utils(task_dir)
    docs = read_docs(task_dir)[:limit]
    name = task_dir.glob("*.yaml").__next__().stem
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for doc_id, doc in enumerate(docs):
        reply = replies[doc["id"]]
        sample = {"doc_id": doc_id, "target": str(utils.doc_to_target(doc)), "filtered_resps": reply,
                  "token_counts": [{"input_tokens": 200 + doc_id, "output_tokens": 3}],
                  "doc_hash": hashlib.sha256(json.dumps(doc).encode()).hexdigest()}
        sample.update(utils.process_results(doc, [reply]))
        sample["input"] = utils.doc_to_text(doc, {"pre_prompt": "", "post_prompt": ""})
        lines.append(json.dumps(sample, ensure_ascii=False) + "\n")
    samples = out / f"{date}_samples_{name}.jsonl"
    samples.write_text("".join(lines), encoding="utf-8")
    if model is not None:
        results = {"results": {name: {"accuracy,none": utils.aggregate_accuracy(
                       [json.loads(line)["accuracy"] for line in lines])}},
                   "config": {"model": model, "model_args": model_args, "limit": limit},
                   "lmms_eval_version": "0.7.3", "date": date, "model_name": "",
                   "total_evaluation_time_seconds": "12.5"}
        (out / f"{date}_results.json").write_text(json.dumps(results), encoding="utf-8")
    return samples


# -- the task's name ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("crafted", "actbench_crafted"),
    ("ek100-mqa-random", "actbench_ek100_mqa_random"),
    ("EK100 MQA (TIM, top-5)", "actbench_ek100_mqa_tim_top_5"),
    ("--", "actbench_benchmark"),
])
def test_task_name_is_prefixed_and_sanitised(name, expected):
    assert task_name(name) == expected


# -- utils.py: actbench's parser, the standard library only -------------------------------------------------------

EXTRA_REPLIES = [
    "B", "(B)", "b", "The answer is C.", "answer: e", "cut onion", "cut onion cut onion", "A and B", "A, B or C",
    "I'm sorry, I cannot help with that.", "As an AI, I can't watch videos.", "asdf qwer", "", "   ", "Z", "F",
    "C. take plate", "Option 3", "\\boxed{D}", "I think it's B, not A.", "The answer is not A.", "**D. wash hands**",
    "wash cup\nBecause the cup is under the tap.", "Answer: B\nAnswer: C", "A person takes a plate.",
]


def test_exported_parser_gives_actbench_results_on_every_reply(crafted, tmp_path):
    exported = load_utils(export(crafted, tmp_path / "out")).parse_answer
    table = [(reply, OPTIONS) for reply, _, _ in CASES] + [(reply, OPTIONS) for reply in EXTRA_REPLIES]
    rng = random.Random(7)
    for _ in range(3000):  # the answer-parser test's fuzz: replies glued from fragments, random option sets
        options = [rng.choice(("take plate", "cut onion", "wash cup", "A", "b", "", "open fridge"))
                   for _ in range(rng.randint(1, 10))]
        table.append(("".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(0, 12))), options))
    for reply, options in table:
        ours, theirs = parse_answer(reply, options), exported(reply, options)
        assert (theirs.letter, theirs.status, theirs.how) == (ours.letter, ours.status, ours.how), (reply, options)


def test_utils_is_the_parsers_own_source():
    source = parser_source()
    for name, member in inspect.getmembers(answer_parser, inspect.isfunction):
        if member.__module__ == answer_parser.__name__:
            assert inspect.getsource(member) in source, name
    assert "from actbench" not in source.replace("# from actbench", "")


def test_utils_imports_only_the_standard_library(crafted, tmp_path):
    out = export(crafted, tmp_path / "out")
    tree = ast.parse((out / "utils.py").read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert {(a.name if isinstance(n, ast.Import) else n.module).split(".")[0] for n in top for a in n.names} <= \
        set(sys.stdlib_module_names)
    # -I -S: no site-packages at all (neither actbench nor numpy nor pydantic can be found).
    script = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('utils', {str(out / 'utils.py')!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"doc = json.loads(open({str(out / 'actbench_crafted.jsonl')!r}).readline())\n"
        "r = m.process_results(doc, ['The answer is (A).'])['accuracy']\n"
        "print(json.dumps([r['answer'], r['correct'], m.doc_to_visual(doc),\n"
        "                  sorted(k for k in sys.modules if k.split('.')[0] not in sys.stdlib_module_names)]))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == ["A", True, ["P01/videos/P01_11.MP4"], ["__main__"]]


@pytest.mark.parametrize("source, bad", [
    ("import numpy\n", "numpy"),
    ("from PIL import Image\n", "PIL"),  # Pillow only inside a function (frames), never at import
    ("def f():\n    from pydantic import BaseModel\n", "pydantic"),
    ("def f():\n    from PIL import Image\n", None),
    ("import os, re\nfrom dataclasses import dataclass\n", None),
])
def test_a_non_standard_import_fails_the_export(source, bad):
    from actbench.exporters.lmms_eval import _check_stdlib_only

    if bad is None:
        _check_stdlib_only(source)
    else:
        with pytest.raises(RuntimeError, match=f"utils.py would import {bad}, which is not in the standard library"):
            _check_stdlib_only(source)


def test_no_random_fallback_unparseable_replies_are_wrong(crafted, tmp_path):
    utils = load_utils(export(crafted, tmp_path / "out"))
    docs = read_docs(tmp_path / "out")
    for doc in docs:
        for reply in ("", "The person is cooking.", "A or B", "Z", "C. take plate" if "take plate" in doc["options"]
                      else "A and B"):
            records = [utils.process_results(doc, [reply])["accuracy"] for _ in range(5)]
            assert records[0]["status"] == "parse_fail" and records[0]["answer"] is None, (doc["id"], reply)
            assert not records[0]["correct"] and all(r == records[0] for r in records)
        refused = utils.process_results(doc, ["I'm sorry, I cannot answer that."])["accuracy"]
        assert (refused["status"], refused["correct"]) == ("refused", False)
    keyless = next(d for d in docs if d["answer_letter"] is None)
    assert not any(utils.process_results(keyless, [x])["accuracy"]["correct"] for x in "ABCD")
    assert utils.aggregate_parse_fail([{"status": "parse_fail"}, {"status": "ok"}]) == 1


@pytest.mark.parametrize("which", ["crafted", "real"])
def test_task_metrics_equal_actbench_scores_of_the_same_replies(which, request, tmp_path):
    bench_dir = request.getfixturevalue(which)
    bench = load_benchmark(bench_dir)
    utils = load_utils(export(bench_dir, tmp_path / "out"))
    replies = fixed_replies(bench)
    records = [utils.process_results(doc, [replies[doc["id"]]])["accuracy"] for doc in read_docs(tmp_path / "out")]
    # Independent reference: a naive loop over the questions with actbench's parser.
    correct = parse_fail = refused = 0
    for q in bench.questions:
        parsed = parse_answer(replies[q.id], q.options)
        correct += parsed.status == "ok" and parsed.letter == q.answer_letter
        parse_fail += parsed.status == "parse_fail"
        refused += parsed.status == "refused"
    metrics = actbench_run(bench_dir, replies, tmp_path / "run")
    assert utils.aggregate_accuracy(records) == pytest.approx(100 * correct / len(bench.questions), abs=1e-9)
    assert utils.aggregate_accuracy(records) == pytest.approx(metrics["accuracy"], abs=1e-5)
    assert (utils.aggregate_parse_fail(records), utils.aggregate_refused(records)) == (parse_fail, refused)
    assert (parse_fail, refused) == (metrics["status_counts"]["parse_fail"], metrics["status_counts"]["refused"])
    if which == "real":
        assert 0 < metrics["accuracy"] < 100 and parse_fail > 0 and refused > 0


# -- the docs, the YAML, the sidecar ------------------------------------------------------------------------------

@pytest.mark.parametrize("frames_root", [None, "/data/EPIC-KITCHENS"])
def test_docs_read_back_question_by_question(crafted, tmp_path, monkeypatch, frames_root):
    out = export(crafted, tmp_path / "out", frames_root=frames_root, n_frames=4)
    bench = load_benchmark(crafted)
    utils = load_utils(out)
    docs = read_docs(out)
    assert [d["id"] for d in docs] == [q.id for q in bench.questions]
    monkeypatch.setenv("ACTBENCH_VIDEO_ROOT", "/videos")
    for doc, q, raw in zip(docs, bench.questions, CRAFTED):
        assert {k: doc[k] for k in ("id", "video_id", "start", "end", "question", "options", "answer_index",
                                    "answer_letter", "option_classes", "source_ranks")} == \
            {k: raw[k] for k in ("id", "video_id", "start", "end", "question", "options", "answer_index",
                                 "answer_letter", "option_classes", "source_ranks")}
        assert doc["prompt"] == format_mqa(q.question, q.options)
        assert utils.doc_to_text(doc, {"pre_prompt": "<video>\n", "post_prompt": "!"}) == f"<video>\n{doc['prompt']}!"
        assert utils.doc_to_text(doc) == doc["prompt"]
        assert utils.doc_to_target(doc) == (q.answer_letter or "")
        assert (doc["benchmark"], doc["benchmark_sha256"]) == ("crafted", bench.manifest_sha256)
        if frames_root is None:
            assert doc["video_path"] == f"{q.video_id[:3]}/videos/{q.video_id}.MP4" and "frames" not in doc
            assert utils.doc_to_visual(doc) == [f"/videos/{doc['video_path']}"]
        else:
            assert doc["frames"] == [f"{frames_root}/{p}" for p in rgb_frame_paths(q.video_id, q.start, q.end, 4)]
            assert "video_path" not in doc


def test_frames_are_opened_as_rgb_images(crafted, tmp_path):
    image = pytest.importorskip("PIL.Image")
    out = export(crafted, tmp_path / "out", frames_root=str(tmp_path / "frames"), n_frames=3)
    doc = read_docs(out)[1]
    for i, path in enumerate(doc["frames"]):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        image.new("L", (8 + i, 6), color=40 * i).save(path)
    visuals = load_utils(out).doc_to_visual(doc)
    assert [(v.mode, v.size) for v in visuals] == [("RGB", (8, 6)), ("RGB", (9, 6)), ("RGB", (10, 6))]


def test_yaml_is_the_lmms_eval_task(crafted, tmp_path):
    out = export(crafted, tmp_path / "out")
    bench = load_benchmark(crafted)
    assert sorted(p.name for p in out.iterdir()) == ["actbench_crafted.actbench.json", "actbench_crafted.jsonl",
                                                     "actbench_crafted.yaml", "utils.py"]
    expected = f"""# lmms-eval task for the actbench benchmark "crafted", generated by actbench 0.1.0
# (`actbench export --format lmms-eval`). Run: lmms-eval --include_path THIS_FOLDER --tasks actbench_crafted ...
# lmms-eval's own tasks win a name clash; the actbench_ prefix keeps clear of them.
task: actbench_crafted
dataset_path: json
dataset_kwargs:
  data_files:
    test: actbench_crafted.jsonl
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: !function utils.doc_to_target
generation_kwargs:
  max_new_tokens: 16
  temperature: 0
  top_p: 1.0
  num_beams: 1
  do_sample: false
process_results: !function utils.process_results
metric_list:
  - metric: accuracy
    aggregation: !function utils.aggregate_accuracy
    higher_is_better: true
  - metric: parse_fail
    aggregation: !function utils.aggregate_parse_fail
    higher_is_better: false
  - metric: refused
    aggregation: !function utils.aggregate_refused
    higher_is_better: false
lmms_eval_specific_kwargs:
  default:
    pre_prompt: ""
    post_prompt: ""
metadata:
  version: 1
  actbench_version: "0.1.0"
  benchmark: "crafted"
  manifest_sha256: "{bench.manifest_sha256}"
  questions_sha256: "{bench.manifest.questions_sha256}"
  media: video
"""
    assert (out / "actbench_crafted.yaml").read_text() == expected
    yaml = pytest.importorskip("yaml")

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: ("function", loader.construct_scalar(node)))
    config = yaml.load(expected, Loader=Loader)  # a SafeLoader subclass
    utils = load_utils(out)
    functions = [v[1] for v in config.values() if isinstance(v, tuple)]
    functions += [m["aggregation"][1] for m in config["metric_list"]]
    assert all(callable(getattr(utils, f.split(".", 1)[1])) for f in functions) and len(functions) == 7
    assert config["metadata"]["manifest_sha256"] == bench.manifest_sha256


def test_sidecar_records_hashes_media_and_licence(crafted, tmp_path):
    out = export(crafted, tmp_path / "out", frames_root="frames", n_frames=16)
    side = json.loads((out / "actbench_crafted.actbench.json").read_text())
    bench = load_benchmark(crafted)
    assert side["task"] == "actbench_crafted"
    assert (side["benchmark"]["manifest_sha256"], side["benchmark"]["questions_sha256"]) == \
        (bench.manifest_sha256, bench.manifest.questions_sha256)
    assert side["files"] == {name: hashlib.sha256((out / name).read_bytes()).hexdigest()
                             for name in ("actbench_crafted.yaml", "actbench_crafted.jsonl", "utils.py")}
    assert (side["media"]["layout"], side["media"]["n_frames"], side["licence"]["id"]) == ("rgb_frames", 16,
                                                                                          "cc-by-nc-4.0")
    assert "MEDIA = 'rgb_frames'" in (out / "utils.py").read_text()


@pytest.mark.parametrize("frames_root", [None, "frames"])
def test_re_export_is_byte_identical(crafted, tmp_path, frames_root):
    one, two = export(crafted, tmp_path / "one", frames_root), export(crafted, tmp_path / "two", frames_root)
    files = sorted(p.name for p in one.iterdir())
    assert files and files == sorted(p.name for p in two.iterdir())
    assert all((one / f).read_bytes() == (two / f).read_bytes() for f in files)


def test_a_failed_export_leaves_nothing(crafted, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("actbench.exporters.lmms_eval.dumps_json", fail)  # after the YAML, docs and utils.py
    (tmp_path / "exports").mkdir()
    with pytest.raises(OSError, match="disk full"):
        export(crafted, tmp_path / "exports" / "out")
    assert list((tmp_path / "exports").iterdir()) == []


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_cli_exports(crafted, tmp_path):
    result = invoke("export", crafted, "--format", "lmms-eval", "--out", tmp_path / "x", "--frames-root", "f")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (f"exported 6 questions of crafted as lmms-eval to {tmp_path / 'x'}: "
                                     "actbench_crafted.yaml, actbench_crafted.jsonl, utils.py, "
                                     "actbench_crafted.actbench.json")


# -- import ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["crafted", "real"])
def test_import_scores_exactly_as_actbench_run(which, request, tmp_path):
    bench_dir = request.getfixturevalue(which)
    bench = load_benchmark(bench_dir)
    replies = fixed_replies(bench, seed=1)
    samples = lmms_samples(export(bench_dir, tmp_path / "task"), replies, tmp_path / "lmms")
    run_dir = import_lmms_eval(samples, benchmark=str(bench_dir), out=tmp_path / "imported")
    ours = actbench_run(bench_dir, replies, tmp_path / "run")
    theirs = json.loads((run_dir / "metrics.json").read_text())
    keys = ("n", "correct", "accuracy", "accuracy_ci95", "status_counts", "chosen_letters", "answer_letters",
            "upper_bound")
    assert {k: theirs[k] for k in keys} == {k: ours[k] for k in keys}
    lmms_accuracy = json.loads(next((tmp_path / "lmms").glob("*_results.json")).read_text())["results"]
    assert theirs["accuracy"] == pytest.approx(next(iter(lmms_accuracy.values()))["accuracy,none"], abs=1e-5)
    assert theirs["imported"]["parse_disagreements"] == 0 and theirs["wall_s"] == 12.5
    lines = [json.loads(x) for x in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == [q.id for q in bench.questions]
    assert [x["raw"] for x in lines] == [replies[q.id] for q in bench.questions]
    assert lines[0]["tokens_in"] == 200 and lines[-1]["tokens_in"] == 200 + len(lines) - 1
    info = json.loads((run_dir / "run.json").read_text())
    assert info["model"] == {"name": "lmms-eval:llava_onevision", "args": {
        "lmms_eval_model": "llava_onevision", "pretrained": "lmms-lab/llava-onevision-qwen2-0.5b-ov",
        "conv_template": "qwen_1_5"}}
    assert info["benchmark"] == {"name": bench.name, "manifest_sha256": bench.manifest_sha256,
                                 "questions": len(bench.questions)}
    assert (info["status"], info["limit"], info["versions"], info["started_at"], info["finished_at"]) == \
        ("complete", None, {"lmms_eval": "0.7.3"}, "2026-01-05T10:15:00", "2026-01-05T10:15:12")


def test_hand_worked_replies_on_the_crafted_benchmark(crafted, tmp_path):
    replies = {"P01_11_0": "A", "P01_11_1": "The answer is (A).", "P01_11_2": "garbage", "P02_03_0": "B",
               "P02_03_1": "I am sorry, I cannot tell.", "P02_03_2": "scrub board"}
    samples = lmms_samples(export(crafted, tmp_path / "task"), replies, tmp_path / "lmms")
    metrics = json.loads((import_lmms_eval(samples, benchmark=str(crafted), out=tmp_path / "r") / "metrics.json")
                         .read_text())
    # right: P01_11_0 (A), P02_03_2 (its option text); wrong: A for B, B on a keyless question; one parse
    # failure, one refusal.
    assert (metrics["correct"], metrics["accuracy"]) == (2, round(100 * 2 / 6, 6))
    assert metrics["status_counts"] == {"ok": 4, "parse_fail": 1, "refused": 1, "error": 0, "missing": 0}


def test_imported_run_is_a_leaderboard_row_and_compares(crafted, tmp_path):
    results = tmp_path / "results"
    (results / "benchmarks").mkdir(parents=True)
    bench_dir = results / "benchmarks" / "crafted"
    crafted.rename(bench_dir)
    replies = fixed_replies(load_benchmark(bench_dir), seed=3)
    samples = lmms_samples(export(bench_dir, tmp_path / "task"), replies, tmp_path / "lmms")
    result = invoke("import", "lmms-eval", samples, "--results", results)  # finds the benchmark by its name
    assert result.exit_code == 0, result.output
    run_dir = results / "runs" / "crafted" / "lmms-eval-llava_onevision"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert result.stdout.strip() == (f"imported 6 answers of lmms-eval:llava_onevision on crafted to {run_dir}: "
                                     f"accuracy {metrics['accuracy']:.2f}")
    run(RunSpec(model="oracle", benchmark=str(bench_dir), out=results / "runs" / "crafted" / "oracle"))
    board, _ = collect(results)
    row = next(r for r in board if r.model == "lmms-eval:llava_onevision")
    assert (row.benchmark, row.n, row.accuracy) == ("crafted", 6, metrics["accuracy"])
    pair = compare_runs(load_paired_runs(run_dir, results / "runs" / "crafted" / "oracle", results=results),
                        seed=0, resamples=100)
    assert pair["run_a"]["accuracy"] == pytest.approx(metrics["accuracy"]) and pair["n"] == 6


def test_a_prefix_of_the_docs_is_a_run_with_a_limit(crafted, tmp_path):
    replies = fixed_replies(load_benchmark(crafted))
    samples = lmms_samples(export(crafted, tmp_path / "task"), replies, tmp_path / "lmms", limit=4)
    run_dir = import_lmms_eval(samples, benchmark=str(crafted), out=tmp_path / "r")
    assert json.loads((run_dir / "run.json").read_text())["limit"] == 4
    assert json.loads((run_dir / "metrics.json").read_text())["n"] == 4


def test_model_name_args_and_out_dir(crafted, tmp_path):
    task = export(crafted, tmp_path / "task")
    replies = fixed_replies(load_benchmark(crafted))
    samples = lmms_samples(task, replies, tmp_path / "lmms", model="openai_compatible",
                           model_args="model_version=gpt-4o,api_key=sk-secret-123,azure_openai=False")
    results = json.loads(next((tmp_path / "lmms").glob("*_results.json")).read_text())
    results["model_name"] = "org/My Model"
    next((tmp_path / "lmms").glob("*_results.json")).write_text(json.dumps(results))
    run_dir = import_lmms_eval(samples, benchmark=str(crafted), results=tmp_path / "res")
    assert run_dir == tmp_path / "res" / "runs" / "crafted" / "lmms-eval-org_My_Model"
    info = json.loads((run_dir / "run.json").read_text())
    assert info["model"] == {"name": "lmms-eval:org/My Model", "args": {
        "lmms_eval_model": "openai_compatible", "model_version": "gpt-4o", "azure_openai": "False"}}
    assert "sk-secret" not in "".join(p.read_text() for p in run_dir.iterdir())
    named = import_lmms_eval(samples, benchmark=str(crafted), out=tmp_path / "named", model="gpt-4o")
    assert json.loads((named / "run.json").read_text())["model"]["name"] == "lmms-eval:gpt-4o"


def _rewrite(samples: Path, edit) -> None:
    lines = [json.loads(x) for x in samples.read_text().splitlines()]
    samples.write_text("".join(x if isinstance(x, str) else json.dumps(x) + "\n" for x in edit(lines)))


def _other_build(tmp_path: Path) -> Path:
    other = tmp_path / "other"
    write_benchmark(other, {**_manifest(), "seed": 4}, CRAFTED)
    return other


def _set(lines, i, **fields):
    lines[i] = {**lines[i], **fields}
    return lines


def _record(lines, i, **fields):
    lines[i] = {**lines[i], "accuracy": {**lines[i]["accuracy"], **fields}}
    return lines


@pytest.mark.parametrize("edit, args, message", [
    (None, ["--benchmark", "{other}"],
     ":1: field 'accuracy.benchmark_sha256': expected {other_sha}, the manifest of {other}/manifest.json, found "),
    (lambda ls: _set(ls, 3, doc_id=1), [], ":4: field 'doc_id': expected each doc once (1 is also at "),
    (lambda ls: _record(ls, 2, id="P09_99_9"), [],
     ":3: field 'accuracy.id': expected a question of benchmark 'crafted', found P09_99_9"),
    (lambda ls: _record(ls, 2, id="P01_11_0"), [],
     ":3: field 'doc_id': expected 0, the position of question P01_11_0 in benchmark 'crafted', found 2"),
    (lambda ls: ls[:2] + ls[3:], [],
     (": field 'doc_id': expected the first 5 questions of benchmark 'crafted' (lmms-eval --limit N evaluates a "
      "prefix; a run with --offset cannot be imported), found doc 2 (P01_11_2) missing")),
    (lambda ls: _record(ls, 1, benchmark_sha256="ab" * 32), [],
     ":2: field 'accuracy.benchmark_sha256': expected {sha}, as in {samples}:1 (one benchmark per file), found "
     + "ab" * 32),
    (lambda ls: ls[:1] + ["{not json\n"] + ls[2:], [], ":2: field 'line': expected a JSON object, found invalid JSON"),
    (lambda ls: _set(ls, 0, accuracy=1.0), [],
     (":1: field 'accuracy': expected the record of a task written by `actbench export --format lmms-eval` "
      "(id, benchmark, benchmark_sha256), found 1.0")),
    (lambda ls: _set(ls, 0, doc_id="0"), [], ":1: field 'doc_id': expected an integer >= 0, found 0"),
    (lambda ls: [], [], ": field 'lines': expected at least one sample, found an empty file"),
    ("no-results", [], (": field 'model': expected the model's name: pass --model NAME (no <date>_results.json "
                        "from lmms-eval beside the samples file), found none")),
    ("full-out", ["--out", "{full}"], "full: exists and is not an empty directory; choose another --out"),
    ("no-bench", ["--results", "{tmp}/nowhere"], (":1: field 'accuracy.benchmark': expected a benchmark directory "
                                                  "or built card under {tmp}/nowhere (or pass --benchmark DIR), "
                                                  "found crafted")),
])
def test_bad_samples_exit_2_with_one_line_and_write_nothing(crafted, tmp_path, edit, args, message):
    bench = load_benchmark(crafted)
    other = _other_build(tmp_path)
    samples = lmms_samples(export(crafted, tmp_path / "task"), fixed_replies(bench), tmp_path / "lmms")
    if callable(edit):
        _rewrite(samples, edit)
    elif edit == "no-results":
        next((tmp_path / "lmms").glob("*_results.json")).unlink()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    if "--benchmark" not in args and edit != "no-bench":
        args = [*args, "--benchmark", str(crafted)]
    subs = {"{other}": str(other), "{full}": str(tmp_path / "full"), "{tmp}": str(tmp_path),
            "{other_sha}": load_benchmark(other).manifest_sha256, "{sha}": bench.manifest_sha256,
            "{samples}": str(samples)}
    for key, value in subs.items():
        args = [a.replace(key, value) for a in args]
        message = message.replace(key, value)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "run")]
    result = invoke("import", "lmms-eval", samples, *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("actbench: error: ") and message in lines[0], (lines, message)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_import_refuses_without_writing_when_the_run_dir_is_taken(crafted, tmp_path):
    samples = lmms_samples(export(crafted, tmp_path / "task"), fixed_replies(load_benchmark(crafted)), tmp_path / "l")
    import_lmms_eval(samples, benchmark=str(crafted), out=tmp_path / "r")
    with pytest.raises(ActbenchError, match="exists and is not an empty directory"):
        import_lmms_eval(samples, benchmark=str(crafted), out=tmp_path / "r")


def test_an_old_export_that_parses_differently_is_counted(crafted, tmp_path):
    samples = lmms_samples(export(crafted, tmp_path / "task"), {q["id"]: "B" for q in CRAFTED}, tmp_path / "l")
    _rewrite(samples, lambda ls: _record(ls, 0, answer=None, status="parse_fail"))
    metrics = json.loads((import_lmms_eval(samples, benchmark=str(crafted), out=tmp_path / "r") / "metrics.json")
                         .read_text())
    assert metrics["imported"]["parse_disagreements"] == 1 and metrics["status_counts"]["ok"] == 6
