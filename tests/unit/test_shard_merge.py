"""`actbench run --shard i/n` and `actbench merge`: the partition, shard runs, merges equal to unsharded runs,
and every refusal with its exact message."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter

import numpy as np
import pytest
from typer.testing import CliRunner

from actbench.cli import app
from actbench.cli.compare import load_paired_runs
from actbench.errors import ActbenchError
from actbench.model_adapters import MODELS
from actbench.mqa_builder.benchmark_dir import load_benchmark, write_benchmark
from actbench.mqa_builder.build import BuildSpec, build_mqa
from actbench.prompts import EGOCENTRIC, format_mqa
from actbench.records import LETTERS, Answer
from actbench.reports.leaderboard import collect, partial_runs
from actbench.runner import RunSpec, run
from actbench.runs import shard as sharding
from actbench.runs.merge import merge
from actbench.sap import prompt_stem

TIMING = ("wall_s", "throughput_qps", "latency_s")  # measured, so never equal between two runs
VIDEO_SIZES = {"P01_11": 3, "P02_03": 11, "P03_01": 7, "P04_07": 5, "P05_02": 9}  # 35 questions


class PromptHash:
    """Letter from a hash of (id, prompt): a SAP answer changes when what is fed back changes."""

    name = "test-shard-sap"
    sees_prior_actions = True
    runtime_args = ("crash_after",)

    def __init__(self, args):
        self.args = dict(args)
        self.batch_size = 4
        self.crash_after = int(args.get("crash_after", -1))
        self.asked = 0

    def answer(self, questions):
        out = []
        for q in questions:
            if self.asked == self.crash_after:
                raise RuntimeError("killed")
            self.asked += 1
            prompt = format_mqa(prompt_stem(q, EGOCENTRIC), q.options)
            digest = hashlib.sha256(f"{q.id}\n{prompt}".encode()).digest()
            if digest[0] % 5 == 0:
                out.append(Answer(q.id, None, "parse_fail", prompt, 0.0))
            else:
                out.append(Answer(q.id, LETTERS[digest[1] % len(q.options)], "ok", prompt, 0.0))
        return out

    def describe(self):
        return {"name": self.name, "args": self.args}


if "test-shard-sap" not in MODELS:
    MODELS.register("test-shard-sap", lambda ctx: PromptHash(ctx.args), summary="test only")


def make_bench(out, name="shardbench", seed=3):
    """Five videos of different sizes, chains of close actions and pauses, listed video by video."""
    rng = np.random.default_rng(seed)
    records = []
    for video, n in VIDEO_SIZES.items():
        t = 0.5
        for i in range(n):
            end = t + float(rng.uniform(0.4, 2.0))
            classes = rng.choice(64, size=4, replace=False)
            answer = int(rng.integers(4))
            records.append({"id": f"{video}_{i}", "video_id": video, "start": round(t, 2), "end": round(end, 2),
                            "question": EGOCENTRIC, "options": [f"verb{c // 8} noun{c % 8}" for c in classes],
                            "answer_index": answer, "answer_letter": LETTERS[answer],
                            "option_classes": [f"{c // 8}:{c % 8}" for c in classes], "source_ranks": [1, 2, 3, 4]})
            t = round(end, 2) + float(rng.choice([0.5, 1.5, 4.5]))  # 4.5 s breaks a SAP chain
    write_benchmark(out, {"name": name, "dataset": "test", "split": "validation", "source": "test",
                          "source_args": {}, "k": 4, "options": "labels", "seed": seed, "limit": None, "inputs": [],
                          "counts": {}}, records)
    return out


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return make_bench(tmp_path_factory.mktemp("shard") / "b")


@pytest.fixture(scope="module")
def shards(bench, tmp_path_factory):
    """random, seed 0: the unsharded run and its three shard runs (read only: tests copy what they change)."""
    root = tmp_path_factory.mktemp("runs")
    whole = run(RunSpec(model="random", benchmark=str(bench), out=root / "whole"))
    parts = [run(RunSpec(model="random", benchmark=str(bench), out=root / f"s{i}", shard=(i, 3))) for i in range(3)]
    return whole, parts


def lines(run_dir):
    return [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]


def without_timing(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


def untimed(m):
    return {k: v for k, v in m.items() if k not in TIMING}


def copy(run_dir, tmp_path, name=None):
    return shutil.copytree(run_dir, tmp_path / (name or run_dir.name))


# ---- the partition

@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 35])
def test_round_robin_covers_every_question_once_in_order(bench, n):
    questions = list(load_benchmark(bench).questions)
    parts = [sharding.select(questions, sharding.Shard(index=i, count=n, by="question")) for i in range(n)]
    owner = {q.id: i for i, part in enumerate(parts) for q in part}
    assert sum(len(p) for p in parts) == len(owner) == len(questions)  # every question, exactly once
    assert [owner[q.id] for q in questions] == [k % n for k in range(len(questions))]  # question k -> k mod n
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    for part in parts:  # each shard keeps the benchmark's order
        assert [q.id for q in part] == [q.id for q in questions if q in part]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_by_video_keeps_whole_videos_and_deals_largest_first(bench, n):
    questions = list(load_benchmark(bench).questions)
    parts = [sharding.select(questions, sharding.Shard(index=i, count=n, by="video")) for i in range(n)]
    assert sorted(q.id for p in parts for q in p) == sorted(q.id for q in questions)
    videos = [{q.video_id for q in p} for p in parts]
    assert all(videos) and sum(map(len, videos)) == len(VIDEO_SIZES)  # no video split, no shard empty
    # A naive longest-processing-time loop: largest video to the least loaded shard (ties: lowest index).
    loads, expected = [0] * n, [set() for _ in range(n)]
    for video, size in sorted(VIDEO_SIZES.items(), key=lambda kv: -kv[1]):
        i = loads.index(min(loads))
        loads[i] += size
        expected[i].add(video)
    assert videos == expected


def test_by_video_hand_worked_with_ties():
    # sizes a=2, b=2, c=1, d=3 to 2 shards, largest first: d->0, a->1 (tie on load 0: lowest index was taken),
    # b->1 (load 2 < 3), c->0 (load 3 < 4)
    owner = sharding.assign(["a", "a", "b", "b", "c", "d", "d", "d"], 2, "video")
    assert owner == [1, 1, 1, 1, 0, 0, 0, 0]


@pytest.mark.parametrize("text", ["3/3", "1", "-1/3", "a/b", "1/0"])
def test_a_bad_shard_spec_is_refused(text):
    with pytest.raises(ActbenchError) as error:
        sharding.parse(text)
    assert str(error.value) == (f"--shard: field 'shard': expected i/n with 0 <= i < n (shards are numbered from 0), "
                                f"found {text}")


def test_more_shards_than_questions_or_videos_are_refused(bench, tmp_path):
    with pytest.raises(ActbenchError) as error:
        run(RunSpec(model="random", benchmark=str(bench), out=tmp_path / "r", limit=4, shard=(0, 5)))
    assert str(error.value) == "--shard: field 'shard': expected i/n with 0 <= i < n <= 4 (the run has 4 questions), found 0/5"
    with pytest.raises(ActbenchError) as error:
        run(RunSpec(model="test-shard-sap", benchmark=str(bench), out=tmp_path / "r", sap=True, shard=(0, 6)))
    assert str(error.value) == ("--shard: field 'shard': expected i/n with 0 <= i < n <= 5 (the run has 5 videos "
                                "(--sap keeps a video's questions together)), found 0/6")
    assert not (tmp_path / "r").exists()


# ---- shard runs

def test_a_shard_run_answers_its_part_and_says_so(bench, shards):
    _, parts = shards
    questions = list(load_benchmark(bench).questions)
    for i, part in enumerate(parts):
        mine = [q.id for k, q in enumerate(questions) if k % 3 == i]
        assert [r["id"] for r in lines(part)] == mine
        m = metrics(part)
        assert m["n"] == len(mine) and m["part"] == {"shard": f"{i}/3", "by": "question", "questions": len(mine),
                                                     "of": 35}
        info = json.loads((part / "run.json").read_text())
        assert info["shard"] == {"index": i, "count": 3, "by": "question"} and info["merged"] is None
    assert "part" not in metrics(shards[0])
    assert RunSpec(model="random", benchmark="b", shard=(1, 3)).out_dir("b").as_posix() == \
        "results/runs/b/random-shard-1-of-3"


def test_a_killed_shard_resumes_and_refuses_another_shard(bench, tmp_path):
    base = {"model": "test-shard-sap", "benchmark": str(bench), "sap": True, "shard": (1, 3)}
    reference = run(RunSpec(**base, out=tmp_path / "ref"))
    with pytest.raises(RuntimeError, match="killed"):
        run(RunSpec(**base, out=tmp_path / "r", model_args={"crash_after": "6"}))
    assert json.loads((tmp_path / "r" / "run.json").read_text())["status"] == "failed"
    run_json = tmp_path / "r" / "run.json"
    with pytest.raises(ActbenchError) as error:
        run(RunSpec(**{**base, "shard": (2, 3)}, out=tmp_path / "r", resume=True))
    assert str(error.value) == (f"{run_json}: field 'shard': expected {{'index': 2, 'count': 3, 'by': 'video'}} (this "
                                "invocation), found {'index': 1, 'count': 3, 'by': 'video'}")
    with pytest.raises(ActbenchError) as error:
        run(RunSpec(**{**base, "shard": None}, out=tmp_path / "r", resume=True))
    assert str(error.value) == (f"{run_json}: field 'shard': expected None (this invocation), found "
                                "{'index': 1, 'count': 3, 'by': 'video'}")
    out = run(RunSpec(**base, out=tmp_path / "r", resume=True))
    ids = [r["id"] for r in lines(out)]
    assert len(ids) == len(set(ids)) == len(lines(reference))
    key = ("id", "answer", "status", "raw", "sap")
    assert sorted([r[k] for k in key] for r in lines(out)) == sorted([r[k] for k in key] for r in lines(reference))
    assert untimed(metrics(out)) == untimed(metrics(reference))


# ---- merges equal unsharded runs

def test_merge_equals_the_unsharded_run_whatever_the_input_order(bench, shards, tmp_path):
    whole, parts = shards
    a = merge(parts, tmp_path / "a", benchmark=str(bench))
    b = merge([parts[2], parts[0], parts[1]], tmp_path / "b", benchmark=str(bench))
    for name in ("predictions.jsonl", "metrics.json", "run.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert without_timing(lines(a)) == without_timing(lines(whole))  # same answers, in benchmark order
    assert untimed(metrics(a)) == untimed(metrics(whole))
    assert json.dumps(metrics(a)["accuracy_ci95"]) == json.dumps(metrics(whole)["accuracy_ci95"])
    assert metrics(a)["throughput_qps"] is None
    assert metrics(a)["wall_s"] == pytest.approx(sum(metrics(p)["wall_s"] for p in parts), abs=1e-5)
    merged_info, whole_info = (json.loads((d / "run.json").read_text()) for d in (a, whole))
    for key in ("model", "benchmark", "seed", "limit", "permutations", "sap", "frames", "shard", "status"):
        assert merged_info[key] == whole_info[key], key
    assert [(s["index"], s["run_dir"]) for s in merged_info["merged"]["shards"]] == [(i, str(p)) for i, p in
                                                                                     enumerate(parts)]
    assert merged_info["merged"]["missing"] == [] and merged_info["merged"]["count"] == 3
    # `actbench compare` reads it as it reads the unsharded run: the same correctness per question.
    paired = load_paired_runs(a, whole, benchmark=str(bench))
    assert paired.a.correct.tolist() == paired.b.correct.tolist() and paired.a.missing == 0


@pytest.mark.parametrize("model, options", [("random", {"permutations": 2, "limit": 31, "seed": 5}),
                                            ("test-shard-sap", {"sap": True}),
                                            ("test-shard-sap", {"sap": True, "permutations": 1})])
def test_merged_metrics_equal_the_unsharded_run(bench, tmp_path, model, options):
    whole = run(RunSpec(model=model, benchmark=str(bench), out=tmp_path / "whole", **options))
    parts = [run(RunSpec(model=model, benchmark=str(bench), out=tmp_path / f"s{i}", shard=(i, 3), **options))
             for i in range(3)]
    merged = merge(parts[::-1], tmp_path / "m", benchmark=str(bench))
    assert untimed(metrics(merged)) == untimed(metrics(whole))
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731  (SAP journals are in schedule order)
    assert sorted(without_timing(lines(merged)), key=key) == sorted(without_timing(lines(whole)), key=key)
    if not options.get("sap"):
        assert without_timing(lines(merged)) == without_timing(lines(whole))


def test_prior_on_the_mini_benchmark_merges_to_the_unsharded_run(mini, tmp_path):
    bench = tmp_path / "bench"
    build_mqa(BuildSpec(source="prior", out=bench, k=4, data_dir=mini))
    spec = {"model": "prior", "benchmark": str(bench), "data_dir": mini}
    whole = run(RunSpec(**spec, out=tmp_path / "whole"))
    parts = [run(RunSpec(**spec, out=tmp_path / f"s{i}", shard=(i, 3))) for i in range(3)]
    merged = merge(parts, tmp_path / "m", benchmark=str(bench))
    assert (merged / "predictions.jsonl").read_text().count("\n") == 10
    assert without_timing(lines(merged)) == without_timing(lines(whole))
    assert untimed(metrics(merged)) == untimed(metrics(whole))


def test_a_partial_merge_covers_its_shards_and_is_not_ranked(bench, shards, tmp_path):
    whole, parts = shards
    results = tmp_path / "results"
    merged = merge([parts[2], parts[0]], results / "partial", benchmark=str(bench), allow_partial=True)
    info = json.loads((merged / "run.json").read_text())
    assert info["merged"]["missing"] == [1] and [s["index"] for s in info["merged"]["shards"]] == [0, 2]
    m = metrics(merged)
    questions = load_benchmark(bench).questions
    kept = [q for k, q in enumerate(questions) if k % 3 != 1]
    given = {r["id"]: r["answer"] for p in (parts[0], parts[2]) for r in lines(p)}
    correct = sum(given[q.id] == q.answer_letter for q in kept)  # naive accuracy over the kept questions
    assert (m["n"], m["correct"], m["accuracy"]) == (len(kept), correct, round(100 * correct / len(kept), 6))
    assert m["part"] == {"shards": [0, 2], "count": 3, "missing": [1], "questions": len(kept), "of": 35}
    copy(whole, results)
    for p in parts:
        copy(p, results)
    full = merge(parts, results / "full", benchmark=str(bench))
    rows, superseded = collect(results)
    assert sorted(r.run_dir for r in rows + superseded) == ["full", "whole"]  # the same run twice: one row
    assert [(r.model, r.n) for r in rows] == [("random", 35)]
    assert partial_runs(results) == ["partial", "s0", "s1", "s2"]
    assert full.name == "full"
    # `actbench compare` refuses a part: its unanswered questions would count as wrong.
    for part in (merged, parts[0]):
        with pytest.raises(ActbenchError, match=r"run.json: field 'shard': expected a whole run \(join shards with "
                                                r"actbench merge\), found"):
            load_paired_runs(part, whole, benchmark=str(bench))


# ---- refusals: one line, nothing written

def refused(tmp_path, run_dirs, message, **kw):
    out = tmp_path / "merged"
    with pytest.raises(ActbenchError) as error:
        merge(run_dirs, out, **kw)
    assert str(error.value) == message
    assert not out.exists()


def test_refuses_shards_of_another_benchmark(bench, shards, tmp_path):
    other = make_bench(tmp_path / "other", name="shardbench", seed=4)
    stranger = run(RunSpec(model="random", benchmark=str(other), out=tmp_path / "x", shard=(1, 3)))
    sha = load_benchmark(bench).manifest_sha256
    found = load_benchmark(other).manifest_sha256
    parts = shards[1]
    refused(tmp_path, [stranger, parts[0], parts[2]],
            f"{stranger}/run.json: field 'benchmark.manifest_sha256': expected {sha}, the benchmark of "
            f"{parts[0]}/run.json (shards of one run), found {found} (benchmark 'shardbench')", benchmark=str(bench))


@pytest.mark.parametrize("change, field, expected, found", [
    ({"model": "always-a"}, "model", "{'name': 'random', 'args': {'seed': 0}}", "{'name': 'always-a', 'args': {}}"),
    ({"limit": 34}, "limit", "None", "34"),
    ({"permutations": 1}, "permutations", "0", "1"),
])
def test_refuses_shards_of_another_run(bench, shards, tmp_path, change, field, expected, found):
    parts = shards[1]
    spec = {"model": "random", "benchmark": str(bench), "out": tmp_path / "x", "shard": (1, 3), **change}
    stranger = run(RunSpec(**spec))
    refused(tmp_path, [parts[0], stranger, parts[2]],
            f"{stranger}/run.json: field '{field}': expected {expected}, as in {parts[0]}/run.json (shards of one "
            f"run), found {found}", benchmark=str(bench))


def test_refuses_another_seed_or_sap(bench, tmp_path):
    spec = {"model": "test-shard-sap", "benchmark": str(bench)}
    first = run(RunSpec(**spec, out=tmp_path / "a", shard=(0, 2)))
    seeded = run(RunSpec(**spec, out=tmp_path / "b", shard=(1, 2), seed=1))
    refused(tmp_path, [first, seeded], f"{seeded}/run.json: field 'seed': expected 0, as in {first}/run.json (shards "
            "of one run), found 1", benchmark=str(bench))
    with_sap = run(RunSpec(**spec, out=tmp_path / "c", shard=(1, 2), sap=True))
    refused(tmp_path, [with_sap, first], f"{with_sap}/run.json: field 'sap': expected False, as in {first}/run.json "
            "(shards of one run), found True", benchmark=str(bench))


def test_refuses_another_shard_count_and_the_same_shard_twice(bench, shards, tmp_path):
    parts = shards[1]
    halves = run(RunSpec(model="random", benchmark=str(bench), out=tmp_path / "h", shard=(1, 2)))
    refused(tmp_path, [parts[0], halves], f"{halves}/run.json: field 'shard': expected a shard of 3 by question, as "
            f"in {parts[0]}/run.json, found 1/2 by question", benchmark=str(bench))
    twin = copy(parts[1], tmp_path, "twin")
    refused(tmp_path, [twin, *parts], f"{twin}/run.json: field 'shard': expected each shard once (1/3 is also "
            f"{parts[1]}), found 1/3", benchmark=str(bench))


def test_refuses_a_question_answered_in_two_shards_or_outside_its_shard(bench, shards, tmp_path):
    parts = [copy(p, tmp_path) for p in shards[1]]
    stolen = (parts[2] / "predictions.jsonl").read_text().splitlines(keepends=True)[0]
    qid = json.loads(stolen)["id"]
    with open(parts[1] / "predictions.jsonl", "a") as handle:
        handle.write(stolen)
    n1 = len(lines(parts[1]))
    refused(tmp_path, parts, f"{parts[2]}/predictions.jsonl:1: field 'id': expected a question answered in one shard "
            f"only, found {qid}, also answered in {parts[1]}", benchmark=str(bench))
    journal = parts[2] / "predictions.jsonl"
    journal.write_text("".join(journal.read_text().splitlines(keepends=True)[1:]))
    refused(tmp_path, parts, f"{parts[1]}/predictions.jsonl:{n1}: field 'id': expected a question of shard 1/3 of "
            f"benchmark 'shardbench', found {qid}", benchmark=str(bench))


def test_refuses_missing_or_unfinished_shards_unless_allowed(bench, shards, tmp_path):
    parts = shards[1]
    refused(tmp_path, [parts[2], parts[0]], "incomplete set of shards: shard 1/3 missing; pass --allow-partial to "
            "merge the finished ones", benchmark=str(bench))
    broken = copy(parts[1], tmp_path, "broken")
    info = json.loads((broken / "run.json").read_text())
    (broken / "run.json").write_text(json.dumps({**info, "status": "interrupted", "finished_at": None}))
    refused(tmp_path, [parts[0], broken, parts[2]], f"incomplete set of shards: shard 1/3 unfinished (status "
            f"interrupted) in {broken}; pass --allow-partial to merge the finished ones", benchmark=str(bench))
    merged = merge([parts[0], broken, parts[2]], tmp_path / "ok", benchmark=str(bench), allow_partial=True)
    assert json.loads((merged / "run.json").read_text())["merged"]["missing"] == [1]
    refused(tmp_path, [broken], f"no finished shard to merge: shard 0/3 missing; shard 1/3 unfinished (status "
            f"interrupted) in {broken}; shard 2/3 missing", benchmark=str(bench), allow_partial=True)


def test_refuses_whole_runs_an_occupied_out_and_an_unknown_benchmark(bench, shards, tmp_path):
    whole, parts = shards
    refused(tmp_path, [whole, *parts], f"{whole}/run.json: field 'shard': expected a shard run (actbench run --shard "
            "i/n), found none (a whole run)", benchmark=str(bench))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    with pytest.raises(ActbenchError, match="busy: exists and is not an empty directory; choose another --out"):
        merge(parts, tmp_path / "busy", benchmark=str(bench))
    refused(tmp_path, parts, f"{parts[0]}/run.json: field 'benchmark.name': expected a benchmark directory or built "
            f"card under {tmp_path} (or pass --benchmark DIR), found shardbench", results=tmp_path)


# ---- the command line

def test_cli_shard_merge_report(bench, tmp_path):
    cli = CliRunner()
    runs = tmp_path / "runs"
    for i in range(3):
        result = cli.invoke(app, ["run", "--model", "random", "--benchmark", str(bench), "--shard", f"{i}/3",
                                  "--out", str(runs / f"s{i}")])
        assert result.exit_code == 0, result.output
        assert f"(shard {i}/3 of 35) -> {runs / f's{i}'}" in result.stdout
    result = cli.invoke(app, ["run", "--model", "random", "--benchmark", str(bench), "--shard", "3/3",
                              "--out", str(runs / "bad")])
    assert result.exit_code == 2 and result.stderr.strip() == ("actbench: error: --shard: field 'shard': expected i/n "
                                                               "with 0 <= i < n (shards are numbered from 0), found 3/3")
    result = cli.invoke(app, ["merge", str(runs / "s0"), str(runs / "s2"), "--out", str(runs / "m"),
                              "--benchmark", str(bench)])
    assert result.exit_code == 2 and not (runs / "m").exists()
    assert result.stderr == ("actbench: error: incomplete set of shards: shard 1/3 missing; pass --allow-partial to "
                             "merge the finished ones\n")
    result = cli.invoke(app, ["merge", *(str(runs / f"s{i}") for i in (2, 1, 0)), "--out", str(runs / "m"),
                              "--benchmark", str(bench)])
    assert result.exit_code == 0, result.output
    m = metrics(runs / "m")
    assert result.stdout == (f"merged 3 of 3 shards of random on shardbench: accuracy {m['accuracy']:.2f}% "
                             f"[{m['accuracy_ci95'][0]:.2f}, {m['accuracy_ci95'][1]:.2f}] over 35 questions -> "
                             f"{runs / 'm'}\n")
    result = cli.invoke(app, ["report", str(runs), "--format", "csv", "--format", "md"])
    assert result.exit_code == 0, result.output
    rows = (runs / "leaderboard.csv").read_text().splitlines()[1:]
    assert len(rows) == 1 and rows[0].startswith("shardbench,random,35,") and ",m," in rows[0]
    assert "Not ranked: 3 run(s) answer only part of their questions" in (runs / "leaderboard.md").read_text()
    assert Counter(r["status"] for r in lines(runs / "m")) == {"ok": 35}
