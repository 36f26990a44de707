"""Local video MLLMs (LLaVA-OneVision / LLaVA-Video, Qwen2.5-VL, InternVL) on tiny random-weight
checkpoints of the real architectures, loaded and run through the adapter's own code path."""

from __future__ import annotations

import dataclasses

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from actbench.prompts import EGOCENTRIC
from actbench.errors import ActbenchError  # noqa: E402
from actbench.model_adapters import hf_video_mllm as hf  # noqa: E402
from actbench.model_adapters.answer_parser import parse_answer  # noqa: E402
from actbench.model_adapters.base import AdapterContext, ModelAdapter  # noqa: E402
from actbench.model_adapters.hf_families import FAMILIES, smart_resize  # noqa: E402
from actbench.records import Question  # noqa: E402
from tests.helpers.tiny_mllm import BUILDERS, pattern_frames, synthetic_frames  # noqa: E402

ARCHS = sorted(BUILDERS)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One torch thread: these models are tiny, and on a loaded 2-core machine two threads contend so
    badly that a small matrix product gets 100 times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_mllm")
    return {arch: build(root / arch) for arch, build in BUILDERS.items()}


def _question(i: int, n_options: int = 5, words: int = 1) -> Question:
    options = tuple(" ".join([f"verb{i}{j} noun{j}"] * words) for j in range(n_options))
    return Question(f"P01_01_{i}", "P01_01", 2.0 + i, 3.5 + 1.3 * i, EGOCENTRIC, options, 0, "A",
                    tuple(f"{j}:{j}" for j in range(n_options)), tuple(range(1, n_options + 1)))


# Mixed option counts and prompt lengths: a batch of these is left-padded.
QUESTIONS = [_question(0, 5, 1), _question(1, 3, 4), _question(2, 5, 9), _question(3, 2, 2), _question(4, 4, 6)]


def _frames(arch: str):
    # LLaVA-OneVision stacks the videos of a forward pass, so its clips share a frame count; the others
    # take a different count and size per question.
    if arch == "llava_onevision":
        table = {q.id: synthetic_frames(i, n=4, height=48, width=80) for i, q in enumerate(QUESTIONS)}
    else:
        table = {q.id: synthetic_frames(i, n=3 + i % 3, height=48 + 8 * (i % 2), width=80)
                 for i, q in enumerate(QUESTIONS)}
    return lambda q: table[q.id]


def _load(checkpoints, arch: str, **args) -> hf.HFVideoMLLM:
    return hf.load(f"tiny-{arch}", hf.HFVideoArgs(model_path=str(checkpoints[arch]), device="cpu", **args),
                   model_id=f"tiny/{arch}", frame_source=_frames(arch))


@pytest.fixture(scope="module")
def adapters(checkpoints) -> dict[str, hf.HFVideoMLLM]:
    return {arch: _load(checkpoints, arch, batch_size=8) for arch in ARCHS}


def _probs(answer) -> np.ndarray:
    return np.array(list(answer.extra["letter_probs"].values()))


# ---- the model table and the factories


def test_model_table_names_the_papers_models():
    assert hf.MODEL_IDS == {
        "llava-onevision-0.5b": "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
        "llava-onevision-7b": "llava-hf/llava-onevision-qwen2-7b-ov-hf",
        "llava-video-7b": "llava-hf/LLaVA-Video-7B-Qwen2-hf",
        "qwen2.5-vl-7b": "Qwen/Qwen2.5-VL-7B-Instruct",
        "internvl3-8b": "OpenGVLab/InternVL3-8B-hf",
    }
    for name in hf.MODEL_IDS:
        assert callable(getattr(hf, name.replace("-", "_").replace(".", "_") + "_adapter"))


def test_factory_loads_from_model_path_and_follows_the_checkpoint(checkpoints):
    adapter = hf.llava_onevision_0_5b_adapter(AdapterContext(seed=0, args={
        "model_path": str(checkpoints["llava_onevision"]), "device": "cpu", "batch_size": "3"}))
    assert isinstance(adapter, ModelAdapter)
    assert adapter.batch_size == 3 and adapter.name == "llava-onevision-0.5b"
    described = adapter.describe()
    json.dumps(described)  # recorded in run.json
    args = described["args"]
    assert args["model_id"] == "llava-hf/llava-onevision-qwen2-0.5b-ov-hf"
    assert args["architecture"] == "llava_onevision" and args["chat_template"] == "chat_template.json"
    assert args["video_processor"]["size"] == {"height": 56, "width": 56}
    assert args["letter_forms"]["A"] == ["A", " A"]


