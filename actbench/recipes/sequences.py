"""How one sample becomes a token sequence for each classifier variant, and a batch of them embeddings.

The layout follows the paper (§3.2, B.2). With ``V`` the visual tokens (MLP-adapted features, frames in
time order, ``tokens_per_frame`` each), ``Q`` the task query, ``T`` the generation target and ``</s>`` the
end-of-sequence token::

    Disc                  User: V \\n Q [CLS]
    Gen                   User: V \\n Q \\nAssistant: T </s>
    GAD (disc first)      User: V \\n Q [CLS] \\nAssistant: T </s>
    GAD_seq-g             User: V \\n Q \\nAssistant: T </s> [CLS]
    GAD_parallel          the Disc sequence and the Gen sequence, two forward passes
    w/o [CLS]             as above without [CLS]; the head reads the last visual token
    GAD_prev_disc+        ... [CLS] [CLS2]: a second learnable token with its own head

A plan lists, per position, a token id or a placeholder for a visual token or a learnable token; the
batch embeds all ids in one call and scatters the visual and learnable embeddings in, so a batch costs
one embedding lookup and one adapter call whatever its composition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

VISUAL, LEARNED = -1, -2  # placeholders in a plan's id list
PREFIX, ASSISTANT = "User:", "\nAssistant:"


@dataclass
class Sample:
    """One training or inference item.

    ``features`` is (T, P, D): T frames in time order, P tokens per frame. ``label`` is the class index
    for ``head``; ``target_text`` the generation target when the variant generates (the model
    tokenises it, or uses the class's mapped tokens for the Gen ablations; ``target_ids`` overrides);
    ``prev_label`` the class of the previous action for the prev_disc heads (None: no previous action).
    ``weight`` scales this sample's losses (the background weight of the recipes).
    """

    features: np.ndarray
    query: str
    head: str = "action"
    label: int | None = None
    target_text: str | None = None
    target_ids: list[int] | None = None
    prev_label: int | None = None
    weight: float = 1.0
    key: tuple = ()  # (video, frame) or the sample id: lets predictions be written back


@dataclass
class Plan:
    """One sequence: ``ids`` with placeholders; ``learned`` gives which learnable token each LEARNED is;
    ``loss_from`` .. ``loss_to`` the positions whose tokens are generation targets (-1: none)."""

    ids: list[int]
    learned: list[int] = field(default_factory=list)
    head_positions: list[int] = field(default_factory=list)  # where each head reads (CLS, CLS2)
    loss_from: int = -1
    loss_to: int = -1  # one past the last target position (the end-of-sequence token)
    sample: int = 0


class Prompter:
    """Builds plans for one tokenizer; the pieces of text are tokenised once."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        bos = tokenizer.bos_token_id
        self.prefix = ([bos] if bos is not None else []) + self._ids(PREFIX)
        self.assistant = self._ids(ASSISTANT)
        self.eos = tokenizer.eos_token_id
        self._queries: dict[str, list[int]] = {}

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def query(self, text: str) -> list[int]:
        if text not in self._queries:
            self._queries[text] = self._ids("\n" + text)
        return self._queries[text]

    def context(self, sample: Sample) -> tuple[list[int], int]:
        """``User: V \\n Q``, and the position of the last visual token."""
        n_visual = sample.features.shape[0] * sample.features.shape[1]
        ids = self.prefix + [VISUAL] * n_visual
        return ids + self.query(sample.query), len(self.prefix) + n_visual - 1

    def plan(self, sample: Sample, *, cls_tokens: int, generation: bool, cls_after: bool = False,
             target: Sequence[int] | None = None) -> Plan:
        """A training plan (``generation`` and a target) or an inference plan up to the heads / the reply.

        ``cls_tokens`` learnable tokens go after the query, or after the generated reply with
        ``cls_after`` (GAD_seq-g); with none, the head reads the last visual token.
        """
        ids, last_visual = self.context(sample)
        plan = Plan(ids)
        if cls_tokens and not cls_after:
            self._add_learned(plan, cls_tokens)
        if generation:
            ids.extend(self.assistant)
            if target is not None:
                plan.loss_from = len(ids)
                ids.extend(list(target) + [self.eos])
                plan.loss_to = len(ids)
        if cls_tokens and cls_after:
            self._add_learned(plan, cls_tokens)
        if not cls_tokens:
            plan.head_positions = [last_visual]
        return plan

    @staticmethod
    def _add_learned(plan: Plan, count: int) -> None:
        for k in range(count):
            plan.head_positions.append(len(plan.ids))
            plan.ids.append(LEARNED)
            plan.learned.append(k)


@dataclass
class Batch:
    """Padded tensors for a list of plans (torch)."""

    inputs_embeds: object
    attention_mask: object
    position_ids: object
    labels: object  # (B, L) target ids, -100 elsewhere
    head_positions: object  # (B, n) long
    lengths: list[int]


def embed_batch(model, prompter: Prompter, plans: list[Plan], samples: Sequence[Sample], *, left_pad: bool) -> Batch:
    """Embed ``plans`` (``plans[i].sample`` indexes ``samples``) into one padded batch for ``model``.

    ``left_pad`` aligns the ends (for generation with a key/value cache); training pads on the right.
    """
    import torch

    device = model.device
    lengths = [len(p.ids) for p in plans]
    width = max(lengths)
    pad = prompter.tokenizer.pad_token_id if prompter.tokenizer.pad_token_id is not None else prompter.eos
    ids = torch.full((len(plans), width), pad, dtype=torch.long)
    mask = torch.zeros((len(plans), width), dtype=torch.long)
    labels = torch.full((len(plans), width), -100, dtype=torch.long)
    offsets = [width - n if left_pad else 0 for n in lengths]
    for row, (plan, off) in enumerate(zip(plans, offsets)):
        ids[row, off:off + len(plan.ids)] = torch.tensor(plan.ids)
        mask[row, off:off + len(plan.ids)] = 1
        if plan.loss_from >= 0:
            span = slice(plan.loss_from, plan.loss_to)
            labels[row, off + span.start:off + span.stop] = torch.tensor(plan.ids[span])
    embeds = model.embed_tokens(ids.clamp(min=0).to(device))
    visual_rows, visual_cols = torch.nonzero(ids == VISUAL, as_tuple=True)
    if len(visual_rows):
        feats = [torch.from_numpy(np.ascontiguousarray(samples[p.sample].features, dtype=np.float32)).reshape(
            -1, samples[p.sample].features.shape[-1]) for p in plans]
        visual = model.adapt(torch.cat(feats).to(device)).to(embeds.dtype)
        embeds[visual_rows.to(device), visual_cols.to(device)] = visual
    learned_rows, learned_cols = torch.nonzero(ids == LEARNED, as_tuple=True)
    if len(learned_rows):
        which = torch.tensor([k for p in plans for k in p.learned], dtype=torch.long, device=device)
        embeds[learned_rows.to(device), learned_cols.to(device)] = model.cls_tokens[which].to(embeds.dtype)
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    heads = torch.tensor([[off + h for h in p.head_positions] for p, off in zip(plans, offsets)], dtype=torch.long)
    return Batch(embeds, mask.to(device), positions.to(device), labels.to(device), heads.to(device), lengths)
