"""The ``llavaction-action-token`` adapter: a trained tiny action-token checkpoint answering a benchmark
through the real runner, with the inputs it was trained on (CPU, seconds)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("PIL")

from actbench.errors import ActbenchError
from actbench.model_adapters import MODELS
from actbench.model_adapters.base import AdapterContext
from actbench.model_adapters.video import FrameSampler
from actbench.mqa_builder.benchmark_dir import load_benchmark
from actbench.mqa_builder.build import BuildSpec, build_mqa
from actbench.prompts import EGOCENTRIC, PROMPT_KEY
from actbench.recipes.action_token_data import collate
from actbench.recipes.action_token_task import ActionTokenTask
from actbench.runner import RunSpec, run
from actbench.sap import KEY as SAP_KEY
from actbench.training_data.mqa import mqa_conversation
from actbench.training_data.prior_actions import prior_question
from tests.helpers.tiny_mllm import build_llava_onevision

NAME = "llavaction-action-token"
N_FRAMES, FRAME_SIZE = 2, 16
CLASSES = {"verb_classes": 4, "noun_classes": 5, "action_classes": 6}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _frame_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTBENCH_FRAME_CACHE", str(tmp_path / "frame-cache"))


def _write_frames(root: Path, video_id: str, seconds: float) -> None:
    """rgb_frames layout at 50 fps: frame k is a colour that changes along the video (clips differ)."""
    from PIL import Image

    folder = root / video_id.split("_")[0] / "rgb_frames" / video_id
    folder.mkdir(parents=True)
    tint = 40 if video_id.startswith("P01") else 200
    for k in range(1, int(seconds * 50) + 3):
        Image.new("RGB", (24, 16), ((7 * k) % 256, (3 * k) % 256, tint)).save(folder / f"frame_{k:010d}.jpg")


@pytest.fixture(scope="module")
def world(mini, tmp_path_factory):
    """The benchmark, its frames, and a checkpoint trained a few steps on MQA records of the same clips."""
    root = tmp_path_factory.mktemp("action_token_adapter")
    bench = root / "bench"
    build_mqa(BuildSpec(source="prior", out=bench, k=4, data_dir=mini))
    questions = load_benchmark(bench).questions
    videos = root / "videos"
    for video in sorted({q.video_id for q in questions}):
        _write_frames(videos, video, max(q.end for q in questions if q.video_id == video))
    sampler = FrameSampler(n_frames=N_FRAMES, size=FRAME_SIZE, layout="rgb_frames", cache=None)

    def frames(record: dict) -> np.ndarray:
        return sampler.frames(videos, record["video"].split("/")[-1][:-4], record["start"], record["end"]).frames

    records = [{"id": f"{q.id}/mqa", "video": f"{q.video_id[:3]}/videos/{q.video_id}.MP4", "start": q.start,
                "end": q.end, "conversations": mqa_conversation(EGOCENTRIC, list(q.options), q.answer_index),
                "verb": q.answer_index, "noun": q.answer_index, "action": q.answer_index} for q in questions]
    (root / "train.json").write_text(json.dumps(records), encoding="utf-8")
    build_llava_onevision(root / "tiny")
    task = ActionTokenTask.from_recipe({
        "model": {"model_path": str(root / "tiny")}, "action_token": CLASSES,
        "data": {"num_frames": N_FRAMES, "sources": [{"path": str(root / "train.json")}]},
        "train": {"micro_batch": 5, "seed": 0}}, frames=frames)
    torch.manual_seed(0)
    model = task.build_model()
    optimizer = torch.optim.AdamW(task.param_groups(model, 3e-3))
    for epoch in range(2):
        for batch in task.batches(epoch, 0):
            loss, _ = task.loss(model, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    task.save_model(model, root / "checkpoint")
    return {"root": root, "bench": bench, "questions": questions, "videos": videos, "sampler": sampler,
            "task": task, "checkpoint": root / "checkpoint", "reference": task.load_model(root / "checkpoint").eval()}


def _adapter(world, **args):
    return MODELS.get(NAME)(AdapterContext(args={"checkpoint": str(world["checkpoint"]), "device": "cpu",
                                                 "dtype": "float32", **args}))


@pytest.fixture(scope="module")
def adapter(world):
    return _adapter(world)


def _frames(world, q) -> np.ndarray:
    return world["sampler"].frames_for(world["videos"], q).frames


def _training_reference(world, q, stem: str = EGOCENTRIC) -> tuple[list[int], dict[str, float]]:
    """The prompt ids of the training record of ``q`` and its letter probabilities, computed from the
    model's full logits at the position before the answer, with a naive log-sum-exp over spellings."""
    task, model = world["task"], world["reference"]
    record = {"id": q.id, "video": "x", "start": q.start, "end": q.end,
              "conversations": mqa_conversation(stem, list(q.options), 0)}
    example = task.encoder.encode(record, _frames(world, q))  # the training path
    answer_at = next(k for k, label in enumerate(example.labels) if label != -100)
    with torch.no_grad():
        logits = model.lm_logits(collate([example], task.encoder.slot_id))[0, answer_at - 1].tolist()
    scores = {}
    for letter in q.letters:
        ids = {task.tokenizer.encode(form, add_special_tokens=False)[0] for form in (letter, " " + letter)}
        scores[letter] = math.log(sum(math.exp(logits[i]) for i in ids))
    total = sum(math.exp(s) for s in scores.values())
    return example.input_ids[:answer_at], {letter: math.exp(s) / total for letter, s in scores.items()}