def test_bad_model_argument_is_a_one_line_user_error(checkpoints):
    with pytest.raises(ActbenchError, match="batch_size"):
        hf.qwen2_5_vl_7b_adapter(AdapterContext(args={"batch_size": "0"}))
    with pytest.raises(ActbenchError, match="field 'colour'"):
        hf.internvl3_8b_adapter(AdapterContext(args={"colour": "red"}))


# ---- missing weights


def test_missing_weights_name_the_model_and_the_fix(tmp_path):
    with pytest.raises(ActbenchError) as caught:
        hf.llava_video_7b_adapter(AdapterContext(args={"cache_dir": str(tmp_path / "empty-cache")}))
    message = str(caught.value)
    assert "\n" not in message
    assert "llava-hf/LLaVA-Video-7B-Qwen2-hf" in message
    assert "--model-arg model_path=DIR" in message and "cache" in message


def test_model_path_without_config_or_weights_is_refused(tmp_path):
    with pytest.raises(ActbenchError, match="has no config.json.*model_path=DIR"):
        hf.internvl3_8b_adapter(AdapterContext(args={"model_path": str(tmp_path)}))
    (tmp_path / "config.json").write_text('{"model_type": "internvl"}')
    with pytest.raises(ActbenchError, match=r"no weights.*OpenGVLab/InternVL3-8B-hf"):
        hf.internvl3_8b_adapter(AdapterContext(args={"model_path": str(tmp_path)}))


def test_unsupported_architecture_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llava"}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ActbenchError, match="model_type.*internvl or llava_onevision or qwen2_5_vl.*llava"):
        hf.llava_onevision_7b_adapter(AdapterContext(args={"model_path": str(tmp_path)}))


# ---- letter scoring


@pytest.mark.parametrize("arch", ARCHS)
def test_scoring_gives_a_valid_letter_and_its_probabilities(adapters, arch):
    answers = adapters[arch].answer(QUESTIONS)
    assert [a.id for a in answers] == [q.id for q in QUESTIONS]
    for q, a in zip(QUESTIONS, answers):
        assert a.status == "ok" and a.answer in q.letters
        assert list(a.extra["letter_probs"]) == list(q.letters)
        assert json.loads(a.raw) == a.extra["letter_probs"]
        assert _probs(a).sum() == pytest.approx(1.0, abs=1e-4)
        assert a.answer == max(a.extra["letter_probs"], key=a.extra["letter_probs"].get)
        assert a.extra["how"] == "letter_logits" and a.latency_s > 0 and a.tokens_out == 0
    lengths = [a.tokens_in for a in answers]
    assert len(set(lengths)) == len(lengths)  # mixed lengths: the batch was padded


@pytest.mark.parametrize("arch", ARCHS)
def test_answer_does_not_depend_on_the_batch(adapters, arch):
    adapter = adapters[arch]
    together = adapter.answer(QUESTIONS)
    alone = [adapter.answer([q])[0] for q in QUESTIONS]
    shuffled = adapter.answer(QUESTIONS[::-1])[::-1]
    for a, b, c in zip(together, alone, shuffled):
        assert a.answer == b.answer == c.answer
        np.testing.assert_allclose(_probs(a), _probs(b), atol=2e-5)
        np.testing.assert_allclose(_probs(c), _probs(b), atol=2e-5)
    # The batches really mixed prompts of different lengths, and the probabilities do move between
    # questions (so equal answers are not an accident of a flat model).
    assert np.ptp([_probs(a)[0] for a in together]) > 1e-3


