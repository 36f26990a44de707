"""The OpenAI adapter against the fake OpenAI-compatible server: the real client over real HTTP.

Nothing of the client is mocked; the server (tests/helpers/fake_openai_server.py) scripts replies,
logprobs, usage and faults, and records what it received.
"""

from __future__ import annotations

import _thread
import base64
import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openai")

from actbench.errors import ActbenchError  # noqa: E402
from actbench.model_adapters import MODELS  # noqa: E402
from actbench.model_adapters.base import AdapterContext  # noqa: E402
from actbench.model_adapters.openai_api import (  # noqa: E402
    gpt_4o_adapter,
    gpt_4o_mini_adapter,
    openai_adapter,
    parse_retry_after,
)
from actbench.model_adapters.pricing import Price, image_tokens, price_for  # noqa: E402
from actbench.prompts import ALLOCENTRIC, EGOCENTRIC  # noqa: E402
from actbench.records import Question  # noqa: E402
from tests.helpers.fake_openai_server import FakeOpenAIServer, prompt_text  # noqa: E402

SECRET = "sk-test-SECRETKEY-0123456789abcdefXYZ"


@pytest.fixture
def server():
    with FakeOpenAIServer(max_hang_s=3.0) as fake:
        yield fake


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def make_questions(n: int, k: int = 4) -> list[Question]:
    nouns = ["plate", "cup", "knife", "tap", "onion", "pan"]
    return [Question(id=f"q_{i}", video_id="P01_01", start=float(i), end=i + 1.5, question=EGOCENTRIC,
                     options=tuple(f"take {nouns[(i + j) % len(nouns)]} {j}" for j in range(k)),
                     answer_index=0, answer_letter="A", option_classes=tuple(f"0:{j}" for j in range(k)),
                     source_ranks=tuple(range(1, k + 1))) for i in range(n)]


def adapter_for(server, factory=openai_adapter, **args):
    args = {"model": "fake-model", "base_url": server.url, "backoff": "0.01", **args}
    if factory is not openai_adapter:
        args.pop("model")
    return factory(AdapterContext(seed=0, args={k: str(v) for k, v in args.items()}))


def ask(server, questions, **args):
    with adapter_for(server, **args) as adapter:
        return adapter.answer(questions), adapter


# ---- letters
def test_letter_from_logprobs_merges_the_space_forms(server):
    server.reply = lambda body: "B"
    server.top_logprobs = lambda body, reply: [("B", 0.40), (" A", 0.35), ("A", 0.20), ("The", 0.05)]
    (answer,), _ = ask(server, make_questions(1))
    # A = 0.35 + 0.20 beats B = 0.40 once "A" and " A" are merged; renormalised over the letters only.
    assert (answer.answer, answer.status, answer.extra["how"]) == ("A", "ok", "logprobs")
    assert answer.extra["letter_probs"] == pytest.approx({"A": 0.55 / 0.95, "B": 0.40 / 0.95}, abs=1e-6)
    assert answer.raw == "B"
    body = server.seen[0].body
    assert body["logprobs"] is True and body["top_logprobs"] == 10 and body["max_tokens"] == 16


def test_letter_from_text_when_the_server_gives_no_logprobs(server):
    server.logprobs_supported = False
    replies = {0: "The answer is (C) take knife 2.", 1: "I'm sorry, I can't determine that from the video.",
               2: "Maybe the blue one", 3: "**D**"}
    server.reply = lambda body: replies[_index(body)]
    answers, _ = ask(server, make_questions(4))
    assert [(a.answer, a.status) for a in answers] == [("C", "ok"), (None, "refused"), (None, "parse_fail"),
                                                      ("D", "ok")]
    assert answers[0].extra["how"] == "answer_is" and answers[0].raw == replies[0]


def _index(body) -> int:
    """The question number, read back from the prompt's first option ("take <noun> 0")."""
    nouns = ["plate", "cup", "knife", "tap", "onion", "pan"]
    first = prompt_text(body).split("\nA. take ")[1].split()[0]
    return nouns.index(first)


