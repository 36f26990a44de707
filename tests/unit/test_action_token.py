"""LLaVAction's action-token model on a tiny random-weight LLaVA-OneVision (CPU, seconds)."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from actbench.errors import ActbenchError
from actbench.recipes.action_token import ActionTokenConfig, resolve_layers
from actbench.recipes.action_token_data import decode_frames, read_records
from actbench.recipes.action_token_task import ActionTokenTask
from tests.helpers.tiny_mllm import build_llava_onevision

REPO = Path(__file__).resolve().parents[2]
CLASSES = {"verb_classes": 4, "noun_classes": 5, "action_classes": 6}
N_FRAMES = 2


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _record(i: int, classes: bool = True) -> dict:
    """Clip ``i`` shows colour ``i % 4``; its classes and its answer follow the colour."""
    v = i % 4
    record = {"id": f"P01_01_{i}/mqa", "video": "P01/videos/P01_01.MP4", "start": float(i), "end": i + 1.5,
              "conversations": [{"from": "human", "value": "<video>\nWhat am I doing? A. open B. close"},
                                {"from": "gpt", "value": "A" if v < 2 else "B"}]}
    if classes:
        record.update(verb=v, noun=(v + 1) % 5, action=v)
    return record


def _frames(record: dict) -> np.ndarray:
    v = int(record["id"].split("/")[0].rsplit("_", 1)[1]) % 4
    frames = np.zeros((N_FRAMES, 56, 56, 3), dtype=np.uint8)
    frames[..., v % 3] = 60 + 60 * v
    frames[:, : 14 * (v + 1)] += 40
    return frames


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("action_token")
    build_llava_onevision(root / "tiny")
    records = [_record(i) for i in range(8)] + [_record(8, classes=False)]
    (root / "train.json").write_text(json.dumps(records), encoding="utf-8")
    return root


def _recipe(workspace: Path, micro_batch: int = 3, **action_token) -> dict:
    return {"model": {"model_path": str(workspace / "tiny"), "vision_tower_lr": 2e-4},
            "action_token": {**CLASSES, **action_token},
            "data": {"num_frames": N_FRAMES, "sources": [{"path": str(workspace / "train.json")}]},
            "train": {"micro_batch": micro_batch, "seed": 0}}


def _task(workspace: Path, micro_batch: int = 3, **action_token) -> ActionTokenTask:
    return ActionTokenTask.from_recipe(_recipe(workspace, micro_batch, **action_token), frames=_frames)


def _model(task: ActionTokenTask, seed: int = 0):
    torch.manual_seed(seed)
    return task.build_model()


@pytest.fixture(scope="module")
def task(workspace) -> ActionTokenTask:
    return _task(workspace)


@pytest.fixture(scope="module")
def batch(task):
    return next(iter(task.batches(0, 0)))


# -- where the token sits --------------------------------------------------------------------------
@pytest.mark.parametrize("tokens", [1, 3])
def test_action_tokens_sit_between_the_visual_and_the_instruction_tokens(workspace, tokens):
    task = _task(workspace, tokens=tokens)
    batch = next(iter(task.batches(0, 0)))
    model = _model(task)
    video_id = task.encoder.video_id
    n_visual = N_FRAMES * 4 + 1  # 56 px / 14 = 4x4 patches, pooled to 2x2 per frame, + one newline
    newline = task.tokenizer.encode("\n", add_special_tokens=False)
    for row in range(len(batch)):
        ids = batch.input_ids[row].tolist()
        visual = [p for p, t in enumerate(ids) if t == video_id]
        assert visual == list(range(visual[0], visual[0] + n_visual))
        after = visual[-1] + 1
        assert batch.action_positions[row].tolist() == list(range(after, after + tokens))
        assert ids[after + tokens: after + tokens + len(newline)] == newline  # the instruction starts
        text_before = task.tokenizer.decode(ids[: visual[0]])
        assert text_before == "<|im_start|>user "
    with torch.no_grad():
        embeds = model.inputs_embeds(batch)
        video = model.base.model.get_video_features(batch.pixel_values_videos).pooler_output
    rows = torch.arange(len(batch)).unsqueeze(1)
    assert torch.equal(embeds[rows, batch.action_positions], model.action_tokens.detach().expand(len(batch), -1, -1))
    mask = batch.input_ids == video_id
    assert torch.allclose(embeds[mask], video.reshape(-1, video.shape[-1]))
    text = ~mask
    text[rows, batch.action_positions] = False
    assert torch.equal(embeds[text], model.base.get_input_embeddings()(batch.input_ids)[text].detach())


def test_labels_cover_only_the_answer_and_its_end_of_turn(task, batch):
    end = task.tokenizer.convert_tokens_to_ids("<|im_end|>")
    for row, record_id in enumerate(batch.ids):
        labelled = batch.labels[row][batch.labels[row] != -100].tolist()
        answer = next(r for r in task.records if r["id"] == record_id)["conversations"][1]["value"]
        assert labelled == task.tokenizer.encode(answer, add_special_tokens=False) + [end]
        prompt_end = task.tokenizer.decode(batch.input_ids[row][: (batch.labels[row] != -100).nonzero()[0, 0]])
        assert prompt_end.endswith("<|im_end|>\n<|im_start|>assistant\n")  # as the evaluation prompts


# -- the heads read that position ------------------------------------------------------------------
def test_gradient_reaches_the_action_token_and_the_heads(task, batch):
    model = _model(task)
    loss, _ = task.loss(model, batch)
    loss.backward()
    for param in (model.action_tokens, model.verb_head.weight, model.noun_head.weight, model.action_head.weight):
        assert param.grad is not None and param.grad.abs().sum() > 0


def test_head_logits_depend_on_the_action_position_only(task, batch):
    model = _model(task).eval()
    rows = torch.arange(len(batch)).unsqueeze(1)

    def heads_with(noise_where: str):
        def hook(_module, _inputs, output):
            noise = torch.randn_like(output) * 5
            keep = torch.zeros(output.shape[:2], dtype=torch.bool)
            keep[rows, batch.action_positions] = True
            where = ~keep if noise_where == "elsewhere" else keep
            return output + noise * where.unsqueeze(-1)

        handle = model.base.model.language_model.norm.register_forward_hook(hook)
        try:
            with torch.no_grad():
                return model(batch).head_logits[0]
        finally:
            handle.remove()

    with torch.no_grad():
        clean = model(batch).head_logits[0]
    for a, b in zip(clean, heads_with("elsewhere")):
        assert torch.equal(a, b)
    assert not any(torch.allclose(a, b) for a, b in zip(clean, heads_with("action")))


# -- the loss --------------------------------------------------------------------------------------
def _ce(logits: torch.Tensor, targets: list[int]) -> float:
    """Naive mean cross-entropy over the rows whose target is not -1."""
    terms = [math.log(sum(math.exp(x) for x in row)) - row[t] for row, t in zip(logits.tolist(), targets) if t >= 0]
    return sum(terms) / len(terms)


@pytest.mark.parametrize("layers", ["last", "all"])
def test_loss_is_lm_plus_the_weighted_head_losses(workspace, layers):
    weights = {"aux_weight": 0.3, "verb_weight": 0.5, "noun_weight": 0.25, "action_weight": 0.1}
    task = _task(workspace, micro_batch=9, supervised_layers=layers, **weights)
    batch = next(iter(task.batches(0, 0)))
    assert (batch.verb == -1).sum() == 1  # the record without classes is in this batch
    model = _model(task).eval()
    with torch.no_grad():
        loss, parts = task.loss(model, batch)
        out = model.base(inputs_embeds=model.inputs_embeds(batch), attention_mask=batch.attention_mask,
                         labels=batch.labels, output_hidden_states=True)  # transformers' own LM loss
        index = resolve_layers(layers, 2)
        aux = 0.0
        for i in index:
            states = out.hidden_states[i][torch.arange(len(batch)), batch.action_positions[:, 0]]
            aux += (0.5 * _ce(states @ model.verb_head.weight.T, batch.verb.tolist())
                    + 0.25 * _ce(states @ model.noun_head.weight.T, batch.noun.tolist())
                    + 0.1 * _ce(states @ model.action_head.weight.T, batch.action.tolist()))
        aux /= len(index)
    assert parts["lm"] == pytest.approx(float(out.loss), rel=1e-5)
    assert parts["aux"] == pytest.approx(aux, rel=1e-5)
    assert float(loss) == pytest.approx(float(out.loss) + 0.3 * aux, rel=1e-5)


def test_a_batch_without_class_ids_trains_the_lm_only(workspace, tmp_path):
    path = tmp_path / "replay.json"
    path.write_text(json.dumps([_record(i, classes=False) for i in range(2)]), encoding="utf-8")
    recipe = _recipe(workspace)
    recipe["data"]["sources"] = [{"path": str(path)}]
    task = ActionTokenTask.from_recipe(recipe, frames=_frames)
    model = _model(task)
    loss, parts = task.loss(model, next(iter(task.batches(0, 0))))
    assert float(loss.detach()) == pytest.approx(parts["lm"]) and parts["aux"] == 0.0
    loss.backward()
    assert model.verb_head.weight.grad.abs().sum() == 0


# -- training --------------------------------------------------------------------------------------
def test_training_lowers_the_loss_and_the_heads_beat_chance(workspace):
    task = _task(workspace, micro_batch=9)
    model = _model(task)
    optimizer = torch.optim.AdamW(task.param_groups(model, 3e-3), weight_decay=0.0)
    history = []
    for step in range(30):
        for batch in task.batches(step, 0):
            loss, parts = task.loss(model, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history.append(parts)
    first, last = history[0], history[-1]
    assert last["loss"] < 0.5 * first["loss"]
    assert all(last[k] < 0.5 * first[k] for k in ("lm", "verb", "noun", "action"))
    chance = {"verb_acc": 1 / 4, "noun_acc": 1 / 5, "action_acc": 1 / 6}
    for key, level in chance.items():  # four clips of each colour class: chance is at most 1/4
        assert last[key] > max(level, 0.25) + 0.4, (key, last)


def test_the_trainer_drives_the_task_and_its_checkpoints_load(workspace, tmp_path):
    trainer = pytest.importorskip("actbench.recipes.trainer")
    task = _task(workspace, micro_batch=3)
    cfg = trainer.TrainConfig(epochs=1, lr=1e-3, batch_size=3, micro_batch=3, checkpoint_every=2, log_every=1)
    final = trainer.train(task, cfg, tmp_path / "run")
    assert task.load_model(final).config == task.config
    assert task.load_model(tmp_path / "run" / trainer.CHECKPOINTS / "step-2" / "model").config == task.config
    assert len((tmp_path / "run" / trainer.LOG).read_text().splitlines()) == 3  # 9 records / 3 per step


def test_param_groups_put_the_vision_tower_at_its_own_rate(task):
    model = _model(task)
    groups = task.param_groups(model, 1e-3)
    vision = {id(p) for p in model.base.model.vision_tower.parameters()}
    assert [g["lr"] for g in groups] == [1e-3, 2e-4]
    assert {id(p) for p in groups[1]["params"]} == vision
    assert {id(p) for g in groups for p in g["params"]} == {id(p) for p in model.parameters()}
    assert any(p is model.action_tokens for p in groups[0]["params"])


# -- saving and loading; determinism ---------------------------------------------------------------
def test_save_then_load_gives_identical_logits(task, batch, tmp_path):
    model = _model(task).eval()
    with torch.no_grad():
        model.action_tokens.add_(1.0)  # not the initial values: the saved ones must come back
    task.save_model(model, tmp_path / "saved")
    loaded = task.load_model(tmp_path / "saved").eval()
    with torch.no_grad():
        assert torch.equal(model.lm_logits(batch), loaded.lm_logits(batch))
        for a, b in zip(model(batch).head_logits[0], loaded(batch).head_logits[0]):
            assert torch.equal(a, b)
    from transformers import LlavaOnevisionForConditionalGeneration

    plain = LlavaOnevisionForConditionalGeneration.from_pretrained(tmp_path / "saved")  # transformers alone
    assert torch.equal(plain.lm_head.weight, model.base.lm_head.weight)
    assert json.loads((tmp_path / "saved" / "action_token.json").read_text())["supervised_layer_indices"] == [2]


def test_model_and_batches_are_deterministic(workspace, task):
    a, b = _model(task, seed=3), _model(task, seed=3)
    assert torch.equal(a.action_tokens, b.action_tokens) and torch.equal(a.verb_head.weight, b.verb_head.weight)
    order = lambda epoch, seed: [i for batch in task.batches(epoch, seed) for i in batch.ids]
    assert order(1, 0) == order(1, 0)
    assert order(1, 0) != order(2, 0) and sorted(order(1, 0)) == sorted(order(2, 0))
    assert task.micro_batches_per_epoch(0, 0) == sum(1 for _ in task.batches(0, 0)) == 3


# -- Table 10 designs ------------------------------------------------------------------------------
@pytest.mark.parametrize(("design", "expected"), [({"tokens": 3}, (2,)), ({"supervised_layers": "first"}, (0,)),
                                                ({"supervised_layers": "all"}, (0, 1, 2)),
                                                ({"supervised_layers": [1]}, (1,))])
def test_each_token_design_builds_and_trains_a_step(workspace, design, expected):
    task = _task(workspace, **design)
    model = _model(task)
    batch = next(iter(task.batches(0, 0)))
    before = [p.detach().clone() for p in (model.action_tokens, model.verb_head.weight)]
    optimizer = torch.optim.AdamW(task.param_groups(model, 1e-3))
    loss, parts = task.loss(model, batch)
    loss.backward()
    optimizer.step()
    assert math.isfinite(parts["loss"]) and parts["aux"] > 0
    assert not torch.equal(before[0], model.action_tokens) and not torch.equal(before[1], model.verb_head.weight)
    assert model.layers == expected and len(model(batch).head_logits) == len(expected)


def test_first_layer_heads_read_the_token_embedding_itself(workspace):
    """As the released code: hidden_states[0] at the slot is the learned embedding, the same for every clip."""
    task = _task(workspace, supervised_layers="first")
    model = _model(task).eval()
    with torch.no_grad():
        verb = model(next(iter(task.batches(0, 0)))).head_logits[0][0]
        assert torch.allclose(verb, model.verb_head(model.action_tokens[0]).expand_as(verb))


# -- user errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("section", "value", "message"), [
    ("action_token", {"tokens": 2}, ("recipe: [action_token]: field 'tokens': expected 1 (the paper's design) or 3 "
                                    "(verb, noun, action), found 2")),
    ("action_token", {"supervised_layers": "middle"}, ("recipe: [action_token]: field 'supervised_layers': expected "
                                                      '"last", "first", "all" or a non-empty list of layer indices, '
                                                      "found middle")),
    ("action_token", {"verb_classes": 1}, ("recipe: [action_token]: field 'verb_classes': expected an integer >= 2, "
                                          "found 1")),
    ("action_token", {"aux_weight": -0.1}, ("recipe: [action_token]: field 'aux_weight': expected a finite number "
                                           ">= 0, found -0.1")),
    ("action_token", {"token": 1}, ("recipe: [action_token]: field 'token': expected one of tokens, supervised_layers, "
                                   "verb_classes, noun_classes, action_classes, aux_weight, verb_weight, noun_weight, "
                                   "action_weight, found token")),
    ("data", {"num_frame": 2}, ("recipe: [data]: field 'num_frame': expected no such field (it is not part of the "
                               "format), found 2")),
])
def test_bad_config_values_are_one_line_errors(workspace, section, value, message):
    recipe = _recipe(workspace)
    recipe[section] = {**recipe[section], **value}
    with pytest.raises(ActbenchError) as caught:
        ActionTokenTask.from_recipe(recipe, frames=_frames)
    assert str(caught.value) == message


def test_a_layer_index_beyond_the_model_is_refused(workspace):
    task = _task(workspace, supervised_layers=[3])
    with pytest.raises(ActbenchError, match=r"field 'supervised_layers': expected layer indices in \[0, 2\].*found 3"):
        _model(task)


def test_bad_records_name_the_file_the_record_and_the_field(tmp_path):
    path = tmp_path / "train.json"
    bad = _record(0)
    bad["verb"] = 4
    path.write_text(json.dumps([_record(1), bad]), encoding="utf-8")
    with pytest.raises(ActbenchError) as caught:
        read_records(path, (4, 5, 6))
    assert str(caught.value) == f"{path}[1]: field 'verb': expected a class id in [0, 4) or absent, found 4"
    bad = _record(0)
    bad["conversations"][0]["value"] = "no video here"
    path.write_text(json.dumps([bad]), encoding="utf-8")
    with pytest.raises(ActbenchError, match=r"\[0\]: field 'conversations\[0\].value': expected exactly one <video>"):
        read_records(path, (4, 5, 6))
    with pytest.raises(ActbenchError, match="training data file not found"):
        read_records(tmp_path / "missing.json", (4, 5, 6))


def test_the_config_round_trips_and_the_recipes_parse():
    config = ActionTokenConfig.from_dict({"tokens": 3, "supervised_layers": [0, -1]})
    assert ActionTokenConfig.from_dict(config.to_dict()) == config
    for name, sizes in (("7b", (97, 300, 3806)), ("tiny", (97, 300, 3806))):
        recipe = tomllib.loads((REPO / "recipes" / f"llavaction-action-token-{name}.toml").read_text())
        parsed = ActionTokenConfig.from_dict(recipe["action_token"])
        assert (parsed.verb_classes, parsed.noun_classes, parsed.action_classes) == sizes
        assert parsed.tokens == 1 and parsed.supervised_layers == "last"
    seven = tomllib.loads((REPO / "recipes" / "llavaction-action-token-7b.toml").read_text())
    assert seven["train"]["epochs"] == 2 and seven["train"]["batch_size"] == 64 and seven["train"]["lr"] == 1e-5
    assert seven["model"]["vision_tower_lr"] == 2e-6 and len(seven["data"]["sources"]) == 2  # with replay data


def test_whole_video_frames_are_the_nearest_to_the_segment_centres(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:  # 10 frames at 10 fps, frame k is grey level 25 * k
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for k in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 25 * k, dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    frames = decode_frames(path, 4)  # centres 0.125, 0.375, 0.625, 0.875 s -> frames 1, 4, 6, 9
    assert frames.shape == (4, 32, 32, 3)
    assert np.abs(frames.mean(axis=(1, 2, 3)) - 25 * np.array([1, 4, 6, 9])).max() < 6
