"""LLaVAction's action token (§3.3, Appendix E.1) on transformers' LLaVA-OneVision / LLaVA-Video.

:class:`ActionTokenModel` wraps a ``LlavaOnevisionForConditionalGeneration`` and builds the language
model's ``inputs_embeds`` itself, in the order of the paper's Eq. 5::

    [text before the video][visual tokens][action token(s)][instruction + answer text]

The visual tokens are the model's own video path (``get_video_features``: SigLIP per frame, projector,
2x2 bilinear pooling, one ``image_newline`` after the whole video), written where the batch's input ids
hold the ``<video>`` token; the learnable action token(s) come right after the last visual token (the
newline). The released code puts the token before that newline instead; the paper's text says after
the visual tokens, which is what this module does (both see every visual token through causal attention).

Verb / noun / action heads (bias-free linear layers, as in the released ``llava_qwen.py``) read the
hidden state at the action-token position(s). They serve only as a training signal:

    loss = LM + aux_weight * mean over supervised layers of
           (verb_weight * CE_verb + noun_weight * CE_noun + action_weight * CE_action)

with the defaults 0.1 x (0.5, 0.5, 0.1). The LM loss is the mean next-token cross-entropy over the
answer tokens (labels -100 elsewhere). A sample without action labels (class id -1, e.g. replay data)
adds nothing to the head losses. The released code divides the head loss by (number of supervised layers
+ 1), i.e. by 2 for the paper's design; this module takes the mean over supervised layers, so set
``aux_weight = 0.05`` to reproduce the released code's effective weight.

Table 10 designs (``tokens`` x ``supervised_layers``), with layers indexed as transformers'
``hidden_states`` (L + 1 entries: 0 = the input embeddings, i = output of decoder layer i, L = the final
normed output that ``lm_head`` reads), exactly as the released code (``vision_token_training``) slices it:

- ``tokens = 1, supervised_layers = "last"`` (the paper's design): layer L;
- ``tokens = 3``: three tokens, the verb head on the first, noun on the second, action on the third;
- ``"first"``: layer 0, i.e. the action token's input embedding, which is the same for every clip, so the
  heads there can learn only the class prior (this is what the released code ran for Table 10);
- ``"all"``: every layer 0..L, the head losses averaged over the L + 1 layers;
- a list of indices, e.g. ``[1]`` for the output of the first decoder layer.

>>> resolve_layers("all", 2), resolve_layers("first", 28), resolve_layers([1, -1], 4)
((0, 1, 2), (0,), (1, 4))
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actbench.errors import ActbenchError

IGNORE = -100  # label of a token that is not predicted (transformers' convention)
NO_CLASS = -1  # class id of a sample without action labels
LAYER_NAMES = ("last", "first", "all")
EXTRA_WEIGHTS = "action_token.safetensors"
EXTRA_CONFIG = "action_token.json"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ActionTokenConfig:
    """The action-token design and its loss weights; :meth:`validate` gives one-line errors."""

    tokens: int = 1
    supervised_layers: str | tuple[int, ...] = "last"
    verb_classes: int = 97
    noun_classes: int = 300
    action_classes: int = 3806
    aux_weight: float = 0.1
    verb_weight: float = 0.5
    noun_weight: float = 0.5
    action_weight: float = 0.1

    @classmethod
    def from_dict(cls, raw: dict, where: str = "action_token") -> ActionTokenConfig:
        unknown = sorted(set(raw) - set(cls.__dataclass_fields__))
        if unknown:
            raise ActbenchError.bad_value(where, unknown[0], f"one of {', '.join(cls.__dataclass_fields__)}",
                                          unknown[0])
        values = dict(raw)
        if isinstance(values.get("supervised_layers"), list):
            values["supervised_layers"] = tuple(values["supervised_layers"])
        config = cls(**values)
        config.validate(where)
        return config

    def validate(self, where: str = "action_token") -> None:
        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        if self.tokens not in (1, 3) or not is_int(self.tokens):
            raise ActbenchError.bad_value(where, "tokens", "1 (the paper's design) or 3 (verb, noun, action)",
                                          self.tokens)
        layers = self.supervised_layers
        if not (layers in LAYER_NAMES if isinstance(layers, str) else
                isinstance(layers, tuple) and layers and all(is_int(i) for i in layers)):
            raise ActbenchError.bad_value(where, "supervised_layers",
                                          '"last", "first", "all" or a non-empty list of layer indices', layers)
        for name in ("verb_classes", "noun_classes", "action_classes"):
            value = getattr(self, name)
            if not is_int(value) or value < 2:
                raise ActbenchError.bad_value(where, name, "an integer >= 2", value)
        for name in ("aux_weight", "verb_weight", "noun_weight", "action_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise ActbenchError.bad_value(where, name, "a finite number >= 0", value)

    def to_dict(self) -> dict:
        out = asdict(self)
        if isinstance(self.supervised_layers, tuple):
            out["supervised_layers"] = list(self.supervised_layers)
        return out


def resolve_layers(layers: str | tuple[int, ...] | list[int], n_layers: int,
                   where: str = "action_token") -> tuple[int, ...]:
    """Indices into ``hidden_states`` (0..n_layers) for a design name or a list (negatives count back)."""
    if isinstance(layers, str):
        return {"last": (n_layers,), "first": (0,), "all": tuple(range(n_layers + 1))}[layers]
    out = []
    for i in layers:
        if not -(n_layers + 1) <= i <= n_layers:
            raise ActbenchError.bad_value(where, "supervised_layers",
                                          f"layer indices in [0, {n_layers}] (or negative from the end)", i)
        out.append(i % (n_layers + 1))
    return tuple(out)


@dataclass
class ActionTokenOutput:
    """``lm_loss`` (None without labels) and, per supervised layer, the (verb, noun, action) logits."""

    lm_loss: Any
    head_logits: list[tuple[Any, Any, Any]]
    last_hidden_state: Any


class ActionTokenModel(nn.Module):
    """The base LLaVA-OneVision model, the action token(s) and the three heads; see the module doc."""

    def __init__(self, base: Any, config: ActionTokenConfig):
        super().__init__()
        config.validate()
        self.base = base
        self.config = config
        text = base.config.text_config
        self.n_layers = int(text.num_hidden_layers)
        self.layers = resolve_layers(config.supervised_layers, self.n_layers)
        self.video_token_id = int(base.config.video_token_id)
        hidden = int(text.hidden_size)
        dtype = base.get_input_embeddings().weight.dtype
        # Initialised as LLaVA-OneVision initialises its other learned embedding (image_newline).
        self.action_tokens = nn.Parameter(torch.randn(config.tokens, hidden, dtype=dtype) / math.sqrt(hidden))
        self.verb_head = nn.Linear(hidden, config.verb_classes, bias=False, dtype=dtype)
        self.noun_head = nn.Linear(hidden, config.noun_classes, bias=False, dtype=dtype)
        self.action_head = nn.Linear(hidden, config.action_classes, bias=False, dtype=dtype)

    # -- inputs
    def inputs_embeds(self, batch: Any) -> Any:
        """``(B, T, d)``: token embeddings, the video features at the ``<video>`` ids, the action
        token(s) at ``batch.action_positions``."""
        embeds = self.base.get_input_embeddings()(batch.input_ids)
        video = self.base.model.get_video_features(
            batch.pixel_values_videos.to(embeds.dtype)).pooler_output  # (B, n_visual, d)
        mask = batch.input_ids == self.video_token_id
        if int(mask.sum()) != video.shape[0] * video.shape[1]:
            raise ValueError(f"{int(mask.sum())} <video> tokens in the batch for {video.shape[0]} x "
                             f"{video.shape[1]} video features")
        embeds = embeds.masked_scatter(mask.unsqueeze(-1), video.to(embeds.dtype))
        rows = torch.arange(len(embeds), device=embeds.device).unsqueeze(1).expand_as(batch.action_positions)
        tokens = self.action_tokens.to(embeds.dtype).unsqueeze(0).expand(len(embeds), -1, -1)
        return embeds.index_put((rows, batch.action_positions), tokens)  # out of place: grads reach both

    # -- forward
    def forward(self, batch: Any) -> ActionTokenOutput:
        need_all = any(i != self.n_layers for i in self.layers)
        out = self.base.model(inputs_embeds=self.inputs_embeds(batch), attention_mask=batch.attention_mask,
                              output_hidden_states=need_all, use_cache=False)
        last = out.last_hidden_state
        lm_loss = None
        if batch.labels is not None:
            # Only the answer positions go through lm_head: same loss as the full logits, a fraction
            # of the memory (the vocabulary is 152k for Qwen2).
            targets = batch.labels[:, 1:]
            keep = targets != IGNORE
            logits = self.base.lm_head(last[:, :-1][keep]).float()
            lm_loss = F.cross_entropy(logits, targets[keep]) if keep.any() else logits.sum() * 0.0
        rows = torch.arange(len(last), device=last.device).unsqueeze(1)
        heads = []
        for index in self.layers:
            states = last if index == self.n_layers else out.hidden_states[index]
            at = states[rows, batch.action_positions]  # (B, tokens, d)
            v, n, a = (0, 0, 0) if self.config.tokens == 1 else (0, 1, 2)
            heads.append((self.verb_head(at[:, v]).float(), self.noun_head(at[:, n]).float(),
                          self.action_head(at[:, a]).float()))
        return ActionTokenOutput(lm_loss, heads, last)

    def lm_logits(self, batch: Any) -> Any:
        """Full next-token logits ``(B, T, vocab)`` of the language model (inference, tests)."""
        out = self.base.model(inputs_embeds=self.inputs_embeds(batch), attention_mask=batch.attention_mask,
                              use_cache=False)
        return self.base.lm_head(out.last_hidden_state)

    def next_token_logits(self, inputs_embeds: Any, attention_mask: Any) -> Any:
        """``(B, vocab)`` float logits of the token after each row's last attended position (inference).

        Takes the embeddings (:meth:`inputs_embeds`, or plain token embeddings for a text-only prompt),
        so that only those positions go through ``lm_head``: the full logits of a video prompt would be
        thousands x 152k floats per row. Batches are right-padded (``action_token_data.collate``): each
        row's real tokens keep the positions they have alone, so its logits do not depend on the others."""
        out = self.base.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, use_cache=False)
        width = attention_mask.shape[1]
        last = width - 1 - attention_mask.flip(1).to(torch.long).argmax(1)
        rows = torch.arange(len(last), device=last.device)
        return self.base.lm_head(out.last_hidden_state[rows, last]).float()