def test_a_reply_in_words_is_parsed_even_with_logprobs(server):
    server.reply = lambda body: "The answer is B."
    (answer,), _ = ask(server, make_questions(1))
    assert (answer.answer, answer.extra["how"]) == ("B", "answer_is")


def test_default_server_answers_are_deterministic_and_logprobs_agree_with_text(server):
    questions = make_questions(12)
    first, _ = ask(server, questions)
    server.logprobs_supported = False
    second, _ = ask(server, questions)
    assert [a.answer for a in first] == [a.answer for a in second]
    assert {a.extra["how"] for a in first} == {"logprobs"} and {a.status for a in second} == {"ok"}
    assert len({a.answer for a in first}) > 1


def test_allocentric_perspective_and_structured_output(server):
    ask(server, make_questions(1), perspective="allocentric", structured_output="guided_choice")
    ask(server, make_questions(1, k=5), structured_output="structured_outputs")
    first, second = (s.body for s in server.seen)
    assert prompt_text(first).startswith(ALLOCENTRIC) and first["guided_choice"] == ["A", "B", "C", "D"]
    assert prompt_text(second).startswith(EGOCENTRIC)
    assert second["structured_outputs"] == {"choice": ["A", "B", "C", "D", "E"]}
    assert first["messages"][0]["content"].endswith("Answer with the option's letter from the given choices "
                                                    "directly.")
    with pytest.raises(ActbenchError, match="structured_output"):
        openai_adapter(AdapterContext(args={"model": "m", "structured_output": "guided_choice"}))


# ---- frames
def test_frames_go_as_base64_jpeg_data_urls(server):
    clip = np.stack([np.full((24, 32, 3), 40 * i, np.uint8) for i in range(3)])  # N x H x W x 3
    with adapter_for(server, detail="low") as adapter:
        assert adapter.uses_frames
        answers = adapter.answer(make_questions(3), frames=[clip, np.zeros((2, 5), np.float32), None])
    assert answers[0].status == "ok" and answers[2].status == "ok"
    assert answers[1].status == "error" and "a frame must be a uint8" in answers[1].raw
    assert server.count == 2  # nothing sent for the question whose frames are unusable
    content = next(s.body for s in server.seen if isinstance(s.body["messages"][0]["content"], list))
    content = content["messages"][0]["content"]
    assert [part["type"] for part in content] == ["image_url"] * 3 + ["text"]
    for part in content[:3]:
        url = part["image_url"]["url"]
        assert url.startswith("data:image/jpeg;base64,") and part["image_url"]["detail"] == "low"
        assert base64.b64decode(url.split(",", 1)[1])[:2] == b"\xff\xd8"  # a JPEG
    assert image_tokens(512, 512, "high") == 255 and image_tokens(2048, 4096, "high") == 85 + 170 * 6
    assert not adapter_for(server, text_only=True).uses_frames


def test_without_frames_the_prompt_is_text_only(server):
    ask(server, make_questions(1))
    assert isinstance(server.seen[0].body["messages"][0]["content"], str)


# ---- failures
def test_429_waits_what_retry_after_says(server):
    server.inject("429", retry_after="1")
    t0 = time.perf_counter()
    (answer,), adapter = ask(server, make_questions(1))
    elapsed = time.perf_counter() - t0
    assert answer.status == "ok" and answer.extra["attempts"] == 2
    assert server.seen[1].at - server.seen[0].at >= 1.0 and elapsed < 3.0
    assert adapter.stats["rate_limited"] == 1 and adapter.stats["retries"] == 1
    assert adapter.stats["retry_wait_s"] >= 1.0
    server.inject("429", retry_after_ms="300")
    ask(server, make_questions(1))
    assert server.seen[3].at - server.seen[2].at >= 0.3


def test_429_asking_for_too_long_a_wait_fails_at_once(server):
    server.inject("429", retry_after="3600")
    t0 = time.perf_counter()
    (answer,), _ = ask(server, make_questions(1))
    assert answer.status == "error" and "Retry-After 3600 s" in answer.raw and time.perf_counter() - t0 < 2