def test_batches_larger_than_batch_size_are_split(checkpoints, adapters):
    small = _load(checkpoints, "qwen2_5_vl", batch_size=2)
    split = small.answer(QUESTIONS)
    assert [a.extra["batch"] for a in split] == [2, 2, 2, 2, 1]
    for a, b in zip(split, adapters["qwen2_5_vl"].answer(QUESTIONS)):
        np.testing.assert_allclose(_probs(a), _probs(b), atol=2e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_the_frames_reach_the_model(adapters, arch):
    adapter = adapters[arch]
    q = QUESTIONS[0]
    first = adapter.answer([q])[0]
    source = adapter.frame_source
    try:
        adapter.frame_source = lambda _q: synthetic_frames(99, n=4, height=48, width=80)
        other = adapter.answer([q])[0]
    finally:
        adapter.frame_source = source
    assert np.abs(_probs(first) - _probs(other)).max() > 1e-4


def test_letter_spellings_are_merged_by_logsumexp(adapters):
    import torch

    adapter = adapters["internvl"]
    ids = adapter.letter_ids
    assert all(len(ids[letter]) == 2 for letter in "ABCDE")  # "A" and " A" are different tokens here
    logits = torch.full((len(adapter.tokenizer),), -30.0)
    logits[ids["A"][0]] = 2.0  # "A" alone is the single most likely token ...
    logits[ids["B"][0]] = 1.5  # ... but "B" and " B" together carry more probability
    logits[ids["B"][1]] = 1.5
    answer = adapter._score(_question(0, 3), logits, 0.1, 10, {})
    assert answer.answer == "B"
    expected = np.exp([2.0, np.log(2 * np.exp(1.5)), -30 + np.log(2)])
    np.testing.assert_allclose(_probs(answer), expected / expected.sum(), atol=1e-5)


# ---- generation


@pytest.mark.parametrize("arch", ARCHS)
def test_generation_mode_reports_parse_statuses(checkpoints, arch):
    adapter = _load(checkpoints, arch, mode="generate", max_new_tokens=4, batch_size=8)
    answers = adapter.answer(QUESTIONS[:3])
    for q, a in zip(QUESTIONS, answers):
        parsed = parse_answer(a.raw, q.options)
        assert (a.status, a.answer, a.extra["how"]) == (parsed.status, parsed.letter, parsed.how)
        assert 1 <= a.tokens_out <= 4 and a.tokens_in > 0
    assert [a.raw for a in answers] == [adapter.answer([q])[0].raw for q in QUESTIONS[:3]]


def test_generated_letter_is_parsed_and_cut_at_end_of_turn(checkpoints):
    import torch

    adapter = _load(checkpoints, "internvl", mode="generate", max_new_tokens=5)
    b, end = adapter.letter_ids["B"][1], adapter.tokenizer.convert_tokens_to_ids("<|im_end|>")

    class Scripted(torch.nn.Module):  # says " B", then ends the turn
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, hidden):
            logits = torch.zeros(*hidden.shape[:-1], len(adapter.tokenizer))
            logits[..., b if self.calls == 0 else end] = 10.0
            self.calls += 1
            return logits

    adapter.model.lm_head = Scripted()
    answers = adapter.answer(QUESTIONS[:2])
    assert [(a.status, a.answer, a.raw, a.tokens_out) for a in answers] == [("ok", "B", " B", 2)] * 2


# ---- frames


@dataclass
class _Result:  # the shape of the frame sampler's FrameResult
    frames: np.ndarray | None
    error: str | None


def test_a_question_without_usable_frames_is_an_error_and_the_batch_goes_on(checkpoints):
    good = synthetic_frames(0, n=3)
    table = {
        QUESTIONS[0].id: good,
        QUESTIONS[1].id: _Result(None, "P01/videos/P01_01.MP4: no such video under the video root"),
        QUESTIONS[2].id: None,
        QUESTIONS[3].id: good.astype(np.float32),
        QUESTIONS[4].id: _Result(good, None),
    }

    def source(q):
        return table[q.id]

    adapter = hf.load("tiny", hf.HFVideoArgs(model_path=str(checkpoints["internvl"]), device="cpu"),
                      model_id="tiny/internvl", frame_source=source)
    answers = adapter.answer(QUESTIONS)
    assert [a.status for a in answers] == ["ok", "error", "error", "error", "ok"]
    assert "no such video" in answers[1].raw and "no frames" in answers[2].raw and "uint8" in answers[3].raw
    assert all(a.answer is None for a in answers[1:4])

    def broken(q):
        raise OSError("disk on fire")

    adapter.frame_source = broken
    assert adapter.answer([QUESTIONS[0]])[0].raw == "frames: OSError: disk on fire"