# ---- end to end through the runner
def test_a_run_answers_the_benchmark_as_the_trained_model_would(world, tmp_path):
    out = run(RunSpec(model=NAME, benchmark=str(world["bench"]), out=tmp_path / "run", video_root=world["videos"],
                      video_layout="rgb_frames", n_frames=N_FRAMES, frame_size=FRAME_SIZE,
                      model_args={"checkpoint": str(world["checkpoint"]), "device": "cpu", "batch_size": "3"}))
    lines = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == [q.id for q in world["questions"]]
    assert {line["status"] for line in lines} == {"ok"}
    for line, q in zip(lines, world["questions"]):
        _, expected = _training_reference(world, q)
        probs = json.loads(line["raw"])
        assert probs == pytest.approx(expected, abs=1e-5)
        assert line["answer"] == max(expected, key=expected.get)
    described = json.loads((out / "run.json").read_text())["model"]
    weights = (world["checkpoint"] / "action_token.safetensors").read_bytes()
    assert described["name"] == NAME and described["args"]["action_token_sha256"] == hashlib.sha256(weights).hexdigest()
    assert described["args"]["checkpoint"] == str(world["checkpoint"])
    assert described["args"]["action_token"]["verb_classes"] == 4
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 10 and 0 <= metrics["accuracy"] <= 100


def test_the_prompt_is_the_training_records_and_the_plain_model_reads_it_without_the_token(world, adapter):
    from actbench.model_adapters.hf_video_mllm import HFVideoArgs
    from actbench.model_adapters.hf_video_mllm import load as load_plain

    plain = load_plain("llava-onevision-0.5b", HFVideoArgs(model_path=str(world["checkpoint"]), device="cpu",
                                                           dtype="float32"))
    slot = adapter.encoder.slot_id
    for q in world["questions"][:3]:
        frames = _frames(world, q)
        example = adapter.example(q, frames)
        training_ids, _ = _training_reference(world, q)
        assert example.input_ids == training_ids  # same template, prompt, visual tokens and slot
        video = [k for k, t in enumerate(example.input_ids) if t == adapter.encoder.video_id]
        assert example.action_positions == [video[-1] + 1] and example.input_ids[video[-1] + 1] == slot
        text, encoded = plain._prompt(q, frames)  # hf_video_mllm's MQA prompt of the same question
        plain_ids = plain.tokenizer(text, add_special_tokens=False)["input_ids"]
        assert plain_ids == example.input_ids[: video[-1] + 1] + example.input_ids[video[-1] + 2:]
        assert torch.equal(encoded.tensors["pixel_values_videos"], example.pixel_values_videos)
        ours = adapter.letter_logits([example])[0]
        batch = collate([example], slot)
        with torch.no_grad():
            assert torch.allclose(ours, world["reference"].lm_logits(batch)[0, -1], atol=1e-5)
            without = plain.model(input_ids=torch.tensor([plain_ids]), pixel_values_videos=encoded.tensors[
                "pixel_values_videos"][None]).logits[0, -1]
        assert not torch.allclose(ours, without, atol=1e-2)  # the token changes what the model reads


def test_answers_do_not_depend_on_the_batch(world, adapter):
    questions = world["questions"]
    frames = [_frames(world, q) for q in questions]
    runs = {}
    for size in (1, 4, 10):
        adapter.batch_size = size
        runs[size] = adapter.answer(questions, frames=frames)
    adapter.batch_size = 4
    one = runs[1]
    assert len({len(adapter.example(q, f).input_ids) for q, f in zip(questions, frames)}) > 1  # padding happens
    assert len({a.raw for a in one}) == len(one)  # the probabilities depend on the question
    for size in (4, 10):
        assert [a.answer for a in runs[size]] == [a.answer for a in one]
        for a, b in zip(runs[size], one):
            assert json.loads(a.raw) == pytest.approx(json.loads(b.raw), abs=1e-5)
    assert {a.extra["batch"] for a in runs[10]} == {10}