def test_500_is_retried_then_succeeds_and_gives_up_after_max_retries(server):
    server.inject("500", times=2)
    (answer,), _ = ask(server, make_questions(1))
    assert answer.status == "ok" and answer.extra["attempts"] == 3 and server.count == 3
    server.inject("500", times=math.inf)
    (answer,), _ = ask(server, make_questions(1), max_retries=2)
    assert answer.status == "error" and answer.raw.startswith("HTTP 500") and "(3 attempts)" in answer.raw
    assert answer.answer is None and server.count == 6


def test_a_hang_times_out_into_an_error_and_a_retry_can_recover(server):
    server.inject("hang", seconds=3)
    t0 = time.perf_counter()
    (answer,), _ = ask(server, make_questions(1), timeout=0.3, max_retries=0)
    assert answer.status == "error" and "timeout after 0.3 s" in answer.raw
    assert time.perf_counter() - t0 < 1.5
    server.inject("hang", seconds=3)
    (answer,), _ = ask(server, make_questions(1), timeout=0.3, max_retries=1)
    assert answer.status == "ok" and answer.extra["attempts"] == 2


@pytest.mark.parametrize("kind", ["malformed", "no_choices"])
def test_a_malformed_body_is_an_error_not_retried(server, kind):
    server.inject(kind)
    (answer,), _ = ask(server, make_questions(1))
    assert answer.status == "error" and answer.raw.startswith("malformed response") and server.count == 1


def test_bad_key_stops_the_run_without_showing_the_key(server):
    server.inject("401", message=f"Incorrect API key provided: {SECRET}")
    with pytest.raises(ActbenchError) as caught:
        ask(server, make_questions(3))
    assert "HTTP 401" in str(caught.value) and "OPENAI_API_KEY" in str(caught.value)
    assert SECRET not in str(caught.value) and "sk-test" not in str(caught.value)
    assert server.seen[0].headers["authorization"] == f"Bearer {SECRET}"  # the key came from the environment


# ---- concurrency
def test_concurrency_is_bounded(server):
    server.latency = 0.05
    answers, adapter = ask(server, make_questions(40), concurrency=4)
    assert adapter.batch_size % 4 == 0 and adapter.batch_size >= 16
    assert server.max_in_flight == 4 and server.count == 40
    assert [a.id for a in answers] == [f"q_{i}" for i in range(40)]
    assert all(a.latency_s >= 0.05 for a in answers)


def test_ctrl_c_hands_back_the_answers_already_complete(server):
    server.latency = 0.3
    with adapter_for(server, concurrency=4) as adapter:
        # Interrupt once the server holds the second wave: a request of it is sent only after one of the
        # first wave came back, so all four of those are complete, and the second wave needs 0.3 s more.
        # (An event, not a timer: a loaded machine must not turn this into a race.)
        stop = threading.Event()

        def interrupt_in_second_wave():
            while not stop.is_set():
                if server.count >= 8:
                    _thread.interrupt_main()
                    return
                time.sleep(0.005)

        watcher = threading.Thread(target=interrupt_in_second_wave, daemon=True)
        watcher.start()
        try:
            with pytest.raises(KeyboardInterrupt) as caught:
                adapter.answer(make_questions(8))
        finally:
            stop.set()
    partial = caught.value.partial_answers
    assert [a.id for a in partial] == ["q_0", "q_1", "q_2", "q_3"]
    assert all(a.status == "ok" for a in partial)