@pytest.mark.parametrize("arch", ["llava_onevision", "qwen2_5_vl"])
def test_frames_given_by_the_runner_replace_the_frame_source(checkpoints, adapters, arch):
    from_source = adapters[arch].answer(QUESTIONS)
    path = str(checkpoints[arch])
    adapter = hf.load("tiny", hf.HFVideoArgs(model_path=path, device="cpu", batch_size=8), model_id="tiny")
    assert adapter.uses_frames is True and adapter.frame_source is None
    frames = [_frames(arch)(q) for q in QUESTIONS]
    given = adapter.answer(QUESTIONS, frames=frames)
    for a, b in zip(given, from_source):
        assert a.answer == b.answer
        np.testing.assert_allclose(_probs(a), _probs(b), atol=2e-5)
    with pytest.raises(ValueError, match="2 frame arrays for 5 questions"):
        adapter.answer(QUESTIONS, frames=frames[:2])


def test_no_frame_source_is_an_error_unless_blind(checkpoints):
    path = str(checkpoints["qwen2_5_vl"])
    adapter = hf.load("tiny", hf.HFVideoArgs(model_path=path, device="cpu"), model_id="tiny/qwen")
    (answer,) = adapter.answer([QUESTIONS[0]])
    assert answer.status == "error" and "blind=true" in answer.raw
    blind = hf.load("tiny", hf.HFVideoArgs(model_path=path, device="cpu", blind=True), model_id="tiny/qwen")
    assert blind.uses_frames is False  # the runner then samples no frames for it
    (answer,) = blind.answer([QUESTIONS[0]])
    assert answer.status == "ok" and "<|vision_start|>" not in blind.prompt_text(QUESTIONS[0], with_video=False)


# ---- prompt and preprocessing


def test_prompt_is_the_checkpoint_template_with_llavaction_prompt(adapters):
    prompt = adapters["qwen2_5_vl"].prompt_text(QUESTIONS[3])
    assert prompt.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                             "<|vision_start|><|video_pad|><|vision_end|>You are seeing this video from "
                             "egocentric view")
    assert "A. verb30 noun0 verb30 noun0\nB. verb31 noun1 verb31 noun1\nAnswer with the option's letter" in prompt
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_the_default_stem_is_the_benchmark_question_s_own(adapters):
    # A third-person benchmark (THUMOS, Breakfast ...) carries its own stem; the default asks it as written.
    own = dataclasses.replace(QUESTIONS[3], question="What sport is the athlete doing?")
    prompt = adapters["qwen2_5_vl"].prompt_text(own)
    assert "<|vision_end|>What sport is the athlete doing? Here are the options" in prompt
    assert "egocentric" not in prompt


def test_without_a_template_the_family_default_is_used(tmp_path):
    folder = BUILDERS["llava_onevision"](tmp_path / "no-template", template=False)
    adapter = hf.load("tiny", hf.HFVideoArgs(model_path=str(folder), device="cpu", perspective="allocentric"),
                      model_id="tiny/llava", frame_source=_frames("llava_onevision"))
    assert adapter.template_source == "actbench default for llava_onevision"
    assert adapter.prompt_text(QUESTIONS[0]).startswith(
        "<|im_start|>user <video>\nThe video is taken from egocentric view. The person's hands")
    assert adapter.answer([QUESTIONS[0]])[0].status == "ok"


def test_bfloat16_runs(checkpoints):
    adapter = _load(checkpoints, "llava_onevision", dtype="bfloat16")
    answers = adapter.answer(QUESTIONS[:2])
    assert [a.status for a in answers] == ["ok", "ok"]
    assert adapter.describe()["args"]["torch_dtype"] == "bfloat16"


def test_smart_resize_matches_qwen_rule():
    assert smart_resize(384, 683, factor=28, min_pixels=3136, max_pixels=12845056) == (392, 672)
    assert smart_resize(40, 70, factor=28, min_pixels=784, max_pixels=6272) == (28, 56)
    h, w = smart_resize(1080, 1920, factor=28, min_pixels=3136, max_pixels=602112)
    assert h % 28 == w % 28 == 0 and h * w <= 602112


