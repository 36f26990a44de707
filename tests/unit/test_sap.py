"""Sequential action prediction (--sap): the rule, the prompt, and runs checked against a naive sequential loop."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import replace
from typing import ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from actbench import sap
from actbench.cli import app
from actbench.errors import ActbenchError
from actbench.evaluators.circular import rotate
from actbench.model_adapters import MODELS
from actbench.mqa_builder.benchmark_dir import load_benchmark, write_benchmark
from actbench.prompts import EGOCENTRIC, format_mqa
from actbench.records import LETTERS, Answer, Question
from actbench.runner import RunInfo, RunSpec, run
from actbench.training_data.prior_actions import prior_question

C5_QUESTION = "What action are you currently performing?"


# ---- a deterministic adapter whose answer depends on the whole prompt it is given

def decide(qid: str, prompt: str) -> Answer:
    """Letter from a hash of (id, prompt); about one answer in five is a parse failure."""
    digest = hashlib.sha256(f"{qid}\n{prompt}".encode()).digest()
    n_options = prompt.count("\n") - 1
    if digest[0] % 5 == 0:
        return Answer(qid, None, "parse_fail", prompt, 0.0)
    return Answer(qid, LETTERS[digest[1] % n_options], "ok", prompt, 0.0)


class PromptHash:
    name = "test-sap-hash"
    sees_prior_actions = True
    runtime_args = ("batch_size", "crash_after")
    calls: ClassVar[list[list[str]]] = []  # ids of every batch, in order (last run)

    def __init__(self, args):
        self.args = dict(args)
        self.batch_size = int(args.get("batch_size", 4))
        self.crash_after = int(args.get("crash_after", -1))
        self.asked = 0
        PromptHash.calls = []

    def answer(self, questions):
        PromptHash.calls.append([q.id for q in questions])
        out = []
        for q in questions:
            if self.asked == self.crash_after:
                raise RuntimeError("killed")
            self.asked += 1
            out.append(decide(q.id, format_mqa(sap.prompt_stem(q, EGOCENTRIC), q.options)))
        return out

    def describe(self):
        return {"name": self.name, "args": self.args}


if "test-sap-hash" not in MODELS:
    MODELS.register("test-sap-hash", lambda ctx: PromptHash(ctx.args), summary="test only")


# ---- an independent reference: one video at a time, one question at a time

def _number(qid):
    return int(qid.rsplit("_", 1)[1].split("#")[0])


def naive_previous(questions, max_gap=3.0):
    """id -> (a_{t-2}, a_{t-1}) by a plain loop over each video's questions in time order."""
    by_video = defaultdict(list)
    for q in questions:
        by_video[q.video_id].append(q)
    out = {}
    for qs in by_video.values():
        qs.sort(key=lambda q: (q.start, q.end, _number(q.id)))
        for i in range(2, len(qs)):
            if qs[i].start - qs[i - 1].end <= max_gap + 1e-6 and qs[i - 1].start - qs[i - 2].end <= max_gap + 1e-6:
                out[qs[i].id] = (qs[i - 2].id, qs[i - 1].id)
    return out


def naive_sap(questions):
    """Answers and fed-back texts asking strictly one question after the other, in video order."""
    previous = naive_previous(questions)
    answers, fed = {}, {}
    for q in sorted(questions, key=lambda q: (q.video_id, q.start, q.end, _number(q.id))):
        pieces, texts = [], []
        for pid in previous.get(q.id, ()):
            p, a = next(x for x in questions if x.id == pid), answers[pid]
            text = p.options[LETTERS.index(a.answer)] if a.status == "ok" else None
            texts.append((pid, text))
            if text is not None:
                pieces.append(f"{q.start - p.start:.2f} seconds ago, you started an action {text}.")
        stem = " ".join(pieces + [C5_QUESTION]) if pieces else EGOCENTRIC
        answers[q.id] = decide(q.id, format_mqa(stem, q.options))
        fed[q.id] = texts
    return answers, fed


# ---- a benchmark with several videos, pauses over 3 s, overlaps, a tie, shuffled lines