# ---- cost
def test_cost_from_the_price_table(server):
    server.usage = lambda body, reply: (1234, 5)
    (answer,), adapter = ask(server, make_questions(1), factory=gpt_4o_adapter)
    assert (answer.tokens_in, answer.tokens_out) == (1234, 5)
    assert answer.cost_usd == pytest.approx(1234 * 2.50 / 1e6 + 5 * 10.00 / 1e6, abs=1e-12)  # $0.003135
    assert server.seen[0].body["model"] == "gpt-4o"
    (answer,), _ = ask(server, make_questions(1), factory=gpt_4o_mini_adapter)
    assert answer.cost_usd == pytest.approx(1234 * 0.15 / 1e6 + 5 * 0.60 / 1e6, abs=1e-12)
    assert Price(input_per_1m=2.0, output_per_1m=8.0, cached_input_per_1m=0.5).cost(1000, 10, cached_in=400) \
        == pytest.approx((600 * 2.0 + 400 * 0.5 + 10 * 8.0) / 1e6)
    (answer,), _ = ask(server, make_questions(1))  # a local model has no price
    assert answer.cost_usd == 0.0 and answer.tokens_in == 1234


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_user_price_file_overrides_the_table(server, tmp_path, suffix):
    path = tmp_path / f"prices{suffix}"
    if suffix == ".toml":
        path.write_text('schema_version = 1\n[models."fake-model"]\ninput_per_1m = 3.0\noutput_per_1m = 7.0\n')
    else:
        path.write_text(json.dumps({"models": {"fake-model": {"input_per_1m": 3.0, "output_per_1m": 7.0}}}))
    server.usage = lambda body, reply: (100, 2)
    (answer,), adapter = ask(server, make_questions(1), prices=path)
    assert answer.cost_usd == pytest.approx((100 * 3.0 + 2 * 7.0) / 1e6)
    assert adapter.describe()["args"]["price_usd_per_1m"]["input_per_1m"] == 3.0
    assert price_for("gpt-4o").input_per_1m == 2.50  # the built-in table is untouched


def test_a_bad_price_file_names_the_file_and_the_field(server, tmp_path):
    path = tmp_path / "prices.toml"
    path.write_text('[models."fake-model"]\ninput_per_1m = -1\noutput_per_1m = 7.0\n')
    with pytest.raises(ActbenchError, match=r"prices.toml: field 'models.fake-model.input_per_1m'"):
        adapter_for(server, prices=path)


def test_max_cost_is_never_exceeded_and_the_rest_is_not_sent(server, tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"fake-model": {"input_per_1m": 1.0, "output_per_1m": 1.0}}}))
    server.usage = lambda body, reply: (1000, 1)  # $0.001001 per question
    with adapter_for(server, prices=path, max_cost=0.0055, concurrency=2) as adapter:
        answers = adapter.answer(make_questions(20))
        sent = [a for a in answers if a.status == "ok"]
        unsent = [a for a in answers if a.status != "ok"]
        assert sum(a.cost_usd for a in answers) <= 0.0055
        assert 3 <= len(sent) <= 5 and len(sent) == server.count
        assert {a.raw for a in unsent} == {"budget exhausted (max_cost=0.0055)"}
        assert adapter.budget_exhausted and adapter.spent_usd == pytest.approx(len(sent) * 0.001001)
        assert {a.status for a in adapter.answer(make_questions(3))} == {"error"}  # and it stays spent
        assert server.count == len(sent)
    with pytest.raises(ActbenchError, match="max_cost"):
        adapter_for(server, max_cost=1.0)  # no price for fake-model: the budget could not be enforced


# ---- description, arguments, secrets
def test_describe_records_the_arguments_but_no_secret(server):
    url = server.url.replace("http://", "http://user:hunter2@") + "?token=abc"
    adapter = openai_adapter(AdapterContext(seed=3, args={"model": "llama", "base_url": url,
                                                          "concurrency": "16"}))
    described = adapter.describe()
    assert described["name"] == "openai:llama"
    args = described["args"]
    assert args["base_url"] == server.url and args["concurrency"] == 16 and args["seed"] == 3
    assert args["perspective"] == "benchmark" and args["text_only"] is False
    assert args["price_usd_per_1m"] is None
    assert SECRET not in repr(adapter) and SECRET not in str(vars(adapter).get("args"))
    assert adapter.batch_size % 16 == 0
    text = json.dumps(described)
    assert SECRET not in text and "hunter2" not in text and "token=abc" not in text
    gpt = gpt_4o_adapter(AdapterContext()).describe()
    assert gpt["name"] == "gpt-4o" and gpt["args"]["base_url"] == "https://api.openai.com/v1"
    assert gpt["args"]["price_usd_per_1m"] == {"input_per_1m": 2.5, "output_per_1m": 10.0,
                                               "cached_input_per_1m": 1.25}