def head_loss(logits: Any, targets: Any) -> Any:
    """Mean cross-entropy over the samples that have a class (id >= 0); 0 (still in the graph) if none."""
    valid = targets >= 0
    if not bool(valid.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[valid], targets[valid])


def action_token_loss(output: ActionTokenOutput, batch: Any, config: ActionTokenConfig) -> tuple[Any, dict]:
    """The total loss and its parts (floats, for logging): lm, verb, noun, action (means over the
    supervised layers), aux (the weighted head loss before ``aux_weight``), and the heads' accuracies
    at the last supervised layer over the labelled samples."""

    parts: dict[str, float] = {}
    sums = {"verb": 0.0, "noun": 0.0, "action": 0.0}
    aux = 0.0
    for verb, noun, action in output.head_logits:
        losses = {"verb": head_loss(verb, batch.verb), "noun": head_loss(noun, batch.noun),
                  "action": head_loss(action, batch.action)}
        aux = aux + (config.verb_weight * losses["verb"] + config.noun_weight * losses["noun"]
                     + config.action_weight * losses["action"])
        for key, value in losses.items():
            sums[key] = sums[key] + value
    n = len(output.head_logits)
    aux = aux / n
    lm = output.lm_loss if output.lm_loss is not None else torch.zeros((), device=aux.device)
    total = lm + config.aux_weight * aux
    parts["lm"] = float(lm.detach())
    parts["aux"] = float(aux.detach())
    for key, value in sums.items():
        parts[key] = float(value.detach()) / n
    with torch.no_grad():
        for key, logits, targets in zip(("verb", "noun", "action"), output.head_logits[-1],
                                        (batch.verb, batch.noun, batch.action)):
            valid = targets >= 0
            if bool(valid.any()):
                parts[f"{key}_acc"] = float((logits[valid].argmax(-1) == targets[valid]).float().mean())
    parts["loss"] = float(total.detach())
    return total, parts