@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    rng = np.random.default_rng(7)
    verbs = ["take", "put", "wash", "open", "close", "cut", "stir", "pour"]
    nouns = ["plate", "knife", "cup", "onion", "tap", "pan", "lid", "bowl"]
    records = []
    for v, video in enumerate(["P01_11", "P02_03", "P03_01", "P04_07"]):
        n, t = 9 + 3 * v, 0.5
        numbers = rng.permutation(n)  # narration numbers are not the time order
        for i in range(n):
            start = t if i != 4 else records[-1]["start"]  # one tie on start (ends differ)
            end = start + float(rng.uniform(0.4, 2.0))
            classes = rng.choice(len(verbs) * len(nouns), size=4, replace=False)
            answer = int(rng.integers(4))
            records.append({"id": f"{video}_{numbers[i]}", "video_id": video, "start": round(start, 2),
                            "end": round(end, 2), "question": EGOCENTRIC,
                            "options": [f"{verbs[c // 8]} {nouns[c % 8]}" for c in classes],
                            "answer_index": answer, "answer_letter": LETTERS[answer],
                            "option_classes": [f"{c // 8}:{c % 8}" for c in classes],
                            "source_ranks": [1, 2, 3, 4]})
            t = round(end, 2) + float(rng.choice([-0.3, 0.5, 1.5, 3.0, 4.5]))  # 4.5 breaks the chain
    order = rng.permutation(len(records))
    out = tmp_path_factory.mktemp("sap") / "b"
    write_benchmark(out, {"name": "sapbench", "dataset": "test", "split": "validation", "source": "test",
                          "source_args": {}, "k": 4, "options": "labels", "seed": 0, "limit": None, "inputs": [],
                          "counts": {}}, [records[i] for i in order])
    return out


def questions_of(bench):
    return list(load_benchmark(bench).questions)


def journal(run_dir):
    return [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]


def outcome(run_dir):
    """What must not depend on batching or resumption: each question's answer, prompt and feedback."""
    return {r["id"]: (r["answer"], r["status"], r["raw"], r["sap"]) for r in journal(run_dir)}


def sap_run(bench, out, **kw):
    args = {k: str(kw.pop(k)) for k in ("batch_size", "crash_after") if k in kw}
    return run(RunSpec(model="test-sap-hash", benchmark=str(bench), out=out, sap=True, model_args=args, **kw))


# ---- the rule and the prompt

def test_previous_actions_are_the_training_rule_by_hand():
    def q(qid, video, start, end):
        return Question(qid, video, start, end, EGOCENTRIC, ("a", "b"), 0, "A", ("0:0", "0:1"), (1, 2))

    asked = [q("V_0", "V", 0.0, 1.0), q("V_1", "V", 4.0, 5.0),  # gap exactly 3 s: in
             q("V_2", "V", 4.5, 6.0),  # overlap: in -> V_2 gets (V_0, V_1)
             q("V_3", "V", 9.01, 9.5),  # gap 3.01 s: out
             q("V_4", "V", 10.0, 11.0),  # previous V_3 is close but V_3 had a pause before it: out
             q("V_5", "V", 11.5, 12.0),  # (V_3, V_4): in
             q("W_0", "W", 0.0, 0.5), q("W_1", "W", 1.0, 1.5)]  # another video: only two questions
    plan = sap.plan(asked[::-1], where="b")  # file order does not matter
    assert dict(plan.previous) == {"V_2": ("V_0", "V_1"), "V_5": ("V_3", "V_4")}
    assert plan.order == ("V_0", "V_1", "V_2", "V_3", "V_4", "V_5", "W_0", "W_1")


def test_plan_matches_a_naive_loop_on_the_real_validation_split(ek100):
    clips = ek100.split("validation")
    asked = [Question(c.narration_id, c.video_id, c.start, c.end, EGOCENTRIC, ("a", "b"), 0, "A", ("0:0", "0:1"),
                      (1, 2)) for c in clips]
    plan = sap.plan(asked, where="b")
    reference = naive_previous(asked)
    assert dict(plan.previous) == reference
    assert 0.5 * len(asked) < len(reference) < len(asked)  # most validation clips follow closely