def test_argument_errors_are_user_errors(monkeypatch):
    with pytest.raises(ActbenchError, match="field 'concurrency'"):
        openai_adapter(AdapterContext(args={"model": "m", "concurrency": "0"}))
    with pytest.raises(ActbenchError, match="field 'temprature'"):
        openai_adapter(AdapterContext(args={"model": "m", "temprature": "0"}))
    with pytest.raises(ActbenchError, match="field 'model'"):
        openai_adapter(AdapterContext(args={}))
    with pytest.raises(ActbenchError, match="field 'model'"):
        gpt_4o_adapter(AdapterContext(args={"model": "gpt-4o-2024-05-13"}))
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ActbenchError, match="set the environment variable OPENAI_API_KEY"):
        gpt_4o_adapter(AdapterContext())


def test_a_local_server_needs_no_key(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    (answer,), _ = ask(server, make_questions(1))
    assert answer.status == "ok" and server.seen[0].headers["authorization"] == "Bearer EMPTY"


def test_retry_after_header_forms():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "soon"}) is None and parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past


def test_a_run_leaves_the_key_in_no_file_and_no_error(server, tmp_path):
    from actbench.mqa_builder.build import BuildSpec, build_mqa
    from actbench.runner import RunSpec, run
    from tests.helpers.mini_ek100 import make_mini_ek100

    for name, target in (("openai", openai_adapter), ("gpt-4o", gpt_4o_adapter)):
        if name not in MODELS:
            MODELS.register(name, target, summary="test registration")
    bench = tmp_path / "bench"
    build_mqa(BuildSpec(source="prior", out=bench, k=4, data_dir=make_mini_ek100(tmp_path / "data")))
    # Error bodies that echo the key, and every failure path, so that a leak would have somewhere to go.
    echo = f"bad request from key {SECRET} (Bearer {SECRET})"
    server.inject("500", times=math.inf, message=echo, when=lambda body: "cupboard" in prompt_text(body))
    server.inject("429", times=2, retry_after="0", message=echo)
    server.inject("malformed", times=1)
    out = run(RunSpec(model="openai", benchmark=str(bench), out=tmp_path / "run",
                      model_args={"model": "fake-model", "base_url": server.url, "max_retries": "1",
                                  "backoff": "0.01", "text_only": "true"}))
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    statuses = {r["status"] for r in records}
    assert "error" in statuses and "ok" in statuses
    assert any("HTTP 500" in r["raw"] and "[redacted]" in r["raw"] for r in records)
    assert all({"tokens_in", "tokens_out", "cost_usd", "latency_s"} <= set(r) for r in records)
    for path in Path(out).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data and b"SECRETKEY" not in data, path
    server.inject("401", times=math.inf, message=echo)
    with pytest.raises(ActbenchError) as caught:
        run(RunSpec(model="gpt-4o", benchmark=str(bench), out=tmp_path / "run2",
                    model_args={"base_url": server.url, "text_only": "true"}))
    assert SECRET not in str(caught.value) and "SECRETKEY" not in repr(caught.value)
    for path in Path(tmp_path / "run2").rglob("*"):
        if path.is_file():
            assert b"SECRETKEY" not in path.read_bytes(), path


@pytest.mark.parametrize("http_client", ["httpx", "aiohttp"])
def test_both_http_layers_retry_and_time_out(server, http_client):
    if http_client == "aiohttp":
        pytest.importorskip("aiohttp")
    server.inject("500")
    server.inject("hang", seconds=3, when=lambda body: "take cup 0" in prompt_text(body))
    answers, _ = ask(server, make_questions(2), http_client=http_client, timeout=0.3, max_retries=1)
    assert answers[0].status == "ok" and answers[0].extra["attempts"] == 2
    assert answers[1].status == "ok" and answers[1].extra["attempts"] == 2
    server.inject("hang", seconds=3, times=2)
    (answer,), _ = ask(server, make_questions(1), http_client=http_client, timeout=0.3, max_retries=1)
    assert answer.status == "error" and "timeout" in answer.raw