# -- saving and loading ---------------------------------------------------------------------------
def save_action_token_model(model: Any, directory: Path, *, tokenizer: Any = None, extra_files: dict | None = None
                            ) -> None:
    """One folder: the base checkpoint (``save_pretrained``, loadable by transformers alone), the action
    token and heads (``action_token.safetensors``) and their design (``action_token.json``); written in a
    hidden sibling and published at once (:class:`StagedDirectory`). ``extra_files``: name -> text to add
    (chat template, video processor settings)."""
    from safetensors.torch import save_file

    from actbench.atomic import StagedDirectory, dumps_json

    with StagedDirectory(Path(directory)) as staging:
        model.base.save_pretrained(staging)
        if tokenizer is not None:
            tokenizer.save_pretrained(staging)
            stray = staging / "chat_template.jinja"
            if stray.exists() and extra_files and "chat_template.json" in extra_files:
                stray.unlink()  # the processor's template (extra_files) is the one inference reads
        tensors = {"action_tokens": model.action_tokens, "verb_head.weight": model.verb_head.weight,
                   "noun_head.weight": model.noun_head.weight, "action_head.weight": model.action_head.weight}
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(staging / EXTRA_WEIGHTS))
        meta = {"schema_version": SCHEMA_VERSION, "kind": "llavaction-action-token",
                "config": model.config.to_dict(), "supervised_layer_indices": list(model.layers),
                "placement": "after the last visual token (the video's image_newline), before the instruction"}
        (staging / EXTRA_CONFIG).write_text(dumps_json(meta), encoding="utf-8")
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text if isinstance(text, str) else json.dumps(text), encoding="utf-8")


