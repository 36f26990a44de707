"""The model of the GAD paper: per-frame features -> 2-layer MLP adapter -> causal LM (LoRA) -> heads.

One module serves every variant (variants.py): the learnable tokens, the class heads (one per head name:
``action`` for OAD, ``step`` and ``task`` for COIN, ``prev`` for the prev_disc ablations) and the LM head
of the backbone for generation. The visual encoder is absent: features are pre-extracted (§3.2, B.1).

Training losses (``loss``): CE over the heads (Disc, GAD), the LM loss over the generation target and the
end-of-sequence token (Gen, GAD); GAD sums ``CE + lam * LM``. Sample weights (the background weight of
the recipes) make both a weighted mean, ``sum(w * l) / sum(w)``, as torch's class-weighted CE does.

Inference: Disc and GAD read the heads only, so a GAD prediction costs what a Disc one does; Gen decodes
greedily and maps the text to the closed label set (label_codec.py). GAD_seq-g must generate first.

A checkpoint folder holds ``model.json`` (backbone, variant, heads and class names, sizes) and
``trainable.safetensors`` (the adapter, learnable tokens, heads and LoRA weights: everything trained), so
it is small and loads onto the same backbone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from actbench.atomic import StagedDirectory, atomic_write_text
from actbench.errors import ActbenchError
from actbench.recipes.label_codec import LabelCodec
from actbench.recipes.sequences import Prompter, Sample, embed_batch
from actbench.recipes.variants import Variant

MODEL_JSON, WEIGHTS = "model.json", "trainable.safetensors"
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild the model (saved as model.json)."""

    backbone: str
    feature_dim: int
    heads: dict[str, list[str]]  # head name -> class names (the generation vocabulary too)
    variant: dict
    lora_r: int = 128  # the paper's code: r = 128, alpha = 256
    lora_alpha: int = 256
    lora_dropout: float = 0.05
    codec_seed: int = 0
    background: str | None = "background"  # OAD: the class whose first token short-cuts Gen decoding
    dtype: str = "float32"
    extra: dict = field(default_factory=dict)


def _torch():
    try:
        import torch
    except ImportError:
        raise ActbenchError("the classifier models need the [train] extra: pip install 'actbench[train]'") from None
    return torch


def build_model(spec: ModelSpec, *, lm=None, tokenizer=None, seed: int = 0):
    """A fresh :class:`FeatureLM` (random adapter, tokens and heads from ``seed``; LoRA at zero), in
    training mode (call ``.eval()`` before predicting, as load_model does).

    A given ``lm`` is used in place: LoRA is injected into it, so one loaded backbone serves one model.
    """
    torch = _torch()
    from actbench.recipes.backbones import load_backbone, resolve_backbone

    if lm is None:
        lm, tokenizer = load_backbone(resolve_backbone(spec.backbone), dtype=spec.dtype)
    torch.manual_seed(seed)
    return FeatureLM(spec, lm, tokenizer)


def _module_base():
    return _torch().nn.Module