def test_a_run_with_video_sends_the_sampled_frames(server, tmp_path, monkeypatch):
    """End to end: the runner samples frames (rgb_frames layout) and the adapter sends them as JPEGs."""
    from PIL import Image

    from actbench.mqa_builder.build import BuildSpec, build_mqa
    from actbench.runner import RunSpec, run
    from tests.helpers.mini_ek100 import make_mini_ek100

    monkeypatch.setenv("ACTBENCH_FRAME_CACHE", str(tmp_path / "cache"))
    if "gpt-4o" not in MODELS:
        MODELS.register("gpt-4o", gpt_4o_adapter, summary="test registration")
    bench = tmp_path / "bench"
    build_mqa(BuildSpec(source="prior", out=bench, k=4, data_dir=make_mini_ek100(tmp_path / "data")))
    first = [json.loads(line) for line in (bench / "questions.jsonl").read_text().splitlines()[:2]]
    for video in {q["video_id"] for q in first}:
        folder = tmp_path / "videos" / video.split("_")[0] / "rgb_frames" / video
        folder.mkdir(parents=True)
        last = max(q["end"] for q in first if q["video_id"] == video)
        for k in range(1, int(last * 50) + 3):  # 50 fps, 1-based names
            Image.new("RGB", (48, 32), (k % 256, 0, 0)).save(folder / f"frame_{k:010d}.jpg")
    out = run(RunSpec(model="gpt-4o", benchmark=str(bench), out=tmp_path / "run", limit=2,
                      video_root=tmp_path / "videos", video_layout="rgb_frames", n_frames=4, frame_size=32,
                      model_args={"base_url": server.url, "detail": "low"}))
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok", "ok"]
    for seen in server.seen:
        parts = seen.body["messages"][0]["content"]
        assert [p["type"] for p in parts] == ["image_url"] * 4 + ["text"]
    assert json.loads((out / "run.json").read_text())["frames"]["n_frames"] == 4


def test_max_cost_stops_the_run_cleanly_and_a_larger_budget_resumes_it(server, tmp_path):
    from actbench.mqa_builder.build import BuildSpec, build_mqa
    from actbench.runner import RunSpec, run
    from tests.helpers.mini_ek100 import make_mini_ek100

    bench = tmp_path / "bench"
    build_mqa(BuildSpec(source="prior", out=bench, k=4, data_dir=make_mini_ek100(tmp_path / "data")))
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": {"fake-model": {"input_per_1m": 1.0, "output_per_1m": 1.0}}}))
    # $0.000101 per question; fewer tokens than the prompt has bytes, as with any real tokenizer (the
    # budget's estimate before the first usage comes back is the prompt's size in bytes)
    server.usage = lambda body, reply: (100, 1)
    args = {"base_url": server.url, "text_only": "true", "prices": str(prices), "concurrency": "1"}
    spec = dict(model="openai:fake-model", benchmark=str(bench), out=tmp_path / "run")
    with pytest.raises(ActbenchError, match=r"stopped before exceeding the budget after 4 of 10 questions"):
        run(RunSpec(**spec, model_args={**args, "max_cost": "0.00045"}))
    journal = (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()
    assert len(journal) == 4 and server.count == 4  # the unsent ones are not journaled as errors
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "stopped"
    # the budget covers the run: resuming with 0.0045 again sends nothing more
    with pytest.raises(ActbenchError, match="after 4 of 10"):
        run(RunSpec(**spec, resume=True, model_args={**args, "max_cost": "0.00045"}))
    assert server.count == 4
    out = run(RunSpec(**spec, resume=True, model_args={**args, "max_cost": "0.002"}))
    ids = [json.loads(line)["id"] for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 10 and server.count == 10
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["cost_usd"] == pytest.approx(10 * 0.000101) and metrics["model"] == "openai:fake-model"