# What transformers' own video processors (torchvision, transformers 5.23) return for pattern_frames:
# shape, sum, sum of squares, twelve evenly spaced values, and Qwen's grid. Computed once with the
# processors configured like the tiny checkpoints; the adapter does the same work with torch only.
REFERENCE = {
    ("llava_onevision", (3, 40, 70)): ((3, 3, 56, 56), 23.309804, 5396.502396, [-1.0, 0.21569, -0.34118, 0.35686, 0.08235, -0.00392, 0.67059, -0.32549, -0.6549, -0.49804, 0.72549, -0.63922], None),  # noqa: E501
    ("llava_onevision", (2, 90, 50)): ((2, 3, 56, 56), 0.047058, 1771.187913, [-0.72549, -0.32549, -0.27059, -0.12941, -0.41176, -0.00392, 0.01961, 0.45882, 0.23922, 0.33333, -0.06667, -0.07451], None),  # noqa: E501
    ("internvl", (3, 40, 70)): ((3, 3, 56, 56), 6446.021954, 28493.687451, [-2.1179, 0.53643, -0.56513, 1.21081, 0.24531, 0.18768, 1.69328, -0.30553, -1.36441, -0.91527, 2.02998, -1.0027], None),  # noqa: E501
    ("internvl", (2, 90, 50)): ((2, 3, 56, 56), 4263.421545, 10025.867633, [-1.51854, -0.64518, -0.40756, -0.09244, -0.49725, 0.40906, 0.10831, 1.0673, 0.73039, 0.94048, 0.26963, 0.2522], None),  # noqa: E501
    ("qwen2_5_vl", (3, 40, 70)): ((16, 1176), 3568.275497, 7620.281277, [-1.38351, 0.07885, 0.18353, 0.5591, -0.34261, 0.86465, -0.38527, 0.14933, 0.1689, 0.4413, -0.38639, -0.14353], [2, 2, 4]),  # noqa: E501
    ("qwen2_5_vl", (2, 90, 50)): ((24, 1176), 5300.916030, 20440.248486, [-1.73387, -0.65359, 0.84425, 0.88927, 0.02711, -0.92564, -0.18644, 0.28071, 0.10887, -0.35637, 1.57709, -0.65546], [1, 6, 4]),  # noqa: E501
}


@pytest.mark.parametrize("key", list(REFERENCE), ids=lambda k: f"{k[0]}-{k[1][0]}x{k[1][1]}x{k[1][2]}")
def test_preprocessing_matches_transformers_video_processors(adapters, key):
    import torch

    arch, (n, h, w) = key
    shape, total, squares, values, grid = REFERENCE[key]
    encoded = adapters[arch].family.encode(pattern_frames(n, h, w), 1.0, 2.0)
    pixels = next(iter(encoded.tensors.values())).double()
    assert tuple(pixels.shape) == shape
    flat = pixels.flatten()
    # float32 rounding differs from transformers' by ~5e-7 per value; one grey level is ~1e-2
    assert flat.sum().item() == pytest.approx(total, abs=2e-2)
    assert (flat * flat).sum().item() == pytest.approx(squares, abs=2e-2)
    np.testing.assert_allclose(flat[torch.linspace(0, flat.numel() - 1, 12).long()].numpy(), values, atol=2e-5)
    if grid is not None:
        assert list(encoded.tensors["video_grid_thw"]) == grid
        assert encoded.tensors["second_per_grid_ts"] == pytest.approx(2 * 1.0 / n)