def test_the_prompt_is_appendix_c5_as_the_training_builder_writes_it():
    slots = [{"offset_s": 5.138, "text": "open cupboard"}, {"offset_s": 3.2, "text": "take plate"}]
    sentence = sap.prior_sentence(slots)
    assert sentence == prior_question("take plate", 3.2, "open cupboard", 5.138)
    q = Question("x", "v", 9.0, 10.0, EGOCENTRIC, ("wash cup", "take knife"), 0, "A", ("2:2", "0:1"), (1, 2))
    asked = sap.with_context(q, {"previous": [], "prompt": sentence})
    assert format_mqa(sap.prompt_stem(asked, EGOCENTRIC), asked.options) == (
        "5.14 seconds ago, you started an action open cupboard. 3.20 seconds ago, you started an action take "
        "plate. What action are you currently performing? Here are the options of actions you can select:\n"
        "A. wash cup\nB. take knife\nAnswer with the option's letter from the given choices directly.")
    assert asked.question == sentence
    nothing = sap.with_context(q, {"previous": [], "prompt": None})
    assert sap.prompt_stem(nothing, "PERSPECTIVE") == "PERSPECTIVE" and nothing.question == EGOCENTRIC
    assert sap.prompt_stem(q, "PERSPECTIVE") == "PERSPECTIVE"


def test_a_benchmark_without_clip_times_cannot_do_sap():
    q = Question("x_0", "x", 0.0, 1.0, EGOCENTRIC, ("a", "b"), 0, "A", ("0:0", "0:1"), (1, 2))
    with pytest.raises(ActbenchError) as error:
        sap.plan([q, replace(q, id="x_1", start=None)], where="b/questions.jsonl")
    assert str(error.value) == ("b/questions.jsonl (x_1): field 'start': expected clip times in seconds (--sap "
                                "orders each video's questions by start time), found None")


# ---- runs

def test_a_sap_run_is_the_sequential_reference_at_every_batch_size(bench, tmp_path):
    answers, fed = naive_sap(questions_of(bench))
    texts = [t for slots in fed.values() for _, t in slots]
    assert texts.count(None) >= 3 and len(texts) - texts.count(None) >= 20  # both kinds of slot occur
    outcomes = []
    for size in (1, 3, 100):
        out = sap_run(bench, tmp_path / f"b{size}", batch_size=size)
        got = outcome(out)
        assert {qid: (a, s, raw) for qid, (a, s, raw, _) in got.items()} == \
               {a.id: (a.answer, a.status, a.raw) for a in answers.values()}
        assert {qid: [(s["id"], s["text"]) for s in record["previous"]] for qid, (*_, record) in got.items()} == fed
        outcomes.append(got)
    assert outcomes[0] == outcomes[1] == outcomes[2]


def test_journal_records_what_was_fed_back(bench, tmp_path):
    out = sap_run(bench, tmp_path / "r")
    by_id = {q.id: q for q in questions_of(bench)}
    records = journal(out)
    fed_two = 0
    for r in records:
        q = by_id[r["id"]]
        for slot in r["sap"]["previous"]:
            p, prev = by_id[slot["id"]], next(x for x in records if x["id"] == slot["id"])
            assert slot["offset_s"] == round(q.start - p.start, 6) and slot["status"] == prev["status"]
            assert slot["answer"] == prev["answer"]
            if prev["status"] == "ok":
                i = LETTERS.index(prev["answer"])
                assert (slot["text"], slot["class"]) == (p.options[i], p.option_classes[i])
            else:
                assert slot["text"] is None and slot["class"] is None
        fed_two += sum(s["text"] is not None for s in r["sap"]["previous"]) == 2
        assert r["sap"]["prompt"] == sap.prior_sentence(r["sap"]["previous"])
        assert r["raw"].startswith(r["sap"]["prompt"] or EGOCENTRIC)
    info = json.loads((out / "run.json").read_text())
    assert info["sap"] is True
    metrics = json.loads((out / "metrics.json").read_text())
    counts = [sum(s["text"] is not None for s in r["sap"]["previous"]) for r in records if r["sap"]["previous"]]
    assert metrics["sap"] == {"askings": len(records), "with_previous": len(counts), "fed_two": fed_two,
                              "fed_one": counts.count(1), "fed_none": counts.count(0)}