# ---- prior actions and own prompts
def test_sap_asks_the_prior_action_sentence_of_the_training_records(world, adapter, tmp_path):
    q = world["questions"][3]
    sentence = prior_question("take knife", 1.1, "open cupboard", 2.2)
    asked = type(q)(**{**{f: getattr(q, f) for f in q.__dataclass_fields__}, "extra": {SAP_KEY: {"prompt": sentence}}})
    training_ids, expected = _training_reference(world, q, stem=sentence)
    assert adapter.example(asked, _frames(world, q)).input_ids == training_ids
    (answer,) = adapter.answer([asked], frames=[_frames(world, q)])
    assert json.loads(answer.raw) == pytest.approx(expected, abs=1e-5)
    out = run(RunSpec(model=NAME, benchmark=str(world["bench"]), out=tmp_path / "sap", video_root=world["videos"],
                      video_layout="rgb_frames", n_frames=N_FRAMES, frame_size=FRAME_SIZE, sap=True,
                      model_args={"checkpoint": str(world["checkpoint"]), "device": "cpu"}))
    lines = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    fed = [line for line in lines if line["sap"]["prompt"]]
    assert fed and {line["status"] for line in lines} == {"ok"}


def test_a_question_with_its_own_prompt_is_asked_that_prompt(world, adapter):
    q = world["questions"][0]
    own = "How hard is this? A. easy B. hard"
    rating = type(q)(q.id, q.video_id, q.start, q.end, own, ("easy", "hard"), None, None, ("l:1", "l:2"),
                     (None, None), {PROMPT_KEY: own})
    with_video = adapter.example(rating, _frames(world, q))
    assert adapter.tokenizer.decode(with_video.input_ids).endswith(f"\n{own}<|im_end|>\n<|im_start|>assistant\n")
    text_only, plain_mqa = adapter.answer([rating, q])  # no frames: the rating request goes text-only
    assert text_only.status == "ok" and text_only.extra["video"] is False
    assert text_only.tokens_in == len(adapter.tokenizer.encode(
        f"<|im_start|>user \n{own}<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False))
    assert plain_mqa.status == "error" and plain_mqa.raw.startswith("no video frames")


# ---- user errors
def test_bad_checkpoints_are_one_line_errors(world, tmp_path):
    with pytest.raises(ActbenchError) as caught:
        MODELS.get(NAME)(AdapterContext(args={"device": "cpu"}))
    assert str(caught.value) == ("--model-arg: field 'checkpoint': expected the folder an action-token training run "
                                 "saved (checkpoint=DIR, e.g. results/train/RECIPE/final), found None")
    with pytest.raises(ActbenchError) as caught:
        _adapter(world, checkpoint=str(tmp_path / "nowhere"))
    assert str(caught.value) == ("--model-arg: field 'checkpoint': expected an existing folder saved by an "
                                 f"action-token training run, found {tmp_path / 'nowhere'}")
    plain = world["root"] / "tiny"  # a LLaVA-OneVision folder without the token
    with pytest.raises(ActbenchError) as caught:
        _adapter(world, checkpoint=str(plain))
    assert str(caught.value) == (f"{plain}: field 'action_token.json': expected the files an action-token training "
                                 "run saves (config.json, action_token.json, action_token.safetensors) (a plain "
                                 "LLaVA-OneVision folder runs with --model llava-onevision-0.5b --model-path DIR), "
                                 "found missing")
    with pytest.raises(ActbenchError, match="field 'checkpoint': expected the same folder as model_path"):
        _adapter(world, model_path=str(plain))
    with pytest.raises(ActbenchError, match="field 'batch_size'"):
        _adapter(world, batch_size="0")


def test_the_cli_exits_2_with_one_line_for_a_bad_checkpoint(world, tmp_path):
    from typer.testing import CliRunner

    from actbench.cli import app

    result = CliRunner().invoke(app, ["run", "--model", NAME, "--benchmark", str(world["bench"]), "--out",
                                      str(tmp_path / "run"), "--model-path", str(tmp_path / "nowhere"),
                                      "--video-root", str(world["videos"])])
    assert result.exit_code == 2
    expected = ("actbench: error: --model-arg: field 'checkpoint': expected an existing folder saved by an "
                f"action-token training run, found {tmp_path / 'nowhere'}")
    assert result.stderr.strip().splitlines() == [expected]
    assert not (tmp_path / "run").exists()