def test_video_token_counts_follow_each_architecture(adapters):
    frames = pattern_frames(4, 48, 80)
    llava = adapters["llava_onevision"].family.encode(frames, 0.0, 1.0).text
    assert llava == "<video>" * (4 * 2 * 2 + 1)  # 4x4 patches pooled to 2x2 per frame, one newline
    qwen = adapters["qwen2_5_vl"].family.encode(frames, 0.0, 1.0).text
    assert qwen == "<|vision_start|>" + "<|video_pad|>" * (2 * 4 * 6 // 4) + "<|vision_end|>"
    internvl = adapters["internvl"].family.encode(frames, 0.0, 1.0).text
    assert internvl.splitlines() == [f"Frame{i}: <img>{'<IMG_CONTEXT>' * 4}</img>" for i in range(1, 5)]
    assert set(FAMILIES) == set(ARCHS)


def _torchvision_or_skip():
    try:  # PyPI's torchvision beside the CPU torch fails at import with a RuntimeError, not ImportError
        import torchvision  # noqa: F401
    except Exception as exc:
        pytest.skip(f"torchvision not usable ({type(exc).__name__}): transformers' video processors need it")


def _hf_processor(adapter: hf.HFVideoMLLM):
    """transformers' own processor for a tiny checkpoint, set up like its configuration."""
    import transformers as T

    tok, s = adapter.tokenizer, adapter.family.settings
    mean, std = list(s.image_mean), list(s.image_std)
    arch = adapter.family.model_type
    if arch == "llava_onevision":
        video = T.LlavaOnevisionVideoProcessor(size=s.size, image_mean=mean, image_std=std, resample=3)
        return T.LlavaOnevisionProcessor(image_processor=T.LlavaOnevisionImageProcessor(size=s.size), tokenizer=tok,
                                         video_processor=video, num_image_tokens=16,
                                         vision_feature_select_strategy="full", chat_template=adapter.chat_template)
    if arch == "qwen2_5_vl":
        video = T.Qwen2VLVideoProcessor(min_pixels=s.size["shortest_edge"], max_pixels=s.size["longest_edge"],
                                        patch_size=14, temporal_patch_size=2, merge_size=2, image_mean=mean,
                                        image_std=std, cap_pixels_per_frame=False)
        return T.Qwen2_5_VLProcessor(image_processor=T.Qwen2VLImageProcessor(), tokenizer=tok, video_processor=video,
                                     chat_template=adapter.chat_template)
    for attr, token in [("start_image_token", "<img>"), ("end_image_token", "</img>"),
                        ("context_image_token", "<IMG_CONTEXT>"), ("video_token", "<video>")]:
        setattr(tok, attr, token)
        setattr(tok, attr + "_id", tok.convert_tokens_to_ids(token))
    video = T.InternVLVideoProcessor(size=s.size, image_mean=mean, image_std=std, resample=3)
    return T.InternVLProcessor(image_processor=T.GotOcr2ImageProcessor(size=s.size), tokenizer=tok,
                               video_processor=video, image_seq_length=4, chat_template=adapter.chat_template)


@pytest.mark.parametrize("arch", ARCHS)
def test_same_inputs_and_answers_as_transformers_processors(checkpoints, arch):
    """Where torchvision works: transformers' processor and the model, one question at a time, give the
    adapter's token ids, pixels and letter probabilities (the adapter batching the questions)."""
    import torch

    _torchvision_or_skip()
    adapter = _load(checkpoints, arch, batch_size=8)
    processor = _hf_processor(_load(checkpoints, arch))
    batched = adapter.answer(QUESTIONS)
    for q, mine in zip(QUESTIONS, batched):
        frames = adapter.frame_source(q)
        kwargs = {}
        if arch == "qwen2_5_vl":  # the real sampling rate, as the adapter uses
            n = len(frames)
            kwargs["video_metadata"] = [{"fps": n / (q.end - q.start), "total_num_frames": n,
                                         "frames_indices": list(range(n))}]
        inputs = processor(text=[adapter.prompt_text(q)], videos=[frames], return_tensors="pt", **kwargs)
        text, encoded = adapter._prompt(q)
        ids = adapter.tokenizer([text], return_tensors="pt", add_special_tokens=False)["input_ids"]
        assert torch.equal(ids, inputs["input_ids"])
        for key, value in adapter.family.collate([encoded], torch.float32, "cpu").items():
            reference = torch.as_tensor(inputs[key])
            torch.testing.assert_close(value, reference.to(value.dtype), atol=1e-5, rtol=1e-5)
        with torch.inference_mode():
            logits = adapter.model(**inputs).logits[0, -1].float()
        scores = torch.stack([torch.logsumexp(logits[adapter.letter_ids[letter]], 0) for letter in q.letters])
        np.testing.assert_allclose(_probs(mine), torch.softmax(scores, 0).numpy(), atol=2e-5)
