"""The Gen / Disc / GAD classifiers (GAD paper) on a tiny random-weight Llama: pieces and every variant.

The label mapping, the sequence layouts and the OAD generation targets are checked against hand-worked
cases; each variant of variants.PRESETS then trains for real on a separable synthetic task and must
beat chance by far on held-out samples, and a saved model must predict exactly what it did.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from actbench.errors import ActbenchError  # noqa: E402
from actbench.recipes.feature_lm import ModelSpec, build_model, load_model  # noqa: E402
from actbench.recipes.label_codec import LabelCodec, closest_label, levenshtein  # noqa: E402
from actbench.recipes.oad_task import next_action, past_actions, previous_action, target_text  # noqa: E402
from actbench.recipes.sequences import LEARNED, VISUAL, Prompter, Sample  # noqa: E402
from actbench.recipes.variants import PRESETS, variant  # noqa: E402
from tests.helpers.tiny_lm import build_tiny_llama  # noqa: E402

NAMES = ["background", "take knife", "cut onion", "open fridge"]
DIM = 16


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("llama") / "tiny")


@pytest.fixture(scope="module")
def tokenizer(llama):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(llama)


# ------------------------------------------------------------------------------------------ label mapping
def naive_levenshtein(a, b):
    if not a:
        return len(b)
    if not b:
        return len(a)
    return min(naive_levenshtein(a[1:], b) + 1, naive_levenshtein(a, b[1:]) + 1,
               naive_levenshtein(a[1:], b[1:]) + (a[0] != b[0]))


def test_levenshtein_against_the_recursive_definition():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = "".join(rng.choice(list("abc"), size=rng.integers(0, 6)))
        b = "".join(rng.choice(list("abc"), size=rng.integers(0, 6)))
        assert levenshtein(a, b) == naive_levenshtein(a, b)
    assert levenshtein((1, 2, 3), (1, 3)) == 1


def test_closest_label_cleans_the_text_and_breaks_ties_alphabetically():
    choices = ["put pan", "cut pan", "take knife"]
    assert closest_label(" Take knife.", choices) == "take knife"
    # "xut pan" is one edit from both "cut pan" and "put pan": the alphabetically first wins.
    assert closest_label("xut pan", choices) == "cut pan"
    assert closest_label("put pan", ["put pan", "cut pan"]) == "put pan"


@pytest.mark.parametrize("mapping", ["text", "rand", "desync", "extend"])
def test_every_mapping_decodes_its_own_targets(tokenizer, mapping):
    tok = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)  # extend adds tokens: a private copy
    codec = LabelCodec(tok, NAMES, mapping=mapping, seed=3)
    if mapping == "extend":
        tok.add_tokens(codec.extend_tokens, special_tokens=True)
        codec.bind_extended_ids()
    for c in range(len(NAMES)):
        assert codec.to_class(codec.class_ids(c)) == c


def test_random_mappings_keep_or_break_shared_subwords(tokenizer):
    plain = LabelCodec(tokenizer, NAMES)
    rand = LabelCodec(tokenizer, NAMES, mapping="rand", seed=1)
    desync = LabelCodec(tokenizer, NAMES, mapping="desync", seed=1)
    # "take knife" and "open fridge" share the byte token for " " and letters: rand maps each subword to
    # one token everywhere, desync gives every position of every label its own token.
    pairs = {}
    for c in range(len(NAMES)):
        for p, r in zip(plain.class_ids(c), rand.class_ids(c)):
            assert pairs.setdefault(p, r) == r
    used = [t for c in range(len(NAMES)) for t in desync.class_ids(c)]
    assert len(set(used)) == len(used)
    assert [len(rand.class_ids(c)) for c in range(4)] == [len(plain.class_ids(c)) for c in range(4)]


# ------------------------------------------------------------------------------------------ sequences
def _sample(frames=3, target="take knife"):
    return Sample(features=np.zeros((frames, 1, DIM), np.float32), query="What is the action in the last frame?",
                  label=1, target_text=target)


def test_sequence_layouts(tokenizer):
    p = Prompter(tokenizer)
    target = [7, 8]
    s = _sample()
    context, last_visual = p.context(s)
    assert context.count(VISUAL) == 3 and context[last_visual] == VISUAL and context[last_visual + 1] != VISUAL
    disc = p.plan(s, cls_tokens=1, generation=False)
    assert disc.ids == context + [LEARNED] and disc.head_positions == [len(context)]
    gen = p.plan(s, cls_tokens=0, generation=True, target=target)
    assert gen.ids == context + p.assistant + target + [p.eos]
    assert (gen.loss_from, gen.loss_to) == (len(context) + len(p.assistant), len(gen.ids))
    gad = p.plan(s, cls_tokens=1, generation=True, target=target)  # [CLS] first, then the reply
    assert gad.ids == context + [LEARNED] + p.assistant + target + [p.eos]
    seq_g = p.plan(s, cls_tokens=1, generation=True, cls_after=True, target=target)
    assert seq_g.ids == context + p.assistant + target + [p.eos, LEARNED]
    assert seq_g.loss_to == len(seq_g.ids) - 1  # the learnable token is no LM target
    plus = p.plan(s, cls_tokens=2, generation=False)
    assert plus.ids[-2:] == [LEARNED, LEARNED] and plus.learned == [0, 1]
    no_cls = p.plan(s, cls_tokens=0, generation=False)
    assert no_cls.head_positions == [last_visual]


def test_gad_inference_costs_what_disc_inference_costs(llama):
    """GAD's generation branch is off at inference: the sequence the head reads is Disc's, token for token."""
    gad, disc = (build_model(_spec(llama, name)) for name in ("gad", "disc"))
    s = _sample()
    for model in (gad, disc):
        model._seen = []
        original = model._hidden
        model._hidden = lambda batch, model=model, original=original: (model._seen.append(
            batch.inputs_embeds.shape), original(batch))[1]
        model.classify([s])
    assert gad._seen == disc._seen == [(1, disc._seen[0][1], 32)]


# ------------------------------------------------------------------------------------------ OAD targets
def test_oad_context_targets_by_hand():
    #            0  1  2  3  4  5  6  7
    labels = np.array([0, 1, 1, 0, 2, 2, 3, 2])
    names = ["background", "a", "b", "c"]
    assert previous_action(labels, 6, 0) == 2 and previous_action(labels, 5, 0) == 1
    assert previous_action(labels, 2, 0) is None  # only the current action and background before it
    assert previous_action(labels, 6, 5) == 2 and previous_action(labels, 6, 6) is None  # window bound
    assert next_action(labels, 6) == 2 and next_action(labels, 7) is None
    assert past_actions(labels, 7, 0) == [3, 1]  # most recent first; the current label (2) left out
    assert target_text("label_prev", labels, 6, 0, names) == "c, b"
    assert target_text("label_prev", labels, 2, 0, names) == "a"
    assert target_text("prev", labels, 2, 0, names) == "none"
    assert target_text("label_next", labels, 4, 0, names) == "b, c"
    assert target_text("label_past", labels, 7, 0, names) == "b, c, a"


# ------------------------------------------------------------------------------------------ every variant
def _spec(llama, name, **kw):
    heads = {"action": NAMES, **({"prev": NAMES} if variant(name).prev_head != "none" else {})}
    return ModelSpec(backbone=str(llama), feature_dim=DIM, heads=heads, variant=variant(name).model_dump(),
                     lora_r=8, lora_alpha=16, lora_dropout=0.0, **kw)


def _task(n, seed):
    """Each class has a prototype; 5 noisy frames per sample. The previous action is class 2 for class 1."""
    protos = np.random.default_rng(0).normal(size=(len(NAMES), DIM)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        c = int(rng.integers(len(NAMES)))
        feats = protos[c] + 0.5 * rng.normal(size=(5, DIM)).astype(np.float32)
        out.append(Sample(features=feats[:, None, :], query="What is the action in the last frame?", label=c,
                          target_text=NAMES[c] + (", cut onion" if c == 1 else ""),
                          prev_label=2 if c == 1 else None, weight=0.5 if c == 0 else 1.0))
    return out


TRAIN, TEST = _task(48, 1), _task(24, 2)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_variant_learns_a_separable_task_and_round_trips(llama, tmp_path, name):
    torch.manual_seed(0)
    model = build_model(_spec(llama, name), seed=0)
    steps = 60 if model.variant.generates else 25
    first = last = None
    for stage in (["gen", "head"] if model.variant.two_stage else ["joint"]):
        groups = [p for p in model.parameters() if p.requires_grad]
        if stage == "head":
            for n, p in model.named_parameters():
                p.requires_grad_(n.startswith(("cls_tokens", "heads.")))
            groups = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(groups, lr=1e-2)
        for step in range(steps):
            batch = [TRAIN[(step * 8 + k) % len(TRAIN)] for k in range(8)]
            loss, parts = model(batch, stage=stage)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            first = parts["loss"] if first is None else first
            last = parts["loss"]
    model.eval()
    predicted, _ = model.predict(TEST)
    accuracy = np.mean([p == s.label for p, s in zip(predicted, TEST)])
    assert last < 0.5 * first, (first, last)
    assert accuracy >= 0.75, accuracy  # chance is 0.25
    saved = model.save(tmp_path / "ckpt")
    again = load_model(saved)
    assert again.predict(TEST)[0] == predicted
    if model.variant.classifies:
        np.testing.assert_allclose(np.stack(again.classify(TEST[:4])), np.stack(model.classify(TEST[:4])),
                                   rtol=1e-5, atol=1e-6)


def test_predictions_do_not_depend_on_the_batch(llama):
    model = build_model(_spec(llama, "gad"), seed=1).eval()
    ragged = [Sample(features=s.features[: 2 + i % 4], query=s.query, label=s.label) for i, s in enumerate(TEST[:6])]
    together = np.stack(model.classify(ragged))
    alone = np.stack([model.classify([s])[0] for s in ragged])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)
    gen = build_model(_spec(llama, "gen"), seed=1).eval()
    assert gen.generate(ragged, max_new_tokens=4) == [gen.generate([s], max_new_tokens=4)[0] for s in ragged]


def test_bad_variants_and_checkpoints_are_one_line_errors(tmp_path):
    with pytest.raises(ActbenchError, match="unknown classifier variant 'gad_prev'; did you mean"):
        variant("gad_prev")
    with pytest.raises(ActbenchError, match="variant 'disc': label_mapping other than 'text' is a Gen ablation"):
        variant("disc", label_mapping="rand")
    with pytest.raises(ActbenchError, match="model.json': expected a checkpoint folder written by actbench train"):
        load_model(tmp_path)
    with pytest.raises(ActbenchError, match="variant 'gad': field 'lam': Input should be a valid number"):
        variant("gad", lam="much")