def load_action_token_model(directory: Path, *, dtype: Any = None, **from_pretrained: Any) -> Any:
    """The model :func:`save_action_token_model` wrote (one-line errors for a folder that is not one)."""
    from safetensors.torch import load_file
    from transformers import LlavaOnevisionForConditionalGeneration

    directory = Path(directory)
    meta_path = directory / EXTRA_CONFIG
    if not meta_path.is_file() or not (directory / EXTRA_WEIGHTS).is_file():
        raise ActbenchError(f"{directory}: not an action-token model folder (no {EXTRA_CONFIG} / {EXTRA_WEIGHTS})")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise ActbenchError.bad_value(meta_path, "schema_version", str(SCHEMA_VERSION), meta.get("schema_version"))
    config = ActionTokenConfig.from_dict(meta["config"], where=str(meta_path))
    kwargs = {"local_files_only": True, **from_pretrained}
    if dtype is not None:
        kwargs["dtype"] = dtype
    base = LlavaOnevisionForConditionalGeneration.from_pretrained(directory, **kwargs)
    model = ActionTokenModel(base, config)
    state = load_file(str(directory / EXTRA_WEIGHTS))
    names = {"action_tokens": model.action_tokens, "verb_head.weight": model.verb_head.weight,
             "noun_head.weight": model.noun_head.weight, "action_head.weight": model.action_head.weight}
    with torch.no_grad():
        for key, param in names.items():
            if key not in state or tuple(state[key].shape) != tuple(param.shape):
                found = tuple(state[key].shape) if key in state else "missing"
                raise ActbenchError.bad_value(directory / EXTRA_WEIGHTS, key, f"a tensor of shape {tuple(param.shape)}",
                                              found)
            param.copy_(state[key].to(param.dtype))
    return model