def test_batches_span_videos_and_follow_the_dependency_chain(bench, tmp_path):
    questions = questions_of(bench)
    previous = naive_previous(questions)
    depth = {}
    for q in sorted(questions, key=lambda q: (q.video_id, q.start, q.end, _number(q.id))):
        depth[q.id] = 1 + max((depth[p] for p in previous.get(q.id, ())), default=0)
    sap_run(bench, tmp_path / "big", batch_size=100)
    assert len(PromptHash.calls) == max(depth.values())  # one call per step of the longest chain
    assert len({qid.split("_")[0] for qid in PromptHash.calls[0]}) == 4
    sap_run(bench, tmp_path / "one", batch_size=1)  # one at a time: strictly video order
    assert [c[0] for c in PromptHash.calls] == \
           [q.id for q in sorted(questions, key=lambda q: (q.video_id, q.start, q.end, _number(q.id)))]


def test_a_killed_sap_run_resumes_to_the_uninterrupted_answers(bench, tmp_path):
    whole = outcome(sap_run(bench, tmp_path / "whole", batch_size=3))
    crashed = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="killed"):
        sap_run(bench, crashed, batch_size=3, crash_after=17)
    assert 0 < len(journal(crashed)) < len(whole)
    sap_run(bench, crashed, batch_size=5, resume=True)
    assert outcome(crashed) == whole
    cut = tmp_path / "cut"  # killed while writing a line, with answers of later chains already in
    sap_run(bench, cut, batch_size=4)
    lines = (cut / "predictions.jsonl").read_text().splitlines(keepends=True)
    (cut / "predictions.jsonl").write_text("".join(lines[:25]) + lines[25][:40])
    (cut / "metrics.json").unlink()
    sap_run(bench, cut, batch_size=2, resume=True)
    assert outcome(cut) == whole and len(journal(cut)) == len(whole)


def test_rotations_are_chains_of_their_own(bench, tmp_path):
    questions = questions_of(bench)
    plain = outcome(sap_run(bench, tmp_path / "plain", batch_size=7))
    rotated = outcome(sap_run(bench, tmp_path / "rot", batch_size=7, permutations=2))
    assert {k: v for k, v in rotated.items() if "#" not in k} == plain
    for shift in (1, 2):
        answers, fed = naive_sap([rotate(q, shift) for q in questions])
        assert {k: (v[0], v[2]) for k, v in rotated.items() if k.endswith(f"#r{shift}")} == \
               {a.id: (a.answer, a.raw) for a in answers.values()}
        assert {k: [(s["id"], s["text"]) for s in v[3]["previous"]] for k, v in rotated.items()
                if k.endswith(f"#r{shift}")} == fed


def test_refusals_and_the_default_run_directory(bench, tmp_path):
    with pytest.raises(ActbenchError) as error:
        run(RunSpec(model="oracle", benchmark=str(bench), out=tmp_path / "o", sap=True))
    assert str(error.value) == ("model 'oracle' does not put the prior-action sentence in its prompt "
                                "(sees_prior_actions), so --sap could not change its answers")
    assert not (tmp_path / "o").exists()
    run(RunSpec(model="test-sap-hash", benchmark=str(bench), out=tmp_path / "p"))  # a plain run
    with pytest.raises(ActbenchError, match=r"run.json: field 'sap': expected True \(this invocation\), found False"):
        run(RunSpec(model="test-sap-hash", benchmark=str(bench), out=tmp_path / "p", sap=True, resume=True))
    assert "sap" not in journal(tmp_path / "p")[0]
    out = run(RunSpec(model="test-sap-hash", benchmark=str(bench), results=tmp_path / "results", sap=True))
    assert out == tmp_path / "results" / "runs" / "sapbench" / "test-sap-hash-sap"
    info = json.loads((tmp_path / "p" / "run.json").read_text())
    del info["sap"]  # a run.json written before SAP existed reads as a plain run
    assert RunInfo.model_validate(info).sap is False


def test_cli_sap(bench, tmp_path):
    result = CliRunner().invoke(app, ["run", "--model", "test-sap-hash", "--benchmark", str(bench), "--out",
                                      str(tmp_path / "r"), "--sap"])
    assert result.exit_code == 0, result.output
    assert "(SAP) ->" in result.stdout and json.loads((tmp_path / "r" / "run.json").read_text())["sap"] is True
    result = CliRunner().invoke(app, ["run", "--model", "always-a", "--benchmark", str(bench), "--out",
                                      str(tmp_path / "a"), "--sap"])
    assert result.exit_code == 2 and "actbench: error: model 'always-a' does not put" in result.stderr