class FeatureLM(_module_base()):  # type: ignore[misc]
    def __init__(self, spec: ModelSpec, lm, tokenizer):
        torch = _torch()
        nn = torch.nn
        super().__init__()
        self.spec = spec
        self.variant = Variant(**spec.variant)
        self.tokenizer = tokenizer
        self.codecs = {name: LabelCodec(tokenizer, names, mapping=self.variant.label_mapping, seed=spec.codec_seed)
                       for name, names in spec.heads.items() if name != "prev"}
        if self.variant.label_mapping == "extend":
            self._extend_vocabulary(lm, tokenizer)
        if spec.lora_r > 0:
            lm = self._with_lora(lm)
        else:
            lm.requires_grad_(False)
        if self.variant.label_mapping == "extend":  # the new rows must learn (they are the classes)
            lm.get_input_embeddings().weight.requires_grad_(True)
            lm.get_output_embeddings().weight.requires_grad_(True)
        self.lm = lm
        hidden = lm.config.hidden_size
        std = float(lm.get_input_embeddings().weight.detach().float().std())
        self.adapter = nn.Sequential(nn.Linear(spec.feature_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        # Gen and w/o [CLS] have no learnable token; one row is kept (frozen) so every checkpoint has the tensor.
        self.cls_tokens = nn.Parameter(torch.randn(max(1, self.variant.cls_tokens), hidden) * std,
                                       requires_grad=self.variant.cls_tokens > 0)
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, len(names)) for name, names in spec.heads.items()}
                                   if self.variant.classifies else {})
        self.prompter = Prompter(tokenizer)
        self.to(dtype=getattr(torch, spec.dtype))

    # ------------------------------------------------------------------------------------ construction
    def _with_lora(self, lm):
        from peft import LoraConfig, get_peft_model

        names = {n.rsplit(".", 1)[-1] for n, _ in lm.named_modules()}
        targets = [t for t in LORA_TARGETS if t in names]
        config = LoraConfig(r=self.spec.lora_r, lora_alpha=self.spec.lora_alpha, lora_dropout=self.spec.lora_dropout,
                            target_modules=targets, bias="none")
        # Keep the wrapped model itself: the LoRA layers live in it; the PeftModel shell adds only API.
        return get_peft_model(lm, config).get_base_model()

    def _extend_vocabulary(self, lm, tokenizer) -> None:
        torch = _torch()
        tokens = [t for codec in self.codecs.values() for t in codec.extend_tokens]
        tokens = list(dict.fromkeys(tokens))
        old = len(tokenizer)
        tokenizer.add_tokens(tokens, special_tokens=True)
        lm.resize_token_embeddings(len(tokenizer), mean_resizing=False)  # rows are set below
        # §4.2: "initialize their embeddings by randomly selecting from the original vocabulary".
        generator = torch.Generator().manual_seed(self.spec.codec_seed)
        rows = torch.randint(0, old, (len(tokenizer) - old,), generator=generator)
        with torch.no_grad():
            for emb in {id(e): e for e in (lm.get_input_embeddings(), lm.get_output_embeddings())}.values():
                emb.weight[old:] = emb.weight[rows].clone()
        for codec in self.codecs.values():
            codec.bind_extended_ids()

    # ------------------------------------------------------------------------------------ pieces
    @property
    def device(self):
        return self.adapter[0].weight.device

    def embed_tokens(self, ids):
        return self.lm.get_input_embeddings()(ids)

    def adapt(self, features):
        return self.adapter(features.to(self.adapter[0].weight.dtype))

    def _decoder(self):
        return self.lm.get_decoder() if hasattr(self.lm, "get_decoder") else self.lm.model

    def _hidden(self, batch):
        out = self._decoder()(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                              position_ids=batch.position_ids, use_cache=False)
        return out.last_hidden_state

    def trainable_names(self) -> list[str]:
        return [n for n, p in self.named_parameters() if p.requires_grad]

    # ------------------------------------------------------------------------------------ training
    def forward(self, samples: Sequence[Sample], stage: str = "joint"):
        """The training loss (so that accelerate's wrappers, which hook forward, see every step)."""
        return self.loss(samples, stage=stage)

    def loss(self, samples: Sequence[Sample], *, stage: str = "joint"):
        """(scalar loss, parts) for a micro-batch. ``stage``: ``joint``; for label_2stage ``gen`` then ``head``."""
        torch = _torch()
        v = self.variant
        weights = torch.tensor([s.weight for s in samples], dtype=torch.float32, device=self.device)
        parts: dict[str, float] = {}
        total = torch.zeros((), device=self.device)
        want_gen = v.generates and stage in ("joint", "gen")
        want_ce = v.classifies and stage in ("joint", "head")
        if v.order == "parallel" or not want_gen or not want_ce:
            if want_ce:
                ce = self._ce(samples, self._run(samples, generation=False), weights)
                total = total + ce
                parts["ce"] = float(ce.detach())
            if want_gen:
                lm_loss = self._lm_loss(self._run(samples, generation=True, cls=v.order != "parallel" and
                                                  v.kind == "gad" and stage != "gen"), weights)
                total = total + (v.lam if v.kind == "gad" and want_ce else 1.0) * lm_loss
                parts["lm"] = float(lm_loss.detach())
        else:  # one pass: [CLS] and the target in the same sequence (disc first or generation first)
            hidden, batch = self._run(samples, generation=True)
            ce = self._ce(samples, (hidden, batch), weights)
            lm_loss = self._lm_loss((hidden, batch), weights)
            total = ce + v.lam * lm_loss
            parts.update(ce=float(ce.detach()), lm=float(lm_loss.detach()))
        parts["loss"] = float(total.detach())
        return total, parts

    def _run(self, samples, *, generation: bool, cls: bool = True):
        v = self.variant
        plans = []
        for i, s in enumerate(samples):
            plan = self.prompter.plan(s, cls_tokens=v.cls_tokens if cls else 0, generation=generation,
                                      cls_after=v.order == "gen_first",
                                      target=self._target_ids(s) if generation else None)
            plan.sample = i
            plans.append(plan)
        batch = embed_batch(self, self.prompter, plans, samples, left_pad=False)
        return self._hidden(batch), batch

    def _target_ids(self, s: Sample) -> list[int]:
        if s.target_ids is not None:
            return s.target_ids
        codec = self.codecs[s.head]
        if self.variant.label_mapping != "text":
            return codec.class_ids(s.label)
        if s.target_text is None:
            raise ValueError("a generating variant needs each sample's target_text")
        return codec.text_ids(s.target_text)

    def _ce(self, samples, run, weights):
        torch = _torch()
        hidden, batch = run
        rows = torch.arange(len(samples), device=self.device)
        at = hidden[rows, batch.head_positions[:, 0]]
        total = torch.zeros((), device=self.device)
        for name in sorted({s.head for s in samples}):
            idx = torch.tensor([i for i, s in enumerate(samples) if s.head == name], device=self.device)
            labels = torch.tensor([samples[i].label for i in idx.tolist()], device=self.device)
            losses = torch.nn.functional.cross_entropy(self.heads[name](at[idx]).float(), labels, reduction="none")
            total = total + (losses * weights[idx]).sum()
        ce = total / weights.sum()
        if self.variant.prev_head != "none":  # prev_disc(+): classify the previous action too
            slot = 1 if self.variant.prev_head == "own_token" else 0
            keep = [i for i, s in enumerate(samples) if s.prev_label is not None]
            if keep:
                idx = torch.tensor(keep, device=self.device)
                labels = torch.tensor([samples[i].prev_label for i in keep], device=self.device)
                prev_at = hidden[idx, batch.head_positions[idx, slot]]
                logits = self.heads["prev"](prev_at).float()
                losses = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
                ce = ce + (losses * weights[idx]).sum() / weights[idx].sum()
        return ce

    def _lm_loss(self, run, weights):
        torch = _torch()
        hidden, batch = run
        targets = batch.labels[:, 1:]
        rows, cols = torch.nonzero(targets != -100, as_tuple=True)
        logits = self.lm.get_output_embeddings()(hidden[rows, cols]).float()  # position p predicts token p + 1
        token_loss = torch.nn.functional.cross_entropy(logits, targets[rows, cols], reduction="none")
        per_sample = torch.zeros(len(weights), device=self.device).index_add(0, rows, token_loss)
        counts = torch.zeros(len(weights), device=self.device).index_add(0, rows, torch.ones_like(token_loss))
        per_sample = per_sample / counts.clamp(min=1)  # each sample's mean over its target tokens
        return (per_sample * weights).sum() / weights.sum()

    # ------------------------------------------------------------------------------------ inference
    def classify(self, samples: Sequence[Sample]):
        """Per sample, the head's class probabilities (numpy, float32). Disc and GAD (heads only)."""
        torch = _torch()
        v = self.variant
        with torch.no_grad():
            if v.order == "gen_first" and v.cls_tokens:
                return self._classify_after_generation(samples)
            hidden, batch = self._run(samples, generation=False)
            at = hidden[torch.arange(len(samples), device=self.device), batch.head_positions[:, 0]]
            return [torch.softmax(self.heads[s.head](at[i]).float(), -1).cpu().numpy() for i, s in enumerate(samples)]

    def _classify_after_generation(self, samples):
        torch = _torch()
        generated = self.generate(samples)
        for s, ids in zip(samples, generated):
            s.target_ids = ids
        hidden, batch = self._run(samples, generation=True)
        at = hidden[torch.arange(len(samples), device=self.device), batch.head_positions[:, 0]]
        return [torch.softmax(self.heads[s.head](at[i]).float(), -1).cpu().numpy() for i, s in enumerate(samples)]

    def generate(self, samples: Sequence[Sample], *, max_new_tokens: int | None = None,
                 stop: bool = True) -> list[list[int]]:
        """Greedy decoding after ``Assistant:`` (after [CLS] for GAD disc-first); ids without end-of-sequence.

        For OAD, when the first generated token is the first token of `` background``, decoding stops
        there: the frame is background (the reference shortcut). ``stop=False`` ignores both stops and
        decodes exactly ``max_new_tokens`` (timing a decode of known length, perf/classifier_latency.py).
        """
        torch = _torch()
        v = self.variant
        with_cls = v.kind == "gad" and v.order == "disc_first" and v.cls_tokens > 0
        plans = []
        for i, s in enumerate(samples):
            plan = self.prompter.plan(s, cls_tokens=v.cls_tokens if with_cls else 0, generation=True)
            plan.sample = i
            plans.append(plan)
        limit = max_new_tokens or self._default_new_tokens()
        shortcut = self._background_token() if stop else None
        eos = self.prompter.eos if stop else None
        with torch.no_grad():
            batch = embed_batch(self, self.prompter, plans, samples, left_pad=True)
            out = self.lm(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                          position_ids=batch.position_ids, use_cache=True, logits_to_keep=1)
            mask, positions = batch.attention_mask, batch.position_ids[:, -1:]
            done = torch.zeros(len(samples), dtype=torch.bool, device=self.device)
            result: list[list[int]] = [[] for _ in samples]
            for step in range(limit):
                token = out.logits[:, -1].argmax(-1)
                for i in torch.nonzero(~done).flatten().tolist():
                    t = int(token[i])
                    if t == eos:
                        done[i] = True
                    else:
                        result[i].append(t)
                        if step == 0 and t == shortcut:
                            done[i] = True
                if bool(done.all()) or step == limit - 1:
                    break
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
                positions = positions + 1
                out = self.lm(inputs_embeds=self.embed_tokens(token[:, None]), attention_mask=mask,
                              position_ids=positions, past_key_values=out.past_key_values, use_cache=True)
        return result

    def _default_new_tokens(self) -> int:
        longest = max(c.max_class_tokens for c in self.codecs.values()) if self.codecs else 8
        # A label, or "label, context" for GAD's generative output: room for two labels and a separator.
        return longest + 1 if self.variant.target == "label" else 2 * longest + 4

    def _background_token(self) -> int | None:
        if self.spec.background is None or self.variant.label_mapping != "text":
            return None
        ids = self.prompter.tokenizer(" " + self.spec.background, add_special_tokens=False)["input_ids"]
        return int(ids[0]) if len(ids) == 1 else None  # only a single-token label can short-cut

    def predict(self, samples: Sequence[Sample], *, branch: str = "auto") -> tuple[list[int], list]:
        """Class per sample and, per sample, the probabilities (Disc/GAD) or the generated text (Gen).

        ``branch="gen"`` reads a GAD model's generative output (the label part, before the first comma).
        """
        use_gen = self.variant.kind == "gen" or branch == "gen"
        if not use_gen:
            probs = self.classify(samples)
            return [int(np.argmax(p)) for p in probs], probs
        generated = self.generate(samples)
        classes, texts = [], []
        for s, ids in zip(samples, generated):
            codec = self.codecs[s.head]
            text = codec.decode_text(ids) if self.variant.label_mapping in ("text", "rand") else ""
            if self.variant.kind == "gad":
                classes.append(codec.text_to_class(text.split(",")[0]))
            else:
                classes.append(codec.to_class(ids))
            texts.append(text)
        return classes, texts

    # ------------------------------------------------------------------------------------ save / load
    def _is_own(self, name: str) -> bool:
        """Parameters this model trains (whether or not frozen now, as in label_2stage's second stage):
        everything but the backbone's original weights, and its embeddings when the vocabulary grew."""
        if not name.startswith("lm."):
            return True
        if "lora_" in name:
            return True
        return self.variant.label_mapping == "extend" and name in self._embedding_names()

    def _embedding_names(self) -> set[str]:
        wanted = {id(self.lm.get_input_embeddings().weight), id(self.lm.get_output_embeddings().weight)}
        return {n for n, p in self.named_parameters() if id(p) in wanted}

    def trainable_state(self) -> dict:
        seen, out = set(), {}
        for name, p in self.named_parameters():
            if self._is_own(name) and p.data_ptr() not in seen:  # tied embeddings are saved once
                seen.add(p.data_ptr())
                out[name] = p.detach().cpu().contiguous()
        return out

    def save(self, directory: Path) -> Path:
        from safetensors.torch import save_file

        directory = Path(directory)
        with StagedDirectory(directory) as staging:
            save_file(self.trainable_state(), str(staging / WEIGHTS))
            atomic_write_text(staging / MODEL_JSON, json.dumps(asdict(self.spec), indent=2, sort_keys=True) + "\n")
        return directory


def load_model(directory: Path, *, lm=None, tokenizer=None, backbone: str | None = None) -> FeatureLM:
    """Rebuild a saved model onto its backbone (or ``backbone``, e.g. a local folder of the same model)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    path = directory / MODEL_JSON
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        spec = ModelSpec(**raw)
    except FileNotFoundError:
        raise ActbenchError.bad_value(directory, MODEL_JSON, "a checkpoint folder written by actbench train",
                                      "no such file") from None
    except (json.JSONDecodeError, TypeError) as error:
        raise ActbenchError.bad_value(path, "model spec", "the fields of actbench's ModelSpec", str(error)) from None
    if backbone is not None:
        spec = ModelSpec(**{**asdict(spec), "backbone": backbone})
    model = build_model(spec, lm=lm, tokenizer=tokenizer)
    state = load_file(str(directory / WEIGHTS))
    own = dict(model.named_parameters())
    missing = [n for n in state if n not in own]
    if missing:
        raise ActbenchError.bad_value(directory / WEIGHTS, missing[0], "a parameter of this model", "an unknown name")
    import torch

    with torch.no_grad():
        for name, tensor in state.items():
            own[name].copy_(tensor.to(own[name].dtype))
    model.eval()
    return model
