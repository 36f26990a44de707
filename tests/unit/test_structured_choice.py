"""Structured-output letter choice (structured_choice.py) through the OpenAI adapter and `actbench run`.

The fake server (tests/helpers/fake_openai_server.py) applies the constraints as vLLM and SGLang do, ignores
the fields it does not honour as they do, or refuses them with vLLM's 400; it records every request body.
The letters a constrained server picks are recomputed here from the requests' prompts (sha256), without the
adapter.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("openai")

from actbench.cli import app
from actbench.errors import ActbenchError
from actbench.model_adapters.base import AdapterContext
from actbench.model_adapters.openai_api import gpt_4o_adapter, openai_adapter
from actbench.model_adapters.structured_choice import MODES_HINT, is_refusal
from actbench.prompts import EGOCENTRIC
from actbench.records import LETTERS, Question
from tests.helpers.fake_openai_server import FakeOpenAIServer, prompt_text

SECRET = "sk-test-SECRETKEY-0123456789abcdefXYZ"
cli = CliRunner()

# Written out by hand: what each engine documents (vLLM structured outputs docs; SGLang's ChatCompletionRequest;
# OpenAI's response_format), for a question with five options.
ABCDE = ["A", "B", "C", "D", "E"]
FIELDS = {
    "structured_outputs": {"structured_outputs": {"choice": ABCDE}},
    "guided_choice": {"guided_choice": ABCDE},
    "regex": {"regex": "(A|B|C|D|E)"},
    "json_schema": {"response_format": {"type": "json_schema", "json_schema": {
        "name": "mqa_answer", "strict": True,
        "schema": {"type": "object", "properties": {"answer": {"type": "string", "enum": ABCDE}},
                   "required": ["answer"], "additionalProperties": False}}}},
}
APPLIED = {"structured_outputs": "structured_outputs.choice", "guided_choice": "guided_choice", "regex": "regex",
           "json_schema": "response_format"}


@pytest.fixture
def server():
    with FakeOpenAIServer(max_hang_s=3.0) as fake:
        yield fake


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def make_question(k: int = 5, i: int = 0) -> Question:
    return Question(id=f"q_{i}", video_id="P01_01", start=1.0, end=2.5, question=EGOCENTRIC,
                    options=tuple(f"take thing{i} {j}" for j in range(k)), answer_index=0, answer_letter="A",
                    option_classes=tuple(f"0:{j}" for j in range(k)), source_ranks=tuple(range(1, k + 1)))


def ask(server, questions, **args):
    args = {"model": "fake-model", "base_url": server.url, "backoff": "0.01", **args}
    with openai_adapter(AdapterContext(seed=0, args={k: str(v) for k, v in args.items()})) as adapter:
        return adapter.answer(questions)


def picked(prompt: str, k: int) -> str:
    """The letter the fake server's constrained decoding picks: the first byte of the prompt's sha256."""
    return LETTERS[hashlib.sha256(prompt.encode("utf-8")).digest()[0] % k]


# ---- the request, and the reply read back
@pytest.mark.parametrize("mode", list(FIELDS))
def test_each_mode_sends_its_engine_field_and_reads_the_constrained_reply(server, mode):
    (answer,) = ask(server, [make_question()], structured_output=mode)
    (seen,) = server.seen
    body = dict(seen.body)
    content = body.pop("messages")
    assert body == {"model": "fake-model", "max_tokens": 16, "temperature": 0.0, "seed": 0, "logprobs": True,
                    "top_logprobs": 10, **FIELDS[mode]}
    assert content == [{"role": "user", "content": prompt_text(seen.body)}]
    assert prompt_text(seen.body).startswith(EGOCENTRIC) and "\nE. take thing0 4\n" in prompt_text(seen.body)
    assert seen.applied == APPLIED[mode]  # the server did constrain the reply
    letter = picked(prompt_text(seen.body), 5)
    assert (answer.answer, answer.status, answer.extra["how"]) == (letter, "ok", "structured")
    assert answer.raw == (json.dumps({"answer": letter}) if mode == "json_schema" else letter)


def test_the_constrained_reply_decides_and_the_reported_probabilities_are_kept(server):
    question = make_question(k=4)
    server.choose = lambda body, allowed: "C"
    server.top_logprobs = lambda body, reply: [("C", 0.2), ("B", 0.7), (" B", 0.1)]
    (answer,) = ask(server, [question], structured_output="structured_outputs")
    assert (answer.answer, answer.raw) == ("C", "C")
    assert answer.extra["letter_probs"] == pytest.approx({"B": 0.8, "C": 0.2})
    (answer,) = ask(server, [question], structured_output="json_schema")  # first token "{": no letter probs
    assert (answer.answer, answer.raw) == ("C", '{"answer": "C"}') and "letter_probs" not in answer.extra


def test_a_reply_cut_by_max_tokens_is_a_parse_fail_with_the_raw_kept(server):
    server.truncate_at = 6
    (answer,) = ask(server, [make_question()], structured_output="json_schema")
    assert (answer.answer, answer.status, answer.raw, answer.extra["how"]) == (
        None, "parse_fail", '{"answ', "structured_truncated")


# ---- end to end through `actbench run`
def build_bench(mini, tmp_path) -> Path:
    bench = tmp_path / "bench"
    result = cli.invoke(app, ["build-mqa", "--source", "prior", "--k", "4", "--out", str(bench),
                              "--data-dir", str(mini)])
    assert result.exit_code == 0, result.output
    return bench


def run_cli(server, bench, out, mode, *more):
    return cli.invoke(app, ["run", "--model", "openai:fake-model", "--base-url", server.url, "--benchmark",
                            str(bench), "--out", str(out), "--model-arg", f"structured_output={mode}",
                            "--model-arg", "text_only=true", "--model-arg", "backoff=0.01", *more])


def assert_no_key_in(folder: Path) -> None:
    files = [path for path in folder.rglob("*") if path.is_file()]
    assert files
    for path in files:
        assert b"SECRETKEY" not in path.read_bytes(), path


@pytest.mark.parametrize("mode", list(FIELDS))
def test_a_run_through_the_cli_scores_the_servers_choices(server, mini, tmp_path, mode):
    bench = build_bench(mini, tmp_path)
    questions = [json.loads(line) for line in (bench / "questions.jsonl").read_text().splitlines()]
    result = run_cli(server, bench, tmp_path / "run", mode)
    assert result.exit_code == 0, result.output
    # Which letter the server picked for each question, from the prompt it received.
    prompts = [prompt_text(seen.body) for seen in server.seen]
    assert len(prompts) == len(questions) == 10
    expected = {}
    for q in questions:
        lines = "\n".join(f"{LETTERS[j]}. {option}" for j, option in enumerate(q["options"]))
        (prompt,) = {p for p in prompts if lines in p}
        expected[q["id"]] = picked(prompt, len(q["options"]))
    correct = sum(expected[q["id"]] == q["answer_letter"] for q in questions)
    assert 0 < correct < len(questions)  # a score that could have come out otherwise
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(100.0 * correct / len(questions))
    assert metrics["status_counts"]["ok"] == 10
    assert f"accuracy {100.0 * correct / len(questions):.2f}%" in result.stdout
    records = {r["id"]: r for r in map(json.loads, (tmp_path / "run" / "predictions.jsonl").read_text().splitlines())}
    assert {i: r["answer"] for i, r in records.items()} == expected
    assert {r["how"] for r in records.values()} == {"structured"}
    assert {seen.applied for seen in server.seen} == {APPLIED[mode]}
    run_info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run_info["model"]["args"]["structured_output"] == mode
    # The key went to the server, and nowhere into the run directory.
    assert server.seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert_no_key_in(tmp_path / "run")


# ---- a server that does not apply the constraint stops the run
def test_a_server_refusing_the_field_stops_the_run_with_one_line(server, mini, tmp_path):
    bench = build_bench(mini, tmp_path)
    server.refuses = {"guided_choice": f"guided_choice is not supported (request with key {SECRET})"}
    result = run_cli(server, bench, tmp_path / "run", "guided_choice", "--concurrency", "1")
    assert result.exit_code == 2
    assert result.stderr == (
        f"actbench: error: model 'openai:fake-model': {server.url} refused --model-arg "
        "structured_output=guided_choice (HTTP 400: guided_choice is not supported (request with key "
        f"[redacted])); use a mode this server supports: {MODES_HINT}\n")
    # Not retried (no prompt twice), never sent without the field, and the run stopped at once: the one request
    # in flight when the refusal came back is all that follows it.
    prompts = [prompt_text(seen.body) for seen in server.seen]
    assert len(set(prompts)) == len(prompts) <= 2
    assert all(seen.body["guided_choice"] == ["A", "B", "C", "D"] for seen in server.seen)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"
    assert_no_key_in(tmp_path / "run")


def test_a_server_ignoring_the_field_stops_the_run_at_the_first_free_reply(server, mini, tmp_path):
    bench = build_bench(mini, tmp_path)
    first = json.loads((bench / "questions.jsonl").read_text().splitlines()[0])["id"]
    server.honours = {"structured_outputs", "response_format"}  # vLLM >= 0.12: guided_choice is ignored
    server.reply = lambda body: f"The answer is B (key {SECRET})"
    result = run_cli(server, bench, tmp_path / "run", "guided_choice", "--concurrency", "1")
    assert result.exit_code == 2
    assert result.stderr == (
        f"actbench: error: model 'openai:fake-model': {server.url} did not apply --model-arg "
        f"structured_output=guided_choice: its reply to {first} is 'The answer is B (key [redacted])', not one "
        "of A, B, C, D (vLLM >= 0.12 ignores guided_choice, SGLang ignores structured_outputs); use a mode "
        f"this server supports: {MODES_HINT}\n")
    assert server.count <= 2 and {seen.applied for seen in server.seen} == {None}
    assert_no_key_in(tmp_path / "run")
    # The same server applies structured_outputs: the run goes through.
    result = run_cli(server, bench, tmp_path / "run2", "structured_outputs")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("mode, status, message, refused", [
    ("regex", 400, "Unrecognized request argument supplied: regex", True),  # OpenAI
    ("guided_choice", 400, "Unrecognized request argument supplied: guided_choice", True),
    ("json_schema", 400, ("Invalid parameter: 'response_format' of type 'json_schema' is not supported with "
                          "this model."), True),
    ("structured_outputs", 400, ("You can only use one kind of constraints for structured outputs ('json', "
                                 "'regex' or 'choice')."), True),  # vLLM
    ("regex", 422, ("Error code: 422 - {'detail': [{'type': 'extra_forbidden', 'loc': ['body', 'regex'], "
                    "'msg': 'Extra inputs are not permitted'}]}"), True),  # a strict pydantic server
    ("structured_outputs", 400, "This model's maximum context length is 8192 tokens.", False),  # one question
    ("regex", 500, "regex backend crashed", False),  # a server error: retried as any 5xx
    ("off", 400, "Unrecognized request argument supplied: regex", False),
])
def test_which_http_errors_are_refusals_of_the_field(mode, status, message, refused):
    assert is_refusal(mode, status, message) is refused


def test_a_400_that_is_not_about_the_field_fails_only_its_question(server):
    server.refuses = {"regex": "This model's maximum context length is 8192 tokens."}
    (answer,) = ask(server, [make_question()], structured_output="regex")
    assert answer.status == "error" and answer.raw == "HTTP 400: This model's maximum context length is 8192 tokens."


# ---- arguments
def test_server_only_modes_need_base_url_and_json_schema_works_with_openai(server):
    with pytest.raises(ActbenchError) as caught:
        openai_adapter(AdapterContext(args={"model": "m", "structured_output": "regex"}))
    assert str(caught.value) == ("--model-arg: field 'structured_output': expected off or json_schema unless "
                                 "base_url names a vLLM or SGLang server, found regex")
    with pytest.raises(ActbenchError, match=r"field 'structured_output': expected input should be 'off', "):
        openai_adapter(AdapterContext(args={"model": "m", "base_url": server.url, "structured_output": "choice"}))
    adapter = gpt_4o_adapter(AdapterContext(args={"structured_output": "json_schema"}))
    assert adapter.describe()["args"]["structured_output"] == "json_schema"
